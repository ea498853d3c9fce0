"""The HTTP API: one Powertools resolver, one router per resource, errors mapped in one place.

Which routes are public, and which staff groups may call each of the others, is declared in
``functions/manifest.py`` and enforced here before any route runs (401 without a sign-in,
403 for a caller outside the route's groups). What a caller may see is then enforced in the
data layer (``monosub.access``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.api import (
    accounts,
    agency,
    billing,
    billing_changes,
    cash,
    catalog,
    deals,
    devices,
    documents,
    idempotency,
    inquiries,
    leads,
    me,
    notifications,
    orders,
    overdue,
    quotes,
    runs,
    shipments,
    signups,
    tasks,
)
from functions.api import consent as consent_api
from functions.api import contracts as contracts_api
from functions.declarations import Route
from functions.manifest import API_ROUTES, CUSTOMERS
from monosub import auth
from monosub.errors import DomainError
from monosub.observability import API, count, entry_point, logger

app = APIGatewayRestResolver(enable_validation=True)
app.include_router(leads.router)
app.include_router(accounts.router)
app.include_router(runs.router)
app.include_router(catalog.router)
app.include_router(deals.router)
app.include_router(quotes.router)
app.include_router(consent_api.router)
app.include_router(contracts_api.router)
app.include_router(agency.router)
app.include_router(signups.router)
app.include_router(shipments.router)
app.include_router(devices.router)
app.include_router(billing.router)
app.include_router(billing_changes.router)
app.include_router(cash.router)
app.include_router(overdue.router)
app.include_router(tasks.router)
app.include_router(orders.router)
app.include_router(documents.router)
app.include_router(notifications.router)
app.include_router(me.router)
app.include_router(inquiries.router)

# A literal path wins over a path parameter (``/accounts/export`` is not an account id), as
# in API Gateway and Powertools: routes without parameters are matched first.
_ROUTES = [
    (route, re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", route.path) + "$"))
    for route in sorted(API_ROUTES, key=lambda route: "{" in route.path)
]


def _route(method: str, path: str) -> Route | None:
    return next((r for r, pattern in _ROUTES if r.method == method and pattern.match(path)), None)


def authorize(event: Mapping[str, Any]) -> None:
    """Who may call this route at all: a public route anyone; a machine route a partner
    system whose access token has the route's scopes; a customer-portal route only a
    customer user with its account; any other only staff in the route's groups
    (``Unauthorized`` / ``Forbidden`` saying who may). Checked before the request is
    validated or anything is read: a caller who may not call a route learns nothing from it,
    not even its schema."""
    route = _route(str(event.get("httpMethod") or ""), str(event.get("path") or ""))
    if route is not None and route.auth == "machine":
        auth.require_scopes(event, route.scopes, f"{route.method} {route.path}")
        return
    if route is not None and route.groups == CUSTOMERS:
        # the customer portal: a customer user with its account; staff are refused
        auth.require_customer(auth.principal_from_event(event))
        return
    if route is None or route.auth != "public":
        principal = auth.require_staff(auth.principal_from_event(event))
        if route is not None:
            auth.require_groups(principal, route.groups, f"{route.method} {route.path}")


app.use(middlewares=[idempotency.middleware])


@app.get("/openapi.json", include_in_schema=False)
def openapi_document() -> Response[str]:
    return Response(
        status_code=200,
        content_type=content_types.APPLICATION_JSON,
        body=app.get_openapi_json_schema(title="monosub API", version="0.1.0"),
    )


@app.exception_handler(DomainError)
def domain_error(error: DomainError) -> Response[dict[str, Any]]:
    logger.info("request refused", extra={"error": error.code, "reason": error.message})
    count("RequestsRefused")
    return Response(
        status_code=error.status, content_type=content_types.APPLICATION_JSON, body=error.body()
    )


@app.exception_handler(RequestValidationError)
def invalid_request(error: RequestValidationError) -> Response[dict[str, Any]]:
    fields = [
        {"field": _field_name(e.get("loc", ())), "message": e.get("msg", "")}
        for e in error.errors()
    ]
    logger.info("invalid request", extra={"fields": fields})
    count("RequestsRefused")
    return Response(
        status_code=400,
        content_type=content_types.APPLICATION_JSON,
        body={
            "error": "validation_failed",
            "message": "the request is not valid",
            "details": fields,
        },
    )


def _field_name(location: tuple[Any, ...] | list[Any]) -> str:
    """("body", "lines", 2, "quantity") -> "lines[2].quantity"; a body that is not a JSON
    object (("body", 0) for a decode error) -> "body"."""
    parts = list(location)
    if parts and parts[0] == "body":
        parts = parts[1:]
    if all(isinstance(p, int) for p in parts):
        return "body"
    name = ""
    for part in parts:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name


@app.not_found
def not_found(_: NotFoundError) -> Response[dict[str, Any]]:
    return Response(
        status_code=404,
        content_type=content_types.APPLICATION_JSON,
        body={"error": "not_found", "message": "no such route"},
    )


@entry_point(API)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        authorize(event)
    except DomainError as refusal:
        logger.info("request refused", extra={"error": refusal.code, "reason": refusal.message})
        count("RequestsRefused")
        return {
            "statusCode": refusal.status,
            "headers": {"Content-Type": content_types.APPLICATION_JSON},
            "body": json.dumps(refusal.body(), ensure_ascii=False),
            "isBase64Encoded": False,
        }
    return app.resolve(event, context)
