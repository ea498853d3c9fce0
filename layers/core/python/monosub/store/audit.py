"""The audit trail (table ``audit``): every domain event, filed under each subject it names.

pk ``SUBJECT#<kind>#<id>`` (e.g. ``SUBJECT#lead#lead_x``), sk ``<occurred_at>#<event id>``.
Written with the event id in the key, so a redelivered event is stored once.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from monosub.names import AUDIT
from monosub.store.dynamo import Table

_table = Table(AUDIT)
SUBJECT_FIELDS = (
    "lead_id",
    "account_id",
    "contact_id",
    "deal_id",
    "run_id",
    "invoice_id",
    "payment_id",
    "exception_id",
    "document_id",
)


def record(event: Mapping[str, Any]) -> int:
    """File one EventBridge event under each subject it names; returns how many were new."""
    detail = event.get("detail") or {}
    occurred = str(detail.get("occurred_at") or event.get("time"))
    subjects = [(f[:-3], str(detail[f])) for f in SUBJECT_FIELDS if detail.get(f)]
    if not subjects:
        subjects = [("source", str(event.get("source")))]
    written = 0
    for kind, identifier in subjects:
        written += _table.put_new(
            {
                "pk": f"SUBJECT#{kind}#{identifier}",
                "sk": f"{occurred}#{event.get('id')}",
                "event_id": event.get("id"),
                "source": event.get("source"),
                "type": event.get("detail-type"),
                "occurred_at": occurred,
                "detail": dict(detail),
            }
        )
    return written


def trail(kind: str, identifier: str) -> Iterator[dict[str, Any]]:
    yield from _table.query(f"SUBJECT#{kind}#{identifier}")
