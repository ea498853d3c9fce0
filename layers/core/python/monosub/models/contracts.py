"""Contracts (契約): what a customer agreed to by accepting a quote, for how long, and whether
it renews by itself.

A contract is made once per accepted quote version (``create_from_quote``): it copies the
quote's lines and priced items (``document``: exactly what the customer saw), its segment,
owner and agency (access control), and refers to the consent that accepted it. It waits in
``pending_start`` until shipping or installation fixes the start date; then it is ``active``
with its end and notice dates (``monosub.domain.contracts`` has the rule). Each accepted
renewal quote adds a term (``terms``); so does the daily run when a term is over and no
renewal quote was accepted (an **automatic** renewal: same months, lines and priced items, no
consent or PDF of its own). The daily run marks a contract whose term is over without renewal
(notice given, or not renewing automatically) ``ended``; one called off before it started is
``cancelled``.

A mid-term change (billing's ``POST /contracts/{id}/changes``), and a rental return billed
one fewer (``DeviceReturned``), rewrites ``lines`` and adds to ``line_changes`` what it
changed and the lines before it. ``document``, the priced items agreed, stays as agreed: it
is the legal record (the customer accepted exactly it, the 契約書 PDF matches it), and its
total is ``agreed_monthly_total``. ``monthly_total`` is what is billed now: the regular
month of the contract's billing components after its latest change or return, set with the
lines (``domain.billing_changes.regular_monthly_total``), and the document's total again
when a renewal quote makes a new agreement. Every reader of a monthly total (the contract,
its list, the expiring dashboard, the CSV export, the renewal events) reads the current one.

``version`` grows by one with every change (optimistic lock: a change made by a caller
carries the version it read).
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator

from monosub.documents.model import Quote as QuoteDocument
from monosub.domain import contracts as rules
from monosub.models.catalog import Segment
from monosub.models.deals import DealLine, PaymentMethod

ContractStatus = Literal["pending_start", "active", "ended", "cancelled"]
CONTRACT_STATUSES: tuple[ContractStatus, ...] = ("pending_start", "active", "ended", "cancelled")
REASON_MAX_LENGTH = 500


class ConsentReference(BaseModel):
    """The customer's agreement that made a term: which consent, to which document bytes."""

    consent_id: str | None = None
    document_sha256: str = Field(description="sha256 of the PDF the customer agreed to")
    agreed_at: str = Field(description="UTC instant of the agreement")


class ContractTerm(BaseModel):
    """One term of the contract: the first (from the original quote), a renewal from an
    accepted renewal quote, or an automatic renewal (``automatic``: the contract's articles
    renew it on the same terms, so it has no quote, consent or 契約書 of its own)."""

    number: int = Field(ge=1, description="1 for the first term, 2 for the first renewal, …")
    automatic: bool = Field(default=False, description="Renewed by the contract's articles")
    quote_id: str | None = Field(default=None, description="None for an automatic renewal")
    quote_version: int | None = Field(default=None, ge=1)
    quote_number: str | None = None
    term_months: int
    start_date: date | None = Field(default=None, description="None until the contract starts")
    end_date: date | None = None
    one_time_total: int = Field(description="0 for an automatic renewal: nothing one-time again")
    monthly_total: int
    consent: ConsentReference | None = Field(default=None, description="None when automatic")
    pdf_key: str = Field(description="The 契約書 in force (automatic: the one it renews)")
    pdf_sha256: str


class LineChange(BaseModel):
    """A mid-term change (``POST /contracts/{id}/changes``) or a rental return
    (``DeviceReturned``) written to the contract's lines: which one, from when, what it set,
    and the lines as they were before it, so every earlier state (the first entry's: what
    was agreed) stays readable."""

    change: int = Field(ge=1, description="The change's (or the return's) number on the contract")
    change_id: str = Field(
        description="c<number> (a change) or r<number> (a return): its components' keys on "
        "the billing account"
    )
    kind: Literal["change", "return"] = "change"
    serial: str | None = Field(default=None, description="A return: the device returned")
    effective_date: date
    quantities: dict[str, int] = Field(description="SKU → the quantity it set")
    previous: dict[str, int] = Field(description="SKU → the quantity billed before it")
    unplaced: dict[str, int] = Field(
        default_factory=dict,
        description="SKU → units billed that no line can carry (an option on more units "
        "than have a plan)",
    )
    lines_before: list[DealLine] = Field(description="The contract's lines before the change")
    reason: str
    by: str
    at: str = Field(description="When the change was made (UTC)")
    version: int = Field(description="The contract's version this write made")


class Notice(BaseModel):
    """The customer's notice that the contract is not to renew (解約予告)."""

    given_at: str = Field(description="When staff recorded it (UTC)")
    by: str = Field(description="Who recorded it")
    for_term_end: date = Field(description="The term end it stops the renewal at")
    reason: str | None = None


class Contract(BaseModel):
    """A contract as stored and shown."""

    contract_id: str
    number: str = Field(description="契約番号, e.g. C2026-000001")
    account_id: str
    deal_id: str
    contact_id: str | None = None
    quote_id: str = Field(description="The quote accepted to make the contract")
    quote_version: int = Field(ge=1)
    owner: str = Field(description="The responsible sales rep")
    agency_id: str | None = None
    segment: Segment = Field(description="From the quote; decides who may see the contract")
    status: ContractStatus = "pending_start"
    contract_date: date = Field(description="契約日: the day (Asia/Tokyo) the customer agreed")
    term_months: int = Field(ge=1, le=rules.MAX_TERM_MONTHS, description="The current term")
    start_date: date | None = Field(default=None, description="利用開始日 (first term)")
    term_start: date | None = Field(default=None, description="Start of the latest term")
    end_date: date | None = Field(default=None, description="End of the latest term")
    notice_date: date | None = Field(default=None, description="解約予告期限 of that term")
    auto_renew: bool = True
    notice_days: int = Field(default=rules.DEFAULT_NOTICE_DAYS, ge=0, le=rules.MAX_NOTICE_DAYS)
    notice: Notice | None = None
    renewal_requested_for: date | None = Field(
        default=None, description="The term end a renewal quote was requested for"
    )
    renewal_requested_at: str | None = None
    renewed_count: int = 0
    payment_method: PaymentMethod | None = None
    lines: list[DealLine] = Field(
        description="The order's lines of the latest term, as mid-term changes and returns "
        "left them"
    )
    line_changes: list[LineChange] = Field(
        default_factory=list,
        description="Mid-term changes and returns written to the lines, oldest first",
    )
    document: QuoteDocument = Field(
        description="The priced items of the latest term, as agreed (changes leave it)"
    )
    monthly_total: int = Field(
        description="月額費用合計 (税込, regular month) as billed now: the document's, or "
        "after a change or return the billing components' (agreed_monthly_total: the "
        "document's)"
    )
    consent: ConsentReference = Field(description="The agreement that made the contract")
    terms: list[ContractTerm] = Field(description="Every term, the first one first")
    pdf_key: str = Field(description="The latest 契約書 PDF in the documents bucket")
    pdf_sha256: str
    ended_at: str | None = Field(default=None, description="When the daily run ended it (UTC)")
    end_reason: rules.EndReason | None = None
    cancelled_at: str | None = None
    cancelled_by: str | None = None
    cancel_reason: str | None = None
    created_at: str
    updated_at: str
    version: int = Field(default=1, description="Optimistic lock: +1 on every change")

    @model_validator(mode="before")
    @classmethod
    def _as_agreed_until_changed(cls, data: Any) -> Any:
        """A contract stored before ``monthly_total`` was kept bills as agreed."""
        if isinstance(data, dict) and data.get("monthly_total") is None and "document" in data:
            document = data["document"]
            agreed = (
                document.get("monthly_total")
                if isinstance(document, dict)
                else getattr(document, "monthly_total", None)
            )
            return {**data, "monthly_total": agreed}
        return data

    @computed_field(  # type: ignore[prop-decorator]
        description="月額費用合計 (税込, regular month) of the document, as agreed"
    )
    @property
    def agreed_monthly_total(self) -> int:
        return self.document.monthly_total

    @property
    def one_time_total(self) -> int:
        return self.document.one_time_total

    @property
    def customer_name(self) -> str:
        return self.document.recipient.company

    def renewal_candidate(self) -> rules.RenewalCandidate:
        return rules.RenewalCandidate(
            contract_id=self.contract_id,
            status=self.status,
            auto_renew=self.auto_renew,
            notice_given=self.notice is not None,
            end_date=self.end_date,
            notice_date=self.notice_date,
            requested_for=self.renewal_requested_for,
        )


class GiveNotice(BaseModel):
    """Body of ``POST /contracts/{contract_id}/notice``: the customer does not want the
    contract to renew. Recorded by staff up to the notice date."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    version: int = Field(ge=1, description="The version read; 409 when the contract changed")
    reason: str | None = Field(default=None, max_length=REASON_MAX_LENGTH)


class CancelContract(BaseModel):
    """Body of ``POST /contracts/{contract_id}/cancel``: call the contract off before it
    started (the customer withdrew, the order cannot be delivered). The reason is kept."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    version: int = Field(ge=1, description="The version read; 409 when the contract changed")
    reason: str = Field(min_length=1, max_length=REASON_MAX_LENGTH)


class ContractPage(BaseModel):
    contracts: list[Contract]
    next: str | None = Field(default=None, description="Pass as ?next= for the next page")


class ExpiringContract(BaseModel):
    """One row of the expiring-contracts dashboard."""

    contract_id: str
    number: str
    account_id: str
    customer: str = Field(description="The customer's company name, as on the contract")
    owner: str
    segment: Segment
    agency_id: str | None
    end_date: date
    notice_date: date | None
    days_left: int = Field(description="Days from today to the end date")
    auto_renew: bool
    notice_given: bool
    renewal_requested: bool = Field(description="A renewal quote was requested for this end")
    monthly_amount: int = Field(description="月額費用合計 (税込, regular month) as billed now")
    version: int

    @classmethod
    def of(cls, contract: Contract, today: date) -> ExpiringContract:
        assert contract.end_date is not None
        return cls(
            contract_id=contract.contract_id,
            number=contract.number,
            account_id=contract.account_id,
            customer=contract.customer_name,
            owner=contract.owner,
            segment=contract.segment,
            agency_id=contract.agency_id,
            end_date=contract.end_date,
            notice_date=contract.notice_date,
            days_left=(contract.end_date - today).days,
            auto_renew=contract.auto_renew,
            notice_given=contract.notice is not None,
            renewal_requested=contract.renewal_requested_for == contract.end_date,
            monthly_amount=contract.monthly_total,
            version=contract.version,
        )


class ExpiringPage(BaseModel):
    as_of: date = Field(description="Today (Asia/Tokyo)")
    within_days: int
    contracts: list[ExpiringContract] = Field(description="Soonest end first")
    next: str | None = None
