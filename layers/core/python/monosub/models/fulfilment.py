"""Fulfilment (出荷): what the warehouse ships for a confirmed order, and each device shipped.

A **shipment** is made from ``OrderConfirmed`` (one per order with devices): the devices to
send (model × quantity, with the plan and options each is kitted with), where, and when the
warehouse should ship them. Its status:

- ``requested``: waiting for the daily instruction file;
- ``instructed``: in a shipping instruction file (``instruction_file``) sent to the warehouse;
- ``shipped``: the warehouse reported every device shipped (serials received) and kitting ran;
- ``installed``: installation done (for orders that need it; billing starts then);
- ``cancelled``: the contract was cancelled before the shipment was instructed.

A shipment's ``kind`` is ``order`` (an order's devices) or ``replacement``: one device sent
to replace a device of an active contract (``DeviceReplacement``), through the same file,
report and kitting, without starting the contract again.

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
ShipmentKind = Literal["order", "replacement"]
ReplacementReason = Literal["broken", "damaged", "upgrade", "other"]
# requested: the replacement shipment is on its way through the warehouse; awaiting_return:
# the new device is bound, the old (rental) one is due back; completed: nothing is left.
ReplacementStatus = Literal["requested", "awaiting_return", "completed"]


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
    kind: ShipmentKind = "order"
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
    replacement_id: str | None = Field(default=None, description="kind replacement: which one")
    replaces_serial: str | None = Field(
        default=None, description="kind replacement: the device it replaces"
    )
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
    replaced_by: str | None = Field(
        default=None, description="The replacement whose new device took this one's place"
    )


class InstallationDone(BaseModel):
    """Body of ``POST /shipments/{id}/installation-complete``."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    installed_on: date = Field(description="設置日: billing starts on it")
    engineer: str = Field(min_length=1, max_length=100, description="Who installed")
    note: str | None = Field(default=None, max_length=1000)


class ReplacementRequest(BaseModel):
    """Body of ``POST /contracts/{id}/device-replacements``."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    serial: str = Field(min_length=1, max_length=80, description="The device being replaced")
    reason: ReplacementReason
    note: str | None = Field(default=None, max_length=500)


class DeviceReplacement(BaseModel):
    """One device of an active contract replaced by another of the same model, free of
    charge: a ``replacement`` shipment, the new serial once kitted, the old one back."""

    replacement_id: str
    contract_id: str
    account_id: str
    segment: Segment
    agency_id: str | None = None
    old_serial: str
    device_sku: str
    acquisition: Literal["sale", "rental"]
    line_id: str = Field(description="The contract line both devices serve")
    reason: ReplacementReason
    note: str | None = None
    status: ReplacementStatus = "requested"
    shipment_id: str
    new_serial: str | None = None
    effective_date: date | None = Field(default=None, description="The new device's ship date")
    return_due_on: date | None = Field(
        default=None, description="A rental: the old device is due back by then"
    )
    old_returned_on: date | None = None
    return_overdue: bool = Field(
        default=False, description="On read: a rental's old device not back by return_due_on"
    )
    replaced_published_at: str | None = Field(default=None, description="DeviceReplaced out")
    requested_by: str
    idempotency_key: str
    version: int = 1
    created_at: str
    updated_at: str
