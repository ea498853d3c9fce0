"""Supplier and regulator notifications (monosub.services.notifications): a domain event that
carries a supply fact is recorded once per recipient and meter and delivered; the hourly
schedule (same function: one function fewer in the stack) sends the retries that are due."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from monosub.observability import EVENTBRIDGE, entry_point, logger
from monosub.services import notifications

SCHEDULED = "Scheduled Event"


@entry_point(EVENTBRIDGE)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("detail-type") == SCHEDULED:
        counts = notifications.sweep()
        logger.info("notifications swept", extra=counts)
        return counts
    counts = notifications.on_event(event)
    logger.info("notifications of a domain event", extra=counts)
    return counts
