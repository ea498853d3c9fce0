"""Deals (商談): what a customer orders and how it is delivered and paid.

A deal holds the order as Salesforce's 商談 did: lines of device model × recording plan ×
options with quantities, the account that will own the devices on the device platform, the
requested delivery date and the ship-to address, whether installation (工事) is needed, the
billing account and the payment method. It moves through the sales pipeline
(``monosub.domain.deals``) and is read-only once won or lost.

The request models (``DealDraft``, ``DealChanges``, ``StageChange``) validate their input
field by field; whether a SKU is sold is the catalog's question, asked later.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from monosub.access import DEFAULT_SEGMENT, Segment
from monosub.domain import deals as rules
from monosub.domain.deals import DealStage

__all__ = [
    "Deal",
    "DealChanges",
    "DealDraft",
    "DealLine",
    "DealLineInput",
    "DealPage",
    "DealStage",
    "NewDealLine",
    "PaymentMethod",
    "ShipTo",
    "StageChange",
]

PaymentMethod = Literal["card", "direct-debit", "bank-transfer", "convenience-store"]

RECORD_ID = r"^[a-z]+_[0-9a-z]{1,64}$"
LINE_ID = r"^line_[0-9a-z]{1,64}$"
AGENCY_ID = r"^[A-Za-z0-9_-]{1,64}$"
OWNER_MAX_LENGTH = 128
REASON_MAX_LENGTH = 500


class ShipTo(BaseModel):
    """Where the devices go (送付先): an address in Japan and who receives them."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    postal_code: str = Field(description="郵便番号, stored as NNN-NNNN", examples=["150-0002"])
    prefecture: str = Field(description="One of the 47 (都道府県)", examples=["東京都"])
    city: str = Field(min_length=1, max_length=50, description="市区町村", examples=["渋谷区"])
    address_line1: str = Field(
        min_length=1, max_length=100, description="町域・番地", examples=["渋谷2-24-12"]
    )
    address_line2: str | None = Field(
        default=None, max_length=100, description="建物名・部屋番号", examples=["渋谷ビル 30F"]
    )
    company_name: str | None = Field(default=None, max_length=100, description="会社名・部署")
    recipient_name: str = Field(min_length=1, max_length=100, description="受取人")
    recipient_phone: str = Field(max_length=40, description="受取人の電話番号")

    @field_validator("address_line2", "company_name", mode="before")
    @classmethod
    def blank_is_absent(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("postal_code")
    @classmethod
    def valid_postal_code(cls, value: str) -> str:
        return rules.normalize_postal_code(value)

    @field_validator("prefecture")
    @classmethod
    def valid_prefecture(cls, value: str) -> str:
        return rules.normalize_prefecture(value)

    @field_validator("recipient_phone")
    @classmethod
    def valid_phone(cls, value: str) -> str:
        return rules.normalize_japanese_phone(value)


class _LineItems(BaseModel):
    """One line of the order: a device model (or none: a plan for a device the customer
    has), a recording plan, options, and how many."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    device_sku: str | None = Field(default=None, description="The device; none for a plan only")
    plan_sku: str = Field(description="The recording plan")
    option_skus: list[str] = Field(default_factory=list, max_length=rules.MAX_OPTIONS_PER_LINE)
    quantity: int = Field(ge=1, le=rules.MAX_QUANTITY)

    @field_validator("device_sku", mode="before")
    @classmethod
    def blank_is_no_device(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("device_sku", "plan_sku")
    @classmethod
    def valid_sku(cls, value: str | None) -> str | None:
        return None if value is None else rules.normalize_sku(value)

    @field_validator("option_skus")
    @classmethod
    def valid_options(cls, values: list[str]) -> list[str]:
        skus = [rules.normalize_sku(value) for value in values]
        repeated = rules.duplicates(skus)
        if repeated:
            raise ValueError(f"an option is given once per line: {', '.join(repeated)}")
        return skus


class DealLineInput(_LineItems):
    """A line in a request: with the ``line_id`` of a line the deal has, that line is kept
    (its id stays); without one it is a new line."""

    line_id: str | None = Field(default=None, pattern=LINE_ID)


class DealLine(_LineItems):
    line_id: str


class NewDealLine(_LineItems):
    """A line of a deal being made (its ``line_id`` is given when it is stored)."""


class Deal(BaseModel):
    """A deal as stored and shown. ``version`` grows by one with every change."""

    deal_id: str
    account_id: str = Field(description="The customer")
    contact_id: str
    name: str
    stage: DealStage = "prospecting"
    owner: str = Field(description="The responsible sales rep")
    lead_id: str | None = Field(default=None, description="The lead it was converted from")
    agency_id: str | None = Field(default=None, description="The reseller that registered it")
    segment: Segment = Field(
        default=DEFAULT_SEGMENT,
        description="Its account's segment, copied when the deal is made (who may see it)",
    )
    lines: list[DealLine] = Field(default_factory=list)
    device_owner_account_id: str = Field(
        default="",
        description="The account that will own the devices on the device platform "
        "(the deal's account unless another is given)",
    )
    requested_delivery_date: date | None = Field(
        default=None, description="納品希望日, a business date in Asia/Tokyo"
    )
    ship_to: ShipTo | None = None
    installation_needed: bool = False
    billing_account_id: str = Field(
        default="", description="The account invoiced (the deal's account unless another is given)"
    )
    payment_method: PaymentMethod | None = None
    lost_reason: str | None = None
    stage_changed_at: str | None = None
    version: int = Field(default=1, description="Optimistic lock: +1 on every change")
    created_at: str
    updated_at: str

    @model_validator(mode="before")
    @classmethod
    def accounts_default_to_the_customer(cls, data: Any) -> Any:
        """The device owner and the billing account are the deal's account unless given
        (a deal made at lead conversion names neither)."""
        if isinstance(data, dict):
            for name in ("device_owner_account_id", "billing_account_id"):
                if not data.get(name):
                    data = {**data, name: data.get("account_id")}
        return data

    @property
    def has_device(self) -> bool:
        return any(line.device_sku for line in self.lines)


class _Order(BaseModel):
    """The fields a request may set on a deal (all optional here)."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    contact_id: str | None = Field(default=None, pattern=RECORD_ID)
    owner: str | None = Field(
        default=None, min_length=1, max_length=OWNER_MAX_LENGTH, description="A user name"
    )
    agency_id: str | None = Field(default=None, pattern=AGENCY_ID)
    lines: list[DealLineInput] | None = Field(default=None, max_length=rules.MAX_LINES)
    device_owner_account_id: str | None = Field(default=None, pattern=RECORD_ID)
    requested_delivery_date: date | None = None
    ship_to: ShipTo | None = None
    installation_needed: bool | None = None
    billing_account_id: str | None = Field(default=None, pattern=RECORD_ID)
    payment_method: PaymentMethod | None = None

    @field_validator("lines")
    @classmethod
    def line_ids_once(cls, lines: list[DealLineInput] | None) -> list[DealLineInput] | None:
        repeated = rules.duplicates(line.line_id for line in lines or () if line.line_id)
        if repeated:
            raise ValueError(f"a line id is given once: {', '.join(repeated)}")
        return lines


class DealDraft(_Order):
    """Body of ``POST /accounts/{account_id}/deals``: a name and a contact of the account;
    the rest may follow. ``owner`` is the caller unless given; the device owner and billing
    accounts are the deal's account unless given."""

    name: str = Field(min_length=1, max_length=200)
    contact_id: str = Field(pattern=RECORD_ID)


# Fields of a deal that are never empty: an edit may change them, not clear them.
_NOT_CLEARABLE = (
    "name",
    "contact_id",
    "owner",
    "lines",
    "device_owner_account_id",
    "installation_needed",
    "billing_account_id",
)


class DealChanges(_Order):
    """Body of ``PATCH /deals/{deal_id}``: ``version`` (the one read) and the fields to
    change. A field left out stays; ``null`` clears an optional one (delivery date, ship-to,
    payment method, agency). ``lines`` replaces all lines."""

    version: int = Field(ge=1, description="The version read; 409 when the deal changed since")

    @field_validator(*_NOT_CLEARABLE, mode="before")
    @classmethod
    def not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("cannot be cleared; leave the field out to keep it")
        return value

    def changes(self) -> dict[str, Any]:
        """The fields the request sets, with their values."""
        return {name: getattr(self, name) for name in self.model_fields_set if name != "version"}


class StageChange(BaseModel):
    """Body of ``POST /deals/{deal_id}/stage``. ``lost`` needs a ``reason``."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    to: DealStage
    version: int = Field(ge=1, description="The version read; 409 when the deal changed since")
    reason: str | None = Field(default=None, max_length=REASON_MAX_LENGTH)


class DealPage(BaseModel):
    deals: list[Deal]
    next: str | None = Field(default=None, description="Pass as ?next= for the next page")
