"""Recording money received (入金) and applying it to invoices (消込), for every channel:
card (Stripe webhooks, settlement files), direct debit (全銀 result files), bank transfer
(statements). See docs/cash.md.

A channel describes what it saw as ``Received``; ``record`` makes it a ``Payment`` once:

1. Its id is derived from the provider and the provider's reference, so the same transaction
   seen again (a redelivered webhook, a settlement row after the webhook, a statement dropped
   twice) is the same payment, recorded once (a conditional put).
2. Its allocations are decided when it is first recorded: the invoice it names (a card
   payment's metadata, a debit's 顧客番号) up to what is owed, or the allocations the channel's
   matcher decided (a bank transfer over an account's open invoices, oldest due first);
   whatever no invoice takes is the customer's credit (前受金). A refund or a dispute (negative)
   gives back from the invoice what it had received, the rest from credit.
3. Applying is idempotent per (invoice, payment): the invoice update is conditional on the
   version read and on the payment not being applied yet, so a retried or concurrent run
   never applies it twice and an interrupted one is completed by the next.

Requests: a batch read of the payments and one of the invoices per 100, then one put per
new payment and one update per invoice it touches; events ten to a call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from monosub import clock, events, ids
from monosub.events import EventPublisher
from monosub.models.billing import Invoice
from monosub.models.cash import (
    Allocation,
    Payment,
    PaymentFailure,
    PaymentKind,
    PaymentMethod,
)
from monosub.models.exceptions import ExceptionAction, ExceptionRecord
from monosub.observability import count
from monosub.store import billing as billing_store
from monosub.store import cash as store

SOURCE = "monosub.cash"
_ATTEMPTS = 8


@dataclass(frozen=True)
class Received:
    """A payment as a channel saw it, before it is recorded."""

    provider: str
    reference: str
    method: PaymentMethod
    amount: int
    received_on: date
    source: str
    kind: PaymentKind = "payment"
    invoice_id: str | None = None  # the invoice it pays (or is given back from)
    account_id: str | None = None  # the account it belongs to (required without invoice_id)
    allocations: tuple[Allocation, ...] | None = None  # decided by the channel's matcher
    related_payment_id: str | None = None
    payer: str | None = None
    fee: int | None = None
    net: int | None = None
    payout_id: str | None = None
    note: str | None = None

    @property
    def payment_id(self) -> str:
        return payment_id(self.provider, self.reference)


def payment_id(provider: str, reference: str) -> str:
    """The id that always belongs to a provider's transaction."""
    return ids.derived_id("pay", f"{provider}:{reference}")


@dataclass
class Recorded:
    payment: Payment
    new: bool
    paid: list[str] = field(default_factory=list)  # invoices this payment paid in full
    reopened: list[str] = field(default_factory=list)  # invoices owed again (a refund)


class UnknownInvoice(LookupError):
    """A payment names an invoice monosub does not have: the channel raises an exception."""


def record(
    received: Sequence[Received], *, publisher: EventPublisher | None = None
) -> list[Recorded]:
    """Record and apply each payment once (see the module). Raises ``UnknownInvoice`` before
    writing anything when one names an invoice that does not exist."""
    if not received:
        return []
    existing = store.get_payments([r.payment_id for r in received])
    named = {r.invoice_id for r in received if r.invoice_id}
    named |= {a.invoice_id for r in received for a in r.allocations or ()}
    invoices = billing_store.get_invoices(sorted(named))
    missing = sorted(named - set(invoices))
    if missing:
        raise UnknownInvoice(f"no invoice {', '.join(missing)}")
    results: list[Recorded] = []
    seen: set[str] = set()
    for item in received:
        if item.payment_id in seen:
            continue
        seen.add(item.payment_id)
        payment = existing.get(item.payment_id)
        new = False
        if payment is None:
            payment = _new_payment(item, invoices)
            new = store.put_payment(payment)
            if not new:  # recorded meanwhile by another run: finish applying that one
                payment = store.get_payment(item.payment_id) or payment
        results.append(_apply(payment, new, invoices))
    _publish(results, publisher)
    fresh = [r.payment for r in results if r.new]
    if fresh:
        count("PaymentsRecorded", len(fresh))
        count("AmountCollectedYen", sum(p.amount for p in fresh))
    return results


def _new_payment(item: Received, invoices: dict[str, Invoice]) -> Payment:
    invoice = None
    if item.invoice_id:
        # read again when an earlier payment of the batch changed it (see _apply)
        invoice = invoices.get(item.invoice_id) or billing_store.get_invoice(item.invoice_id)
    if item.allocations is not None:
        allocations = list(item.allocations)
    elif invoice is not None:
        allocations = _allocate_to(invoice, item.amount)
    else:
        allocations = []
    account_id = item.account_id or (invoice.account_id if invoice else None)
    allocated = sum(a.amount for a in allocations)
    return Payment(
        payment_id=item.payment_id,
        kind=item.kind,
        method=item.method,
        provider=item.provider,
        reference=item.reference,
        account_id=account_id,
        amount=item.amount,
        received_on=item.received_on,
        allocations=allocations,
        credit=item.amount - allocated if account_id else 0,
        related_payment_id=item.related_payment_id,
        payer=item.payer,
        fee=item.fee,
        net=item.net,
        payout_id=item.payout_id,
        source=item.source,
        note=item.note,
        created_at=clock.now_iso(),
    )


def _allocate_to(invoice: Invoice, amount: int) -> list[Allocation]:
    """Money in: up to what the invoice still owes. Money back: up to what it received."""
    if amount >= 0:
        take = min(amount, max(invoice.balance, 0))
    else:
        take = -min(-amount, invoice.amount_paid)
    return [Allocation(invoice_id=invoice.invoice_id, amount=take)] if take else []


def allocate_oldest_first(open_invoices: Sequence[Invoice], amount: int) -> list[Allocation]:
    """A transfer over an account's open invoices: the one it pays exactly if there is one,
    else the oldest due first, each up to what it owes (a partial payment leaves the last one
    part-owed; an over-payment leaves credit)."""
    owed = [invoice for invoice in open_invoices if invoice.balance > 0]
    exact = [invoice for invoice in owed if invoice.balance == amount]
    if exact:
        return [Allocation(invoice_id=exact[0].invoice_id, amount=amount)]
    allocations = []
    left = amount
    for invoice in sorted(owed, key=lambda i: (i.due_date or date.max, i.invoice_id)):
        if left <= 0:
            break
        take = min(left, invoice.balance)
        allocations.append(Allocation(invoice_id=invoice.invoice_id, amount=take))
        left -= take
    return allocations


CREDIT = "credit"  # the provider of a credit application: the customer's own 前受金


def apply_credit(
    invoices: Sequence[Invoice], *, source: str, publisher: EventPublisher | None = None
) -> list[Recorded]:
    """The customer's credit (前受金: a web-shop checkout paid before the contract started,
    an over-payment) pays its newly issued invoices, oldest due first, as far as it goes.

    One batch read of the accounts' credit per 100 invoices; writes only for accounts that
    have credit. Each application is a payment of kind ``credit_applied`` whose id is derived
    from the invoice, recorded together with taking its amount from the credit (one
    transaction, only while the balance covers it), then applied to the invoice like any
    payment: a rerun or a retried batch applies nothing twice and never takes more credit
    than there is."""
    owed = [invoice for invoice in invoices if invoice.balance > 0]
    credits = store.get_credits(invoice.account_id for invoice in owed)
    results: list[Recorded] = []
    for account_id, credit in sorted(credits.items()):
        left = credit.balance
        mine = sorted(
            (i for i in owed if i.account_id == account_id),
            key=lambda i: (i.due_date or date.max, i.invoice_id),
        )
        for invoice in mine:
            pid = payment_id(CREDIT, invoice.invoice_id)
            payment = store.get_payment(pid) if pid in credit.sources else None
            new = False
            if payment is None:
                take = min(left, invoice.balance)
                if take <= 0:
                    break
                payment = Payment(
                    payment_id=pid,
                    kind="credit_applied",
                    method="credit",
                    provider=CREDIT,
                    reference=invoice.invoice_id,
                    account_id=account_id,
                    amount=take,
                    received_on=clock.today(),
                    allocations=[Allocation(invoice_id=invoice.invoice_id, amount=take)],
                    credit=-take,  # taken from the credit with the payment's record
                    source=source,
                    note="前受金充当",
                    created_at=clock.now_iso(),
                )
                new = store.put_credit_application(payment)
                if not new:  # applied meanwhile by another run, or the credit went elsewhere
                    payment = store.get_payment(pid)
                    if payment is None:
                        continue
                left -= take if new else 0
            results.append(_apply(payment, new, {}))
    _publish(results, publisher)
    applied = [r.payment for r in results if r.new]
    if applied:
        count("CreditApplied", len(applied))
        count("CreditAppliedYen", sum(p.amount for p in applied))
    return results


def _apply(payment: Payment, new: bool, invoices: dict[str, Invoice]) -> Recorded:
    result = Recorded(payment=payment, new=new)
    at = clock.now_iso()
    for allocation in payment.allocations:
        invoice = invoices.get(allocation.invoice_id) or billing_store.get_invoice(
            allocation.invoice_id
        )
        for _ in range(_ATTEMPTS):
            if invoice is None or payment.payment_id in invoice.payments:
                break
            if billing_store.apply_to_invoice(
                invoice,
                payment.payment_id,
                allocation.amount,
                at=at,
                credit=payment.kind == "credit_applied",
            ):
                after = invoice.amount_paid + allocation.amount
                if invoice.balance > 0 and after >= invoice.total:
                    result.paid.append(invoice.invoice_id)
                elif invoice.balance <= 0 and after < invoice.total:
                    result.reopened.append(invoice.invoice_id)
                break
            invoice = billing_store.get_invoice(allocation.invoice_id)
        else:
            raise RuntimeError(f"invoice {allocation.invoice_id} kept changing")
        invoices.pop(allocation.invoice_id, None)  # read again if another payment needs it
    if payment.credit and payment.account_id and payment.kind != "credit_applied":
        store.add_credit(payment.account_id, payment.credit, payment.payment_id)
    return result


def _publish(results: Sequence[Recorded], publisher: EventPublisher | None) -> None:
    published: list[events.Event] = []
    for result in results:
        payment = result.payment
        if result.new:
            published.append(
                (
                    SOURCE,
                    "PaymentRecorded",
                    {
                        "payment_id": payment.payment_id,
                        "account_id": payment.account_id,
                        "kind": payment.kind,
                        "method": payment.method,
                        "amount": payment.amount,
                        "credit": payment.credit,
                        "invoices": [a.invoice_id for a in payment.allocations],
                    },
                )
            )
        for invoice_id in result.paid:
            published.append(
                (
                    SOURCE,
                    "InvoicePaid",
                    {
                        "invoice_id": invoice_id,
                        "account_id": payment.account_id,
                        "payment_id": payment.payment_id,
                    },
                )
            )
        for invoice_id in result.reopened:
            published.append(
                (
                    SOURCE,
                    "InvoiceReopened",
                    {
                        "invoice_id": invoice_id,
                        "account_id": payment.account_id,
                        "payment_id": payment.payment_id,
                    },
                )
            )
    events.publish_all(publisher, published)


def record_failure(
    invoice_id: str, failure: PaymentFailure, *, publisher: EventPublisher | None = None
) -> bool:
    """Keep a failed collection (a declined card, a debit returned) on the invoice and tell
    overdue follow-up (``PaymentFailed``). False when the invoice does not exist."""
    for _ in range(_ATTEMPTS):
        invoice = billing_store.get_invoice(invoice_id)
        if invoice is None:
            return False
        if invoice.payment_failure == failure:
            return True
        if billing_store.record_payment_failure(invoice, failure.model_dump(mode="json")):
            break
    else:
        raise RuntimeError(f"invoice {invoice_id} kept changing")
    detail: dict[str, Any] = {
        "invoice_id": invoice_id,
        "account_id": invoice.account_id,
        **failure.model_dump(mode="json"),
    }
    events.publish_all(publisher, [(SOURCE, "PaymentFailed", detail)])
    return True


# ---- payments no invoice could be found for ------------------------------------------------

UNMATCHED = "payment-unmatched"
APPLY = "apply"


def as_original(item: Received) -> dict[str, Any]:
    """A received payment as the exception keeps it (to be recorded when ops decide)."""
    values = {k: v for k, v in item.__dict__.items() if v is not None}
    values["received_on"] = item.received_on.isoformat()
    if item.allocations is not None:
        values["allocations"] = [a.model_dump() for a in item.allocations]
    return values


def raise_unmatched(
    item: Received,
    *,
    reason: str,
    details: dict[str, Any] | None = None,
    publisher: EventPublisher | None = None,
) -> bool:
    """Queue a payment no invoice or account could be found for; ops apply it to an invoice
    or an account (credit) they name, or reject it (returned to the payer outside monosub).
    False when it was queued before."""
    from monosub.services import exceptions

    _, new = exceptions.raise_exception(
        kind=UNMATCHED,
        channel=item.method,
        source=item.source,
        reference=f"{item.provider}:{item.reference}",
        reason=reason,
        original={"received": as_original(item)},
        details=details,
        amount=item.amount,
        account_id=item.account_id,
        invoice_id=item.invoice_id,
        actions=(APPLY,),
        publisher=publisher,
    )
    return new


def _apply_unmatched(queued: ExceptionRecord, decision: ExceptionAction) -> dict[str, Any]:
    """``apply``: record the queued payment against the invoice (or account) ops named."""
    from monosub.errors import ValidationFailed

    values = dict(queued.original["received"])
    if not decision.invoice_id and not decision.account_id:
        raise ValidationFailed(
            "apply needs the invoice (or the account, for credit) the payment belongs to",
            details=[{"field": "invoice_id", "message": "required"}],
        )
    if decision.invoice_id:
        invoice = billing_store.get_invoice(decision.invoice_id)
        if invoice is None:
            raise ValidationFailed(
                f"no invoice {decision.invoice_id}",
                details=[{"field": "invoice_id", "message": "not found"}],
            )
        values.update(invoice_id=invoice.invoice_id, account_id=invoice.account_id)
    else:
        values.update(invoice_id=None, account_id=decision.account_id)
    values.pop("allocations", None)
    values["received_on"] = date.fromisoformat(values["received_on"])
    values["note"] = f"applied by ops: {decision.note}"
    [result] = record([Received(**values)])
    return {
        "payment_id": result.payment.payment_id,
        "invoice_id": decision.invoice_id,
        "account_id": result.payment.account_id,
        "allocated": sum(a.amount for a in result.payment.allocations),
        "credit": result.payment.credit,
    }


def _register() -> None:
    from monosub.services import exceptions

    exceptions.register_action(UNMATCHED, APPLY, _apply_unmatched)


_register()
