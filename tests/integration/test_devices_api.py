"""The rental device stock through the real API handler on the embedded AWS: stocking in by
API and by file (whole or not at all, idempotent), listing by state and model, moves allowed,
refused and stale, and who may do what."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from local.runtime import EmbeddedAWS
from tests.sales_flow import Calls, priced_cloud

OPS = {"groups": "ops", "user": "ops-sato"}
TWO_RENT = {
    "sku": "CAM-TWO-RENT",
    "name": "クラウドカメラ TWO（レンタル）",
    "kind": "device",
    "acquisition": "rental",
    "price": {"monthly_yen": 1480, "valid_from": "2026-04-01"},
}


@pytest.fixture(scope="module")
def cloud() -> Iterator[EmbeddedAWS]:
    with priced_cloud(datetime(2026, 11, 24, 1, 0, tzinfo=UTC)) as embedded:
        call = Calls(embedded)
        assert call("POST", "/catalog/products", TWO_RENT, **OPS).status == 201
        yield embedded


@pytest.fixture
def call(cloud: EmbeddedAWS) -> Calls:
    return Calls(cloud)


def stock_in(call: Calls, serials: list[str], model: str = "CAM-ONE-RENT", **who: str):
    return call("POST", "/devices", {"serials": serials, "model": model}, **(who or OPS))


def test_stock_in_is_all_or_nothing_and_idempotent(call: Calls):
    first = stock_in(call, ["API-0001", "api-0002"])
    assert first.status == 201, first
    assert first.json() == {
        "model": "CAM-ONE-RENT",
        "created": ["API-0001", "API-0002"],
        "existing": [],
    }
    again = stock_in(call, ["API-0002", "API-0003"])
    assert again.status == 201
    assert again.json()["created"] == ["API-0003"] and again.json()["existing"] == ["API-0002"]
    same = stock_in(call, ["API-0001", "API-0002", "API-0003"])
    assert same.status == 200 and same.json()["created"] == []

    clash = stock_in(call, ["API-0004", "API-0001"], model="CAM-TWO-RENT")
    assert clash.status == 409, clash
    assert clash.json()["details"] == [
        {"serial": "API-0001", "model": "CAM-TWO-RENT", "in_stock_as": "CAM-ONE-RENT"}
    ]
    assert call("GET", "/devices/API-0004", **OPS).status == 404  # nothing was stocked

    device = call("GET", "/devices/api-0001", **OPS).json()
    assert device["state"] == "in_stock" and device["version"] == 1 and device["shipped"] is None
    assert [(m["from_state"], m["to_state"], m["by"]) for m in device["moves"]] == [
        (None, "in_stock", "ops-sato")
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"serials": ["API-0101"], "model": "CAM-ONE-SALE"}, "model"),  # a sale device
        ({"serials": ["API-0101"], "model": "PLAN-30D"}, "model"),
        ({"serials": ["API-0101"], "model": "CAM-NOPE"}, "model"),
        ({"serials": [], "model": "CAM-ONE-RENT"}, "serials"),
        ({"serials": [f"API-{n:05d}" for n in range(1001)], "model": "CAM-ONE-RENT"}, "serials"),
        ({"serials": ["API-0101", "x"], "model": "CAM-ONE-RENT"}, "serials"),
    ],
)
def test_stock_in_refuses_what_is_not_a_rental_device(call: Calls, body, field):
    refused = call("POST", "/devices", body, **OPS)
    assert refused.status == 400, refused
    assert [d["field"] for d in refused.json()["details"]] == [field]


def test_a_stock_file_is_validated_whole_and_applied_idempotently(cloud: EmbeddedAWS, call: Calls):
    stock_in(call, ["FILE-0009"], model="CAM-TWO-RENT")
    bad = (
        b"serial,model\r\n"
        b"FILE-0001,CAM-ONE-RENT\r\n"
        b"FILE-0002,CAM-ONE-SALE\r\n"  # a sale device
        b"FILE-0009,CAM-ONE-RENT\r\n"  # in stock as CAM-TWO-RENT
    )
    run = cloud.drop("device-stock", "bad.csv", bad)
    assert run["status"] == "quarantined", run
    assert [(e["line"], e["field"]) for e in run["errors"]] == [(3, "model"), (4, "serial")]
    assert call("GET", "/devices/FILE-0001", **OPS).status == 404

    good = "シリアル番号,機種コード\r\nFILE-0001,CAM-ONE-RENT\r\nFILE-0009,cam-two-rent\r\n"
    run = cloud.drop("device-stock", "good.csv", good.encode("cp932"))
    assert run["status"] == "succeeded", run
    assert run["counts"]["devices_stocked"] == 1 and run["counts"]["devices_existing"] == 1
    device = call("GET", "/devices/FILE-0001", **OPS).json()
    assert device["moves"][0]["by"] == f"run:{run['run_id']}"
    again = cloud.drop("device-stock", "again.csv", (good + "FILE-0003,CAM-ONE-RENT\r\n").encode())
    assert again["status"] == "succeeded", again
    assert again["counts"]["devices_stocked"] == 1 and again["counts"]["devices_existing"] == 2


def test_the_stock_is_listed_by_state_and_model_in_pages(call: Calls):
    stock_in(call, [f"LIST-A{n}" for n in range(1, 6)])
    stock_in(call, ["LIST-B1", "LIST-B2"], model="CAM-TWO-RENT")
    moved = call(
        "POST",
        "/devices/LIST-A5/moves",
        {"to": "repair", "reason": "レンズ割れ", "version": 1},
        **OPS,
    )
    assert moved.status == 200, moved

    def serials(query, **who):
        response = call("GET", "/devices", query=query, **(who or OPS))
        assert response.status == 200, response
        return [d["serial"] for d in response.json()["devices"] if d["serial"].startswith("LIST")]

    assert serials({"state": "in_stock", "model": "CAM-ONE-RENT"}) == [
        "LIST-A1",
        "LIST-A2",
        "LIST-A3",
        "LIST-A4",
    ]
    assert serials({"state": "in_stock", "model": "cam-two-rent"}) == ["LIST-B1", "LIST-B2"]
    assert serials({"state": "repair"}) == ["LIST-A5"]
    assert serials({"model": "CAM-TWO-RENT"}, groups="sales", user="tanaka") == [
        "LIST-B1",
        "LIST-B2",
    ]

    pages, query = [], {"model": "CAM-ONE-RENT", "limit": "2"}
    while True:
        page = call("GET", "/devices", query=query, **OPS).json()
        pages.append([d["serial"] for d in page["devices"]])
        if not page["next"]:
            break
        query = {**query, "next": page["next"]}
    listed = [serial for page in pages for serial in page if serial.startswith("LIST")]
    assert listed == ["LIST-A1", "LIST-A2", "LIST-A3", "LIST-A4", "LIST-A5"]  # in_stock, repair
    assert all(len(page) <= 2 for page in pages)
    assert call("GET", "/devices", query={"next": "bm9wZQ"}, **OPS).status == 400
    assert call("GET", "/devices", query={"state": "lost"}, **OPS).status == 400


def test_moves_follow_the_table_on_the_version_read(call: Calls):
    stock_in(call, ["MOVE-0001"])
    path = "/devices/MOVE-0001/moves"
    no_reason = call("POST", path, {"to": "retired", "version": 1}, **OPS)
    assert no_reason.status == 400
    assert no_reason.json()["details"] == [
        {"field": "reason", "message": "say why the device goes to retired"}
    ]
    refused = call("POST", path, {"to": "returned", "version": 1}, **OPS)
    assert refused.status == 409
    rented = call("POST", path, {"to": "rented", "version": 1}, **OPS)
    assert rented.status == 409 and "shipping" in rented.json()["message"]
    unknown = call(
        "POST", path, {"to": "reserved", "version": 1, "shipment_id": "shipment_nope"}, **OPS
    )
    assert unknown.status == 400

    repair = call("POST", path, {"to": "repair", "reason": "電源不良", "version": 1}, **OPS)
    assert repair.status == 200 and repair.json()["state"] == "repair"
    assert repair.json()["version"] == 2
    stale = call("POST", path, {"to": "in_stock", "version": 1}, **OPS)
    assert stale.status == 409
    assert stale.json()["details"] == {"expected_version": 1, "version": 2, "state": "repair"}
    disallowed = call("POST", path, {"to": "reserved", "version": 2, "shipment_id": "x"}, **OPS)
    assert disallowed.status == 409
    assert disallowed.json()["details"]["allowed"] == ["in_stock", "retired"]
    back = call("POST", path, {"to": "in_stock", "version": 2}, **OPS)
    assert back.status == 200
    retired = call("POST", path, {"to": "retired", "reason": "廃棄", "version": 3}, **OPS)
    assert retired.status == 200
    final = call("POST", path, {"to": "in_stock", "version": 4}, **OPS)
    assert final.status == 409 and "final" in final.json()["message"]

    device = call("GET", "/devices/MOVE-0001", groups="sales").json()
    assert [m["to_state"] for m in device["moves"]] == ["retired", "in_stock", "repair", "in_stock"]
    assert device["moves"][0]["reason"] == "廃棄" and device["moves"][0]["version"] == 4


@pytest.mark.parametrize(
    ("method", "path", "groups"),
    [
        ("POST", "/devices", "sales"),
        ("POST", "/devices/DENY-0001/moves", "sales"),
        ("POST", "/devices/DENY-0001/return", "sales"),
        ("POST", "/devices/DENY-0001/return", "regional-manager"),
        ("GET", "/devices", "agency"),
        ("GET", "/devices", "corporate-manager"),
        ("GET", "/devices/DENY-0001", "agency"),
    ],
)
def test_only_ops_keep_the_stock_and_only_ops_and_sales_read_it(
    call: Calls, method: str, path: str, groups: str
):
    denied = call(method, path, {}, groups=groups)
    assert denied.status == 403, denied


def test_an_unknown_or_malformed_serial(call: Calls):
    assert call("GET", "/devices/NOPE-0001", **OPS).status == 404
    assert call("GET", "/devices/x", **OPS).status == 400
