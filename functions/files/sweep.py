"""Hourly: nothing dropped is lost. Starts intake for files whose notification never came,
restarts stuck runs, and removes re-drops of finished files."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from monosub import clock
from monosub.intake import service
from monosub.observability import EVENTBRIDGE, entry_point, logger


@entry_point(EVENTBRIDGE)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    fired_at = clock.parse_instant(event["time"]) if event.get("time") else clock.now()
    business_key = f"intake-sweep#{fired_at.strftime('%Y-%m-%dT%H')}"
    totals = service.sweep(business_key)
    logger.info("inbox swept", extra=totals)
    return totals
