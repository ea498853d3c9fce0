"""Overdue follow-up's schedule (daily, 09:00 in Tokyo: reminders arrive in office hours):
today's run, ``overdue#<yyyy-mm-dd>`` in the run ledger, started once."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.schedules.billing import business_day
from monosub.observability import EVENTBRIDGE, entry_point, logger
from monosub.services import overdue


@entry_point(EVENTBRIDGE)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = overdue.start(business_day(event))
    logger.info("overdue follow-up run", extra=result)
    return result
