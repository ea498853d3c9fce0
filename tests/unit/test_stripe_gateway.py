"""The Stripe adapter (no AWS): webhook verification on the raw body and the business clock,
Checkout Session and PaymentIntent creation through the real SDK against the local fake
Stripe, and how Stripe's answers become our three error classes.

The adapter gets its configuration through its ``config=`` parameter (the secret's parsed
value); one test checks the default path through ``secret_cache.read``."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local.fake_stripe import FakeStripeServer
from monosub import clock
from monosub.adapters import stripe_gateway
from monosub.adapters.stripe_gateway import (
    StripeConfig,
    StripeNotConfigured,
    StripeRejected,
    StripeUnavailable,
    WebhookRejected,
    create_checkout_session,
    create_payment_intent,
    parse_config,
    verify_event,
)

WEBHOOK_SECRET = "whsec_unit_test_secret"
START = datetime(2026, 4, 1, 1, 0, tzinfo=UTC)  # 2026-04-01 10:00 in Tokyo


class BusinessClock:
    """The business clock, fixed and movable (as tests/unit/test_clock.py fixes it)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, at: datetime) -> None:
        self.at = at
        monkeypatch.setattr(clock, "_read_override", lambda: self.at)
        clock.begin_invocation()

    def move(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)
        clock.begin_invocation()


@pytest.fixture
def business(monkeypatch: pytest.MonkeyPatch) -> Iterator[BusinessClock]:
    yield BusinessClock(monkeypatch, START)
    clock.begin_invocation()


@pytest.fixture(scope="module")
def server() -> Iterator[FakeStripeServer]:
    with FakeStripeServer(WEBHOOK_SECRET) as running:
        yield running


@pytest.fixture
def fake(server: FakeStripeServer, business: BusinessClock) -> FakeStripeServer:
    server.reset()
    server.now = clock.now  # Stripe's clock is the business clock, as in the runtime
    return server


@pytest.fixture
def config(fake: FakeStripeServer) -> StripeConfig:
    # No in-SDK retries: a failure shows at once (one test restores the default).
    return StripeConfig(fake.api_key, WEBHOOK_SECRET, fake.url, network_retries=0)


def paid_event(fake: FakeStripeServer) -> tuple[bytes, str]:
    """A real payment_intent.succeeded from the fake, as Stripe would deliver it."""
    intent = create_payment_intent(
        invoice_id="inv_01", invoice_number="INV-0001", amount=11000, config=config_of(fake)
    )
    fake.pay_intent(intent.id)
    return fake.outbox[-1]


def config_of(fake: FakeStripeServer) -> StripeConfig:
    return StripeConfig(fake.api_key, WEBHOOK_SECRET, fake.url, network_retries=0)


def rejected(payload: bytes, header: str | None, config: StripeConfig) -> WebhookRejected:
    with pytest.raises(WebhookRejected) as caught:
        verify_event(payload, header, config=config)
    return caught.value


# ---- configuration ---------------------------------------------------------------------------


def test_config_from_the_secret() -> None:
    value = parse_config(
        json.dumps({"api_key": "sk_live_x", "webhook_secret": "whsec_y", "api_base": "http://h:1/"})
    )
    assert (value.api_key, value.webhook_secret, value.api_base) == (
        "sk_live_x",
        "whsec_y",
        "http://h:1",
    )
    assert parse_config('{"api_key": "rk_live_x", "webhook_secret": "whsec_y"}').api_base is None
    assert "sk_live_x" not in repr(value) and "whsec_y" not in repr(value)


@pytest.mark.parametrize(
    "secret",
    [
        "Q8x0VgR2placeholderFromTheDeploy0123456789abcdefghijklmnopqrstuv",  # not JSON
        "[]",
        '{"webhook_secret": "whsec_y"}',
        '{"api_key": "pk_live_x", "webhook_secret": "whsec_y"}',  # a publishable key
        '{"api_key": "sk_live_x"}',
        '{"api_key": "sk_live_x", "webhook_secret": "secret"}',
        '{"api_key": "sk_live_x", "webhook_secret": "whsec_y", "api_base": "ftp://h"}',
    ],
)
def test_unusable_secrets_are_not_configured(secret: str) -> None:
    with pytest.raises(StripeNotConfigured):
        parse_config(secret)


def test_default_config_comes_from_the_declared_secret(
    fake: FakeStripeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    def read(env: str, parse: Any) -> Any:
        asked.append(env)
        return parse(fake.secret_value())

    monkeypatch.setattr(stripe_gateway.secret_cache, "read", read)
    payload, header = paid_event(fake)
    assert verify_event(payload, header)["type"] == "payment_intent.succeeded"
    assert asked == ["SECRET_STRIPE"]


# ---- webhooks --------------------------------------------------------------------------------


def test_a_good_event_verifies_and_comes_back_as_a_plain_dict(
    fake: FakeStripeServer, config: StripeConfig
) -> None:
    payload, header = paid_event(fake)
    event = verify_event(payload, header, config=config)
    assert type(event) is dict
    assert event["type"] == "payment_intent.succeeded" and event["id"].startswith("evt_")
    intent = event["data"]["object"]
    assert intent["metadata"] == {"monosub_invoice_id": "inv_01"}
    assert (intent["amount"], intent["amount_received"], intent["currency"]) == (
        11000,
        11000,
        "jpy",
    )


def test_a_forged_event_is_a_bad_signature(fake: FakeStripeServer, config: StripeConfig) -> None:
    payload, _ = paid_event(fake)
    forger = FakeStripeServer("whsec_someone_else", now=clock.now)
    assert rejected(payload, forger.sign(payload), config).reason == "bad-signature"


def test_a_re_serialized_or_edited_body_is_a_bad_signature(
    fake: FakeStripeServer, config: StripeConfig
) -> None:
    payload, header = paid_event(fake)
    event = json.loads(payload)
    reserialized = json.dumps(event).encode()  # same content, other bytes
    assert json.loads(reserialized) == event and reserialized != payload
    assert rejected(reserialized, header, config).reason == "bad-signature"
    edited = payload.replace(b'"amount": 11000', b'"amount": 110000', 1)
    assert edited != payload
    assert rejected(edited, header, config).reason == "bad-signature"


def test_a_stale_signature_is_refused_by_the_business_clock(
    fake: FakeStripeServer, config: StripeConfig, business: BusinessClock
) -> None:
    payload, header = paid_event(fake)  # signed at START
    business.move(300)
    assert verify_event(payload, header, config=config)["type"] == "payment_intent.succeeded"
    business.move(1)
    refused = rejected(payload, header, config)
    assert refused.reason == "stale-timestamp" and "301 s" in refused.detail
    assert verify_event(payload, header, config=config, tolerance=600)
    # Redelivery signs again with the current time: accepted.
    fresh = fake.resend(json.loads(payload)["id"])
    assert verify_event(payload, fresh, config=config)


def test_the_wall_clock_does_not_decide(fake: FakeStripeServer, config: StripeConfig) -> None:
    """START is in the past by the wall clock: the SDK's own time check would call this
    event years old; by the business clock it was signed just now."""
    payload, header = paid_event(fake)
    assert datetime.now(UTC) - START > timedelta(minutes=5)
    assert verify_event(payload, header, config=config)["id"].startswith("evt_")


def test_a_stale_and_forged_event_is_a_bad_signature(
    fake: FakeStripeServer, config: StripeConfig
) -> None:
    payload, _ = paid_event(fake)
    old = int(START.timestamp()) - 3600
    forged = FakeStripeServer("whsec_someone_else").sign(payload, old)
    assert rejected(payload, forged, config).reason == "bad-signature"
    assert rejected(payload, fake.sign(payload, old), config).reason == "stale-timestamp"


def test_a_timestamp_ahead_of_us_is_accepted_as_the_sdk_does(
    fake: FakeStripeServer, config: StripeConfig
) -> None:
    payload, _ = paid_event(fake)
    ahead = int(START.timestamp()) + 600
    assert verify_event(payload, fake.sign(payload, ahead), config=config)


@pytest.mark.parametrize("header", [None, "", "   "])
def test_no_signature_header(
    fake: FakeStripeServer, config: StripeConfig, header: str | None
) -> None:
    payload, _ = paid_event(fake)
    assert rejected(payload, header, config).reason == "missing-signature"


@pytest.mark.parametrize(
    "header", ["garbage", "t=abc,v1=00", "v1=00", "t=1775005200", "t=1775005200,v0=00"]
)
def test_an_unreadable_signature_header_is_a_bad_signature(
    fake: FakeStripeServer, config: StripeConfig, header: str
) -> None:
    payload, _ = paid_event(fake)
    assert rejected(payload, header, config).reason == "bad-signature"


@pytest.mark.parametrize(
    "payload",
    [
        b"\xff\xfe not utf-8",
        b"not json",
        b"[1, 2]",
        b'{"id": "evt_1", "type": "x"}',
        b'{"id": "evt_1", "type": "x", "data": {"object": "ch_1"}}',
    ],
)
def test_a_signed_body_that_is_not_an_event_is_malformed(
    fake: FakeStripeServer, config: StripeConfig, payload: bytes
) -> None:
    assert rejected(payload, fake.sign(payload), config).reason == "malformed-payload"


def test_an_unsigned_malformed_body_is_a_bad_signature(
    fake: FakeStripeServer, config: StripeConfig
) -> None:
    """Nothing is parsed before the signature: a forged garbage body is just forged."""
    forger = FakeStripeServer("whsec_someone_else", now=clock.now)
    assert rejected(b"not json", forger.sign(b"not json"), config).reason == "bad-signature"


# ---- creating payments -----------------------------------------------------------------------


def checkout(config: StripeConfig, **changes: Any) -> stripe_gateway.CheckoutLink:
    values: dict[str, Any] = {
        "invoice_id": "inv_01",
        "invoice_number": "INV-2026-0001",
        "amount": 11000,
        "customer_email": "keiri@example.co.jp",
        "success_url": "https://pay.example.jp/done",
        "cancel_url": "https://pay.example.jp/cancel",
        "config": config,
    }
    values.update(changes)
    return create_checkout_session(**values)


def test_a_checkout_session_through_the_sdk(fake: FakeStripeServer, config: StripeConfig) -> None:
    link = checkout(config)
    assert link.session_id.startswith("cs_test_")
    assert link.url == f"{fake.url}/c/pay/{link.session_id}"
    assert link.payment_intent_id is None  # Stripe creates it when the customer pays
    assert link.expires_at == START + timedelta(hours=24)
    (request,) = fake.requests
    assert (request.method, request.path, request.status) == ("POST", "/v1/checkout/sessions", 200)
    assert request.headers["Idempotency-Key"] == "checkout:inv_01:11000"
    sent = request.params
    assert sent["mode"] == "payment" and sent["customer_email"] == "keiri@example.co.jp"
    assert sent["line_items"] == [
        {
            "quantity": "1",
            "price_data": {
                "currency": "jpy",
                "unit_amount": "11000",
                "product_data": {"name": "請求書 INV-2026-0001"},
            },
        }
    ]
    assert sent["metadata"] == {"monosub_invoice_id": "inv_01"}
    assert sent["payment_intent_data"]["metadata"] == {"monosub_invoice_id": "inv_01"}
    # Paying it: the intent Stripe creates carries the invoice id.
    intent_id = fake.pay_checkout(link.session_id)
    assert fake.get(intent_id)["metadata"] == {"monosub_invoice_id": "inv_01"}


def test_checkout_without_an_email_sends_none(fake: FakeStripeServer, config: StripeConfig) -> None:
    checkout(config, customer_email=None)
    assert "customer_email" not in fake.requests[0].params


def test_asking_twice_gets_the_same_session(fake: FakeStripeServer, config: StripeConfig) -> None:
    first, again = checkout(config), checkout(config)
    assert again == first
    assert [r.replayed for r in fake.requests] == [False, True]
    assert len(fake.objects("checkout.session")) == 1
    other = checkout(config, amount=9000)  # a changed amount is another payment
    assert other.session_id != first.session_id
    assert fake.requests[-1].headers["Idempotency-Key"] == "checkout:inv_01:9000"


def test_the_same_key_with_other_parameters_is_rejected(
    fake: FakeStripeServer, config: StripeConfig
) -> None:
    checkout(config)
    with pytest.raises(StripeRejected) as caught:
        checkout(config, customer_email="other@example.co.jp")
    assert (caught.value.status, caught.value.code) == (400, "idempotency_error")


@pytest.mark.parametrize("status", [500, 502, 503, 429, 409])
def test_stripe_failing_is_unavailable(
    fake: FakeStripeServer, config: StripeConfig, status: int
) -> None:
    fake.fail_next(1, status)
    with pytest.raises(StripeUnavailable):
        checkout(config)
    assert fake.objects("checkout.session") == []


def test_the_sdk_retries_a_5xx_once_with_the_same_key(fake: FakeStripeServer) -> None:
    config = StripeConfig(fake.api_key, WEBHOOK_SECRET, fake.url)  # the default retries
    fake.fail_next(1, 503)
    link = checkout(config)
    assert [(r.status, r.headers["Idempotency-Key"]) for r in fake.requests] == [
        (503, "checkout:inv_01:11000"),
        (200, "checkout:inv_01:11000"),
    ]
    assert [s["id"] for s in fake.objects("checkout.session")] == [link.session_id]


def test_an_unreachable_stripe_is_unavailable(fake: FakeStripeServer) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again when the block ends: nobody listens
    config = StripeConfig(fake.api_key, WEBHOOK_SECRET, f"http://127.0.0.1:{port}", 0)
    with pytest.raises(StripeUnavailable):
        checkout(config)


def test_a_refused_request_is_rejected_with_stripes_code(
    fake: FakeStripeServer, config: StripeConfig
) -> None:
    with pytest.raises(StripeRejected) as caught:
        checkout(config, amount=30)  # below Stripe's ¥50 minimum
    assert (caught.value.status, caught.value.code) == (400, "amount_too_small")
    assert "50" in caught.value.message


def test_a_wrong_key_is_rejected(fake: FakeStripeServer) -> None:
    config = StripeConfig("sk_test_wrong", WEBHOOK_SECRET, fake.url, 0)
    with pytest.raises(StripeRejected) as caught:
        checkout(config)
    assert caught.value.status == 401
    assert fake.requests[0].authorized is False


def test_an_injected_4xx_is_rejected(fake: FakeStripeServer, config: StripeConfig) -> None:
    fake.fail_next(1, 402)
    with pytest.raises(StripeRejected) as caught:
        checkout(config)
    assert caught.value.status == 402


@pytest.mark.parametrize("amount", [0, -100, 11000.0, True])
def test_amounts_are_positive_integer_yen(config: StripeConfig, amount: Any) -> None:
    with pytest.raises(ValueError):
        checkout(config, amount=amount)
    with pytest.raises(ValueError):
        create_payment_intent(
            invoice_id="inv_01", invoice_number="INV-1", amount=amount, config=config
        )


def test_a_payment_intent_through_the_sdk(fake: FakeStripeServer, config: StripeConfig) -> None:
    intent = create_payment_intent(
        invoice_id="inv_02",
        invoice_number="INV-2026-0002",
        amount=5500,
        customer_id="cus_123",
        config=config,
    )
    assert intent.id.startswith("pi_") and intent.client_secret.startswith(intent.id + "_secret_")
    assert intent.status == "requires_payment_method"
    (request,) = fake.requests
    assert request.headers["Idempotency-Key"] == "pi:inv_02:5500"
    assert request.params["metadata"] == {"monosub_invoice_id": "inv_02"}
    assert (request.params["amount"], request.params["customer"]) == ("5500", "cus_123")
    assert request.params["description"] == "請求書 INV-2026-0002"
    again = create_payment_intent(
        invoice_id="inv_02",
        invoice_number="INV-2026-0002",
        amount=5500,
        customer_id="cus_123",
        config=config,
    )
    assert again == intent and fake.requests[-1].replayed
