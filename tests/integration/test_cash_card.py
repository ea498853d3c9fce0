"""Card payments on the embedded AWS: a payment link made through the API and the Stripe SDK
(against the local fake Stripe), the customer paying, and Stripe's webhook events reaching the
stripe-webhook function: applied once, redelivered, out of order, refunds, disputes, failures;
forged, stale and re-serialized deliveries refused with 400 and recorded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from local.runtime import EmbeddedAWS
from monosub.store import billing as billing_store
from monosub.store import cash as cash_store
from tests.cash_fixtures import a_customer, an_invoice
from tests.sales_flow import Calls, trail

NOW = datetime(2026, 12, 10, 1, 0, tzinfo=UTC)


@pytest.fixture
def cloud() -> Iterator[EmbeddedAWS]:
    with EmbeddedAWS(business_time=NOW) as embedded:
        yield embedded


@pytest.fixture
def call(cloud: EmbeddedAWS) -> Calls:
    return Calls(cloud)


def card_customer(cloud: EmbeddedAWS, account_id: str, total: int = 11000) -> str:
    invoice_id = f"inv_{account_id}"
    a_customer(
        cloud,
        account_id,
        "カード払いの顧客",
        [an_invoice(invoice_id, account_id, total, due=date(2026, 12, 31), method="card")],
        payment_method="card",
    )
    return invoice_id


def invoice(cloud: EmbeddedAWS, invoice_id: str):  # type: ignore[no-untyped-def]
    with cloud.as_function("stripe-webhook"):
        return billing_store.get_invoice(invoice_id)


def pay_link(call: Calls, invoice_id: str) -> dict:  # type: ignore[type-arg]
    response = call("POST", f"/invoices/{invoice_id}/card-payment", groups="ops")
    assert response.status == 200, response
    return response.json()  # type: ignore[no-any-return]


def test_a_customer_pays_by_card_and_redelivery_changes_nothing(cloud: EmbeddedAWS, call: Calls):
    invoice_id = card_customer(cloud, "acct_card1")
    link = pay_link(call, invoice_id)
    assert link["amount"] == 11000 and link["url"].startswith("http")
    assert call("POST", f"/invoices/{invoice_id}/card-payment", groups="agency").status == 403

    intent = cloud.stripe.pay_checkout(link["session_id"])
    paid = invoice(cloud, invoice_id)
    assert (paid.status, paid.amount_paid) == ("paid", 11000)
    # both events (payment_intent.succeeded, checkout.session.completed) name one payment
    [event_a, event_b] = [e["id"] for e in cloud.stripe.events[-2:]]
    for event_id in (event_a, event_b, event_a):
        cloud.stripe.resend(event_id)
    again = invoice(cloud, invoice_id)
    assert (again.amount_paid, len(again.payments)) == (11000, 1)
    with cloud.as_function("stripe-webhook"):
        [payment] = cash_store.account_payments("acct_card1")
        assert (payment.reference, payment.method, payment.amount) == (intent, "card", 11000)
        noted = cash_store.webhook_event("stripe", event_a)
    assert noted is not None and noted["status"] == "applied"
    kinds = [e["type"] for e in trail(cloud, "invoice", invoice_id)]
    assert kinds.count("InvoicePaid") == 1
    # nothing is owed now: no second link
    assert call("POST", f"/invoices/{invoice_id}/card-payment", groups="ops").status == 409


def test_forged_stale_and_reserialized_deliveries_are_refused_and_recorded(cloud: EmbeddedAWS):
    invoice_id = card_customer(cloud, "acct_card2")
    cloud.stripe.on_event = None  # deliver by hand
    with cloud.as_function("api"):
        link = pay_link(Calls(cloud), invoice_id)
    cloud.stripe.pay_checkout(link["session_id"])
    payload, signature = cloud.stripe.outbox[0]

    forged = cloud.deliver_stripe_event(payload, "t=1,v1=" + "0" * 64)
    assert forged["statusCode"] == 400
    assert json.loads(forged["body"])["details"]["reason"] == "bad-signature"
    stale = cloud.deliver_stripe_event(
        payload, cloud.stripe.sign(payload, int(NOW.timestamp()) - 600)
    )
    assert json.loads(stale["body"])["details"]["reason"] == "stale-timestamp"
    compact = json.dumps(json.loads(payload), separators=(",", ":")).encode()
    reserialized = cloud.deliver_stripe_event(compact, signature)
    assert json.loads(reserialized["body"])["details"]["reason"] == "bad-signature"
    missing = cloud.deliver_stripe_event(payload, "")
    assert json.loads(missing["body"])["details"]["reason"] == "missing-signature"
    assert invoice(cloud, invoice_id).amount_paid == 0  # nothing of them was used
    with cloud.as_function("stripe-webhook"):
        rejected = cash_store.webhook_rejections(date(2026, 12, 10))
    assert sorted(r["reason"] for r in rejected) == [
        "bad-signature",
        "bad-signature",
        "missing-signature",
        "stale-timestamp",
    ]
    assert all(r["sha256"] and r["source_ip"] for r in rejected)

    good = cloud.deliver_stripe_event(payload, signature)
    assert good["statusCode"] == 200
    assert invoice(cloud, invoice_id).status == "paid"


def test_events_out_of_order_refunds_and_disputes(cloud: EmbeddedAWS, call: Calls):
    invoice_id = card_customer(cloud, "acct_card3", total=22000)
    cloud.stripe.on_event = None
    link = pay_link(call, invoice_id)
    intent = cloud.stripe.pay_checkout(link["session_id"])
    cloud.stripe.refund(intent, 2000)
    cloud.stripe.refund(intent, 3000)
    # Stripe promises no order: the refunds first, newest first, then the payment
    for payload, signature in reversed(cloud.stripe.outbox):
        assert cloud.deliver_stripe_event(payload, signature)["statusCode"] == 200
    after = invoice(cloud, invoice_id)
    assert (after.status, after.amount_paid, after.balance) == ("finalized", 17000, 5000)
    with cloud.as_function("stripe-webhook"):
        amounts = sorted(p.amount for p in cash_store.account_payments("acct_card3"))
    assert amounts == [-3000, -2000, 22000]

    cloud.stripe.outbox.clear()
    dispute = cloud.stripe.dispute(intent)
    for payload, signature in cloud.stripe.outbox:
        cloud.deliver_stripe_event(payload, signature)
    disputed = invoice(cloud, invoice_id)
    assert disputed.amount_paid == 0 and disputed.balance == 22000
    queued = call("GET", "/exceptions", groups="ops", query={"kind": "card-dispute"}).json()
    [item] = queued["exceptions"]
    assert (item["reference"], item["amount"], item["actions"]) == (
        dispute,
        -17000,
        ["acknowledge", "reject"],
    )
    answered = call(
        "POST",
        f"/exceptions/{item['exception_id']}/resolve",
        {"action": "acknowledge", "version": 1, "note": "証拠をStripeに提出"},
        groups="ops",
    )
    assert answered.status == 200 and answered.json()["status"] == "resolved"


def test_failures_and_payments_for_unknown_invoices(cloud: EmbeddedAWS, call: Calls):
    invoice_id = card_customer(cloud, "acct_card4")
    cloud.stripe.invoice_payment_failed("in_001", 11000, {"monosub_invoice_id": invoice_id})
    failed = invoice(cloud, invoice_id)
    assert failed.payment_failure is not None
    assert (failed.payment_failure.method, failed.status) == ("card", "finalized")
    assert "PaymentFailed" in [e["type"] for e in trail(cloud, "invoice", invoice_id)]

    cloud.stripe.invoice_paid("in_001", 11000, {"monosub_invoice_id": invoice_id})
    assert invoice(cloud, invoice_id).status == "paid"

    cloud.stripe.invoice_paid("in_002", 5500, {"monosub_invoice_id": "inv_unknown"})
    queued = call("GET", "/exceptions", groups="ops").json()["exceptions"]
    assert [(e["kind"], e["amount"]) for e in queued] == [("payment-unmatched", 5500)]
