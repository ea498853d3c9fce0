"""A customer pays its own invoice by card from the portal, end to end over HTTP on the
embedded AWS: ``POST /me/invoices/{id}/card-payment`` gives a Stripe Checkout link (the local
fake Stripe), the customer pays it, Stripe's signed events come back through
``POST /webhooks/stripe`` and the portal's invoice list shows the invoice paid. Another
account's invoice is "not found"; a forged delivery (bad signature, a genuine signature over
another body) is refused and changes nothing, whoever's invoice it names."""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest

from local.http_api import LocalApiServer
from local.runtime import EmbeddedAWS
from tests.cash_fixtures import a_customer, an_invoice

NOW = datetime(2026, 12, 10, 1, 0, tzinfo=UTC)
ALICE, BOB = "acct_portalpay_a", "acct_portalpay_b"


@pytest.fixture
def cloud() -> Iterator[EmbeddedAWS]:
    with EmbeddedAWS(business_time=NOW) as embedded:
        yield embedded


@pytest.fixture
def server(cloud: EmbeddedAWS) -> Iterator[LocalApiServer]:
    started = LocalApiServer(cloud).start()
    yield started
    started.stop()


def card_customer(cloud: EmbeddedAWS, account_id: str, total: int) -> str:
    """A customer paying by card with one finalized November invoice (in the portal index)."""
    invoice_id = f"inv_{account_id}"
    a_customer(
        cloud,
        account_id,
        f"カード払いの顧客 {account_id[-1]}",
        [an_invoice(invoice_id, account_id, total, due=date(2026, 12, 31), method="card")],
        payment_method="card",
    )
    return invoice_id


def call(
    server: LocalApiServer,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes | None = None,
) -> tuple[int, Any]:
    request = urllib.request.Request(
        server.url + path,
        data=body,
        method=method,
        headers={"Content-Type": "application/json", **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def webhook(server: LocalApiServer, payload: bytes, signature: str) -> tuple[int, Any]:
    """Stripe delivering an event to the public webhook route, the body byte for byte."""
    return call(server, "POST", "/webhooks/stripe", {"Stripe-Signature": signature}, payload)


def listed(server: LocalApiServer, customer: dict[str, str]) -> dict[str, dict[str, Any]]:
    status, body = call(server, "GET", "/me/invoices", customer)
    assert status == 200, body
    return {i["invoice_id"]: i for i in body["invoices"]}


def paid_view(view: dict[str, Any]) -> tuple[str, int, int]:
    return view["status"], view["amount_paid"], view["balance"]


def test_a_customer_pays_its_own_invoice_by_card_from_the_portal(
    cloud: EmbeddedAWS, server: LocalApiServer
):
    mine = card_customer(cloud, ALICE, 11000)
    theirs = card_customer(cloud, BOB, 5500)
    alice = server.bearer("alice", "customer", account_id=ALICE)
    bob = server.bearer("bob", "customer", account_id=BOB)
    cloud.stripe.on_event = None  # Stripe's deliveries are made below, over HTTP

    assert list(listed(server, alice)) == [mine]
    assert paid_view(listed(server, alice)[mine]) == ("finalized", 0, 11000)

    # another account's invoice is not found, and no link is made for it
    for other in (theirs, "inv_nope"):
        status, body = call(server, "POST", f"/me/invoices/{other}/card-payment", alice)
        assert status == 404, body
    assert cloud.stripe.objects("checkout.session") == []

    status, link = call(server, "POST", f"/me/invoices/{mine}/card-payment", alice)
    assert status == 200, link
    assert (link["invoice_id"], link["amount"]) == (mine, 11000)
    session = cloud.stripe.get(link["session_id"])
    assert session["customer_email"] == f"{ALICE}@example.jp"

    intent = cloud.stripe.pay_checkout(link["session_id"])
    deliveries = list(cloud.stripe.outbox)
    assert [json.loads(p)["type"] for p, _ in deliveries] == [
        "payment_intent.succeeded",
        "checkout.session.completed",
    ]

    # forged deliveries: nothing of them is used, for Alice's invoice or Bob's
    payload, signature = deliveries[1]
    timestamp = int(NOW.timestamp())
    wrong_key = hmac.new(b"whsec_guessed", f"{timestamp}.".encode() + payload, hashlib.sha256)
    to_bob = payload.replace(mine.encode(), theirs.encode()).replace(b"11000", b"5500")
    for body, header in (
        (payload, f"t={timestamp},v1={wrong_key.hexdigest()}"),  # not Stripe's secret
        (to_bob, signature),  # Stripe's signature, over another body
        (to_bob, cloud.stripe.sign(payload)),
        (payload, ""),
    ):
        status, refused = webhook(server, body, header)
        assert status == 400, refused
        assert refused["details"]["reason"] in ("bad-signature", "missing-signature")
    assert paid_view(listed(server, alice)[mine]) == ("finalized", 0, 11000)
    assert paid_view(listed(server, bob)[theirs]) == ("finalized", 0, 5500)

    # Stripe's own deliveries: the invoice is paid, once, and the portal shows it
    for payload, signature in deliveries:
        status, outcome = webhook(server, payload, signature)
        assert status == 200, outcome
    assert [outcome["outcome"] for outcome in _redelivered(server, deliveries)] == [
        "duplicate",
        "duplicate",
    ]
    view = listed(server, alice)[mine]
    assert paid_view(view) == ("paid", 11000, 0)
    assert view["payment_method"] == "card"
    assert paid_view(listed(server, bob)[theirs]) == ("finalized", 0, 5500)
    assert cloud.stripe.get(intent)["metadata"]["monosub_invoice_id"] == mine

    # nothing is owed now: no second link; Bob still gets one for his own invoice
    status, body = call(server, "POST", f"/me/invoices/{mine}/card-payment", alice)
    assert status == 409, body
    status, other_link = call(server, "POST", f"/me/invoices/{theirs}/card-payment", bob)
    assert (status, other_link["amount"]) == (200, 5500)


def _redelivered(
    server: LocalApiServer, deliveries: list[tuple[bytes, str]]
) -> list[dict[str, Any]]:
    outcomes = []
    for payload, signature in deliveries:
        status, outcome = webhook(server, payload, signature)
        assert status == 200, outcome
        outcomes.append(outcome)
    return outcomes
