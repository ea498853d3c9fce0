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

A re-drive from the Step Functions console (or any other RedriveExecution call) bypasses all
that: Step Functions then announces the execution RUNNING again (with a ``redriveCount``) on
the default bus, and ``execution-redriven`` calls ``record_redrive_from_outside``, which marks
the run and audits it the same way, by ``console``.
"""

from __future__ import annotations

from monosub import aws, clock, config, events
from monosub.errors import Conflict, NotFound
from monosub.events import EventPublisher
from monosub.models.runs import Run
from monosub.observability import count, logger
from monosub.store import runs

REDRIVABLE_STATUS = "failed"
CONSOLE = "console"  # who re-drove an execution that no API call re-drove


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
    _announce(run, by, publisher)
    return runs.require(run_id)


def record_redrive_from_outside(
    run_id: str,
    execution_arn: str,
    by: str = CONSOLE,
    publisher: EventPublisher | None = None,
) -> Run | None:
    """Step Functions re-drove ``execution_arn`` without ``redrive_run`` (from the console):
    the run goes back to ``running`` with one more attempt and the re-drive is audited
    (``RunRedriven``, by ``by``), as ``redrive_run`` does. Returns the run, or None when there
    is nothing to record: an unknown run, one that is not ``failed`` (``redrive_run`` marked
    it before re-driving, or the execution has already finished again), or one whose
    execution is another one (an earlier attempt)."""
    run = runs.get(run_id)
    if run is None or run.status != REDRIVABLE_STATUS or run.execution_arn != execution_arn:
        return None
    if not runs.mark_redriven(run, by):
        return None  # changed meanwhile: whoever changed it recorded it
    _announce(run, by, publisher)
    return runs.require(run_id)


def _announce(run: Run, by: str, publisher: EventPublisher | None) -> None:
    """Log, count and publish ``RunRedriven`` (the event journal puts it in the audit trail
    under the run) for ``run`` as it was before its re-drive."""
    logger.info(
        "run re-driven",
        extra={"run_id": run.run_id, "execution_arn": run.execution_arn, "by": by},
    )
    count("RunsRedriven")
    (publisher or events.default_publisher).publish(
        "monosub.operations",
        "RunRedriven",
        {
            "run_id": run.run_id,
            "kind": run.kind,
            "execution_arn": run.execution_arn,
            "redriven_by": by,
            "attempt": run.attempts + 1,
            "previous_message": run.message,
            "redriven_at": clock.now_iso(),
        },
    )


def _belongs_to(execution_arn: str, machine_arn: str) -> bool:
    """``arn:…:execution:<machine>:<name>`` is an execution of ``arn:…:stateMachine:<machine>``."""
    prefix = machine_arn.replace(":stateMachine:", ":execution:", 1) + ":"
    return execution_arn.startswith(prefix)
