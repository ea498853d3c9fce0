"""A local HTTP server in front of the API function: each request becomes an API Gateway REST
proxy event, goes through the Lambda API to the real handler, and its response goes back
with the same status, headers and body.

It also plays API Gateway's part: an unknown route gets 403 ``Missing Authentication
Token``; a staff route without a valid token gets 401 ``Unauthorized`` (the Cognito
authorizer). Tokens are JWTs signed with the local key (``local/identity.py``,
``monosub token``); their claims go into the request context as the authorizer's would. A
public route with a valid token gets the claims too; with a bad one it is refused.

``/_local/...`` endpoints let the CLI drive a running ``monosub serve`` (clock, drops), and
``GET /ops`` is the local ops page (``local/ops_page.py``). Neither is an API route: API
Gateway has neither on AWS.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import re
import threading
import uuid
from datetime import timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from functions.declarations import Api
from functions.manifest import FUNCTIONS
from local import identity, ops_page
from local.runtime import EmbeddedAWS
from monosub import clock, company

# Every function's routes (most are the API function's; a webhook has its own function).
_FUNCTION_OF = {
    (route.method, route.path): function.name
    for function in FUNCTIONS
    for trigger in function.triggers
    if isinstance(trigger, Api)
    for route in trigger.routes
}
_ROUTES = [
    (
        route,
        re.compile(
            "^"
            + "".join(
                f"(?P<{part[1:-1]}>[^/]+)" if part.startswith("{") else re.escape(part)
                for part in re.split(r"(\{[^}]+\})", route.path)
            )
            + "$"
        ),
    )
    for route in sorted(
        (r for f in FUNCTIONS for t in f.triggers if isinstance(t, Api) for r in t.routes),
        key=lambda route: "{" in route.path,  # literal paths first
    )
]


def function_for(event: dict[str, Any]) -> str:
    """The function a proxy event goes to (API Gateway integrates each route with one)."""
    return _FUNCTION_OF[(event["httpMethod"], event["resource"])]


def proxy_event(
    method: str,
    raw_path: str,
    headers: dict[str, str],
    body: bytes,
    stage: str,
    *,
    key: bytes,
) -> tuple[dict[str, Any] | None, str | None]:
    """The proxy event API Gateway would send, or (None, why) when it would refuse."""
    parts = urlsplit(raw_path)
    path = parts.path.rstrip("/") or "/"
    for route, pattern in _ROUTES:
        match = pattern.match(path)
        if not match or route.method != method:
            continue
        try:
            claims = _claims(headers, key)
        except identity.InvalidToken:
            return None, "unauthorized"
        if route.auth != "public" and claims is None:
            return None, "unauthorized"
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        multi: dict[str, list[str]] = {}
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            multi.setdefault(name, []).append(value)
        text_body: str | None
        try:
            text_body, encoded = (body.decode("utf-8"), False) if body else (None, False)
        except UnicodeDecodeError:
            text_body, encoded = base64.b64encode(body).decode(), True
        return {
            "resource": route.path,
            "path": path,
            "httpMethod": method,
            "headers": headers,
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": query or None,
            "multiValueQueryStringParameters": multi or None,
            "pathParameters": match.groupdict() or None,
            "stageVariables": None,
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "stage": stage,
                "httpMethod": method,
                "path": f"/{stage}{path}",
                "resourcePath": route.path,
                "identity": {"sourceIp": "127.0.0.1"},
                "authorizer": {"claims": claims} if claims else {},
            },
            "body": text_body,
            "isBase64Encoded": encoded,
        }, None
    return None, "no_route"


def _claims(headers: dict[str, str], key: bytes) -> dict[str, str] | None:
    """The authorizer's claims for a Bearer token; None without one."""
    lowered = {k.lower(): v for k, v in headers.items()}
    value = lowered.get("authorization", "")
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise identity.InvalidToken("use Authorization: Bearer <token>")
    return identity.authorizer_claims(identity.verify(token.strip(), key=key))


class LocalApiServer:
    def __init__(
        self,
        cloud: EmbeddedAWS,
        host: str = "127.0.0.1",
        port: int = 0,
        key: bytes | None = None,
    ) -> None:
        self.cloud = cloud
        self.key = key if key is not None else identity.signing_key()
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._public_url: str | None = None
        self._thread = threading.Thread(
            target=functools.partial(self._server.serve_forever, poll_interval=0.05), daemon=True
        )

    def token(
        self,
        user: str,
        *groups: str,
        agency_id: str | None = None,
        account_id: str | None = None,
        region: str | None = None,
    ) -> str:
        """A signed token for ``user`` in ``groups`` (an agency user: of ``agency_id``; a
        customer user: of ``account_id``; a regional manager: of ``region``), as a sign-in
        would give."""
        return identity.issue(
            user, groups, key=self.key, agency_id=agency_id, account_id=account_id, region=region
        )

    def bearer(
        self,
        user: str,
        *groups: str,
        agency_id: str | None = None,
        account_id: str | None = None,
        region: str | None = None,
    ) -> dict[str, str]:
        token = self.token(user, *groups, agency_id=agency_id, account_id=account_id, region=region)
        return {"Authorization": f"Bearer {token}"}

    def machine_bearer(self, client_id: str, *scopes: str) -> dict[str, str]:
        """The header of a partner system's access token (client credentials) with
        ``scopes``, as Cognito's token endpoint would issue it."""
        token = identity.issue_machine(client_id, scopes, key=self.key)
        return {"Authorization": f"Bearer {token}"}

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> LocalApiServer:
        self._thread.start()
        # links made outside a request (an application form's consent link) point here
        self._public_url = os.environ.get(company.PUBLIC_URL_SETTING)
        os.environ[company.PUBLIC_URL_SETTING] = self.url
        return self

    def stop(self) -> None:
        self._server.shutdown()
        if self._public_url is None:
            os.environ.pop(company.PUBLIC_URL_SETTING, None)
        else:
            os.environ[company.PUBLIC_URL_SETTING] = self._public_url
        self._server.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        cloud = self.cloud
        key = self.key

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _respond(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() not in ("content-length", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _json(self, status: int, payload: Any) -> None:
                body = json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8")
                self._respond(status, body, {"Content-Type": "application/json"})

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.path.startswith("/_local/"):
                    self._local(body)
                    return
                if self.command == "GET" and urlsplit(self.path).path.rstrip("/") == "/ops":
                    page = ops_page.render(cloud).encode("utf-8")
                    self._respond(200, page, {"Content-Type": "text/html; charset=utf-8"})
                    return
                # API Gateway adds X-Forwarded-Proto (https there); this server speaks http.
                headers = {"X-Forwarded-Proto": "http", **dict(self.headers.items())}
                event, refusal = proxy_event(
                    self.command, self.path, headers, body, cloud.stage, key=key
                )
                if event is None:
                    if refusal == "unauthorized":
                        self._json(401, {"message": "Unauthorized"})
                    else:
                        self._json(403, {"message": "Missing Authentication Token"})
                    return
                try:
                    result = cloud.invoke(function_for(event), event)
                except Exception as error:
                    self._json(502, {"message": "Internal server error", "detail": str(error)})
                    return
                payload = result.get("body") or ""
                data = (
                    base64.b64decode(payload)
                    if result.get("isBase64Encoded")
                    else payload.encode("utf-8")
                )
                response_headers = dict(result.get("headers") or {})
                for name, values in (result.get("multiValueHeaders") or {}).items():
                    response_headers[name] = ", ".join(values)
                self._respond(int(result.get("statusCode", 200)), data, response_headers)

            def _local(self, body: bytes) -> None:
                request = json.loads(body or b"{}")
                route = urlsplit(self.path).path
                if route == "/_local/clock" and self.command == "GET":
                    self._json(200, {"now": clock.iso(cloud.now())})
                elif route == "/_local/clock" and self.command == "POST":
                    if "set" in request:
                        fired = cloud.set_clock(clock.parse_instant(request["set"]))
                    else:
                        fired = cloud.set_clock(
                            cloud.now() + timedelta(seconds=float(request["advance_seconds"]))
                        )
                    self._json(200, {"now": clock.iso(cloud.now()), "fired": fired})
                elif route == "/_local/drop" and self.command == "POST":
                    run = cloud.drop(
                        request["kind"], request["name"], base64.b64decode(request["content"])
                    )
                    self._json(200, run)
                elif route == "/_local/maintenance/backfill-portal-index":
                    from monosub.store import portal_index

                    pages: list[dict[str, Any]] = []
                    with cloud.as_function("api"):
                        counts = portal_index.backfill_account_index(
                            dry_run=bool(request.get("dry_run")),
                            start=request.get("start"),
                            progress=lambda c, last: pages.append({**c, "last_key": last}),
                        )
                    self._json(200, {"counts": counts, "pages": pages})
                else:
                    self._json(HTTPStatus.NOT_FOUND, {"message": "no such local endpoint"})

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        return Handler
