"""Contract events → the billing account's components: ``ContractStarted`` starts billing
on the ship or installation date, ``ContractRenewed`` (by a renewal quote) bills the new
term's items from its first day, ``ContractEnded`` stops billing after the last day.
Idempotent per event (``monosub.services.billing.on_contract_event``). ``DeviceReturned``
(fulfilment) bills the returned rental device's line one fewer from the next day, once per
serial and return date (``monosub.services.billing_changes.on_device_returned``)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from monosub.observability import EVENTBRIDGE, entry_point, logger
from monosub.services import billing, billing_changes


@entry_point(EVENTBRIDGE)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event["detail-type"] == "DeviceReturned":
        outcome = billing_changes.on_device_returned(event["detail"])
    else:
        outcome = billing.on_contract_event(str(event["detail-type"]), event["detail"])
    logger.info(
        "contract event billed",
        extra={
            "type": event["detail-type"],
            "contract_id": event["detail"].get("contract_id"),
            "outcome": outcome,
        },
    )
    return {"outcome": outcome}
