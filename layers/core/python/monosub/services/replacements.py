"""Replacing a device of an active contract (docs/fulfilment.md, "Replacing a device").

A replacement is a **shipment of kind ``replacement``**: one device of the replaced one's
model, contract line, plan and options, free of charge, that goes through the same daily
instruction file, the warehouse's report and the shipping/kitting run as an order's
devices (``monosub.services.fulfilment``). What differs is decided here:

- ``request_replacement`` (``POST /contracts/{id}/device-replacements``): the checks, and
  the replacement, its shipment and the serial's "replacement open" mark in one transaction.
- ``on_bound`` (the kitting run's ``CompleteShipment``, instead of starting the contract):
  the new serial on the replacement, the old device marked ``replaced_by`` and
  ``DeviceReplaced`` published once (``replaced_published_at``).
- ``on_old_returned`` (``monosub.services.devices.return_device``): the old rental device
  came back; its ``DeviceReturned`` names the replacement, so billing keeps the line and the
  regulator is not told a second time.

Billing is not told of a replacement at all: nothing is charged and nothing starts.
"""

from __future__ import annotations

from typing import Any

from monosub import access, clock, events
from monosub.auth import Principal
from monosub.domain import fulfilment as rules
from monosub.domain.devices import normalize_serial
from monosub.errors import Conflict, NotFound, ValidationFailed
from monosub.events import EventPublisher
from monosub.models.fulfilment import (
    DeviceReplacement,
    ReplacementRequest,
    Shipment,
    ShipmentDevice,
)
from monosub.observability import count
from monosub.store import contracts as contracts_store
from monosub.store import devices as stock_store
from monosub.store import shipments as store
from monosub.store.dynamo import TransactionConflict

SOURCE = "monosub.fulfilment"
_ATTEMPTS = 4


# ---- requesting ----------------------------------------------------------------------------


def request_replacement(
    contract_id: str,
    request: ReplacementRequest,
    *,
    principal: Principal,
    idempotency_key: str,
) -> tuple[DeviceReplacement, bool]:
    """The replacement of ``request.serial`` under ``contract_id`` and whether it was made
    now (False: the same request, by its key, made it before). 404: a contract the caller
    may not see; 409: the contract is not active, the serial is not bound to it (or was
    replaced), or a replacement is open for it already; 400: not a serial."""
    scope = access.scope_for(principal)
    segments, agency_id = access.segments_and_agency(scope)
    contract = contracts_store.get(contract_id, segments=segments, agency_id=agency_id)
    if contract is None:
        raise NotFound(f"contract {contract_id} does not exist")
    try:
        serial = normalize_serial(request.serial)
    except ValueError as error:
        raise ValidationFailed(
            "not a serial number", details=[{"field": "serial", "message": str(error)}]
        ) from None
    replacement_id = rules.replacement_id_for(contract_id, serial, idempotency_key)
    done = store.get_replacement(replacement_id)
    if done is not None:
        return _as_read(done), False
    if contract.status != "active":
        raise Conflict(
            f"contract {contract_id} is {contract.status}: only an active contract's device "
            "is replaced",
            details={"contract_id": contract_id, "status": contract.status},
        )
    device = store.registered([serial]).get(serial)
    stock = stock_store.get(serial)
    problem = rules.replacement_problem(
        serial,
        contract_id,
        device,
        stock_state=stock.state if stock else None,
        stock_contract_id=stock.contract_id if stock else None,
    )
    if problem or device is None:
        raise Conflict(
            problem or f"device {serial} is not bound to contract {contract_id}",
            details={"serial": serial, "contract_id": contract_id},
        )
    open_one = store.open_replacement(serial)
    if open_one is not None:
        raise _open_already(serial, open_one)
    shipped_in = store.get(device.shipment_id)
    if shipped_in is None:
        raise NotFound(f"shipment {device.shipment_id} of device {serial} does not exist")
    now = clock.now_iso()
    replacement, shipment = _planned(
        replacement_id, request, device, shipped_in, by=principal.user, key=idempotency_key
    )
    try:
        store.create_replacement(replacement, shipment)
    except TransactionConflict:
        done = store.get_replacement(replacement_id)
        if done is not None:  # the same request, racing itself
            return _as_read(done), False
        open_one = store.open_replacement(serial)
        raise _open_already(serial, open_one or {}) from None
    count("DeviceReplacementsRequested")
    events.default_publisher.publish(
        SOURCE,
        "ShipmentRequested",
        {
            "shipment_id": shipment.shipment_id,
            "kind": shipment.kind,
            "replacement_id": replacement_id,
            "contract_id": contract_id,
            "account_id": shipment.account_id,
            "status": shipment.status,
            "ship_date": shipment.ship_date.isoformat(),
            "at": now,
        },
    )
    return _as_read(replacement), True


def _planned(
    replacement_id: str,
    request: ReplacementRequest,
    device: ShipmentDevice,
    shipped_in: Shipment,
    *,
    by: str,
    key: str,
) -> tuple[DeviceReplacement, Shipment]:
    item = rules.replacement_item(shipped_in, device)
    now = clock.now_iso()
    shipment = shipped_in.model_copy(
        update={
            "shipment_id": rules.shipment_id_for(replacement_id),
            "kind": "replacement",
            "replacement_id": replacement_id,
            "replaces_serial": device.serial,
            "status": "requested",
            "requested_delivery_date": None,
            "ship_date": rules.planned_ship_date(None, clock.today()),
            "installation_needed": item.installation_required,
            "items": [item],
            "instruction_file": None,
            "instructed_at": None,
            "shipped_by_line": {},
            "shipped_on": None,
            "shipped_at": None,
            "notified_at": None,
            "installed_on": None,
            "installed_by": None,
            "cancelled_at": None,
            "cancel_reason": None,
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
    )
    replacement = DeviceReplacement(
        replacement_id=replacement_id,
        contract_id=device.contract_id,
        account_id=shipped_in.account_id,
        segment=shipped_in.segment,
        agency_id=shipped_in.agency_id,
        old_serial=device.serial,
        device_sku=device.device_sku,
        acquisition=item.acquisition,
        line_id=device.line_id,
        reason=request.reason,
        note=request.note,
        shipment_id=shipment.shipment_id,
        requested_by=by,
        idempotency_key=key,
        created_at=now,
        updated_at=now,
    )
    return replacement, shipment


def _open_already(serial: str, open_one: dict[str, Any]) -> Conflict:
    return Conflict(
        f"device {serial} has a replacement open already "
        f"({open_one.get('replacement_id', 'another request')})",
        details={"serial": serial, "replacement_id": open_one.get("replacement_id")},
    )


# ---- reading -------------------------------------------------------------------------------


def _visible_contract(contract_id: str, scope: access.Scope) -> None:
    segments, agency_id = access.segments_and_agency(scope)
    if contracts_store.get(contract_id, segments=segments, agency_id=agency_id) is None:
        raise NotFound(f"contract {contract_id} does not exist")


def _as_read(replacement: DeviceReplacement) -> DeviceReplacement:
    return replacement.model_copy(
        update={"return_overdue": rules.return_overdue(replacement, clock.today())}
    )


def get_replacement(
    contract_id: str, replacement_id: str, *, scope: access.Scope
) -> DeviceReplacement:
    _visible_contract(contract_id, scope)
    replacement = (
        store.get_replacement(replacement_id) if replacement_id.startswith("replacement_") else None
    )
    if replacement is None or replacement.contract_id != contract_id:
        raise NotFound(f"replacement {replacement_id} of contract {contract_id} does not exist")
    return _as_read(replacement)


def list_replacements(contract_id: str, *, scope: access.Scope) -> list[DeviceReplacement]:
    """A contract's replacements, newest first, each saying whether its old device is
    overdue."""
    _visible_contract(contract_id, scope)
    return [_as_read(r) for r in reversed(store.replacements_of(contract_id))]


def contract_meters(contract_id: str, serials: list[str]) -> list[str]:
    """The contract's devices now: ``serials`` (those its order shipped) without the ones
    replaced, with the replacements' new devices."""
    replacements = store.replacements_of(contract_id)
    gone = {r.old_serial for r in replacements if r.new_serial}
    new = [r.new_serial for r in replacements if r.new_serial]
    return sorted({s for s in serials if s not in gone} | set(new))


# ---- the new device bound (the kitting run) ------------------------------------------------


def on_bound(shipment: Shipment, *, publisher: EventPublisher | None = None) -> dict[str, Any]:
    """The replacement shipment is shipped and its device bound on the platform: the new
    serial on the replacement, the old device ``replaced_by``, and ``DeviceReplaced``
    (effective on the ship date) published once. A retried step finds it done and only
    publishes what did not go out."""
    replacement_id = str(shipment.replacement_id)
    for _ in range(_ATTEMPTS):
        replacement = store.get_replacement(replacement_id)
        if replacement is None:
            raise NotFound(f"replacement {replacement_id} does not exist")
        if replacement.new_serial is None:
            (new,) = store.devices(shipment.shipment_id)
            old = store.registered([replacement.old_serial]).get(replacement.old_serial)
            bound = rules.replacement_bound(
                replacement,
                new_serial=new.serial,
                effective=shipment.shipped_on or new.ship_date,
                now=clock.now_iso(),
            )
            try:
                store.save_replacement(
                    bound,
                    expected_version=replacement.version,
                    replaced=old if old and old.contract_id == replacement.contract_id else None,
                )
            except TransactionConflict:
                continue
            count("DevicesReplaced")
            replacement = bound
        if replacement.replaced_published_at is None:
            replacement = _publish_replaced(replacement, publisher)
        return {
            "replacement_id": replacement_id,
            "status": replacement.status,
            "new_serial": replacement.new_serial,
        }
    raise Conflict(f"replacement {replacement_id} kept changing")


def _publish_replaced(
    replacement: DeviceReplacement, publisher: EventPublisher | None
) -> DeviceReplacement:
    contract = contracts_store.get(replacement.contract_id)
    (publisher or events.default_publisher).publish(
        SOURCE,
        "DeviceReplaced",
        {
            "replacement_id": replacement.replacement_id,
            "contract_id": replacement.contract_id,
            "contract_number": contract.number if contract else None,
            "account_id": replacement.account_id,
            "line_id": replacement.line_id,
            "model": replacement.device_sku,
            "old_serial": replacement.old_serial,
            "new_serial": replacement.new_serial,
            "effective_date": replacement.effective_date.isoformat()
            if replacement.effective_date
            else None,
            "reason": replacement.reason,
            "shipment_id": replacement.shipment_id,
        },
    )
    for _ in range(_ATTEMPTS):
        marked = replacement.model_copy(
            update={
                "replaced_published_at": clock.now_iso(),
                "version": replacement.version + 1,
                "updated_at": clock.now_iso(),
            }
        )
        try:
            store.save_replacement(marked, expected_version=replacement.version)
        except TransactionConflict:
            latest = store.get_replacement(replacement.replacement_id)
            if latest is None or latest.replaced_published_at:
                return latest or replacement
            replacement = latest
            continue
        return marked
    raise Conflict(f"replacement {replacement.replacement_id} kept changing")


# ---- the old device back (the return) ------------------------------------------------------


def replacement_of(serial: str, contract_id: str | None) -> str | None:
    """The replacement ``serial`` is the old device of under ``contract_id``, if any (a
    return names it in ``DeviceReturned``): the serial's open mark until the replacement is
    completed, and from the moment it is bound the mark on the device as shipped
    (``replaced_by``); the two overlap, so one of them always says."""
    open_one = store.open_replacement(serial)
    if open_one is not None and open_one.get("contract_id") == contract_id:
        return str(open_one["replacement_id"])
    device = store.registered([serial]).get(serial)
    if device is not None and device.contract_id == contract_id and device.replaced_by:
        return device.replaced_by
    return None


def on_old_returned(replacement_id: str, returned_on: Any) -> DeviceReplacement | None:
    """The replaced device came back on ``returned_on``: the replacement is completed (or
    notes it, if its new device has not shipped yet). Again: nothing more."""
    for _ in range(_ATTEMPTS):
        replacement = store.get_replacement(replacement_id)
        if replacement is None or replacement.old_returned_on is not None:
            return replacement
        returned = rules.old_device_returned(
            replacement, returned_on=returned_on, now=clock.now_iso()
        )
        try:
            store.save_replacement(returned, expected_version=replacement.version)
        except TransactionConflict:
            continue
        count("ReplacedDevicesReturned")
        return returned
    raise Conflict(f"replacement {replacement_id} kept changing")


def is_replaced_return(detail: dict[str, Any] | Any) -> bool:
    """Whether a ``DeviceReturned`` is the old device of a replacement of its contract (read
    back, not taken on the event's word): its contract line goes on with the new device."""
    replacement_id = str(detail.get("replacement_id") or "")
    if not replacement_id:
        return False
    replacement = store.get_replacement(replacement_id)
    return (
        replacement is not None
        and replacement.old_serial == str(detail.get("serial") or "")
        and replacement.contract_id == str(detail.get("contract_id") or "")
    )
