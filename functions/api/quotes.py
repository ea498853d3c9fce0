"""Quotes over HTTP (staff), declared in ``functions/manifest.py`` (QUOTES_ROUTES).

``POST /deals/{deal_id}/quotes`` prices the deal's quote (version 1); ``POST
/quotes/{id}/revise`` makes the next version; ``POST /quotes/{id}/approve`` is a manager's
approval of a discount above the rep's limit; ``POST /quotes/{id}/send`` emails the customer
the consent link. ``GET /quotes/{id}`` (current), ``/versions``, ``/pdf``.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from monosub import access, auth
from monosub.consent import service as consent
from monosub.models.quotes import QuoteRequest, QuoteRevision, SendQuote, VersionedAction
from monosub.services import quotes

router = APIGatewayRouter()


def _principal() -> auth.Principal:
    return auth.require_staff(auth.principal_from_event(router.current_event.raw_event))


def _scope() -> access.Scope:
    return access.scope_for(_principal())


def _json(quote: Any, status: int = 200) -> Response[dict[str, Any]]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=quote.model_dump(mode="json"),
    )


@router.post("/deals/<deal_id>/quotes")
def create_quote(deal_id: str, request: QuoteRequest) -> Response[dict[str, Any]]:
    """201 with version 1 (``draft``, or ``awaiting_approval`` for a discount above the
    caller's limit); 409 when the deal has a quote already."""
    return _json(quotes.create_quote(deal_id, request, principal=_principal()), 201)


@router.get("/quotes/<quote_id>")
def get_quote(quote_id: str) -> dict[str, Any]:
    return quotes.get_quote(quote_id, scope=_scope()).model_dump(mode="json")


@router.get("/quotes/<quote_id>/versions")
def quote_versions(quote_id: str) -> dict[str, Any]:
    """Every version as it was last shown, newest first."""
    found = quotes.versions(quote_id, scope=_scope())
    return {"quote_id": quote_id, "versions": [q.model_dump(mode="json") for q in found]}


@router.get("/quotes/<quote_id>/pdf")
def quote_pdf(  # type: ignore[no-untyped-def]
    quote_id: str, version: Annotated[int | None, Query(ge=1)] = None
):  # no return annotation: Powertools then passes the PDF's bytes through unvalidated
    """The 見積書 PDF of a version (the current one by default), base64 on the wire
    (``application/pdf`` is a binary media type of the REST API)."""
    return Response(
        status_code=200,
        content_type="application/pdf",
        body=quotes.pdf(quote_id, version, scope=_scope()),
        headers={"Content-Disposition": f'inline; filename="{quote_id}.pdf"'},
        compress=False,
    )


@router.post("/quotes/<quote_id>/revise")
def revise_quote(quote_id: str, revision: QuoteRevision) -> dict[str, Any]:
    return quotes.revise_quote(quote_id, revision, principal=_principal()).model_dump(mode="json")


@router.post("/quotes/<quote_id>/approve")
def approve_quote(quote_id: str, action: VersionedAction) -> dict[str, Any]:
    return quotes.approve_quote(quote_id, action.version, principal=_principal()).model_dump(
        mode="json"
    )


@router.post("/quotes/<quote_id>/send")
def send_quote(quote_id: str, request: SendQuote) -> dict[str, Any]:
    """The quote, ``sent``, with the consent id; the link goes to the deal's contact."""
    link_base = consent.link_base_from_event(router.current_event.raw_event)
    return quotes.send_quote(
        quote_id, request, principal=_principal(), link_base=link_base
    ).model_dump(mode="json")
