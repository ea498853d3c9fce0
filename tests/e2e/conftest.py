"""End-to-end scenarios go through the front doors only: HTTP to the local API server (which
plays API Gateway), files into the exchange bucket, the business clock."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from local.http_api import LocalApiServer
from local.runtime import EmbeddedAWS


class Http:
    def __init__(self, server: LocalApiServer) -> None:
        self.server = server
        self.url = server.url

    def __call__(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        user: str | None = None,
        groups: str = "sales",
        agency: str | None = None,
    ) -> tuple[int, Any]:
        headers = {}
        if user:
            headers = self.server.bearer(user, *groups.split(","), agency_id=agency)
        return self.raw(method, path, body, headers=headers)

    def raw(
        self, method: str, path: str, body: Any = None, *, headers: dict[str, str]
    ) -> tuple[int, Any]:
        """A call with the headers given (a token with other claims)."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json", **headers}
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")


@pytest.fixture
def cloud() -> Iterator[EmbeddedAWS]:
    with EmbeddedAWS(business_time=datetime(2026, 11, 2, 1, 0, tzinfo=UTC)) as embedded:
        yield embedded


@pytest.fixture
def http(cloud: EmbeddedAWS) -> Iterator[Http]:
    server = LocalApiServer(cloud).start()
    yield Http(server)
    server.stop()
