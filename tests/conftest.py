"""Shared fixtures.

- ``aws_storage``: moto with the declared tables, buckets and buses (no functions), and the
  API function's environment installed; enough to run handlers directly.
- ``api``: calls the real API handler with an API Gateway proxy event (no HTTP server).
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
for path in (str(ROOT), str(ROOT / "layers" / "core" / "python")):
    if path not in sys.path:
        sys.path.insert(0, path)

from local.cli import prepare_process  # noqa: E402  (needs the paths above)

prepare_process()


class FakeContext:
    def __init__(self, function_name: str) -> None:
        self.function_name = function_name
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = (
            f"arn:aws:lambda:ap-northeast-1:123456789012:function:{function_name}"
        )
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def proxy_event(
    method: str,
    path: str,
    body: Any = None,
    *,
    groups: str | None = "sales",
    user: str = "tester",
    agency_id: str | None = None,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway REST proxy event, as API Gateway would send it: the caller signed in
    as ``user`` in ``groups`` (comma-joined; None: not signed in), an agency user with its
    ``agency_id`` (the ``custom:agency_id`` claim)."""
    claims: dict[str, str] | None = None
    if groups is not None:
        claims = {"cognito:username": user, "cognito:groups": groups}
        if agency_id is not None:
            claims["custom:agency_id"] = agency_id
    raw_body = body if isinstance(body, str) or body is None else json.dumps(body)
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "multiValueHeaders": {},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in (query or {}).items()} or None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "stage": "local",
            "httpMethod": method,
            "path": path,
            "authorizer": {"claims": claims} if claims else {},
        },
        "body": raw_body,
        "isBase64Encoded": False,
    }


class ApiResponse:
    def __init__(self, raw: dict[str, Any]) -> None:
        self.status = int(raw["statusCode"])
        self.headers = dict(raw.get("headers") or {})
        for name, values in (raw.get("multiValueHeaders") or {}).items():
            self.headers[name] = ", ".join(values)
        self.text = raw.get("body") or ""

    def json(self) -> Any:
        return json.loads(self.text)

    def __repr__(self) -> str:
        return f"<ApiResponse {self.status} {self.text[:200]}>"


class DirectApi:
    """Calls ``functions.api.app.handler`` in process with the API function's environment."""

    def __init__(self, environment: dict[str, str]) -> None:
        self.environment = environment

    def __call__(self, method: str, path: str, body: Any = None, **kwargs: Any) -> ApiResponse:
        from functions.api import app
        from monosub import config

        with config.function_environment(self.environment):
            raw = app.handler(proxy_event(method, path, body, **kwargs), FakeContext("api"))
        return ApiResponse(raw)


@pytest.fixture
def aws_storage() -> Iterator[Any]:
    import boto3
    from moto import mock_aws

    from local import provision
    from monosub import aws

    with mock_aws():
        aws.reset_clients()
        names = provision.resource_names()
        provision.provision_storage(boto3.session.Session(), names)
        yield names
        aws.reset_clients()


@pytest.fixture
def api(aws_storage: Any) -> DirectApi:
    from functions import manifest

    return DirectApi(manifest.function("api").environment(aws_storage))


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, dict[str, Any]]]:
    """Domain events published during the test, instead of sending them to the bus."""
    from monosub import events

    recorder = events.RecordingPublisher()
    monkeypatch.setattr(events, "default_publisher", recorder)
    return recorder.published


def set_clock(names: Any, instant: str) -> None:
    """Move the business clock of an ``aws_storage`` set-up (no schedules there to fire)."""
    import boto3

    boto3.client("ssm", region_name="ap-northeast-1").put_parameter(
        Name=names.clock_parameter, Value=instant, Type="String", Overwrite=True
    )
