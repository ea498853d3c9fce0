"""A local stand-in for a supplier's SOAP supply-notification service
(``monosub/adapters/wsdl/supplier.wsdl``, ``docs/notifications.md``), on 127.0.0.1, and
``NotificationRecipients``: the three local recipients the embedded AWS runs together.

The server serves the WSDL (``GET ...?wsdl``, its address rewritten to this server) and
answers ``NotifySupplyEvent`` as the supplier is specified to: the WS-Security UsernameToken
is checked (PasswordText or PasswordDigest), the request's fields are checked against the
schema's rules, and a notification sent again under the same ``notificationId`` gets its
first receipt and is recorded once. Every request is recorded; ``fail_next`` answers HTTP
errors without a fault, ``fault_next`` answers a ``supplyFault`` (transient or not).
"""

from __future__ import annotations

import json
import secrets
import threading
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from lxml import etree

from local import soap
from local.local_server import LocalHttpServer
from local.regulator_server import RegulatorServer
from monosub.adapters.notification_soap import NAMESPACE, WSDL_PATH
from monosub.domain.notifications import FACT_KINDS

ENDPOINT_PATH = "/soap/supply-notification/v1"
SOAP_ENV, WSSE = soap.SOAP_ENV, soap.WSSE
_PARSER = soap.PARSER


@dataclass
class SupplierRequest:
    method: str
    path: str
    operation: str | None = None
    notification_id: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    status: int = 0
    fault_code: str | None = None
    authorized: bool = False
    replayed: bool = False
    injected: bool = False
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class _Fault(Exception):
    kind: str  # soap:Client, soap:Server, wsse:FailedAuthentication …
    message: str
    code: str | None = None
    transient: bool = False


class SupplierServer(LocalHttpServer):
    """``with SupplierServer() as supplier:`` then point a client at ``supplier.url``."""

    thread_name = "supplier-soap"

    def __init__(self, username: str = "monosub", password: str | None = None) -> None:
        self.username = username
        self.password = password or secrets.token_urlsafe(24)
        self._requests: list[SupplierRequest] = []
        self._received: dict[str, tuple[str, dict[str, str]]] = {}
        self._fail: list[int] = []
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        supplier = self

        class Handler(_Handler):
            server_supplier = supplier

        return Handler

    @property
    def url(self) -> str:
        return f"{self.base_url}{ENDPOINT_PATH}"

    def secret_settings(self) -> dict[str, str]:
        return {"endpoint": self.url, "username": self.username, "password": self.password}

    # ---- what tests and the demo use ---------------------------------------------------------

    def fail_next(self, count: int = 1, status: int = 503) -> None:
        with self._lock:
            self._fail.extend([status] * count)

    def fault_next(self, code: str, message: str, *, transient: bool, count: int = 1) -> None:
        """Answer the next ``count`` requests with a ``supplyFault`` (``soap:Server`` when
        ``transient``, else ``soap:Client``) and record nothing as received."""
        kind = "soap:Server" if transient else "soap:Client"
        with self._lock:
            self._faults.extend([_Fault(kind, message, code, transient)] * count)

    def requests(self) -> list[SupplierRequest]:
        with self._lock:
            return list(self._requests)

    def received(self) -> dict[str, dict[str, str]]:
        """notificationId → the request's fields as first received."""
        with self._lock:
            return {key: fields for key, (_, fields) in self._received.items()}

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._received.clear()
            self._fail.clear()
            self._faults.clear()

    # ---- handling ----------------------------------------------------------------------------

    def _wsdl(self) -> bytes:
        return soap.wsdl_at(WSDL_PATH, self.url)

    def _authenticate(self, envelope: Any) -> None:
        soap.check_username_token(
            envelope, username=self.username, password=self.password, refuse=_Fault
        )

    def _notify(self, record: SupplierRequest, operation: Any) -> Any:
        fields = {etree.QName(child).localname: (child.text or "").strip() for child in operation}
        record.fields = fields
        notification_id = fields.get("notificationId", "")
        record.notification_id = notification_id or None
        if not notification_id or len(notification_id) > 64:
            raise _Fault("soap:Client", "notificationId: 1 to 64 characters", "INVALID_ID")
        if fields.get("event") not in FACT_KINDS:
            raise _Fault("soap:Client", "event: unknown", "INVALID_EVENT")
        if not fields.get("customerNumber"):
            raise _Fault("soap:Client", "customerNumber: required", "MISSING_FIELD")
        try:
            date.fromisoformat(fields.get("effectiveDate", ""))
        except ValueError:
            raise _Fault("soap:Client", "effectiveDate: not a date", "INVALID_DATE") from None
        if "expectedConsumption" in fields:
            try:
                Decimal(fields["expectedConsumption"])
            except InvalidOperation:
                raise _Fault(
                    "soap:Client", "expectedConsumption: not a decimal", "INVALID_QUANTITY"
                ) from None
        with self._lock:
            held = self._received.get(notification_id)
            if held is not None:
                record.replayed = True
                receipt = held[0]
            else:
                receipt = f"SUP-{len(self._received) + 1:06d}"
                self._received[notification_id] = (receipt, fields)
        answer = etree.Element(f"{{{NAMESPACE}}}NotifySupplyEventResponse", nsmap={"sn": NAMESPACE})
        etree.SubElement(answer, f"{{{NAMESPACE}}}notificationId").text = notification_id
        etree.SubElement(answer, f"{{{NAMESPACE}}}receiptId").text = receipt
        return answer


PREFIXES = {"sn": NAMESPACE}


def _envelope(content: Any) -> bytes:
    return soap.envelope(content, PREFIXES)


def _fault_envelope(fault: _Fault) -> bytes:
    fields = {
        "code": fault.code,
        "message": fault.message,
        "transient": "true" if fault.transient else "false",
    }
    detail = (NAMESPACE, "supplyFault") if fault.code else None
    return soap.fault_envelope(fault.kind, fault.message, PREFIXES, detail, fields)


class _Handler(BaseHTTPRequestHandler):
    server_supplier: SupplierServer

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def do_GET(self) -> None:
        supplier = self.server_supplier
        path, _, query = self.path.partition("?")
        record = SupplierRequest(method="GET", path=path)
        with supplier._lock:
            supplier._requests.append(record)
        if path != ENDPOINT_PATH or "wsdl" not in urllib.parse.parse_qs(
            query, keep_blank_values=True
        ):
            self._send(record, 404, b"not found", "text/plain")
            return
        record.operation = "wsdl"
        self._send(record, 200, supplier._wsdl(), "text/xml; charset=utf-8")

    def do_POST(self) -> None:
        supplier = self.server_supplier
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        record = SupplierRequest(method="POST", path=self.path.split("?", 1)[0])
        envelope, operation = None, None
        try:
            envelope = etree.fromstring(raw, _PARSER)
            body = envelope.find(f"{{{SOAP_ENV}}}Body")
            operation = body[0] if body is not None and len(body) else None
        except etree.XMLSyntaxError:
            pass
        if operation is not None:
            record.operation = etree.QName(operation).localname
        with supplier._lock:
            supplier._requests.append(record)
            fail = supplier._fail.pop(0) if supplier._fail else None
            injected = supplier._faults.pop(0) if supplier._faults and fail is None else None
        if fail is not None:
            record.injected = True
            self._send(record, fail, f"injected failure {fail}".encode(), "text/plain")
            return
        try:
            if injected is not None:
                record.injected = True
                raise injected
            if record.path != ENDPOINT_PATH:
                raise _Fault("soap:Client", "not found", "NOT_FOUND")
            if envelope is None or envelope.tag != f"{{{SOAP_ENV}}}Envelope":
                raise _Fault("soap:Client", "not a SOAP 1.1 envelope", "MALFORMED_REQUEST")
            supplier._authenticate(envelope)
            record.authorized = True
            if operation is None or operation.tag != f"{{{NAMESPACE}}}NotifySupplyEvent":
                raise _Fault("soap:Client", "unknown operation", "UNKNOWN_OPERATION")
            answer = supplier._notify(record, operation)
        except _Fault as fault:
            record.fault_code = fault.code or fault.kind
            self._send(record, 500, _fault_envelope(fault), "text/xml; charset=utf-8")
            return
        self._send(record, 200, _envelope(answer), "text/xml; charset=utf-8")

    def _send(self, record: SupplierRequest, status: int, payload: bytes, kind: str) -> None:
        record.status = status
        try:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass


class NotificationRecipients:
    """The recipients of ``monosub/data/notification_recipients.json``, locally: the
    regulator (REST, HMAC), ``supplier-soap`` and ``supplier-rest`` (REST, API key).
    ``secret_value()`` is what goes in the ``notification-recipients`` secret."""

    def __init__(self) -> None:
        self.regulator = RegulatorServer(auth="hmac")
        self.supplier_soap = SupplierServer()
        self.supplier_rest = RegulatorServer(auth="api-key")

    def start(self) -> Self:
        self.regulator.start()
        self.supplier_soap.start()
        self.supplier_rest.start()
        return self

    def stop(self) -> None:
        self.regulator.stop()
        self.supplier_soap.stop()
        self.supplier_rest.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def secret_value(self) -> str:
        return json.dumps(
            {
                "regulator": self.regulator.secret_settings(),
                "supplier-soap": self.supplier_soap.secret_settings(),
                "supplier-rest": self.supplier_rest.secret_settings(),
            }
        )

    def reset(self) -> None:
        self.regulator.reset()
        self.supplier_soap.reset()
        self.supplier_rest.reset()
