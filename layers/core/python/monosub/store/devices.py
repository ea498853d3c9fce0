"""Rental device stock in table ``records``: the only code that knows its keys.

=============== ======================================= ===============================
item            pk / sk                                 gsi1pk / gsi1sk
=============== ======================================= ===============================
stock item      DEVICE#<serial> / STOCK                 STOCK#<state> / <model>#<serial>
move            DEVICE#<serial> / MOVE#<at>#<version>
=============== ======================================= ===============================

The stock item shares its partition with the serial registry of ``store.shipments``
(``DEVICE#<serial>`` / ``DEVICE``, the device as shipped), so one device's whole story is
one partition. ``<version>`` is the stock item's version after the move, zero-padded: two
moves recorded in one transaction (in stock → reserved → rented, at the same instant) stay
distinct and in order.

The listing partition is the **state**, the model leads the sort key: "in stock, CAM-ONE-RENT"
is one Query (``begins_with <model>#``), "everything in repair" one Query too, and a model
across states one Query per state (six). A partition per state and model would need a
Query per model to list a state. Every move rewrites the stock item with the condition
``version = <read>`` and puts its move items (only if new) in the same transaction.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from monosub.domain.devices import STATES, DeviceState
from monosub.models.devices import MoveRecord, StockItem
from monosub.names import RECORDS
from monosub.store import cursor
from monosub.store.dynamo import Table, TransactionConflict, from_item, to_value, transact

_table = Table(RECORDS)
SERIALS_PER_TRANSACTION = 50  # stock item + entry move each: the 100-item cap
_STATE_NAMES = "|".join(STATES)
_CURSOR = re.compile(
    rf"({_STATE_NAMES})\|[A-Z0-9][A-Z0-9._-]{{0,47}}#[A-Z0-9][A-Z0-9-]{{2,62}}[A-Z0-9]"
)


def _pk(serial: str) -> str:
    return f"DEVICE#{serial}"


def _partition(state: str) -> str:
    return f"STOCK#{state}"


def _stock_item(item: StockItem) -> dict[str, Any]:
    return {
        "pk": _pk(item.serial),
        "sk": "STOCK",
        "gsi1pk": _partition(item.state),
        "gsi1sk": f"{item.model}#{item.serial}",
        **item.model_dump(mode="json"),
    }


def _move_item(move: MoveRecord) -> dict[str, Any]:
    return {
        "pk": _pk(move.serial),
        "sk": f"MOVE#{move.at}#{move.version:06d}",
        **move.model_dump(mode="json"),
    }


# ---- reading -------------------------------------------------------------------------------


def get(serial: str) -> StockItem | None:
    item = _table.get(_pk(serial), "STOCK")
    return StockItem.model_validate(item) if item else None


def get_many(serials: Sequence[str]) -> dict[str, StockItem]:
    """The stock items of these serials (those in stock), read consistently."""
    read = _table.batch_get([(_pk(s), "STOCK") for s in serials])
    return {str(item["serial"]): StockItem.model_validate(item) for item in read.values()}


def moves(serial: str) -> list[MoveRecord]:
    """Every move of the device, newest first."""
    return [
        MoveRecord.model_validate(item)
        for item in _table.query(_pk(serial), sk_prefix="MOVE#", newest_first=True)
    ]


def page(
    *, state: DeviceState | None, model: str | None, limit: int, after: str | None
) -> tuple[list[StockItem], str | None]:
    """One page of stock items in ``state`` (every state, in the order of ``STATES``, when
    None) of ``model`` (any when None), by model and serial, and the next page's token.
    A full page always carries a token: the next page may be empty."""
    states: list[str] = [state] if state else list(STATES)
    resume_state, position = None, None
    if after is not None:
        resume_state, position = cursor.decode(after, _CURSOR).split("|", 1)
        # a token of another state's list reads nothing
        states = states[states.index(resume_state) :] if resume_state in states else []
    found: list[dict[str, Any]] = []
    for current in states:
        request: dict[str, Any] = {
            "TableName": _table.name,
            "IndexName": "gsi1",
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": "gsi1pk"},
            "ExpressionAttributeValues": {":pk": to_value(_partition(current))},
        }
        if model:
            request["KeyConditionExpression"] += " AND begins_with(#sk, :model)"
            request["ExpressionAttributeNames"]["#sk"] = "gsi1sk"
            request["ExpressionAttributeValues"][":model"] = to_value(f"{model}#")
        if current == resume_state and position is not None:
            request["ExclusiveStartKey"] = {
                "pk": to_value(_pk(position.split("#", 1)[1])),
                "sk": to_value("STOCK"),
                "gsi1pk": to_value(_partition(current)),
                "gsi1sk": to_value(position),
            }
        more_here = False
        while len(found) < limit:
            request["Limit"] = limit - len(found)
            response = _table.client.query(**request)
            found += [from_item(item) for item in response.get("Items", [])]
            last = response.get("LastEvaluatedKey")
            more_here = bool(last)
            if not last:
                break
            request["ExclusiveStartKey"] = last
        if len(found) >= limit:
            items = [StockItem.model_validate(i) for i in found[:limit]]
            if not more_here and current == states[-1]:
                return items, None
            token = f"{current}|{found[limit - 1]['gsi1sk']}"
            return items, cursor.encode(token)
    return [StockItem.model_validate(i) for i in found], None


# ---- writing -------------------------------------------------------------------------------


def create(entries: Sequence[tuple[StockItem, MoveRecord]]) -> None:
    """New stock items with their entry moves, ``SERIALS_PER_TRANSACTION`` per transaction,
    each item only if its serial is not in stock (``TransactionConflict`` for a batch with
    a serial taken meanwhile; the batches before it stay written)."""
    for start in range(0, len(entries), SERIALS_PER_TRANSACTION):
        operations = []
        for item, move in entries[start : start + SERIALS_PER_TRANSACTION]:
            operations.append(_table.put_operation(_stock_item(item)))
            operations.append(_table.put_operation(_move_item(move)))
        transact(operations)


def move(item: StockItem, moves_made: Sequence[MoveRecord], *, expected_version: int) -> None:
    """Replace the stock item (the caller has counted its version up) if it is still at
    ``expected_version``, and record the moves that led there, in one transaction
    (``TransactionConflict`` when the device moved meanwhile)."""
    put = _table.put_operation(_stock_item(item), only_new=False)
    put["Put"]["ConditionExpression"] = "#version = :version"
    put["Put"]["ExpressionAttributeNames"] = {"#version": "version"}
    put["Put"]["ExpressionAttributeValues"] = {":version": to_value(expected_version)}
    transact([put, *(_table.put_operation(_move_item(m)) for m in moves_made)])


def mark_return_published(serial: str, *, version: int, at: str) -> bool:
    """The return's ``DeviceReturned`` is out (bookkeeping: the version stays); False when
    the device moved on meanwhile."""
    return _table.update(
        _pk(serial),
        "STOCK",
        set_values={"return_published_at": at},
        condition="#version = :version",
        condition_values={":version": version},
    )


__all__ = ["TransactionConflict"]
