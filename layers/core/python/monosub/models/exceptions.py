"""The exceptions queue: input a channel could not apply by itself, kept whole with the
reason, until ops resolve it (an action the kind offers) or reject it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ExceptionStatus = Literal["open", "resolved", "rejected"]


class ExceptionRecord(BaseModel):
    exception_id: str
    kind: str = Field(description="What went wrong, e.g. payment-unmatched, payout-mismatch")
    channel: str = Field(description="Where it came from: card, direct-debit, bank-transfer …")
    source: str = Field(description="The run or webhook event that raised it")
    reference: str = Field(description="The input's own id: a transaction, a statement line")
    reason: str
    original: dict[str, Any] = Field(description="The input as received")
    details: dict[str, Any] = Field(default_factory=dict)
    amount: int | None = None
    account_id: str | None = None
    invoice_id: str | None = None
    actions: list[str] = Field(description="What ops may do: apply, reject …")
    status: ExceptionStatus = "open"
    created_at: str
    resolved_at: str | None = None
    resolved_by: str | None = None
    resolution: dict[str, Any] | None = None
    version: int = 1

    @field_validator("original", "details", "resolution", mode="before")
    @classmethod
    def whole_numbers(cls, value: Any) -> Any:
        """As stored, the input's numbers come back as Decimal: a whole one is an int again
        (yen, quantities), so the input shows and runs again as it was received."""
        return _whole_numbers(value)


def _whole_numbers(value: Any) -> Any:
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    if isinstance(value, dict):
        return {k: _whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_numbers(v) for v in value]
    return value


class ExceptionAction(BaseModel):
    """Ops' decision on an exception (``POST /exceptions/{id}/resolve``)."""

    model_config = ConfigDict(extra="forbid")

    action: str = Field(min_length=1, description="One of the exception's actions")
    version: int = Field(ge=1, description="The version read; 409 when it changed")
    invoice_id: str | None = Field(default=None, description="apply: the invoice it pays")
    account_id: str | None = Field(default=None, description="apply: the account it credits")
    corrected: dict[str, Any] | None = Field(
        default=None,
        description="retry: the input's fields as ops corrected them (the rest is kept as "
        "received); the channel runs it again and answers 400 with what still fails",
    )
    note: str = Field(min_length=1, max_length=1000, description="Why: kept with the decision")
