"""The run ledger (table ``runs``). Keys:

- run:          pk ``RUN#<run_id>``, sk ``RUN``; gsi1 ``RUNS`` / gsi2 ``RUNKIND#<kind>``,
                both sorted by ``<started_at>#<run_id>``
- fingerprint:  pk ``CONTENT#<file kind>#<sha256>``, sk ``CONTENT`` -> the run that owns it

``run_id`` is derived from the business key, so the same business key can only ever open
one run: a second drop of the same object, or a rerun, finds the run that exists.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

from monosub import clock, ids
from monosub.models.runs import MAX_ERRORS_KEPT, Run
from monosub.names import RUNS
from monosub.store.dynamo import Table

_table = Table(RUNS)


def run_id_for(kind: str, business_key: str) -> str:
    return ids.derived_id("run", f"{kind}|{business_key}")


def _pk(run_id: str) -> str:
    return f"RUN#{run_id}"


def open_run(kind: str, business_key: str, subject: Mapping[str, Any]) -> tuple[Run, bool]:
    """Open the run for ``business_key``; returns (run, True) or (existing run, False)."""
    run_id = run_id_for(kind, business_key)
    now = clock.now_iso()
    run = Run(
        run_id=run_id,
        kind=kind,
        business_key=business_key,
        status="running",
        subject=dict(subject),
        started_at=now,
        updated_at=now,
    )
    order = f"{now}#{run_id}"
    item = {
        "pk": _pk(run_id),
        "sk": "RUN",
        "gsi1pk": "RUNS",
        "gsi1sk": order,
        "gsi2pk": f"RUNKIND#{kind}",
        "gsi2sk": order,
        **run.model_dump(mode="json"),
    }
    if _table.put_new(item):
        return run, True
    existing = get(run_id)
    assert existing is not None
    return existing, False


def get(run_id: str) -> Run | None:
    item = _table.get(_pk(run_id), "RUN")
    return _to_run(item) if item else None


def require(run_id: str) -> Run:
    run = get(run_id)
    if run is None:
        raise LookupError(f"run {run_id} does not exist")
    return run


def update(
    run_id: str,
    *,
    status: str | None = None,
    counts: Mapping[str, int] | None = None,
    errors: list[dict[str, Any]] | None = None,
    error_count: int | None = None,
    message: str | None = None,
    execution_arn: str | None = None,
    subject: Mapping[str, Any] | None = None,
    only_if_not_final: bool = False,
) -> bool:
    """Update a run; with ``only_if_not_final`` it refuses to touch a finished run."""
    now = clock.now_iso()
    values: dict[str, Any] = {"updated_at": now}
    if status is not None:
        values["status"] = status
        if status in ("succeeded", "quarantined", "failed"):
            values["ended_at"] = now
    if counts is not None:
        values["counts"] = dict(counts)
    if errors is not None:
        values["errors"] = errors[:MAX_ERRORS_KEPT]
        values["error_count"] = len(errors) if error_count is None else error_count
    if message is not None:
        values["message"] = message
    if execution_arn is not None:
        values["execution_arn"] = execution_arn
    if subject is not None:
        values["subject"] = dict(subject)
    condition = "attribute_exists(pk)"
    if only_if_not_final:
        condition += " AND #status = :running"
    return _table.update(
        _pk(run_id),
        "RUN",
        set_values=values,
        condition=condition,
        condition_values={":running": "running"} if only_if_not_final else None,
    )


def restart(run_id: str) -> bool:
    """Count one more attempt of an unfinished run (the sweep re-drives stuck runs)."""
    return _table.update(
        _pk(run_id),
        "RUN",
        set_values={"updated_at": clock.now_iso()},
        add_values={"attempts": 1},
        condition="#status = :running",
        condition_values={":running": "running"},
    )


def mark_redriven(run: Run, by: str) -> bool:
    """A failed run goes back to ``running`` for its re-drive (one more attempt), only if it
    is still failed: of two retries at once, one wins."""
    return _table.update(
        _pk(run.run_id),
        "RUN",
        set_values={
            "status": "running",
            "ended_at": None,
            "updated_at": clock.now_iso(),
            "message": f"re-driven by {by} at {clock.now_iso()} (attempt {run.attempts + 1}); "
            f"it had failed: {run.message or 'no message'}",
        },
        add_values={"attempts": 1},
        condition="#status = :failed AND #attempts = :attempts",
        condition_values={":failed": "failed", ":attempts": run.attempts},
    )


def undo_redrive(run: Run, reason: str) -> bool:
    """Step Functions refused the re-drive: the run is failed again, as it was."""
    return _table.update(
        _pk(run.run_id),
        "RUN",
        set_values={
            "status": "failed",
            "ended_at": run.ended_at,
            "updated_at": clock.now_iso(),
            "message": f"{run.message or ''} (re-drive refused: {reason})".strip(),
            "attempts": run.attempts,
        },
        condition="#status = :running AND #attempts = :attempts",
        condition_values={":running": "running", ":attempts": run.attempts + 1},
    )


def list_runs(kind: str | None = None, limit: int = 50) -> Iterator[Run]:
    if kind:
        items = _table.query(f"RUNKIND#{kind}", index="gsi2", newest_first=True, limit=limit)
    else:
        items = _table.query("RUNS", index="gsi1", newest_first=True, limit=limit)
    for item in items:
        yield _to_run(item)


def claim_fingerprint(file_kind: str, sha256: str, run_id: str) -> str:
    """Record that ``run_id`` owns this content; returns the owning run (maybe another)."""
    pk = f"CONTENT#{file_kind}#{sha256}"
    if _table.put_new({"pk": pk, "sk": "CONTENT", "run_id": run_id, "at": clock.now_iso()}):
        return run_id
    existing = _table.get(pk, "CONTENT")
    assert existing is not None
    return str(existing["run_id"])


def release_fingerprint(file_kind: str, sha256: str, run_id: str) -> None:
    """A quarantined file gives its content back, so a corrected resend is not refused."""
    client = _table.client
    with contextlib.suppress(client.exceptions.ConditionalCheckFailedException):
        client.delete_item(
            TableName=_table.name,
            Key={"pk": {"S": f"CONTENT#{file_kind}#{sha256}"}, "sk": {"S": "CONTENT"}},
            ConditionExpression="run_id = :run",
            ExpressionAttributeValues={":run": {"S": run_id}},
        )


def _to_run(item: Mapping[str, Any]) -> Run:
    fields = {k: v for k, v in item.items() if k in Run.model_fields}
    return Run.model_validate(_whole_numbers(fields))


def _whole_numbers(value: Any) -> Any:
    """The ledger holds counts and line numbers only: DynamoDB's Decimals back to int."""
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, dict):
        return {k: _whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_numbers(v) for v in value]
    return value


def record_step_failure(
    state: Mapping[str, Any], step: str, error: BaseException, **where: Any
) -> None:
    """A state machine's step failed: its run (``state["run_id"]``) says which step, where
    (``where``: the device, the batch …) and what error."""
    run_id = str(state.get("run_id") or "")
    if run_id:
        update(
            run_id,
            status="failed",
            errors=[{"step": step, **where, "error": type(error).__name__, "message": str(error)}],
            message=f"{step} failed: {error}",
        )
