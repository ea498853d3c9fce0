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


def open_and_start(kind: str, business_key: str, subject: Mapping[str, Any]) -> bool:
    """Open the scheduled run of ``business_key`` and start its execution (named after the
    run: never twice). A run that finished ``failed`` while its execution succeeded (some
    items failed and were reported) is started again as its next attempt, which does only
    what is left; a run whose execution failed waits for a re-drive (``POST
    /runs/{id}/retry`` or the console). True when an execution was started."""
    run, created = runs.open_run(kind, business_key, subject)
    if created:
        return start(run, subject)
    if run.status != "failed" or not run.execution_arn:
        return False
    execution = aws.client("stepfunctions").describe_execution(executionArn=run.execution_arn)
    if execution["status"] != "SUCCEEDED" or not runs.mark_redriven(run, by="schedule"):
        return False
    return start(run, subject, attempt=run.attempts + 1)
