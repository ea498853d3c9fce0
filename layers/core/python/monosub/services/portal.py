"""The customer portal (issue 9): a signed-in customer's own account, and nothing else.

Every function takes the account from the caller's sign-in (``auth.Customer``), never from
the request: another account's invoice is "not found", as one that does not exist. The
requests each one makes are few and fixed (docs/customer-portal.md): the invoice list is
one query of the issued-invoices index plus presigned URLs (signed locally, no request).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from monosub import auth, clock, events, ids
from monosub.domain import billing as engine
from monosub.domain import portal as rules
from monosub.domain import usage_billing
from monosub.errors import Conflict, NotFound, ValidationFailed
from monosub.events import EventPublisher
from monosub.formats import zengin
from monosub.intake.usage_readings import UsageRow
from monosub.models.billing import BillingAccount, Invoice, InvoiceSummary, PendingPaymentMethod
from monosub.models.portal import (
    Inquiry,
    InquiryAnswer,
    InquiryIn,
    InquiryStatus,
    MeterReadingIn,
    PaymentMethodChange,
)
from monosub.services import card_payments, usage_readings
from monosub.services import documents as document_service
from monosub.store import billing as billing_store
from monosub.store import portal as store

SOURCE = "monosub.portal"
_ATTEMPTS = 5


def _billing_account(account_id: str) -> BillingAccount:
    account = billing_store.get_account(account_id)
    if account is None:
        raise NotFound("your account has no billing yet (no contract has started)")
    return account


# ---- invoices ------------------------------------------------------------------------------


def invoices(customer: auth.Customer, *, months: int = rules.INVOICE_MONTHS) -> dict[str, Any]:
    """The caller's issued invoices of the last ``months`` months (at most 36), newest
    first, each with a 5-minute PDF link and, for a paper invoice, the print vendor's
    archive-portal link. One query; the links are signed here, without a request."""
    months = max(1, min(months, rules.INVOICE_MONTHS))
    since = engine.month_first(engine.add_months(engine.month_key(clock.today()), 1 - months))
    # one invoice per closing: a month has one (or two, with a credit note), never 3
    found = billing_store.issued_invoices(customer.account_id, since=since, limit=3 * months)
    return {"months": months, "since": since.isoformat(), "invoices": [_view(i) for i in found]}


def _view(invoice: InvoiceSummary) -> dict[str, Any]:
    pdf = None
    if invoice.pdf_key and invoice.number:
        # the documents service's presigned GET: 5 minutes, named after the number
        download = document_service.download(
            invoice.pdf_key, None, f"{invoice.number}.pdf", "application/pdf"
        )
        pdf = {"url": download.url, "expires_at": download.expires_at}
    return {
        "invoice_id": invoice.invoice_id,
        "kind": invoice.kind,
        "number": invoice.number,
        "closing_date": invoice.closing_date.isoformat(),
        "period": {
            "start": invoice.period_start.isoformat(),
            "end": invoice.period_end.isoformat(),
        },
        "total": invoice.total,
        "amount_paid": invoice.amount_paid,
        "balance": invoice.balance,
        "status": invoice.status,
        "due_date": invoice.due_date.isoformat() if invoice.due_date else None,
        "payment_method": invoice.payment_method,
        "delivery": invoice.delivery,
        "pdf": pdf,
        "archive_url": invoice.archive_url if invoice.delivery == "paper" else None,
    }


def _own_invoice(customer: auth.Customer, invoice_id: str) -> Invoice:
    invoice = billing_store.get_invoice(invoice_id)
    if invoice is None or invoice.account_id != customer.account_id or invoice.status == "draft":
        raise NotFound(f"invoice {invoice_id}")
    return invoice


def card_payment(customer: auth.Customer, invoice_id: str) -> dict[str, Any]:
    """A Stripe Checkout link for what the caller's own invoice still owes."""
    _own_invoice(customer, invoice_id)
    account = billing_store.get_account(customer.account_id)
    return card_payments.checkout_link(
        invoice_id, customer_email=account.email if account else None
    )


# ---- consumption ---------------------------------------------------------------------------


def consumption(
    customer: auth.Customer, *, months: int = rules.CONSUMPTION_MONTHS
) -> dict[str, Any]:
    """Use per month per metered service, ready for a chart library: ``months`` labels and
    one series of values per service (None where no reading was stored). Read from the
    billing account's readings (kept for 13 months, what billing still looks at)."""
    months = max(1, min(months, rules.CONSUMPTION_MONTHS))
    account = _billing_account(customer.account_id)
    labels = rules.last_months(clock.today(), months)
    return {
        "months": labels,
        "series": rules.consumption(account.components, account.usage, labels),
    }


# ---- payment method ------------------------------------------------------------------------


def change_payment_method(
    customer: auth.Customer,
    change: PaymentMethodChange,
    *,
    publisher: EventPublisher | None = None,
) -> dict[str, Any]:
    """The method for the next invoice onwards, kept on the billing account as a pending
    change (replacing one made before) until the invoicing run of ``effective_from`` bills
    with it and makes it the account's. Invoices issued before keep theirs."""
    problems = _debit_problems(change)
    if problems:
        raise ValidationFailed("the payment method is refused", details=problems)
    for _ in range(_ATTEMPTS):
        account = _billing_account(customer.account_id)
        effective = rules.next_closing(clock.today(), account.closing_day, account.last_closing)
        pending = PendingPaymentMethod(
            payment_method=change.payment_method,
            debit_account=change.debit_account,
            card=change.card,
            effective_from=effective,
            requested_at=clock.now_iso(),
            requested_by=customer.user,
        )
        if billing_store.save_pending_payment(account, pending):
            break
    else:
        raise Conflict("your billing account kept changing: try again")
    (publisher or events.default_publisher).publish(
        SOURCE,
        "PaymentMethodChangeRequested",
        {
            "account_id": customer.account_id,
            "payment_method": change.payment_method,
            "effective_from": effective.isoformat(),
            "by": customer.user,
        },
    )
    return {
        "payment_method": account.payment_method,
        "pending": pending.model_dump(mode="json", exclude={"card", "debit_account"})
        | {"details": _masked(change)},
    }


def _debit_problems(change: PaymentMethodChange) -> list[dict[str, str]]:
    """The holder's name must be what banks compare (全銀 half-width kana, 30 at most)."""
    if change.debit_account is None:
        return []
    try:
        zengin.fit(zengin.to_zengin_kana(change.debit_account.holder_name), 30, "預金者名")
    except ValueError as error:
        return [{"field": "debit_account.holder_name", "message": str(error)}]
    return []


def _masked(change: PaymentMethodChange) -> dict[str, str] | None:
    """What the portal shows back: never a whole account number."""
    if change.card is not None:
        return {"brand": change.card.brand or "", "last4": change.card.last4 or ""}
    if change.debit_account is not None:
        debit = change.debit_account
        return {
            "bank_code": debit.bank_code,
            "branch_code": debit.branch_code,
            "account_number": "****" + debit.account_number[-3:],
        }
    return None


def payment_method(customer: auth.Customer) -> dict[str, Any]:
    """The account's method now and the change pending, if any."""
    account = _billing_account(customer.account_id)
    pending = account.pending_payment
    return {
        "payment_method": account.payment_method,
        "pending": pending.model_dump(mode="json", exclude={"card", "debit_account"})
        if pending
        else None,
    }


# ---- meter readings ------------------------------------------------------------------------


def submit_meter_reading(
    customer: auth.Customer,
    submitted: MeterReadingIn,
    *,
    publisher: EventPublisher | None = None,
) -> dict[str, Any]:
    """Check a reading against the service's previous one and keep it; the use since then
    is stored as the month's reading on the billing account, as a usage-readings file
    stores it, so the next closing bills it. 400 naming why a reading is not believed."""
    account = _billing_account(customer.account_id)
    contract_id, component = _metered(account, submitted)
    reading = rules.MeterReading(
        meter=submitted.meter.strip(),
        read_on=submitted.read_on,
        value=submitted.value,
        replaced=submitted.meter_replaced,
    )
    month = usage_billing.month_of(reading.read_on)
    for _ in range(_ATTEMPTS):
        history, version = store.meter_history(customer.account_id, contract_id, submitted.sku)
        problems = rules.reading_problems(history, reading, today=clock.today())
        if problems:
            raise ValidationFailed(
                "the meter reading is refused: " + "; ".join(p["message"] for p in problems),
                details=problems,
            )
        readings = [*history, reading]
        if store.save_meter_history(
            customer.account_id, contract_id, submitted.sku, readings, version
        ):
            break
    else:
        raise Conflict("another reading of this meter came in meanwhile: try again")
    used = rules.month_use(readings, month)
    if used is not None:
        usage_readings.store_readings(
            [
                UsageRow(
                    line=1,
                    contract_number="",
                    sku=submitted.sku,
                    month=month,
                    quantity=used,
                    read_on=reading.read_on,
                    contract_id=contract_id,
                    account_id=customer.account_id,
                    component=component,
                )
            ],
            run_id=f"portal:{customer.user}",
        )
    (publisher or events.default_publisher).publish(
        SOURCE,
        "MeterReadingSubmitted",
        {
            "account_id": customer.account_id,
            "contract_id": contract_id,
            "sku": submitted.sku,
            "meter": reading.meter,
            "read_on": reading.read_on.isoformat(),
            "value": str(reading.value),
            "meter_replaced": reading.replaced,
            "month": month,
            "used": None if used is None else str(used),
            "by": customer.user,
        },
    )
    return {
        "sku": submitted.sku,
        "contract_id": contract_id,
        "meter": reading.meter,
        "read_on": reading.read_on.isoformat(),
        "value": str(reading.value),
        "month": month,
        "month_use": None if used is None else usage_billing.format_quantity(used),
        "first_reading": not history,
    }


def _metered(account: BillingAccount, submitted: MeterReadingIn) -> tuple[str, str]:
    """(contract, usage component) of the caller's service the reading is of."""
    metered = [
        c
        for c in account.components
        if c.kind == usage_billing.USAGE
        and c.sku == submitted.sku
        and submitted.contract_id in (None, c.contract_id)
    ]
    contracts = sorted({c.contract_id for c in metered})
    if not contracts:
        raise ValidationFailed(
            f"{submitted.sku} is not a metered service of yours",
            details=[{"field": "sku", "message": "not metered on your contracts"}],
        )
    if len(contracts) > 1:
        raise ValidationFailed(
            f"{submitted.sku} is metered on several of your contracts: name the contract",
            details=[{"field": "contract_id", "message": f"one of {', '.join(contracts)}"}],
        )
    month = usage_billing.month_of(submitted.read_on)
    component = usage_billing.component_for(metered, contracts[0], submitted.sku, month)
    if component is None:
        raise ValidationFailed(
            f"{submitted.sku} is not billed by use in {month}",
            details=[{"field": "read_on", "message": "outside the service's billing"}],
        )
    return contracts[0], component.key


# ---- inquiries -----------------------------------------------------------------------------


def open_inquiry(
    customer: auth.Customer, body: InquiryIn, *, publisher: EventPublisher | None = None
) -> Inquiry:
    """A billing inquiry recorded as a case, with its due dates by the handling rules."""
    if body.invoice_id is not None:
        _own_invoice(customer, body.invoice_id)
    handling = rules.load_inquiry_rules()
    received = clock.now()
    acknowledge_by, answer_due = rules.inquiry_due(
        received.astimezone(clock.TOKYO).date(), handling
    )
    inquiry = Inquiry(
        inquiry_id=ids.new_id("inquiry"),
        account_id=customer.account_id,
        user=customer.user,
        subject=body.subject,
        invoice_id=body.invoice_id,
        message=body.message,
        received_at=clock.iso(received),
        acknowledge_by=acknowledge_by,
        answer_due=answer_due,
        rules_version=handling.version,
    )
    store.create_inquiry(inquiry)
    _publish_inquiry(publisher, "InquiryReceived", inquiry)
    return inquiry


def my_inquiries(customer: auth.Customer) -> list[Inquiry]:
    return store.account_inquiries(customer.account_id)


def inquiries(status: InquiryStatus, *, today: date | None = None) -> list[dict[str, Any]]:
    """Ops' list: the cases with ``status``, the earliest answer due first, each saying
    whether it is late (acknowledgment or answer past due)."""
    day = today or clock.today()
    return [_case(inquiry, day) for inquiry in store.inquiries_with_status(status)]


def _case(inquiry: Inquiry, today: date) -> dict[str, Any]:
    pending = inquiry.status == "open"
    return {
        **inquiry.model_dump(mode="json"),
        "acknowledgment_late": inquiry.acknowledged_at is None and today > inquiry.acknowledge_by,
        "answer_late": pending and today > inquiry.answer_due,
    }


def answer_inquiry(
    inquiry_id: str,
    answer: InquiryAnswer,
    *,
    user: str,
    publisher: EventPublisher | None = None,
) -> Inquiry:
    """Ops answer a case (and close it, unless more is to come): at the version read."""
    inquiry = store.get_inquiry(inquiry_id)
    if inquiry is None:
        raise NotFound(f"inquiry {inquiry_id}")
    if inquiry.status == "closed":
        raise Conflict(f"inquiry {inquiry_id} is closed")
    if inquiry.version != answer.version:
        raise Conflict(f"inquiry {inquiry_id} is at version {inquiry.version}")
    now = clock.now_iso()
    answered = inquiry.model_copy(
        update={
            "status": "closed" if answer.close else "answered",
            "answer": answer.answer,
            "answered_at": now,
            "answered_by": user,
            "acknowledged_at": inquiry.acknowledged_at or now,
            "closed_at": now if answer.close else None,
        }
    )
    if not store.save_inquiry(inquiry, answered):
        raise Conflict(f"inquiry {inquiry_id} changed meanwhile")
    answered = answered.model_copy(update={"version": inquiry.version + 1})
    _publish_inquiry(publisher, "InquiryClosed" if answer.close else "InquiryAnswered", answered)
    return answered


def _publish_inquiry(publisher: EventPublisher | None, kind: str, inquiry: Inquiry) -> None:
    (publisher or events.default_publisher).publish(
        SOURCE,
        kind,
        {
            "account_id": inquiry.account_id,
            "inquiry": inquiry.inquiry_id,
            "subject": inquiry.subject,
            "invoice_id": inquiry.invoice_id,
            "status": inquiry.status,
            "received_at": inquiry.received_at,
            "acknowledge_by": inquiry.acknowledge_by.isoformat(),
            "answer_due": inquiry.answer_due.isoformat(),
            "answered_at": inquiry.answered_at,
            "answered_by": inquiry.answered_by,
        },
    )
