"""Invoices to customers: the 請求書 PDF (rendered by ``document-renderer`` into the documents
bucket), then by email (a link to the invoice, SES) or on paper (the print-and-delivery
vendor's SOAP service, which mails it, keeps the PDF five years and answers each invoice
number with an archive token). The invoicing state machine's ``DeliverBatch`` step.

Each step is recorded on the invoice (``pdf_key``, ``delivered_at``, ``archive_token``) and
skipped when done, so a retried or re-driven batch renders, mails and prints nothing twice
(the vendor is also idempotent per batch and invoice number).

A void's credit note (適格返還請求書) goes the way its invoice went: by email, or on paper
through the same vendor in its own batch (``print_credit_note``), from the void request;
what the vendor does not take then goes to the exceptions queue for ops' retry.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from typing import Any

from monosub import clock, company, email
from monosub.adapters import print_vendor
from monosub.documents import Invoice as InvoiceDocument
from monosub.documents import InvoiceLine as DocumentLine
from monosub.documents import InvoiceTaxSubtotal, Recipient
from monosub.documents.storage import read_pdf, store_pdf
from monosub.errors import NotFound, Unavailable, UpstreamRefused
from monosub.models.billing import BillingAccount, Invoice
from monosub.models.exceptions import ExceptionAction, ExceptionRecord
from monosub.observability import count, logger
from monosub.services import billing, exceptions
from monosub.store import billing as store

# A credit note is printed inside its void request (API Gateway gives it 29 s): a few
# short attempts, then the exceptions queue (ops retry, or void again).
CREDIT_NOTE_PRINT_ATTEMPTS = 3
CREDIT_NOTE_PRINT_TIMEOUT_SECONDS = 6.0
CREDIT_NOTE_PRINT_BACKOFF_SECONDS = 0.5
CREDIT_NOTE_UNPRINTED = "credit-note-unprinted"

PAYMENT_METHODS = {
    "bank-transfer": "銀行振込",
    "direct-debit": "口座振替",
    "card": "クレジットカード",
    "convenience-store": "コンビニ払い",
}


def invoice_pdf_key(invoice: Invoice) -> str:
    return f"invoices/{invoice.closing_date.year}/{invoice.number}.pdf"


def document_of(
    invoice: Invoice, account: BillingAccount, *, original_number: str | None = None
) -> InvoiceDocument:
    """What the 適格請求書 prints: issuer with its registration number, the recipient, the
    lines with their periods, tax per rate as the invoice computed it. A credit note
    (適格返還請求書) names the invoice it corrects (``original_number``)."""
    if invoice.number is None:
        raise ValueError(f"invoice {invoice.invoice_id} is a draft: it has no number to print")
    profile = company.payment_profile()
    return InvoiceDocument(
        kind=invoice.kind,
        number=invoice.number,
        issue_date=invoice.closing_date,
        period_start=invoice.period_start,
        period_end=invoice.period_end,
        due_date=invoice.due_date if invoice.kind == "invoice" else None,
        issuer=company.issuer(),
        recipient=Recipient(company=account.name, person=account.person),
        recipient_postal_code=account.postal_code,
        recipient_address=account.address,
        customer_number=account.customer_number,
        lines=tuple(
            DocumentLine(
                name=line.name,
                period=line.period,
                quantity=line.quantity,
                unit=line.unit,
                unit_price=line.unit_price,
                amount=line.amount,
                prorated=line.prorated,
                tax_rate=line.tax_rate,
            )
            for line in invoice.lines
        ),
        tax_subtotals=tuple(
            InvoiceTaxSubtotal(rate=t.rate, taxable_amount=t.taxable, tax=t.tax)
            for t in invoice.taxes
        ),
        subtotal=invoice.subtotal,
        tax_total=invoice.tax_total,
        total=invoice.total,
        credit_applied=invoice.credit_applied if invoice.kind == "invoice" else 0,
        payment_method=PAYMENT_METHODS.get(invoice.payment_method, invoice.payment_method),
        bank_account=profile.get("bank_account")
        if invoice.payment_method == "bank-transfer"
        else None,
        original_number=original_number,
    )


def deliver_batch(
    state: Mapping[str, Any],
    *,
    mailer: email.Mailer | None = None,
    printer: print_vendor.PrintVendorClient | None = None,
) -> dict[str, Any]:
    """Render, then email or print, the finalized invoices of one batch (its result in S3
    names them). Returns the counts."""
    result = billing.read_run_object(str(state["invoiced"]["result"]))
    invoices = store.get_invoices(list(result["invoices"]))
    accounts = store.get_accounts(sorted({i.account_id for i in invoices.values()}))
    counts = {"rendered": 0, "emailed": 0, "printed": 0, "already_delivered": 0}
    paper: list[tuple[Invoice, BillingAccount]] = []
    for invoice_id in sorted(invoices):
        invoice = invoices[invoice_id]
        account = accounts[invoice.account_id]
        if invoice.status != "finalized":
            continue
        if invoice.delivered_at:
            counts["already_delivered"] += 1
            continue
        if invoice.pdf_key is None:
            # recorded with the delivery, in one write (rendering again is harmless: the same
            # invoice makes the same bytes at the same key)
            invoice = invoice.model_copy(update={"pdf_key": _store(invoice, account)})
            counts["rendered"] += 1
        if invoice.delivery == "paper":
            paper.append((invoice, account))
            continue
        _email(invoice, account, mailer or email.default_mailer)
        counts["emailed"] += 1
    if paper:
        counts["printed"] = _print(f"{state['closing']}-{int(state['batch']):05d}", paper, printer)
    count("InvoicesDelivered", counts["emailed"] + counts["printed"])
    return counts


def _store(invoice: Invoice, account: BillingAccount, *, original_number: str | None = None) -> str:
    document = document_of(invoice, account, original_number=original_number)
    return store_pdf("invoice", document, invoice_pdf_key(invoice)).key


def _render(
    invoice: Invoice, account: BillingAccount, *, original_number: str | None = None
) -> Invoice:
    return _save(invoice, {"pdf_key": _store(invoice, account, original_number=original_number)})


def render_credit_note(note: Invoice, original: Invoice) -> Invoice:
    """The 適格返還請求書 PDF of a finalized credit note (once: a rendered one is returned)."""
    if note.pdf_key is not None or note.status != "finalized":
        return note
    account = store.get_account(note.account_id)
    if account is None:
        raise ValueError(f"credit note {note.invoice_id} has no billing account")
    return _render(note, account, original_number=original.number)


def send_credit_note(
    note: Invoice,
    original: Invoice,
    *,
    mailer: email.Mailer | None = None,
    printer: print_vendor.PrintVendorClient | None = None,
) -> Invoice:
    """Send the customer the rendered credit note the way its invoice went (once: a
    delivered one is returned as it is): on paper through the print vendor
    (``print_credit_note``), else by email with its PDF attached. Without an email address
    it is recorded as not sent."""
    if note.delivered_at is not None or note.pdf_key is None:
        return note
    account = store.get_account(note.account_id)
    if note.delivery == "paper" and account is not None:
        return print_credit_note(note, original, account, printer=printer)
    if account is None or not account.email:
        return _save(note, {"delivered_at": clock.now_iso(), "delivery_note": "no email address"})

    issuer = company.issuer().name
    context = {
        "company": account.name,
        "recipient": account.person or account.name,
        "issuer": issuer,
        "number": note.number,
        "original_number": original.number,
        "total": note.total,
        "reason": original.void_reason or "",
    }
    text, html = email.render("credit_note_email", context)
    (mailer or email.default_mailer).send(
        email.Email(
            to=[account.email],
            subject=f"【{issuer}】ご請求書 {original.number} 取消のお知らせ（返還請求書 "
            f"{note.number}）",
            text=text,
            html=html,
            attachments=[email.Attachment(f"{note.number}.pdf", read_pdf(note.pdf_key))],
        )
    )
    return _save(note, {"delivered_at": clock.now_iso()})


def credit_note_batch_id(note: Invoice) -> str:
    """The vendor's batch of a credit note: the note itself (the business fact), so every
    attempt (a retry, a void sent again, ops' retry) is the same submission, printed once."""
    return f"credit-note-{note.number}"


def print_credit_note(
    note: Invoice,
    original: Invoice,
    account: BillingAccount,
    *,
    printer: print_vendor.PrintVendorClient | None = None,
    attempts: int = CREDIT_NOTE_PRINT_ATTEMPTS,
    raise_failure: bool = False,
) -> Invoice:
    """Hand a paper customer's credit note (適格返還請求書) to the print vendor, as its
    invoice went, and store the vendor's receipt and archive token on it (once: a delivered
    note is returned as it is).

    It runs inside the void request, so the vendor being down or slow is retried here, a
    few times with a short timeout and back-off (the invoicing run's Step Functions retry
    has minutes; an HTTP request has seconds). A failure that remains is recorded on the
    note (``delivery_note``) and raised once to the exceptions queue
    (``credit-note-unprinted``, action ``retry``): the void stands and ops see what is left.
    Voiding again, or ops' retry, prints it (the same batch: nothing twice). With
    ``raise_failure`` (ops' retry) the failure is raised instead, the exception left open."""
    if note.delivered_at is not None:
        return note
    job = print_vendor.PrintJob(
        invoice_number=str(note.number),
        issue_date=note.closing_date,
        due_date=None,
        total_yen=note.total,
        recipient_name=account.name,
        postal_code=account.postal_code or "",
        address=account.address or "",
        pdf=read_pdf(str(note.pdf_key)),
        document_type="credit_note",
        original_number=str(original.number),
    )
    batch_id = credit_note_batch_id(note)
    failure: Exception | None = None
    for attempt in range(attempts):
        if attempt:
            time.sleep(random.uniform(0, CREDIT_NOTE_PRINT_BACKOFF_SECONDS * 2 ** (attempt - 1)))
        try:
            client = printer or print_vendor.default_client(
                timeout=CREDIT_NOTE_PRINT_TIMEOUT_SECONDS
            )
            (receipt,) = client.submit(batch_id, [job])
            archived = {r.invoice_number: r for r in client.results(batch_id)}.get(
                job.invoice_number
            )
        except print_vendor.PrintVendorUnavailable as unavailable:
            failure = unavailable
            logger.warning(
                "print vendor unavailable for a credit note",
                extra={"credit_note": note.number, "attempt": attempt + 1, "error": str(failure)},
            )
            continue
        except (print_vendor.PrintVendorRejected, print_vendor.PrintVendorNotConfigured) as refused:
            failure = refused  # a retry gets the same answer: a person looks
            break
        values: dict[str, Any] = {
            "delivered_at": clock.now_iso(),
            "delivery_note": None,
            "print_batch": batch_id,
            "print_receipt": receipt.receipt_id,
        }
        if archived is not None and archived.archive_token:
            values["archive_token"] = archived.archive_token
            values["archive_url"] = archived.archive_url
        count("CreditNotesPrinted")
        return _save(note, values)
    assert failure is not None
    if raise_failure:
        raise failure
    return _credit_note_unprinted(note, original, failure)


def _credit_note_unprinted(note: Invoice, original: Invoice, failure: Exception) -> Invoice:
    """The note not printed: why, on the note, and the exceptions queue (once per note)."""
    record, _ = exceptions.raise_exception(
        kind=CREDIT_NOTE_UNPRINTED,
        channel="print-vendor",
        source=f"void {original.invoice_id}",
        reference=str(note.number),
        reason=f"credit note {note.number} (reversing {original.number}) not sent to the "
        f"print vendor: {type(failure).__name__}: {failure}"[:1000],
        original={"credit_note_id": note.invoice_id, "original_invoice_id": original.invoice_id},
        details={"error": type(failure).__name__, "batch_id": credit_note_batch_id(note)},
        amount=note.total,
        account_id=note.account_id,
        invoice_id=note.invoice_id,
        actions=(exceptions.RETRY,),
    )
    count("CreditNotesUnprinted")
    logger.error(
        "a credit note was not printed",
        extra={"credit_note": note.number, "exception_id": record.exception_id},
    )
    why = f"not printed yet ({type(failure).__name__}; exception {record.exception_id})"
    return _save(note, {"delivery_note": why})


def _retry_print(record: ExceptionRecord, decision: ExceptionAction) -> Mapping[str, Any]:
    """Ops' ``retry`` of a ``credit-note-unprinted`` exception: print it now (the same
    batch: a note the vendor took meanwhile is not printed twice). Still failing: 503 (the
    vendor down) or 502 (refused), and the exception stays open."""
    note = store.get_invoice(str(record.original.get("credit_note_id") or ""))
    original = store.get_invoice(str(record.original.get("original_invoice_id") or ""))
    if note is None or original is None:
        raise NotFound(f"the credit note of exception {record.exception_id} is gone")
    account = store.get_account(note.account_id)
    if account is None:
        raise NotFound(f"credit note {note.number} has no billing account")
    try:
        printed = print_credit_note(note, original, account, raise_failure=True)
    except print_vendor.PrintVendorUnavailable as unavailable:
        raise Unavailable(f"credit note {note.number} not printed: {unavailable}") from None
    except (print_vendor.PrintVendorRejected, print_vendor.PrintVendorNotConfigured) as refused:
        raise UpstreamRefused(f"credit note {note.number} not printed: {refused}") from None
    return {
        "invoice_id": printed.invoice_id,
        "number": printed.number,
        "print_receipt": printed.print_receipt,
        "archive_token": printed.archive_token,
    }


exceptions.register_action(CREDIT_NOTE_UNPRINTED, exceptions.RETRY, _retry_print)


def _save(invoice: Invoice, values: Mapping[str, Any]) -> Invoice:
    """Record a delivery step on the invoice at the version read (a concurrent change wins:
    the invoice is read again and the step is seen as done or redone)."""
    if not store.update_invoice(invoice, values):
        latest = store.get_invoice(invoice.invoice_id)
        assert latest is not None
        return latest
    return invoice.model_copy(update={**values, "version": invoice.version + 1})


def _email(invoice: Invoice, account: BillingAccount, mailer: email.Mailer) -> None:
    if not account.email:
        logger.warning(
            "no email address for an email invoice", extra={"account": account.account_id}
        )
        _save(
            invoice,
            {
                "pdf_key": invoice.pdf_key,
                "delivered_at": clock.now_iso(),
                "delivery_note": "no email address",
            },
        )
        return
    context = {
        "recipient": account.person or account.name,
        "company": account.name,
        "issuer": company.issuer().name,
        "number": invoice.number,
        "closing_date": invoice.closing_date,
        "due_date": invoice.due_date,
        "total": invoice.total,
        "credit_applied": invoice.credit_applied,
        "link": company.invoice_link(invoice.invoice_id),
        "payment_method": PAYMENT_METHODS.get(invoice.payment_method, invoice.payment_method),
    }
    text, html = email.render("invoice_email", context)
    mailer.send(
        email.Email(
            to=[account.email],
            subject=f"【{company.issuer().name}】{invoice.closing_date.month}月分 "
            f"ご請求書のお知らせ（{invoice.number}）",
            text=text,
            html=html,
        )
    )
    _save(invoice, {"pdf_key": invoice.pdf_key, "delivered_at": clock.now_iso()})


def _print(
    batch_id: str,
    paper: Sequence[tuple[Invoice, BillingAccount]],
    printer: print_vendor.PrintVendorClient | None,
) -> int:
    """Submit the batch's paper invoices (idempotent per batch and invoice number), then
    store each one's archive token when the vendor already has it."""
    client = printer or print_vendor.default_client()
    jobs = [
        print_vendor.PrintJob(
            invoice_number=str(invoice.number),
            issue_date=invoice.closing_date,
            due_date=invoice.due_date or invoice.closing_date,
            total_yen=invoice.total,
            recipient_name=account.name,
            postal_code=account.postal_code or "",
            address=account.address or "",
            pdf=read_pdf(str(invoice.pdf_key)),
        )
        for invoice, account in paper
    ]
    receipts = {r.invoice_number: r.receipt_id for r in client.submit(batch_id, jobs)}
    tokens = {r.invoice_number: r for r in client.results(batch_id)}
    for invoice, _ in paper:
        archived = tokens.get(str(invoice.number))
        values: dict[str, Any] = {
            "pdf_key": invoice.pdf_key,
            "delivered_at": clock.now_iso(),
            "print_batch": batch_id,
            "print_receipt": receipts.get(str(invoice.number)),
        }
        if archived is not None and archived.archive_token:
            values["archive_token"] = archived.archive_token
            values["archive_url"] = archived.archive_url
        _save(invoice, values)
    return len(paper)
