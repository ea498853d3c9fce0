"""Rental device stock: the states a device is in, the moves between them, and the serial
number that names it.

A rented camera stays ours: it is reserved for a shipment, rented while at the customer,
returned, then checked and put back in stock, sent to repair or retired. Every move is
recorded (who, when, why, for which shipment or contract), so the table below is the whole
life of a device and the stock on any day can be counted from the moves.

Pure: plain values in, plain values out or a domain error; the instant ``at`` comes from
the caller (``monosub.clock.now_iso()``). Nothing here touches AWS.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, get_args

from monosub.domain.deals import normalize_reason
from monosub.domain.text import hyphens, nfkc
from monosub.errors import Conflict, ValidationFailed

DeviceState = Literal["in_stock", "reserved", "rented", "returned", "repair", "retired"]
STATES: tuple[DeviceState, ...] = get_args(DeviceState)

# Where a device may go from each state. A device enters the stock in_stock (a move from
# ``None``: it was not ours before); retired is final.
MOVES: dict[DeviceState | None, tuple[DeviceState, ...]] = {
    None: ("in_stock",),
    # Reserved for a shipment; found faulty on the shelf; written off (lost in the warehouse,
    # sold off).
    "in_stock": ("reserved", "repair", "retired"),
    # Shipped to the customer, or back on the shelf when the order is cancelled (a device that
    # fails at kitting goes back in stock first, then to repair: the shipment reserves another).
    "reserved": ("rented", "in_stock"),
    # Only ever returned: a device the customer lost is recorded as returned on the day it is
    # reported (billing ends, the platform unbinds it), then retired.
    "rented": ("returned",),
    # Checked after the return: fine, faulty, or not worth repairing.
    "returned": ("in_stock", "repair", "retired"),
    "repair": ("in_stock", "retired"),
    "retired": (),
}

# A move to these states says why (the fault, the write-off): the stock report shows it.
REASON_REQUIRED: frozenset[DeviceState] = frozenset({"repair", "retired"})

# The serial printed on the device: ASCII letters and digits, hyphens inside, 4 to 64 long.
SERIAL_PATTERN = re.compile(r"[A-Z0-9][A-Z0-9-]{2,62}[A-Z0-9]")


def normalize_serial(value: str) -> str:
    """A serial number as stored: NFKC (full-width letters and digits become ASCII), every
    dash a hyphen, upper case. ``ｓｎ－００１２`` and ``SN-0012`` are one serial.

    Raises ``ValueError`` when the result is not ``SERIAL_PATTERN``.
    """
    serial = hyphens(nfkc(value).strip()).upper()
    if not SERIAL_PATTERN.fullmatch(serial):
        raise ValueError(
            "a serial number is 4 to 64 ASCII letters, digits or hyphens, "
            "starting and ending with a letter or digit"
        )
    return serial


def allowed_moves(current: DeviceState | None) -> tuple[DeviceState, ...]:
    """The states a device in ``current`` may move to (``None``: a device not yet ours)."""
    return MOVES[current]


def check_move(serial: str, current: DeviceState | None, target: DeviceState) -> None:
    """Refuse (``Conflict``, 409) a move the table does not allow, naming the allowed ones.

    A move to the state the device is in already is refused too: a retried step finds the
    move it recorded (by shipment or contract) before asking to move again.
    """
    allowed = allowed_moves(current)
    if target in allowed:
        return
    where = "not in stock yet" if current is None else current
    if allowed:
        also = f"from {where} it may go to {', '.join(allowed)}"
    else:
        also = f"{where} is final: it does not move again"
    raise Conflict(
        f"device {serial} cannot move from {where} to {target}: {also}",
        details={"serial": serial, "state": current, "to": target, "allowed": list(allowed)},
    )


@dataclass(frozen=True)
class DeviceMove:
    """One recorded move of one device."""

    serial: str
    from_state: DeviceState | None
    to_state: DeviceState
    at: str  # UTC ISO instant (monosub.clock.now_iso())
    by: str  # who moved it: a staff user, or run:<id> for a file or a state machine
    reason: str | None = None
    shipment_id: str | None = None
    contract_id: str | None = None


def plan_move(
    serial: str,
    current: DeviceState | None,
    target: DeviceState,
    *,
    at: str,
    by: str,
    reason: str | None = None,
    shipment_id: str | None = None,
    contract_id: str | None = None,
) -> DeviceMove:
    """The move to record, once it is allowed (``Conflict``) and says what it must
    (``ValidationFailed``): a reservation names its shipment, a rental its contract, a move
    to repair or retired its reason."""
    check_move(serial, current, target)
    reason = normalize_reason(reason)
    problems = []
    if target == "reserved" and not shipment_id:
        problems.append({"field": "shipment_id", "message": "a device is reserved for a shipment"})
    if target == "rented" and not contract_id:
        problems.append({"field": "contract_id", "message": "a device is rented under a contract"})
    if target in REASON_REQUIRED and reason is None:
        problems.append({"field": "reason", "message": f"say why the device goes to {target}"})
    if problems:
        raise ValidationFailed(
            f"the move of device {serial} to {target} is incomplete", details=problems
        )
    return DeviceMove(
        serial=serial,
        from_state=current,
        to_state=target,
        at=at,
        by=by,
        reason=reason,
        shipment_id=shipment_id,
        contract_id=contract_id,
    )
