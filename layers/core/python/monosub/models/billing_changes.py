"""Mid-term changes, rental returns and voids as billing keeps them (docs/billing.md): the
request bodies, and what the billing account records of each (who, when, why, which
components), so a change can be audited and a replayed event is recognized.

Rules: ``monosub.domain.billing_changes``; service: ``monosub.services.billing_changes``.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from monosub.models.catalog import MAX_LINES, MAX_QUANTITY

REASON_MAX_LENGTH = 500


class QuantityChange(BaseModel):
    """The new quantity of one SKU on the contract: 0 removes it; a SKU the contract does
    not have is added (a plan or an option)."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid", frozen=True)

    sku: str = Field(min_length=1, max_length=48)
    quantity: int = Field(ge=0, le=MAX_QUANTITY)


class ContractChangeRequest(BaseModel):
    """Body of ``POST /contracts/{contract_id}/changes``."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    effective_date: date = Field(description="The first day billed at the new quantities")
    changes: list[QuantityChange] = Field(max_length=MAX_LINES)
    reason: str = Field(min_length=1, max_length=REASON_MAX_LENGTH)
    version: int | None = Field(
        default=None,
        ge=1,
        description="The contract's version read (optional): 409 when it changed since",
    )


class ContractChange(BaseModel):
    """A change applied to a contract's billing, kept on its billing account."""

    model_config = ConfigDict(frozen=True)

    number: int = Field(ge=1, description="The change's number on the contract (c<number>.*)")
    contract_id: str
    effective_date: date
    changes: list[QuantityChange]
    previous: dict[str, int] = Field(description="SKU → quantity before the change")
    reason: str
    by: str
    at: str
    components: list[str] = Field(description="The keys of the components it added")
    idempotency_key: str | None = Field(
        default=None, description="The request's key: a retry finds the change it made"
    )


class AppliedReturn(BaseModel):
    """A returned rental device whose line was reduced, once per serial and return date."""

    model_config = ConfigDict(frozen=True)

    number: int = Field(ge=1, description="The return's number on the contract (r<number>.*)")
    contract_id: str
    serial: str
    returned_on: date
    line_id: str | None = None
    skus: list[str] = Field(description="The SKUs reduced by one from the day after")
    quantities: dict[str, int] = Field(
        default_factory=dict,
        description="SKU → the quantity billed from the day after (one fewer): what the "
        "contract's lines are set to. Empty (nothing reduced, or a return applied before it "
        "was kept): the lines are left as they are",
    )
    changes_before: int | None = Field(
        default=None,
        ge=0,
        description="How many changes of the contract billing had made when the return was "
        "applied: its place among them, in which the lines take them",
    )
    components: list[str] = Field(default_factory=list)
    by: str | None = Field(default=None, description="Who recorded the return")
    at: str


class VoidInvoice(BaseModel):
    """Body of ``POST /invoices/{invoice_id}/void``."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    reason: str = Field(min_length=1, max_length=REASON_MAX_LENGTH)
