"""A run's execution re-driven outside ``POST /runs/{id}/retry`` (the Step Functions console,
the CLI): Step Functions announces it RUNNING again with a ``redriveCount`` on the default
bus, and the run ledger and the audit trail learn of it here (``monosub.redrive``).

The rule selects only those events (status RUNNING, ``redriveCount`` > 0, a state machine of
this stage), so a plain start or end of an execution never invokes this function.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from monosub import redrive
from monosub.observability import EVENTBRIDGE, entry_point, logger


@entry_point(EVENTBRIDGE)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    detail = event.get("detail") or {}
    execution_arn = str(detail.get("executionArn") or "")
    run_id = run_id_of(detail)
    if not execution_arn or run_id is None:
        logger.info("a re-driven execution that is no run's", extra={"detail": detail})
        return {"recorded": False}
    run = redrive.record_redrive_from_outside(run_id, execution_arn)
    return {"recorded": run is not None, "run_id": run_id}


def run_id_of(detail: dict[str, Any]) -> str | None:
    """The run an execution works for: its input's ``run_id`` (every run's execution gets
    it, ``monosub.executions``), else its name (``<run_id>`` or ``<run_id>-<attempt>``) when
    Step Functions left the input out of the event (over 256 KB)."""
    raw = detail.get("input")
    if isinstance(raw, str):
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict) and parsed.get("run_id"):
            return str(parsed["run_id"])
    name = str(detail.get("name") or "")
    if not name:
        return None
    base, _, attempt = name.rpartition("-")
    return base if base and attempt.isdigit() else name
