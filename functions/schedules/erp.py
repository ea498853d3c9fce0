"""The ERP sync's schedule (daily, 04:00 in Tokyo: after invoicing and direct debit, before
offices open): today's run, ``erp-sync#<yyyy-mm-dd>`` in the run ledger, started once."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.schedules.billing import business_day
from monosub.observability import EVENTBRIDGE, entry_point, logger
from monosub.services import erp


@entry_point(EVENTBRIDGE)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = erp.start(business_day(event))
    logger.info("ERP sync run", extra=result)
    return result
