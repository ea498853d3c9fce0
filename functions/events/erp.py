"""Domain events → the ERP outbox (docs/erp.md): the one consumer of the bus for the ERP.
A customer or contract event stages the record as it is now, once per (entity, version); a
paid or reopened invoice goes on the list whose ERP status the next sync reads
(``monosub.services.erp.on_event``). Nothing here calls the ERP: the daily ``erp-sync`` run
does, in batches."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from monosub.observability import EVENTBRIDGE, entry_point, logger
from monosub.services import erp


@entry_point(EVENTBRIDGE)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    staged = erp.on_event(str(event["detail-type"]), event["detail"])
    logger.info("ERP outbox", extra={"type": event["detail-type"], "staged": staged})
    return {"staged": staged}
