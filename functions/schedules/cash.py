"""Cash's schedule: direct debit (daily, 03:00 in Tokyo) starts one run per coming debit date
whose request file is due at the bank (``direct-debit#<yyyy-mm-dd>`` in the run ledger,
started once; a missed day is caught up while the debit date is ahead)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.schedules.billing import business_day
from monosub.observability import EVENTBRIDGE, entry_point, logger
from monosub.services import direct_debit


@entry_point(EVENTBRIDGE)
def direct_debit_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = direct_debit.start_requests(business_day(event))
    logger.info("direct-debit runs", extra=result)
    return result
