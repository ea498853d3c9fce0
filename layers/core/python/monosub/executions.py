"""Starting a run's execution. A run whose ``kind`` is the name of a state machine runs as
executions of that machine, named after the run (``<run_id>`` the first time, then
``<run_id>-<attempt>``), so Step Functions itself refuses a second start of the same attempt.
The execution's input is the run id (also its correlation id) and the run's subject; the
execution's ARN goes into the run (re-drives and the ops page find it there).
Re-driving a failed execution is ``monosub.redrive``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from monosub import aws, config
from monosub.models.runs import Run
from monosub.store import runs


def start(run: Run, subject: Mapping[str, Any], *, attempt: int = 1) -> bool:
    """Start the run's execution (attempt ``attempt``); False when that attempt's execution
    exists already (started by someone else: nothing to do)."""
    client = aws.client("stepfunctions")
    name = run.run_id if attempt == 1 else f"{run.run_id}-{attempt}"
    try:
        response = client.start_execution(
            stateMachineArn=config.state_machine_arn(run.kind),
            name=name,
            input=json.dumps({"run_id": run.run_id, "correlation_id": run.run_id, **subject}),
        )
    except client.exceptions.ExecutionAlreadyExists:
        return False
    runs.update(run.run_id, execution_arn=response["executionArn"])
    return True
