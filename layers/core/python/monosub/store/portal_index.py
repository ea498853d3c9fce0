"""The portal's issued-invoices index (gsi3 ``ISSUED#<account>``) for invoices stored before
it existed: a backfill ops run once (``monosub maintenance backfill-portal-index``).

Finalization sets gsi3 on every invoice it issues (``store.billing.finalize``); an invoice
finalized, paid or voided before that has none, so the portal does not list it. The
backfill pages the billing table with a Scan whose filter keeps only such invoices (issued,
without gsi3: a draft never matches) and sets **the same attributes finalization sets**,
from the same function (``store.billing.issued_keys``).

- **Idempotent**: each write is an UpdateItem conditional on the invoice still having no
  gsi3 and not being a draft, so a rerun writes nothing and a race with a finalization or a
  payment loses nothing. (BatchWriteItem would be fewer calls but takes no condition and
  rewrites whole items: a payment recorded between the read and the write would be lost.)
- **Resumable**: every page reports the Scan's last key; ``start`` continues from it. Run
  from the start again, it only re-reads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from monosub.names import BILLING
from monosub.store import billing
from monosub.store.dynamo import Table, from_item, to_item

_table = Table(BILLING)
ISSUED_STATUSES = ("finalized", "paid", "void")
PAGE_SIZE = 1000  # items read per Scan call (1 MB at most, whichever comes first)

Progress = Callable[[Mapping[str, int], dict[str, str] | None], None]


def backfill_issued_index(
    *,
    dry_run: bool = False,
    start: Mapping[str, str] | None = None,
    page_size: int = PAGE_SIZE,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Set gsi3 on every issued invoice without it. Returns the counts (``scanned`` items
    read, ``missing`` invoices found without gsi3, ``written``, ``skipped``: changed
    meanwhile) and ``pages``; ``progress(counts, last_key)`` after each page. ``dry_run``:
    count only."""
    request: dict[str, Any] = {
        "TableName": _table.name,
        "FilterExpression": "sk = :sk AND attribute_not_exists(gsi3pk) AND #status IN "
        + "("
        + ", ".join(f":s{i}" for i in range(len(ISSUED_STATUSES)))
        + ")",
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": {
            ":sk": {"S": "INVOICE"},
            **{f":s{i}": {"S": status} for i, status in enumerate(ISSUED_STATUSES)},
        },
        "Limit": page_size,
    }
    if start:
        request["ExclusiveStartKey"] = to_item(start)
    counts = {"pages": 0, "scanned": 0, "missing": 0, "written": 0, "skipped": 0}
    while True:
        response = _table.client.scan(**request)
        counts["pages"] += 1
        counts["scanned"] += int(response.get("ScannedCount", 0))
        for raw in response.get("Items", []):
            counts["missing"] += 1
            if dry_run:
                continue
            item = from_item(raw)
            if _set_issued_keys(item):
                counts["written"] += 1
            else:
                counts["skipped"] += 1
        last = response.get("LastEvaluatedKey")
        last_key = {k: str(v) for k, v in from_item(last).items()} if last else None
        if progress is not None:
            progress(dict(counts), last_key)
        if not last:
            return counts
        request["ExclusiveStartKey"] = last


def _set_issued_keys(item: Mapping[str, Any]) -> bool:
    invoice = billing.invoice_of_item(item)
    return _table.update(
        str(item["pk"]),
        "INVOICE",
        set_values=billing.issued_keys(invoice),
        condition="attribute_not_exists(gsi3pk) AND #status <> :draft",
        condition_values={":draft": "draft"},
    )
