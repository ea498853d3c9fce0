"""Rental stock rules beyond the state table (``monosub.domain.devices``): what a move does to
the stock item, which moves take a shipped device to ``rented``, whether the warehouse's
report may name a serial for a rental model, and which return dates are possible.

Pure: models and plain values in, models, row errors or a domain error out; the instant and
the business date come from the caller. Nothing here touches AWS.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from monosub.domain.devices import DeviceMove, DeviceState, plan_move
from monosub.errors import Conflict, ValidationFailed
from monosub.formats.warehouse import ShippedDevice
from monosub.intake.kinds import RowError
from monosub.models.devices import Condition, MoveRecord, StockItem
from monosub.models.fulfilment import Shipment

# A device holds the shipment (and contract) that took it while in these states: reserved
# (the shipment), rented (both), returned (what it came back from, for the return's retry).
_HOLDS_ORDER: frozenset[DeviceState] = frozenset({"reserved", "rented", "returned"})


def record_of(move: DeviceMove, version: int, **extra: Any) -> MoveRecord:
    """The move as stored: ``version`` is the stock item's version after it."""
    return MoveRecord(
        serial=move.serial,
        from_state=move.from_state,
        to_state=move.to_state,
        at=move.at,
        by=move.by,
        reason=move.reason,
        shipment_id=move.shipment_id,
        contract_id=move.contract_id,
        version=version,
        **extra,
    )


def entered(
    serial: str, model: str, *, at: str, by: str, reason: str | None = None
) -> tuple[StockItem, MoveRecord]:
    """A device entering the stock (``in_stock``, version 1) and its move from nowhere."""
    move = plan_move(serial, None, "in_stock", at=at, by=by, reason=reason)
    item = StockItem(
        serial=serial,
        model=model,
        state="in_stock",
        since=at,
        version=1,
        created_at=at,
        updated_at=at,
        updated_by=by,
    )
    return item, record_of(move, 1)


def after(
    item: StockItem,
    move: DeviceMove,
    *,
    returned_on: date | None = None,
    condition: Condition | None = None,
) -> StockItem:
    """The stock item once ``move`` (from its state) is made: one version on, in the new
    state since the move's instant, holding the shipment and contract the move names (a
    reservation its shipment, a rental both) or, once returned, those it came back from;
    other states hold none."""
    if move.from_state != item.state:
        raise ValueError(f"the move starts from {move.from_state}, the device is {item.state}")
    holds = move.to_state in _HOLDS_ORDER
    return item.model_copy(
        update={
            "state": move.to_state,
            "since": move.at,
            "shipment_id": (move.shipment_id or item.shipment_id) if holds else None,
            "contract_id": (move.contract_id or item.contract_id) if holds else None,
            "returned_on": returned_on if move.to_state == "returned" else None,
            "condition": condition if move.to_state == "returned" else None,
            "return_published_at": None,
            "version": item.version + 1,
            "updated_at": move.at,
            "updated_by": move.by,
        }
    )


def moves_to_rented(
    item: StockItem, *, shipment_id: str, contract_id: str, at: str, by: str, reason: str
) -> list[DeviceMove]:
    """The moves that take a shipped device to ``rented`` for ``contract_id``: in stock
    goes through ``reserved`` (the table has no shortcut), a device reserved for this
    shipment is rented; one already rented for this contract needs none (a retry). Anything
    else is ``Conflict``: the warehouse shipped a device the stock does not hold ready."""
    if item.state == "rented" and item.contract_id == contract_id:
        return []
    if item.state == "reserved" and item.shipment_id not in (None, shipment_id):
        raise Conflict(
            f"device {item.serial} is reserved for shipment {item.shipment_id}, not {shipment_id}",
            details={"serial": item.serial, "state": item.state, "to": "rented"},
        )
    path: list[DeviceState] = ["reserved", "rented"] if item.state == "in_stock" else ["rented"]
    moves, current = [], item.state
    for target in path:
        move = plan_move(
            item.serial,
            current,
            target,
            at=at,
            by=by,
            reason=reason,
            shipment_id=shipment_id,
            contract_id=contract_id if target == "rented" else None,
        )
        moves.append(move)
        current = target
    return moves


def rental_models(shipment: Shipment) -> set[str]:
    return {item.device_sku for item in shipment.items if item.acquisition == "rental"}


def ready_to_ship(item: StockItem, shipment_id: str) -> bool:
    """The stock holds the device ready for this shipment: in stock, or reserved for it. A
    device that shipped before and is ready again came back and was restocked."""
    return item.state == "in_stock" or (
        item.state == "reserved" and item.shipment_id == shipment_id
    )


def check_shipped_rentals(
    rows: Sequence[ShippedDevice],
    shipments: Mapping[str, Shipment | None],
    stock: Mapping[str, StockItem],
) -> list[RowError]:
    """A row of the warehouse's report whose model is a rental device of its shipment must
    name a serial of that model in the stock, ``in_stock`` or ``reserved`` for that
    shipment. Sale devices, and rows whose shipment or model is wrong already (reported by
    ``domain.fulfilment.check_shipped``), are not looked at here."""
    errors = []
    for row in rows:
        shipment = shipments.get(row.shipment_id)
        if shipment is None or row.model not in rental_models(shipment):
            continue
        item = stock.get(row.serial)
        if item is None:
            why = "not in the rental stock (state: none): stock it in first"
        elif item.model != row.model:
            why = f"a {item.model} in the rental stock, not a {row.model}"
        elif ready_to_ship(item, row.shipment_id):
            continue
        elif item.state == "reserved":
            why = f"not in the rental stock (state: reserved for shipment {item.shipment_id})"
        else:
            why = f"not in the rental stock (state: {item.state})"
        errors.append(
            RowError(
                line=row.line,
                field="serial",
                message=f"serial {row.serial} is {why}",
                value=row.serial,
            )
        )
    return errors


def check_return_date(returned_on: date, *, shipped_on: date | None, today: date) -> None:
    """A device comes back on or after the day it shipped, and not later than today."""
    problems = []
    if shipped_on is not None and returned_on < shipped_on:
        problems.append(
            {"field": "returned_on", "message": f"on or after the ship date {shipped_on}"}
        )
    if returned_on > today:
        problems.append({"field": "returned_on", "message": "today or earlier"})
    if problems:
        raise ValidationFailed("the return date is not possible", details=problems)
