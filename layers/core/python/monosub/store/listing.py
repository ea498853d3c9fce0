"""Listing partitions of a table's ``gsi1``: read newest first, several at once, in pages.

A listing partition holds small listing items whose ``gsi1sk`` is a position that never
changes and is unique across partitions (``<created_at>#<id>``). A caller's list may need
several partitions (one per segment it sees, one per agency it sees beyond those): each is
queried from the page's position (``gsi1sk < :before``), newest first, and the answers are
merged by position and deduplicated. A partition with a filter reads at most
``FILTERED_REQUESTS`` requests of ``FILTERED_READ`` items for one page; the page then holds
only what lies above the lowest position every partition has read to, and carries a
``next`` position to go on from (a short page may still have a next one).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from monosub.store.dynamo import Table, from_item, to_value

FILTERED_READ = 100
FILTERED_REQUESTS = 5


@dataclass(frozen=True)
class Source:
    """One listing partition (``gsi1pk``), with equality filters DynamoDB applies to it."""

    partition: str
    filters: Mapping[str, str] = field(default_factory=dict)


def newest_first(
    table: Table,
    sources: Sequence[Source],
    *,
    limit: int,
    before: str | None,
    identity: str,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page (at most ``limit``) of the items of ``sources`` below position ``before``,
    newest first, each record once (by its ``identity`` attribute), and the position to
    pass as ``before`` for the next page (None: there is none)."""
    read = [_read(table, source, want=limit + 1, before=before) for source in sources]
    floors = [floor for _, floor in read if floor is not None]
    bound = max(floors) if floors else None
    merged: dict[str, dict[str, Any]] = {}
    for items, _ in read:
        for item in items:
            if bound is None or str(item["gsi1sk"]) >= bound:
                merged.setdefault(str(item[identity]), item)
    ordered = sorted(merged.values(), key=lambda item: str(item["gsi1sk"]), reverse=True)
    page = ordered[:limit]
    if len(ordered) > limit:
        return page, str(page[-1]["gsi1sk"])
    return page, bound  # everything above the bound was read: go on from there


def between(
    table: Table, partition: str, low: str, high: str, *, count_only: bool = False
) -> Iterator[dict[str, Any]]:
    """Every item of a listing partition with ``low <= gsi1sk <= high``, oldest first.
    Positions are ``<instant>#<id>``, so ``high`` = the next period's first instant ends a
    period before it. With ``count_only``, yields ``{"count": n}`` per request instead."""
    request: dict[str, Any] = {
        "TableName": table.name,
        "IndexName": "gsi1",
        "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :low AND :high",
        "ExpressionAttributeNames": {"#pk": "gsi1pk", "#sk": "gsi1sk"},
        "ExpressionAttributeValues": {
            ":pk": to_value(partition),
            ":low": to_value(low),
            ":high": to_value(high),
        },
    }
    if count_only:
        request["Select"] = "COUNT"
    while True:
        response = table.client.query(**request)
        if count_only:
            yield {"count": int(response.get("Count", 0))}
        else:
            yield from (from_item(item) for item in response.get("Items", []))
        last = response.get("LastEvaluatedKey")
        if not last:
            return
        request["ExclusiveStartKey"] = last


def _read(
    table: Table, source: Source, *, want: int, before: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """Up to ``want`` items of one partition below ``before``, and the lowest position read
    when the partition may hold more below it (None when it was read to its end)."""
    request: dict[str, Any] = {
        "TableName": table.name,
        "IndexName": "gsi1",
        "KeyConditionExpression": "#pk = :pk",
        "ExpressionAttributeNames": {"#pk": "gsi1pk"},
        "ExpressionAttributeValues": {":pk": to_value(source.partition)},
        "ScanIndexForward": False,
        "Limit": FILTERED_READ if source.filters else want,
    }
    if before is not None:
        request["KeyConditionExpression"] += " AND #sk < :before"
        request["ExpressionAttributeNames"]["#sk"] = "gsi1sk"
        request["ExpressionAttributeValues"][":before"] = to_value(before)
    if source.filters:
        conditions = []
        for i, (name, value) in enumerate(sorted(source.filters.items())):
            request["ExpressionAttributeNames"][f"#f{i}"] = name
            request["ExpressionAttributeValues"][f":f{i}"] = to_value(value)
            conditions.append(f"#f{i} = :f{i}")
        request["FilterExpression"] = " AND ".join(conditions)
    items: list[dict[str, Any]] = []
    for _ in range(FILTERED_REQUESTS if source.filters else 1):
        response = table.client.query(**request)
        items += [from_item(item) for item in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        if last is None:
            return items, None
        if len(items) >= want:
            break
        request["ExclusiveStartKey"] = last
    return items, str(from_item(last)["gsi1sk"])
