"""The agency channel: agencies as data (ops), customers and deals registered by an agency,
and an agency's month (registrations and won deals against target, commission earned).

An agency user acts for the agency in its sign-in (``custom:agency_id``): the router passes
that agency, never one from the request body, and ``monosub.access`` keeps every other
agency's records out of its sight.
"""

from __future__ import annotations

import re

from monosub import access, auth, clock, events, ids
from monosub.access import Scope
from monosub.auth import Principal
from monosub.domain import agencies as rules
from monosub.errors import Conflict, Forbidden, NotFound, ValidationFailed
from monosub.events import EventPublisher
from monosub.models.agencies import (
    AGENCY_ID,
    Agency,
    AgencyPerformance,
    AgencyTerms,
    Registration,
    RegistrationPage,
    RegistrationRequest,
    RegistrationView,
)
from monosub.services.deals import check_requested_delivery_date
from monosub.store import agencies as store
from monosub.store import deals as deal_store

SOURCE = "monosub.agencies"
_WRITE_ATTEMPTS = 4

_AGENCY_ID = re.compile(AGENCY_ID)


def _check_agency_id(agency_id: str) -> str:
    if not _AGENCY_ID.fullmatch(agency_id):
        raise ValidationFailed(
            "the request is not valid",
            details=[{"field": "agency_id", "message": "letters, digits, _ and -, at most 64"}],
        )
    return agency_id


# ---- agencies as data ----------------------------------------------------------------------


def put_agency(
    agency_id: str, terms: AgencyTerms, *, by: str, publisher: EventPublisher | None = None
) -> tuple[Agency, bool]:
    """Create or replace an agency's name, commission rules and monthly targets; True when
    it was created. Publishes ``AgencyUpdated`` when something changed."""
    _check_agency_id(agency_id)
    for _ in range(_WRITE_ATTEMPTS):
        current = store.get_agency(agency_id)
        unchanged = current is not None and (
            current.model_dump(include=set(AgencyTerms.model_fields)) == terms.model_dump()
        )
        if current is not None and unchanged:
            return current, False
        now = clock.now_iso()
        agency = Agency(
            agency_id=agency_id,
            **terms.model_dump(),
            version=current.version + 1 if current else 1,
            created_at=current.created_at if current else now,
            updated_at=now,
            updated_by=by,
        )
        if store.put_agency(agency, expected_version=current.version if current else None):
            (publisher or events.default_publisher).publish(
                SOURCE,
                "AgencyUpdated",
                {"agency_id": agency_id, "version": agency.version, "by": by},
            )
            return agency, current is None
    raise Conflict(f"agency {agency_id} kept changing while it was saved; try again")


def get_agency(agency_id: str, *, scope: Scope) -> Agency:
    """An agency's terms and targets: for internal staff, and for the agency itself (any
    other agency's is "not found")."""
    access.require_agency(scope, agency_id)
    agency = store.get_agency(agency_id) if _AGENCY_ID.fullmatch(agency_id) else None
    if agency is None:
        raise NotFound(f"agency {agency_id} does not exist")
    return agency


# ---- registrations -------------------------------------------------------------------------


def register(
    request: RegistrationRequest,
    *,
    agency_id: str,
    by: str,
    publisher: EventPublisher | None = None,
) -> Registration:
    """Register a new customer of ``agency_id`` (the caller's own): account (of the given
    segment), contact and a deal with its lines, all in one transaction, registered by the
    agency and owned by ``by``. A corporate customer whose company is a customer already is
    refused (409) without saying whose. Publishes ``CustomerRegistered``."""
    if store.get_agency(agency_id) is None:
        raise Forbidden(f"agency {agency_id} is not set up in monosub yet: ask ops")
    check_requested_delivery_date(
        request.deal.requested_delivery_date, "deal.requested_delivery_date"
    )
    agency = store.get_agency(agency_id)
    plan = rules.plan_registration(
        request,
        agency_id=agency_id,
        region=agency.region if agency else None,
        by=by,
        new_ids=rules.RegistrationIds(
            account_id=ids.new_id("account"),
            contact_id=ids.new_id("contact"),
            deal_id=ids.new_id("deal"),
            line_ids=[ids.new_id("line") for _ in request.deal.lines],
        ),
        now=clock.now_iso(),
    )
    try:
        store.save_registration(plan)
    except store.CompanyTaken:
        raise Conflict(
            "this company is a customer of monosub already: ask monosub ops",
            details=[{"field": "name", "message": "registered already"}],
        ) from None
    registration = plan.registration
    assert registration is not None  # an agency's
    (publisher or events.default_publisher).publish(
        SOURCE,
        "CustomerRegistered",
        {**registration.model_dump(mode="json"), "by": by},
    )
    return registration


def list_registrations(
    *, agency_id: str, scope: Scope, limit: int, after: str | None
) -> RegistrationPage:
    """The agency's registrations, newest first, each with its deal as it is now."""
    access.require_agency(scope, agency_id)
    registrations, next_token = store.list_registrations(agency_id, limit=limit, after=after)
    return _page(registrations, next_token, scope)


def _page(
    registrations: list[Registration], next_token: str | None, scope: Scope
) -> RegistrationPage:
    deals = {
        deal.deal_id: deal
        for deal in deal_store.deals_by_ids(
            ((r.account_id, r.deal_id) for r in registrations), scope=scope
        )
    }
    return RegistrationPage(
        registrations=[
            RegistrationView(**r.model_dump(), deal=deals.get(r.deal_id)) for r in registrations
        ],
        next=next_token,
    )


def region_of(principal: Principal, asked: str | None) -> str:
    """The region a caller's regional view is of: a regional manager's own (its sign-in's
    ``custom:region``; another one asked is 403), any for ops (who must name it)."""
    if auth.OPS in principal.groups:
        if not asked:
            raise ValidationFailed(
                "name the region", details=[{"field": "region", "message": "required for ops"}]
            )
        return asked
    if principal.region is None:
        raise Forbidden(
            f"a regional manager needs the {auth.REGION_CLAIM} attribute: ask ops to set it"
        )
    if asked and asked != principal.region:
        raise Forbidden(f"you see the registrations of {principal.region} only")
    return principal.region


def region_registrations(
    region: str, *, scope: Scope, limit: int, after: str | None
) -> RegistrationPage:
    """The residential registrations of the region's agencies, newest first, each with its
    deal as it is now (only the region's listing partition is read)."""
    registrations, next_token = store.list_region_registrations(region, limit=limit, after=after)
    return _page(registrations, next_token, scope)


def region_performance(region: str, month: str, *, scope: Scope) -> list[AgencyPerformance]:
    """Each agency of the region: its ``month`` against its targets, with its commission
    (one query for the region's agencies, two per agency)."""
    low, high = rules.month_bounds(month)
    return [
        rules.performance(
            agency,
            month,
            registrations=store.count_registrations(agency.agency_id, low, high),
            won=deal_store.won_by_agency_between(agency.agency_id, low, high),
        )
        for agency in store.agencies_in(region)
    ]


# ---- performance ---------------------------------------------------------------------------


def performance(agency_id: str, month: str, *, scope: Scope) -> AgencyPerformance:
    """The agency's ``month`` (YYYY-MM, Asia/Tokyo): customers registered and deals won in
    it against its targets, and the commission earned on those deals (integer yen). Read
    from the agency's own listing partitions (two queries, no scan)."""
    agency = get_agency(agency_id, scope=scope)
    low, high = rules.month_bounds(month)
    return rules.performance(
        agency,
        month,
        registrations=store.count_registrations(agency_id, low, high),
        won=deal_store.won_by_agency_between(agency_id, low, high),
    )
