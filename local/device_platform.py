"""A local stand-in for the device platform (``docs/device-platform.md``), on 127.0.0.1.

It speaks the API ``monosub.adapters.device_platform`` calls, keeps what the real platform
keeps (per serial: the binding with its version, and active / suspended / unbound), and
behaves as it is specified to: a wrong key is 401, a bad body 400, a binding older than the
one held 409, and a repeated ``Idempotency-Key`` gets the stored answer without a second
change. It records every request it gets, so a test or the demo can see exactly what was
pushed, and it can be told to misbehave (``fail_next``, ``stall_next``) to show retries.

The embedded AWS starts one (``EmbeddedAWS.device_platform``) and puts its URL and key in
the ``device-platform`` secret.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from local.local_server import LocalHttpServer

# Request headers kept in the record (never Authorization: it carries the key).
RECORDED_HEADERS = ("Content-Type", "Idempotency-Key", "X-Correlation-Id")
ACTIONS = {("PUT", "binding"), ("POST", "suspend"), ("POST", "resume"), ("POST", "unbind")}
_BINDING_FIELDS: dict[str, type] = {
    "model": str,
    "owner_account_id": str,
    "plan_sku": str,
    "option_skus": list,
    "start_date": date,
    "version": int,
    "contract_id": str,
}


@dataclass
class PlatformRequest:
    """One request as the server saw it and what it answered."""

    method: str
    path: str
    serial: str | None
    headers: dict[str, str]
    body: Any  # parsed JSON, or the raw text when it was not JSON
    status: int = 0
    authorized: bool = False
    replayed: bool = False  # answered from the Idempotency-Key store
    injected: bool = False  # a failure ordered by fail_next
    stalled_seconds: float = 0.0  # ordered by stall_next
    at: datetime = field(default_factory=lambda: datetime.now(UTC))  # wall clock, on arrival


@dataclass
class _Device:
    serial: str
    version: int
    binding: dict[str, Any]
    status: str = "active"  # active | suspended | unbound
    suspended_reason: str | None = None
    ended_on: str | None = None

    def view(self) -> dict[str, Any]:
        return {
            "serial": self.serial,
            "status": self.status,
            "version": self.version,
            "binding": dict(self.binding),
            "suspended_reason": self.suspended_reason,
            "ended_on": self.ended_on,
        }


@dataclass
class _Stored:
    """An answered request, kept under its Idempotency-Key."""

    fingerprint: tuple[str, str, str]  # method, path, canonical body
    status: int
    answer: dict[str, Any]


class _Refusal(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.answer = {"error": error, "message": message}


class DevicePlatformServer(LocalHttpServer):
    """``with DevicePlatformServer() as platform:`` then point a client at ``platform.url``
    with ``platform.api_key``."""

    thread_name = "device-platform"

    def __init__(self, api_key: str | None = None) -> None:
        self.api_key = api_key or secrets.token_urlsafe(24)
        self.requests: list[PlatformRequest] = []
        self._devices: dict[str, _Device] = {}
        self._answered: dict[str, _Stored] = {}
        self._fail: list[int] = []  # statuses still to inject, one per request
        self._stall: list[float] = []  # seconds still to stall, one per request
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle ---------------------------------------------------------------------------

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        platform = self

        class Handler(_Handler):
            server_platform = platform

        return Handler

    @property
    def url(self) -> str:
        return self.base_url

    # ---- what tests and the demo use ---------------------------------------------------------

    def fail_next(self, count: int, status: int = 503) -> None:
        """Answer the next ``count`` requests with ``status`` and change nothing."""
        with self._lock:
            self._fail.extend([status] * count)

    def stall_next(self, count: int, seconds: float) -> None:
        """Hold each of the next ``count`` requests for ``seconds`` before handling it (as a
        slow platform would: the client may give up, the change still happens)."""
        with self._lock:
            self._stall.extend([seconds] * count)

    def bindings(self) -> dict[str, dict[str, Any]]:
        """Per serial: status, version, the binding as pushed, suspension, end date."""
        with self._lock:
            return {serial: device.view() for serial, device in self._devices.items()}

    def requests_for(self, serial: str) -> list[PlatformRequest]:
        with self._lock:
            return [r for r in self.requests if r.serial == serial]

    def reset(self) -> None:
        """Forget devices, answers, records and pending misbehaviour (same URL and key)."""
        with self._lock:
            self.requests.clear()
            self._devices.clear()
            self._answered.clear()
            self._fail.clear()
            self._stall.clear()

    # ---- handling ----------------------------------------------------------------------------

    def _arrive(self, record: PlatformRequest) -> tuple[float, int | None]:
        """Record a request; what it is to suffer: seconds to stall, a status to fail with."""
        with self._lock:
            self.requests.append(record)
            stall = self._stall.pop(0) if self._stall else 0.0
            fail = self._fail.pop(0) if self._fail else None
        return stall, fail

    def _handle(
        self, record: PlatformRequest, authorization: str | None
    ) -> tuple[int, dict[str, Any]]:
        """The answer to one request that reached the API: (status, JSON body)."""
        if authorization != f"Bearer {self.api_key}":
            raise _Refusal(401, "unauthorized", "missing or wrong API key")
        record.authorized = True
        action = _route(record.method, record.path)
        if record.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            raise _Refusal(415, "unsupported_media_type", "send application/json")
        if not isinstance(record.body, dict):
            raise _Refusal(400, "bad_request", "the body must be a JSON object")
        key = record.headers.get("Idempotency-Key")
        if not key:
            raise _Refusal(400, "bad_request", "Idempotency-Key header is required")
        assert record.serial is not None
        fingerprint = (
            record.method,
            record.path,
            json.dumps(record.body, sort_keys=True, ensure_ascii=False),
        )
        with self._lock:
            stored = self._answered.get(key)
            if stored is not None:
                if stored.fingerprint != fingerprint:
                    raise _Refusal(
                        422,
                        "idempotency_key_reused",
                        f"Idempotency-Key {key} was used for another request",
                    )
                record.replayed = True
                return stored.status, stored.answer
            status, answer = self._apply(action, record.serial, record.body)
            self._answered[key] = _Stored(fingerprint, status, answer)
            return status, answer

    def _apply(self, action: str, serial: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Change the device's state (under the lock); only successes come back."""
        device = self._devices.get(serial)
        if action == "binding":
            binding = _valid_binding(serial, body)
            version = binding["version"]
            if device is not None and version < device.version:
                raise _Refusal(
                    409,
                    "stale_version",
                    f"version {version} is lower than the held version {device.version}",
                )
            if device is not None and version == device.version:
                if binding != device.binding:
                    raise _Refusal(
                        409,
                        "version_conflict",
                        f"version {version} is already bound with other content",
                    )
                return 200, device.view()
            if device is None:
                device = self._devices[serial] = _Device(serial, version, binding)
                return 201, device.view()
            device.version, device.binding = version, binding
            if device.status == "unbound":  # bound again (a rental device to its next renter)
                device.status, device.ended_on = "active", None
            return 200, device.view()  # a suspended device stays suspended
        if device is None:
            raise _Refusal(404, "not_found", f"device {serial} is not bound")
        if action == "unbind":
            ended_on = _date_field(body, "ended_on")
            if device.status != "unbound":
                device.status, device.ended_on = "unbound", ended_on
                device.suspended_reason = None
            return 200, device.view()
        if device.status == "unbound":
            raise _Refusal(409, "unbound", f"device {serial} is unbound since {device.ended_on}")
        if action == "suspend":
            reason = body.get("reason")
            if not isinstance(reason, str) or not reason.strip():
                raise _Refusal(400, "bad_request", "reason: required")
            if device.status != "suspended":
                device.status, device.suspended_reason = "suspended", reason
            return 200, device.view()
        device.status, device.suspended_reason = "active", None  # resume
        return 200, device.view()


def _route(method: str, path: str) -> str:
    parts = path.split("/")  # "", "v1", "devices", serial, action
    if len(parts) != 5 or parts[:3] != ["", "v1", "devices"] or not parts[3]:
        raise _Refusal(404, "not_found", f"no such route: {path}")
    if (method, parts[4]) not in ACTIONS:
        known = {a for _, a in ACTIONS}
        if parts[4] in known:
            raise _Refusal(405, "method_not_allowed", f"{method} {path} is not allowed")
        raise _Refusal(404, "not_found", f"no such route: {path}")
    return parts[4]


def _serial(path: str) -> str | None:
    parts = path.split("/")
    return urllib.parse.unquote(parts[3]) if len(parts) == 5 and parts[3] else None


def _valid_binding(serial: str, body: dict[str, Any]) -> dict[str, Any]:
    """The binding as stored (without its serial), or a 400 naming the first bad field."""
    if "serial" in body and body["serial"] != serial:
        raise _Refusal(400, "bad_request", f"serial: {body['serial']!r} is not {serial!r}")
    for name, kind in _BINDING_FIELDS.items():
        if name not in body or body[name] is None:
            raise _Refusal(400, "bad_request", f"{name}: required")
        value = body[name]
        if kind is date:
            _date_field(body, name)
        elif kind is int:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise _Refusal(400, "bad_request", f"{name}: an integer of at least 1")
        elif kind is list:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise _Refusal(400, "bad_request", f"{name}: a list of strings")
        elif not isinstance(value, str) or not value:
            raise _Refusal(400, "bad_request", f"{name}: a non-empty string")
    shipment = body.get("shipment_id")
    if shipment is not None and not isinstance(shipment, str):
        raise _Refusal(400, "bad_request", "shipment_id: a string or null")
    unknown = set(body) - {*_BINDING_FIELDS, "serial", "shipment_id"}
    if unknown:
        raise _Refusal(400, "bad_request", f"unknown fields: {', '.join(sorted(unknown))}")
    return {k: v for k, v in body.items() if k != "serial"}


def _date_field(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None:
        raise _Refusal(400, "bad_request", f"{name}: required")
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise _Refusal(400, "bad_request", f"{name}: not a date (YYYY-MM-DD): {value!r}")


class _Handler(BaseHTTPRequestHandler):
    server_platform: DevicePlatformServer

    def do_PUT(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:  # the record is the log
        return None

    def _serve(self) -> None:
        platform = self.server_platform
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", errors="replace")
        path = self.path.split("?", 1)[0]
        record = PlatformRequest(
            method=self.command,
            path=path,
            serial=_serial(path),
            headers={h: v for h in RECORDED_HEADERS if (v := self.headers.get(h)) is not None},
            body=body,
        )
        stall, fail = platform._arrive(record)
        if stall:
            record.stalled_seconds = stall
            platform._stopping.wait(stall)
        if fail is not None:
            record.injected = True
            status, answer = fail, {"error": "injected", "message": f"injected failure {fail}"}
        else:
            try:
                status, answer = platform._handle(record, self.headers.get("Authorization"))
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
            if replayed:
                self.send_header("Idempotent-Replayed", "true")
            if status == 401:
                self.send_header("WWW-Authenticate", "Bearer")
            if status == 429:
                self.send_header("Retry-After", "1")
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a stalled request): the answer was still decided
