"""Stripe: card payments for invoices (Checkout Session or PaymentIntent) and the webhook
events that tell us what happened to them. Interface, events and errors: ``docs/stripe.md``.

Calls go through the official SDK (``stripe.StripeClient``, v16), pointed at the fake Stripe
API (``local/fake_stripe.py``) when the secret carries an ``api_base``. Every call that
creates something carries an ``Idempotency-Key`` naming the business fact
(``checkout:<invoice id>:<amount>``), so a retried task or a double click gets the same
session back instead of a second one.

Errors are split by what a retry can do, because Step Functions decides by the exception's
**class name** (``errorType``; ``ErrorEquals`` matches that exact name, never a base class):

- ``StripeUnavailable``: connection refused/reset, timeout, 5xx, 429 / rate limit, 409 (the
  same key in use by a concurrent request). Worth retrying with back-off; the idempotency key
  makes the retry safe.
- ``StripeRejected``: any other 4xx (invalid request, card error, wrong key, a reused
  idempotency key with other parameters). Carries Stripe's ``code`` and ``message``.
- ``StripeNotConfigured``: the ``stripe`` secret does not hold usable keys yet.
- ``WebhookRejected``: an incoming event that does not verify (``reason`` says why).

Renaming any of these classes silently disables the state machines' Retry/Catch on them.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import stripe

from monosub import clock, names, secret_cache

# The secret holding {"api_key", "webhook_secret", "api_base"?}, declared in
# functions/resources.py; a function that declares it gets its id in this variable.
SECRET = names.STRIPE
SECRET_ENV = "SECRET_STRIPE"
INVOICE_METADATA_KEY = "monosub_invoice_id"
DEFAULT_TOLERANCE_SECONDS = 300  # Stripe's own default for webhook timestamps
DEFAULT_TIMEOUT_SECONDS = 10.0  # the SDK's is 80 s: longer than a Lambda should wait
# In-SDK retries of connection errors, 409 and 5xx, with Stripe's back-off (0.5 s, 1 s):
# cheap for a transient blip and safe because every creating call carries our key.
DEFAULT_NETWORK_RETRIES = 2
API_KEY_PREFIXES = ("sk_", "rk_")  # secret and restricted keys; never a publishable pk_
WEBHOOK_SECRET_PREFIX = "whsec_"

WebhookRejectReason = Literal[
    "missing-signature", "bad-signature", "stale-timestamp", "malformed-payload"
]


class StripeUnavailable(Exception):
    """Stripe could not answer (connection error, timeout, 5xx, 429 or rate limit, 409 for a
    key in use by a concurrent request): worth retrying. Step Functions matches this exact
    class name."""


class StripeRejected(Exception):
    """Stripe refused the request (a 4xx other than 409 and 429): retrying gets the same answer.
    ``code`` is Stripe's error code (``card_declined``, ``parameter_invalid_integer``,
    ``idempotency_error``...), ``message`` its own words. Step Functions matches this exact
    class name."""

    def __init__(
        self, status: int | None, code: str | None, message: str, *, param: str | None = None
    ) -> None:
        super().__init__(f"Stripe refused the request: {status} {code or ''} {message}".strip())
        self.status = status
        self.code = code
        self.message = message
        self.param = param


class StripeNotConfigured(RuntimeError):
    """The ``stripe`` secret does not hold usable keys (ops fill it after the first deploy:
    docs/stripe.md)."""


class WebhookRejected(Exception):
    """An incoming webhook that must not be acted on: answer 400 and record it. ``reason`` is
    one of ``missing-signature``, ``bad-signature``, ``stale-timestamp``,
    ``malformed-payload``; ``detail`` says what exactly (never the secret)."""

    def __init__(self, reason: WebhookRejectReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: WebhookRejectReason = reason
        self.detail = detail


@dataclass(frozen=True)
class StripeConfig:
    """What the ``stripe`` secret holds. ``api_base`` is None for the real Stripe.
    ``network_retries`` is not in the secret: tests lower it to see a failure at once."""

    api_key: str
    webhook_secret: str
    api_base: str | None = None
    network_retries: int = DEFAULT_NETWORK_RETRIES

    def __repr__(self) -> str:  # never the keys
        return f"StripeConfig(api_base={self.api_base!r})"


@dataclass(frozen=True)
class CheckoutLink:
    """A Checkout Session the customer opens at ``url`` to pay one invoice. Stripe creates
    the PaymentIntent only when the customer pays, so ``payment_intent_id`` is usually None
    here: the webhook events carry it, with the invoice id in their metadata."""

    session_id: str
    url: str
    payment_intent_id: str | None
    expires_at: datetime


@dataclass(frozen=True)
class PaymentIntentRef:
    """A PaymentIntent for one invoice; a payment page confirms it with ``client_secret``."""

    id: str
    client_secret: str
    status: str


# ---- configuration ---------------------------------------------------------------------------


def current_config() -> StripeConfig:
    """The configuration in the declared ``stripe`` secret (the calling function must declare
    it in the manifest: ``secrets=(names.STRIPE,)``), cached a few minutes per process."""
    return secret_cache.read(SECRET_ENV, parse_config)


def forget_cached_config() -> None:
    """Read the secret again on next use (after ops put new keys)."""
    secret_cache.forget(SECRET_ENV)


def parse_config(secret_string: str) -> StripeConfig:
    """The secret's JSON as a ``StripeConfig``; ``StripeNotConfigured`` while it holds the
    deploy's random placeholder or anything short of both keys."""
    try:
        value = json.loads(secret_string)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise StripeNotConfigured(
            f"secret {SECRET} holds no JSON object: put "
            '{"api_key": "sk_...", "webhook_secret": "whsec_..."} in it (docs/stripe.md)'
        )
    api_key, webhook_secret = value.get("api_key"), value.get("webhook_secret")
    api_base = value.get("api_base")
    if not isinstance(api_key, str) or not api_key.startswith(API_KEY_PREFIXES):
        raise StripeNotConfigured(f"secret {SECRET}: api_key is not a secret key (sk_/rk_)")
    if not isinstance(webhook_secret, str) or not webhook_secret.startswith(WEBHOOK_SECRET_PREFIX):
        raise StripeNotConfigured(f"secret {SECRET}: webhook_secret is not a whsec_ secret")
    if api_base is not None and (
        not isinstance(api_base, str) or not api_base.startswith(("https://", "http://"))
    ):
        raise StripeNotConfigured(f"secret {SECRET}: api_base is not an http(s) URL")
    return StripeConfig(api_key, webhook_secret, api_base.rstrip("/") if api_base else None)


# ---- webhooks --------------------------------------------------------------------------------


def verify_event(
    payload: bytes,
    signature_header: str | None,
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    config: StripeConfig | None = None,
) -> dict[str, Any]:
    """The event in ``payload`` (the request body exactly as received) as a plain dict, once
    its ``Stripe-Signature`` proves Stripe sent it recently; ``WebhookRejected`` otherwise.

    The SDK checks the HMAC on the raw bytes before anything is parsed: a re-serialized body
    (other spacing, key order, escapes) does not verify. Its timestamp check, however, reads
    the wall clock (``time.time()`` in ``WebhookSignature.verify_header``), and here "now" is
    the business clock (tests and the demo move it). So the SDK is asked for the signature
    only (``tolerance=None`` turns its time check off) and the age is checked here against
    ``clock.now()``, with the SDK's rule: older than ``tolerance`` seconds is stale, a
    timestamp ahead of us is not (Stripe's clock may run ahead of ours). The ``t=`` parsed
    here is only ever used to refuse: acceptance is the SDK's HMAC over that same ``t``.
    On AWS in prod the business clock is the wall clock, so this is the SDK's check exactly.

    ``config`` defaults to the ``stripe`` secret (tests pass one)."""
    if not signature_header or not signature_header.strip():
        raise WebhookRejected("missing-signature", "no Stripe-Signature header")
    secret = (config or current_config()).webhook_secret
    try:
        text = payload.decode("utf-8")  # the SDK signs and checks the text form of the body
    except UnicodeDecodeError as garbled:
        raise WebhookRejected("malformed-payload", f"body is not UTF-8: {garbled}") from None
    try:
        stripe.WebhookSignature.verify_header(text, signature_header, secret, None)
    except stripe.SignatureVerificationError as refused:
        raise WebhookRejected("bad-signature", refused.user_message or "no match") from None
    signed_at = _signed_timestamp(signature_header)
    if signed_at is None:  # unreachable: the SDK verified this header; refuse, never accept
        raise WebhookRejected("bad-signature", "no t= timestamp in Stripe-Signature")
    age = clock.now().timestamp() - signed_at
    if tolerance and age > tolerance:
        raise WebhookRejected(
            "stale-timestamp",
            f"signed at {signed_at}, {int(age)} s before now; tolerance is {tolerance} s",
        )
    try:
        event = json.loads(text)
    except ValueError as garbled:
        raise WebhookRejected("malformed-payload", f"body is not JSON: {garbled}") from None
    if not isinstance(event, dict):
        raise WebhookRejected("malformed-payload", "body is not a JSON object")
    data = event.get("data")
    if (
        not isinstance(event.get("id"), str)
        or not isinstance(event.get("type"), str)
        or not isinstance(data, dict)
        or not isinstance(data.get("object"), dict)
    ):
        raise WebhookRejected("malformed-payload", "not an event: id, type, data.object needed")
    return event


def _signed_timestamp(header: str) -> int | None:
    """The ``t=`` of a ``Stripe-Signature`` header, read the way the SDK reads it (the first
    ``t`` item), so the age checked is the age of what the SDK verified."""
    for item in header.split(","):
        key, _, value = item.partition("=")
        if key == "t":
            try:
                return int(value.split("=", 1)[0])  # the SDK splits an item at most twice
            except ValueError:
                return None
    return None


# ---- creating payments -----------------------------------------------------------------------


def create_checkout_session(
    *,
    invoice_id: str,
    invoice_number: str,
    amount: int,
    currency: str = "jpy",
    customer_email: str | None,
    success_url: str,
    cancel_url: str,
    config: StripeConfig | None = None,
) -> CheckoutLink:
    """A hosted Checkout page to pay ``amount`` (yen: JPY is zero-decimal, so the integer is
    the amount) of one invoice by card. The invoice id is in the metadata of the session and
    of the PaymentIntent Stripe creates when the customer pays, so every webhook event and
    payout report row can be matched back. Idempotent per (invoice, amount): asking again
    returns the same session (for 24 hours: Stripe's key lifetime and a session's default
    lifetime); a changed amount gets a new one."""
    _check_amount(amount)
    title = _line_title(invoice_number)
    metadata = {INVOICE_METADATA_KEY: invoice_id}
    params: dict[str, Any] = {
        "mode": "payment",
        "payment_method_types": ["card"],
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": currency,
                    "unit_amount": amount,
                    "product_data": {"name": title},
                },
            }
        ],
        "client_reference_id": invoice_id,
        "metadata": metadata,
        "payment_intent_data": {"description": title, "metadata": metadata},
        "success_url": success_url,
        "cancel_url": cancel_url,
        "locale": "ja",
    }
    if customer_email:
        params["customer_email"] = customer_email
    client = _client(config or current_config())
    session = _call(
        lambda: client.v1.checkout.sessions.create(
            params,  # type: ignore[arg-type]
            {"idempotency_key": f"checkout:{invoice_id}:{amount}"},
        )
    )
    payment_intent = session.get("payment_intent")
    if payment_intent is not None and not isinstance(payment_intent, str):
        payment_intent = payment_intent.get("id")  # expanded
    return CheckoutLink(
        session_id=str(session["id"]),
        url=str(session.get("url") or ""),
        payment_intent_id=payment_intent,
        expires_at=datetime.fromtimestamp(int(session["expires_at"]), UTC),
    )


def create_payment_intent(
    *,
    invoice_id: str,
    invoice_number: str,
    amount: int,
    customer_id: str | None = None,
    currency: str = "jpy",
    config: StripeConfig | None = None,
) -> PaymentIntentRef:
    """A PaymentIntent for ``amount`` yen of one invoice (our own payment page confirms it
    with the client secret; a saved card of ``customer_id`` can be charged off-session by
    the caller). Same metadata as a Checkout Session; idempotent per (invoice, amount)."""
    _check_amount(amount)
    params: dict[str, Any] = {
        "amount": amount,
        "currency": currency,
        "payment_method_types": ["card"],
        "description": _line_title(invoice_number),
        "metadata": {INVOICE_METADATA_KEY: invoice_id},
    }
    if customer_id:
        params["customer"] = customer_id
    client = _client(config or current_config())
    intent = _call(
        lambda: client.v1.payment_intents.create(
            params,  # type: ignore[arg-type]
            {"idempotency_key": f"pi:{invoice_id}:{amount}"},
        )
    )
    return PaymentIntentRef(
        id=str(intent["id"]),
        client_secret=str(intent.get("client_secret") or ""),
        status=str(intent["status"]),
    )


def _line_title(invoice_number: str) -> str:
    return f"請求書 {invoice_number}"  # what the customer sees on the payment page


def _check_amount(amount: int) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 1:
        raise ValueError(f"amount must be a positive integer of yen, not {amount!r}")


@functools.lru_cache(maxsize=4)
def _client(config: StripeConfig) -> stripe.StripeClient:
    """One SDK client per configuration (it keeps a connection pool), built on first use."""
    base_addresses: dict[str, str] = {}
    if config.api_base:
        base_addresses = {"api": config.api_base, "files": config.api_base}
    return stripe.StripeClient(
        config.api_key,
        base_addresses=base_addresses,  # type: ignore[arg-type]
        max_network_retries=config.network_retries,
        http_client=stripe.RequestsClient(timeout=DEFAULT_TIMEOUT_SECONDS),
    )


def _call(request: Callable[[], stripe.StripeObject]) -> dict[str, Any]:
    """``request()``'s answer as a plain dict, with the SDK's errors turned into ours (by
    what a retry can do)."""
    try:
        return request().to_dict()
    except (stripe.APIConnectionError, stripe.RateLimitError) as failed:
        raise StripeUnavailable(f"Stripe unreachable or rate limited: {failed}") from failed
    except stripe.StripeError as failed:
        status = failed.http_status
        # 409: another request with the same key is still running (Stripe's lock): the SDK
        # retries it too, and a later attempt gets the stored answer.
        if status is None or status >= 500 or status in (409, 429):
            raise StripeUnavailable(f"Stripe answered {status}: {failed}") from failed
        # An idempotency error has a type but no code: keep the type as the code.
        error_type = failed.error.type if failed.error is not None else None
        raise StripeRejected(
            status,
            failed.code or error_type,
            failed.user_message or str(failed),
            param=getattr(failed, "param", None),
        ) from failed
