"""Fulfilment (出荷): what the warehouse ships for a confirmed order, and each device shipped.

A **shipment** is made from ``OrderConfirmed`` (one per order with devices): the devices to
send (model × quantity, with the plan and options each is kitted with), where, and when the
warehouse should ship them. Its status:

- ``requested``: waiting for the daily instruction file;
- ``instructed``: in a shipping instruction file (``instruction_file``) sent to the warehouse;
- ``shipped``: the warehouse reported every device shipped (serials received) and kitting ran;
- ``installed``: installation done (for orders that need it; billing starts then);
- ``cancelled``: the contract was cancelled before the shipment was instructed.

A **device** is one serial the warehouse shipped: bound (kitting) to the contract line's plan
and options for the owner account, that binding pushed to the device platform.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from monosub.models.catalog import Segment
from monosub.models.deals import ShipTo

ShipmentStatus = Literal["requested", "instructed", "shipped", "installed", "cancelled"]
KittingStatus = Literal["bound", "pushed"]


class ShipmentItem(BaseModel):
    """One order line's devices: the model, how many, and what each is kitted with."""

    line_id: str
    device_sku: str
    device_name: str
    acquisition: Literal["sale", "rental"]
    installation_required: bool = False
    quantity: int = Field(ge=1)
    plan_sku: str
    option_skus: list[str] = Field(default_factory=list)


class Shipment(BaseModel):
    shipment_id: str
    order_id: str = Field(description="The order (the accepted quote) it ships")
    contract_id: str
    deal_id: str
    account_id: str
    contact_id: str
    device_owner_account_id: str
    owner: str = Field(description="The deal's sales rep")
    segment: Segment
    agency_id: str | None = None
    status: ShipmentStatus = "requested"
    ship_to: ShipTo
    requested_delivery_date: date | None = None
    ship_date: date = Field(description="出荷予定日: when the warehouse should ship")
    installation_needed: bool = False
    items: list[ShipmentItem]
    instruction_file: str | None = Field(default=None, description="Exchange key of the file")
    instructed_at: str | None = None
    shipped_by_line: dict[str, int] = Field(
        default_factory=dict, description="Devices reported shipped so far, per order line"
    )
    shipped_on: date | None = Field(default=None, description="Ship date of the last device")
    shipped_at: str | None = None
    notified_at: str | None = Field(default=None, description="Shipping email sent")
    installed_on: date | None = None
    installed_by: str | None = Field(default=None, description="The installation engineer")
    cancelled_at: str | None = None
    cancel_reason: str | None = None
    version: int = 1
    created_at: str
    updated_at: str

    @property
    def ordered_count(self) -> int:
        return sum(item.quantity for item in self.items)

    @property
    def shipped_count(self) -> int:
        return sum(self.shipped_by_line.values())

    @property
    def complete(self) -> bool:
        """Every device ordered was reported shipped."""
        return all(self.shipped_by_line.get(i.line_id, 0) >= i.quantity for i in self.items)

    def ordered(self, device_sku: str) -> int:
        return sum(item.quantity for item in self.items if item.device_sku == device_sku)

    def shipped_of(self, device_sku: str) -> int:
        return sum(
            self.shipped_by_line.get(item.line_id, 0)
            for item in self.items
            if item.device_sku == device_sku
        )


class ShipmentDevice(BaseModel):
    """One serial shipped for a shipment, and its kitting."""

    model_config = ConfigDict(extra="ignore")

    serial: str
    shipment_id: str
    device_sku: str
    line_id: str
    contract_id: str
    owner_account_id: str
    plan_sku: str
    option_skus: list[str] = Field(default_factory=list)
    ship_date: date
    carrier: str
    tracking_number: str
    file_run_id: str = Field(description="The warehouse file's run that reported it")
    file_line: int
    kitting: KittingStatus = "bound"
    binding_version: int = 1
    pushed_at: str | None = None
    recorded_at: str


class InstallationDone(BaseModel):
    """Body of ``POST /shipments/{id}/installation-complete``."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    installed_on: date = Field(description="設置日: billing starts on it")
    engineer: str = Field(min_length=1, max_length=100, description="Who installed")
    note: str | None = Field(default=None, max_length=1000)
