"""File intake: one dropped object, from notification to archive or quarantine.

The steps are called by the file-intake state machine's tasks; ``start`` is called by the S3
notification handler and by the hourly sweep. The run ledger (``monosub.store.runs``) is the
memory: a drop's run is keyed by bucket, key and ETag, so the same object dropped twice is
processed once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import unquote_plus

from monosub import aws, clock, config, executions
from monosub.events import EventPublisher, default_publisher
from monosub.intake.kinds import ApplyContext, FileRejected, Parsed, processor_for
from monosub.models.runs import Run
from monosub.names import EXCHANGE
from monosub.observability import count, logger
from monosub.store import runs

RUN_KIND = "file-intake"
INBOX = "inbox/"
STUCK_AFTER = timedelta(minutes=15)
MAX_FILE_BYTES = 50 * 1024 * 1024  # read whole into a 1 GB function; larger files are split


@dataclass(frozen=True)
class Drop:
    bucket: str
    key: str
    etag: str
    size: int

    @property
    def business_key(self) -> str:
        return f"drop#{self.bucket}/{self.key}#{self.etag}"

    @property
    def kind(self) -> str | None:
        parts = self.key.split("/")
        return parts[1] if len(parts) >= 3 and parts[0] == "inbox" and parts[1] else None

    @property
    def file_name(self) -> str:
        return self.key.rsplit("/", 1)[-1]

    def subject(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "key": self.key,
            "etag": self.etag,
            "size": self.size,
            "file_kind": self.kind,
        }


def drop_from_s3_record(record: dict[str, Any]) -> Drop:
    s3 = record["s3"]
    return Drop(
        bucket=s3["bucket"]["name"],
        key=unquote_plus(s3["object"]["key"]),
        etag=s3["object"].get("eTag", "").strip('"'),
        size=int(s3["object"].get("size", 0)),
    )


# ---- start -------------------------------------------------------------------------------


def start(drop: Drop) -> dict[str, Any]:
    """Open the drop's run and start its execution, or recognise a drop seen before."""
    run, created = runs.open_run(RUN_KIND, drop.business_key, drop.subject())
    if created:
        _start_execution(run, drop, attempt=1)
        count("FilesDropped")
        return {"run_id": run.run_id, "action": "started"}
    if run.status == "failed":
        # Its file stays in inbox/ until the run is re-driven: never remove it.
        logger.info("drop of a failed run", extra={"run_id": run.run_id})
        return {"run_id": run.run_id, "action": "awaiting_redrive", "status": run.status}
    if run.final:
        _remove_from_inbox(drop)
        runs.update(
            run.run_id,
            message=f"{run.message or ''} (the same file was dropped again "
            f"at {clock.now_iso()}; ignored)".strip(),
        )
        logger.info("drop seen before", extra={"run_id": run.run_id, "status": run.status})
        return {"run_id": run.run_id, "action": "already_processed", "status": run.status}
    return {"run_id": run.run_id, "action": "already_running"}


def _start_execution(run: Run, drop: Drop, attempt: int) -> None:
    executions.start(run, drop.subject(), attempt=attempt)


def sweep(business_key: str) -> dict[str, int]:
    """Everything under inbox/ is unfinished work: start what has no run, restart what is
    stuck, and remove re-drops of files already finished."""
    totals = {
        "inbox_files": 0,
        "started": 0,
        "restarted": 0,
        "removed_duplicates": 0,
        "awaiting_redrive": 0,
    }
    sweep_run, created = runs.open_run("intake-sweep", business_key, {})
    if not created and sweep_run.final:
        return dict(sweep_run.counts)
    s3 = aws.client("s3")
    bucket = config.bucket_name(EXCHANGE)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=INBOX):
        for item in page.get("Contents", []):
            if item["Key"].endswith("/"):
                continue
            totals["inbox_files"] += 1
            drop = Drop(bucket, item["Key"], item["ETag"].strip('"'), int(item["Size"]))
            run = runs.get(runs.run_id_for(RUN_KIND, drop.business_key))
            if run is None:
                start(drop)
                totals["started"] += 1
            elif run.status == "failed":
                totals["awaiting_redrive"] += 1  # left for ops: fix, then re-drive
            elif run.final:
                start(drop)
                totals["removed_duplicates"] += 1
            elif _is_stuck(run) and runs.restart(run.run_id):
                _start_execution(run, drop, attempt=run.attempts + 1)
                totals["restarted"] += 1
    message = f"{totals['inbox_files']} file(s) waiting in inbox/"
    if totals["awaiting_redrive"]:
        message += f", {totals['awaiting_redrive']} of them of failed runs awaiting a re-drive"
    runs.update(sweep_run.run_id, status="succeeded", counts=totals, message=message)
    return totals


def _is_stuck(run: Run) -> bool:
    if clock.now() - clock.parse_instant(run.updated_at) < STUCK_AFTER:
        return False
    if not run.execution_arn:
        return True
    status = aws.client("stepfunctions").describe_execution(executionArn=run.execution_arn)[
        "status"
    ]
    return bool(status != "RUNNING")


# ---- the state machine's steps -----------------------------------------------------------


def record_failure(state: dict[str, Any], step: str, error: BaseException) -> None:
    """A step raised: the run says ``failed`` with what failed, where, and what to do. The
    execution fails at that step (no Catch), so a re-drive continues there. If even the ledger
    cannot be written (a DynamoDB outage), the run stays ``running`` and the hourly sweep
    restarts it once it is stuck."""
    run_id = state.get("run_id")
    logger.exception("step failed", extra={"run_id": run_id, "step": step})
    if not run_id:
        return
    message = (
        f"{step} failed: {type(error).__name__}: {error}. The file stays in inbox/; fix the "
        f"cause, then re-drive (POST /runs/{run_id}/retry)"
    )
    try:
        runs.update(
            run_id,
            status="failed",
            message=message,
            errors=[
                {
                    "code": "step_failed",
                    "step": step,
                    "error_type": type(error).__name__,
                    "message": str(error),
                }
            ],
        )
    except Exception:
        logger.exception("could not record the failure in the run ledger", extra={"run_id": run_id})


def _drop_from_state(state: dict[str, Any]) -> Drop:
    return Drop(state["bucket"], state["key"], state["etag"], int(state.get("size", 0)))


def _read(drop: Drop) -> bytes | None:
    s3 = aws.client("s3")
    try:
        response = s3.get_object(Bucket=drop.bucket, Key=drop.key, IfMatch=f'"{drop.etag}"')
    except s3.exceptions.NoSuchKey:
        return None
    except s3.exceptions.ClientError as error:
        if error.response["Error"]["Code"] in ("PreconditionFailed", "412"):
            return None
        raise
    return bytes(response["Body"].read())


def _parse(kind: str | None, data: bytes) -> tuple[Parsed | None, FileRejected | None]:
    processor = processor_for(kind) if kind else None
    if processor is None:
        return None, FileRejected("unknown_kind", _unknown_kind_message(kind))
    try:
        return processor.parse(data), None
    except FileRejected as rejected:
        return None, rejected


def _unknown_kind_message(kind: str | None) -> str:
    from monosub.intake.kinds import known_kinds

    where = f"'{kind}'" if kind else "none (drop files under inbox/<kind>/)"
    return f"unknown file kind {where}; known kinds: {', '.join(known_kinds())}"


def inspect(state: dict[str, Any]) -> dict[str, Any]:
    """Fingerprint, check the kind, parse and validate every row. Writes only the ledger."""
    run = runs.require(state["run_id"])
    if run.final and run.status != "failed":  # a failed run is re-driven: inspect again
        return {"outcome": "already_done", "status": run.status}
    drop = _drop_from_state(state)
    if drop.size > MAX_FILE_BYTES:
        too_large = FileRejected(
            "too_large",
            f"the file is {drop.size:,} bytes; files up to {MAX_FILE_BYTES:,} bytes are "
            "accepted: split it and drop the parts",
        )
        return _rejected(run, drop.subject(), {"size": drop.size, "kind": drop.kind}, too_large)
    data = _read(drop)
    if data is None:
        runs.update(
            run.run_id,
            status="failed",
            message="the file was replaced or removed before it could be read",
        )
        return {"outcome": "superseded"}
    sha256 = hashlib.sha256(data).hexdigest()
    subject = {**drop.subject(), "size": len(data), "sha256": sha256}
    result: dict[str, Any] = {"sha256": sha256, "size": len(data), "kind": drop.kind}
    parsed, rejected = _parse(drop.kind, data)
    if rejected is None and drop.kind:
        owner = runs.claim_fingerprint(drop.kind, sha256, run.run_id)
        if owner != run.run_id:
            other = runs.get(owner)
            rejected = FileRejected(
                "duplicate_content",
                f"the same content was already dropped as "
                f"{other.subject.get('key') if other else '?'} (run {owner})",
            )
    if rejected is not None:
        return _rejected(run, subject, result, rejected)
    assert parsed is not None
    counts = {
        "rows": len(parsed.rows) + len({e.line for e in parsed.errors}),
        "rows_invalid": len({e.line for e in parsed.errors}),
    }
    if parsed.errors:
        message = f"{counts['rows_invalid']} of {counts['rows']} rows are invalid; nothing applied"
        runs.update(
            run.run_id,
            subject=subject,
            counts=counts,
            message=message,
            errors=[e.as_dict() for e in parsed.errors],
        )
        return {
            **result,
            **counts,
            "outcome": "rejected",
            "error_code": "invalid_rows",
            "message": message,
        }
    runs.update(
        run.run_id, subject=subject, counts=counts, message=f"{counts['rows']} rows valid; applying"
    )
    return {**result, **counts, "outcome": "valid"}


def _rejected(
    run: Run, subject: dict[str, Any], result: dict[str, Any], rejected: FileRejected
) -> dict[str, Any]:
    runs.update(
        run.run_id,
        subject=subject,
        message=rejected.message,
        errors=[{"code": rejected.code, "message": rejected.message}],
    )
    return {
        **result,
        "outcome": "rejected",
        "error_code": rejected.code,
        "message": rejected.message,
    }


def apply(state: dict[str, Any]) -> dict[str, int]:
    """Apply the validated batch through the kind's processor."""
    drop = _drop_from_state(state)
    run_id = state["run_id"]
    processor = processor_for(drop.kind or "")
    data = _read(drop)
    if processor is None or data is None:
        raise RuntimeError("the file or its kind vanished between inspection and apply")
    parsed = processor.parse(data)
    if parsed.errors:
        raise RuntimeError("the file no longer validates; it changed after inspection")
    base = dict(runs.require(run_id).counts)

    def progress(counts: dict[str, int]) -> None:
        runs.update(run_id, counts={**base, **counts})

    counts = processor.apply(parsed.rows, ApplyContext(run_id, drop.bucket, drop.key, progress))
    runs.update(run_id, counts={**base, **counts})
    return counts


def complete(
    state: dict[str, Any], publisher: EventPublisher = default_publisher
) -> dict[str, Any]:
    """Archive the file and close the run as succeeded."""
    drop = _drop_from_state(state)
    run = runs.require(state["run_id"])
    target = _dated_key("archive", drop, run.run_id)
    _move(drop, target)
    applied = state.get("applied") or {}
    summary = ", ".join(f"{k} {v}" for k, v in applied.items()) or "nothing to do"
    runs.update(
        run.run_id,
        status="succeeded",
        message=f"applied: {summary}",
        subject={**run.subject, "archived_as": target},
        errors=[],  # a step that failed and was retried or re-driven is no error of the run
    )
    count("FilesProcessed")
    publisher.publish(
        "monosub.intake",
        "FileProcessed",
        {
            "run_id": run.run_id,
            "key": drop.key,
            "kind": drop.kind,
            "counts": applied,
            "archived_as": target,
        },
    )
    return {"archived_as": target}


def quarantine(
    state: dict[str, Any], publisher: EventPublisher = default_publisher
) -> dict[str, Any]:
    """Move the file to quarantine/ with ``<name>.error.json`` beside it."""
    drop = _drop_from_state(state)
    run = runs.require(state["run_id"])
    inspection = state.get("inspection") or {}
    error = {
        "code": inspection.get("error_code", "rejected"),
        "message": inspection.get("message", "rejected"),
    }
    row_errors: list[dict[str, Any]] = []
    if error["code"] == "invalid_rows":
        data = _read(drop)
        parsed, _ = _parse(drop.kind, data) if data is not None else (None, None)
        row_errors = [e.as_dict() for e in parsed.errors] if parsed else list(run.errors)
    target = _dated_key("quarantine", drop, run.run_id)
    report = {
        "run_id": run.run_id,
        "file": {**drop.subject(), "sha256": inspection.get("sha256")},
        "quarantined_at": clock.now_iso(),
        "error": error,
        "row_errors": row_errors,
        "what_to_do": "Correct the file and drop it again under inbox/<kind>/; "
        "nothing from this file was applied.",
    }
    _move(drop, target)
    aws.client("s3").put_object(
        Bucket=drop.bucket,
        Key=f"{target}.error.json",
        Body=json.dumps(report, ensure_ascii=False, indent=2).encode("utf-8"),
        ContentType="application/json",
    )
    if drop.kind and inspection.get("sha256"):
        runs.release_fingerprint(drop.kind, inspection["sha256"], run.run_id)
    runs.update(
        run.run_id,
        status="quarantined",
        message=error["message"],
        errors=row_errors or [error],
        error_count=len(row_errors) or 1,
        subject={**run.subject, "quarantined_as": target, "error_report": f"{target}.error.json"},
    )
    count("FilesQuarantined")
    publisher.publish(
        "monosub.intake",
        "FileQuarantined",
        {
            "run_id": run.run_id,
            "key": drop.key,
            "kind": drop.kind,
            "error": error,
            "quarantined_as": target,
        },
    )
    return {"quarantined_as": target, "report": f"{target}.error.json", "status": "quarantined"}


def _dated_key(area: str, drop: Drop, run_id: str) -> str:
    day = clock.today().isoformat()
    return f"{area}/{drop.kind or '_unknown'}/{day}/{run_id}/{drop.file_name}"


def _move(drop: Drop, target: str) -> None:
    s3 = aws.client("s3")
    try:
        s3.copy_object(
            Bucket=drop.bucket,
            Key=target,
            CopySource={"Bucket": drop.bucket, "Key": drop.key},
            CopySourceIfMatch=f'"{drop.etag}"',
        )
    except s3.exceptions.ClientError as error:
        if error.response["Error"]["Code"] not in ("NoSuchKey", "404", "PreconditionFailed"):
            raise
        return  # already moved (a retried step) or replaced by a newer drop
    _remove_from_inbox(drop)


def _remove_from_inbox(drop: Drop) -> None:
    s3 = aws.client("s3")
    head = None
    try:
        head = s3.head_object(Bucket=drop.bucket, Key=drop.key)
    except s3.exceptions.ClientError:
        return
    if head["ETag"].strip('"') == drop.etag:  # never delete a newer file under the same name
        s3.delete_object(Bucket=drop.bucket, Key=drop.key)
