"""A local stand-in for a REST recipient of supply notifications (the regulator, or a
supplier with an API key: ``docs/notifications.md``), on 127.0.0.1.

``POST /v1/supply-notifications`` takes one notification as JSON and answers
``{"receipt_id": ...}``. It checks what the real recipients are specified to check: the
HMAC signature over ``<timestamp>.<body>`` (``auth="hmac"``) or the API key
(``auth="api-key"``), a JSON object with ``notification_id`` and ``event``, and an
``Idempotency-Key`` equal to the notification id; a repeated key gets the first receipt and
is recorded once. (Freshness of the signature's timestamp is not checked: the business
clock of a test may be anywhere.) Every request is recorded, and ``fail_next`` makes the
next requests fail with a status (503 by default) to show retries.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from local.local_server import LocalHttpServer
from monosub.adapters.notification_rest import (
    API_KEY_HEADER,
    IDEMPOTENCY_HEADER,
    PATH,
    SIGNATURE_HEADER,
)


@dataclass
class RecipientRequest:
    """One request as the server saw it and what it answered."""

    method: str
    path: str
    idempotency_key: str | None
    body: Any
    status: int = 0
    authorized: bool = False
    replayed: bool = False
    injected: bool = False
    at: datetime = field(default_factory=lambda: datetime.now(UTC))  # wall clock, on arrival


class RegulatorServer(LocalHttpServer):
    """``with RegulatorServer() as regulator:``; ``secret_settings()`` is what ops put in the
    ``notification-recipients`` secret for this recipient."""

    thread_name = "notification-recipient"

    def __init__(self, auth: Literal["hmac", "api-key"] = "hmac", key: str | None = None) -> None:
        self.auth = auth
        self.key = key or secrets.token_urlsafe(24)
        self._requests: list[RecipientRequest] = []
        self._received: dict[str, tuple[str, dict[str, Any]]] = {}  # key → receipt, body
        self._fail: list[int] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        recipient = self

        class Handler(_Handler):
            server_recipient = recipient

        return Handler

    @property
    def url(self) -> str:
        return self.base_url

    def secret_settings(self) -> dict[str, str]:
        name = "hmac_key" if self.auth == "hmac" else "api_key"
        return {"base_url": self.url, name: self.key}

    # ---- what tests and the demo use ---------------------------------------------------------

    def fail_next(self, count: int = 1, status: int = 503) -> None:
        """Answer the next ``count`` requests with ``status`` and record nothing as received."""
        with self._lock:
            self._fail.extend([status] * count)

    def requests(self) -> list[RecipientRequest]:
        with self._lock:
            return list(self._requests)

    def received(self) -> dict[str, dict[str, Any]]:
        """Notification id → the notification as first received (once per id)."""
        with self._lock:
            return {key: body for key, (_, body) in self._received.items()}

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._received.clear()
            self._fail.clear()

    # ---- handling ----------------------------------------------------------------------------

    def _authorized(self, headers: Any, raw: bytes) -> bool:
        if self.auth == "api-key":
            given = headers.get(API_KEY_HEADER) or ""
            return hmac.compare_digest(given.encode(), self.key.encode())
        parts = dict(
            part.split("=", 1)
            for part in (headers.get(SIGNATURE_HEADER) or "").split(",")
            if "=" in part
        )
        timestamp, given = parts.get("t", ""), parts.get("v1", "")
        expected = hmac.new(
            self.key.encode(), f"{timestamp}.".encode() + raw, hashlib.sha256
        ).hexdigest()
        return bool(timestamp) and hmac.compare_digest(given.encode(), expected.encode())

    def _handle(self, record: RecipientRequest, headers: Any, raw: bytes) -> tuple[int, Any]:
        with self._lock:
            self._requests.append(record)
            fail = self._fail.pop(0) if self._fail else None
        if fail is not None:
            record.injected = True
            return fail, {"error": "injected", "message": f"injected failure {fail}"}
        if record.method != "POST" or record.path != PATH:
            return 404, {"error": "not_found"}
        if not self._authorized(headers, raw):
            return 401, {"error": "unauthorized"}
        record.authorized = True
        body = record.body
        if not isinstance(body, dict) or not body.get("notification_id") or not body.get("event"):
            return 400, {"error": "bad_request", "message": "notification_id and event required"}
        key = record.idempotency_key
        if key is None or key != body["notification_id"]:
            return 400, {"error": "bad_request", "message": "Idempotency-Key: the notification id"}
        with self._lock:
            held = self._received.get(key)
            if held is not None:
                record.replayed = True
                return 200, {"receipt_id": held[0], "replayed": True}
            receipt = f"R-{len(self._received) + 1:06d}"
            self._received[key] = (receipt, body)
        return 201, {"receipt_id": receipt}


class _Handler(BaseHTTPRequestHandler):
    server_recipient: RegulatorServer

    def log_message(self, format: str, *args: Any) -> None:  # the record is the log
        return None

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", errors="replace")
        record = RecipientRequest(
            method=self.command,
            path=self.path.split("?", 1)[0],
            idempotency_key=self.headers.get(IDEMPOTENCY_HEADER),
            body=body,
        )
        status, answer = self.server_recipient._handle(record, self.headers, raw)
        record.status = status
        payload = json.dumps(answer, ensure_ascii=False).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass
