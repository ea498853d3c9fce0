"""The customer portal's shapes (issue 9): what a customer sends (a payment-method change, a
meter reading, a billing inquiry), what ops send back (an answer), and the stored inquiry
case. Rules: ``monosub.domain.portal``; keys: ``monosub.store.portal``; docs/customer-portal.md.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from monosub.models.billing import CardOnFile, DebitAccount


class PaymentMethodChange(BaseModel):
    """``PUT /me/payment-method``: the method for the next invoice onwards. Card: Stripe's
    references (the portal's Stripe Elements made them); direct debit: the bank account;
    convenience store: nothing more."""

    model_config = ConfigDict(extra="forbid")

    payment_method: Literal["card", "direct-debit", "convenience-store"]
    card: CardOnFile | None = None
    debit_account: DebitAccount | None = None

    @model_validator(mode="after")
    def details_of_the_method(self) -> PaymentMethodChange:
        if self.payment_method == "card" and self.card is None:
            raise ValueError("card payment needs the card (Stripe customer and payment method)")
        if self.payment_method == "direct-debit" and self.debit_account is None:
            raise ValueError("direct debit needs the bank account to draw from")
        if self.payment_method != "card" and self.card is not None:
            raise ValueError("a card is given for card payment only")
        if self.payment_method != "direct-debit" and self.debit_account is not None:
            raise ValueError("a bank account is given for direct debit only")
        return self


class MeterReadingIn(BaseModel):
    """``POST /me/meter-readings``: what the meter of one of the caller's metered services
    shows (its index, not the month's use)."""

    model_config = ConfigDict(extra="forbid")

    sku: str = Field(min_length=1, max_length=64, description="The metered service")
    contract_id: str | None = Field(
        default=None, description="Only when several contracts meter that service"
    )
    meter: str = Field(min_length=1, max_length=40, description="The meter's serial number")
    read_on: date
    value: Decimal = Field(ge=0, le=Decimal("999999999.999"), decimal_places=3)
    meter_replaced: bool = Field(
        default=False, description="The first reading of a new meter (it counts from 0)"
    )


InquirySubject = Literal["invoice", "payment", "meter-reading", "contract", "other"]
InquiryStatus = Literal["open", "answered", "closed"]
INQUIRY_STATUSES: tuple[InquiryStatus, ...] = ("open", "answered", "closed")


class InquiryIn(BaseModel):
    """``POST /me/inquiries``: a billing inquiry (問合せ・苦情) from the customer."""

    model_config = ConfigDict(extra="forbid")

    subject: InquirySubject
    invoice_id: str | None = Field(default=None, max_length=64)
    message: str = Field(min_length=1, max_length=4000)


class InquiryAnswer(BaseModel):
    """``POST /inquiries/{id}/answer``: ops' answer; ``close``: the case is done."""

    model_config = ConfigDict(extra="forbid")

    answer: str = Field(min_length=1, max_length=4000)
    close: bool = True
    version: int = Field(ge=1, description="The version read; 409 when it changed")


class Inquiry(BaseModel):
    """A billing inquiry as a case: when it came in, by when it must be acknowledged and
    answered (the handling rules), what was answered, by whom and when."""

    inquiry_id: str
    account_id: str
    user: str = Field(description="The customer user who sent it")
    subject: InquirySubject
    invoice_id: str | None = None
    message: str
    status: InquiryStatus = "open"
    received_at: str
    acknowledge_by: date
    answer_due: date
    rules_version: int
    acknowledged_at: str | None = None
    answered_at: str | None = None
    answered_by: str | None = None
    answer: str | None = None
    closed_at: str | None = None
    version: int = 1
