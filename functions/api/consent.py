"""Consent without a login, over HTTP (declared in functions/manifest.py, CONSENT_ROUTES).

- ``GET /consent/{token}`` (public): the page that asks, in Japanese, as HTML;
- ``POST /consent/{token}`` (public): the browser's form (``decision=agree|decline``,
  optional ``reason`` and ``document``), answered with a result page;
- ``GET /consents/{consent_id}`` (staff): status and evidence, as JSON, of a consent about a
  customer the caller may see (``monosub.services.consents``; 404 otherwise);
- ``GET /consents?status=pending|expired`` (staff and agencies): the unanswered consents the
  caller may see, with their age in days and next follow-up, paged (``next``).

The public routes always answer with a page (never JSON), with the status that fits: 200
(asked, answered now), 400 (not a link we signed, or an unreadable form), 404 (signed, no
such consent), 409 (answered before, or another document posted), 410 (expired,
superseded), 500 (our failure; nothing recorded).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import parse_qs

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from functions.api import caller
from monosub.consent import render, service
from monosub.observability import count, logger
from monosub.services import consents

router = APIGatewayRouter()

HTML = "text/html; charset=utf-8"
MAX_FORM_BYTES = 16_384
STATUS: dict[service.Outcome, int] = {
    "show": 200,
    "agreed": 200,
    "declined": 200,
    "answered": 409,
    "expired": 410,
    "superseded": 410,
    "invalid": 400,
    "not_found": 404,
    "changed": 409,
    "bad_request": 400,
}


@router.get("/consent/<token>", include_in_schema=False)
def consent_page(token: str) -> Response[str]:
    try:
        visited = service.open_consent(token, _visit())
    except Exception:
        return _failure("GET")
    return _page(visited)


@router.post("/consent/<token>", include_in_schema=False)
def consent_answer(token: str) -> Response[str]:
    try:
        form = _form()
        visited = service.answer_consent(
            token,
            form.get("decision"),
            _visit(),
            reason=form.get("reason"),
            shown_document_sha256=form.get("document"),
        )
    except Exception:
        return _failure("POST")
    return _page(visited)


@router.get("/consents")
def list_consents(
    status: Annotated[Literal["pending", "expired"], Query()] = "pending",
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    next_token: Annotated[str | None, Query(alias="next", max_length=512)] = None,
) -> dict[str, Any]:
    """Consents nobody answered that the caller may see: ``pending`` ones newest sent first,
    each with its age in days (Tokyo calendar), reminders sent and next follow-up (a
    reminder on a date, or the expiry); or ``expired`` ones (sent to the back office) newest
    expired first. Pass the answer's ``next`` for the next page."""
    return consents.listed(status, scope=caller.scope(router), limit=limit, after=next_token)


@router.get("/consents/<consent_id>")
def consent_for_staff(consent_id: str) -> dict[str, Any]:
    """A consent's status (pending, agreed, declined, superseded, expired), its document and
    exact HTML, the evidence of the answer, and refused uses of its link; 404 for one about a
    customer the caller may not see."""
    return consents.staff_view(consent_id, scope=caller.scope(router))


def _visit() -> service.Visit:
    """Who is asking, from what API Gateway saw (``requestContext.identity``)."""
    event = router.current_event
    identity = (event.raw_event.get("requestContext") or {}).get("identity") or {}
    user_agent = identity.get("userAgent") or _header("user-agent")
    return service.Visit(
        method=event.http_method, ip=identity.get("sourceIp"), user_agent=user_agent
    )


def _header(name: str) -> str | None:
    for key, value in (router.current_event.headers or {}).items():
        if key.lower() == name:
            return str(value)
    return None


def _form() -> dict[str, str]:
    """The posted form (``application/x-www-form-urlencoded``, as browsers send it): the
    first value of each field; nothing usable when it is something else or too large."""
    body = router.current_event.decoded_body or ""
    content_type = (_header("content-type") or "").split(";")[0].strip().lower()
    if content_type not in ("", "application/x-www-form-urlencoded") or len(body) > MAX_FORM_BYTES:
        return {}
    fields = parse_qs(body, keep_blank_values=True, max_num_fields=20, encoding="utf-8")
    return {name: values[0] for name, values in fields.items() if values}


def _page(visited: service.Visited) -> Response[str]:
    if visited.outcome == "show":
        assert visited.consent is not None
        body = render.page(visited.consent)
    else:
        body = render.result(visited.outcome, visited.consent)
    return Response(
        status_code=STATUS[visited.outcome],
        content_type=HTML,
        body=body,
        headers=dict(render.PAGE_HEADERS),
    )


def _failure(method: str) -> Response[str]:
    logger.exception("consent page failed", extra={"method": method})
    count("ConsentPageFailures")
    return Response(
        status_code=500,
        content_type=HTML,
        body=render.result("error"),
        headers=dict(render.PAGE_HEADERS),
    )
