"""Rentals end to end on the embedded AWS: an agreed order for rental cameras is instructed,
the warehouse reports the serials it shipped (which must be ready in the rental stock), the
kitting run binds them and each becomes rented under the contract; a returned device is
unbound on the local device platform, moved to returned and ``DeviceReturned`` is in the
audit trail. A platform outage during a return changes nothing, and the same return sent
again completes it."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from local.runtime import EmbeddedAWS
from monosub import events
from monosub.documents import pdf_rendering_available
from monosub.formats.warehouse import parse_shipped_devices
from monosub.services import fulfilment
from tests.sales_flow import Calls, a_deal, priced_cloud, sent_mail, token_of, trail

pytestmark = pytest.mark.skipif(
    pdf_rendering_available() is not None, reason=str(pdf_rendering_available())
)
OPS = {"groups": "ops", "user": "ops-sato"}
SHIPPED_HEADER = "shipment_id,model,serial,ship_date,carrier,tracking_number\r\n"
RENTAL = "CAM-ONE-RENT"


@pytest.fixture
def cloud() -> Iterator[EmbeddedAWS]:
    with priced_cloud(datetime(2026, 11, 24, 1, 0, tzinfo=UTC)) as embedded:
        yield embedded


@pytest.fixture
def call(cloud: EmbeddedAWS) -> Calls:
    return Calls(cloud)


def a_rental_order(
    cloud: EmbeddedAWS, call: Calls, *, quantity: int, today: str = "2026-11-24"
) -> dict[str, Any]:
    """A deal renting ``quantity`` cameras, quoted, agreed (at 10:00 in Tokyo on ``today``)
    and instructed (15:00), then the clock at the next morning: returns its shipment."""
    deal = a_deal(call, quantity=quantity)
    changed = call(
        "PATCH",
        f"/deals/{deal['deal_id']}",
        {
            "version": deal["version"],
            "requested_delivery_date": f"{today[:8]}{int(today[8:]) + 3}",
            "lines": [{"device_sku": RENTAL, "plan_sku": "PLAN-30D", "quantity": quantity}],
        },
    )
    assert changed.status == 200, changed
    quote = call("POST", f"/deals/{deal['deal_id']}/quotes", {}).json()
    call("POST", f"/quotes/{quote['quote_id']}/send", {"version": 1})
    token = token_of(sent_mail()[-1])
    page = call("GET", f"/consent/{token}", groups=None).text
    shown = page.split('name="document" value="')[1][:64]
    assert call.form(f"/consent/{token}", {"decision": "agree", "document": shown}).status == 200
    cloud.wait_for_executions()
    listed = call("GET", "/shipments", query={"status": "requested"}).json()["shipments"]
    (shipment,) = [s for s in listed if s["deal_id"] == deal["deal_id"]]
    assert [(i["device_sku"], i["acquisition"]) for i in shipment["items"]] == [(RENTAL, "rental")]
    cloud.set_clock(datetime.fromisoformat(f"{today}T06:00:00+00:00"))  # 15:00 JST: the file
    body = cloud.s3.get_object(
        Bucket=cloud.bucket("exchange"),
        Key=f"outbox/warehouse/{today}/shipping-instructions-{today.replace('-', '')}.csv",
    )["Body"].read()
    rows = list(csv.DictReader(io.StringIO(body.decode("cp932"))))
    assert [(r["出荷指示番号"], r["機種コード"]) for r in rows] == [
        (shipment["shipment_id"], RENTAL)
    ]
    cloud.advance(hours=18)  # 09:00 the next day the warehouse reports what it shipped
    return shipment


def shipped_file(shipment_id: str, serials: list[str], *, on: str = "2026-11-25") -> bytes:
    rows = "".join(
        f"{shipment_id},{RENTAL},{serial},{on},ヤマト運輸,4512-3456-{n:04d}\r\n"
        for n, serial in enumerate(serials)
    )
    return (SHIPPED_HEADER + rows).encode("utf-8")


SERIALS = ["RNT-26K-0001", "RNT-26K-0002"]


def shipped_rentals(cloud: EmbeddedAWS, call: Calls) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two cameras stocked in, one of them reserved by hand, a rental order for two,
    instructed, reported shipped and kitted: (the shipment, the warehouse file's run)."""
    serials = SERIALS
    assert call("POST", "/devices", {"serials": serials, "model": RENTAL}, **OPS).status == 201
    shipment = a_rental_order(cloud, call, quantity=2)
    sid = shipment["shipment_id"]
    reserved = call(
        "POST",
        f"/devices/{serials[1]}/moves",
        {"to": "reserved", "version": 1, "shipment_id": sid},
        **OPS,
    )
    assert reserved.status == 200, reserved

    run = cloud.drop("warehouse-shipments", "shipped.csv", shipped_file(sid, serials))
    assert run["status"] == "succeeded", run
    cloud.wait_for_executions()
    return shipment, run


def test_shipped_rental_serials_are_rented_under_the_contract(cloud: EmbeddedAWS, call: Calls):
    serials = SERIALS
    shipment, run = shipped_rentals(cloud, call)
    sid = shipment["shipment_id"]
    assert run["counts"]["rented"] == 2
    assert sorted(cloud.device_platform.bindings()) == serials
    after = call("GET", f"/shipments/{sid}").json()
    assert after["status"] == "shipped"

    rented = call("GET", "/devices", query={"state": "rented", "model": RENTAL}).json()
    assert [d["serial"] for d in rented["devices"]] == serials
    assert {d["contract_id"] for d in rented["devices"]} == {shipment["contract_id"]}
    first = call("GET", f"/devices/{serials[0]}", **OPS).json()
    assert [(m["from_state"], m["to_state"], m["by"]) for m in first["moves"]] == [
        ("reserved", "rented", "warehouse"),
        ("in_stock", "reserved", "warehouse"),
        (None, "in_stock", "ops-sato"),
    ]
    assert first["moves"][0]["reason"] == "shipped"
    assert first["moves"][0]["shipment_id"] == sid
    assert first["shipped"]["kitting"] == "pushed" and first["shipped"]["shipment_id"] == sid
    second = call("GET", f"/devices/{serials[1]}", **OPS).json()
    assert [m["to_state"] for m in second["moves"]] == ["rented", "reserved", "in_stock"]
    assert second["moves"][1]["by"] == "ops-sato"

    # the same file's apply again (a retried step) rents nothing twice
    with cloud.as_function("intake-apply"):
        rows = parse_shipped_devices(shipped_file(sid, serials)).rows
        again = fulfilment.record_shipped(rows, run_id=run["run_id"])
    assert again["rented"] == 0 and again["already_recorded"] == 2
    assert call("GET", f"/devices/{serials[0]}", **OPS).json()["version"] == 3


def test_a_return_unbinds_the_device_and_tells_billing(
    cloud: EmbeddedAWS, call: Calls, monkeypatch: pytest.MonkeyPatch
):
    serials = SERIALS
    shipment, _ = shipped_rentals(cloud, call)
    path = f"/devices/{serials[0]}/return"
    good = {"returned_on": "2026-11-25", "condition": "damaged", "note": "筐体に傷"}
    for day in ("2026-11-24", "2026-11-26"):  # before shipping; tomorrow
        assert call("POST", path, {**good, "returned_on": day}, **OPS).status == 400
    assert call("POST", path, good, groups="sales").status == 403
    assert (
        call("POST", f"/devices/{serials[1]}/moves", {"to": "returned", "version": 3}, **OPS).status
        == 409
    )

    cloud.device_platform.fail_next(1)
    down = call("POST", path, good, **OPS)
    assert down.status == 503, down
    assert "send the same return again" in down.json()["message"]
    unchanged = call("GET", f"/devices/{serials[0]}", **OPS).json()
    assert unchanged["state"] == "rented" and unchanged["version"] == 3
    assert cloud.device_platform.bindings()[serials[0]]["status"] == "active"

    class BusDown:  # the write succeeds, the event does not go out (a crash in between)
        def publish(self, *_: Any) -> None:
            raise RuntimeError("the event bus is down")

    monkeypatch.setattr(events, "default_publisher", BusDown())
    with pytest.raises(RuntimeError, match="event bus"):
        call("POST", path, good, **OPS)
    monkeypatch.undo()
    half = call("GET", f"/devices/{serials[0]}", **OPS).json()
    assert half["state"] == "returned" and half["return_published_at"] is None

    returned = call("POST", path, good, **OPS)  # the same return again: the event goes out
    assert returned.status == 200, returned
    assert returned.json()["version"] == half["version"]
    device = returned.json()
    assert device["state"] == "returned" and device["returned_on"] == "2026-11-25"
    assert device["condition"] == "damaged" and device["return_published_at"]
    binding = cloud.device_platform.bindings()[serials[0]]
    assert binding["status"] == "unbound" and binding["ended_on"] == "2026-11-25"
    keys = [
        r.headers["Idempotency-Key"]
        for r in cloud.device_platform.requests_for(serials[0])
        if r.path.endswith("/unbind")
    ]
    # the outage, the attempt whose event was lost, the retry: one key, replayed
    assert keys == [f"{serials[0]}:return:2026-11-25"] * 2
    assert cloud.device_platform.bindings()[serials[1]]["status"] == "active"

    again = call("POST", path, good, **OPS)  # the same return again: nothing more
    assert again.status == 200 and again.json()["version"] == device["version"]
    moves = call("GET", f"/devices/{serials[0]}", **OPS).json()["moves"]
    assert [m["to_state"] for m in moves].count("returned") == 1
    assert moves[0]["unbind"] == "unbound" and moves[0]["reason"] == "筐体に傷"

    published = [
        e for e in trail(cloud, "account", shipment["account_id"]) if e["type"] == "DeviceReturned"
    ]
    assert len(published) == 1
    detail = published[0]["detail"]
    assert detail["serial"] == serials[0] and detail["returned_on"] == "2026-11-25"
    assert detail["contract_id"] == shipment["contract_id"]
    assert detail["line_id"] == shipment["items"][0]["line_id"]
    assert detail["account_id"] == shipment["account_id"]
    assert published[0]["source"] == "monosub.fulfilment"

    checked = call(
        "POST",
        f"/devices/{serials[0]}/moves",
        {"to": "repair", "reason": "筐体交換", "version": device["version"]},
        **OPS,
    )
    assert checked.status == 200 and checked.json()["contract_id"] is None


def test_a_returned_and_restocked_device_ships_to_the_next_renter(cloud: EmbeddedAWS, call: Calls):
    serials = SERIALS
    first, _ = shipped_rentals(cloud, call)
    returned = call(
        "POST",
        f"/devices/{serials[0]}/return",
        {"returned_on": "2026-11-25", "condition": "good"},
        **OPS,
    ).json()
    assert returned["state"] == "returned"

    second = a_rental_order(cloud, call, quantity=1, today="2026-11-25")
    sid = second["shipment_id"]
    # not restocked yet: the device is still "returned", and the file says which
    early = cloud.drop(
        "warehouse-shipments", "early.csv", shipped_file(sid, [serials[0]], on="2026-11-26")
    )
    assert early["status"] == "quarantined"
    assert [e["message"] for e in early["errors"]] == [
        f"serial {serials[0]} is already in shipment {first['shipment_id']}",
        f"serial {serials[0]} is not in the rental stock (state: returned)",
    ]
    # a device still rented elsewhere is refused as before
    busy = cloud.drop(
        "warehouse-shipments", "busy.csv", shipped_file(sid, [serials[1]], on="2026-11-26")
    )
    assert busy["status"] == "quarantined"

    restocked = call(
        "POST",
        f"/devices/{serials[0]}/moves",
        {"to": "in_stock", "reason": "点検済み", "version": returned["version"]},
        **OPS,
    )
    assert restocked.status == 200, restocked
    run = cloud.drop(
        "warehouse-shipments", "again.csv", shipped_file(sid, [serials[0]], on="2026-11-26")
    )
    assert run["status"] == "succeeded", run
    cloud.wait_for_executions()

    device = call("GET", f"/devices/{serials[0]}", **OPS).json()
    assert device["state"] == "rented" and device["contract_id"] == second["contract_id"]
    assert device["shipped"]["shipment_id"] == sid and device["shipped"]["kitting"] == "pushed"
    assert device["shipped"]["binding_version"] == 2  # the platform holds version 1, unbound
    binding = cloud.device_platform.bindings()[serials[0]]
    assert binding["status"] == "active" and binding["version"] == 2
    assert call("GET", f"/shipments/{sid}").json()["status"] == "shipped"
    # the first shipment keeps its history of the device
    history = call("GET", f"/shipments/{first['shipment_id']}").json()["devices"]
    assert serials[0] in [d["serial"] for d in history]


def test_a_shipped_rental_serial_not_in_stock_quarantines_the_file(cloud: EmbeddedAWS, call: Calls):
    assert (
        call("POST", "/devices", {"serials": ["RNT-OK-0001"], "model": RENTAL}, **OPS).status == 201
    )
    call("POST", "/devices", {"serials": ["RNT-FIX-0001"], "model": RENTAL}, **OPS)
    fix = call(
        "POST",
        "/devices/RNT-FIX-0001/moves",
        {"to": "repair", "reason": "故障", "version": 1},
        **OPS,
    )
    assert fix.status == 200
    shipment = a_rental_order(cloud, call, quantity=3)
    run = cloud.drop(
        "warehouse-shipments",
        "shipped.csv",
        shipped_file(shipment["shipment_id"], ["RNT-OK-0001", "RNT-NEW-0001", "RNT-FIX-0001"]),
    )
    assert run["status"] == "quarantined", run
    assert [(e["line"], e["field"], e["message"]) for e in run["errors"]] == [
        (
            3,
            "serial",
            "serial RNT-NEW-0001 is not in the rental stock (state: none): stock it in first",
        ),
        (4, "serial", "serial RNT-FIX-0001 is not in the rental stock (state: repair)"),
    ]
    assert call("GET", "/devices/RNT-OK-0001", **OPS).json()["state"] == "in_stock"
    assert cloud.executions("shipping-kitting") == []
    assert call("GET", f"/shipments/{shipment['shipment_id']}").json()["devices"] == []
