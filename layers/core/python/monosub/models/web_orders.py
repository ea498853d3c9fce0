"""Web-shop orders (``POST /orders``): the shop's system sends a paid or card-authorized order
and monosub makes the customer, the deal, the accepted quote and the contract in one step, as
if the customer had agreed on the consent page (the checkout is the agreement)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from monosub.models.agencies import RegistrationRequest
from monosub.models.quotes import QuoteStatus

ORDER_ID = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
PAYMENT_REFERENCE = r"^(pi|ch|py)_[A-Za-z0-9]{1,200}$"  # a Stripe PaymentIntent or charge id
MAX_AMOUNT = 100_000_000

WebOrderStatus = Literal["confirmed", "held", "rejected"]


class WebOrderPayment(BaseModel):
    """What the shop's checkout took: the order's 初期費用 (one-time total, tax included),
    paid, or authorized for capture when the devices ship."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    provider: Literal["stripe"] = "stripe"
    reference: str = Field(pattern=PAYMENT_REFERENCE, description="The PaymentIntent (pi_...)")
    status: Literal["paid", "authorized"]
    amount: int = Field(ge=0, le=MAX_AMOUNT, description="Yen, tax included")
    currency: Literal["jpy"] = "jpy"


class WebOrder(RegistrationRequest):
    """Body of ``POST /orders``: the shop's order number, the customer (segment, name,
    contact), the order (lines, delivery; the monthly plans are charged to the card), and the
    checkout's payment. The order number is the idempotency key: sending it again makes
    nothing twice."""

    order_id: str = Field(pattern=ORDER_ID, description="The shop's order number")
    ordered_at: datetime = Field(description="When the customer checked out (with offset)")
    term_months: int = Field(default=12, ge=1, le=60, description="契約期間 (months)")
    payment: WebOrderPayment

    @field_validator("ordered_at")
    @classmethod
    def aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("give the time with its offset, e.g. 2026-11-24T10:00:00+09:00")
        return value


class WebOrderResult(BaseModel):
    """What the order made, or why it waits for the back office."""

    order_id: str
    status: WebOrderStatus = Field(description="confirmed; held: waiting for review")
    replayed: bool = Field(default=False, description="The order was received before")
    account_id: str | None = None
    contact_id: str | None = None
    deal_id: str | None = None
    quote_id: str | None = None
    quote_number: str | None = None
    quote_status: QuoteStatus | None = None
    contract_id: str | None = None
    one_time_total: int | None = Field(default=None, description="As priced, tax included")
    monthly_total: int | None = None
    paid_amount: int
    exception_id: str | None = Field(default=None, description="held: the back office's case")
    reason: str | None = Field(default=None, description="held: why")
