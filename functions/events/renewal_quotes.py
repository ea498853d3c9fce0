"""``RenewalQuoteDue`` (the daily contract-renewals run) → the renewal quote of that contract
term, a draft for the rep to review and send. A repeated event makes nothing twice."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from monosub.observability import EVENTBRIDGE, entry_point, logger
from monosub.services import quotes


@entry_point(EVENTBRIDGE)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    outcome = quotes.on_renewal_due(event.get("detail") or {})
    logger.info("renewal quote due handled", extra={"outcome": outcome})
    return {"outcome": outcome}
