"""Replacing a rented device of an active contract, end to end on the embedded AWS: the
request makes a replacement shipment, the daily instruction file carries it (marked as a
replacement), the warehouse reports the new serial, the shipping-kitting run binds it on the
local device platform without starting anything, ``DeviceReplaced`` goes on the bus and the
local regulator gets one device-change notification naming both meters; the old device's
return then completes the replacement without a second notification, and billing is the
same as without the replacement."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from local.runtime import EmbeddedAWS
from local.supplier_server import NotificationRecipients
from monosub.adapters import notification_delivery
from monosub.documents import pdf_rendering_available
from monosub.domain.notifications import RECIPIENTS_SECRET
from monosub.services import fulfilment
from tests.integration import test_rentals
from tests.sales_flow import Calls, priced_cloud, trail

pytestmark = pytest.mark.skipif(
    pdf_rendering_available() is not None, reason=str(pdf_rendering_available())
)
OPS = {"groups": "ops", "user": "ops-sato"}
NEW = "RNT-26K-0009"


@pytest.fixture
def local() -> Iterator[tuple[EmbeddedAWS, NotificationRecipients]]:
    with (
        NotificationRecipients() as recipients,
        priced_cloud(datetime(2026, 11, 24, 1, 0, tzinfo=UTC)) as cloud,
    ):
        cloud.client("secretsmanager").put_secret_value(
            SecretId=cloud.names.secrets[RECIPIENTS_SECRET],
            SecretString=recipients.secret_value(),
        )
        notification_delivery.forget_cached_settings()
        yield cloud, recipients
    notification_delivery.forget_cached_settings()


@pytest.fixture
def cloud(local: tuple[EmbeddedAWS, NotificationRecipients]) -> EmbeddedAWS:
    return local[0]


@pytest.fixture
def recipients(local: tuple[EmbeddedAWS, NotificationRecipients]) -> NotificationRecipients:
    return local[1]


@pytest.fixture
def call(cloud: EmbeddedAWS) -> Calls:
    return Calls(cloud)


def device_changes(recipients: NotificationRecipients) -> dict[str, list[dict[str, Any]]]:
    """The device-change notifications each recipient received."""
    return {
        "regulator": [
            n for n in recipients.regulator.received().values() if n["event"] == "device-change"
        ],
        "supplier-soap": [
            n
            for n in recipients.supplier_soap.received().values()
            if n.get("event") == "device-change"
        ],
    }


def billing_of(call: Calls, account_id: str) -> dict[str, Any]:
    account: dict[str, Any] = call("GET", f"/billing-accounts/{account_id}").json()
    return {"components": account["components"], "returns": account["returns"]}


def test_a_broken_rental_is_replaced_told_once_and_billed_as_before(
    cloud: EmbeddedAWS, recipients: NotificationRecipients, call: Calls
):
    old, kept = test_rentals.SERIALS
    shipment, _ = test_rentals.shipped_rentals(cloud, call)
    contract_id, account_id = shipment["contract_id"], shipment["account_id"]
    path = f"/contracts/{contract_id}/device-replacements"
    contract = call("GET", f"/contracts/{contract_id}").json()
    assert contract["status"] == "active"
    billed_before = billing_of(call, account_id)
    assert call("POST", "/devices", {"serials": [NEW], "model": test_rentals.RENTAL}, **OPS)
    broken = {"serial": old, "reason": "broken", "note": "電源が入らない"}

    refusals(call, path, broken)

    replacement = requested(call, path, broken)
    rid, sid = replacement["replacement_id"], replacement["shipment_id"]
    assert billing_of(call, account_id) == billed_before  # nothing charged

    instructed(cloud, sid, old)

    # the warehouse reports the new serial; kitting binds it; nothing starts
    cloud.advance(hours=18)
    run = cloud.drop(
        "warehouse-shipments", "rep.csv", test_rentals.shipped_file(sid, [NEW], on="2026-11-26")
    )
    assert run["status"] == "succeeded", run
    cloud.wait_for_executions()
    bindings = cloud.device_platform.bindings()
    assert (bindings[NEW]["status"], bindings[old]["status"]) == ("active", "active")
    bound(call, path, rid, contract)
    assert call("GET", f"{path}/{rid}").json()["line_id"] == shipment["items"][0]["line_id"]
    replaced = [e for e in trail(cloud, "account", account_id) if e["type"] == "DeviceReplaced"]
    assert [(e["detail"]["old_serial"], e["detail"]["new_serial"]) for e in replaced] == [
        (old, NEW)
    ]
    told_once(recipients, old)
    assert billing_of(call, account_id) == billed_before

    # the kitting step again (a re-drive): nothing twice
    with cloud.as_function("kitting-complete"):
        fulfilment.complete_shipment({"shipment_id": sid})
    cloud.wait_for_executions()
    replaced = [e for e in trail(cloud, "account", account_id) if e["type"] == "DeviceReplaced"]
    assert len(replaced) == 1 and len(device_changes(recipients)["regulator"]) == 1

    # the old device comes back: the replacement is done, no second notification, same billing
    back = call(
        "POST",
        f"/devices/{old}/return",
        {"returned_on": "2026-11-26", "condition": "damaged"},
        **OPS,
    )
    assert back.status == 200, back
    cloud.wait_for_executions()
    finished = call("GET", f"{path}/{rid}").json()
    assert finished["status"] == "completed" and finished["old_returned_on"] == "2026-11-26"
    assert cloud.device_platform.bindings()[old]["status"] == "unbound"
    (returned,) = [e for e in trail(cloud, "account", account_id) if e["type"] == "DeviceReturned"]
    assert returned["detail"]["replacement_id"] == rid
    assert len(device_changes(recipients)["regulator"]) == 1
    assert billing_of(call, account_id) == billed_before
    # the old device is not replaced again; the contract's other one can be
    assert call("POST", path, broken, headers=key("k3")).status == 409
    assert call("POST", path, {**broken, "serial": kept}, headers=key("k4")).status == 201

    # the month's invoice: two cameras and their plans, as without the replacement
    cloud.set_clock(datetime(2026, 12, 1, 17, 30, tzinfo=UTC))
    cloud.wait_for_executions()
    invoices = call("GET", "/invoices", query={"account_id": account_id}).json()["invoices"]
    (invoice,) = invoices
    components = {c["key"]: c for c in billed_before["components"]}
    # the components as before the replacement (two cameras, two plans), 25–30 November
    assert {line["component"]: line["amount"] for line in invoice["lines"]} == {
        k: c["unit_price"] * c["quantity"] * 6 // 30 for k, c in components.items()
    }
    assert sorted((c["sku"], c["quantity"]) for c in components.values()) == [
        (test_rentals.RENTAL, 2),
        ("PLAN-30D", 2),
    ]


def requested(call: Calls, path: str, broken: dict[str, Any]) -> dict[str, Any]:
    """The replacement made by a sales rep, replayed, refused a second time, listed."""
    old = broken["serial"]
    made = call("POST", path, broken, headers=key("k1"))  # a sales rep
    assert made.status == 201, made
    replacement = made.json()
    assert replacement["status"] == "requested" and replacement["old_serial"] == old
    assert replacement["acquisition"] == "rental" and replacement["new_serial"] is None
    replayed = call("POST", path, broken, headers=key("k1"))
    assert replayed.status == 201 and replayed.json() == replacement  # the middleware's replay
    again = call("POST", path, broken, headers=key("k2"))
    assert again.status == 409 and replacement["replacement_id"] in again.json()["message"]
    rid, sid = replacement["replacement_id"], replacement["shipment_id"]
    listed = call("GET", path).json()["replacements"]
    assert [r["replacement_id"] for r in listed] == [rid]
    assert call("GET", f"{path}/{rid}").json()["shipment_id"] == sid
    assert call("GET", f"{path}/replacement_nope").status == 404
    made_shipment = call("GET", f"/shipments/{sid}").json()
    assert made_shipment["kind"] == "replacement" and made_shipment["replaces_serial"] == old
    assert [(i["device_sku"], i["quantity"]) for i in made_shipment["items"]] == [
        (test_rentals.RENTAL, 1)
    ]
    return replacement


def bound(call: Calls, path: str, rid: str, contract: dict[str, Any]) -> None:
    """The new device bound: the replacement waits for the old one; the contract as it was."""
    contract_id = contract["contract_id"]
    done = call("GET", f"{path}/{rid}").json()
    assert done["status"] == "awaiting_return" and done["new_serial"] == NEW
    assert done["effective_date"] == "2026-11-26" and done["return_due_on"] == "2026-12-10"
    assert done["return_overdue"] is False and done["replaced_published_at"]
    assert call("GET", f"/shipments/{done['shipment_id']}").json()["status"] == "shipped"
    after = call("GET", f"/contracts/{contract_id}").json()
    assert (after["status"], after["start_date"]) == ("active", contract["start_date"])
    new_device = call("GET", f"/devices/{NEW}", **OPS).json()
    assert new_device["state"] == "rented" and new_device["contract_id"] == contract_id
    assert new_device["shipped"]["line_id"] == done["line_id"]
    old = done["old_serial"]
    assert call("GET", f"/devices/{old}", **OPS).json()["shipped"]["replaced_by"] == rid


def told_once(recipients: NotificationRecipients, old: str) -> None:
    """One device change per recipient that takes it, naming both meters to the regulator."""
    changes = device_changes(recipients)
    (told,) = changes["regulator"]
    assert told["meter_serial"] == NEW and told["previous_meter_serial"] == old
    assert told["effective_date"] == "2026-11-26"
    assert [n["meterSerial"] for n in changes["supplier-soap"]] == [NEW]


def refusals(call: Calls, path: str, broken: dict[str, Any]) -> None:
    # refusals: no key, an unknown contract, a serial not bound to it, a wrong role
    assert call("POST", path, broken, **OPS).status == 400
    unknown = call(
        "POST", "/contracts/contract_nope/device-replacements", broken, headers=key("k0"), **OPS
    )
    assert unknown.status == 404
    stranger = call("POST", path, {**broken, "serial": NEW}, headers=key("k0"), **OPS)
    assert stranger.status == 409 and NEW in stranger.json()["message"]
    assert call("POST", path, broken, headers=key("k0"), groups="agency").status == 403


def instructed(cloud: EmbeddedAWS, sid: str, old: str) -> None:
    # the day's instruction file (15:00): the replacement in it, marked as one
    cloud.set_clock(datetime(2026, 11, 25, 6, 0, tzinfo=UTC))
    body = cloud.s3.get_object(
        Bucket=cloud.bucket("exchange"),
        Key="outbox/warehouse/2026-11-25/shipping-instructions-20261125.csv",
    )["Body"].read()
    (row,) = list(csv.DictReader(io.StringIO(body.decode("cp932"))))
    assert row["出荷指示番号"] == sid and row["数量"] == "1"
    assert row["備考"] == f"【交換品】機器交換 旧機器 {old} 回収"


def key(value: str) -> dict[str, str]:
    return {"Idempotency-Key": value}
