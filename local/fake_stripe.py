"""A local stand-in for Stripe (``docs/stripe.md``), on 127.0.0.1: its API for what
``monosub.adapters.stripe_gateway`` calls, and "Stripe's side" of a payment for tests and the
demo.

The API part answers the official SDK (``stripe.StripeClient`` pointed at ``url``): form-encoded
bodies with bracketed keys (``line_items[0][price_data][unit_amount]=...``), ``Authorization:
Bearer <api_key>`` (401 otherwise), Stripe's error body (``{"error": {"type", "code",
"message", "param"}}``) and its idempotency rule: the same ``Idempotency-Key`` with the same
parameters gets the stored answer (``Idempotent-Replayed: true``), with other parameters a 400
``idempotency_error``. Only successful answers are stored, as Stripe does for a request that
failed validation. It records every request and can be told to fail (``fail_next``).

The other part plays the customer and Stripe: ``pay_checkout``, ``pay_intent``,
``fail_intent``, ``refund``, ``dispute``, ``invoice_paid``, ``invoice_payment_failed`` change
the objects as Stripe would, keep the balance transactions (card fee 3.6 %, rounded down;
dispute fee 1,500 JPY, Stripe Japan's published fees) and send Stripe-shaped events signed
with the webhook secret (``Stripe-Signature: t=<unix>,v1=<HMAC-SHA256 of "t.payload">``) to
``on_event(payload, signature_header)``, or keep them in ``outbox``. ``payout`` pays out what
is not yet paid out and writes the itemized payout reconciliation CSV for it.

This module is Stripe: it signs with its own HMAC (not the SDK's helper) and writes the CSV
with the csv module, so the SDK's verification and monosub's parsers are tested against an
independent implementation. Event and object times come from ``now`` (the runtime passes the
business clock); the request records use the wall clock.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import hmac
import io
import json
import re
import secrets
import string
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from local.local_server import LocalHttpServer

API_VERSION = "2026-10-28.endive"  # what stripe-python 16 pins; echoed in events
CARD_FEE_PER_MILLE = 36  # 3.6 %, Stripe Japan's standard card rate
DISPUTE_FEE = 1500  # JPY, Stripe Japan's dispute fee
MINIMUM_AMOUNT = 50  # JPY: Stripe refuses a smaller charge (amount_too_small)
SESSION_LIFETIME = timedelta(hours=24)  # a Checkout Session's default expiry
AVAILABLE_AFTER = timedelta(days=4)  # when a balance transaction's funds become available
INVOICE_METADATA_KEY = "monosub_invoice_id"
PAYOUT_COLUMNS = (
    "automatic_payout_id",
    "automatic_payout_effective_at",
    "balance_transaction_id",
    "created",
    "available_on",
    "currency",
    "gross",
    "fee",
    "net",
    "reporting_category",
    "description",
    "payment_intent_id",
    "charge_id",
    f"payment_metadata[{INVOICE_METADATA_KEY}]",
    "customer_id",
)
# Request headers kept in the record (never Authorization: it carries the key).
RECORDED_HEADERS = ("Content-Type", "Idempotency-Key", "Stripe-Version")
DECLINE_MESSAGES = {
    "card_declined": "Your card was declined.",
    "expired_card": "Your card has expired.",
    "insufficient_funds": "Your card has insufficient funds.",
    "incorrect_cvc": "Your card's security code is incorrect.",
    "processing_error": "An error occurred while processing your card. Try again in a little bit.",
}
_ID_ALPHABET = string.ascii_letters + string.digits
_KEY_PART = re.compile(r"\[([^\]]*)\]")

EventSink = Callable[[bytes, str], object]


@dataclass
class StripeRequest:
    """One API request as the server saw it and what it answered."""

    method: str
    path: str
    headers: dict[str, str]
    params: dict[str, Any]  # the decoded form (or query) parameters
    status: int = 0
    authorized: bool = False
    replayed: bool = False  # answered from the Idempotency-Key store
    injected: bool = False  # a failure ordered by fail_next
    at: datetime = field(default_factory=lambda: datetime.now(UTC))  # wall clock, on arrival


@dataclass
class _Stored:
    fingerprint: str  # method, path and canonical parameters
    status: int
    answer: dict[str, Any]


class _Refusal(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        kind: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.status = status
        error: dict[str, Any] = {"type": kind, "message": message}
        if code:
            error["code"] = code
        if param:
            error["param"] = param
        self.answer = {"error": error}


class FakeStripeServer(LocalHttpServer):
    """``with FakeStripeServer(secret, on_event) as fake:`` then configure the adapter with
    ``fake.secret_value()`` (or point ``stripe.StripeClient`` at ``fake.url`` with
    ``fake.api_key``)."""

    thread_name = "fake-stripe"

    def __init__(
        self,
        webhook_secret: str | None = None,
        on_event: EventSink | None = None,
        *,
        api_key: str | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.webhook_secret = webhook_secret or "whsec_" + _token(32)
        self.api_key = api_key or "sk_test_" + _token(32)
        self.on_event = on_event
        self.now: Callable[[], datetime] = now or (lambda: datetime.now(UTC))
        self.requests: list[StripeRequest] = []
        self.events: list[dict[str, Any]] = []  # every event sent, in order
        self.outbox: list[tuple[bytes, str]] = []  # (payload, signature) when no on_event
        self.payout_files: dict[str, bytes] = {}  # payout id -> its reconciliation CSV
        self._objects: dict[str, dict[str, Any]] = {}  # every object, by id
        self._payloads: dict[str, bytes] = {}  # event id -> the exact bytes sent
        self._balance: list[str] = []  # balance transaction ids, in creation order
        self._paid_out: set[str] = set()
        self._answered: dict[str, _Stored] = {}
        self._fail: list[int] = []
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle ---------------------------------------------------------------------------

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(_Handler):
            server_fake = fake

        return Handler

    @property
    def url(self) -> str:
        return self.base_url

    def secret_value(self) -> str:
        """The JSON to put in the ``stripe`` secret so the adapter talks to this server."""
        return json.dumps(
            {"api_key": self.api_key, "webhook_secret": self.webhook_secret, "api_base": self.url}
        )

    # ---- knobs and views ---------------------------------------------------------------------

    def fail_next(self, count: int, status: int = 503) -> None:
        """Answer the next ``count`` API requests with ``status`` and change nothing."""
        with self._lock:
            self._fail.extend([status] * count)

    def get(self, object_id: str) -> dict[str, Any]:
        """A copy of any object the server holds (session, payment intent, charge, ...)."""
        with self._lock:
            return copy.deepcopy(self._objects[object_id])

    def objects(self, kind: str) -> list[dict[str, Any]]:
        """Every object of one ``object`` type (``checkout.session``, ``payment_intent``...)."""
        with self._lock:
            return [copy.deepcopy(o) for o in self._objects.values() if o["object"] == kind]

    def reset(self) -> None:
        """Forget objects, events, answers, records and pending failures (same URL and keys)."""
        with self._lock:
            for kept in (
                self.requests,
                self.events,
                self.outbox,
                self.payout_files,
                self._objects,
                self._payloads,
                self._balance,
                self._paid_out,
                self._answered,
                self._fail,
            ):
                kept.clear()

    # ---- signing and delivery ----------------------------------------------------------------

    def sign(self, payload: bytes, timestamp: int | None = None) -> str:
        """The ``Stripe-Signature`` header Stripe would send with ``payload`` at ``timestamp``
        (default: now): ``t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<payload>">``."""
        signed_at = int(self.now().timestamp()) if timestamp is None else timestamp
        mac = hmac.new(
            self.webhook_secret.encode("utf-8"),
            f"{signed_at}.".encode() + payload,
            hashlib.sha256,
        )
        return f"t={signed_at},v1={mac.hexdigest()}"

    def resend(self, event_id: str) -> str:
        """Deliver an event again, byte for byte, with a fresh signature (as Stripe retries a
        delivery it considers failed). Returns the signature header sent."""
        with self._lock:
            payload = self._payloads[event_id]
        return self._deliver(payload)

    def _deliver(self, payload: bytes) -> str:
        signature = self.sign(payload)
        if self.on_event is not None:
            self.on_event(payload, signature)
        else:
            with self._lock:
                self.outbox.append((payload, signature))
        return signature

    def _event(
        self, kind: str, obj: dict[str, Any], previous: dict[str, Any] | None = None
    ) -> bytes:
        """Record an event about ``obj`` (a snapshot, as Stripe sends) and return its payload;
        the caller delivers it once the lock is released."""
        event: dict[str, Any] = {
            "id": _new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": self._unix(),
            "data": {"object": copy.deepcopy(obj)},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": kind,
        }
        if previous is not None:
            event["data"]["previous_attributes"] = previous
        # Stripe sends pretty-printed JSON: a compact re-serialization is another body.
        payload = json.dumps(event, ensure_ascii=False, indent=2).encode("utf-8")
        self.events.append(event)
        self._payloads[event["id"]] = payload
        return payload

    # ---- the customer and Stripe -------------------------------------------------------------

    def pay_checkout(self, session_id: str) -> str:
        """The customer pays an open Checkout Session by card: its PaymentIntent is created
        and succeeds (charge, balance transaction). Sends ``payment_intent.succeeded`` then
        ``checkout.session.completed`` (Stripe does not promise an order). Returns the
        payment intent id."""
        with self._lock:
            session = self._find(session_id, "checkout.session")
            if session["status"] != "open":
                raise ValueError(f"session {session_id} is {session['status']}, not open")
            intent_data = session.pop("_payment_intent_data", {})
            intent = self._new_intent(
                amount=session["amount_total"],
                currency=session["currency"],
                metadata=dict(intent_data.get("metadata") or {}),
                description=intent_data.get("description"),
                customer=session.get("customer"),
            )
            self._succeed(intent)
            session.update(
                status="complete",
                payment_status="paid",
                payment_intent=intent["id"],
                url=None,
            )
            session["customer_details"] = {"email": session.get("customer_email")}
            payloads = [
                self._event("payment_intent.succeeded", intent),
                self._event("checkout.session.completed", session),
            ]
        for payload in payloads:
            self._deliver(payload)
        return str(intent["id"])

    def pay_intent(self, payment_intent_id: str) -> str:
        """The customer confirms a PaymentIntent with a good card. Sends
        ``payment_intent.succeeded``; returns the charge id."""
        with self._lock:
            intent = self._find(payment_intent_id, "payment_intent")
            if intent["status"] == "succeeded":
                raise ValueError(f"payment intent {payment_intent_id} already succeeded")
            charge = self._succeed(intent)
            payload = self._event("payment_intent.succeeded", intent)
        self._deliver(payload)
        return str(charge["id"])

    def fail_intent(self, payment_intent_id: str, code: str = "card_declined") -> str:
        """The card is declined (``code``: ``card_declined``, ``insufficient_funds``...): a
        failed charge, the intent back to ``requires_payment_method`` with
        ``last_payment_error``. Sends ``payment_intent.payment_failed``; returns the event id."""
        with self._lock:
            intent = self._find(payment_intent_id, "payment_intent")
            if intent["status"] == "succeeded":
                raise ValueError(f"payment intent {payment_intent_id} already succeeded")
            self._decline(intent, code)
            payload = self._event("payment_intent.payment_failed", intent)
            event_id = self.events[-1]["id"]
        self._deliver(payload)
        return str(event_id)

    def refund(self, payment_intent_id: str, amount: int | None = None) -> str:
        """Refund ``amount`` (default: what is left) of a succeeded payment: a refund, its
        balance transaction (Stripe Japan keeps the card fee) and ``charge.refunded`` with the
        charge's cumulative ``amount_refunded`` and ``previous_attributes``. Returns the
        refund id."""
        with self._lock:
            intent = self._find(payment_intent_id, "payment_intent")
            if intent["status"] != "succeeded":
                raise ValueError(f"payment intent {payment_intent_id} has not succeeded")
            charge = self._objects[intent["latest_charge"]]
            left = charge["amount"] - charge["amount_refunded"]
            amount = left if amount is None else amount
            if not 0 < amount <= left:
                raise ValueError(f"cannot refund {amount}: {left} left on {charge['id']}")
            refund_id = _new_id("re")
            txn = self._balance_transaction(
                amount=-amount,
                fee=0,
                kind="refund",
                category="refund",
                source=refund_id,
                description=f"REFUND FOR CHARGE ({intent.get('description') or charge['id']})",
            )
            refund = self._store(
                {
                    "id": refund_id,
                    "object": "refund",
                    "amount": amount,
                    "balance_transaction": txn["id"],
                    "charge": charge["id"],
                    "created": self._unix(),
                    "currency": charge["currency"],
                    "metadata": {},
                    "payment_intent": intent["id"],
                    "reason": "requested_by_customer",
                    "status": "succeeded",
                }
            )
            previous = {"amount_refunded": charge["amount_refunded"], "refunded": False}
            charge["amount_refunded"] += amount
            charge["refunded"] = charge["amount_refunded"] == charge["amount"]
            refunds = charge["refunds"]
            refunds["data"].insert(0, copy.deepcopy(refund))
            refunds["total_count"] = len(refunds["data"])
            payload = self._event("charge.refunded", charge, previous)
        self._deliver(payload)
        return refund_id

    def dispute(self, payment_intent_id: str, reason: str = "fraudulent") -> str:
        """The cardholder disputes a succeeded payment: Stripe takes the disputed amount and
        the dispute fee from the balance (one balance transaction, reporting category
        ``dispute``) and sends ``charge.dispute.created``. Returns the dispute id."""
        with self._lock:
            intent = self._find(payment_intent_id, "payment_intent")
            if intent["status"] != "succeeded":
                raise ValueError(f"payment intent {payment_intent_id} has not succeeded")
            charge = self._objects[intent["latest_charge"]]
            amount = charge["amount"] - charge["amount_refunded"]
            dispute_id = _new_id("dp")
            txn = self._balance_transaction(
                amount=-amount,
                fee=DISPUTE_FEE,
                kind="adjustment",
                category="dispute",
                source=dispute_id,
                description=f"Chargeback withdrawal for {charge['id']}",
                fee_description="Dispute fee",
            )
            dispute = self._store(
                {
                    "id": dispute_id,
                    "object": "dispute",
                    "amount": amount,
                    "balance_transactions": [copy.deepcopy(txn)],
                    "charge": charge["id"],
                    "created": self._unix(),
                    "currency": charge["currency"],
                    "evidence_details": {
                        "due_by": self._unix(timedelta(days=7)),
                        "has_evidence": False,
                        "past_due": False,
                        "submission_count": 0,
                    },
                    "is_charge_refundable": False,
                    "livemode": False,
                    "metadata": {},
                    "payment_intent": intent["id"],
                    "reason": reason,
                    "status": "needs_response",
                }
            )
            charge["disputed"] = True
            payload = self._event("charge.dispute.created", dispute)
        self._deliver(payload)
        return dispute_id

    def invoice_paid(
        self,
        stripe_invoice_id: str,
        amount: int,
        metadata: dict[str, str],
        payment_intent_id: str | None = None,
        *,
        customer_id: str | None = None,
    ) -> str:
        """A Stripe Billing invoice is paid by card: its PaymentIntent (``payment_intent_id``,
        created when unknown) succeeds and ``payment_intent.succeeded`` then ``invoice.paid``
        are sent. As on Stripe, the invoice's metadata is the invoice's own: the PaymentIntent
        does not carry it, so a payout row is matched through the payment intent id the
        ``invoice.paid`` event names (``payments.data[].payment.payment_intent``). Returns the
        payment intent id."""
        with self._lock:
            intent = self._invoice_intent(payment_intent_id, amount, customer_id)
            if intent["status"] != "succeeded":
                self._succeed(intent)
            invoice = self._invoice(stripe_invoice_id, amount, metadata, intent)
            invoice.update(
                status="paid",
                paid=True,
                amount_paid=amount,
                amount_remaining=0,
                attempted=True,
                attempt_count=invoice["attempt_count"] + 1,
                next_payment_attempt=None,
            )
            invoice["status_transitions"]["paid_at"] = self._unix()
            invoice["payments"]["data"][0]["status"] = "paid"
            invoice["payments"]["data"][0]["amount_paid"] = amount
            payloads = [
                self._event("payment_intent.succeeded", intent),
                self._event("invoice.paid", invoice),
            ]
        for payload in payloads:
            self._deliver(payload)
        return str(intent["id"])

    def invoice_payment_failed(
        self,
        stripe_invoice_id: str,
        amount: int,
        metadata: dict[str, str],
        payment_intent_id: str | None = None,
        *,
        code: str = "card_declined",
        customer_id: str | None = None,
    ) -> str:
        """Stripe Billing fails to charge an invoice: the PaymentIntent is declined (``code``)
        and ``invoice.payment_failed`` is sent (the invoice stays ``open``, with its attempt
        count and next attempt). Returns the payment intent id."""
        with self._lock:
            intent = self._invoice_intent(payment_intent_id, amount, customer_id)
            self._decline(intent, code)
            invoice = self._invoice(stripe_invoice_id, amount, metadata, intent)
            invoice.update(
                attempted=True,
                attempt_count=invoice["attempt_count"] + 1,
                next_payment_attempt=self._unix(timedelta(days=3)),
            )
            payload = self._event("invoice.payment_failed", invoice)
        self._deliver(payload)
        return str(intent["id"])

    def payout(self, payout_id: str | None = None, arrival: date | None = None) -> bytes:
        """Pay out every balance transaction not yet paid out, and return the itemized payout
        reconciliation CSV for it: one row per balance transaction, then the payout's own
        (``payout``, gross = net = -total, fee 0), so the rows' net sums to zero."""
        with self._lock:
            due = [txn for txn in self._balance if txn not in self._paid_out]
            if not due:
                raise ValueError("nothing to pay out")
            rows = [self._objects[txn] for txn in due]
            total = sum(row["net"] for row in rows)
            payout_id = payout_id or _new_id("po")
            if payout_id in self._objects:
                raise ValueError(f"payout {payout_id} exists")
            arrival_day = arrival or (self.now() + timedelta(days=2)).astimezone(UTC).date()
            effective_at = int(datetime(*arrival_day.timetuple()[:3], tzinfo=UTC).timestamp())
            payout_txn = self._balance_transaction(
                amount=-total,
                fee=0,
                kind="payout",
                category="payout",
                source=payout_id,
                description="STRIPE PAYOUT",
                paid_out=True,
            )
            self._store(
                {
                    "id": payout_id,
                    "object": "payout",
                    "amount": total,
                    "arrival_date": effective_at,
                    "automatic": True,
                    "balance_transaction": payout_txn["id"],
                    "created": self._unix(),
                    "currency": "jpy",
                    "status": "paid",
                }
            )
            self._paid_out.update(due)
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\r\n")
            writer.writerow(PAYOUT_COLUMNS)
            for txn in [*rows, payout_txn]:
                writer.writerow(self._report_row(txn, payout_id, effective_at))
            content = out.getvalue().encode("utf-8")
            self.payout_files[payout_id] = content
        return content

    # ---- object changes (under the lock) ----------------------------------------------------

    def _unix(self, later: timedelta = timedelta(0)) -> int:
        return int((self.now() + later).timestamp())

    def _store(self, obj: dict[str, Any]) -> dict[str, Any]:
        self._objects[obj["id"]] = obj
        return obj

    def _find(self, object_id: str, kind: str) -> dict[str, Any]:
        obj = self._objects.get(object_id)
        if obj is None or obj["object"] != kind:
            raise KeyError(f"no {kind} {object_id}")
        return obj

    def _new_intent(
        self,
        *,
        amount: int,
        currency: str,
        metadata: dict[str, str],
        description: str | None,
        customer: str | None,
        intent_id: str | None = None,
    ) -> dict[str, Any]:
        intent_id = intent_id or _new_id("pi")
        return self._store(
            {
                "id": intent_id,
                "object": "payment_intent",
                "amount": amount,
                "amount_capturable": 0,
                "amount_received": 0,
                "capture_method": "automatic",
                "client_secret": f"{intent_id}_secret_{_token(24)}",
                "confirmation_method": "automatic",
                "created": self._unix(),
                "currency": currency,
                "customer": customer,
                "description": description,
                "last_payment_error": None,
                "latest_charge": None,
                "livemode": False,
                "metadata": metadata,
                "payment_method": None,
                "payment_method_types": ["card"],
                "status": "requires_payment_method",
            }
        )

    def _charge(self, intent: dict[str, Any], *, paid: bool) -> dict[str, Any]:
        return self._store(
            {
                "id": _new_id("ch"),
                "object": "charge",
                "amount": intent["amount"],
                "amount_captured": intent["amount"] if paid else 0,
                "amount_refunded": 0,
                "balance_transaction": None,
                "captured": paid,
                "created": self._unix(),
                "currency": intent["currency"],
                "customer": intent["customer"],
                "description": intent["description"],
                "disputed": False,
                "failure_code": None,
                "failure_message": None,
                "livemode": False,
                "metadata": dict(intent["metadata"]),
                "paid": paid,
                "payment_intent": intent["id"],
                "payment_method": "pm_" + _token(24),
                "payment_method_details": {
                    "type": "card",
                    "card": {"brand": "visa", "last4": "4242", "country": "JP"},
                },
                "refunded": False,
                "refunds": {
                    "object": "list",
                    "data": [],
                    "has_more": False,
                    "total_count": 0,
                    "url": "/v1/refunds",
                },
                "status": "succeeded" if paid else "failed",
            }
        )

    def _succeed(self, intent: dict[str, Any]) -> dict[str, Any]:
        charge = self._charge(intent, paid=True)
        txn = self._balance_transaction(
            amount=charge["amount"],
            fee=charge["amount"] * CARD_FEE_PER_MILLE // 1000,
            kind="charge",
            category="charge",
            source=charge["id"],
            description=intent.get("description") or "",
        )
        charge["balance_transaction"] = txn["id"]
        intent.update(
            status="succeeded",
            amount_received=intent["amount"],
            latest_charge=charge["id"],
            payment_method=charge["payment_method"],
            last_payment_error=None,
        )
        return charge

    def _decline(self, intent: dict[str, Any], code: str) -> None:
        charge = self._charge(intent, paid=False)
        message = DECLINE_MESSAGES.get(code, "Your card was declined.")
        charge.update(failure_code=code, failure_message=message)
        intent.update(
            status="requires_payment_method",
            latest_charge=charge["id"],
            last_payment_error={
                "type": "card_error",
                "code": code,
                "decline_code": "generic_decline" if code == "card_declined" else code,
                "message": message,
                "charge": charge["id"],
                "payment_method": {"id": charge["payment_method"], "object": "payment_method"},
            },
        )

    def _balance_transaction(
        self,
        *,
        amount: int,
        fee: int,
        kind: str,
        category: str,
        source: str,
        description: str,
        fee_description: str = "Stripe processing fees",
        paid_out: bool = False,
    ) -> dict[str, Any]:
        txn = self._store(
            {
                "id": _new_id("txn"),
                "object": "balance_transaction",
                "amount": amount,
                "available_on": self._unix(AVAILABLE_AFTER),
                "created": self._unix(),
                "currency": "jpy",
                "description": description,
                "fee": fee,
                "fee_details": (
                    [
                        {
                            "amount": fee,
                            "currency": "jpy",
                            "description": fee_description,
                            "type": "stripe_fee",
                        }
                    ]
                    if fee
                    else []
                ),
                "net": amount - fee,
                "reporting_category": category,
                "source": source,
                "status": "pending",
                "type": kind,
            }
        )
        if not paid_out:
            self._balance.append(txn["id"])
        return txn

    def _invoice_intent(
        self, payment_intent_id: str | None, amount: int, customer_id: str | None
    ) -> dict[str, Any]:
        known = self._objects.get(payment_intent_id or "")
        if known is not None:
            return known
        return self._new_intent(
            amount=amount,
            currency="jpy",
            metadata={},
            description="Subscription update",
            customer=customer_id or "cus_" + _token(14),
            intent_id=payment_intent_id,
        )

    def _invoice(
        self, invoice_id: str, amount: int, metadata: dict[str, str], intent: dict[str, Any]
    ) -> dict[str, Any]:
        invoice = self._objects.get(invoice_id)
        if invoice is None:
            invoice = self._store(
                {
                    "id": invoice_id,
                    "object": "invoice",
                    "amount_due": amount,
                    "amount_paid": 0,
                    "amount_remaining": amount,
                    "attempt_count": 0,
                    "attempted": False,
                    "billing_reason": "subscription_cycle",
                    "collection_method": "charge_automatically",
                    "created": self._unix(),
                    "currency": "jpy",
                    "customer": intent["customer"],
                    "livemode": False,
                    "metadata": dict(metadata),
                    "next_payment_attempt": None,
                    "number": None,
                    "paid": False,
                    "payments": {
                        "object": "list",
                        "data": [],
                        "has_more": False,
                        "url": f"/v1/invoices/{invoice_id}/payments",
                    },
                    "status": "open",
                    "status_transitions": {"finalized_at": self._unix(), "paid_at": None},
                    "total": amount,
                }
            )
        invoice["payments"]["data"] = [
            {
                "id": "inpay_" + _token(24),
                "object": "invoice_payment",
                "amount_paid": None,
                "amount_requested": amount,
                "currency": "jpy",
                "invoice": invoice_id,
                "is_default": True,
                "payment": {"type": "payment_intent", "payment_intent": intent["id"]},
                "status": "open",
            }
        ]
        return invoice

    def _report_row(self, txn: dict[str, Any], payout_id: str, effective_at: int) -> list[Any]:
        """One row of the itemized payout reconciliation report for ``txn``."""
        intent: dict[str, Any] = {}
        charge_id = ""
        source = self._objects.get(txn["source"], {})
        if source.get("object") == "charge":
            charge_id = source["id"]
        elif source.get("object") in ("refund", "dispute"):
            charge_id = source["charge"]
        if charge_id:
            intent = self._objects.get(self._objects[charge_id].get("payment_intent") or "", {})
        return [
            payout_id,
            _report_time(effective_at),
            txn["id"],
            _report_time(txn["created"]),
            _report_time(txn["available_on"]),
            txn["currency"],
            txn["amount"],
            txn["fee"],
            txn["net"],
            txn["reporting_category"],
            txn["description"],
            intent.get("id", ""),
            charge_id,
            (intent.get("metadata") or {}).get(INVOICE_METADATA_KEY, ""),
            intent.get("customer") or "",
        ]

    # ---- the API -----------------------------------------------------------------------------

    def _arrive(self, record: StripeRequest) -> int | None:
        with self._lock:
            self.requests.append(record)
            return self._fail.pop(0) if self._fail else None

    def _handle(
        self, record: StripeRequest, authorization: str | None, key: str | None
    ) -> tuple[int, dict[str, Any]]:
        if authorization != f"Bearer {self.api_key}":
            raise _Refusal(
                401,
                "Invalid API Key provided.",
                code="api_key_invalid",
                kind="invalid_request_error",
            )
        record.authorized = True
        with self._lock:
            fingerprint = json.dumps(
                [record.method, record.path, record.params], sort_keys=True, ensure_ascii=False
            )
            if key and record.method == "POST":
                stored = self._answered.get(key)
                if stored is not None:
                    if stored.fingerprint != fingerprint:
                        raise _Refusal(
                            400,
                            "Keys for idempotent requests can only be used with the same "
                            "parameters they were first used with. Try using a key other than "
                            f"'{key}' if you meant to execute a different request.",
                            kind="idempotency_error",
                        )
                    record.replayed = True
                    return stored.status, copy.deepcopy(stored.answer)
            status, answer = self._route(record)
            answer = _public(answer)
            if key and record.method == "POST":
                self._answered[key] = _Stored(fingerprint, status, copy.deepcopy(answer))
            return status, answer

    def _route(self, record: StripeRequest) -> tuple[int, dict[str, Any]]:
        method, path, params = record.method, record.path, record.params
        if method == "POST" and path == "/v1/checkout/sessions":
            return 200, self._create_session(params)
        if method == "POST" and path == "/v1/payment_intents":
            return 200, self._create_intent(params)
        match = re.fullmatch(r"/v1/([a-z_/]+)/([A-Za-z0-9_]+)", path)
        if method == "GET" and match:
            kind = {
                "checkout/sessions": "checkout.session",
                "payment_intents": "payment_intent",
                "charges": "charge",
                "refunds": "refund",
                "disputes": "dispute",
                "balance_transactions": "balance_transaction",
                "payouts": "payout",
                "invoices": "invoice",
                "events": "event",
            }.get(match.group(1))
            found = self._objects.get(match.group(2))
            if match.group(1) == "events":
                found = next((e for e in self.events if e["id"] == match.group(2)), None)
            if kind is not None and found is not None and found["object"] == kind:
                return 200, copy.deepcopy(found)
            if kind is not None:
                raise _Refusal(
                    404,
                    f"No such {kind.split('.')[-1]}: '{match.group(2)}'",
                    code="resource_missing",
                    param="id",
                )
        raise _Refusal(
            404, f"Unrecognized request URL ({method}: {path}).", kind="invalid_request_error"
        )

    def _create_session(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("mode") != "payment":
            raise _Refusal(400, "Only mode=payment is supported here.", param="mode")
        for needed in ("success_url", "cancel_url"):
            if not isinstance(params.get(needed), str) or not params[needed]:
                raise _Refusal(400, f"Missing required param: {needed}.", param=needed)
        items = params.get("line_items")
        if not isinstance(items, list) or not items:
            raise _Refusal(400, "Missing required param: line_items.", param="line_items")
        total, currency = 0, None
        for index, item in enumerate(items):
            where = f"line_items[{index}]"
            price = item.get("price_data") if isinstance(item, dict) else None
            if not isinstance(price, dict):
                raise _Refusal(400, f"Missing {where}[price_data].", param=f"{where}[price_data]")
            unit = _integer(price.get("unit_amount"), f"{where}[price_data][unit_amount]")
            quantity = _integer(item.get("quantity", "1"), f"{where}[quantity]")
            name = (price.get("product_data") or {}).get("name")
            if not isinstance(name, str) or not name:
                raise _Refusal(
                    400,
                    "Missing required param: product_data[name].",
                    param=f"{where}[price_data][product_data][name]",
                )
            currency = _currency(price.get("currency"), f"{where}[price_data][currency]")
            total += unit * quantity
        _check_amount(total, "line_items")
        session_id = "cs_test_" + _token(58)
        created = self._unix()
        metadata = _metadata(params.get("metadata"), "metadata")
        intent_data = params.get("payment_intent_data") or {}
        return self._store(
            {
                "id": session_id,
                "object": "checkout.session",
                "amount_subtotal": total,
                "amount_total": total,
                "cancel_url": params["cancel_url"],
                "client_reference_id": params.get("client_reference_id"),
                "created": created,
                "currency": currency,
                "customer": params.get("customer"),
                "customer_email": params.get("customer_email"),
                "expires_at": created + int(SESSION_LIFETIME.total_seconds()),
                "livemode": False,
                "locale": params.get("locale"),
                "metadata": metadata,
                "mode": "payment",
                "payment_intent": None,  # created when the customer pays
                "payment_method_types": params.get("payment_method_types") or ["card"],
                "payment_status": "unpaid",
                "status": "open",
                "success_url": params["success_url"],
                "url": f"{self.url}/c/pay/{session_id}",
                "_payment_intent_data": {
                    "description": intent_data.get("description"),
                    "metadata": _metadata(
                        intent_data.get("metadata"), "payment_intent_data[metadata]"
                    ),
                },
            }
        )

    def _create_intent(self, params: dict[str, Any]) -> dict[str, Any]:
        if "amount" not in params:
            raise _Refusal(400, "Missing required param: amount.", param="amount")
        amount = _integer(params["amount"], "amount")
        _check_amount(amount, "amount")
        return self._new_intent(
            amount=amount,
            currency=_currency(params.get("currency"), "currency"),
            metadata=_metadata(params.get("metadata"), "metadata"),
            description=params.get("description"),
            customer=params.get("customer"),
        )


# ---- helpers -----------------------------------------------------------------------------------


def _token(length: int) -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def _new_id(prefix: str) -> str:
    return f"{prefix}_{_token(24)}"


def _report_time(unix: int) -> str:
    """A time as Stripe's reports write it: UTC, ``YYYY-MM-DD HH:MM:SS``."""
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _public(obj: dict[str, Any]) -> dict[str, Any]:
    """An object as the API shows it: without the server's own ``_`` fields."""
    return {k: copy.deepcopy(v) for k, v in obj.items() if not k.startswith("_")}


def _integer(value: Any, param: str) -> int:
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        return int(value)
    raise _Refusal(400, f"Invalid integer: {value}", code="parameter_invalid_integer", param=param)


def _currency(value: Any, param: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[a-z]{3}", value):
        raise _Refusal(400, f"Invalid currency: {value}", code="invalid_currency", param=param)
    if value != "jpy":
        raise _Refusal(400, f"This fake Stripe account settles JPY only, not {value}.", param=param)
    return value


def _check_amount(amount: int, param: str) -> None:
    if amount < MINIMUM_AMOUNT:
        raise _Refusal(
            400,
            f"Amount must be at least ¥{MINIMUM_AMOUNT} jpy",
            code="amount_too_small",
            param=param,
        )


def _metadata(value: Any, param: str) -> dict[str, str]:
    if value is None or value == "":
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise _Refusal(400, "Invalid metadata: a hash of strings.", param=param)
    return dict(value)


def decode_form(text: str) -> dict[str, Any]:
    """Stripe's form encoding back into nested values: ``a[b][0][c]=v`` becomes
    ``{"a": {"b": [{"c": "v"}]}}`` (values stay strings, as Stripe receives them)."""
    root: dict[str, Any] = {}
    for key, value in urllib.parse.parse_qsl(text, keep_blank_values=True):
        head = key.split("[", 1)[0]
        parts = [head, *_KEY_PART.findall(key[len(head) :])]
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise _Refusal(400, f"Invalid parameter: {key}", param=key)
        node[parts[-1]] = value
    return _listify(root)


def _listify(node: Any) -> Any:
    """Dicts keyed 0..n-1 (``line_items[0]``) as lists."""
    if not isinstance(node, dict):
        return node
    values = {k: _listify(v) for k, v in node.items()}
    if values and all(k.isdigit() for k in values):
        ordered = sorted(values, key=int)
        if [int(k) for k in ordered] == list(range(len(ordered))):
            return [values[k] for k in ordered]
    return values


class _Handler(BaseHTTPRequestHandler):
    server_fake: FakeStripeServer

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:  # the record is the log
        return None

    def _serve(self) -> None:
        fake = self.server_fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8", errors="replace") if length else ""
        path, _, query = self.path.partition("?")
        if path.startswith("/c/pay/"):  # the hosted checkout page a customer would open
            self._answer(200, {"checkout_session": path.rsplit("/", 1)[-1]}, replayed=False)
            return
        try:
            params = decode_form(raw if self.command == "POST" else query)
        except _Refusal as refusal:
            self._answer(refusal.status, refusal.answer, replayed=False)
            return
        record = StripeRequest(
            method=self.command,
            path=path,
            headers={h: v for h in RECORDED_HEADERS if (v := self.headers.get(h)) is not None},
            params=params,
        )
        fail = fake._arrive(record)
        if fail is not None:
            record.injected = True
            status, answer = fail, _injected(fail)
        else:
            try:
                status, answer = fake._handle(
                    record, self.headers.get("Authorization"), self.headers.get("Idempotency-Key")
                )
            except _Refusal as refusal:
                status, answer = refusal.status, refusal.answer
        record.status = status
        self._answer(status, answer, replayed=record.replayed)

    def _answer(self, status: int, answer: dict[str, Any], *, replayed: bool) -> None:
        payload = json.dumps(answer, ensure_ascii=False).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Request-Id", "req_" + _token(14))
            self.send_header("Stripe-Version", API_VERSION)
            if replayed:
                self.send_header("Idempotent-Replayed", "true")
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass


def _injected(status: int) -> dict[str, Any]:
    if status == 429:
        return _Refusal(
            429,
            "Too many requests in a short time.",
            code="rate_limit",
            kind="invalid_request_error",
        ).answer
    if status >= 500:
        return {"error": {"type": "api_error", "message": f"injected failure {status}"}}
    return _Refusal(status, f"injected failure {status}", code="injected").answer
