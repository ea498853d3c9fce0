"""The account-invoices index (gsi4 ``INVOICES#<account>``, with what a list shows) for
invoices stored before it existed: a backfill ops run once per stage
(``monosub maintenance backfill-portal-index``; docs/operations.md "Replacing an index").

Every invoice is written with gsi4 (``store.billing.account_invoice_keys``); one stored
before has none, so neither the staff list nor the customer portal finds it. The backfill
pages the billing table with a Scan whose filter keeps only such invoices (drafts too) and
sets **the same attributes a write sets**, from the same function, and takes off the keys of
the indexes gsi4 replaced (``RETIRED_INVOICE_KEYS``: gsi1 by account, gsi3 issued).

- **Idempotent**: each write is an UpdateItem conditional on the invoice still having no
  gsi4, so a rerun writes nothing and a race with a payment or a void loses nothing.
  (BatchWriteItem would be fewer calls but takes no condition and rewrites whole items: a
  payment recorded between the read and the write would be lost.)
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
PAGE_SIZE = 1000  # items read per Scan call (1 MB at most, whichever comes first)

Progress = Callable[[Mapping[str, int], dict[str, str] | None], None]


def backfill_account_index(
    *,
    dry_run: bool = False,
    start: Mapping[str, str] | None = None,
    page_size: int = PAGE_SIZE,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Set gsi4 on every invoice without it. Returns the counts (``scanned`` items read,
    ``missing`` invoices found without gsi4, ``written``, ``skipped``: changed meanwhile)
    and ``pages``; ``progress(counts, last_key)`` after each page. ``dry_run``: count
    only."""
    request: dict[str, Any] = {
        "TableName": _table.name,
        "FilterExpression": "sk = :sk AND attribute_not_exists(gsi4pk)",
        "ExpressionAttributeValues": {":sk": {"S": "INVOICE"}},
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
            if _set_account_keys(item):
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


def _set_account_keys(item: Mapping[str, Any]) -> bool:
    invoice = billing.invoice_of_item(item)
    return _table.update(
        str(item["pk"]),
        "INVOICE",
        set_values=billing.account_invoice_keys(invoice),
        remove=billing.RETIRED_INVOICE_KEYS,
        condition="attribute_not_exists(gsi4pk)",
    )
