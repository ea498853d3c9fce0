"""Rental device stock: devices entering the stock, listed and read, moved by ops, rented
by shipping, and returned (unbound on the device platform, ``DeviceReturned`` for billing).

Every move reads the stock item, lets ``monosub.domain.devices`` / ``domain.rentals``
decide, and writes the item on the version read together with its move items
(``monosub.store.devices``); events are published only after the write succeeded (source
``monosub.fulfilment``). ``docs/fulfilment.md`` (Rentals) has the story.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from monosub import clock, events
from monosub.adapters import device_platform
from monosub.auth import Principal
from monosub.domain import rentals as rules
from monosub.domain.devices import DeviceState, check_move, normalize_serial, plan_move
from monosub.errors import (
    Conflict,
    NotFound,
    Unavailable,
    UpstreamRefused,
    ValidationFailed,
)
from monosub.events import EventPublisher
from monosub.formats.warehouse import ShippedDevice
from monosub.intake.kinds import RowError
from monosub.models.devices import MoveRequest, ReturnRequest, StockIn, StockItem
from monosub.models.fulfilment import Shipment, ShipmentDevice
from monosub.observability import count, logger
from monosub.services import replacements
from monosub.store import catalog as catalog_store
from monosub.store import devices as store
from monosub.store import shipments as shipments_store
from monosub.store.dynamo import TransactionConflict

SOURCE = "monosub.fulfilment"
WAREHOUSE = "warehouse"  # who moves a device to rented: the warehouse's report of shipping
_ATTEMPTS = 4
# Reserved by hand only for a shipment the warehouse has not shipped yet.
_RESERVABLE = ("requested", "instructed")


# ---- reading -------------------------------------------------------------------------------


def serial_of(text: str) -> str:
    """A serial from a path or a body, as stored (``ValidationFailed`` when it is none)."""
    try:
        return normalize_serial(text)
    except ValueError as error:
        raise ValidationFailed(
            "not a serial number", details=[{"field": "serial", "message": str(error)}]
        ) from None


def get(serial: str) -> StockItem:
    item = store.get(serial_of(serial))
    if item is None:
        raise NotFound(f"device {serial} is not in the rental stock")
    return item


def device(serial: str) -> dict[str, Any]:
    """The stock item, its moves newest first, and the device as shipped (its shipment,
    contract line and kitting, from the serial registry) if it ever shipped."""
    item = get(serial)
    shipped = shipments_store.registered([item.serial]).get(item.serial)
    return {
        **item.model_dump(mode="json"),
        "moves": [m.model_dump(mode="json") for m in store.moves(item.serial)],
        "shipped": shipped.model_dump(mode="json") if shipped else None,
    }


def list_devices(
    *, state: DeviceState | None, model: str | None, limit: int, after: str | None
) -> tuple[list[StockItem], str | None]:
    return store.page(state=state, model=model, limit=limit, after=after)


# ---- entering the stock --------------------------------------------------------------------


def rental_model_problem(sku: str) -> str | None:
    """Why ``sku`` cannot name a rental device (None: it can): unknown, not a device, sold."""
    entry = catalog_store.product_entry(sku)
    if entry is None:
        return f"{sku} is not in the catalog"
    product = entry.product
    if product.kind != "device":
        return f"{sku} is a {product.kind}, not a device"
    if product.acquisition != "rental":
        return f"{sku} is a device for sale, not for rental"
    return None


def stock_in(request: StockIn, *, principal: Principal) -> dict[str, Any]:
    """``POST /devices``: the serials enter the stock ``in_stock``, all or none. A serial in
    stock as the same model already is reported ``existing`` (the same request again
    changes nothing); one in stock as another model refuses the request (409)."""
    problem = rental_model_problem(request.model)
    if problem:
        raise ValidationFailed(
            "only rental devices are stocked", details=[{"field": "model", "message": problem}]
        )
    created, existing = add_to_stock(
        [(serial, request.model) for serial in request.serials],
        by=principal.user,
        reason=request.reason,
    )
    return {"model": request.model, "created": created, "existing": existing}


def other_models(
    entries: Sequence[tuple[str, str]], stock: dict[str, StockItem]
) -> list[dict[str, str]]:
    """The entries whose serial is in stock as another model."""
    return [
        {"serial": serial, "model": model, "in_stock_as": stock[serial].model}
        for serial, model in entries
        if serial in stock and stock[serial].model != model
    ]


def add_to_stock(
    entries: Sequence[tuple[str, str]], *, by: str, reason: str | None = None
) -> tuple[list[str], list[str]]:
    """(serial, model) pairs into the stock: the serials created and those in stock already
    as the same model. Any serial in stock as another model refuses all of them before
    anything is written (``Conflict``). Written in transactions of
    ``store.SERIALS_PER_TRANSACTION``; a batch that loses a race is read again and only its
    missing serials written, so a retry completes the whole."""
    stock = store.get_many([serial for serial, _ in entries])
    clash = other_models(entries, stock)
    if clash:
        raise Conflict(
            f"{len(clash)} serial(s) are in stock as another model: nothing was stocked",
            details=clash,
        )
    fresh = [(serial, model) for serial, model in entries if serial not in stock]
    existing = [serial for serial, _ in entries if serial in stock]
    created: list[str] = []
    size = store.SERIALS_PER_TRANSACTION
    for start in range(0, len(fresh), size):
        batch = fresh[start : start + size]
        for _ in range(_ATTEMPTS):
            now = clock.now_iso()
            try:
                store.create([rules.entered(s, m, at=now, by=by, reason=reason) for s, m in batch])
            except TransactionConflict:
                again = store.get_many([serial for serial, _ in batch])
                clash = other_models(batch, again)
                if clash:
                    raise Conflict(
                        f"{len(clash)} serial(s) were stocked as another model meanwhile",
                        details=clash,
                    ) from None
                existing += [serial for serial, _ in batch if serial in again]
                batch = [(s, m) for s, m in batch if s not in again]
                if not batch:
                    break
                continue
            created += [serial for serial, _ in batch]
            break
        else:
            raise Conflict("the stock kept changing: send the same serials again")
    count("DevicesStocked", len(created))
    return created, existing


# ---- moves by ops --------------------------------------------------------------------------


def move(serial: str, request: MoveRequest, *, principal: Principal) -> StockItem:
    """``POST /devices/{serial}/moves``: a move of the state table, from the version read.
    Rented comes only from shipping, returned only through a return (it unbinds the device
    and ends billing): both are refused here."""
    item = get(serial)
    if request.version != item.version:
        raise _stale(item, request.version)
    if request.to == "rented":
        raise Conflict(
            f"device {item.serial} is rented by shipping it (the warehouse's report), "
            "not by a move",
            details={"serial": item.serial, "state": item.state, "to": request.to},
        )
    if request.to == "returned":
        raise Conflict(
            f"device {item.serial} is returned with POST /devices/{item.serial}/return "
            "(it unbinds the device and ends billing), not by a move",
            details={"serial": item.serial, "state": item.state, "to": request.to},
        )
    check_move(item.serial, item.state, request.to)  # the table first: 409 before the rest
    if request.to == "reserved" and request.shipment_id:
        _check_reservable(item, request.shipment_id)
    planned = plan_move(
        item.serial,
        item.state,
        request.to,
        at=clock.now_iso(),
        by=principal.user,
        reason=request.reason,
        shipment_id=request.shipment_id if request.to == "reserved" else None,
    )
    moved = rules.after(item, planned)
    try:
        store.move(moved, [rules.record_of(planned, moved.version)], expected_version=item.version)
    except TransactionConflict:
        raise _stale(item, request.version) from None
    count("DevicesMoved")
    return moved


def _check_reservable(item: StockItem, shipment_id: str) -> None:
    shipment = shipments_store.get(shipment_id) if shipment_id.startswith("shipment_") else None
    if shipment is None:
        raise ValidationFailed(
            f"no shipment {shipment_id}",
            details=[{"field": "shipment_id", "message": "not a shipment"}],
        )
    if shipment.status not in _RESERVABLE:
        raise Conflict(
            f"shipment {shipment_id} is {shipment.status}: a device is reserved for a "
            "shipment the warehouse has not shipped yet",
            details={"shipment_id": shipment_id, "status": shipment.status},
        )
    if item.model not in rules.rental_models(shipment):
        raise Conflict(
            f"shipment {shipment_id} rents no {item.model}",
            details={"shipment_id": shipment_id, "model": item.model},
        )


def _stale(item: StockItem, expected: int) -> Conflict:
    current = store.get(item.serial) or item
    return Conflict(
        f"device {item.serial} was moved since version {expected}: read it again",
        details={"expected_version": expected, "version": current.version, "state": current.state},
    )


# ---- shipping (the warehouse's report) -----------------------------------------------------


def _rental_rows(
    rows: Sequence[ShippedDevice], shipments: Mapping[str, Shipment | None]
) -> list[ShippedDevice]:
    return [
        row
        for row in rows
        if (s := shipments.get(row.shipment_id)) is not None and row.model in rules.rental_models(s)
    ]


def check_shipped(
    rows: Sequence[ShippedDevice], shipments: Mapping[str, Shipment | None]
) -> list[RowError]:
    """The report's rows for rental models against the stock (reads only)."""
    rental = _rental_rows(rows, shipments)
    if not rental:
        return []
    stock = store.get_many([row.serial for row in rental])
    return rules.check_shipped_rentals(rental, shipments, stock)


def ready_to_ship(
    rows: Sequence[ShippedDevice], shipments: Mapping[str, Shipment | None]
) -> dict[str, str]:
    """Serial → shipment, for the report's rental rows whose device the stock holds ready for
    that shipment (reads only): such a device may have shipped before, to an earlier renter,
    and come back; its entry in the serial registry is then history, not a conflict."""
    rental = _rental_rows(rows, shipments)
    stock = store.get_many([row.serial for row in rental]) if rental else {}
    return {
        row.serial: row.shipment_id
        for row in rental
        if (item := stock.get(row.serial)) is not None
        and item.model == row.model
        and rules.ready_to_ship(item, row.shipment_id)
    }


def rent_shipped(shipment: Shipment, serials: Sequence[str], *, by: str = WAREHOUSE) -> int:
    """Each rental serial the warehouse shipped for ``shipment`` becomes ``rented`` under its
    contract (through ``reserved`` if it was in stock). Idempotent: one rented for the
    contract already is left alone, so a retried apply completes the batch. A device the
    stock no longer holds ready (moved since the file was checked) raises ``Conflict``: the
    apply fails visibly, ops put the stock right and re-drive. Returns how many moved now."""
    moved = 0
    for serial in serials:
        for _ in range(_ATTEMPTS):
            item = store.get(serial)
            if item is None:
                raise Conflict(f"device {serial} left the rental stock after the file was checked")
            planned = rules.moves_to_rented(
                item,
                shipment_id=shipment.shipment_id,
                contract_id=shipment.contract_id,
                at=clock.now_iso(),
                by=by,
                reason="shipped",
            )
            if not planned:
                break
            current, records = item, []
            for step in planned:
                current = rules.after(current, step)
                records.append(rules.record_of(step, current.version))
            try:
                store.move(current, records, expected_version=item.version)
            except TransactionConflict:
                continue
            moved += 1
            break
        else:
            raise Conflict(f"device {serial} kept changing")
    count("DevicesRented", moved)
    return moved


# ---- returns -------------------------------------------------------------------------------


def return_key(serial: str, returned_on: date) -> str:
    """The unbind's Idempotency-Key: the business fact, so every retry is a replay."""
    return f"{serial}:return:{returned_on.isoformat()}"


def return_device(
    serial: str,
    request: ReturnRequest,
    *,
    principal: Principal,
    platform: device_platform.DevicePlatformClient | None = None,
    publisher: EventPublisher | None = None,
) -> StockItem:
    """``POST /devices/{serial}/return``: a rented device came back on ``returned_on``.

    The device is unbound on the platform **first** (its key names the serial and the date,
    so a retry is a replay); a platform that does not answer is a 503 with nothing changed,
    and ops send the same return again later. Then the device moves to ``returned`` (on the
    version read) and ``DeviceReturned`` goes out for billing, which ends the contract
    line's charges on ``returned_on``. The same return again finds it returned on that day
    and publishes the event only if it did not go out (``return_published_at``)."""
    unbound: str | None = None
    for _ in range(_ATTEMPTS):
        item = get(serial)
        if item.state == "returned" and item.returned_on == request.returned_on:
            if item.return_published_at is None:
                return _publish_returned(item, publisher)
            return item
        if item.state != "rented" or item.contract_id is None:
            raise Conflict(
                f"device {item.serial} is {item.state}: only a rented device is returned",
                details={"serial": item.serial, "state": item.state},
            )
        shipped = _shipped_device(item)
        shipped_on = shipped.ship_date if shipped else _day_of(item.since)
        rules.check_return_date(request.returned_on, shipped_on=shipped_on, today=clock.today())
        if unbound is None:
            unbound = _unbind(item.serial, request.returned_on, platform)
        planned = plan_move(
            item.serial,
            item.state,
            "returned",
            at=clock.now_iso(),
            by=principal.user,
            reason=request.note,
            shipment_id=item.shipment_id,
            contract_id=item.contract_id,
        )
        returned = rules.after(
            item, planned, returned_on=request.returned_on, condition=request.condition
        )
        record = rules.record_of(
            planned,
            returned.version,
            returned_on=request.returned_on,
            condition=request.condition,
            unbind=unbound,
        )
        try:
            store.move(returned, [record], expected_version=item.version)
        except TransactionConflict:
            continue
        count("DevicesReturned")
        return _publish_returned(returned, publisher)
    raise Conflict(f"device {serial} kept changing")


def _shipped_device(item: StockItem) -> ShipmentDevice | None:
    """The device as shipped under the contract it is rented under (the serial registry)."""
    shipped = shipments_store.registered([item.serial]).get(item.serial)
    if shipped is None or shipped.contract_id != item.contract_id:
        return None
    return shipped


def _day_of(instant: str) -> date:
    return clock.parse_instant(instant).astimezone(clock.TOKYO).date()


def _unbind(
    serial: str, returned_on: date, platform: device_platform.DevicePlatformClient | None
) -> str:
    """Unbind on the platform: ``unbound``, or ``not bound`` when it never knew the device
    (a kitting push that never went through: there is nothing to end)."""
    try:
        client = platform or device_platform.default_client()
        client.unbind(serial, ended_on=returned_on, key=return_key(serial, returned_on))
    except device_platform.DevicePlatformUnavailable as outage:
        logger.warning("device platform unavailable for a return", extra={"serial": serial})
        raise Unavailable(
            f"the device platform is not answering, so device {serial} was not unbound and "
            "its return was not recorded: send the same return again later",
            details={"serial": serial, "platform": str(outage)},
        ) from None
    except device_platform.DevicePlatformNotConfigured as missing:
        raise Unavailable(
            f"the device platform is not configured: device {serial} was not returned",
            details={"serial": serial, "platform": str(missing)},
        ) from None
    except device_platform.DevicePlatformRejected as refused:
        if refused.status == 404:
            return "not bound"
        raise UpstreamRefused(
            f"the device platform refused to unbind device {serial} ({refused.status}: "
            f"{refused.message}): its return was not recorded",
            details={"serial": serial, "platform_status": refused.status},
        ) from None
    return "unbound"


def _publish_returned(item: StockItem, publisher: EventPublisher | None) -> StockItem:
    """``DeviceReturned`` for billing and the audit trail, then the mark that it is out.
    The old device of a replacement completes the replacement first, and the event names
    it (``replacement_id``): billing keeps the contract line, which the new device serves,
    and the regulator was told of the change by ``DeviceReplaced``."""
    shipped = _shipped_device(item)
    shipment = shipments_store.get(item.shipment_id) if item.shipment_id else None
    replacement_id = replacements.replacement_of(item.serial, item.contract_id)
    if replacement_id and item.returned_on:
        replacements.on_old_returned(replacement_id, item.returned_on)
    (publisher or events.default_publisher).publish(
        SOURCE,
        "DeviceReturned",
        {
            "serial": item.serial,
            "model": item.model,
            "contract_id": item.contract_id,
            "line_id": shipped.line_id if shipped else None,
            "shipment_id": item.shipment_id,
            "account_id": shipment.account_id if shipment else None,
            "returned_on": item.returned_on.isoformat() if item.returned_on else None,
            "condition": item.condition,
            "by": item.updated_by,
            "replacement_id": replacement_id,
        },
    )
    now = clock.now_iso()
    if store.mark_return_published(item.serial, version=item.version, at=now):
        return item.model_copy(update={"return_published_at": now})
    return item
