"""Rental device stock (``monosub.domain.devices``): states, moves, serial numbers."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monosub.domain.devices import (
    MOVES,
    STATES,
    DeviceMove,
    DeviceState,
    allowed_moves,
    check_move,
    normalize_serial,
    plan_move,
)
from monosub.errors import Conflict, ValidationFailed

AT = "2026-04-01T01:00:00Z"
EVERY_ORIGIN: list[DeviceState | None] = [None, *STATES]

# ---- the table -----------------------------------------------------------------------------


def test_the_table_covers_every_state_and_names_only_states() -> None:
    assert set(MOVES) == {None, *STATES}
    for targets in MOVES.values():
        assert set(targets) <= set(STATES)
        assert len(set(targets)) == len(targets)


def test_the_table_is_the_one_docs_fulfilment_describes() -> None:
    assert MOVES == {
        None: ("in_stock",),
        "in_stock": ("reserved", "repair", "retired"),
        "reserved": ("rented", "in_stock"),
        "rented": ("returned",),
        "returned": ("in_stock", "repair", "retired"),
        "repair": ("in_stock", "retired"),
        "retired": (),
    }


def test_the_life_of_a_rented_device() -> None:
    life: list[DeviceState | None] = [
        None,
        "in_stock",
        "reserved",
        "rented",
        "returned",
        "repair",
        "in_stock",
        "reserved",
        "in_stock",  # the order was cancelled
        "reserved",
        "rented",
        "returned",
        "retired",
    ]
    for current, target in itertools.pairwise(life):
        assert target is not None
        check_move("SN-0001", current, target)


def test_retired_is_final_and_a_new_device_enters_in_stock() -> None:
    assert allowed_moves("retired") == ()
    assert allowed_moves(None) == ("in_stock",)


def test_every_state_can_be_reached_and_every_state_but_retired_can_be_left() -> None:
    reachable = {target for targets in MOVES.values() for target in targets}
    assert reachable == set(STATES)
    assert [s for s in STATES if not MOVES[s]] == ["retired"]


@pytest.mark.parametrize(
    ("current", "target"),
    [
        ("in_stock", "rented"),  # shipped without a reservation
        ("rented", "in_stock"),  # back on the shelf without being checked
        ("reserved", "returned"),
        ("repair", "rented"),
        (None, "reserved"),
        ("in_stock", "in_stock"),
    ],
)
def test_moves_the_table_does_not_have_are_conflicts(
    current: DeviceState | None, target: DeviceState
) -> None:
    with pytest.raises(Conflict) as caught:
        check_move("SN-0001", current, target)
    error = caught.value
    assert "SN-0001" in error.message
    assert f"to {target}" in error.message
    assert error.details == {
        "serial": "SN-0001",
        "state": current,
        "to": target,
        "allowed": list(MOVES[current]),
    }


def test_the_conflict_names_the_allowed_moves() -> None:
    with pytest.raises(Conflict) as caught:
        check_move("SN-0001", "returned", "rented")
    assert caught.value.message == (
        "device SN-0001 cannot move from returned to rented: "
        "from returned it may go to in_stock, repair, retired"
    )


def test_a_retired_device_says_it_is_final() -> None:
    with pytest.raises(Conflict) as caught:
        check_move("SN-0001", "retired", "in_stock")
    assert caught.value.message == (
        "device SN-0001 cannot move from retired to in_stock: retired is final: "
        "it does not move again"
    )


def test_a_device_not_in_stock_yet() -> None:
    with pytest.raises(Conflict) as caught:
        check_move("SN-0001", None, "rented")
    assert "from not in stock yet to rented" in caught.value.message


@given(current=st.sampled_from(EVERY_ORIGIN), target=st.sampled_from(STATES))
def test_a_move_passes_exactly_when_the_table_has_it(
    current: DeviceState | None, target: DeviceState
) -> None:
    if target in MOVES[current]:
        check_move("SN-0001", current, target)
    else:
        with pytest.raises(Conflict):
            check_move("SN-0001", current, target)


# ---- planning a move -----------------------------------------------------------------------


def test_a_reservation_names_its_shipment() -> None:
    move = plan_move("SN-0001", "in_stock", "reserved", at=AT, by="u-ops", shipment_id="shp_1")
    assert move == DeviceMove(
        serial="SN-0001",
        from_state="in_stock",
        to_state="reserved",
        at=AT,
        by="u-ops",
        shipment_id="shp_1",
    )


def test_a_rental_names_its_contract() -> None:
    move = plan_move(
        "SN-0001",
        "reserved",
        "rented",
        at=AT,
        by="run:r1",
        shipment_id="shp_1",
        contract_id="ctr_1",
    )
    assert (move.from_state, move.to_state, move.contract_id) == ("reserved", "rented", "ctr_1")


@pytest.mark.parametrize(
    ("current", "target", "missing"),
    [
        ("in_stock", "reserved", ["shipment_id"]),
        ("reserved", "rented", ["contract_id"]),
        ("returned", "repair", ["reason"]),
        ("repair", "retired", ["reason"]),
    ],
)
def test_an_incomplete_move_is_refused_field_by_field(
    current: DeviceState, target: DeviceState, missing: list[str]
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        plan_move("SN-0001", current, target, at=AT, by="u-ops", reason="  ")
    assert [d["field"] for d in caught.value.details] == missing
    assert "SN-0001" in caught.value.message


def test_the_reason_is_stored_trimmed_and_in_half_width() -> None:
    move = plan_move(
        "SN-0001", "returned", "retired", at=AT, by="u-ops", reason=" 落下破損　ＬＥＤ "
    )
    assert move.reason == "落下破損 LED"


def test_a_forbidden_move_is_a_conflict_before_anything_else() -> None:
    with pytest.raises(Conflict):
        plan_move("SN-0001", "retired", "reserved", at=AT, by="u-ops")


def test_receiving_a_new_device() -> None:
    move = plan_move("SN-0001", None, "in_stock", at=AT, by="run:r1")
    assert (move.from_state, move.to_state) == (None, "in_stock")


# ---- serial numbers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "serial"),
    [
        ("SN-0001", "SN-0001"),
        ("sn-0001", "SN-0001"),
        ("ｓｎ－０００１", "SN-0001"),
        ("SNー0001", "SN-0001"),  # the long-vowel mark a Japanese IME types for a hyphen
        ("  ABCD  ", "ABCD"),
        ("A" * 64, "A" * 64),
    ],
)
def test_serials_are_normalised(typed: str, serial: str) -> None:
    assert normalize_serial(typed) == serial


@pytest.mark.parametrize(
    "typed", ["ABC", "A" * 65, "-ABCD", "ABCD-", "AB CD", "AB_CD", "ＡＢ＃１", "ÅBCD", "シリアル"]
)
def test_bad_serials(typed: str) -> None:
    with pytest.raises(ValueError, match="serial number"):
        normalize_serial(typed)


@given(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9-]{2,62}[A-Za-z0-9]", fullmatch=True))
def test_a_normalised_serial_normalises_to_itself(typed: str) -> None:
    serial = normalize_serial(typed)
    assert serial == typed.upper()
    assert normalize_serial(serial) == serial
