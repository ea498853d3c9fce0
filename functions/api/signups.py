"""Phone sign-ups over HTTP, declared in ``functions/manifest.py`` (SIGNUP_ROUTES).

``POST /phone-signups`` (the sales team): the customer, its deal and quote, and the 契約書
sent for consent, in one request. The ``Idempotency-Key`` header is required: the answer of
a finished request is replayed, and a retry of one that failed half-way continues it.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from functions.api import caller
from functions.api.idempotency import HEADER
from monosub.consent import service as consent
from monosub.errors import ValidationFailed
from monosub.models.signups import PhoneSignup
from monosub.services import signups

router = APIGatewayRouter()


@router.post("/phone-signups")
def phone_signup(request: PhoneSignup) -> Response[dict[str, Any]]:
    """201 with what was made: account, contact, deal, quote (``sent``, or
    ``awaiting_approval`` for a discount above the caller's limit), the contract number of
    the 契約書 sent and the consent id."""
    headers = router.current_event.headers
    key = headers.get(HEADER) or headers.get(HEADER.lower())
    if not key:
        raise ValidationFailed(
            f"a phone sign-up needs an {HEADER} header (a retry sends the same one)",
            details=[{"field": HEADER, "message": "required"}],
        )
    result = signups.phone_signup(
        request,
        principal=caller.principal(router),
        idempotency_key=key,
        link_base=consent.link_base_from_event(router.current_event.raw_event),
    )
    return Response(
        status_code=201,
        content_type=content_types.APPLICATION_JSON,
        body=result.model_dump(mode="json"),
    )
