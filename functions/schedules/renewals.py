"""Daily: end every active contract whose term is over without renewal (``ContractEnded``)
or renew it automatically on the same terms (``ContractRenewed``, ``automatic``), then
request the renewal quote of every active, auto-renewing contract whose notice date is near
(``RenewalQuoteDue``), once per contract term. The run is recorded in the run ledger under
``contract-renewals#<business date>``; a rerun of a finished day does nothing."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from monosub import clock
from monosub.observability import EVENTBRIDGE, entry_point, logger
from monosub.services import contracts


@entry_point(EVENTBRIDGE)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    fired_at = clock.parse_instant(event["time"]) if event.get("time") else clock.now()
    day = fired_at.astimezone(clock.TOKYO).date()
    result = contracts.run_renewals(day)
    logger.info("contract terms closed and renewals requested", extra=result)
    return result
