"""What the ERP sync keeps (docs/erp.md). In the ``records`` table (the records hold personal
data: names, addresses):

- outbox item:  pk ``ERPOUT#<type>#<id>``, sk ``V#<version, 12 digits>``: one per entity and
                version, the record as the ERP takes it; while ``pending`` it is in the sparse
                gsi1 ``ERPOUT#PENDING#<shard>`` / ``<created_at>#<type>#<id>#<version>``,
                which the sync reads (sharded: a day of a million sign-ups is not one hot
                index partition); sending removes it from the index
- watch item:   pk ``ERPWATCH#<shard>``, sk ``<invoice_id>``: an invoice whose ERP status is
                to be read, until both sides agree it is settled
- ERP status:   pk ``ERPINV#<invoice_id>``, sk ``STATUS``: what the ERP said last

In the ``runs`` table: the retried pushes of a run (pk ``RUN#<run_id>``, sk
``ERPRETRY#<batch>#<at>``) and the sync's watermark (pk ``ERPSYNC``, sk ``WATERMARK``).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from monosub import clock
from monosub.names import RECORDS, RUNS
from monosub.store.dynamo import Table

_records = Table(RECORDS)
_runs = Table(RUNS)
SHARDS = 8
PENDING = "pending"
SENT = "sent"
REJECTED = "rejected"


def shard_of(key: str) -> int:
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % SHARDS


def outbox_pk(entity_type: str, entity_id: str) -> str:
    return f"ERPOUT#{entity_type}#{entity_id}"


def outbox_sk(version: int) -> str:
    return f"V#{version:012d}"


def _pending_index(
    entity_type: str, entity_id: str, version: int, created_at: str
) -> dict[str, str]:
    return {
        "gsi1pk": f"ERPOUT#PENDING#{shard_of(f'{entity_type}#{entity_id}')}",
        "gsi1sk": f"{created_at}#{entity_type}#{entity_id}#{version:012d}",
    }


def latest_outbox(entity_type: str, entity_id: str) -> dict[str, Any] | None:
    for item in _records.query(
        outbox_pk(entity_type, entity_id), sk_prefix="V#", newest_first=True, limit=1
    ):
        return item
    return None


def put_outbox(
    entity_type: str,
    entity_id: str,
    version: int,
    record: Mapping[str, Any],
    fingerprint: str,
    *,
    cause: str,
) -> bool:
    """One outbox item per (entity, version), only if new: the same event twice, or two
    events that read the same version, make one item."""
    now = clock.now_iso()
    return _records.put_new(
        {
            "pk": outbox_pk(entity_type, entity_id),
            "sk": outbox_sk(version),
            **_pending_index(entity_type, entity_id, version, now),
            "entity_type": entity_type,
            "entity_id": entity_id,
            "version": version,
            "record": json.dumps(dict(record), ensure_ascii=False),
            "fingerprint": fingerprint,
            "status": PENDING,
            "cause": cause,
            "created_at": now,
        }
    )


def pending_keys(limit: int | None = None) -> list[tuple[str, str]]:
    """(pk, sk) of every pending outbox item, oldest first per shard."""
    keys: list[tuple[str, str]] = []
    for shard in range(SHARDS):
        for item in _records.query(f"ERPOUT#PENDING#{shard}", index="gsi1"):
            keys.append((str(item["pk"]), str(item["sk"])))
            if limit is not None and len(keys) >= limit:
                return keys
    return keys


def get_outbox(keys: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    read = _records.batch_get(keys)
    items = [read[key] for key in keys if key in read]
    for item in items:
        item["record"] = json.loads(str(item["record"]))
        item["version"] = int(item["version"])
    return items


def mark_sent(item: Mapping[str, Any], *, run_id: str, erp_status: str, erp_id: str) -> bool:
    """Sent, after the ERP answered: out of the pending index (a conditional write: once)."""
    return _records.update(
        str(item["pk"]),
        str(item["sk"]),
        set_values={
            "status": SENT,
            "sent_at": clock.now_iso(),
            "run_id": run_id,
            "erp_status": erp_status,
            "erp_id": erp_id,
        },
        remove=("gsi1pk", "gsi1sk"),
        condition="#status = :pending",
        condition_values={":pending": PENDING},
    )


def mark_rejected(item: Mapping[str, Any], *, run_id: str, exception_id: str, reason: str) -> bool:
    """The ERP refused the record's data: out of the pending index, in the exceptions
    queue (``exception_id``) until ops correct it."""
    return _records.update(
        str(item["pk"]),
        str(item["sk"]),
        set_values={
            "status": REJECTED,
            "rejected_at": clock.now_iso(),
            "run_id": run_id,
            "exception_id": exception_id,
            "reason": reason,
        },
        remove=("gsi1pk", "gsi1sk"),
        condition="#status = :pending",
        condition_values={":pending": PENDING},
    )


def back_to_pending(
    entity_type: str, entity_id: str, version: int, record: Mapping[str, Any]
) -> bool:
    """Ops corrected a rejected record: pending again, with the corrected record."""
    now = clock.now_iso()
    return _records.update(
        outbox_pk(entity_type, entity_id),
        outbox_sk(version),
        set_values={
            "status": PENDING,
            "record": json.dumps(dict(record), ensure_ascii=False),
            "corrected_at": now,
            **_pending_index(entity_type, entity_id, version, now),
        },
        condition="#status = :rejected",
        condition_values={":rejected": REJECTED},
    )


def outbox_items(entity_type: str, entity_id: str) -> list[dict[str, Any]]:
    """Every version of one entity in the outbox, oldest first (what ops look at)."""
    return get_outbox(
        [
            (str(i["pk"]), str(i["sk"]))
            for i in _records.query(outbox_pk(entity_type, entity_id), sk_prefix="V#")
        ]
    )


# ---- invoices watched ----------------------------------------------------------------------


def watch(invoice_ids: Sequence[str], *, cause: str) -> int:
    """Read these invoices' ERP status at the next syncs (an overwrite: watched once)."""
    now = clock.now_iso()
    items = [
        {"pk": f"ERPWATCH#{shard_of(i)}", "sk": i, "invoice_id": i, "cause": cause, "at": now}
        for i in dict.fromkeys(invoice_ids)
    ]
    _records.batch_put(items)
    return len(items)


def watched(shard: int) -> Iterator[str]:
    for item in _records.query(f"ERPWATCH#{shard}"):
        yield str(item["sk"])


def unwatch(invoice_id: str) -> None:
    _records.client.delete_item(
        TableName=_records.name,
        Key={"pk": {"S": f"ERPWATCH#{shard_of(invoice_id)}"}, "sk": {"S": invoice_id}},
    )


def put_erp_status(invoice_id: str, values: Mapping[str, Any]) -> None:
    _records.put({"pk": f"ERPINV#{invoice_id}", "sk": "STATUS", **values})


def erp_status(invoice_id: str) -> dict[str, Any] | None:
    return _records.get(f"ERPINV#{invoice_id}", "STATUS")


# ---- the run's retries and the watermark ---------------------------------------------------


def note_retry(run_id: str, batch: Any, error: BaseException) -> None:
    now = clock.now_iso()
    _runs.put(
        {
            "pk": f"RUN#{run_id}",
            # the business clock may stand still (tests, a stage's fixed clock): unique anyway
            "sk": f"ERPRETRY#{int(batch or 0):05d}#{now}#{uuid.uuid4().hex[:8]}",
            "batch": int(batch or 0),
            "error": type(error).__name__,
            "message": str(error)[:500],
            "at": now,
        }
    )


def retries(run_id: str) -> list[dict[str, Any]]:
    return [
        {k: (int(v) if k == "batch" else v) for k, v in item.items() if k not in ("pk", "sk")}
        for item in _runs.query(f"RUN#{run_id}", sk_prefix="ERPRETRY#")
    ]


def watermark() -> str | None:
    item = _runs.get("ERPSYNC", "WATERMARK")
    return str(item["pulled_until"]) if item else None


def set_watermark(pulled_until: str, run_id: str) -> None:
    _runs.update(
        "ERPSYNC",
        "WATERMARK",
        set_values={"pulled_until": pulled_until, "run_id": run_id, "at": clock.now_iso()},
        condition="attribute_not_exists(pk) OR pulled_until < :until",
        condition_values={":until": pulled_until},
    )
