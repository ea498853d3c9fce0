"""Agencies (販売代理店): resellers who register customers and deals through the API.

An agency is data that ops keeps (``PUT /agencies/{agency_id}``): its name, its commission
rules and its monthly targets. Its users carry the agency in their sign-in
(``custom:agency_id``) and see only what it registered (``monosub.access``).

Commission is earned on the agency's **won** deals, per unit: ``per_device_unit_yen`` for
every device on the deal's lines, ``per_plan_unit_yen`` for every plan (a line of quantity
5 with a device is 5 devices and 5 plans; a plan-only line is plans only). A rule applies from
its ``valid_from`` month (Asia/Tokyo) until the next rule's: changing the rules never changes
what was earned in an earlier month. Amounts are integer yen, tax excluded.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from monosub.access import Segment
from monosub.domain import deals as deal_rules
from monosub.models.crm import check_email, check_phone
from monosub.models.deals import AGENCY_ID, Deal, NewDealLine, PaymentMethod, ShipTo

__all__ = [
    "AGENCY_ID",
    "MONTH",
    "Agency",
    "AgencyPerformance",
    "AgencyTerms",
    "CommissionRule",
    "MonthlyTarget",
    "Registration",
    "RegistrationContact",
    "RegistrationDeal",
    "RegistrationPage",
    "RegistrationRequest",
    "RegistrationView",
    "Tally",
    "WonDeal",
]

MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"
REGION = r"^[a-z][a-z0-9-]{1,31}$"
MAX_YEN_PER_UNIT = 10_000_000
MAX_RULES = 60
MAX_TARGETS = 120


class CommissionRule(BaseModel):
    """What an agency earns per unit on a won deal, from a month on."""

    model_config = ConfigDict(extra="forbid")

    valid_from: str = Field(
        pattern=MONTH, description="YYYY-MM (Asia/Tokyo): the first month it applies to"
    )
    per_device_unit_yen: int = Field(ge=0, le=MAX_YEN_PER_UNIT, description="Per device")
    per_plan_unit_yen: int = Field(ge=0, le=MAX_YEN_PER_UNIT, description="Per plan")


class MonthlyTarget(BaseModel):
    """What the agency aims for in one month (Asia/Tokyo)."""

    model_config = ConfigDict(extra="forbid")

    month: str = Field(pattern=MONTH, description="YYYY-MM")
    registrations: int = Field(ge=0, le=1_000_000, description="Customers registered")
    won_deals: int = Field(ge=0, le=1_000_000, description="Deals won")


class AgencyTerms(BaseModel):
    """Body of ``PUT /agencies/{agency_id}``: the whole agency, replaced."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="The reseller's name")
    region: str | None = Field(
        default=None,
        pattern=REGION,
        description="The sales region it works in (e.g. hokkaido): its regional manager sees "
        "its residential registrations",
    )
    commission_rules: list[CommissionRule] = Field(default_factory=list, max_length=MAX_RULES)
    monthly_targets: list[MonthlyTarget] = Field(default_factory=list, max_length=MAX_TARGETS)

    @field_validator("commission_rules")
    @classmethod
    def one_rule_per_month(cls, rules: list[CommissionRule]) -> list[CommissionRule]:
        repeated = deal_rules.duplicates(rule.valid_from for rule in rules)
        if repeated:
            raise ValueError(f"one rule per valid_from month: {', '.join(repeated)}")
        return sorted(rules, key=lambda rule: rule.valid_from)

    @field_validator("monthly_targets")
    @classmethod
    def one_target_per_month(cls, targets: list[MonthlyTarget]) -> list[MonthlyTarget]:
        repeated = deal_rules.duplicates(target.month for target in targets)
        if repeated:
            raise ValueError(f"one target per month: {', '.join(repeated)}")
        return sorted(targets, key=lambda target: target.month)


class Agency(AgencyTerms):
    model_config = ConfigDict(extra="ignore")  # as stored: with its keys

    agency_id: str
    version: int = Field(default=1, description="+1 on every change")
    created_at: str
    updated_at: str
    updated_by: str


# ---- registrations -------------------------------------------------------------------------


class RegistrationContact(BaseModel):
    """The customer's contact person; an email or a phone number (or both)."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    person_name: str = Field(min_length=1, max_length=100)
    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=40)

    @field_validator("email", "phone", mode="before")
    @classmethod
    def blank_is_absent(cls, value: Any) -> Any:
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

    @model_validator(mode="after")
    def email_or_phone(self) -> RegistrationContact:
        if self.email is None and self.phone is None:
            raise ValueError("give an email or a phone number")
        return self


class RegistrationDeal(BaseModel):
    """The deal the agency registers with the customer: at least one line."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    lines: list[NewDealLine] = Field(min_length=1, max_length=deal_rules.MAX_LINES)
    requested_delivery_date: date | None = None
    ship_to: ShipTo | None = None
    installation_needed: bool = False
    payment_method: PaymentMethod | None = None


class RegistrationRequest(BaseModel):
    """Body of ``POST /agency/registrations``: a new customer (account), its contact and a
    deal. The agency is the caller's own (never taken from the body)."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    segment: Segment = Field(description="residential (個人) or corporate (法人)")
    name: str = Field(
        min_length=1, max_length=200, description="The company, or the household's name"
    )
    contact: RegistrationContact
    deal: RegistrationDeal


class Registration(BaseModel):
    """One customer an agency registered, as it was registered."""

    agency_id: str
    account_id: str
    contact_id: str
    deal_id: str
    segment: Segment
    name: str
    registered_at: str
    registered_by: str
    region: str | None = Field(default=None, description="The agency's region when registered")


class RegistrationView(Registration):
    deal: Deal | None = Field(default=None, description="The registered deal as it is now")


class RegistrationPage(BaseModel):
    registrations: list[RegistrationView]
    next: str | None = Field(default=None, description="Pass as ?next= for the next page")


# ---- performance ---------------------------------------------------------------------------


class Tally(BaseModel):
    count: int
    target: int | None = Field(default=None, description="None: no target for the month")


class WonDeal(BaseModel):
    deal_id: str
    account_id: str
    won_at: str
    device_units: int
    plan_units: int
    commission_yen: int


class AgencyPerformance(BaseModel):
    """An agency's month (Asia/Tokyo): registrations and won deals against its targets, and
    the commission earned (integer yen, tax excluded)."""

    agency_id: str
    month: str
    registrations: Tally
    won_deals: Tally
    commission_yen: int
    commission_rule: CommissionRule | None = Field(
        default=None, description="The rule of the month; None: no rule, no commission"
    )
    deals: list[WonDeal] = Field(description="The deals won in the month, oldest first")
