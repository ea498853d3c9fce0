"""Phone sign-ups (電話受付): the sales team takes a new customer's order on the phone and, in
one request, records the customer with the deal, prices the quote and sends the customer the
契約書 to agree to on the consent page (``POST /phone-signups``)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from monosub.models.agencies import RegistrationRequest
from monosub.models.quotes import QuoteRequest, QuoteStatus

MAX_CALL_NOTE = 1000


class PhoneSignup(RegistrationRequest):
    """The customer (segment, name, contact with an email for the consent link), the order
    (lines, delivery, payment), and how to quote it. Send it with an ``Idempotency-Key``:
    a retry continues where the first attempt stopped and makes nothing twice."""

    quote: QuoteRequest = Field(default_factory=QuoteRequest)
    expires_in_days: int = Field(default=14, ge=1, le=90, description="How long the link works")
    call_note: str | None = Field(
        default=None, max_length=MAX_CALL_NOTE, description="What was agreed on the call"
    )


class PhoneSignupResult(BaseModel):
    """What the sign-up made, and where the customer's agreement stands."""

    account_id: str
    contact_id: str
    deal_id: str
    quote_id: str
    quote_number: str
    quote_version: int
    quote_status: QuoteStatus = Field(
        description="sent; awaiting_approval when the discount needs a manager first"
    )
    contract_number: str | None = Field(description="契約番号 of the 契約書 sent for consent")
    contract_pdf_key: str | None = None
    consent_id: str | None = None
    sent_to: str | None = None
    one_time_total: int
    monthly_total: int
