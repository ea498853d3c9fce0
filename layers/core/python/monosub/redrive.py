"""Re-driving a failed run: its Step Functions execution continues from the step that failed,
with the same input; the steps that succeeded are not run again.

A run whose ``kind`` is the name of a state machine runs as executions of that machine (a
``file-intake`` run is a ``file-intake`` execution named after the run). The function that
re-drives declares the machines it may re-drive (``redrives=`` in ``functions/manifest.py``),
which gives it ``STATE_MACHINE_<NAME>`` and ``states:RedriveExecution`` on those executions
only.

Order matters: the ledger says ``running`` again (a conditional write on ``failed`` and the
attempt number, so of two retries at once only one goes on) *before* the execution continues,
so no step of the re-driven execution sees the run as it was. If Step Functions refuses, the
run is put back as it was.
"""

from __future__ import annotations

from monosub import aws, clock, config, events
from monosub.errors import Conflict, NotFound
from monosub.events import EventPublisher
from monosub.models.runs import Run
from monosub.observability import count, logger
from monosub.store import runs

REDRIVABLE_STATUS = "failed"


def redrive_run(run_id: str, by: str, publisher: EventPublisher | None = None) -> Run:
    """Re-drive the execution of a failed run; returns the run, ``running`` again.

    Raises ``NotFound`` for an unknown run, ``Conflict`` for a run that is not failed, has
    no execution, runs on a machine this function may not re-drive, or whose execution Step
    Functions will not re-drive (still running, succeeded, or gone)."""
    run = runs.get(run_id)
    if run is None:
        raise NotFound(f"run {run_id} does not exist")
    if run.status != REDRIVABLE_STATUS:
        raise Conflict(f"run {run_id} is {run.status}: only a failed run can be re-driven")
    machine_arn = config.setting(config.state_machine_env(run.kind))
    if not machine_arn:
        raise Conflict(f"runs of kind {run.kind!r} are not re-driven through Step Functions")
    if not run.execution_arn or not _belongs_to(run.execution_arn, machine_arn):
        raise Conflict(f"run {run_id} has no execution of {run.kind} to re-drive")
    if not runs.mark_redriven(run, by):
        raise Conflict(f"run {run_id} changed meanwhile (another retry?); read it again")
    client = aws.client("stepfunctions")
    try:
        client.redrive_execution(executionArn=run.execution_arn)
    except (
        client.exceptions.ExecutionNotRedrivable,
        client.exceptions.ExecutionDoesNotExist,
    ) as refused:
        reason = refused.response.get("Error", {}).get("Message", str(refused))
        runs.undo_redrive(run, reason)
        raise Conflict(f"Step Functions will not re-drive run {run_id}: {reason}") from refused
    except Exception:
        runs.undo_redrive(run, "the re-drive request failed")
        raise
    logger.info(
        "run re-driven",
        extra={"run_id": run_id, "execution_arn": run.execution_arn, "by": by},
    )
    count("RunsRedriven")
    (publisher or events.default_publisher).publish(
        "monosub.operations",
        "RunRedriven",
        {
            "run_id": run_id,
            "kind": run.kind,
            "execution_arn": run.execution_arn,
            "redriven_by": by,
            "attempt": run.attempts + 1,
            "previous_message": run.message,
            "redriven_at": clock.now_iso(),
        },
    )
    return runs.require(run_id)


def _belongs_to(execution_arn: str, machine_arn: str) -> bool:
    """``arn:…:execution:<machine>:<name>`` is an execution of ``arn:…:stateMachine:<machine>``."""
    prefix = machine_arn.replace(":stateMachine:", ":execution:", 1) + ":"
    return execution_arn.startswith(prefix)
