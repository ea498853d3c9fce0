"""Consent answers for quotes: ``ConsentGiven`` accepts the quote, wins the deal, makes the
contract and publishes ``OrderConfirmed``; ``ConsentDeclined`` records the decline. Other
consent events are ignored. A repeated delivery does each thing once."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from monosub.observability import EVENTBRIDGE, entry_point, logger
from monosub.services import quotes


@entry_point(EVENTBRIDGE)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    outcome = quotes.on_consent_answer(event.get("detail-type", ""), event.get("detail") or {})
    logger.info("consent answer handled", extra={"outcome": outcome})
    return {"outcome": outcome}
