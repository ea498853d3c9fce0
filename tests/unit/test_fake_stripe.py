"""The local fake Stripe (no AWS): its events carry signatures the SDK itself accepts and the
shapes Stripe sends; balance transactions and the payout reconciliation CSV add up; its API
answers the SDK as Stripe does (auth, routes, idempotency)."""

from __future__ import annotations

import csv
import io
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import stripe
from hypothesis import given, settings
from hypothesis import strategies as st
from stripe._encode import _api_encode  # how the SDK encodes a request body

from local.fake_stripe import (
    CARD_FEE_PER_MILLE,
    DISPUTE_FEE,
    PAYOUT_COLUMNS,
    FakeStripeServer,
    decode_form,
)
from monosub.adapters.stripe_gateway import StripeConfig, create_checkout_session

SECRET = "whsec_fake_stripe_test"
AT = datetime(2026, 5, 20, 3, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeStripeServer]:
    with FakeStripeServer(SECRET) as running:
        yield running


@pytest.fixture
def fake(server: FakeStripeServer) -> FakeStripeServer:
    server.reset()
    server.on_event = None
    server.now = lambda: datetime.now(UTC)  # the wall clock: what the SDK itself checks
    return server


def sdk_verified(payload: bytes, header: str) -> dict[str, Any]:
    """The event as the SDK's own construct_event (wall clock, tolerance 300 s) accepts it."""
    event = stripe.Webhook.construct_event(payload, header, SECRET)
    return dict(json.loads(payload)) if event.id else {}


def delivered(fake: FakeStripeServer) -> list[dict[str, Any]]:
    return [sdk_verified(payload, header) for payload, header in fake.outbox]


def paid_checkout(fake: FakeStripeServer, invoice_id: str = "inv_01", amount: int = 11000) -> str:
    config = StripeConfig(fake.api_key, SECRET, fake.url, network_retries=0)
    link = create_checkout_session(
        invoice_id=invoice_id,
        invoice_number="INV-0001",
        amount=amount,
        customer_email=None,
        success_url="https://x/ok",
        cancel_url="https://x/cancel",
        config=config,
    )
    return fake.pay_checkout(link.session_id)


def test_a_paid_checkout_sends_signed_events_the_sdk_accepts(fake: FakeStripeServer) -> None:
    intent_id = paid_checkout(fake)
    events = delivered(fake)
    assert [e["type"] for e in events] == ["payment_intent.succeeded", "checkout.session.completed"]
    intent, session = (e["data"]["object"] for e in events)
    assert intent["id"] == intent_id and intent["status"] == "succeeded"
    assert (intent["amount"], intent["amount_received"]) == (11000, 11000)
    assert intent["metadata"] == {"monosub_invoice_id": "inv_01"}
    charge = fake.get(intent["latest_charge"])
    assert charge["payment_intent"] == intent_id and charge["paid"]
    txn = fake.get(charge["balance_transaction"])
    assert (txn["amount"], txn["fee"], txn["net"]) == (11000, 396, 10604)  # 3.6 %
    assert session["payment_intent"] == intent_id and session["payment_status"] == "paid"
    assert session["metadata"] == {"monosub_invoice_id": "inv_01"}
    for event in events:
        assert event["id"].startswith("evt_") and event["object"] == "event"


def test_events_go_to_the_callback_when_there_is_one(fake: FakeStripeServer) -> None:
    got: list[tuple[bytes, str]] = []
    fake.on_event = lambda payload, header: got.append((payload, header))
    paid_checkout(fake)
    assert len(got) == 2 and fake.outbox == []
    assert all(sdk_verified(p, h) for p, h in got)


def test_the_sdk_refuses_what_the_fake_signs_with_another_secret_or_time(
    fake: FakeStripeServer,
) -> None:
    paid_checkout(fake)
    payload, _ = fake.outbox[0]
    old = fake.sign(payload, int(datetime.now(UTC).timestamp()) - 301)
    with pytest.raises(stripe.SignatureVerificationError, match="tolerance"):
        stripe.Webhook.construct_event(payload, old, SECRET)
    other = FakeStripeServer("whsec_other").sign(payload)
    with pytest.raises(stripe.SignatureVerificationError, match="matching"):
        stripe.Webhook.construct_event(payload, other, SECRET)


def test_resend_is_the_same_bytes_with_a_new_signature(fake: FakeStripeServer) -> None:
    sent_at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=10)
    fake.now = lambda: sent_at
    paid_checkout(fake)
    payload, header = fake.outbox[0]
    event_id = json.loads(payload)["id"]
    fake.now = lambda: sent_at + timedelta(seconds=5)
    again = fake.resend(event_id)
    assert fake.outbox[-1] == (payload, again) and again != header
    assert again.startswith(f"t={int(sent_at.timestamp()) + 5},")
    assert sdk_verified(payload, again)["id"] == event_id


def test_event_times_come_from_now(fake: FakeStripeServer) -> None:
    fake.now = lambda: AT
    paid_checkout(fake)
    payload, header = fake.outbox[0]
    assert json.loads(payload)["created"] == int(AT.timestamp())
    assert header.startswith(f"t={int(AT.timestamp())},v1=")


def test_a_declined_intent(fake: FakeStripeServer) -> None:
    config = StripeConfig(fake.api_key, SECRET, fake.url, network_retries=0)
    client = stripe.StripeClient(config.api_key, base_addresses={"api": fake.url})
    intent = client.v1.payment_intents.create(
        {"amount": 3000, "currency": "jpy", "metadata": {"monosub_invoice_id": "inv_9"}}
    )
    fake.fail_intent(intent.id, code="insufficient_funds")
    (event,) = delivered(fake)
    assert event["type"] == "payment_intent.payment_failed"
    failed = event["data"]["object"]
    assert failed["status"] == "requires_payment_method"
    assert failed["last_payment_error"]["code"] == "insufficient_funds"
    assert failed["metadata"] == {"monosub_invoice_id": "inv_9"}
    fake.pay_intent(intent.id)  # another card works
    assert delivered(fake)[-1]["data"]["object"]["amount_received"] == 3000
    assert client.v1.payment_intents.retrieve(intent.id).status == "succeeded"


def test_refunds_are_cumulative_on_the_charge(fake: FakeStripeServer) -> None:
    intent_id = paid_checkout(fake)
    first = fake.refund(intent_id, 4000)
    second = fake.refund(intent_id)  # the rest
    with pytest.raises(ValueError):
        fake.refund(intent_id, 1)
    refunded = [e for e in delivered(fake) if e["type"] == "charge.refunded"]
    assert [e["data"]["object"]["amount_refunded"] for e in refunded] == [4000, 11000]
    assert [e["data"]["previous_attributes"]["amount_refunded"] for e in refunded] == [0, 4000]
    assert [e["data"]["object"]["refunded"] for e in refunded] == [False, True]
    charge = refunded[-1]["data"]["object"]
    assert [r["id"] for r in charge["refunds"]["data"]] == [second, first]
    assert charge["payment_intent"] == intent_id
    txn = fake.get(fake.get(first)["balance_transaction"])
    assert (txn["amount"], txn["fee"], txn["net"], txn["reporting_category"]) == (
        -4000,
        0,
        -4000,
        "refund",
    )


def test_a_dispute(fake: FakeStripeServer) -> None:
    intent_id = paid_checkout(fake)
    dispute_id = fake.dispute(intent_id)
    (event,) = [e for e in delivered(fake) if e["type"] == "charge.dispute.created"]
    dispute = event["data"]["object"]
    assert dispute["id"] == dispute_id and dispute_id.startswith("dp_")
    assert (dispute["amount"], dispute["payment_intent"], dispute["status"]) == (
        11000,
        intent_id,
        "needs_response",
    )
    assert dispute["charge"] == fake.get(intent_id)["latest_charge"]
    (txn,) = dispute["balance_transactions"]
    assert (txn["amount"], txn["fee"], txn["net"]) == (-11000, DISPUTE_FEE, -11000 - DISPUTE_FEE)
    assert txn["reporting_category"] == "dispute"


def test_billing_invoices(fake: FakeStripeServer) -> None:
    metadata = {"monosub_invoice_id": "inv_77"}
    failed_intent = fake.invoice_payment_failed("in_1", 8800, metadata)
    paid_intent = fake.invoice_paid("in_1", 8800, metadata, failed_intent)
    assert paid_intent == failed_intent
    events = delivered(fake)
    assert [e["type"] for e in events] == [
        "invoice.payment_failed",
        "payment_intent.succeeded",
        "invoice.paid",
    ]
    failed, paid = events[0]["data"]["object"], events[2]["data"]["object"]
    assert (failed["status"], failed["amount_remaining"], failed["attempt_count"]) == (
        "open",
        8800,
        1,
    )
    assert (paid["status"], paid["amount_paid"], paid["attempt_count"]) == ("paid", 8800, 2)
    assert paid["metadata"] == metadata and paid["id"] == "in_1"
    assert paid["payments"]["data"][0]["payment"] == {
        "type": "payment_intent",
        "payment_intent": paid_intent,
    }
    assert events[1]["data"]["object"]["metadata"] == {}  # Stripe copies nothing to the intent


def read_csv(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8"))))


def test_payout_csv_adds_up(fake: FakeStripeServer) -> None:
    first = paid_checkout(fake, "inv_01", 11000)
    second = paid_checkout(fake, "inv_02", 3333)
    fake.refund(first, 1000)
    fake.dispute(second)
    content = fake.payout("po_test_1", date(2026, 5, 25))
    assert content.decode("utf-8").splitlines()[0] == ",".join(PAYOUT_COLUMNS)
    rows = read_csv(content)
    *items, payout = rows
    assert [r["reporting_category"] for r in items] == ["charge", "charge", "refund", "dispute"]
    assert payout["reporting_category"] == "payout"
    for row in rows:
        assert int(row["gross"]) - int(row["fee"]) == int(row["net"])
        assert row["automatic_payout_id"] == "po_test_1"
        assert row["automatic_payout_effective_at"] == "2026-05-25 00:00:00"
    assert sum(int(r["net"]) for r in items) == -int(payout["net"])
    assert int(payout["gross"]) == int(payout["net"]) and payout["fee"] == "0"
    fees = [int(r["fee"]) for r in items]
    assert fees == [
        11000 * CARD_FEE_PER_MILLE // 1000,
        3333 * CARD_FEE_PER_MILLE // 1000,  # 119.988 rounded down
        0,
        DISPUTE_FEE,
    ]
    assert [r["payment_metadata[monosub_invoice_id]"] for r in items] == [
        "inv_01",
        "inv_02",
        "inv_01",
        "inv_02",
    ]
    assert [r["payment_intent_id"] for r in items] == [first, second, first, second]
    assert all(r["charge_id"].startswith("ch_") for r in items)
    assert fake.payout_files["po_test_1"] == content


def test_a_payout_pays_out_only_what_is_new(fake: FakeStripeServer) -> None:
    paid_checkout(fake, "inv_01", 5000)
    read_csv(fake.payout())
    with pytest.raises(ValueError):
        fake.payout()
    paid_checkout(fake, "inv_02", 7000)
    rows = read_csv(fake.payout())
    assert [(r["reporting_category"], r["gross"]) for r in rows] == [
        ("charge", "7000"),
        ("payout", str(-(7000 - 7000 * CARD_FEE_PER_MILLE // 1000))),
    ]


def call(fake: FakeStripeServer, path: str, key: str | None, body: str = "") -> tuple[int, Any]:
    request = urllib.request.Request(fake.url + path, data=body.encode() or None)
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def test_the_api_wants_the_key_and_known_routes(fake: FakeStripeServer) -> None:
    status, answer = call(fake, "/v1/payment_intents", None, "amount=100&currency=jpy")
    assert status == 401 and answer["error"]["type"] == "invalid_request_error"
    status, answer = call(fake, "/v1/customers", fake.api_key, "email=a")
    assert status == 404
    status, answer = call(fake, "/v1/payment_intents/pi_missing", fake.api_key)
    assert (status, answer["error"]["code"]) == (404, "resource_missing")
    status, answer = call(fake, "/v1/payment_intents", fake.api_key, "amount=1e3&currency=jpy")
    assert (status, answer["error"]["param"]) == (400, "amount")
    assert [r.authorized for r in fake.requests] == [False, True, True, True]
    assert fake.objects("payment_intent") == []


def test_the_api_decodes_what_the_sdk_encodes(fake: FakeStripeServer) -> None:
    client = stripe.StripeClient(fake.api_key, base_addresses={"api": fake.url})
    session = client.v1.checkout.sessions.create(
        {
            "mode": "payment",
            "success_url": "https://x/ok",
            "cancel_url": "https://x/no",
            "line_items": [
                {
                    "quantity": 2,
                    "price_data": {
                        "currency": "jpy",
                        "unit_amount": 1500,
                        "product_data": {"name": "請求書 A&B=1"},
                    },
                },
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": "jpy",
                        "unit_amount": 100,
                        "product_data": {"name": "送料"},
                    },
                },
            ],
            "metadata": {"monosub_invoice_id": "inv_[1]"},
        }
    )
    assert session.amount_total == 3100
    assert session.to_dict()["metadata"] == {"monosub_invoice_id": "inv_[1]"}
    names = [i["price_data"]["product_data"]["name"] for i in fake.requests[0].params["line_items"]]
    assert names == ["請求書 A&B=1", "送料"]
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"


_keys = st.from_regex(r"[a-z_]{1,8}", fullmatch=True)
_values = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
_params = st.recursive(
    _values,
    lambda inner: st.one_of(
        st.lists(st.dictionaries(_keys, inner, min_size=1, max_size=3), min_size=1, max_size=3),
        st.dictionaries(_keys, inner, min_size=1, max_size=3),
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(_keys, _params, max_size=4))
def test_decode_form_reads_what_the_sdk_encodes(params: dict[str, Any]) -> None:
    body = urllib.parse.urlencode(list(_api_encode(params)))
    assert decode_form(body) == params
