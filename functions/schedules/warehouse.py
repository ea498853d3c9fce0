"""Daily: the warehouse's shipping-instruction file for the shipments due, into
``outbox/warehouse/<date>/``, each shipment once. The run is in the run ledger under
``warehouse-instructions#<business date>``; a rerun of a finished day does nothing."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from monosub import clock
from monosub.observability import EVENTBRIDGE, entry_point, logger
from monosub.services import fulfilment


@entry_point(EVENTBRIDGE)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    fired_at = clock.parse_instant(event["time"]) if event.get("time") else clock.now()
    result = fulfilment.run_instructions(fired_at.astimezone(clock.TOKYO).date())
    logger.info("warehouse instructions written", extra=result)
    return result
