"""Supply notifications over REST: ``POST <base_url>/v1/supply-notifications`` with the
payload as JSON (docs/notifications.md).

Every request carries ``Idempotency-Key: <notification id>``: the recipient records a
notification once and answers a repeat with its first receipt, so a retry after a timeout
is safe. Authentication is per recipient: ``hmac`` signs ``<timestamp>.<body>`` with the
shared key (``X-Monosub-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>``: the recipient
checks the body was not altered and the request is fresh), ``api-key`` sends the key in
``X-Api-Key``.

5xx, 429, timeouts and refused connections are transient; any other 4xx is a refusal.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import requests

from monosub import clock, observability
from monosub.adapters.notification_delivery import (
    DEFAULT_TIMEOUT_SECONDS,
    DeliveryFailed,
    required,
)
from monosub.domain.notifications import RestAuth

PATH = "/v1/supply-notifications"
SIGNATURE_HEADER = "X-Monosub-Signature"
API_KEY_HEADER = "X-Api-Key"
IDEMPOTENCY_HEADER = "Idempotency-Key"
CORRELATION_HEADER = "X-Correlation-Id"


def signature(key: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for ``body`` sent at ``timestamp`` (unix seconds)."""
    mac = hmac.new(key.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


class RestNotificationClient:
    def __init__(
        self,
        recipient_id: str,
        base_url: str,
        *,
        auth: RestAuth,
        secret: str,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self.recipient_id = recipient_id
        self.url = base_url.rstrip("/") + PATH
        self.auth = auth
        self._secret = secret
        self.timeout = timeout

    def __repr__(self) -> str:  # never the key
        return f"RestNotificationClient({self.recipient_id!r}, {self.url!r}, auth={self.auth!r})"

    @classmethod
    def from_settings(
        cls, recipient_id: str, auth: RestAuth, settings: dict[str, Any]
    ) -> RestNotificationClient:
        base_url = required(settings, "base_url", recipient_id)
        secret = required(settings, "hmac_key" if auth == "hmac" else "api_key", recipient_id)
        return cls(recipient_id, base_url, auth=auth, secret=secret)

    def send(self, notification_id: str, payload: dict[str, Any]) -> str:
        body = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")
        headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: notification_id}
        if self.auth == "hmac":
            headers[SIGNATURE_HEADER] = signature(self._secret, int(clock.now().timestamp()), body)
        else:
            headers[API_KEY_HEADER] = self._secret
        correlation_id = observability.logger.get_correlation_id()
        if correlation_id:
            headers[CORRELATION_HEADER] = correlation_id
        try:
            response = requests.post(self.url, data=body, headers=headers, timeout=self.timeout)
        except requests.exceptions.RequestException as failed:
            raise DeliveryFailed(
                f"{self.recipient_id} unreachable: {type(failed).__name__}", transient=True
            ) from failed
        if response.status_code >= 500 or response.status_code == 429:
            raise DeliveryFailed(
                f"{self.recipient_id} answered HTTP {response.status_code}", transient=True
            )
        if response.status_code >= 300:
            raise DeliveryFailed(
                f"{self.recipient_id} refused with HTTP {response.status_code}: "
                f"{response.text[:200]}",
                transient=False,
            )
        try:
            answer = response.json()
            receipt = answer.get("receipt_id") if isinstance(answer, dict) else None
        except ValueError:
            receipt = None
        if not isinstance(receipt, str) or not receipt:
            raise DeliveryFailed(
                f"{self.recipient_id} answered {response.status_code} without a receipt_id",
                transient=True,
            )
        return receipt
