"""A web-shop order paid at checkout, all the way to its first invoice on the embedded AWS:
the checkout's payment is the customer's credit (前受金) until the contract starts; the
first invoice takes it at issue (前受金充当, printed on the 請求書 and in the email), so the
customer is not asked to pay twice. Credit is applied once, however often invoicing reruns,
and never beyond what there is."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from local.runtime import EmbeddedAWS
from monosub.documents import pdf_rendering_available
from monosub.models.web_orders import WebOrder
from monosub.services import billing, payments, web_orders
from monosub.services.payments import Received
from monosub.store import billing as billing_store
from monosub.store import cash as cash_store
from tests.cash_fixtures import a_customer, an_invoice
from tests.integration.test_fulfilment import instruct, shipped_file
from tests.sales_flow import Calls, priced_cloud, sent_mail
from tests.unit.test_documents_pdf import poppler

pytestmark = pytest.mark.skipif(
    pdf_rendering_available() is not None, reason=str(pdf_rendering_available())
)


@pytest.fixture
def cloud() -> Iterator[EmbeddedAWS]:
    with priced_cloud(datetime(2026, 11, 24, 1, 0, tzinfo=UTC)) as embedded:
        yield embedded


def order_body(amount: int) -> dict[str, Any]:
    return {
        "order_id": "WS-1001",
        "ordered_at": "2026-11-24T09:30:00+09:00",
        "segment": "residential",
        "name": "森 大輔",
        "contact": {"person_name": "森 大輔", "email": "daisuke@example.jp"},
        "deal": {
            "name": "Webショップ注文 WS-1001",
            "lines": [{"device_sku": "CAM-ONE-SALE", "plan_sku": "PLAN-30D", "quantity": 2}],
            "requested_delivery_date": "2026-11-27",
            "ship_to": {
                "postal_code": "530-0001",
                "prefecture": "大阪府",
                "city": "大阪市北区",
                "address_line1": "梅田1-1-1",
                "recipient_name": "森 大輔",
                "recipient_phone": "090-2222-3333",
            },
        },
        "payment": {"reference": "pi_3WebShop1001", "status": "paid", "amount": amount},
    }


def test_the_checkout_pays_the_first_invoice_as_credit(cloud: EmbeddedAWS, tmp_path: Path):
    call = Calls(cloud)
    with cloud.as_function("api"):
        probe = web_orders.place_order(
            WebOrder.model_validate({**order_body(1), "order_id": "PROBE"}), client_id="shop"
        )
    paid = int(probe.one_time_total or 0)  # what the two cameras price to, tax included
    assert paid > 0
    with cloud.as_function("api"):
        made = web_orders.place_order(WebOrder.model_validate(order_body(paid)), client_id="shop")
    assert made.status == "confirmed", made
    account_id = str(made.account_id)
    with cloud.as_function("api"):
        assert cash_store.get_credit(account_id).balance == paid
    cloud.wait_for_executions()

    (shipment,) = [
        s
        for s in call("GET", "/shipments", query={"status": "requested"}).json()["shipments"]
        if s["deal_id"] == made.deal_id
    ]
    instruct(cloud)
    cloud.advance(hours=18)
    run = cloud.drop(
        "warehouse-shipments",
        "shipped.csv",
        shipped_file(shipment["shipment_id"], ["SC1-26K-000101", "SC1-26K-000102"]),
    )
    assert run["status"] == "succeeded", run
    cloud.wait_for_executions()

    cloud.set_clock(datetime(2026, 11, 30, 17, 30, tzinfo=UTC))  # month-end, then invoicing
    cloud.wait_for_executions()
    (invoice,) = call("GET", "/invoices", query={"account_id": account_id}).json()["invoices"]
    # the devices (one-time) and six days of the plan: more than the checkout took
    assert invoice["total"] > paid
    assert invoice["credit_applied"] == paid and invoice["amount_paid"] == paid
    assert invoice["status"] == "finalized"  # the prorated plan is still owed
    with cloud.as_function("api"):
        assert cash_store.get_credit(account_id).balance == 0
        [applied] = [
            p for p in cash_store.account_payments(account_id) if p.kind == "credit_applied"
        ]
    assert (applied.amount, applied.credit, applied.method) == (paid, -paid, "credit")

    (mail,) = [m for m in sent_mail() if invoice["number"] in m.subject]
    assert "前受金充当額" in mail.body and "差引お支払額" in mail.body
    with cloud.as_function("api"):
        stored = billing_store.get_invoice(invoice["invoice_id"])
        assert stored is not None
        pdf = billing.invoice_pdf(stored)
    text = poppler("pdftotext", pdf, tmp_path=tmp_path)
    assert "前受金充当額" in text and f"−¥{paid:,}" in text and "差引お支払額" in text

    # a rerun of the batch applies nothing again
    with cloud.as_function("invoicing-batch"):
        billing.invoicing_batch(
            {
                "closing": "2026-11-30",
                "batch": 1,
                "run_id": "rerun",
                "key": "runs/invoicing/2026-11-30/batch-00001.json",
            }
        )
    again = call("GET", f"/invoices/{invoice['invoice_id']}").json()
    assert again["amount_paid"] == paid and again["credit_applied"] == paid


def test_credit_pays_oldest_due_first_once_and_never_beyond_its_balance(cloud: EmbeddedAWS):
    a_customer(
        cloud,
        "acct_c",
        "株式会社シー",
        [
            an_invoice("inv_c2", "acct_c", 8000, due=date(2027, 1, 31)),
            an_invoice("inv_c1", "acct_c", 5000, due=date(2026, 12, 31)),
        ],
    )
    with cloud.as_function("api"):
        payments.record(
            [
                Received(
                    provider="bank",
                    reference="OVER-1",
                    method="bank-transfer",
                    amount=9000,
                    received_on=date(2026, 11, 24),
                    source="test",
                    account_id="acct_c",
                )
            ]
        )
        assert cash_store.get_credit("acct_c").balance == 9000
        issued = list(billing_store.get_invoices(["inv_c1", "inv_c2"]).values())
        first = payments.apply_credit(issued, source="test")
        assert [(r.payment.reference, r.payment.amount, r.new) for r in first] == [
            ("inv_c1", 5000, True),
            ("inv_c2", 4000, True),
        ]
        assert first[0].paid == ["inv_c1"] and first[1].paid == []
        again = payments.apply_credit(
            list(billing_store.get_invoices(["inv_c1", "inv_c2"]).values()), source="test"
        )
        assert [r.new for r in again] == [False]  # inv_c2 still owed: its application found
        assert cash_store.get_credit("acct_c").balance == 0
        c2 = billing_store.get_invoice("inv_c2")
        assert c2 is not None and (c2.amount_paid, c2.credit_applied) == (4000, 4000)
