"""Delivering one supply notification to its recipient: the errors every channel raises, the
``notification-recipients`` secret, and the client for a recipient (REST or SOAP).

The secret is one JSON object keyed by recipient id (``monosub/data/
notification_recipients.json`` names the recipients and their channel)::

    {"regulator": {"base_url": "https://...", "hmac_key": "..."},
     "supplier-rest": {"base_url": "https://...", "api_key": "..."},
     "supplier-soap": {"endpoint": "https://...", "username": "...", "password": "..."}}

Errors are split by what another try can do: ``DeliveryFailed.transient`` (a timeout, a
refused connection, 5xx or 429, a transient SOAP fault) is worth another attempt later; any
other failure is a refusal a person must look at. A recipient missing from the secret is
not configured (``RecipientNotConfigured``): the notification waits for ops to fill the
secret without using up its attempts.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from monosub import secret_cache
from monosub.domain.notifications import RECIPIENTS_SECRET, Recipient

SECRET = RECIPIENTS_SECRET
SECRET_ENV = "SECRET_NOTIFICATION_RECIPIENTS"
DEFAULT_TIMEOUT_SECONDS = 10.0


class DeliveryFailed(Exception):
    """A delivery did not go through. ``transient``: another attempt later may succeed."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


class RecipientNotConfigured(DeliveryFailed):
    """The secret holds no usable endpoint or credentials for the recipient yet (ops fill it
    after the first deploy): nothing was sent, and nothing about the recipient is known to
    be wrong, so the notification waits without using up its attempts."""

    def __init__(self, message: str) -> None:
        super().__init__(message, transient=True)


class NotificationClient(Protocol):
    def send(self, notification_id: str, payload: dict[str, Any]) -> str:
        """Deliver ``payload`` once under ``notification_id`` (the idempotency key); the
        recipient's receipt. Raises ``DeliveryFailed``."""
        ...


def client_for(recipient: Recipient) -> NotificationClient:
    """The client reaching ``recipient`` with the endpoint and credentials from the secret
    (the calling function must declare it: ``secrets=(RECIPIENTS_SECRET,)``)."""
    settings = secret_cache.read(SECRET_ENV, _settings).get(recipient.recipient_id)
    if not isinstance(settings, dict):
        raise RecipientNotConfigured(
            f"secret {SECRET} has no entry for recipient {recipient.recipient_id} "
            "(docs/notifications.md)"
        )
    if recipient.channel == "soap":
        from monosub.adapters.notification_soap import SoapNotificationClient

        return SoapNotificationClient.from_settings(recipient.recipient_id, settings)
    from monosub.adapters.notification_rest import RestNotificationClient

    assert recipient.auth is not None
    return RestNotificationClient.from_settings(recipient.recipient_id, recipient.auth, settings)


def forget_cached_settings() -> None:
    secret_cache.forget(SECRET_ENV)


def _settings(secret_string: str) -> dict[str, Any]:
    try:
        value = json.loads(secret_string)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise RecipientNotConfigured(
            f"secret {SECRET} holds no JSON object keyed by recipient (docs/notifications.md)"
        )
    return value


def required(settings: dict[str, Any], name: str, recipient_id: str) -> str:
    value = settings.get(name)
    if not isinstance(value, str) or not value:
        raise DeliveryFailed(f"secret {SECRET}: {recipient_id}.{name} is empty", transient=True)
    return value
