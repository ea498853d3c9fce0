"""Orders into shipments: ``OrderConfirmed`` makes the order's shipment; ``ContractCancelled``
cancels one the warehouse was not told of yet. A repeated delivery does nothing twice."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from monosub.observability import EVENTBRIDGE, entry_point, logger
from monosub.services import fulfilment


@entry_point(EVENTBRIDGE)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    kind = event.get("detail-type", "")
    detail = event.get("detail") or {}
    if kind == "OrderConfirmed":
        outcome = fulfilment.on_order_confirmed(detail)
    elif kind == "ContractCancelled":
        outcome = fulfilment.on_contract_cancelled(detail)
    else:
        outcome = "ignored"
    logger.info("fulfilment event handled", extra={"detail_type": kind, "outcome": outcome})
    return {"outcome": outcome}
