"""The customer record: leads, accounts, contacts, deals and their activity history.

A lead holds company and person together, as a web form sends them. Converting it (Salesforce's
取引開始) splits them into an account (the company), a contact (the person) and a deal; the
lead's history goes with them, so nothing is typed twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from monosub.access import DEFAULT_SEGMENT, Segment
from monosub.domain.text import PHONE_SEPARATORS, nfkc, phone_digits
from monosub.models.deals import Deal, DealStage  # noqa: F401 (re-exported from there)

LeadSource = Literal["web-form", "event", "referral", "csv-import"]
LeadStatus = Literal["open", "converted"]
ReceiptStatus = Literal["created", "merged"]
ActivityKind = Literal[
    "submission",
    "conversion",
    "stage-change",
    "registration",
    "phone-signup",
    "web-order",
    "application-form",
]

MESSAGE_MAX_LENGTH = 2000
PHONE_MIN_DIGITS = 9
PHONE_MAX_DIGITS = 15


def check_email(value: str | None) -> str | None:
    """A person's email address, normalized; ``ValueError`` saying what is wrong."""
    if value is None:
        return None
    try:
        # check_deliverability=False: no DNS lookups while a form is being submitted.
        # Full-width input (ｔａｒｏ＠…) is accepted: the address is checked as NFKC.
        checked = validate_email(nfkc(value), check_deliverability=False)
    except EmailNotValidError as error:
        raise ValueError(f"not a valid email address: {error}") from error
    return checked.normalized


def check_phone(value: str | None) -> str | None:
    """A phone number as typed (kept for display), if it is one; ``ValueError`` if not."""
    if value is None:
        return None
    text = nfkc(value)
    if any(not (ch.isascii() and ch.isdigit()) and ch not in PHONE_SEPARATORS for ch in text):
        raise ValueError("use digits, spaces, hyphens or parentheses, and an optional +")
    digits = phone_digits(text)
    if not PHONE_MIN_DIGITS <= len(digits) <= PHONE_MAX_DIGITS:
        raise ValueError(f"a phone number has {PHONE_MIN_DIGITS} to {PHONE_MAX_DIGITS} digits")
    return value


class LeadSubmission(BaseModel):
    """One submission of the web-to-lead form (or one row of a lead import)."""

    model_config = ConfigDict(str_strip_whitespace=True)

    company: str = Field(min_length=1, max_length=200, description="The company name")
    person_name: str = Field(min_length=1, max_length=100, description="The person's name")
    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=40)
    source: LeadSource = "web-form"
    message: str | None = Field(default=None, max_length=MESSAGE_MAX_LENGTH)

    @field_validator("email", "phone", "message", mode="before")
    @classmethod
    def blank_is_absent(cls, value: Any) -> Any:
        """Forms send empty fields as "": that means not given."""
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("email")
    @classmethod
    def valid_email(cls, value: str | None) -> str | None:
        return check_email(value)

    @field_validator("phone")
    @classmethod
    def valid_phone(cls, value: str | None) -> str | None:
        return check_phone(value)

    @model_validator(mode="wrap")
    @classmethod
    def email_or_phone(cls, data: Any, handler: ModelWrapValidatorHandler[LeadSubmission]) -> Any:
        """At least one way to reach the person; reported with the other field errors."""
        missing = isinstance(data, Mapping) and all(
            not (isinstance(data.get(name), str) and data[name].strip())
            for name in ("email", "phone")
        )
        errors: list[InitErrorDetails] = []
        try:
            submission = handler(data)
        except ValidationError as error:
            if not missing:
                raise
            errors = [
                InitErrorDetails(
                    type=e["type"], loc=e["loc"], input=e["input"], ctx=e.get("ctx", {})
                )
                for e in error.errors()
            ]
        if not missing:
            return submission
        reach = PydanticCustomError("email_or_phone", "give an email or a phone number")
        errors += [
            InitErrorDetails(type=reach, loc=("email",), input=None),
            InitErrorDetails(type=reach, loc=("phone",), input=None),
        ]
        raise ValidationError.from_exception_data(cls.__name__, errors)


class PossibleDuplicate(BaseModel):
    """Another record that may be the same customer; for a person to look at, not merged."""

    kind: Literal["lead", "account", "contact"]
    id: str
    matched_on: Literal["email", "phone", "company"]
    account_id: str | None = Field(default=None, description="For a contact: its account")


class LeadReceipt(BaseModel):
    """What receiving a submission did: created a lead or merged into an open one."""

    lead_id: str
    status: ReceiptStatus
    possible_duplicates: list[PossibleDuplicate] = Field(default_factory=list)


class LeadKeys(BaseModel):
    """The normalized matching keys a lead owns in the duplicate index.

    ``phone`` is set only when the lead owns its phone (the one open lead found by it); a lead
    whose phone another person's open lead owns (a company's switchboard) holds it as
    ``person_phone`` instead, under its ``person`` key.
    """

    email: str | None = None
    phone: str | None = None
    company: str | None = None
    person: str | None = Field(default=None, description="The person's name key")
    person_phone: str | None = Field(
        default=None, description="A phone key held for this person only (owned by another lead)"
    )


class Lead(BaseModel):
    lead_id: str
    status: LeadStatus
    company: str
    person_name: str
    email: str | None = None
    phone: str | None = None
    source: LeadSource
    message: str | None = Field(default=None, description="The first submission's message")
    keys: LeadKeys = Field(default_factory=LeadKeys)
    possible_duplicates: list[PossibleDuplicate] = Field(default_factory=list)
    submission_count: int = 1
    activity_count: int = Field(default=1, description="Activities recorded (the last seq)")
    version: int = Field(default=1, description="Optimistic lock: +1 on every change")
    created_at: str
    updated_at: str
    converted_at: str | None = None
    converted_by: str | None = None
    converted_account_id: str | None = None
    converted_contact_id: str | None = None
    converted_deal_id: str | None = None


class Activity(BaseModel):
    """One entry of a history: a form submission, or the conversion of a lead.

    A lead's activities are numbered by ``seq``; an account shows its leads' activities, each
    still carrying its ``lead_id`` and ``seq``.
    """

    kind: ActivityKind
    occurred_at: str
    lead_id: str
    seq: int
    source: LeadSource | None = None
    source_ref: str | None = Field(default=None, description="e.g. the import file and row")
    company: str | None = None
    person_name: str | None = None
    email: str | None = None
    phone: str | None = None
    message: str | None = None
    by: str | None = Field(default=None, description="Who converted the lead")
    account_id: str | None = None
    contact_id: str | None = None
    deal_id: str | None = None


class LeadHistory(BaseModel):
    lead: Lead
    activities: list[Activity] = Field(description="Newest first")


class LeadPage(BaseModel):
    leads: list[Lead]
    next: str | None = Field(default=None, description="Pass as ?next= for the next page")


class ConvertLead(BaseModel):
    """Body of ``POST /leads/{lead_id}/convert``; every field is optional."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    account_id: str | None = Field(
        default=None, min_length=1, description="Merge into this existing account"
    )
    deal_name: str | None = Field(default=None, min_length=1, max_length=200)
    segment: Segment | None = Field(
        default=None,
        description="residential (個人) or corporate (法人) for a new account (default "
        "corporate); an existing account keeps its own, and a different one is refused",
    )


class Account(BaseModel):
    account_id: str
    name: str
    name_key: str | None = Field(default=None, description="Normalized company name")
    segment: Segment = Field(
        default=DEFAULT_SEGMENT,
        description="residential (個人) or corporate (法人): who may see the customer "
        "(monosub.access); an account stored before segments is corporate",
    )
    agency_id: str | None = Field(default=None, description="The reseller that registered it")
    created_at: str
    updated_at: str


class AccountListing(BaseModel):
    """An account as a list shows it (read from a listing partition, not the account item:
    ``monosub.store.records.list_accounts``)."""

    account_id: str
    name: str
    segment: Segment
    agency_id: str | None = None
    created_at: str


class Contact(BaseModel):
    contact_id: str
    account_id: str
    person_name: str
    email: str | None = None
    phone: str | None = None
    email_key: str | None = None
    phone_key: str | None = None
    created_at: str
    updated_at: str


class Conversion(BaseModel):
    """The result of converting a lead."""

    lead_id: str
    account_id: str
    contact_id: str
    deal_id: str
    account_created: bool
    contact_created: bool


class CustomerRecord(BaseModel):
    """One customer, whole: the account, its people, its deals and everything that happened."""

    account: Account
    contacts: list[Contact]
    deals: list[Deal]
    activities: list[Activity] = Field(description="Newest first")
    lead_ids: list[str] = Field(description="The leads this account was converted from")
