"""The print-and-delivery vendor: the outside SOAP web service that prints and mails paper
invoices, keeps every invoice PDF in its archive for five years, and gives back per invoice a
token that opens it in the vendor's archive portal (seed 001).
The service, its idempotency rule and the local stand-in: ``docs/print-vendor.md``.

The WSDL (``wsdl/print_delivery.wsdl``, one inline schema) ships with this package and is
loaded from the file, never fetched: a deploy must not depend on the vendor serving it, and
the contract we built against stays in review. The endpoint comes from the secret and
overrides the WSDL's placeholder address. Requests carry a WS-Security UsernameToken.

``SubmitInvoices`` is idempotent per (batch id, invoice number): a retried or re-driven
submission of the same batch gets the receipts of the first and prints nothing twice. So a
batch larger than one request is sent in chunks under the same batch id, and a failure half
way is retried by submitting the whole batch again.

Errors are split by what a retry can do, because Step Functions decides by the exception's
**class name** (``errorType``; ``Retry``/``Catch`` ``ErrorEquals`` match that exact name):

- ``PrintVendorUnavailable``: timeout, connection refused or reset, HTTP 5xx or 429 without
  a SOAP fault, a ``soap:Server`` fault, an answer that is not the promised XML. Worth
  retrying with back-off; the idempotency rule makes the retry safe.
- ``PrintVendorRejected``: a ``soap:Client`` fault (the vendor refuses the data: its
  ``code`` and, when one invoice is at fault, that invoice's number), a WS-Security fault (a
  wrong user or password), another HTTP 4xx. A retry gets the same answer: a person looks.
- ``PrintVendorNotConfigured``: the secret does not hold the endpoint and user yet.

Renaming any of these classes silently disables the state machines' Retry/Catch on them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal, get_args

import requests
from lxml import etree
from zeep.exceptions import Fault, TransportError, XMLParseError, XMLSyntaxError

from monosub import names, observability, secret_cache
from monosub.adapters import soap

WSDL_PATH = Path(__file__).resolve().parent / "wsdl" / "print_delivery.wsdl"
NAMESPACE = "urn:example:print-delivery:v1"
BINDING = f"{{{NAMESPACE}}}PrintDeliveryBinding"
# The secret holding {"endpoint": ..., "username": ..., "password": ...}, declared in
# functions/resources.py; a function that declares it gets its id in this variable
# (functions.declarations.secret_env).
SECRET = names.PRINT_VENDOR
SECRET_ENV = "SECRET_PRINT_VENDOR"
CORRELATION_HEADER = "X-Correlation-Id"
# A request carries whole PDFs: generous, but well under a Lambda's limit.
DEFAULT_TIMEOUT_SECONDS = 30.0
# Invoices per SubmitInvoices request (the vendor takes up to 100; PDFs make requests heavy).
INVOICES_PER_REQUEST = 50
_NAMED_INVOICES = 5  # invoice numbers a rejection lists when the fault names none

DeliveryStatus = Literal["accepted", "printed", "mailed", "failed"]
STATUSES: tuple[str, ...] = get_args(DeliveryStatus)
DocumentType = Literal["invoice", "credit_note"]
# The WSDL's documentType for ours (an invoice is sent without one, as before).
WSDL_DOCUMENT_TYPES: dict[str, str] = {"invoice": "invoice", "credit_note": "creditNote"}


@dataclass(frozen=True)
class PrintJob:
    """One issued document for the vendor to print, mail and archive: an invoice, or a
    credit note (``document_type="credit_note"``: no due date, ``original_number`` the
    invoice it reverses, its total positive as printed on it)."""

    invoice_number: str
    issue_date: date
    due_date: date | None  # an invoice's; a credit note has none
    total_yen: int  # tax included
    recipient_name: str
    postal_code: str  # NNN-NNNN
    address: str
    pdf: bytes = field(repr=False)  # the document as issued, printed as is
    document_type: DocumentType = "invoice"
    original_number: str | None = None  # a credit note's: the invoice it reverses

    def __post_init__(self) -> None:
        if not self.invoice_number:
            raise ValueError("invoice_number: required")
        if isinstance(self.total_yen, bool) or not isinstance(self.total_yen, int):
            raise ValueError(f"total_yen: whole yen, not {self.total_yen!r}")
        if self.total_yen < 0:
            raise ValueError("total_yen: not negative (a credit note prints its total positive)")
        if not self.pdf:
            raise ValueError(f"{self.invoice_number}: the PDF is empty")
        if self.document_type == "invoice":
            if self.due_date is None:
                raise ValueError(f"{self.invoice_number}: an invoice needs its due date")
            if self.original_number is not None:
                raise ValueError(f"{self.invoice_number}: only a credit note names an original")
        elif self.document_type == "credit_note":
            if self.due_date is not None:
                raise ValueError(f"{self.invoice_number}: a credit note has no due date")
            if not self.original_number:
                raise ValueError(
                    f"{self.invoice_number}: a credit note names the invoice it reverses"
                )
        else:
            raise ValueError(f"document_type: invoice or credit_note, not {self.document_type!r}")


@dataclass(frozen=True)
class Receipt:
    """The vendor took the invoice; ``receipt_id`` is its reference for it."""

    invoice_number: str
    receipt_id: str


@dataclass(frozen=True)
class ArchiveResult:
    """Where one submitted invoice stands at the vendor; once printed it has an archive
    token (and the portal URL it opens), a failed one has the vendor's reason."""

    invoice_number: str
    status: DeliveryStatus
    archive_token: str | None
    archive_url: str | None
    reason: str | None


class PrintVendorUnavailable(Exception):
    """The vendor could not answer (timeout, connection, 5xx, a server fault, a garbled
    answer): worth retrying. Step Functions matches this exact class name."""


class PrintVendorRejected(Exception):
    """The vendor refused the request (a client or security fault, a 4xx): retrying gets the
    same answer. ``code`` is the vendor's code, ``message`` its own words,
    ``invoice_number`` the invoice it names (if any). Step Functions matches this exact
    class name."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        operation: str,
        batch_id: str,
        invoice_number: str | None = None,
        invoice_numbers: Sequence[str] = (),
    ) -> None:
        if invoice_number:
            subject = f"invoice {invoice_number} of batch {batch_id}"
        elif invoice_numbers:
            named = ", ".join(invoice_numbers[:_NAMED_INVOICES])
            more = len(invoice_numbers) - _NAMED_INVOICES
            subject = (
                f"batch {batch_id} (invoices {named}{f' and {more} more' if more > 0 else ''})"
            )
        else:
            subject = f"batch {batch_id}"
        super().__init__(f"print vendor rejected {operation} for {subject}: {code}: {message}")
        self.code = code
        self.message = message
        self.operation = operation
        self.batch_id = batch_id
        self.invoice_number = invoice_number


class PrintVendorNotConfigured(RuntimeError):
    """The secret does not hold the vendor's ``endpoint``, ``username`` and ``password``
    (ops fill it after the first deploy: docs/operations.md)."""


class PrintVendorClient:
    """Calls the vendor's web service as one WS-Security user. Build one per invocation (it
    holds an HTTP session and the parsed WSDL)."""

    def __init__(
        self,
        endpoint: str,
        username: str,
        password: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self.endpoint = endpoint
        self.username = username
        self.timeout = timeout
        # ``timeout`` is for loading documents (none: the WSDL is a local file, with no
        # imports), ``operation_timeout`` for the calls.
        self._client, self._service = soap.service(
            WSDL_PATH, BINDING, endpoint, username, password, timeout=timeout
        )

    def __repr__(self) -> str:  # never the password
        return f"PrintVendorClient({self.endpoint!r}, {self.username!r}, timeout={self.timeout})"

    def submit(self, batch_id: str, jobs: Sequence[PrintJob]) -> list[Receipt]:
        """Hand ``jobs`` to the vendor under ``batch_id``: one receipt per job, in order.
        Submitting a job again in the same batch returns its first receipt and prints
        nothing twice, so the whole batch may be submitted again after any failure."""
        if not batch_id:
            raise ValueError("a batch id is required")
        numbers = [job.invoice_number for job in jobs]
        repeated = sorted({n for n in numbers if numbers.count(n) > 1})
        if repeated:
            raise ValueError(f"invoices submitted twice in one batch: {', '.join(repeated)}")
        receipts: dict[str, Receipt] = {}
        for start in range(0, len(jobs), INVOICES_PER_REQUEST):
            chunk = jobs[start : start + INVOICES_PER_REQUEST]
            answer = self._call(
                "SubmitInvoices",
                batch_id,
                [job.invoice_number for job in chunk],
                batchId=batch_id,
                invoice=[_invoice(job) for job in chunk],
            )
            for receipt in _list(answer, "receipt"):
                number = _text(receipt, "invoiceNumber")
                receipts[number] = Receipt(number, _text(receipt, "receiptId"))
        missing = [n for n in numbers if n not in receipts]
        if missing:  # the vendor promises one receipt per invoice: a broken answer
            raise PrintVendorUnavailable(
                f"print vendor answered SubmitInvoices for batch {batch_id} without a receipt "
                f"for {', '.join(missing[:_NAMED_INVOICES])}"
            )
        return [receipts[n] for n in numbers]

    def results(self, batch_id: str) -> list[ArchiveResult]:
        """Where each invoice submitted under ``batch_id`` stands: status, and once printed
        its archive token and portal URL, or the reason it failed."""
        if not batch_id:
            raise ValueError("a batch id is required")
        answer = self._call("GetArchiveTokens", batch_id, [], batchId=batch_id)
        results = []
        for item in _list(answer, "item"):
            status = _text(item, "status")
            if status not in STATUSES:
                raise PrintVendorUnavailable(
                    f"print vendor answered GetArchiveTokens for batch {batch_id} with an "
                    f"unknown status {status!r}"
                )
            results.append(
                ArchiveResult(
                    invoice_number=_text(item, "invoiceNumber"),
                    status=status,  # type: ignore[arg-type]  # checked against STATUSES
                    archive_token=_optional(item, "archiveToken"),
                    archive_url=_optional(item, "archiveUrl"),
                    reason=_optional(item, "reason"),
                )
            )
        return results

    def _call(
        self, operation: str, batch_id: str, invoice_numbers: Sequence[str], **body: Any
    ) -> Any:
        headers: dict[str, str] = {}
        correlation_id = observability.logger.get_correlation_id()
        if correlation_id:
            headers[CORRELATION_HEADER] = correlation_id
        try:
            with self._client.settings(extra_http_headers=headers):
                return getattr(self._service, operation)(**body)
        except Fault as fault:
            raise _from_fault(fault, operation, batch_id, invoice_numbers) from fault
        except TransportError as failed:
            # An HTTP error that is no SOAP fault (a proxy's or load balancer's page).
            status = failed.status_code
            if status == 429 or status >= 500 or status < 400:
                raise PrintVendorUnavailable(
                    f"print vendor answered HTTP {status} to {operation} for batch {batch_id}"
                ) from failed
            raise PrintVendorRejected(
                f"HTTP {status}",
                str(failed.message)[:200],
                operation=operation,
                batch_id=batch_id,
                invoice_numbers=invoice_numbers,
            ) from failed
        except requests.exceptions.RequestException as failed:
            # Timeouts, refused or reset connections, a garbled HTTP answer.
            raise PrintVendorUnavailable(
                f"print vendor unreachable for {operation} for batch {batch_id}: {failed!r}"
            ) from failed
        except (XMLParseError, XMLSyntaxError, etree.XMLSyntaxError) as garbled:
            raise PrintVendorUnavailable(
                f"print vendor answered {operation} for batch {batch_id} with XML that is not "
                f"the promised answer: {garbled}"
            ) from garbled


def default_client(*, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> PrintVendorClient:
    """The client configured by the declared ``print-vendor`` secret (the calling function
    must declare it in the manifest: ``secrets=(names.PRINT_VENDOR,)``). ``timeout`` per
    call: a caller inside an HTTP request (a credit note printed at its void) waits less."""
    endpoint, username, password = secret_cache.read(SECRET_ENV, _credentials)
    return PrintVendorClient(endpoint, username, password, timeout=timeout)


def forget_cached_credentials() -> None:
    """Read the secret again on next use (after ops put a new password)."""
    secret_cache.forget(SECRET_ENV)


def _credentials(secret_string: str) -> tuple[str, str, str]:
    return soap.credentials(
        secret_string, secret=SECRET, docs="docs/operations.md", refused=PrintVendorNotConfigured
    )


def _invoice(job: PrintJob) -> dict[str, Any]:
    return {
        "invoiceNumber": job.invoice_number,
        "issueDate": job.issue_date,
        "dueDate": job.due_date,
        "totalAmount": job.total_yen,
        "recipientName": job.recipient_name,
        "postalCode": job.postal_code,
        "address": job.address,
        "pdf": job.pdf,  # zeep encodes base64Binary
        # optional in the WSDL: an invoice goes without them, as before credit notes
        "documentType": None
        if job.document_type == "invoice"
        else WSDL_DOCUMENT_TYPES[job.document_type],
        "originalInvoiceNumber": job.original_number,
    }


def _from_fault(
    fault: Fault, operation: str, batch_id: str, invoice_numbers: Sequence[str]
) -> Exception:
    """The exception for a SOAP fault: ``soap:Server`` is worth a retry, anything else (a
    ``soap:Client`` fault, a WS-Security fault) is a refusal."""
    faultcode = str(fault.code or "")
    kind = faultcode.rsplit("}", 1)[-1].rsplit(":", 1)[-1]  # prefix:Local or {ns}Local
    detail = fault.detail.find(f"{{{NAMESPACE}}}printFault") if fault.detail is not None else None
    code = _detail_text(detail, "code") or kind or "unknown"
    message = _detail_text(detail, "message") or str(fault.message or "").strip()
    if kind == "Server" or kind.startswith("Server."):
        return PrintVendorUnavailable(
            f"print vendor failed {operation} for batch {batch_id}: {code}: {message}"
        )
    return PrintVendorRejected(
        code,
        message,
        operation=operation,
        batch_id=batch_id,
        invoice_number=_detail_text(detail, "invoiceNumber"),
        invoice_numbers=invoice_numbers,
    )


def _detail_text(detail: Any, name: str) -> str | None:
    if detail is None:
        return None
    child = detail.find(f"{{{NAMESPACE}}}{name}")
    text = child.text.strip() if child is not None and child.text else ""
    return text or None


def _list(answer: Any, name: str) -> list[Any]:
    values = getattr(answer, name, None) if answer is not None else None
    return list(values or [])


def _text(value: Any, name: str) -> str:
    text = getattr(value, name, None)
    if not isinstance(text, str) or not text:
        raise PrintVendorUnavailable(f"print vendor's answer lacks {name}")
    return text


def _optional(value: Any, name: str) -> str | None:
    text = getattr(value, name, None)
    return str(text) if text else None
