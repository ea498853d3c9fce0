"""The agency channel over HTTP, declared in ``functions/manifest.py`` (AGENCY_ROUTES).

For an agency user, always for the agency of its sign-in (``custom:agency_id``), never one
named in the request:

- ``POST /agency/registrations``: a new customer (account, contact) with a deal, in one
  transaction (201); ``Idempotency-Key`` makes a retry safe;
- ``GET /agency/registrations``: its registrations, newest first, paged;
- ``GET /agency/performance?month=YYYY-MM``: its month against target, and its commission.

A regional manager sees the agencies of its region (its sign-in's ``custom:region``; ops name
one with ``?region=``): ``GET /region/registrations`` (their residential registrations, from the
region's own listing partition) and ``GET /region/performance?month=`` (each agency's month).

Agencies as data: ``PUT /agencies/{agency_id}`` (ops: name, commission rules, monthly
targets), ``GET /agencies/{agency_id}`` (staff; an agency its own only) and ``GET
/agencies/{agency_id}/performance?month=`` (ops, sales).
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from functions.api import caller
from monosub import clock
from monosub.errors import Forbidden
from monosub.models.agencies import MONTH, REGION, AgencyTerms, RegistrationRequest
from monosub.services import agencies

router = APIGatewayRouter()

Month = Annotated[
    str | None,
    Query(pattern=MONTH, description="YYYY-MM (Asia/Tokyo); default this month"),
]


def _own_agency() -> str:
    """The agency of the calling agency user (its sign-in's ``custom:agency_id``)."""
    agency_id = caller.principal(router).agency_id
    if agency_id is None:  # the route is for the agency group, whose users all have one
        raise Forbidden("this is for agency users only")
    return agency_id


def _month(month: str | None) -> str:
    return month or clock.today().strftime("%Y-%m")


@router.post("/agency/registrations")
def register(request: RegistrationRequest) -> Response[dict[str, Any]]:
    """201 with the registration: the new account, contact and deal, of the caller's agency."""
    registration = agencies.register(
        request, agency_id=_own_agency(), by=caller.principal(router).user
    )
    return Response(
        status_code=201,
        content_type=content_types.APPLICATION_JSON,
        body=registration.model_dump(mode="json"),
    )


@router.get("/agency/registrations")
def my_registrations(
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    next_token: Annotated[str | None, Query(alias="next", max_length=512)] = None,
) -> dict[str, Any]:
    """The caller's agency's registrations, newest first, each with its deal as it is now;
    pass the answer's ``next`` for the next page."""
    page = agencies.list_registrations(
        agency_id=_own_agency(), scope=caller.scope(router), limit=limit, after=next_token
    )
    return page.model_dump(mode="json")


@router.get("/agency/performance")
def my_performance(month: Month = None) -> dict[str, Any]:
    """The caller's agency's month: registrations and won deals against its targets, and
    the commission earned (integer yen)."""
    result = agencies.performance(_own_agency(), _month(month), scope=caller.scope(router))
    return result.model_dump(mode="json")


@router.put("/agencies/<agency_id>")
def put_agency(agency_id: str, terms: AgencyTerms) -> Response[dict[str, Any]]:
    """201 when the agency is new, else 200: its name, commission rules, monthly targets."""
    agency, created = agencies.put_agency(agency_id, terms, by=caller.principal(router).user)
    return Response(
        status_code=201 if created else 200,
        content_type=content_types.APPLICATION_JSON,
        body=agency.model_dump(mode="json"),
    )


@router.get("/agencies/<agency_id>")
def get_agency(agency_id: str) -> dict[str, Any]:
    """The agency's terms and targets (an agency user: its own only, else 404)."""
    return agencies.get_agency(agency_id, scope=caller.scope(router)).model_dump(mode="json")


@router.get("/agencies/<agency_id>/performance")
def agency_performance(agency_id: str, month: Month = None) -> dict[str, Any]:
    """An agency's month, as ``GET /agency/performance`` shows it to the agency."""
    result = agencies.performance(agency_id, _month(month), scope=caller.scope(router))
    return result.model_dump(mode="json")


# ---- a region's agencies (regional managers; ops naming the region) -------------------------

Region = Annotated[str | None, Query(pattern=REGION, description="ops: the region to show")]


@router.get("/region/registrations")
def region_registrations(
    region: Region = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    next_token: Annotated[str | None, Query(alias="next", max_length=512)] = None,
) -> dict[str, Any]:
    """The residential registrations of every agency of the caller's region (a regional
    manager's ``custom:region``), newest first, each with its deal as it is now."""
    shown = agencies.region_of(caller.principal(router), region)
    page = agencies.region_registrations(
        shown, scope=caller.scope(router), limit=limit, after=next_token
    )
    return {"region": shown, **page.model_dump(mode="json")}


@router.get("/region/performance")
def region_performance(region: Region = None, month: Month = None) -> dict[str, Any]:
    """Each agency of the region: its month's registrations and won deals against its
    targets, and its commission (integer yen)."""
    shown = agencies.region_of(caller.principal(router), region)
    month = _month(month)
    found = agencies.region_performance(shown, month, scope=caller.scope(router))
    return {
        "region": shown,
        "month": month,
        "agencies": [p.model_dump(mode="json") for p in found],
        "commission_yen": sum(p.commission_yen for p in found),
    }
