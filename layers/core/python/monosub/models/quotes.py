"""Quotes (見積): a deal's order priced on a date, with the rep's manual discount.

A deal has one quote (``quote_<id derived from the deal>``) with numbered **versions**: the
first is made with ``POST /deals/{deal_id}/quotes``, each revision (new lines, another
discount, a later date) is the next version and invalidates the link sent for the one
before. Every version is kept as it was priced and shown (``document``: exactly what the
PDF and the consent page print).

Status of the current version:

- ``draft``: priced, may be sent;
- ``awaiting_approval``: the manual discount is above the creator's limit; a manager with
  a high enough limit approves it (``approved_by``) and it becomes ``draft``;
- ``sent``: the customer has the link (``consent_id``);
- ``accepted``: the customer agreed on the page (final: the deal is won, a contract made);
- ``declined``: the customer declined; a revision may follow.

A renewal quote (``purpose="renewal"``) prices a contract's next term; its acceptance
renews that contract instead of winning a deal.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from monosub.consent.models import ConsentLine
from monosub.documents.model import Quote as QuoteDocument
from monosub.models.catalog import Channel, PricedResult, Segment
from monosub.models.deals import DealLine

QuoteStatus = Literal["draft", "awaiting_approval", "sent", "accepted", "declined"]
QuotePurpose = Literal["order", "renewal"]

MAX_VALID_DAYS = 90
DEFAULT_VALID_DAYS = 30
MAX_TERMS_LENGTH = 2000


class ManualDiscount(BaseModel):
    """The rep's own discount (特別値引き), tax-exclusive yen, on top of campaigns:
    ``one_time_yen`` off the one-time charges, ``monthly_yen`` off every month's charges."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    one_time_yen: int = Field(default=0, ge=0, le=100_000_000)
    monthly_yen: int = Field(default=0, ge=0, le=10_000_000)
    reason: str = Field(min_length=1, max_length=500, description="Why (shown to the approver)")

    @model_validator(mode="after")
    def something_off(self) -> ManualDiscount:
        if self.one_time_yen == 0 and self.monthly_yen == 0:
            raise ValueError("a manual discount takes yen off one_time_yen or monthly_yen")
        return self


class QuoteRequest(BaseModel):
    """Body of ``POST /deals/{deal_id}/quotes`` and of ``POST /quotes/{id}/revise`` (which
    also carries the ``version`` read). Prices the deal's lines as they are now."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    quote_date: date | None = Field(
        default=None, description="見積日 (price book and campaigns of that day); default today"
    )
    valid_days: int = Field(default=DEFAULT_VALID_DAYS, ge=1, le=MAX_VALID_DAYS)
    term_months: int = Field(default=12, ge=1, le=60, description="契約期間 (months)")
    manual_discount: ManualDiscount | None = None
    terms: str | None = Field(
        default=None, max_length=MAX_TERMS_LENGTH, description="備考 added to the standard terms"
    )


class QuoteRevision(QuoteRequest):
    version: int = Field(ge=1, description="The version read; 409 when the quote changed since")


class VersionedAction(BaseModel):
    """Body of ``POST /quotes/{id}/approve``: the version approved."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1)


class SendQuote(BaseModel):
    """Body of ``POST /quotes/{id}/send``."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    version: int = Field(ge=1, description="The version to send (the current one)")
    expires_in_days: int = Field(default=14, ge=1, le=90, description="How long the link works")


class Approval(BaseModel):
    required_percent: int = Field(description="The discount as a share of the price, rounded up")
    creator_limit_percent: int
    needs_manager: bool = Field(description="Above the creator's limit: a manager approves")
    approved_by: str | None = None
    approved_at: str | None = None


class ContractDraft(BaseModel):
    """The 契約書 a phone sign-up's customer agrees to (rendered with the quote version):
    on agreement the contract keeps exactly this number, date and PDF."""

    contract_id: str
    number: str = Field(description="契約番号 reserved for the contract")
    contract_date: date
    pdf_key: str
    pdf_sha256: str
    pdf_size: int = 0


class Quote(BaseModel):
    """One version of a quote, as stored and shown."""

    quote_id: str
    version: int = Field(ge=1)
    number: str = Field(description="見積番号, e.g. Q2026-000042 (the same for every version)")
    purpose: QuotePurpose = "order"
    status: QuoteStatus
    deal_id: str
    account_id: str
    contact_id: str
    contract_id: str | None = Field(default=None, description="For a renewal: the contract")
    renews_term_end: date | None = Field(
        default=None, description="For a renewal: the end of the contract term it follows"
    )
    owner: str = Field(description="The deal's sales rep")
    agency_id: str | None = None
    segment: Segment
    channel: Channel
    quote_date: date
    valid_until: date
    term_months: int
    lines: list[DealLine] = Field(description="The deal's lines as priced")
    priced: PricedResult = Field(description="Price book and campaigns on quote_date")
    manual_discount: ManualDiscount | None = None
    approval: Approval | None = None
    document: QuoteDocument = Field(description="Exactly what the PDF and the page print")
    consent_lines: tuple[ConsentLine, ...] = Field(
        description="The same figures line by line, as the consent page shows them"
    )
    terms: str = Field(description="The terms the customer agrees to (plain text)")
    pdf_key: str | None = None
    pdf_sha256: str | None = None
    contract_draft: ContractDraft | None = Field(
        default=None, description="Phone sign-ups: the contract PDF sent for consent"
    )
    consent_id: str | None = None
    sent_to: str | None = None
    sent_at: str | None = None
    answered_at: str | None = None
    contract_created: str | None = Field(default=None, description="The contract it made")
    order_confirmed_at: str | None = Field(
        default=None, description="When OrderConfirmed was published"
    )
    created_by: str
    created_at: str
    updated_at: str

    @property
    def one_time_total(self) -> int:
        return self.document.one_time_total

    @property
    def monthly_total(self) -> int:
        return self.document.monthly_total


class QuoteVersions(BaseModel):
    quote_id: str
    versions: list[Quote] = Field(description="Newest first")
