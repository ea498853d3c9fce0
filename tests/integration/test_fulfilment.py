"""Fulfilment on the embedded AWS: an agreed order becomes a shipment, the daily schedule
writes the warehouse's instruction file, the warehouse's report of serials is validated whole
and starts the shipping/kitting state machine (the real ASL), which pushes each binding to
the local device platform (retrying when it fails), marks the shipment shipped, starts the
contract on the ship date and emails the customer. A bad file changes nothing; a push that
keeps failing is re-driven by ops without reshipping."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from local.runtime import EmbeddedAWS
from monosub.documents import pdf_rendering_available
from tests.sales_flow import Calls, a_deal, priced_cloud, sent_mail, token_of

pytestmark = pytest.mark.skipif(
    pdf_rendering_available() is not None, reason=str(pdf_rendering_available())
)
SHIPPED_HEADER = "shipment_id,model,serial,ship_date,carrier,tracking_number\r\n"


@pytest.fixture
def cloud() -> Iterator[EmbeddedAWS]:
    with priced_cloud(datetime(2026, 11, 24, 1, 0, tzinfo=UTC)) as embedded:
        yield embedded


@pytest.fixture
def call(cloud: EmbeddedAWS) -> Calls:
    return Calls(cloud)


def an_order(cloud: EmbeddedAWS, call: Calls, *, quantity: int = 3) -> dict[str, Any]:
    """A deal for ``quantity`` cameras wanted on 2026-11-27, quoted and agreed: returns the
    shipment the order made."""
    deal = a_deal(call, quantity=quantity)
    changed = call(
        "PATCH",
        f"/deals/{deal['deal_id']}",
        {"version": deal["version"], "requested_delivery_date": "2026-11-27"},
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
    return shipment


def instruct(cloud: EmbeddedAWS) -> list[dict[str, str]]:
    """15:00 in Tokyo: the daily instruction file; returns its rows."""
    fired = cloud.advance(hours=5)  # 10:00 → 15:00 JST
    assert any(f["rule"].endswith("warehouse-instructions-daily") for f in fired), fired
    keys = [
        o["Key"]
        for o in cloud.s3.list_objects_v2(
            Bucket=cloud.bucket("exchange"), Prefix="outbox/warehouse/"
        ).get("Contents", [])
    ]
    assert keys == ["outbox/warehouse/2026-11-24/shipping-instructions-20261124.csv"], keys
    body = cloud.s3.get_object(Bucket=cloud.bucket("exchange"), Key=keys[0])["Body"].read()
    return list(csv.DictReader(io.StringIO(body.decode("cp932"))))


def shipped_file(shipment_id: str, serials: list[str], model: str = "CAM-ONE-SALE") -> bytes:
    rows = "".join(
        f"{shipment_id},{model},{serial},2026-11-25,ヤマト運輸,4512-3456-{n:04d}\r\n"
        for n, serial in enumerate(serials)
    )
    return (SHIPPED_HEADER + rows).encode("utf-8")


def test_an_order_is_instructed_shipped_kitted_and_started(cloud: EmbeddedAWS, call: Calls):
    shipment = an_order(cloud, call, quantity=3)
    assert shipment["ship_date"] == "2026-11-25" and shipment["status"] == "requested"
    rows = instruct(cloud)
    assert [r["出荷指示番号"] for r in rows] == [shipment["shipment_id"]]
    assert rows[0]["数量"] == "3" and rows[0]["機種コード"] == "CAM-ONE-SALE"
    again = cloud.invoke("warehouse-instructions", {"time": "2026-11-24T06:00:00Z"})
    assert again["rerun"] is True
    instructed = call("GET", f"/shipments/{shipment['shipment_id']}").json()
    assert instructed["status"] == "instructed"

    cloud.advance(hours=18)  # the next morning the warehouse reports what it shipped
    cloud.device_platform.fail_next(2)  # the platform is briefly down: retried
    serials = ["SC1-26K-000001", "SC1-26K-000002", "SC1-26K-000003"]
    run = cloud.drop(
        "warehouse-shipments",
        "shipped-20261125.csv",
        shipped_file(shipment["shipment_id"], serials),
    )
    assert run["status"] == "succeeded", run
    assert run["counts"]["devices"] == 3 and run["counts"]["kitting_started"] == 1
    cloud.wait_for_executions()
    (execution,) = cloud.executions("shipping-kitting")
    assert execution["status"] == "SUCCEEDED", [i.error for i in cloud.invocations if i.errored]

    bindings = cloud.device_platform.bindings()
    assert sorted(bindings) == serials
    assert bindings[serials[0]]["binding"]["plan_sku"] == "PLAN-30D"
    assert [r.status for r in cloud.device_platform.requests][:2] == [503, 503]
    after = call("GET", f"/shipments/{shipment['shipment_id']}").json()
    assert after["status"] == "shipped" and after["shipped_on"] == "2026-11-25"
    assert {d["kitting"] for d in after["devices"]} == {"pushed"}
    contract = call("GET", f"/contracts/{after['contract_id']}").json()
    assert contract["status"] == "active" and contract["start_date"] == "2026-11-25"
    message = sent_mail()[-1]
    assert "出荷のお知らせ" in message.subject
    assert all(serial in message.body for serial in serials)


def test_a_bad_report_is_quarantined_whole_and_changes_nothing(cloud: EmbeddedAWS, call: Calls):
    shipment = an_order(cloud, call, quantity=2)
    instruct(cloud)
    cloud.advance(hours=18)
    sid = shipment["shipment_id"]
    bad = (
        SHIPPED_HEADER
        + f"{sid},CAM-ONE-SALE,SC1-OK-0001,2026-11-25,ヤマト運輸,4512-0000-0001\r\n"
        + f"{sid},CAM-OTHER,SC1-OK-0002,2026-11-25,ヤマト運輸,4512-0000-0002\r\n"
        + "shipment_nope,CAM-ONE-SALE,SC1-OK-0003,2026-11-25,ヤマト運輸,4512-0000-0003\r\n"
        + f"{sid},CAM-ONE-SALE,SC1-OK-0001,2026-11-25,ヤマト運輸,4512-0000-0004\r\n"
        + f"{sid},CAM-ONE-SALE,SC1-OK-0005,2026-13-01,ヤマト運輸,4512-0000-0005\r\n"
    ).encode("utf-8")
    run = cloud.drop("warehouse-shipments", "shipped-bad.csv", bad)
    assert run["status"] == "quarantined", run
    lines = sorted({e["line"] for e in run["errors"]})
    assert lines == [3, 4, 5, 6], run["errors"]
    after = call("GET", f"/shipments/{sid}").json()
    assert after["devices"] == [] and after["status"] == "instructed"
    assert cloud.executions("shipping-kitting") == []
    assert cloud.device_platform.bindings() == {}


def test_more_devices_than_ordered_is_refused(cloud: EmbeddedAWS, call: Calls):
    shipment = an_order(cloud, call, quantity=1)
    instruct(cloud)
    cloud.advance(hours=18)
    run = cloud.drop(
        "warehouse-shipments",
        "too-many.csv",
        shipped_file(shipment["shipment_id"], ["SC1-A-0001", "SC1-A-0002"]),
    )
    assert run["status"] == "quarantined"
    assert [e["line"] for e in run["errors"]] == [3]


def test_a_push_that_keeps_failing_is_redriven_without_reshipping(cloud: EmbeddedAWS, call: Calls):
    shipment = an_order(cloud, call, quantity=2)
    instruct(cloud)
    cloud.advance(hours=18)
    cloud.device_platform.fail_next(100)
    run = cloud.drop(
        "warehouse-shipments",
        "shipped.csv",
        shipped_file(shipment["shipment_id"], ["SC1-B-0001", "SC1-B-0002"]),
    )
    assert run["status"] == "succeeded"  # the file is applied; kitting is its own run
    cloud.wait_for_executions()
    (execution,) = cloud.executions("shipping-kitting")
    assert execution["status"] == "FAILED"
    runs = call("GET", "/runs", groups="ops", query={"kind": "shipping-kitting"}).json()["runs"]
    (kitting,) = runs
    assert kitting["status"] == "failed"
    assert kitting["errors"][0]["error"] == "DevicePlatformUnavailable"
    cloud.device_platform.reset()
    retried = call("POST", f"/runs/{kitting['run_id']}/retry", groups="ops")
    assert retried.status == 202, retried
    cloud.wait_for_executions()
    after = call("GET", f"/shipments/{shipment['shipment_id']}").json()
    assert after["status"] == "shipped"
    assert sorted(cloud.device_platform.bindings()) == ["SC1-B-0001", "SC1-B-0002"]
    assert call("GET", f"/runs/{kitting['run_id']}", groups="ops").json()["status"] == "succeeded"


def test_installation_starts_the_contract_on_its_date(cloud: EmbeddedAWS, call: Calls):
    shipment = an_order(cloud, call, quantity=1)
    from monosub.services import fulfilment
    from monosub.store import shipments as store

    with cloud.as_function("api"):
        current = store.get(shipment["shipment_id"])
        assert current is not None
        store.save(
            current.model_copy(
                update={"installation_needed": True, "version": current.version + 1}
            ),
            expected_version=current.version,
        )
    instruct(cloud)
    cloud.advance(hours=18)
    cloud.drop(
        "warehouse-shipments",
        "shipped.csv",
        shipped_file(shipment["shipment_id"], ["SC1-C-0001"]),
    )
    cloud.wait_for_executions()
    sid = shipment["shipment_id"]
    shipped = call("GET", f"/shipments/{sid}").json()
    assert shipped["status"] == "shipped"
    contract = call("GET", f"/contracts/{shipped['contract_id']}").json()
    assert contract["status"] == "pending_start"
    done = {"installed_on": "2026-11-25", "engineer": "設置 太郎"}
    assert (
        call("POST", f"/shipments/{sid}/installation-complete", done, groups="agency").status == 403
    )
    early = call(
        "POST", f"/shipments/{sid}/installation-complete", {**done, "installed_on": "2026-11-20"}
    )
    assert early.status == 400
    installed = call("POST", f"/shipments/{sid}/installation-complete", done)
    assert installed.status == 200, installed
    assert installed.json()["status"] == "installed"
    again = call("POST", f"/shipments/{sid}/installation-complete", done)
    assert again.status == 200
    contract = call("GET", f"/contracts/{shipped['contract_id']}").json()
    assert contract["status"] == "active" and contract["start_date"] == "2026-11-25"
    assert fulfilment.SOURCE == "monosub.fulfilment"
