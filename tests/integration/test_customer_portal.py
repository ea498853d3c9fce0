"""The customer portal through the local HTTP API on the embedded AWS: a customer user (its
account in ``custom:account_id``) sees only its own invoices, staff are refused on ``/me``;
meter readings are checked against the previous one and billed; a payment-method change
lands on the next invoice and not the one issued; the presigned PDF downloads; an inquiry
becomes a case ops answer."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest

from local.http_api import LocalApiServer
from local.runtime import EmbeddedAWS
from monosub.documents import pdf_rendering_available
from monosub.models.billing import BillingAccount, Component
from monosub.models.catalog import UsageTier
from monosub.store import billing as billing_store

pytestmark = pytest.mark.skipif(
    pdf_rendering_available() is not None, reason=str(pdf_rendering_available())
)
A, B = "account_portala", "account_portalb"


@pytest.fixture
def cloud() -> Iterator[EmbeddedAWS]:
    with EmbeddedAWS(business_time=datetime(2026, 11, 24, 1, 0, tzinfo=UTC)) as embedded:
        yield embedded


@pytest.fixture
def server(cloud: EmbeddedAWS) -> Iterator[LocalApiServer]:
    started = LocalApiServer(cloud).start()
    yield started
    started.stop()


def _components(account_id: str) -> list[Component]:
    contract = f"contract_{account_id[-1]}"
    return [
        Component(
            contract_id=contract,
            key="t1.1",
            name="基本料金",
            sku="PLAN-ENERGY",
            kind="monthly",
            quantity=1,
            unit_price=1100,
            amount=1100,
            starts=date(2026, 11, 1),
        ),
        Component(
            contract_id=contract,
            key="t1.u1",
            name="電力量料金",
            sku="ENERGY-KWH",
            kind="usage",
            quantity=1,
            unit_price=0,
            amount=0,
            starts=date(2026, 11, 1),
            usage_unit="kWh",
            usage_tiers=[UsageTier(up_to=None, unit_yen="30")],
        ),
    ]


def billing_accounts(cloud: EmbeddedAWS) -> None:
    with cloud.as_function("api"):
        for account_id, delivery in ((A, "paper"), (B, "email")):
            assert billing_store.create_account(
                BillingAccount(
                    account_id=account_id,
                    name=f"顧客 {account_id}",
                    email=f"{account_id}@example.jp",
                    postal_code="100-0001",
                    address="東京都千代田区1-1",
                    customer_number=account_id[-6:].upper(),
                    segment="residential",
                    delivery=delivery,
                    components=_components(account_id),
                    contracts=[f"contract_{account_id[-1]}"],
                    created_at="2026-11-01T00:00:00Z",
                    updated_at="2026-11-01T00:00:00Z",
                )
            )


def call(
    server: LocalApiServer, method: str, path: str, headers: dict[str, str], body: Any = None
) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        server.url + path,
        data=data,
        method=method,
        headers={**headers, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_customer_portal(cloud: EmbeddedAWS, server: LocalApiServer):
    billing_accounts(cloud)
    alice = server.bearer("alice", "customer", account_id=A)
    bob = server.bearer("bob", "customer", account_id=B)
    ops = server.bearer("ops1", "ops")

    # who may call: staff never reach /me, a customer never a staff route, no account → 403
    assert call(server, "GET", "/me/invoices", ops)[0] == 403
    assert call(server, "GET", f"/invoices?account_id={A}", alice)[0] == 403
    status, body = call(server, "GET", "/me/invoices", server.bearer("carol", "customer"))
    assert status == 403 and "custom:account_id" in body["message"]

    read_meters(server, alice, bob)

    # November closes; its invoices are issued on 1 December
    cloud.advance(days=8)
    cloud.wait_for_executions()
    status, mine = call(server, "GET", "/me/invoices", alice)
    assert status == 200, mine
    (november,) = mine["invoices"]
    assert (
        november["closing_date"] == "2026-11-30" and november["payment_method"] == "bank-transfer"
    )
    assert november["total"] == 1210  # the plan; use is billed in arrears, in December
    status, theirs = call(server, "GET", "/me/invoices", bob)
    assert [i["invoice_id"] for i in theirs["invoices"]] != [november["invoice_id"]]
    assert all(i["invoice_id"] != november["invoice_id"] for i in theirs["invoices"])

    # paper: the print vendor's archive-portal link; email: none
    assert november["delivery"] == "paper" and november["archive_url"]
    assert theirs["invoices"][0]["archive_url"] is None

    # the presigned PDF downloads, named after the invoice's number
    assert november["pdf"] is not None
    with urllib.request.urlopen(november["pdf"]["url"], timeout=30) as response:
        assert response.read().startswith(b"%PDF")
        assert november["number"] in response.headers["Content-Disposition"]

    # another account's invoice is not found
    other = theirs["invoices"][0]["invoice_id"]
    assert call(server, "POST", f"/me/invoices/{other}/card-payment", alice)[0] == 404

    # a payment-method change from the next invoice: December's, not November's
    bad_kana = {
        "payment_method": "direct-debit",
        "debit_account": {
            "bank_code": "0001",
            "branch_code": "001",
            "account_number": "1234567",
            "holder_name": "山田太郎",
        },
    }
    status, body = call(server, "PUT", "/me/payment-method", alice, bad_kana)
    assert status == 400 and body["details"][0]["field"] == "debit_account.holder_name"
    kana = {**bad_kana, "debit_account": {**bad_kana["debit_account"], "holder_name": "ﾔﾏﾀﾞ ﾀﾛｳ"}}
    status, body = call(server, "PUT", "/me/payment-method", alice, kana)
    assert status == 200, body
    assert body["pending"]["effective_from"] == "2026-12-31"
    assert body["pending"]["details"]["account_number"] == "****567"

    cloud.advance(days=31)
    cloud.wait_for_executions()
    status, mine = call(server, "GET", "/me/invoices", alice)
    december, again = mine["invoices"]
    assert december["closing_date"] == "2026-12-31" and december["payment_method"] == "direct-debit"
    # 250.5 kWh × 30 yen (floored) with December's plan, tax 10%
    assert december["total"] == (1100 + 7515) * 11 // 10
    assert again["invoice_id"] == november["invoice_id"]
    assert again["payment_method"] == "bank-transfer"
    status, method = call(server, "GET", "/me/payment-method", alice)
    assert method == {"payment_method": "direct-debit", "pending": None}

    inquiries(server, alice, bob, ops, november["invoice_id"])


def read_meters(server: LocalApiServer, alice: dict[str, str], bob: dict[str, str]) -> None:
    # meter readings: the first is the starting point, the next bills the use since
    reading = {"sku": "ENERGY-KWH", "meter": "M-001", "read_on": "2026-11-01", "value": "1000"}
    status, body = call(server, "POST", "/me/meter-readings", alice, reading)
    assert status == 201 and body["first_reading"] and body["month_use"] is None
    status, body = call(
        server,
        "POST",
        "/me/meter-readings",
        alice,
        {**reading, "read_on": "2026-11-20", "value": "1250.5"},
    )
    assert (status, body["month_use"]) == (201, "250.5")
    status, body = call(
        server,
        "POST",
        "/me/meter-readings",
        alice,
        {**reading, "read_on": "2026-11-23", "value": "1100"},
    )
    assert status == 400 and "lower than the previous reading 1250.5" in body["message"]
    assert call(server, "POST", "/me/meter-readings", bob, {**reading, "sku": "NOPE"})[0] == 400
    status, chart = call(server, "GET", "/me/consumption?months=3", alice)
    assert status == 200 and chart["months"] == ["2026-09", "2026-10", "2026-11"]
    assert chart["series"] == [
        {
            "service": "ENERGY-KWH",
            "name": "電力量料金",
            "unit": "kWh",
            "values": [None, None, 250.5],
        }
    ]


def inquiries(
    server: LocalApiServer,
    alice: dict[str, str],
    bob: dict[str, str],
    ops: dict[str, str],
    invoice_id: str,
) -> None:
    # an inquiry becomes a case with its due dates; ops list and answer it
    status, case = call(
        server,
        "POST",
        "/me/inquiries",
        alice,
        {"subject": "invoice", "invoice_id": invoice_id, "message": "金額の確認"},
    )
    assert status == 201, case
    assert (case["status"], case["acknowledge_by"] > case["received_at"][:10]) == ("open", True)
    assert call(server, "POST", "/me/inquiries", bob, {**case, "invoice_id": invoice_id})[0] == 400
    assert (
        call(
            server,
            "POST",
            "/me/inquiries",
            bob,
            {"subject": "invoice", "invoice_id": invoice_id, "message": "x"},
        )[0]
        == 404
    )
    status, listed = call(server, "GET", "/inquiries?status=open", ops)
    assert [c["inquiry_id"] for c in listed["inquiries"]] == [case["inquiry_id"]]
    assert call(server, "GET", "/inquiries", alice)[0] == 403
    answer = {"answer": "ご請求は正しい金額です。", "version": 1}
    status, closed = call(server, "POST", f"/inquiries/{case['inquiry_id']}/answer", ops, answer)
    assert status == 200 and closed["status"] == "closed" and closed["answered_by"] == "ops1"
    assert call(server, "POST", f"/inquiries/{case['inquiry_id']}/answer", ops, answer)[0] == 409
    assert call(server, "GET", "/inquiries?status=open", ops)[1]["inquiries"] == []
    status, own = call(server, "GET", "/me/inquiries", alice)
    assert [c["status"] for c in own["inquiries"]] == ["closed"]
    assert call(server, "GET", "/me/inquiries", bob)[1]["inquiries"] == []
