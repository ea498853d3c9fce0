"""Rental stock rules without AWS: what a move does to a stock item, the way a shipped device
becomes rented, the warehouse report's rental rows against the stock, return dates, the
``POST /devices`` body and the ``device-stock`` file kind."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from pydantic import ValidationError

from monosub.domain import rentals
from monosub.domain.devices import plan_move
from monosub.errors import Conflict, ValidationFailed
from monosub.formats.warehouse import ShippedDevice
from monosub.intake import kinds
from monosub.intake.device_stock import DeviceStockCsv
from monosub.models.deals import ShipTo
from monosub.models.devices import StockIn, StockItem
from monosub.models.fulfilment import Shipment, ShipmentItem

AT = "2026-11-25T01:00:00Z"
LATER = "2026-11-26T01:00:00Z"


def stock(serial: str = "SC1-R-0001", **changes: Any) -> StockItem:
    item, _ = rentals.entered(serial, "CAM-ONE-RENT", at=AT, by="ops-sato")
    return item.model_copy(update=changes)


def shipment(shipment_id: str = "shipment_a", contract_id: str = "contract_a") -> Shipment:
    def item(line: str, sku: str, acquisition: str) -> ShipmentItem:
        return ShipmentItem.model_validate(
            {
                "line_id": line,
                "device_sku": sku,
                "device_name": sku,
                "acquisition": acquisition,
                "quantity": 5,
                "plan_sku": "PLAN-30D",
            }
        )

    return Shipment(
        shipment_id=shipment_id,
        order_id="quote_a",
        contract_id=contract_id,
        deal_id="deal_a",
        account_id="account_a",
        contact_id="contact_a",
        device_owner_account_id="account_a",
        owner="tanaka",
        segment="corporate",
        ship_to=ShipTo(
            postal_code="105-0022",
            prefecture="東京都",
            city="港区",
            address_line1="海岸1-2-3",
            recipient_name="佐藤 花子",
            recipient_phone="03-1234-5678",
        ),
        ship_date=date(2026, 11, 25),
        status="instructed",
        items=[item("l1", "CAM-ONE-RENT", "rental"), item("l2", "CAM-ONE-SALE", "sale")],
        created_at=AT,
        updated_at=AT,
    )


def row(line: int, serial: str, model: str = "CAM-ONE-RENT", sid: str = "shipment_a") -> Any:
    return ShippedDevice(
        line=line,
        shipment_id=sid,
        model=model,
        serial=serial,
        ship_date=date(2026, 11, 25),
        carrier="ヤマト運輸",
        tracking_number="4512-3456-7890",
    )


# ---- moves on the stock item ---------------------------------------------------------------


def test_a_device_enters_the_stock_in_stock_at_version_1_with_its_move_from_nowhere() -> None:
    item, move = rentals.entered("SC1-R-0001", "CAM-ONE-RENT", at=AT, by="ops-sato")
    assert (item.state, item.version, item.since, item.updated_by) == (
        "in_stock",
        1,
        AT,
        "ops-sato",
    )
    assert (move.from_state, move.to_state, move.version, move.by) == (
        None,
        "in_stock",
        1,
        "ops-sato",
    )


def test_a_move_counts_the_version_up_and_holds_what_the_state_holds() -> None:
    item = stock()
    reserve = plan_move(item.serial, "in_stock", "reserved", at=LATER, by="ops", shipment_id="s1")
    reserved = rentals.after(item, reserve)
    assert (reserved.state, reserved.version, reserved.since) == ("reserved", 2, LATER)
    assert (reserved.shipment_id, reserved.contract_id) == ("s1", None)
    rent = plan_move(
        item.serial, "reserved", "rented", at=LATER, by="w", shipment_id="s1", contract_id="c1"
    )
    rented = rentals.after(reserved, rent)
    assert (rented.shipment_id, rented.contract_id, rented.version) == ("s1", "c1", 3)
    back = plan_move(item.serial, "rented", "returned", at=LATER, by="ops")
    returned = rentals.after(rented, back, returned_on=date(2027, 1, 10), condition="damaged")
    assert (returned.contract_id, returned.returned_on, returned.condition) == (
        "c1",
        date(2027, 1, 10),
        "damaged",
    )
    repair = plan_move(item.serial, "returned", "repair", at=LATER, by="ops", reason="lens")
    repaired = rentals.after(returned, repair)
    assert (repaired.shipment_id, repaired.contract_id, repaired.returned_on) == (None,) * 3
    assert repaired.condition is None and repaired.version == 5


def test_a_move_from_another_state_than_the_devices_is_a_bug() -> None:
    move = plan_move("SC1-R-0001", "reserved", "in_stock", at=LATER, by="ops")
    with pytest.raises(ValueError, match="starts from reserved"):
        rentals.after(stock(), move)


# ---- shipped: to rented ----------------------------------------------------------------------


def to_rented(item: StockItem) -> list[Any]:
    return rentals.moves_to_rented(
        item, shipment_id="s1", contract_id="c1", at=LATER, by="warehouse", reason="shipped"
    )


def test_a_device_in_stock_is_rented_through_reserved() -> None:
    moves = to_rented(stock())
    assert [(m.from_state, m.to_state) for m in moves] == [
        ("in_stock", "reserved"),
        ("reserved", "rented"),
    ]
    assert [m.contract_id for m in moves] == [None, "c1"]
    assert {m.shipment_id for m in moves} == {"s1"} and {m.by for m in moves} == {"warehouse"}


def test_a_device_reserved_for_the_shipment_is_rented_and_a_rented_one_is_left_alone() -> None:
    reserved = stock(state="reserved", shipment_id="s1")
    assert [(m.from_state, m.to_state) for m in to_rented(reserved)] == [("reserved", "rented")]
    assert to_rented(stock(state="rented", shipment_id="s1", contract_id="c1")) == []


@pytest.mark.parametrize(
    "changes",
    [
        {"state": "reserved", "shipment_id": "s2"},
        {"state": "rented", "shipment_id": "s2", "contract_id": "c2"},
        {"state": "repair"},
        {"state": "retired"},
        {"state": "returned", "contract_id": "c1"},
    ],
)
def test_a_device_not_ready_is_not_rented(changes: dict[str, Any]) -> None:
    with pytest.raises(Conflict):
        to_rented(stock(**changes))


def test_the_reports_rental_rows_must_name_a_serial_ready_in_stock() -> None:
    rows = [
        row(2, "SC1-R-0001"),  # in stock: fine
        row(3, "SC1-R-0002"),  # reserved for this shipment: fine
        row(4, "SC1-R-0003"),  # not in stock
        row(5, "SC1-R-0004"),  # rented
        row(6, "SC1-R-0005"),  # reserved for another shipment
        row(7, "SC1-R-0006"),  # in stock as another model
        row(8, "SC1-S-0001", model="CAM-ONE-SALE"),  # a sale device: not looked at
        row(9, "SC1-R-0007", sid="shipment_unknown"),  # unknown shipment: check_shipped's
    ]
    held = {
        "SC1-R-0001": stock("SC1-R-0001"),
        "SC1-R-0002": stock("SC1-R-0002", state="reserved", shipment_id="shipment_a"),
        "SC1-R-0004": stock("SC1-R-0004", state="rented", contract_id="c9"),
        "SC1-R-0005": stock("SC1-R-0005", state="reserved", shipment_id="shipment_b"),
        "SC1-R-0006": stock("SC1-R-0006", model="CAM-TWO-RENT"),
    }
    errors = rentals.check_shipped_rentals(
        rows, {"shipment_a": shipment(), "shipment_unknown": None}, held
    )
    assert [(e.line, e.field) for e in errors] == [
        (4, "serial"),
        (5, "serial"),
        (6, "serial"),
        (7, "serial"),
    ]
    messages = [e.message for e in errors]
    assert (
        messages[0]
        == "serial SC1-R-0003 is not in the rental stock (state: none): stock it in first"
    )
    assert messages[1] == "serial SC1-R-0004 is not in the rental stock (state: rented)"
    assert "reserved for shipment shipment_b" in messages[2]
    assert (
        messages[3] == "serial SC1-R-0006 is a CAM-TWO-RENT in the rental stock, not a CAM-ONE-RENT"
    )


# ---- returns ---------------------------------------------------------------------------------


def test_a_return_date_is_from_the_ship_date_to_today() -> None:
    shipped, today = date(2026, 11, 25), date(2027, 1, 10)
    for good in (shipped, today, date(2026, 12, 31)):
        rentals.check_return_date(good, shipped_on=shipped, today=today)
    with pytest.raises(ValidationFailed) as early:
        rentals.check_return_date(date(2026, 11, 24), shipped_on=shipped, today=today)
    assert early.value.details == [
        {"field": "returned_on", "message": "on or after the ship date 2026-11-25"}
    ]
    with pytest.raises(ValidationFailed, match="not possible"):
        rentals.check_return_date(date(2027, 1, 11), shipped_on=shipped, today=today)


# ---- POST /devices ---------------------------------------------------------------------------


def test_stock_in_normalises_serials_and_model() -> None:
    body = StockIn.model_validate(
        {"serials": ["ｓｃ１－ｒ－０００１", " sc1-r-0002 "], "model": "cam-one-rent"}
    )
    assert body.serials == ["SC1-R-0001", "SC1-R-0002"] and body.model == "CAM-ONE-RENT"


@pytest.mark.parametrize(
    ("serials", "problem"),
    [
        ([], "at least 1"),
        ([f"SC1-R-{n:04d}" for n in range(1001)], "at most 1000"),
        (["SC1-R-0001", "sc1-r-0001"], "listed twice"),
        (["SC1-R-0001", "x!"], r"serials\[1\]: a serial number is"),
    ],
)
def test_stock_in_refuses_a_bad_list(serials: list[str], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        StockIn.model_validate({"serials": serials, "model": "CAM-ONE-RENT"})


# ---- the device-stock file -------------------------------------------------------------------


def processor(in_stock: dict[str, str] | None = None) -> DeviceStockCsv:
    def model_check(sku: str) -> str | None:
        return {"CAM-ONE-RENT": None, "CAM-ONE-SALE": "CAM-ONE-SALE is a device for sale"}.get(
            sku, f"{sku} is not in the catalog"
        )

    held = in_stock or {}
    return DeviceStockCsv(
        model_check=model_check, in_stock=lambda serials: {s: held[s] for s in serials if s in held}
    )


def test_the_device_stock_kind_is_registered() -> None:
    assert "device-stock" in kinds.known_kinds()
    assert isinstance(kinds.processor_for("device-stock"), DeviceStockCsv)


def test_a_good_stock_file_in_japanese_headers_and_cp932() -> None:
    data = (
        "機種コード,シリアル番号,備考\r\n"
        "cam-one-rent,ＳＣ１－Ｒ－０００１,入荷分\r\n"
        "CAM-ONE-RENT,SC1-R-0002,\r\n"
    )
    parsed = processor({"SC1-R-0002": "CAM-ONE-RENT"}).parse(data.encode("cp932"))
    assert parsed.errors == []
    assert [(r.line, r.serial, r.model) for r in parsed.rows] == [
        (2, "SC1-R-0001", "CAM-ONE-RENT"),
        (3, "SC1-R-0002", "CAM-ONE-RENT"),
    ]


def test_every_bad_row_of_a_stock_file_is_reported_with_its_line() -> None:
    data = (
        b"serial,model\n"
        b"SC1-R-0001,CAM-ONE-RENT\n"  # 2 fine
        b"x,CAM-ONE-RENT\n"  # 3 not a serial
        b"SC1-R-0003,CAM-ONE-SALE\n"  # 4 a sale device
        b"SC1-R-0004,CAM-NOPE\n"  # 5 unknown
        b"SC1-R-0001,CAM-ONE-RENT\n"  # 6 twice
        b"SC1-R-0006,CAM-ONE-RENT\n"  # 7 in stock as another model
        b",CAM-ONE-RENT\n"  # 8 required
        b"SC1-R-0008\n"  # 9 wrong number of fields
        b"SC1-R-0009,cam one rent\n"  # 10 not a SKU
    )
    parsed = processor({"SC1-R-0006": "CAM-TWO-RENT"}).parse(data)
    assert [(e.line, e.field) for e in parsed.errors] == [
        (3, "serial"),
        (4, "model"),
        (5, "model"),
        (6, "serial"),
        (7, "serial"),
        (8, "serial"),
        (9, None),
        (10, "model"),
    ]
    assert parsed.errors[3].message == "serial SC1-R-0001 is on line 2 already"
    assert parsed.errors[4].message == "serial SC1-R-0006 is in stock as a CAM-TWO-RENT"
    assert [r.line for r in parsed.rows] == [2]


def test_a_stock_file_without_its_columns_is_refused_whole() -> None:
    with pytest.raises(kinds.FileRejected) as refused:
        processor().parse(b"serial,sku\nSC1-R-0001,CAM-ONE-RENT\n")
    assert refused.value.code == "missing_columns"
