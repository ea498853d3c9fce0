"""Billing's schedules: month-end revenue (daily, 01:00 in Tokyo) starts one run per month
closed since the last one that ran (on the 1st: last month; a missed 1st the next day);
invoicing (daily, 02:00 in Tokyo) starts one run per closing date up to yesterday that has
not run. Each run is in the run ledger under its
business key (``month-end#<yyyy-mm>``, ``invoicing#<yyyy-mm-dd>``) and is started once."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from monosub import clock
from monosub.observability import EVENTBRIDGE, entry_point, logger
from monosub.services import billing


def business_day(event: dict[str, Any]) -> Any:
    fired_at = clock.parse_instant(event["time"]) if event.get("time") else clock.now()
    return fired_at.astimezone(clock.TOKYO).date()


@entry_point(EVENTBRIDGE)
def month_end_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = billing.start_month_end(business_day(event))
    logger.info("month-end revenue runs", extra=result)
    return result


@entry_point(EVENTBRIDGE)
def invoicing_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = billing.start_invoicing(business_day(event))
    logger.info("invoicing runs", extra=result)
    return result
