"""Unsigned contracts' schedule (daily, 08:30 in Tokyo: in the inbox when offices open):
remind the recipients of pending consents whose reminder level is due (once per level, the
same link), and send those nobody answered in time to the exceptions queue
(``monosub.services.consent_follow_up``). Every step is conditional, so a rerun of the day
(or a retry after a failure) sends and raises nothing twice; "now" is the business clock's
when the function runs, not when it was scheduled, so a late retry expires what is due then."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from monosub.observability import EVENTBRIDGE, entry_point, logger
from monosub.services import consent_follow_up


@entry_point(EVENTBRIDGE)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    result = consent_follow_up.run()
    logger.info("consents followed up", extra=result)
    return result
