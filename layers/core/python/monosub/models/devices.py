"""Rental device stock (レンタル機器在庫): one stock item per serial we own, and its moves.

The states and the moves allowed between them are ``monosub.domain.devices``; this is what
is stored and what the API takes. ``docs/fulfilment.md`` (Rentals) tells the story.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from monosub.domain.devices import DeviceState, normalize_serial
from monosub.domain.text import hyphens, nfkc
from monosub.models.catalog import SKU_PATTERN

MAX_STOCK_IN = 1000  # serials in one POST /devices
Condition = Literal["good", "damaged"]


class StockItem(BaseModel):
    """A rental device as it is now. ``shipment_id`` / ``contract_id`` name what holds it
    while ``reserved`` (the shipment) or ``rented`` (both), and what it came back from while
    ``returned``; they are cleared when it moves on."""

    model_config = ConfigDict(extra="ignore")

    serial: str
    model: str = Field(description="The catalog SKU of the rental device")
    state: DeviceState
    since: str = Field(description="When it entered its state (UTC ISO)")
    shipment_id: str | None = None
    contract_id: str | None = None
    returned_on: date | None = Field(default=None, description="While returned: the day")
    condition: Condition | None = Field(default=None, description="While returned: as reported")
    return_published_at: str | None = Field(
        default=None, description="While returned: when DeviceReturned went out"
    )
    version: int = Field(ge=1, description="Counts every move; a move names the version read")
    created_at: str
    updated_at: str
    updated_by: str


class MoveRecord(BaseModel):
    """One recorded move (``monosub.domain.devices.DeviceMove``), as stored and listed."""

    model_config = ConfigDict(extra="ignore")

    serial: str
    from_state: DeviceState | None = Field(
        default=None, description="None: the device entered the stock"
    )
    to_state: DeviceState
    at: str
    by: str
    reason: str | None = None
    shipment_id: str | None = None
    contract_id: str | None = None
    version: int = Field(description="The stock item's version after this move")
    returned_on: date | None = None
    condition: Condition | None = None
    unbind: str | None = Field(
        default=None, description="A return: what the device platform said (unbound, not bound)"
    )


# ---- requests ------------------------------------------------------------------------------


def model_sku(value: str) -> str:
    """A model as written by people (lower case, full-width) as the catalog SKU."""
    return hyphens(nfkc(value).strip()).upper()


class StockIn(BaseModel):
    """Body of ``POST /devices``: serials of one rental model entering the stock."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    serials: list[str] = Field(min_length=1, max_length=MAX_STOCK_IN)
    model: str = Field(pattern=SKU_PATTERN, description="A rental device SKU of the catalog")
    reason: str | None = Field(default=None, max_length=500, description="e.g. the delivery note")

    @field_validator("model", mode="before")
    @classmethod
    def model_as_sku(cls, value: object) -> object:
        """``cam-one-rent`` and full-width ``ＣＡＭ－ＯＮＥ－ＲＥＮＴ`` name the same SKU."""
        return model_sku(value) if isinstance(value, str) else value

    @field_validator("serials")
    @classmethod
    def serials_are_serials(cls, values: list[str]) -> list[str]:
        normalized, seen = [], set()
        for index, value in enumerate(values):
            try:
                serial = normalize_serial(value)
            except ValueError as error:
                raise ValueError(f"serials[{index}]: {error}") from None
            if serial in seen:
                raise ValueError(f"serials[{index}]: {serial} is listed twice")
            seen.add(serial)
            normalized.append(serial)
        return normalized


class MoveRequest(BaseModel):
    """Body of ``POST /devices/{serial}/moves``: move the device from the version read."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    to: DeviceState
    version: int = Field(ge=1, description="The version read: 409 if it moved since")
    reason: str | None = Field(default=None, max_length=500)
    shipment_id: str | None = Field(
        default=None, max_length=80, description="A reservation: the shipment it is for"
    )


class ReturnRequest(BaseModel):
    """Body of ``POST /devices/{serial}/return``: a rented device came back."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    returned_on: date = Field(description="返却日: the contract line's charges end on it")
    condition: Condition
    note: str | None = Field(default=None, max_length=1000)
