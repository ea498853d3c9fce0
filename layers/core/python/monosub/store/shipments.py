"""Shipments and shipped devices in table ``records``: the only code that knows their keys.

=================== ===================================== ===============================
item                pk / sk                               gsi1pk / gsi1sk
=================== ===================================== ===============================
shipment            SHIPMENT#<id> / SHIPMENT              SHIPMENTS#<status> /
                                                          <ship date>#<id>
shipped device      SHIPMENT#<id> / DEVICE#<serial>
serial registry     DEVICE#<serial> / DEVICE              (one shipment per serial)
day's instructions  INSTRUCTIONS#<yyyy-mm-dd> / FILE      (the file's key and shipments)
device replacement  REPLACEMENT#<id> / REPLACEMENT        REPLACEMENTS#<contract id> /
                                                          <created at>#<id>
open replacement    DEVICE#<serial> / REPLACEMENT         (the one open for a serial)
=================== ===================================== ===============================

The shipment's own GSI keys follow its status, so "requested, to ship by D" is one query
(``SHIPMENTS#requested``, sort key ≤ ``D#~``). A serial is recorded in the same transaction
as its shipment's device item and the shipment's counts, so a serial can never be in two
shipments, and a shipment's counts always equal its device items.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from typing import Any

from monosub import clock
from monosub.models.fulfilment import DeviceReplacement, Shipment, ShipmentDevice
from monosub.names import RECORDS
from monosub.store.dynamo import Table, TransactionConflict, to_item, to_value, transact

_table = Table(RECORDS)
DEVICES_PER_TRANSACTION = 45  # 2 items each + the shipment: under the 100-item cap


def _pk(shipment_id: str) -> str:
    return f"SHIPMENT#{shipment_id}"


def _serial_pk(serial: str) -> str:
    return f"DEVICE#{serial}"


def _item(shipment: Shipment) -> dict[str, Any]:
    return {
        "pk": _pk(shipment.shipment_id),
        "sk": "SHIPMENT",
        "gsi1pk": f"SHIPMENTS#{shipment.status}",
        "gsi1sk": f"{shipment.ship_date.isoformat()}#{shipment.shipment_id}",
        **shipment.model_dump(mode="json"),
    }


# ---- shipments -----------------------------------------------------------------------------


def create(shipment: Shipment) -> bool:
    """The new shipment; False when the order has one already."""
    return _table.put_new(_item(shipment))


def get(shipment_id: str) -> Shipment | None:
    item = _table.get(_pk(shipment_id), "SHIPMENT")
    return Shipment.model_validate(item) if item else None


def get_many(shipment_ids: Sequence[str]) -> dict[str, Shipment]:
    read = _table.batch_get([(_pk(i), "SHIPMENT") for i in shipment_ids])
    return {str(item["shipment_id"]): Shipment.model_validate(item) for item in read.values()}


def save(shipment: Shipment, *, expected_version: int) -> None:
    """Replace the shipment if it is still at ``expected_version`` (TransactionConflict
    otherwise); the caller has already counted ``version`` up."""
    transact([_save_operation(shipment, expected_version)])


def _save_operation(shipment: Shipment, expected_version: int) -> dict[str, Any]:
    put = _table.put_operation(_item(shipment), only_new=False)
    put["Put"]["ConditionExpression"] = "#version = :version"
    put["Put"]["ExpressionAttributeNames"] = {"#version": "version"}
    put["Put"]["ExpressionAttributeValues"] = {":version": to_value(expected_version)}
    return put


def with_status(status: str, *, up_to: date | None = None) -> Iterator[Shipment]:
    """Shipments in ``status``, by ship date (only those to ship by ``up_to``)."""
    for item in _table.query(f"SHIPMENTS#{status}", index="gsi1"):
        if up_to is not None and str(item["gsi1sk"]) > f"{up_to.isoformat()}#~":
            return
        shipment = get(str(item["shipment_id"]))  # the index lags: read it whole
        if shipment is not None and shipment.status == status:
            yield shipment


# ---- a day's instruction file --------------------------------------------------------------


def instruction_manifest(day: date) -> dict[str, Any] | None:
    return _table.get(f"INSTRUCTIONS#{day.isoformat()}", "FILE")


def put_instruction_manifest(day: date, key: str, shipment_ids: Sequence[str]) -> bool:
    """What the day's file holds, written before the file: a rerun rewrites the same file."""
    return _table.put_new(
        {
            "pk": f"INSTRUCTIONS#{day.isoformat()}",
            "sk": "FILE",
            "key": key,
            "shipment_ids": list(shipment_ids),
            "at": clock.now_iso(),
        }
    )


# ---- shipped devices -----------------------------------------------------------------------


def registered(serials: Sequence[str]) -> dict[str, ShipmentDevice]:
    """The devices recorded for these serials (in any shipment)."""
    read = _table.batch_get([(_serial_pk(s), "DEVICE") for s in serials])
    return {str(item["serial"]): ShipmentDevice.model_validate(item) for item in read.values()}


def record_devices(
    shipment: Shipment,
    devices: Sequence[ShipmentDevice],
    *,
    replacing: Mapping[str, str] | None = None,
) -> Shipment:
    """Record shipped devices with the shipment's counts, in transactions of
    ``DEVICES_PER_TRANSACTION``; returns the shipment as saved. ``replacing``: serial → the
    earlier shipment a restocked rental device last shipped in; its registry entry is
    replaced only while it still names that shipment. A serial recorded meanwhile raises
    ``TransactionConflict`` for its batch (the batches before it stay: each is whole)."""
    replacing = replacing or {}
    current = shipment
    for start in range(0, len(devices), DEVICES_PER_TRANSACTION):
        batch = devices[start : start + DEVICES_PER_TRANSACTION]
        counts = dict(current.shipped_by_line)
        for device in batch:
            counts[device.line_id] = counts.get(device.line_id, 0) + 1
        last = max(device.ship_date for device in batch)
        updated = current.model_copy(
            update={
                "shipped_by_line": counts,
                "shipped_on": max(last, current.shipped_on) if current.shipped_on else last,
                "version": current.version + 1,
                "updated_at": clock.now_iso(),
            }
        )
        operations = [_save_operation(updated, current.version)]
        for device in batch:
            item = device.model_dump(mode="json")
            earlier = replacing.get(device.serial)
            operations.append(
                _table.put_operation(
                    {"pk": _serial_pk(device.serial), "sk": "DEVICE", **item},
                    condition="shipment_id = :earlier" if earlier else None,
                    condition_values={":earlier": earlier} if earlier else None,
                )
            )
            operations.append(
                _table.put_operation(
                    {"pk": _pk(device.shipment_id), "sk": f"DEVICE#{device.serial}", **item}
                )
            )
        transact(operations)
        current = updated
    return current


def devices(shipment_id: str) -> list[ShipmentDevice]:
    return [
        ShipmentDevice.model_validate(item)
        for item in _table.query(_pk(shipment_id), sk_prefix="DEVICE#")
    ]


def device(shipment_id: str, serial: str) -> ShipmentDevice | None:
    item = _table.get(_pk(shipment_id), f"DEVICE#{serial}")
    return ShipmentDevice.model_validate(item) if item else None


def mark_pushed(device: ShipmentDevice) -> None:
    """The device's binding (its version) is on the device platform: both copies say so."""
    values = {"kitting": "pushed", "pushed_at": clock.now_iso()}
    condition = "#binding_version = :version"
    operations = [
        _table.update_operation(
            pk,
            sk,
            set_values=values,
            condition=condition,
            condition_values={":version": device.binding_version},
        )
        for pk, sk in (
            (_pk(device.shipment_id), f"DEVICE#{device.serial}"),
            (_serial_pk(device.serial), "DEVICE"),
        )
    ]
    transact(operations)


# ---- device replacements -------------------------------------------------------------------


def _replacement_item(replacement: DeviceReplacement) -> dict[str, Any]:
    return {
        "pk": f"REPLACEMENT#{replacement.replacement_id}",
        "sk": "REPLACEMENT",
        "gsi1pk": f"REPLACEMENTS#{replacement.contract_id}",
        "gsi1sk": f"{replacement.created_at}#{replacement.replacement_id}",
        **replacement.model_dump(mode="json", exclude={"return_overdue"}),
    }


def _open_key(serial: str) -> tuple[str, str]:
    return _serial_pk(serial), "REPLACEMENT"


def create_replacement(replacement: DeviceReplacement, shipment: Shipment) -> None:
    """The replacement, its shipment and the mark that the old serial has a replacement
    open, in one transaction: ``TransactionConflict`` when any exists already (the same
    request before, or another replacement open for the serial)."""
    pk, sk = _open_key(replacement.old_serial)
    transact(
        [
            _table.put_operation(_replacement_item(replacement)),
            _table.put_operation(_item(shipment)),
            _table.put_operation(
                {
                    "pk": pk,
                    "sk": sk,
                    "replacement_id": replacement.replacement_id,
                    "contract_id": replacement.contract_id,
                    "at": replacement.created_at,
                }
            ),
        ]
    )


def get_replacement(replacement_id: str) -> DeviceReplacement | None:
    item = _table.get(f"REPLACEMENT#{replacement_id}", "REPLACEMENT")
    return DeviceReplacement.model_validate(item) if item else None


def replacements_of(contract_id: str) -> list[DeviceReplacement]:
    """A contract's replacements, oldest first (one query)."""
    return [
        DeviceReplacement.model_validate(item)
        for item in _table.query(f"REPLACEMENTS#{contract_id}", index="gsi1")
    ]


def open_replacement(serial: str) -> dict[str, Any] | None:
    """The replacement open for ``serial`` (its id and contract), if any."""
    return _table.get(*_open_key(serial))


def save_replacement(
    replacement: DeviceReplacement,
    *,
    expected_version: int,
    replaced: ShipmentDevice | None = None,
) -> None:
    """The replacement at ``expected_version`` (TransactionConflict otherwise), with, in the
    same transaction, ``replaced`` (the old device's shipped copies) marked ``replaced_by``,
    and the serial's open mark removed once the replacement is completed."""
    put = _table.put_operation(_replacement_item(replacement), only_new=False)
    put["Put"]["ConditionExpression"] = "#version = :version"
    put["Put"]["ExpressionAttributeNames"] = {"#version": "version"}
    put["Put"]["ExpressionAttributeValues"] = {":version": to_value(expected_version)}
    operations = [put]
    if replaced is not None:
        operations += [
            _table.update_operation(
                pk,
                sk,
                set_values={"replaced_by": replacement.replacement_id},
                condition="attribute_exists(pk)",
            )
            for pk, sk in (
                (_pk(replaced.shipment_id), f"DEVICE#{replaced.serial}"),
                (_serial_pk(replaced.serial), "DEVICE"),
            )
        ]
    if replacement.status == "completed":
        pk, sk = _open_key(replacement.old_serial)
        operations.append(
            {
                "Delete": {
                    "TableName": _table.name,
                    "Key": to_item({"pk": pk, "sk": sk}),
                }
            }
        )
    transact(operations)


__all__ = ["TransactionConflict"]
