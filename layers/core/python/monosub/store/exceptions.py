"""Keys of the exceptions table: ``EXCEPTION#<id>`` / ``EXCEPTION``, gsi1
``EXCEPTIONS#<status>`` / ``<kind>#<created_at>#<id>`` (the open queue by kind, oldest first).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from monosub.models.exceptions import ExceptionRecord
from monosub.names import EXCEPTIONS
from monosub.store.dynamo import Table

_table = Table(EXCEPTIONS)


def _index(record: ExceptionRecord) -> dict[str, str]:
    return {
        "gsi1pk": f"EXCEPTIONS#{record.status}",
        "gsi1sk": f"{record.kind}#{record.created_at}#{record.exception_id}",
    }


def put_new(record: ExceptionRecord) -> bool:
    """False when the exception was raised before (the same input again)."""
    return _table.put_new(
        {
            "pk": f"EXCEPTION#{record.exception_id}",
            "sk": "EXCEPTION",
            **_index(record),
            **record.model_dump(mode="json"),
        }
    )


def get(exception_id: str) -> ExceptionRecord | None:
    item = _table.get(f"EXCEPTION#{exception_id}", "EXCEPTION")
    return ExceptionRecord.model_validate(item) if item else None


def close(record: ExceptionRecord, values: Mapping[str, Any]) -> bool:
    """Resolve or reject at the version read (``values`` holds the new status)."""
    closed = record.model_copy(update=dict(values))
    return _table.update(
        f"EXCEPTION#{record.exception_id}",
        "EXCEPTION",
        set_values={**values, **_index(closed), "version": record.version + 1},
        condition="#version = :version AND #status = :open",
        condition_values={":version": record.version, ":open": "open"},
    )


def listed(status: str, *, kind: str | None = None, limit: int = 100) -> Iterator[ExceptionRecord]:
    for item in _table.query(
        f"EXCEPTIONS#{status}", index="gsi1", sk_prefix=f"{kind}#" if kind else None, limit=limit
    ):
        yield ExceptionRecord.model_validate(item)
