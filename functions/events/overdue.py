"""``InvoicePaid``: a customer who owes nothing past due any more has its suspended devices
resumed (monosub.services.overdue.on_invoice_paid), once."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from monosub.observability import EVENTBRIDGE, entry_point, logger
from monosub.services import overdue


@entry_point(EVENTBRIDGE)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = overdue.on_invoice_paid(event.get("detail") or {})
    logger.info("resumption check", extra=result)
    return result
