"""Card payments through Stripe: a payment link for an invoice, and the webhook that tells us
what happened (docs/cash.md#card).

The webhook (``POST /webhooks/stripe``) checks the signature on the raw body before anything
is parsed (``stripe_gateway.verify_event``); a forged, stale or re-serialized body gets 400
and is recorded (``WEBHOOK-REJECTED#<date>`` in the cash table, a metric, a log line).
A verified event is noted by its id first, so a redelivery is answered at once; an event
whose handling failed half way (an outage: 500, Stripe delivers it again) is handled again,
which is safe because every effect is idempotent:

- money in (``payment_intent.succeeded``, ``checkout.session.completed``, ``invoice.paid``)
  is one payment per payment intent, whichever of them arrives first;
- money back (``charge.refunded``) is one refund per refund object (or, where Stripe sends no
  refund list, per cumulative ``amount_refunded``), after making sure the payment it gives
  back from is recorded (events arrive in any order: a refund may come before its payment);
- a dispute (``charge.dispute.created``) takes the disputed amount back from the invoice and
  queues an exception for ops to answer it;
- a failed attempt (``invoice.payment_failed``, ``payment_intent.payment_failed``) is kept
  on the invoice for overdue follow-up.

An event about money monosub cannot place (no invoice in its metadata, an unknown invoice)
goes to the exceptions queue; Stripe still gets 200 (it was received and kept).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from monosub import clock, company
from monosub.adapters import stripe_gateway
from monosub.errors import Conflict, DomainError, Unavailable, UpstreamRefused
from monosub.events import EventPublisher
from monosub.models.cash import PaymentFailure
from monosub.observability import count, logger
from monosub.services import exceptions, payments
from monosub.services.payments import Received
from monosub.store import billing as billing_store
from monosub.store import cash as store

PROVIDER = "stripe"
METADATA_KEY = "monosub_invoice_id"
DISPUTE = "card-dispute"
ACKNOWLEDGE = "acknowledge"


class WebhookRefused(DomainError):
    """400: the request is not a verified Stripe event (nothing of it was used)."""

    status = 400


def receive(
    payload: bytes,
    signature: str | None,
    *,
    source_ip: str | None = None,
    publisher: EventPublisher | None = None,
) -> dict[str, Any]:
    """Verify and apply one webhook delivery; returns what was done (200) or raises
    ``WebhookRefused`` (400) after recording the rejection."""
    try:
        event = stripe_gateway.verify_event(payload, signature)
    except stripe_gateway.WebhookRejected as rejected:
        rejection = store.record_webhook_rejection(
            PROVIDER,
            {
                "reason": rejected.reason,
                "detail": rejected.detail[:500],
                "source_ip": source_ip,
                "size": len(payload),
                "sha256": hashlib.sha256(payload).hexdigest(),
            },
        )
        count("WebhookRejected")
        logger.warning(
            "stripe webhook rejected",
            extra={"reason": rejected.reason, "rejection_id": rejection},
        )
        raise WebhookRefused(
            f"webhook rejected: {rejected.reason}", details={"reason": rejected.reason}
        ) from None
    event_id, kind = str(event["id"]), str(event["type"])
    first = store.record_webhook_event(
        PROVIDER,
        event_id,
        {
            "type": kind,
            "created": int(event.get("created") or 0),
            "status": "received",
            "received_at": clock.now_iso(),
        },
    )
    if not first:
        noted = store.webhook_event(PROVIDER, event_id) or {}
        if noted.get("status") == "applied":
            return {"event_id": event_id, "type": kind, "outcome": "duplicate"}
    outcome = _apply(event, publisher)
    store.finish_webhook_event(PROVIDER, event_id, {"outcome": outcome})
    count("WebhookApplied")
    return {"event_id": event_id, "type": kind, "outcome": outcome}


def _apply(event: Mapping[str, Any], publisher: EventPublisher | None) -> str:
    obj: dict[str, Any] = event["data"]["object"]
    kind = str(event["type"])
    day = _day(event)
    source = f"{PROVIDER}:{event['id']}"
    where: dict[str, Any] = {"day": day, "source": source, "publisher": publisher}
    if kind == "payment_intent.succeeded":
        amount = int(obj.get("amount_received") or obj["amount"])
        return _money_in(obj["id"], amount, obj.get("metadata"), **where)
    if kind == "checkout.session.completed":
        if obj.get("payment_status") != "paid" or not obj.get("payment_intent"):
            return "ignored: not paid"
        amount = int(obj["amount_total"])
        return _money_in(str(obj["payment_intent"]), amount, obj.get("metadata"), **where)
    if kind == "invoice.paid":
        intent = _invoice_intent(obj) or str(obj["id"])
        return _money_in(intent, int(obj["amount_paid"]), obj.get("metadata"), **where)
    if kind == "charge.refunded":
        return _refunded(
            obj, event.get("data", {}).get("previous_attributes"), day, source, publisher
        )
    if kind == "charge.dispute.created":
        return _disputed(obj, day, source, publisher)
    if kind in ("invoice.payment_failed", "payment_intent.payment_failed"):
        return _failed(kind, obj, day, publisher)
    return "ignored"


def _day(event: Mapping[str, Any]) -> date:
    created = int(event.get("created") or 0)
    when = datetime.fromtimestamp(created, UTC) if created else clock.now()
    return when.astimezone(clock.TOKYO).date()


def _invoice_id(metadata: Any) -> str | None:
    value = (metadata or {}).get(METADATA_KEY) if isinstance(metadata, Mapping) else None
    return str(value) if value else None


def _invoice_intent(invoice: Mapping[str, Any]) -> str | None:
    """The payment intent behind a Stripe Billing invoice: ``payment_intent`` on older API
    versions, ``payments.data[].payment.payment_intent`` on newer ones."""
    if invoice.get("payment_intent"):
        return str(invoice["payment_intent"])
    for entry in (invoice.get("payments") or {}).get("data") or []:
        intent = (entry.get("payment") or {}).get("payment_intent")
        if intent:
            return str(intent)
    return None


def _received(
    intent: str, amount: int, invoice_id: str | None, day: date, source: str, **values: Any
) -> Received:
    return Received(
        provider=PROVIDER,
        reference=intent,
        method="card",
        amount=amount,
        received_on=day,
        source=source,
        invoice_id=invoice_id,
        **values,
    )


def _money_in(
    intent: str,
    amount: int,
    metadata: Any,
    *,
    day: date,
    source: str,
    publisher: EventPublisher | None,
) -> str:
    invoice_id = _invoice_id(metadata)
    if invoice_id is None:
        # A Stripe Billing invoice's payment intent carries no metadata of ours: its
        # invoice.paid (which does) records it, under the same payment intent id.
        return "ignored: no monosub invoice in its metadata"
    return _record(_received(intent, amount, invoice_id, day, source), publisher)


def _record(item: Received, publisher: EventPublisher | None) -> str:
    try:
        [result] = payments.record([item], publisher=publisher)
    except payments.UnknownInvoice:  # raised before anything is written
        payments.raise_unmatched(
            item, reason=f"no invoice {item.invoice_id} in monosub", publisher=publisher
        )
        return "exception: unknown invoice"
    if not result.new:
        return "already recorded"
    return f"recorded {result.payment.kind} ¥{result.payment.amount:,}"


def _base_payment(
    charge: Mapping[str, Any], day: date, source: str, publisher: EventPublisher | None
) -> str | None:
    """The payment a refund or dispute gives back from, recorded from the charge when its own
    event has not arrived yet. Returns the invoice it paid (None: not ours)."""
    intent = str(charge.get("payment_intent") or charge.get("id"))
    recorded = store.get_payment(payments.payment_id(PROVIDER, intent))
    if recorded is not None:
        if recorded.allocations:
            return recorded.allocations[0].invoice_id
        return _invoice_id(charge.get("metadata"))
    invoice_id = _invoice_id(charge.get("metadata"))
    if invoice_id is None or billing_store.get_invoice(invoice_id) is None:
        return None
    amount = int(charge.get("amount_captured") or charge.get("amount") or 0)
    payments.record([_received(intent, amount, invoice_id, day, source)], publisher=publisher)
    return invoice_id


def _refunded(
    charge: Mapping[str, Any],
    previous: Any,
    day: date,
    source: str,
    publisher: EventPublisher | None,
) -> str:
    intent = str(charge.get("payment_intent") or charge.get("id"))
    invoice_id = _base_payment(charge, day, source, publisher)
    related = payments.payment_id(PROVIDER, intent)
    refunds = (charge.get("refunds") or {}).get("data")
    items: list[Received] = []
    if refunds:
        for refund in refunds:
            items.append(
                _received(
                    str(refund["id"]),
                    -int(refund["amount"]),
                    invoice_id,
                    day,
                    source,
                    kind="refund",
                    related_payment_id=related,
                )
            )
    else:
        total = int(charge.get("amount_refunded") or 0)
        before = int((previous or {}).get("amount_refunded") or 0)
        if total > before:
            items.append(
                _received(
                    f"{charge['id']}:refunded:{total}",
                    before - total,
                    invoice_id,
                    day,
                    source,
                    kind="refund",
                    related_payment_id=related,
                )
            )
    if invoice_id is None:
        for item in items:
            payments.raise_unmatched(
                item, reason="a refund of a charge monosub did not record", publisher=publisher
            )
        return "exception: refund of an unknown charge"
    done = payments.record(items, publisher=publisher)
    return f"{sum(r.new for r in done)} refund(s) recorded"


def _disputed(
    dispute: Mapping[str, Any], day: date, source: str, publisher: EventPublisher | None
) -> str:
    intent = str(dispute.get("payment_intent") or dispute.get("charge"))
    recorded = store.get_payment(payments.payment_id(PROVIDER, intent))
    invoice_id = recorded.allocations[0].invoice_id if recorded and recorded.allocations else None
    item = _received(
        str(dispute["id"]),
        -int(dispute["amount"]),
        invoice_id,
        day,
        source,
        kind="dispute",
        related_payment_id=payments.payment_id(PROVIDER, intent),
        account_id=recorded.account_id if recorded else None,
    )
    if recorded is None:
        payments.raise_unmatched(
            item, reason="a dispute of a payment monosub did not record", publisher=publisher
        )
        return "exception: dispute of an unknown payment"
    payments.record([item], publisher=publisher)
    exceptions.raise_exception(
        kind=DISPUTE,
        channel="card",
        source=source,
        reference=str(dispute["id"]),
        reason=f"the cardholder disputes the payment ({dispute.get('reason')}): answer with "
        "evidence in Stripe before the deadline",
        original={"dispute": dict(dispute)},
        amount=-int(dispute["amount"]),
        account_id=recorded.account_id,
        invoice_id=invoice_id,
        actions=(ACKNOWLEDGE,),
        publisher=publisher,
    )
    return "dispute recorded; exception queued"


def _failed(kind: str, obj: Mapping[str, Any], day: date, publisher: EventPublisher | None) -> str:
    invoice_id = _invoice_id(obj.get("metadata"))
    if invoice_id is None:
        return "ignored: no monosub invoice in its metadata"
    error = obj.get("last_payment_error") or {}
    if kind == "invoice.payment_failed":
        code, message = "invoice_payment_failed", "カード決済に失敗しました"
        intent = _invoice_intent(obj) or str(obj["id"])
    else:
        code = str(error.get("decline_code") or error.get("code") or "payment_failed")
        message = str(error.get("message") or "カード決済に失敗しました")
        intent = str(obj["id"])
    failure = PaymentFailure(
        method="card", code=code, reason=message, failed_on=day, reference=intent
    )
    if not payments.record_failure(invoice_id, failure, publisher=publisher):
        return "ignored: unknown invoice"
    return f"failure recorded: {code}"


def _acknowledge(queued: Any, decision: Any) -> dict[str, Any]:
    return {"acknowledged": True}


exceptions.register_action(DISPUTE, ACKNOWLEDGE, _acknowledge)


# ---- a payment link ------------------------------------------------------------------------


def checkout_link(invoice_id: str, *, customer_email: str | None) -> dict[str, Any]:
    """A Stripe Checkout page where the customer pays what the invoice still owes by card."""
    invoice = billing_store.get_invoice(invoice_id)
    if invoice is None:
        raise Conflict(f"no invoice {invoice_id}")
    if invoice.balance <= 0:
        raise Conflict(
            f"invoice {invoice_id} owes nothing ({invoice.status})",
            details={"status": invoice.status, "balance": invoice.balance},
        )
    page = company.invoice_link(invoice_id)
    try:
        link = stripe_gateway.create_checkout_session(
            invoice_id=invoice_id,
            invoice_number=str(invoice.number),
            amount=invoice.balance,
            customer_email=customer_email,
            success_url=f"{page}?paid=1",
            cancel_url=page,
        )
    except (stripe_gateway.StripeUnavailable, stripe_gateway.StripeNotConfigured) as error:
        raise Unavailable(f"Stripe cannot be reached now: {error}") from None
    except stripe_gateway.StripeRejected as error:
        raise UpstreamRefused(f"Stripe refused the payment link: {error}") from None
    return {
        "invoice_id": invoice_id,
        "amount": invoice.balance,
        "session_id": link.session_id,
        "url": link.url,
        "expires_at": link.expires_at.isoformat(),
    }
