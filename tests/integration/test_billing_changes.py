"""Mid-term changes, rental returns and voids on the embedded AWS, through the HTTP API: a
change reaching back before the last closing is billed as adjustments at the next one and is
in the audit trail; a retry with the same key changes nothing more; a returned rental device
bills its line one fewer from the next day, once; a void invoice gets a numbered credit note
and the next closing bills its charges again."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from local.ops_page import subject_of
from local.runtime import EmbeddedAWS
from monosub.documents import pdf_rendering_available
from monosub.domain import billing as engine
from monosub.store import billing as billing_store
from tests.integration import test_rentals
from tests.integration.test_billing import started_contract
from tests.integration.test_fulfilment import an_order
from tests.sales_flow import Calls, attachments_of, priced_cloud, sent_mail, trail

pytestmark = pytest.mark.skipif(
    pdf_rendering_available() is not None, reason=str(pdf_rendering_available())
)
OPS = {"groups": "ops", "user": "ops-sato"}


@pytest.fixture
def cloud() -> Iterator[EmbeddedAWS]:
    with priced_cloud(datetime(2026, 11, 24, 1, 0, tzinfo=UTC)) as embedded:
        yield embedded


@pytest.fixture
def call(cloud: EmbeddedAWS) -> Calls:
    return Calls(cloud)


def key(value: str) -> dict[str, str]:
    return {"Idempotency-Key": value}


def invoices(call: Calls, account_id: str) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = call(
        "GET", "/invoices", query={"account_id": account_id}
    ).json()["invoices"]
    return listed


def first_closing(cloud: EmbeddedAWS) -> None:
    """To 2 December, 02:30 in Tokyo: November's closing invoiced."""
    cloud.set_clock(datetime(2026, 12, 1, 17, 30, tzinfo=UTC))
    cloud.wait_for_executions()


def refusals(call: Calls, path: str, body: dict[str, Any]) -> None:
    """No key, a caller not allowed or not seeing the contract, and the checks' fields."""
    assert call("POST", path, body).status == 400  # no Idempotency-Key
    assert call("POST", path, body, headers=key("agency"), groups="agency").status == 403
    hidden = call("POST", path, body, headers=key("hidden"), groups="regional-manager")
    assert hidden.status == 404  # a corporate customer's contract

    wrong = call(
        "POST",
        path,
        {
            "effective_date": "2026-11-20",
            "changes": [
                {"sku": "CAM-ONE-SALE", "quantity": 1},
                {"sku": "OPT-DOWNLOAD", "quantity": 3},
                {"sku": "OPT-DOWNLOAD", "quantity": 1},
            ],
            "reason": "誤り",
        },
        headers=key("k0"),
    )
    assert wrong.status == 400, wrong
    fields = [d["field"] for d in wrong.json()["details"]]
    assert fields == [
        "effective_date",
        "changes[0].sku",
        "changes[1].quantity",
        "changes[2].sku",
    ], wrong.json()


def test_a_change_reaching_back_is_billed_as_adjustments(cloud: EmbeddedAWS, call: Calls):
    pending = an_order(cloud, call, quantity=1)
    early = call(
        "POST",
        f"/contracts/{pending['contract_id']}/changes",
        {
            "effective_date": "2026-11-25",
            "changes": [{"sku": "PLAN-30D", "quantity": 2}],
            "reason": "増設",
        },
        headers=key("early"),
    )
    assert early.status == 409, early  # not active yet

    contract = started_contract(cloud, call)
    contract_id, account_id = contract["contract_id"], contract["account_id"]
    first_closing(cloud)
    (november,) = invoices(call, account_id)
    path = f"/contracts/{contract_id}/changes"
    body = {
        "effective_date": "2026-11-28",
        "changes": [{"sku": "PLAN-30D", "quantity": 2}, {"sku": "OPT-AI-COUNT", "quantity": 2}],
        "reason": "1台撤去、AI人数カウントを追加",
    }
    refusals(call, path, body)

    changed = call("POST", path, body, headers=key("k1"))
    assert changed.status == 201, changed
    result = changed.json()
    assert result["change"]["number"] == 1 and result["change"]["by"] == "tanaka"
    assert result["change"]["previous"] == {"PLAN-30D": 3, "OPT-AI-COUNT": 0}
    components = {c["key"]: c for c in result["components"]}
    plan = next(c for c in components.values() if c["sku"] == "PLAN-30D" and c["key"] < "t")
    old_plan = next(c for c in components.values() if c["sku"] == "PLAN-30D" and c is not plan)
    assert old_plan["ends"] == "2026-11-27"
    assert (plan["quantity"], plan["starts"], plan["unit_price"]) == (2, "2026-11-28", 2180)
    ai = next(c for c in components.values() if c["sku"] == "OPT-AI-COUNT")
    assert (ai["key"], ai["quantity"], ai["amount"]) == ("c1.02", 2, 2000)

    replayed = call("POST", path, body, headers=key("k1"))  # a retry: the same answer
    assert replayed.status == 201 and replayed.headers.get("Idempotent-Replayed") == "true"
    assert replayed.json() == result
    account = call("GET", f"/billing-accounts/{account_id}").json()
    assert [c["number"] for c in account["changes"]] == [1]
    (published,) = [
        e for e in trail(cloud, "account", account_id) if e["type"] == "ContractChanged"
    ]
    assert published["source"] == "monosub.billing"
    assert published["detail"]["contract_id"] == contract_id
    assert published["detail"]["reason"] == body["reason"]

    # December's closing: November adjusted to the day, December at the new quantities
    cloud.set_clock(datetime(2026, 12, 31, 17, 30, tzinfo=UTC))
    cloud.wait_for_executions()
    december = invoices(call, account_id)[0]
    assert december["invoice_id"] != november["invoice_id"]
    lines = {(line["component"], line["month"]): line for line in december["lines"]}
    adjustment = lines[(old_plan["key"], "2026-11")]
    billed_before = engine.prorate(6540, 25, 30, 30)
    assert adjustment["adjustment"] and adjustment["amount"] == (
        engine.prorate(6540, 25, 27, 30) - billed_before
    )
    assert lines[(plan["key"], "2026-11")]["amount"] == engine.prorate(4360, 28, 30, 30)
    assert lines[(ai["key"], "2026-11")]["amount"] == engine.prorate(2000, 28, 30, 30)
    assert lines[(plan["key"], "2026-12")]["amount"] == 4360
    assert lines[(ai["key"], "2026-12")]["amount"] == 2000
    assert (old_plan["key"], "2026-12") not in lines


def test_a_returned_rental_device_bills_its_line_one_fewer(cloud: EmbeddedAWS, call: Calls):
    shipment, _ = test_rentals.shipped_rentals(cloud, call)
    serial = test_rentals.SERIALS[0]
    returned = call(
        "POST",
        f"/devices/{serial}/return",
        {"returned_on": "2026-11-25", "condition": "good"},
        **OPS,
    )
    assert returned.status == 200, returned
    cloud.wait_for_executions()
    account = call("GET", f"/billing-accounts/{shipment['account_id']}").json()
    (applied,) = account["returns"]
    assert applied["serial"] == serial and applied["returned_on"] == "2026-11-25"
    assert sorted(applied["skus"]) == ["CAM-ONE-RENT", "PLAN-30D"]
    mine = [c for c in account["components"] if c["kind"] == "monthly" and not c["discount"]]
    new = {c["sku"]: c for c in mine if c["key"].startswith("r1.")}
    assert {sku: (c["quantity"], c["starts"]) for sku, c in new.items()} == {
        "CAM-ONE-RENT": (1, "2026-11-26"),
        "PLAN-30D": (1, "2026-11-26"),
    }
    old = [c for c in mine if c["key"].startswith("t1.")]
    assert old and all(c["ends"] == "2026-11-25" for c in old)

    # the same event delivered again changes nothing
    detail = {
        "serial": serial,
        "contract_id": shipment["contract_id"],
        "line_id": shipment["items"][0]["line_id"],
        "returned_on": "2026-11-25",
    }
    event = {"source": "monosub.fulfilment", "detail-type": "DeviceReturned", "detail": detail}
    assert cloud.invoke("billing-contracts", event) == {"outcome": "already applied"}
    again = call("GET", f"/billing-accounts/{shipment['account_id']}").json()
    assert again["components"] == account["components"] and len(again["returns"]) == 1


def test_a_void_invoice_gets_a_credit_note_and_is_billed_again(cloud: EmbeddedAWS, call: Calls):
    contract = started_contract(cloud, call)
    account_id = contract["account_id"]
    first_closing(cloud)
    (invoice,) = invoices(call, account_id)
    path = f"/invoices/{invoice['invoice_id']}/void"
    reason = {"reason": "宛名誤り"}
    assert call("POST", path, reason).status == 403  # sales
    assert call("POST", path, {}, **OPS).status == 400

    voided = call("POST", path, reason, **OPS)
    assert voided.status == 200, voided
    note = voided.json()["credit_note"]
    assert voided.json()["invoice"]["status"] == "void"
    assert voided.json()["invoice"]["void_reason"] == "宛名誤り"
    assert (note["kind"], note["status"], note["number"]) == (
        "credit_note",
        "finalized",
        "CN-2026-000001",
    )
    assert note["original_invoice_id"] == invoice["invoice_id"] and note["total"] > 0
    assert (note["lines"], note["taxes"], note["total"]) == (
        invoice["lines"],
        invoice["taxes"],
        invoice["total"],
    )
    # the 適格返還請求書 PDF names the invoice it corrects
    assert note["pdf_key"] == "invoices/2026/CN-2026-000001.pdf"
    pdf = call("GET", f"/invoices/{note['invoice_id']}/pdf")
    assert pdf.status == 200 and base64.b64decode(pdf.text).startswith(b"%PDF")
    # the customer is told, the 返還請求書 attached (once)
    told = [m for m in sent_mail() if "取消のお知らせ" in subject_of(m)]
    assert len(told) == 1 and attachments_of(told[0]) == ["CN-2026-000001.pdf"]
    assert note["delivered_at"] is not None
    again = call("POST", path, reason, **OPS)
    assert again.status == 200 and again.json()["credit_note"] == note
    with cloud.as_function("api"):
        assert billing_store.last_number("CN-2026") == 1
    assert len([m for m in sent_mail() if "取消のお知らせ" in subject_of(m)]) == 1
    refused = call("POST", f"/invoices/{note['invoice_id']}/void", reason, **OPS)
    assert refused.status == 409
    account = call("GET", f"/billing-accounts/{account_id}").json()
    assert account["given_back"] == [invoice["invoice_id"]]
    assert not any("|2026-11" in k or k.endswith("|once") for k in account["billed"])

    # December's closing bills November's charges again, as ordinary lines, and December
    cloud.set_clock(datetime(2026, 12, 31, 17, 30, tzinfo=UTC))
    cloud.wait_for_executions()
    latest = invoices(call, account_id)
    december = next(i for i in latest if i["kind"] == "invoice" and i["status"] == "finalized")
    assert december["number"] == "INV-2026-000002"
    again_billed = {
        (line["component"], line["month"]): line["amount"]
        for line in december["lines"]
        if line["month"] != "2026-12"
    }
    assert again_billed == {
        (line["component"], line["month"]): line["amount"] for line in invoice["lines"]
    }
    assert not any(line["adjustment"] for line in december["lines"])
