"""Fulfilment rules: what an order ships, when the warehouse should ship it, and whether the
warehouse's report of shipped serials fits the shipments it names.

Pure: plain values in, models and row errors out; nothing here touches AWS.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from monosub import ids
from monosub.formats.warehouse import ShippedDevice as ShippedRow
from monosub.intake.kinds import RowError
from monosub.models.fulfilment import DeviceReplacement, Shipment, ShipmentDevice, ShipmentItem

SHIP_LEAD_DAYS = 2  # the warehouse ships this many days before the delivery date wanted
# A shipment can be reported shipped once the warehouse has its instruction.
SHIPPABLE = ("instructed", "shipped")


def shipment_id_for(order_id: str) -> str:
    """An order has one shipment, whose id follows from the order's."""
    return ids.derived_id("shipment", order_id)


def planned_ship_date(
    requested_delivery: date | None, today: date, lead_days: int = SHIP_LEAD_DAYS
) -> date:
    """出荷予定日: ``lead_days`` before the delivery date wanted, but never before tomorrow
    (today's instruction file reaches the warehouse today; it ships from tomorrow)."""
    earliest = today + timedelta(days=1)
    if requested_delivery is None:
        return earliest
    return max(earliest, requested_delivery - timedelta(days=lead_days))


def shipment_items(
    lines: Sequence[Mapping[str, Any]], products: Mapping[str, Mapping[str, Any]]
) -> list[ShipmentItem]:
    """The devices of an order's lines (``OrderConfirmed.lines``), named and typed from the
    catalog (``products``: sku → name, acquisition, installation_required). Lines without a
    device (a plan for a device the customer has) ship nothing."""
    items = []
    for line in lines:
        sku = line.get("device_sku")
        if not sku:
            continue
        product = products.get(sku) or {}
        items.append(
            ShipmentItem(
                line_id=str(line["line_id"]),
                device_sku=str(sku),
                device_name=str(product.get("name") or sku),
                acquisition=product.get("acquisition") or "sale",
                installation_required=bool(product.get("installation_required")),
                quantity=int(line["quantity"]),
                plan_sku=str(line["plan_sku"]),
                option_skus=list(line.get("option_skus") or []),
            )
        )
    return items


def check_shipped(
    rows: Sequence[ShippedRow],
    shipments: Mapping[str, Shipment | None],
    recorded: Callable[[str], ShipmentDevice | None],
) -> list[RowError]:
    """Every reason a row of the warehouse's report cannot be applied: an unknown or
    cancelled shipment, one the warehouse was never instructed to ship, a model the shipment
    does not hold, a serial already recorded (for this or another shipment), more devices of
    a model than ordered (counting those reported by earlier files). ``shipments``: each
    shipment id the rows name → the shipment (None: unknown); ``recorded``: the device
    recorded for a serial, if any."""
    errors: list[RowError] = []
    taken: Counter[tuple[str, str]] = Counter()
    for row in rows:
        shipment = shipments.get(row.shipment_id)
        if shipment is None:
            errors.append(_error(row, "shipment_id", f"no shipment {row.shipment_id}"))
            continue
        if shipment.status not in SHIPPABLE:
            why = (
                "it was cancelled"
                if shipment.status == "cancelled"
                else "the warehouse has no instruction for it yet"
            )
            errors.append(
                _error(
                    row, "shipment_id", f"shipment {row.shipment_id} is {shipment.status}: {why}"
                )
            )
            continue
        ordered = shipment.ordered(row.model)
        if ordered == 0:
            models = ", ".join(sorted({item.device_sku for item in shipment.items}))
            errors.append(
                _error(row, "model", f"shipment {row.shipment_id} ships {models}, not {row.model}")
            )
            continue
        device = recorded(row.serial)
        if device is not None:
            where = (
                "this shipment"
                if device.shipment_id == row.shipment_id
                else f"shipment {device.shipment_id}"
            )
            errors.append(_error(row, "serial", f"serial {row.serial} is already in {where}"))
            continue
        key = (row.shipment_id, row.model)
        taken[key] += 1
        if shipment.shipped_of(row.model) + taken[key] > ordered:
            errors.append(
                _error(
                    row,
                    "model",
                    f"more {row.model} than the {ordered} ordered for shipment {row.shipment_id}",
                )
            )
    return errors


def assign_lines(shipment: Shipment, serials: Sequence[tuple[str, str]]) -> dict[str, ShipmentItem]:
    """The order line each newly shipped serial belongs to (``serials``: (serial, model) in
    file order): a model's serials fill its lines in order, after the devices earlier files
    reported (a line of 3 takes the first three serials of that model)."""
    filled = dict(shipment.shipped_by_line)
    assigned: dict[str, ShipmentItem] = {}
    for serial, model in serials:
        for item in shipment.items:
            if item.device_sku == model and filled.get(item.line_id, 0) < item.quantity:
                filled[item.line_id] = filled.get(item.line_id, 0) + 1
                assigned[serial] = item
                break
    return assigned


def _error(row: ShippedRow, field: str, message: str) -> RowError:
    return RowError(line=row.line, field=field, message=message, value=getattr(row, field, None))


# ---- replacing a device --------------------------------------------------------------------

# A rental device replaced is due back this many days after its replacement shipped; later,
# the replacement says so (``return_overdue``).
REPLACEMENT_RETURN_DAYS = 14


def replacement_id_for(contract_id: str, serial: str, idempotency_key: str) -> str:
    """A request's replacement: the same request again (its key) finds it, not a second."""
    return ids.derived_id("replacement", f"{contract_id}#{serial}#{idempotency_key}")


def replacement_problem(
    serial: str,
    contract_id: str,
    device: ShipmentDevice | None,
    *,
    stock_state: str | None,
    stock_contract_id: str | None,
) -> str | None:
    """Why ``serial`` is not a device of ``contract_id`` that can be replaced (None: it is).
    ``device``: the serial registry's entry (the device as last shipped); ``stock_state`` /
    ``stock_contract_id``: its rental stock item, if it is a rental (None: a sold device)."""
    if device is None or device.contract_id != contract_id:
        return f"device {serial} is not bound to contract {contract_id}"
    if device.replaced_by:
        return f"device {serial} was replaced already (replacement {device.replaced_by})"
    if stock_state is not None and (stock_state != "rented" or stock_contract_id != contract_id):
        return (
            f"device {serial} is {stock_state} in the rental stock, not rented under "
            f"contract {contract_id}"
        )
    return None


def replacement_item(shipment: Shipment, device: ShipmentDevice) -> ShipmentItem:
    """The one device a replacement ships: the replaced device's model, contract line, plan
    and options (``shipment``: the one the replaced device came in)."""
    line = next((item for item in shipment.items if item.line_id == device.line_id), None)
    return ShipmentItem(
        line_id=device.line_id,
        device_sku=device.device_sku,
        device_name=line.device_name if line else device.device_sku,
        acquisition=line.acquisition if line else "sale",
        installation_required=line.installation_required if line else False,
        quantity=1,
        plan_sku=device.plan_sku,
        option_skus=list(device.option_skus),
    )


def instruction_note(shipment: Shipment) -> str:
    """The instruction file's 備考 for a shipment: a replacement says so, and which device
    the customer hands back, so the warehouse and the carrier know."""
    if shipment.kind != "replacement":
        return ""
    return f"【交換品】機器交換 旧機器 {shipment.replaces_serial} 回収"


def replacement_bound(
    replacement: DeviceReplacement, *, new_serial: str, effective: date, now: str
) -> DeviceReplacement:
    """The replacement once its new device shipped and was bound: a rental's old device is
    due back ``REPLACEMENT_RETURN_DAYS`` after (done already if it came back first); a sold
    device is the customer's, so nothing is left to wait for."""
    rental = replacement.acquisition == "rental"
    waiting = rental and replacement.old_returned_on is None
    return replacement.model_copy(
        update={
            "new_serial": new_serial,
            "effective_date": effective,
            "return_due_on": effective + timedelta(days=REPLACEMENT_RETURN_DAYS)
            if rental
            else None,
            "status": "awaiting_return" if waiting else "completed",
            "version": replacement.version + 1,
            "updated_at": now,
        }
    )


def old_device_returned(
    replacement: DeviceReplacement, *, returned_on: date, now: str
) -> DeviceReplacement:
    """The replaced device came back: done, unless the new one has not shipped yet."""
    return replacement.model_copy(
        update={
            "old_returned_on": returned_on,
            "status": "requested" if replacement.status == "requested" else "completed",
            "version": replacement.version + 1,
            "updated_at": now,
        }
    )


def return_overdue(replacement: DeviceReplacement, today: date) -> bool:
    """A rental's old device still out after the day it was due back."""
    return (
        replacement.status == "awaiting_return"
        and replacement.return_due_on is not None
        and today > replacement.return_due_on
    )
