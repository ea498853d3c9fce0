"""What the customer is asked to agree to, and what is kept about the asking and the answer.

``ConsentDocument`` is filled by the feature that asks (quotes): plain data, amounts in int
yen, already priced. It refuses figures that do not add up as shown (a list price that is
not quantity × unit list price, a discounted price that is not list price − discount), so a
customer never agrees to a page whose own arithmetic is wrong. Totals are derived from the
lines, never given.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, model_validator

from monosub import clock

Billing = Literal["one_time", "monthly"]
BILLING_LABELS: dict[Billing, str] = {"one_time": "初期費用", "monthly": "月額費用"}
PriceBasis = Literal["tax_excluded", "tax_included"]
PRICE_BASIS_LABELS: dict[PriceBasis, str] = {"tax_excluded": "税抜", "tax_included": "税込"}

# "expired": nobody answered; the daily follow-up marked it when its time was up (until then
# a pending consent past its expiry is only shown as expired).
ConsentStatus = Literal["pending", "agreed", "declined", "superseded", "expired"]
# What staff see: a pending consent past its expiry is "expired".
ShownStatus = Literal["pending", "agreed", "declined", "superseded", "expired"]
Decision = Literal["agree", "decline"]

MAX_LINES = 100
MAX_REASON_CHARS = 1000
SUBJECT_KIND = r"^[a-z][a-z0-9_-]{0,39}$"
SUBJECT_ID = r"^[A-Za-z0-9_.:-]{1,100}$"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class ConsentLine(_Frozen):
    """One line as the customer sees it: list price, discount, discounted price."""

    name: str = Field(min_length=1, max_length=200)
    quantity: int = Field(gt=0, le=1_000_000)
    unit: str = Field(default="", max_length=10, description="台, 式, 件 … (empty: none)")
    unit_list_price: int = Field(ge=0, description="定価 (単価), yen")
    list_price: int = Field(ge=0, description="定価 = quantity × unit_list_price, yen")
    discount: int = Field(ge=0, description="値引き額, yen")
    discounted_price: int = Field(ge=0, description="値引き後 = list_price − discount, yen")
    billing: Billing
    note: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def figures_add_up(self) -> ConsentLine:
        if self.list_price != self.quantity * self.unit_list_price:
            raise ValueError(
                f"list_price {self.list_price} is not quantity {self.quantity} × "
                f"unit_list_price {self.unit_list_price}"
            )
        if self.discount > self.list_price:
            raise ValueError("discount is larger than the list price")
        if self.discounted_price != self.list_price - self.discount:
            raise ValueError(
                f"discounted_price {self.discounted_price} is not list_price "
                f"{self.list_price} − discount {self.discount}"
            )
        return self

    @property
    def billing_label(self) -> str:
        return BILLING_LABELS[self.billing]


class ConsentTotal(_Frozen):
    """The sums of one billing kind (初期費用 or 月額費用)."""

    billing: Billing
    list_price: int
    discount: int
    discounted_price: int

    @property
    def billing_label(self) -> str:
        return BILLING_LABELS[self.billing]


class ConsentDocument(_Frozen):
    """What the customer sees and agrees to. Rendered once, when the consent is requested;
    the exact HTML and its SHA-256 are kept, and the page shows that HTML."""

    title: str = Field(min_length=1, max_length=200, description="e.g. お見積り内容のご確認")
    issuer: str = Field(min_length=1, max_length=200, description="e.g. 株式会社モノサブ")
    issuer_contact: str | None = Field(
        default=None, max_length=300, description="e.g. 営業部 佐藤 一郎 03-1234-5678"
    )
    recipient: str = Field(
        min_length=1, max_length=200, description="as addressed, e.g. 株式会社サンプル 御中"
    )
    reference: str | None = Field(default=None, max_length=100, description="e.g. 見積番号")
    issued_on: date | None = None
    lines: tuple[ConsentLine, ...] = Field(min_length=1, max_length=MAX_LINES)
    price_basis: PriceBasis = "tax_excluded"
    terms: str = Field(min_length=1, max_length=10_000, description="条件 (plain text)")
    pdf_key: str | None = Field(
        default=None, max_length=1024, description="S3 key of the same document as PDF"
    )

    @property
    def totals(self) -> tuple[ConsentTotal, ...]:
        """One total per billing kind present, 初期費用 first."""
        result = []
        for billing in ("one_time", "monthly"):
            lines = [line for line in self.lines if line.billing == billing]
            if lines:
                result.append(
                    ConsentTotal(
                        billing=billing,
                        list_price=sum(line.list_price for line in lines),
                        discount=sum(line.discount for line in lines),
                        discounted_price=sum(line.discounted_price for line in lines),
                    )
                )
        return tuple(result)

    @property
    def price_basis_label(self) -> str:
        return PRICE_BASIS_LABELS[self.price_basis]


class Answer(BaseModel):
    """The evidence kept with an answer."""

    model_config = ConfigDict(extra="ignore")

    decision: Decision
    answered_at: str  # UTC, ISO-8601 (business clock)
    consent_id: str  # the id the token carried
    token_sha256: str  # which link was used, without keeping the link
    document_sha256: str  # of the exact HTML the page showed
    document_version: int  # the subject's version the document is of
    template_version: int  # of the document template that rendered that HTML
    ip: str | None = None  # requestContext.identity.sourceIp
    user_agent: str | None = None
    reason: str | None = None  # a decline's reason, as typed
    reason_truncated: bool = False


class ListedAs(BaseModel):
    """Who may see a consent in the lists (``GET /consents``) and what they show of its
    subject: taken from the record it is about when it was requested
    (``monosub.services.consents.listed_as``)."""

    model_config = ConfigDict(extra="ignore")

    segment: str | None = None  # None: the record was not found (listed for ops only)
    agency_id: str | None = None
    subject_number: str | None = None  # e.g. the 見積番号
    customer_name: str | None = None


class Consent(BaseModel):
    """One request for consent, as stored (``monosub.store.consents``)."""

    model_config = ConfigDict(extra="ignore")

    consent_id: str
    subject_kind: str
    subject_id: str
    subject_version: int
    sequence: int = 1  # the subject's n-th request for consent
    references: dict[str, str] = Field(default_factory=dict)
    recipient_email: str
    recipient_name: str
    document: ConsentDocument
    document_html: str
    document_sha256: str
    template_version: int
    status: ConsentStatus
    requested_at: str
    requested_by: str
    expires_at: str
    supersedes: str | None = None
    superseded_by: str | None = None
    superseded_at: str | None = None
    email_message_id: str | None = None
    answer: Answer | None = None
    answer_published: bool = False
    # The follow-up of an unanswered request (consents requested before it have none of it).
    link_base: str | None = None  # where the link points, for a reminder with the same link
    listed: ListedAs | None = None  # None: not in the lists (requested before them)
    reminded_days: int = 0  # the level (days after sending) of the latest reminder sent
    reminders_sent: int = 0
    last_reminded_at: str | None = None
    expired_at: str | None = None  # when the follow-up marked it expired

    def expired(self, now: datetime) -> bool:
        """Past its link's expiry, or marked expired by the follow-up (M days unanswered)."""
        return self.status == "expired" or now >= clock.parse_instant(self.expires_at)

    def shown_status(self, now: datetime) -> ShownStatus:
        if self.status == "pending" and self.expired(now):
            return "expired"
        return self.status


class ConsentRequest(BaseModel):
    """What ``request_consent`` answers (the link itself went to the customer only)."""

    consent_id: str
    subject_kind: str
    subject_id: str
    subject_version: int
    recipient_email: EmailStr
    status: ConsentStatus
    requested_at: str
    expires_at: str
    document_sha256: str
    document_version: int
    supersedes: str | None
    email_message_id: str


class ListedConsent(BaseModel):
    """A consent as the pending and expired lists hold it (a listing item): enough to show
    it and to decide its follow-up without reading the consent itself."""

    model_config = ConfigDict(extra="ignore")

    consent_id: str
    status: Literal["pending", "expired"]
    subject_kind: str
    subject_id: str
    subject_version: int
    references: dict[str, str] = Field(default_factory=dict)
    recipient_email: str
    recipient_name: str
    requested_at: str
    expires_at: str
    segment: str | None = None
    agency_id: str | None = None
    subject_number: str | None = None
    customer_name: str | None = None
    reminded_days: int = 0
    reminders_sent: int = 0
    last_reminded_at: str | None = None
    expired_at: str | None = None


class RefusedAttempt(BaseModel):
    """A request with a link that could not be used, kept for the audit."""

    model_config = ConfigDict(extra="ignore")

    at: str
    reason: str  # malformed, tampered, not_found, expired, superseded, answered, changed
    method: str
    token_sha256: str
    consent_id: str | None = None
    ip: str | None = None
    user_agent: str | None = None
