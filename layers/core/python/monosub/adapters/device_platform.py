"""The device platform: the outside REST service our cameras and meters connect to.

Each shipped device must be bound there (serial ↔ owner account, plan, options, start date:
"kitting") before it arrives, or it does not work when the customer plugs it in. Later the
overdue follow-up suspends and resumes devices, and rentals unbind returned ones.
The API, its idempotency rule and the local stand-in: ``docs/device-platform.md``.

Every call is idempotent by its ``Idempotency-Key``: a binding's key is ``<serial>:v<version>``
so re-pushing the same binding (a retried task, an ops re-drive) changes nothing, and a
changed binding is pushed as version + 1. Callers give the key of a suspend, resume or unbind.

Errors are split by what a retry can do, because Step Functions decides by the exception's
**class name** (the Lambda runtime reports it as ``errorType``, and ``Retry``/``Catch``
``ErrorEquals`` match that name exactly, not the class hierarchy):

- ``DevicePlatformUnavailable``: 5xx, 429, timeout, connection refused or reset. Worth
  retrying with back-off; the same key makes the retry safe.
- ``DevicePlatformRejected``: any other 4xx (bad key, bad body, a lower version than the
  platform holds). A retry gets the same answer: a person has to look.
- ``DevicePlatformNotConfigured``: the secret does not hold the platform's URL and key yet.

Renaming any of these classes silently disables the state machines' Retry/Catch on them.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from datetime import date
from http.client import HTTPException
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from monosub import names, observability, secret_cache

# The secret holding {"base_url": ..., "api_key": ...}, declared in functions/resources.py;
# a function that declares it gets its id in this variable (functions.declarations.secret_env).
SECRET = names.DEVICE_PLATFORM
SECRET_ENV = "SECRET_DEVICE_PLATFORM"
CORRELATION_HEADER = "X-Correlation-Id"
DEFAULT_TIMEOUT_SECONDS = 5.0
_MESSAGE_LIMIT = 500  # characters of a non-JSON error body kept in an exception


class DeviceBinding(BaseModel):
    """What the platform must know about one device for it to work from ``start_date``."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    serial: str = Field(min_length=1)
    model: str = Field(min_length=1)  # the device's sku
    owner_account_id: str = Field(min_length=1)
    plan_sku: str = Field(min_length=1)
    option_skus: list[str] = Field(default_factory=list)
    start_date: date
    # Per serial, increasing: a re-binding after a change (plan, options, a new renter) is the
    # held version + 1; the platform refuses a lower one, so a late retry cannot undo a change.
    version: int = Field(ge=1)
    contract_id: str = Field(min_length=1)
    shipment_id: str | None = None

    @property
    def idempotency_key(self) -> str:
        return f"{self.serial}:v{self.version}"


class DevicePlatformUnavailable(Exception):
    """The platform could not answer (5xx, 429, timeout, connection refused or reset):
    worth retrying. Step Functions matches this exact class name."""


class DevicePlatformRejected(Exception):
    """The platform refused the request (a 4xx other than 429): retrying gets the same
    answer. ``status`` is the HTTP status, ``message`` the platform's own words.
    Step Functions matches this exact class name."""

    def __init__(self, status: int, message: str, *, method: str = "", path: str = "") -> None:
        super().__init__(f"device platform refused {method} {path}: {status} {message}".strip())
        self.status = status
        self.message = message


class DevicePlatformNotConfigured(RuntimeError):
    """The secret does not hold the platform's ``base_url`` and ``api_key`` (ops fill it
    after the first deploy: docs/operations.md)."""


class DevicePlatformClient:
    """Calls the platform's API with one API key. Thread-safe (it holds no connection)."""

    def __init__(
        self, base_url: str, api_key: str, *, timeout: float = DEFAULT_TIMEOUT_SECONDS
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.timeout = timeout

    def __repr__(self) -> str:  # never the key
        return f"DevicePlatformClient({self.base_url!r}, timeout={self.timeout})"

    def push_binding(self, binding: DeviceBinding) -> dict[str, Any]:
        """Bind ``binding.serial`` to its owner, plan and options (create or replace)."""
        return self._call(
            "PUT",
            _device_path(binding.serial, "binding"),
            binding.model_dump(mode="json"),
            key=binding.idempotency_key,
        )

    def suspend(self, serial: str, *, reason: str, key: str) -> dict[str, Any]:
        """Stop the device's service (it stays bound), e.g. for an overdue account."""
        return self._call("POST", _device_path(serial, "suspend"), {"reason": reason}, key=key)

    def resume(self, serial: str, *, key: str) -> dict[str, Any]:
        return self._call("POST", _device_path(serial, "resume"), {}, key=key)

    def unbind(self, serial: str, *, ended_on: date, key: str) -> dict[str, Any]:
        """End the binding on ``ended_on`` (a returned rental device)."""
        body = {"ended_on": ended_on.isoformat()}
        return self._call("POST", _device_path(serial, "unbind"), body, key=key)

    def _call(self, method: str, path: str, body: dict[str, Any], *, key: str) -> dict[str, Any]:
        if not key:
            raise ValueError("an Idempotency-Key is required")
        headers = {
            "Authorization": f"Bearer {self._api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Idempotency-Key": key,
        }
        correlation_id = _correlation_id()
        if correlation_id:
            headers[CORRELATION_HEADER] = correlation_id
        request = urllib.request.Request(
            self.base_url + path,
            data=json.dumps(body, ensure_ascii=False).encode("utf-8"),
            headers=headers,
            method=method,
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as refused:
            status, raw = refused.code, _read_quietly(refused)
        except (urllib.error.URLError, OSError, HTTPException) as failed:
            # URLError wraps refused/unresolvable connections; OSError covers a timeout
            # (TimeoutError) and a reset while reading; HTTPException a garbled answer.
            reason = getattr(failed, "reason", failed)
            raise DevicePlatformUnavailable(
                f"device platform unreachable for {method} {path}: {reason!r}"
            ) from failed
        if status == 429 or status >= 500:
            raise DevicePlatformUnavailable(
                f"device platform answered {status} to {method} {path}: {_message(raw)}"
            )
        if status >= 300:
            raise DevicePlatformRejected(status, _message(raw), method=method, path=path)
        try:
            answer = json.loads(raw or b"{}")
        except ValueError as garbled:
            raise DevicePlatformUnavailable(
                f"device platform answered {status} to {method} {path} with a body that is "
                f"not JSON: {_message(raw)}"
            ) from garbled
        return answer if isinstance(answer, dict) else {"result": answer}


def default_client() -> DevicePlatformClient:
    """The client configured by the declared ``device-platform`` secret (the calling
    function must declare it in the manifest: ``secrets=(names.DEVICE_PLATFORM,)``)."""
    base_url, api_key = secret_cache.read(SECRET_ENV, _credentials)
    return DevicePlatformClient(base_url, api_key)


def forget_cached_credentials() -> None:
    """Read the secret again on next use (after ops put a new key)."""
    secret_cache.forget(SECRET_ENV)


def _credentials(secret_string: str) -> tuple[str, str]:
    try:
        value = json.loads(secret_string)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise DevicePlatformNotConfigured(
            f"secret {SECRET} holds no JSON object: put "
            '{"base_url": "https://...", "api_key": "..."} in it (docs/operations.md)'
        )
    base_url, api_key = value.get("base_url"), value.get("api_key")
    if not isinstance(base_url, str) or not base_url.startswith(("https://", "http://")):
        raise DevicePlatformNotConfigured(f"secret {SECRET}: base_url is not an http(s) URL")
    if not isinstance(api_key, str) or not api_key:
        raise DevicePlatformNotConfigured(f"secret {SECRET}: api_key is empty")
    return base_url, api_key


def _device_path(serial: str, action: str) -> str:
    if not serial:
        raise ValueError("a serial is required")
    return f"/v1/devices/{urllib.parse.quote(serial, safe='')}/{action}"


def _correlation_id() -> str | None:
    """The invocation's correlation id (API request, execution, object key), so the
    platform's logs can be matched with ours."""
    return observability.logger.get_correlation_id()


def _read_quietly(response: urllib.error.HTTPError) -> bytes:
    try:
        return response.read()
    except (OSError, HTTPException):
        return b""


def _message(raw: bytes) -> str:
    """The platform's message from an error body: ``{"message": ...}`` if it sent JSON."""
    text = raw.decode("utf-8", errors="replace").strip()
    try:
        body = json.loads(text)
    except ValueError:
        return text[:_MESSAGE_LIMIT]
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return text[:_MESSAGE_LIMIT]
