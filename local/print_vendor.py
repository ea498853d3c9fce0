"""A local stand-in for the print-and-delivery vendor's SOAP web service
(``docs/print-vendor.md``), on 127.0.0.1.

It serves the WSDL monosub ships (``GET ...?wsdl``, its address rewritten to this server) and
answers the two operations from the SOAP envelope as the real vendor is specified to (an
invoice, or a credit note: ``documentType`` creditNote with the invoice it reverses): the
WS-Security UsernameToken is checked (PasswordText or PasswordDigest), a request with bad data
is refused whole with a ``soap:Client`` fault naming the code and the invoice, and an invoice
submitted again in the same batch gets its first receipt and is not printed again. Archive
tokens are deterministic (a hash of the invoice number and a server secret), so a test or
the demo can predict them. Every request is recorded, and the server can be told to
misbehave (``fail_next``, ``fault_next``, ``stall_next``) to show retries and refusals.

The embedded AWS starts one (``EmbeddedAWS.print_vendor``) and puts its endpoint and user in
the ``print-vendor`` secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import threading
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from lxml import etree

from local import soap
from local.local_server import LocalHttpServer
from monosub.adapters.print_vendor import NAMESPACE, WSDL_PATH

ENDPOINT_PATH = "/soap/print-delivery/v1"
ARCHIVE_URL = "https://archive.print-vendor.example/i/{token}"
MAX_INVOICES_PER_REQUEST = 100
SOAP_ENV, WSSE = soap.SOAP_ENV, soap.WSSE
UNDELIVERABLE = "undeliverable: the address is empty"
_INVOICE_FIELDS = (
    "invoiceNumber",
    "issueDate",
    "dueDate",
    "totalAmount",
    "recipientName",
    "postalCode",
    "address",
    "pdf",
)
# Optional (added for credit notes): absent, the document is an invoice.
_OPTIONAL_FIELDS = ("dueDate", "documentType", "originalInvoiceNumber")
DOCUMENT_TYPES = ("invoice", "creditNote")
_OPERATIONS = ("SubmitInvoices", "GetArchiveTokens")
# Requests never reach the network or the file system, whatever they contain.
_PARSER = soap.PARSER


@dataclass
class VendorRequest:
    """One request as the server saw it and what it answered."""

    method: str
    path: str
    operation: str | None = None  # SubmitInvoices | GetArchiveTokens | wsdl
    batch_id: str | None = None
    invoice_numbers: list[str] = field(default_factory=list)
    pdf_sha256: dict[str, str] = field(default_factory=dict)  # by invoice number
    # by invoice number: invoice or creditNote, and a credit note's original invoice
    document_types: dict[str, str] = field(default_factory=dict)
    original_numbers: dict[str, str] = field(default_factory=dict)
    correlation_id: str | None = None
    status: int = 0
    fault_code: str | None = None  # the printFault code, or the SOAP faultcode
    authorized: bool = False
    replayed: list[str] = field(default_factory=list)  # invoices answered with a held receipt
    injected: bool = False  # ordered by fail_next or fault_next
    stalled_seconds: float = 0.0  # ordered by stall_next
    at: datetime = field(default_factory=lambda: datetime.now(UTC))  # wall clock, on arrival


@dataclass
class _Held:
    """One invoice the vendor took, under its batch."""

    receipt_id: str
    fingerprint: str  # of every field and the PDF: a resubmission must match it
    address: str


@dataclass
class _Fault(Exception):
    """A SOAP fault to answer with: ``kind`` is the faultcode (``soap:Client``,
    ``soap:Server``, ``wsse:FailedAuthentication``...); client faults carry a printFault."""

    kind: str
    message: str
    code: str | None = None
    invoice_number: str | None = None


class PrintVendorServer(LocalHttpServer):
    """``with PrintVendorServer() as vendor:`` then point a client at ``vendor.url`` with
    ``vendor.username`` and ``vendor.password``."""

    thread_name = "print-vendor"

    def __init__(
        self,
        username: str = "monosub",
        password: str | None = None,
        archive_secret: str | None = None,
    ) -> None:
        self.username = username
        self.password = password or secrets.token_urlsafe(24)
        self._archive_secret = (archive_secret or secrets.token_hex(16)).encode()
        self._requests: list[VendorRequest] = []
        self._batches: dict[str, dict[str, _Held]] = {}
        self._printed: list[tuple[str, str]] = []
        self._receipts = 0
        self._fail: list[int] = []  # HTTP statuses still to inject, one per request
        self._faults: list[_Fault] = []  # faults still to inject, one per request
        self._stall: list[float] = []  # seconds still to stall, one per request
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle ---------------------------------------------------------------------------

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        vendor = self

        class Handler(_Handler):
            server_vendor = vendor

        return Handler

    @property
    def url(self) -> str:
        """The SOAP endpoint (what ops put in the secret)."""
        return f"{self.base_url}{ENDPOINT_PATH}"

    @property
    def wsdl_url(self) -> str:
        return f"{self.url}?wsdl"

    # ---- what tests and the demo use ---------------------------------------------------------

    def fail_next(self, count: int = 1, status: int = 503) -> None:
        """Answer the next ``count`` requests with HTTP ``status`` (no SOAP) and change
        nothing."""
        with self._lock:
            self._fail.extend([status] * count)

    def fault_next(
        self,
        code: str,
        message: str,
        *,
        server: bool = False,
        invoice_number: str | None = None,
    ) -> None:
        """Answer the next request with a fault and change nothing: a ``soap:Client`` fault
        with this printFault ``code`` (``server=True``: a ``soap:Server`` fault)."""
        kind = "soap:Server" if server else "soap:Client"
        with self._lock:
            self._faults.append(_Fault(kind, message, code, invoice_number))

    def stall_next(self, seconds: float, count: int = 1) -> None:
        """Hold each of the next ``count`` requests for ``seconds`` before handling it (as a
        slow vendor would: the client may give up, the submission still happens)."""
        with self._lock:
            self._stall.extend([seconds] * count)

    def requests(self) -> list[VendorRequest]:
        """Every request in arrival order (the password is never recorded)."""
        with self._lock:
            return list(self._requests)

    def printed(self) -> list[tuple[str, str]]:
        """(batch id, invoice number) of every invoice put to print, in order: a
        resubmission adds nothing."""
        with self._lock:
            return list(self._printed)

    def archive_token(self, invoice_number: str) -> str:
        """The token the vendor gives ``invoice_number`` (deterministic per server secret)."""
        digest = hmac.new(self._archive_secret, invoice_number.encode(), hashlib.sha256)
        return digest.hexdigest()[:20]

    def reset(self) -> None:
        """Forget batches, records and pending misbehaviour (same URL, user and secret)."""
        with self._lock:
            self._requests.clear()
            self._batches.clear()
            self._printed.clear()
            self._receipts = 0
            self._fail.clear()
            self._faults.clear()
            self._stall.clear()

    # ---- handling ----------------------------------------------------------------------------

    def _arrive(self, record: VendorRequest) -> tuple[float, int | None, _Fault | None]:
        """Record a request; what it is to suffer: seconds to stall, an HTTP status or a
        fault to answer with."""
        with self._lock:
            self._requests.append(record)
            stall = self._stall.pop(0) if self._stall else 0.0
            fail = self._fail.pop(0) if self._fail else None
            fault = self._faults.pop(0) if self._faults and fail is None else None
        return stall, fail, fault

    def _note(self, record: VendorRequest) -> None:
        """Record a request that no misbehaviour applies to (the WSDL, a wrong path)."""
        with self._lock:
            self._requests.append(record)

    def _wsdl(self) -> bytes:
        return soap.wsdl_at(WSDL_PATH, self.url)

    def _authenticate(self, envelope: Any) -> None:
        soap.check_username_token(
            envelope, username=self.username, password=self.password, refuse=_Fault
        )

    def _submit(self, record: VendorRequest, operation: Any) -> Any:
        batch_id = _batch_id(operation)
        invoices = operation.findall(_q("invoice"))
        if not invoices:
            raise _client("MISSING_FIELD", "invoice: at least one is required")
        if len(invoices) > MAX_INVOICES_PER_REQUEST:
            raise _client(
                "TOO_MANY_INVOICES", f"at most {MAX_INVOICES_PER_REQUEST} invoices per request"
            )
        checked = [_checked_invoice(invoice) for invoice in invoices]
        numbers = [invoice["invoiceNumber"] for invoice in checked]
        for number in numbers:
            if numbers.count(number) > 1:
                raise _client("DUPLICATE_INVOICE", "submitted twice in one request", number)
        answer = _element("SubmitInvoicesResponse")
        _child(answer, "batchId", batch_id)
        with self._lock:  # the whole request is taken, or nothing of it
            held = self._batches.get(batch_id, {})
            for invoice in checked:
                before = held.get(invoice["invoiceNumber"])
                if before is not None and before.fingerprint != invoice["fingerprint"]:
                    raise _client(
                        "INVOICE_CHANGED",
                        "already submitted in this batch with other content",
                        invoice["invoiceNumber"],
                    )
            held = self._batches.setdefault(batch_id, {})
            for invoice in checked:
                number = invoice["invoiceNumber"]
                if number in held:
                    record.replayed.append(number)
                else:
                    self._receipts += 1
                    held[number] = _Held(
                        f"RCPT-{self._receipts:08d}", invoice["fingerprint"], invoice["address"]
                    )
                    self._printed.append((batch_id, number))
                receipt = _child(answer, "receipt")
                _child(receipt, "invoiceNumber", number)
                _child(receipt, "receiptId", held[number].receipt_id)
        return answer

    def _archive_tokens(self, operation: Any) -> Any:
        batch_id = _batch_id(operation)
        with self._lock:
            held = dict(self._batches.get(batch_id, {}))
        if not held:
            raise _client("UNKNOWN_BATCH", f"no invoices were submitted in batch {batch_id}")
        answer = _element("GetArchiveTokensResponse")
        _child(answer, "batchId", batch_id)
        for number, invoice in held.items():
            item = _child(answer, "item")
            _child(item, "invoiceNumber", number)
            if invoice.address.strip():
                token = self.archive_token(number)
                _child(item, "status", "mailed")
                _child(item, "archiveToken", token)
                _child(item, "archiveUrl", ARCHIVE_URL.format(token=token))
            else:
                _child(item, "status", "failed")
                _child(item, "reason", UNDELIVERABLE)
        return answer


def _q(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


def _element(name: str) -> Any:
    return etree.Element(_q(name), nsmap={"pd": NAMESPACE})


def _child(parent: Any, name: str, text: str | None = None) -> Any:
    child = etree.SubElement(parent, _q(name))
    if text is not None:
        child.text = text
    return child


def _client(code: str, message: str, invoice_number: str | None = None) -> _Fault:
    return _Fault("soap:Client", message, code, invoice_number)


def _batch_id(operation: Any) -> str:
    batch_id = (operation.findtext(_q("batchId")) or "").strip()
    if not batch_id or len(batch_id) > 64:
        raise _client("INVALID_BATCH_ID", "batchId: 1 to 64 characters")
    return batch_id


def _checked_invoice(invoice: Any) -> dict[str, Any]:
    """One invoice's fields, or a client fault naming the first bad one."""
    values: dict[str, str] = {}
    number = (invoice.findtext(_q("invoiceNumber")) or "").strip() or None
    for name in (*_INVOICE_FIELDS, *_OPTIONAL_FIELDS[1:]):
        element = invoice.find(_q(name))
        if element is None:
            if name in _OPTIONAL_FIELDS:
                values[name] = ""
                continue
            raise _client("MISSING_FIELD", f"{name}: required", number)
        values[name] = (element.text or "").strip()
    if not number:
        raise _client("MISSING_FIELD", "invoiceNumber: required")
    document_type = values["documentType"] or "invoice"
    if document_type not in DOCUMENT_TYPES:
        raise _client(
            "INVALID_DOCUMENT_TYPE", f"documentType: one of {', '.join(DOCUMENT_TYPES)}", number
        )
    if document_type == "creditNote":
        if not values["originalInvoiceNumber"]:
            raise _client(
                "MISSING_FIELD", "originalInvoiceNumber: required for a credit note", number
            )
        if values["dueDate"]:
            raise _client("INVALID_DATE", "dueDate: a credit note has no due date", number)
    elif not values["dueDate"]:
        raise _client("MISSING_FIELD", "dueDate: required for an invoice", number)
    elif values["originalInvoiceNumber"]:
        raise _client("MALFORMED_REQUEST", "originalInvoiceNumber: only for a credit note", number)
    dates = {}
    for name in ("issueDate", "dueDate"):
        if not values[name] and name == "dueDate":
            continue
        try:
            dates[name] = date.fromisoformat(values[name])
        except ValueError:
            raise _client("INVALID_DATE", f"{name}: not a date: {values[name]!r}", number) from None
    if "dueDate" in dates and dates["dueDate"] < dates["issueDate"]:
        raise _client("INVALID_DATE", "dueDate: before issueDate", number)
    if not re.fullmatch(r"[0-9]+", values["totalAmount"]):
        raise _client("INVALID_AMOUNT", "totalAmount: whole yen, not negative", number)
    if not values["recipientName"]:
        raise _client("MISSING_FIELD", "recipientName: required", number)
    if not re.fullmatch(r"[0-9]{3}-[0-9]{4}", values["postalCode"]):
        raise _client("INVALID_POSTAL_CODE", "postalCode: NNN-NNNN", number)
    try:
        pdf = base64.b64decode(re.sub(r"\s+", "", values["pdf"]), validate=True)
    except (binascii.Error, ValueError):
        raise _client("INVALID_PDF", "pdf: not base64", number) from None
    if not pdf.startswith(b"%PDF-"):
        raise _client("INVALID_PDF", "pdf: not a PDF document", number)
    pdf_sha256 = hashlib.sha256(pdf).hexdigest()
    fields = "\x1f".join(
        values[name] for name in (*_INVOICE_FIELDS, *_OPTIONAL_FIELDS[1:]) if name != "pdf"
    )
    return {
        "invoiceNumber": number,
        "address": values["address"],
        "pdf_sha256": pdf_sha256,
        "fingerprint": hashlib.sha256(f"{fields}\x1f{pdf_sha256}".encode()).hexdigest(),
    }


def _describe(record: VendorRequest, operation: Any) -> None:
    """What the record keeps of a request's body, read leniently (before any check)."""
    record.batch_id = (operation.findtext(_q("batchId")) or "").strip() or None
    for invoice in operation.findall(_q("invoice")):
        number = (invoice.findtext(_q("invoiceNumber")) or "").strip()
        record.invoice_numbers.append(number)
        record.document_types[number] = (invoice.findtext(_q("documentType")) or "invoice").strip()
        original = (invoice.findtext(_q("originalInvoiceNumber")) or "").strip()
        if original:
            record.original_numbers[number] = original
        try:
            pdf = base64.b64decode(invoice.findtext(_q("pdf")) or "", validate=True)
        except (binascii.Error, ValueError):
            continue
        record.pdf_sha256[number] = hashlib.sha256(pdf).hexdigest()


PREFIXES = {"pd": NAMESPACE, "wsse": WSSE}


def _envelope(content: Any) -> bytes:
    return soap.envelope(content, PREFIXES)


def _fault_envelope(fault: _Fault) -> bytes:
    fields = {
        "code": fault.code,
        "message": fault.message,
        "invoiceNumber": fault.invoice_number,
    }
    detail = (NAMESPACE, "printFault") if fault.code else None
    return soap.fault_envelope(fault.kind, fault.message, PREFIXES, detail, fields)


class _Handler(BaseHTTPRequestHandler):
    server_vendor: PrintVendorServer

    def log_message(self, format: str, *args: Any) -> None:  # the record is the log
        return None

    def do_GET(self) -> None:
        vendor = self.server_vendor
        path, _, query = self.path.partition("?")
        record = VendorRequest(method="GET", path=path)
        vendor._note(record)
        if path != ENDPOINT_PATH or "wsdl" not in urllib.parse.parse_qs(
            query, keep_blank_values=True
        ):
            self._plain(record, 404, "not found")
            return
        record.operation = "wsdl"
        self._send(record, 200, vendor._wsdl(), "text/xml; charset=utf-8")

    def do_POST(self) -> None:
        vendor = self.server_vendor
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        record = VendorRequest(
            method="POST", path=path, correlation_id=self.headers.get("X-Correlation-Id")
        )
        envelope, operation = None, None
        try:
            envelope = etree.fromstring(raw, _PARSER)
            body = envelope.find(f"{{{SOAP_ENV}}}Body")
            operation = body[0] if body is not None and len(body) else None
        except etree.XMLSyntaxError:
            pass
        if operation is not None:
            record.operation = etree.QName(operation).localname
            _describe(record, operation)
        stall, fail, injected = vendor._arrive(record)
        if stall:
            record.stalled_seconds = stall
            vendor._stopping.wait(stall)
        if fail is not None:
            record.injected = True
            self._plain(record, fail, f"injected failure {fail}")
            return
        if path != ENDPOINT_PATH:
            self._plain(record, 404, "not found")
            return
        try:
            if injected is not None:
                record.injected = True
                raise injected
            if envelope is None or envelope.tag != f"{{{SOAP_ENV}}}Envelope":
                raise _Fault("soap:Client", "not a SOAP 1.1 envelope", "MALFORMED_REQUEST")
            vendor._authenticate(envelope)
            record.authorized = True
            if operation is None or operation.tag not in {_q(o) for o in _OPERATIONS}:
                raise _Fault("soap:Client", "unknown operation", "UNKNOWN_OPERATION")
            if record.operation == "SubmitInvoices":
                answer = vendor._submit(record, operation)
            else:
                answer = vendor._archive_tokens(operation)
        except _Fault as fault:
            record.fault_code = fault.code or fault.kind
            self._send(record, 500, _fault_envelope(fault), "text/xml; charset=utf-8")
            return
        self._send(record, 200, _envelope(answer), "text/xml; charset=utf-8")

    def _plain(self, record: VendorRequest, status: int, text: str) -> None:
        self._send(record, status, text.encode(), "text/plain; charset=utf-8")

    def _send(self, record: VendorRequest, status: int, payload: bytes, content_type: str) -> None:
        record.status = status
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            if status in (429, 503):
                self.send_header("Retry-After", "1")
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a stalled request): the answer was still decided
