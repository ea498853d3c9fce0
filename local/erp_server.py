"""A local stand-in for the on-premises ERP's SOAP web service (``docs/erp.md``), on
127.0.0.1.

It serves the WSDL monosub ships (``GET ...?wsdl``, its address rewritten to this server) and
answers every operation from the SOAP envelope as the ERP is specified to: the WS-Security
UsernameToken is checked (PasswordText or PasswordDigest), a push with bad data is refused
whole with a ``soap:Client`` fault naming the code and the record, and a record pushed again
with a version already applied is answered ``UNCHANGED`` and changes nothing. Invoice
statuses are what a test or the demo set (``set_invoice``); an invoice never set is
``UNKNOWN``. Every request is recorded, and the server can be told to misbehave
(``fault_next``, ``timeout_next``, ``reject_next``) to show retries and refusals.

The embedded AWS is to start one (``EmbeddedAWS.erp``) and put its endpoint and user in the
``erp`` secret (``secret_value()``).
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from lxml import etree

from local import soap
from local.local_server import LocalHttpServer
from monosub.adapters.erp import NAMESPACE, WSDL_PATH

ENDPOINT_PATH = "/soap/kikan/v1"
MAX_RECORDS_PER_REQUEST = 100
SOAP_ENV, WSSE = soap.SOAP_ENV, soap.WSSE
# operation → (record element, entity type, required fields)
_PUSHES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "PushCustomers": (
        "customer",
        "customer",
        ("sourceId", "sourceVersion", "customerNo", "customerName", "customerClass"),
    ),
    "PushContracts": (
        "contract",
        "contract",
        ("sourceId", "sourceVersion", "contractNo", "customerNo", "status"),
    ),
    "PushMeterReadings": (
        "reading",
        "reading",
        ("sourceId", "sourceVersion", "meterNo", "contractNo", "readOn", "value", "unit"),
    ),
}
_OPERATIONS = (*_PUSHES, "GetInvoiceStatus")
_PARSER = soap.PARSER


@dataclass
class ErpRequest:
    """One request as the server saw it and what it answered."""

    method: str
    path: str
    operation: str | None = None
    batch_id: str | None = None
    source_ids: list[str] = field(default_factory=list)  # "<sourceId>@<sourceVersion>"
    invoice_numbers: list[str] = field(default_factory=list)
    correlation_id: str | None = None
    status: int = 0
    fault_code: str | None = None
    authorized: bool = False
    applied: list[str] = field(default_factory=list)  # CREATED or UPDATED by this request
    injected: str | None = None  # "fault" | "timeout" | "reject", as ordered
    at: datetime = field(default_factory=lambda: datetime.now(UTC))  # wall clock, on arrival


@dataclass
class ErpInvoiceState:
    status: str  # ISSUED | PAID | CANCELLED
    amount: int
    paid_amount: int | None = None
    paid_on: date | None = None


@dataclass
class _Fault(Exception):
    kind: str  # soap:Client | soap:Server | wsse:FailedAuthentication ...
    message: str
    code: str | None = None
    source_id: str | None = None


@dataclass
class _Misbehaviour:
    kind: str  # fault | timeout | reject
    seconds: float = 0.0
    code: str = "SYSTEM_BUSY"
    message: str = "the ERP is busy"
    source_id: str | None = None


class ErpServer(LocalHttpServer):
    """``with ErpServer() as erp:`` then point a client at ``erp.url`` with ``erp.username``
    and ``erp.password`` (``erp.secret_value()`` is the ``erp`` secret's JSON)."""

    thread_name = "erp"

    def __init__(self, username: str = "monosub", password: str | None = None) -> None:
        self.username = username
        self.password = password or secrets.token_urlsafe(24)
        self._requests: list[ErpRequest] = []
        # entity type → sourceId → (version applied, record as last applied, erp id)
        self._records: dict[str, dict[str, tuple[int, dict[str, Any], str]]] = {
            kind: {} for kind in ("customer", "contract", "reading")
        }
        self._invoices: dict[str, ErpInvoiceState] = {}
        self._next: list[_Misbehaviour] = []
        self._refused: dict[str, str] = {}  # sourceId → fault code (refuse_source)
        self._erp_ids = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        erp = self

        class Handler(_Handler):
            server_erp = erp

        return Handler

    @property
    def url(self) -> str:
        """The SOAP endpoint (what ops put in the secret)."""
        return f"{self.base_url}{ENDPOINT_PATH}"

    @property
    def wsdl_url(self) -> str:
        return f"{self.url}?wsdl"

    def secret_value(self) -> str:
        """What ops put in the ``erp`` secret, pointing at this server."""
        return json.dumps(
            {"endpoint": self.url, "username": self.username, "password": self.password}
        )

    # ---- what tests and the demo use ---------------------------------------------------------

    def fault_next(
        self, count: int = 1, *, code: str = "SYSTEM_BUSY", message: str = "the ERP is busy"
    ) -> None:
        """Answer the next ``count`` SOAP requests with a ``soap:Server`` fault (retryable)
        and change nothing."""
        with self._lock:
            self._next.extend(
                _Misbehaviour("fault", code=code, message=message) for _ in range(count)
            )

    def timeout_next(self, count: int = 1, seconds: float = 30.0) -> None:
        """Hold each of the next ``count`` SOAP requests for ``seconds`` and answer nothing
        useful (the client's timeout fires first), changing nothing."""
        with self._lock:
            self._next.extend(_Misbehaviour("timeout", seconds=seconds) for _ in range(count))

    def reject_next(
        self, code: str, message: str, *, source_id: str | None = None, count: int = 1
    ) -> None:
        """Answer the next ``count`` SOAP requests with a ``soap:Client`` fault (the data is
        refused), naming ``source_id``, and change nothing."""
        with self._lock:
            self._next.extend(
                _Misbehaviour("reject", code=code, message=message, source_id=source_id)
                for _ in range(count)
            )

    def behave(self) -> None:
        """Drop every misbehaviour still pending (fault_next, timeout_next, reject_next,
        refuse_source): what was pushed stays."""
        with self._lock:
            self._next.clear()
            self._refused.clear()

    def refuse_source(self, source_id: str, code: str = "INVALID_DATA") -> None:
        """Refuse every push that carries ``source_id`` (bad data on our side), until
        ``reset``."""
        with self._lock:
            self._refused[source_id] = code

    def set_invoice(
        self,
        invoice_number: str,
        status: str,
        amount: int,
        *,
        paid_amount: int | None = None,
        paid_on: date | None = None,
    ) -> None:
        """What the ERP says of an invoice (ISSUED, PAID, CANCELLED)."""
        with self._lock:
            self._invoices[invoice_number] = ErpInvoiceState(status, amount, paid_amount, paid_on)

    def requests(self) -> list[ErpRequest]:
        """Every request in arrival order (the password is never recorded)."""
        with self._lock:
            return list(self._requests)

    def records(self, entity_type: str) -> dict[str, dict[str, Any]]:
        """What the ERP holds of one type, by sourceId (the record as last applied, with
        ``sourceVersion``)."""
        with self._lock:
            return {k: dict(v[1]) for k, v in self._records[entity_type].items()}

    def applied(self) -> list[str]:
        """Every ``<type>:<sourceId>@<version>`` the ERP applied, in order: a push sent again
        adds nothing."""
        with self._lock:
            return [a for r in self._requests for a in r.applied]

    def reset(self) -> None:
        """Forget records, invoices, requests and pending misbehaviour (same URL and user)."""
        with self._lock:
            self._requests.clear()
            for held in self._records.values():
                held.clear()
            self._invoices.clear()
            self._next.clear()
            self._refused.clear()

    # ---- handling ----------------------------------------------------------------------------

    def _arrive(self, record: ErpRequest) -> _Misbehaviour | None:
        with self._lock:
            self._requests.append(record)
            return self._next.pop(0) if self._next else None

    def _note(self, record: ErpRequest) -> None:
        with self._lock:
            self._requests.append(record)

    def _wsdl(self) -> bytes:
        return soap.wsdl_at(WSDL_PATH, self.url)

    def _authenticate(self, envelope: Any) -> None:
        soap.check_username_token(
            envelope, username=self.username, password=self.password, refuse=_Fault
        )

    def _push(self, record: ErpRequest, operation: Any) -> Any:
        name = etree.QName(operation).localname
        element, entity_type, required = _PUSHES[name]
        batch_id = (operation.findtext(_q("batchId")) or "").strip()
        if not batch_id or len(batch_id) > 64:
            raise _client("INVALID_BATCH_ID", "batchId: 1 to 64 characters")
        items = operation.findall(_q(element))
        if not items:
            raise _client("MISSING_FIELD", f"{element}: at least one is required")
        if len(items) > MAX_RECORDS_PER_REQUEST:
            raise _client("TOO_MANY_RECORDS", f"at most {MAX_RECORDS_PER_REQUEST} per request")
        checked = [_checked(item, required, entity_type) for item in items]
        answer = _element("PushResponse")
        _child(answer, "batchId", batch_id)
        with self._lock:  # the whole request is applied, or nothing of it
            for values in checked:
                code = self._refused.get(values["sourceId"])
                if code:
                    raise _client(code, "the record is not valid in the ERP", values["sourceId"])
            held = self._records[entity_type]
            for values in checked:
                source_id, version = values["sourceId"], int(values["sourceVersion"])
                before = held.get(source_id)
                if before is not None and before[0] >= version:
                    status, erp_id = "UNCHANGED", before[2]
                else:
                    if before is None:
                        self._erp_ids += 1
                        erp_id = f"ERP{self._erp_ids:08d}"
                    else:
                        erp_id = before[2]
                    held[source_id] = (version, values, erp_id)
                    status = "CREATED" if before is None else "UPDATED"
                    record.applied.append(f"{entity_type}:{source_id}@{version}")
                result = _child(answer, "result")
                _child(result, "sourceId", source_id)
                _child(result, "sourceVersion", str(version))
                _child(result, "status", status)
                _child(result, "erpId", erp_id)
        return answer

    def _invoice_status(self, operation: Any) -> Any:
        numbers = [(n.text or "").strip() for n in operation.findall(_q("invoiceNo"))]
        answer = _element("GetInvoiceStatusResponse")
        with self._lock:
            known = {n: self._invoices.get(n) for n in numbers}
        for number in numbers:
            item = _child(answer, "invoice")
            _child(item, "invoiceNo", number)
            state = known[number]
            if state is None:
                _child(item, "status", "UNKNOWN")
                continue
            _child(item, "status", state.status)
            _child(item, "amount", str(state.amount))
            if state.paid_amount is not None:
                _child(item, "paidAmount", str(state.paid_amount))
            if state.paid_on is not None:
                _child(item, "paidOn", state.paid_on.isoformat())
        return answer


def _q(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


def _element(name: str) -> Any:
    return etree.Element(_q(name), nsmap={"erp": NAMESPACE})


def _child(parent: Any, name: str, text: str | None = None) -> Any:
    child = etree.SubElement(parent, _q(name))
    if text is not None:
        child.text = text
    return child


def _client(code: str, message: str, source_id: str | None = None) -> _Fault:
    return _Fault("soap:Client", message, code, source_id)


def _checked(item: Any, required: tuple[str, ...], entity_type: str) -> dict[str, Any]:
    """One record's fields (simple ones as text, contract items as dicts), or a client
    fault naming the first bad one."""
    source_id = (item.findtext(_q("sourceId")) or "").strip() or None
    values: dict[str, Any] = {}
    for child in item:
        name = etree.QName(child).localname
        if name == "item":
            values.setdefault("item", []).append(
                {etree.QName(c).localname: (c.text or "").strip() for c in child}
            )
        else:
            values[name] = (child.text or "").strip()
    for name in required:
        if not values.get(name):
            raise _client("MISSING_FIELD", f"{name}: required", source_id)
    if not re.fullmatch(r"[1-9][0-9]*", values["sourceVersion"]):
        raise _client("INVALID_DATA", "sourceVersion: a positive integer", source_id)
    postal = values.get("postalCode")
    if postal and not re.fullmatch(r"[0-9]{3}-[0-9]{4}", postal):
        raise _client("INVALID_DATA", "postalCode: NNN-NNNN", source_id)
    for name in ("startDate", "endDate", "readOn"):
        if values.get(name):
            try:
                date.fromisoformat(values[name])
            except ValueError:
                raise _client("INVALID_DATA", f"{name}: not a date", source_id) from None
    if entity_type == "contract" and not values.get("item"):
        raise _client("MISSING_FIELD", "item: at least one is required", source_id)
    if entity_type == "reading":
        try:
            if Decimal(values["value"]) < 0:
                raise _client("INVALID_DATA", "value: not negative", source_id)
        except InvalidOperation:
            raise _client("INVALID_DATA", "value: not a decimal", source_id) from None
    return values


def _describe(record: ErpRequest, operation: Any) -> None:
    """What the record keeps of a request's body, read leniently (before any check)."""
    record.batch_id = (operation.findtext(_q("batchId")) or "").strip() or None
    for child in operation:
        name = etree.QName(child).localname
        if name in ("customer", "contract", "reading"):
            source = (child.findtext(_q("sourceId")) or "").strip()
            version = (child.findtext(_q("sourceVersion")) or "").strip()
            record.source_ids.append(f"{source}@{version}")
        elif name == "invoiceNo":
            record.invoice_numbers.append((child.text or "").strip())


PREFIXES = {"erp": NAMESPACE}


def _envelope(content: Any) -> bytes:
    return soap.envelope(content, PREFIXES)


def _fault_envelope(fault: _Fault) -> bytes:
    fields = {"code": fault.code, "message": fault.message, "sourceId": fault.source_id}
    detail = (NAMESPACE, "erpFault") if fault.code else None
    return soap.fault_envelope(fault.kind, fault.message, PREFIXES, detail, fields)


class _Handler(BaseHTTPRequestHandler):
    server_erp: ErpServer

    def log_message(self, format: str, *args: Any) -> None:  # the record is the log
        return None

    def do_GET(self) -> None:
        erp = self.server_erp
        path, _, query = self.path.partition("?")
        record = ErpRequest(method="GET", path=path)
        erp._note(record)
        if path != ENDPOINT_PATH or "wsdl" not in urllib.parse.parse_qs(
            query, keep_blank_values=True
        ):
            self._send(record, 404, b"not found", "text/plain; charset=utf-8")
            return
        record.operation = "wsdl"
        self._send(record, 200, erp._wsdl(), "text/xml; charset=utf-8")

    def do_POST(self) -> None:
        erp = self.server_erp
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        record = ErpRequest(
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
        if path != ENDPOINT_PATH:
            erp._note(record)
            self._send(record, 404, b"not found", "text/plain; charset=utf-8")
            return
        misbehaviour = erp._arrive(record)
        try:
            if misbehaviour is not None:
                record.injected = misbehaviour.kind
                if misbehaviour.kind == "timeout":
                    erp._stopping.wait(misbehaviour.seconds)
                    raise _Fault("soap:Server", "timed out", "TIMEOUT")
                if misbehaviour.kind == "fault":
                    raise _Fault("soap:Server", misbehaviour.message, misbehaviour.code)
                raise _client(misbehaviour.code, misbehaviour.message, misbehaviour.source_id)
            if envelope is None or envelope.tag != f"{{{SOAP_ENV}}}Envelope":
                raise _Fault("soap:Client", "not a SOAP 1.1 envelope", "MALFORMED_REQUEST")
            erp._authenticate(envelope)
            record.authorized = True
            if operation is None or operation.tag not in {_q(o) for o in _OPERATIONS}:
                raise _Fault("soap:Client", "unknown operation", "UNKNOWN_OPERATION")
            if record.operation == "GetInvoiceStatus":
                answer = erp._invoice_status(operation)
            else:
                answer = erp._push(record, operation)
        except _Fault as fault:
            record.fault_code = fault.code or fault.kind
            self._send(record, 500, _fault_envelope(fault), "text/xml; charset=utf-8")
            return
        self._send(record, 200, _envelope(answer), "text/xml; charset=utf-8")

    def _send(self, record: ErpRequest, status: int, payload: bytes, content_type: str) -> None:
        record.status = status
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a stalled request): the answer was still decided
