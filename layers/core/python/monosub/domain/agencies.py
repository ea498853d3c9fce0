"""Agency rules: what a registration makes, the units of a deal, months in Asia/Tokyo, and
the commission of a month.

Pure: plain values in, models out; "now" and new identifiers are passed in by the caller.
Nothing here touches AWS.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from monosub.domain.text import company_key, email_key, phone_key
from monosub.errors import ValidationFailed
from monosub.models.agencies import (
    Agency,
    AgencyPerformance,
    CommissionRule,
    MonthlyTarget,
    Registration,
    RegistrationRequest,
    Tally,
    WonDeal,
)
from monosub.models.crm import Account, Activity, ActivityKind, Contact
from monosub.models.deals import Deal, DealLine
from monosub.models.deals import NewDealLine as _Line

TOKYO = ZoneInfo("Asia/Tokyo")
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


# ---- units and commission ------------------------------------------------------------------


def units(lines: Iterable[_Line | DealLine]) -> tuple[int, int]:
    """(devices, plans) on a deal's lines: every line is ``quantity`` plans, and as many
    devices when it has a device."""
    devices = plans = 0
    for line in lines:
        plans += line.quantity
        if line.device_sku:
            devices += line.quantity
    return devices, plans


def rule_for(rules: Sequence[CommissionRule], month: str) -> CommissionRule | None:
    """The rule of ``month``: the one with the latest ``valid_from`` not after it."""
    applicable = [rule for rule in rules if rule.valid_from <= month]
    return max(applicable, key=lambda rule: rule.valid_from) if applicable else None


def commission(device_units: int, plan_units: int, rule: CommissionRule | None) -> int:
    """Integer yen earned for these units under ``rule`` (none: nothing)."""
    if rule is None:
        return 0
    return device_units * rule.per_device_unit_yen + plan_units * rule.per_plan_unit_yen


def target_for(targets: Sequence[MonthlyTarget], month: str) -> MonthlyTarget | None:
    return next((target for target in targets if target.month == month), None)


# ---- months --------------------------------------------------------------------------------


def check_month(month: str, field: str = "month") -> str:
    if not _MONTH.fullmatch(month):
        raise ValidationFailed(
            "the request is not valid",
            details=[{"field": field, "message": "a month is YYYY-MM, e.g. 2026-04"}],
        )
    return month


def month_bounds(month: str) -> tuple[str, str]:
    """The first instant of the Asia/Tokyo ``month`` and of the next, as stored (UTC, 'Z').

    Positions ``<instant>#<id>`` of the month are ``>= low`` and ``< high``; the one at
    exactly ``high`` is ``high#…``, above ``high``: ``BETWEEN low AND high`` is the month."""
    year, number = (int(part) for part in check_month(month).split("-"))
    start = datetime(year, number, 1, tzinfo=TOKYO)
    following = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=TOKYO)
    return _iso(start), _iso(following)


def month_of(instant: str) -> str:
    """The Asia/Tokyo month (YYYY-MM) of a stored instant."""
    moment = datetime.fromisoformat(instant.replace("Z", "+00:00"))
    return moment.astimezone(TOKYO).strftime("%Y-%m")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- performance ---------------------------------------------------------------------------


def performance(
    agency: Agency, month: str, *, registrations: int, won: Iterable[Mapping[str, Any]]
) -> AgencyPerformance:
    """An agency's ``month``: ``registrations`` counted, the ``won`` deals' listing items
    (``deal_id``, ``account_id``, ``won_at``, ``device_units``, ``plan_units``) priced with
    the month's commission rule, against the month's target."""
    rule = rule_for(agency.commission_rules, month)
    target = target_for(agency.monthly_targets, month)
    deals = [
        WonDeal(
            deal_id=str(item["deal_id"]),
            account_id=str(item["account_id"]),
            won_at=str(item["won_at"]),
            device_units=int(item["device_units"]),
            plan_units=int(item["plan_units"]),
            commission_yen=commission(int(item["device_units"]), int(item["plan_units"]), rule),
        )
        for item in won
    ]
    return AgencyPerformance(
        agency_id=agency.agency_id,
        month=month,
        registrations=Tally(count=registrations, target=target.registrations if target else None),
        won_deals=Tally(count=len(deals), target=target.won_deals if target else None),
        commission_yen=sum(deal.commission_yen for deal in deals),
        commission_rule=rule,
        deals=deals,
    )


# ---- registration --------------------------------------------------------------------------


@dataclass(frozen=True)
class RegistrationIds:
    account_id: str
    contact_id: str
    deal_id: str
    line_ids: Sequence[str]


@dataclass(frozen=True)
class RegistrationPlan:
    """A new customer with its deal: registered by an agency (``registration`` lists it for
    the agency), or signed up by the sales team on the phone (no registration)."""

    account: Account
    contact: Contact
    deal: Deal
    registration: Registration | None
    activity: Activity


def plan_registration(
    request: RegistrationRequest,
    *,
    agency_id: str | None,
    by: str,
    new_ids: RegistrationIds,
    now: str,
    how: str | None = None,
    kind: ActivityKind | None = None,
    region: str | None = None,
) -> RegistrationPlan:
    """A new customer of ``agency_id``: account (of the request's segment, registered by
    the agency), contact and deal (owned by the registering user ``by``, of the agency).
    With no agency it is a customer the sales team signed up on the phone (``how`` says
    so in the account's history); nothing lists it for an agency.

    A corporate customer is found by its normalized company name like any other (one
    account per company); a residential customer's name is a person's, so it is no key."""
    account = Account(
        account_id=new_ids.account_id,
        name=request.name,
        name_key=company_key(request.name) if request.segment == "corporate" else None,
        segment=request.segment,
        agency_id=agency_id,
        created_at=now,
        updated_at=now,
    )
    person = request.contact
    contact = Contact(
        contact_id=new_ids.contact_id,
        account_id=account.account_id,
        person_name=person.person_name,
        email=person.email,
        phone=person.phone,
        email_key=email_key(person.email),
        phone_key=phone_key(person.phone),
        created_at=now,
        updated_at=now,
    )
    order = request.deal
    deal = Deal(
        deal_id=new_ids.deal_id,
        account_id=account.account_id,
        contact_id=contact.contact_id,
        name=order.name,
        owner=by,
        agency_id=agency_id,
        segment=account.segment,
        lines=[
            DealLine(line_id=line_id, **line.model_dump())
            for line_id, line in zip(new_ids.line_ids, order.lines, strict=True)
        ],
        device_owner_account_id=account.account_id,
        requested_delivery_date=order.requested_delivery_date,
        ship_to=order.ship_to,
        installation_needed=order.installation_needed,
        billing_account_id=account.account_id,
        payment_method=order.payment_method,
        created_at=now,
        updated_at=now,
    )
    registration = (
        None
        if agency_id is None
        else Registration(
            agency_id=agency_id,
            account_id=account.account_id,
            contact_id=contact.contact_id,
            deal_id=deal.deal_id,
            segment=account.segment,
            name=account.name,
            registered_at=now,
            registered_by=by,
            region=region,
        )
    )
    activity = Activity(
        kind=kind or ("registration" if agency_id is not None else "phone-signup"),
        occurred_at=now,
        lead_id="",
        seq=1,
        company=account.name,
        person_name=contact.person_name,
        email=contact.email,
        phone=contact.phone,
        message=how or f"registered by agency {agency_id}",
        by=by,
        account_id=account.account_id,
        contact_id=contact.contact_id,
        deal_id=deal.deal_id,
    )
    return RegistrationPlan(
        account=account,
        contact=contact,
        deal=deal,
        registration=registration,
        activity=activity,
    )
