"""``POST /webhooks/stripe``: Stripe's webhook deliveries (a function of its own, public, with
only the Stripe secret and the cash and billing tables; see monosub.services.card_payments).

The body is taken exactly as API Gateway passed it (base64-decoded when it is flagged so),
because the signature is over those bytes: nothing parses it before it is verified. 200 tells
Stripe the event is kept (applied, a duplicate, or queued as an exception); 400 that it was
refused (recorded); an outage raises, API Gateway answers 502 and Stripe delivers again.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from monosub.observability import API, entry_point, logger
from monosub.services import card_payments


def _raw_body(event: dict[str, Any]) -> bytes:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return base64.b64decode(body)
    return str(body).encode("utf-8")


def _header(event: dict[str, Any], name: str) -> str | None:
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name.lower():
            return str(value)
    return None


def _response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body, ensure_ascii=False),
        "isBase64Encoded": False,
    }


@entry_point(API)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    source_ip = ((event.get("requestContext") or {}).get("identity") or {}).get("sourceIp")
    try:
        outcome = card_payments.receive(
            _raw_body(event), _header(event, "Stripe-Signature"), source_ip=source_ip
        )
    except card_payments.WebhookRefused as refused:
        return _response(refused.status, refused.body())
    logger.info("stripe webhook", extra=outcome)
    return _response(200, outcome)
