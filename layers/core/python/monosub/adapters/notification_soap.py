"""Supply notifications over SOAP (zeep): a supplier's ``NotifySupplyEvent``
(``wsdl/supplier.wsdl``, loaded from the package, never fetched; the endpoint comes from the
secret), with a WS-Security UsernameToken, as the print vendor's client does
(``monosub.adapters.print_vendor``).

The operation is idempotent per ``notificationId`` (the notification's id). A fault whose
``supplyFault`` detail says ``transient`` (or a ``soap:Server`` fault without one), an HTTP
5xx or 429 without a fault, a timeout or a garbled answer are worth another attempt; any
other fault (the data refused, a WS-Security fault) is a refusal.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests
from lxml import etree
from zeep.exceptions import Fault, TransportError, XMLParseError, XMLSyntaxError

from monosub import observability
from monosub.adapters import soap
from monosub.adapters.notification_delivery import (
    DEFAULT_TIMEOUT_SECONDS,
    DeliveryFailed,
    required,
)

WSDL_PATH = Path(__file__).resolve().parent / "wsdl" / "supplier.wsdl"
NAMESPACE = "urn:example:supply-notification:v1"
BINDING = f"{{{NAMESPACE}}}SupplyNotificationBinding"
CORRELATION_HEADER = "X-Correlation-Id"
# payload field → request element (in the WSDL's order; absent ones are left out)
ELEMENTS = (
    ("customer_number", "customerNumber"),
    ("contract_number", "contractNumber"),
    ("meter_serial", "meterSerial"),
    ("effective_date", "effectiveDate"),
    ("expected_consumption", "expectedConsumption"),
    ("consumption_unit", "consumptionUnit"),
    ("reason", "reason"),
)


class SoapNotificationClient:
    """Build one per invocation (it holds an HTTP session and the parsed WSDL)."""

    def __init__(
        self,
        recipient_id: str,
        endpoint: str,
        username: str,
        password: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self.recipient_id = recipient_id
        self.endpoint = endpoint
        self.username = username
        self._client, self._service = soap.service(
            WSDL_PATH, BINDING, endpoint, username, password, timeout=timeout
        )

    def __repr__(self) -> str:  # never the password
        return f"SoapNotificationClient({self.recipient_id!r}, {self.endpoint!r})"

    @classmethod
    def from_settings(cls, recipient_id: str, settings: dict[str, Any]) -> SoapNotificationClient:
        return cls(
            recipient_id,
            required(settings, "endpoint", recipient_id),
            required(settings, "username", recipient_id),
            required(settings, "password", recipient_id),
        )

    def send(self, notification_id: str, payload: dict[str, Any]) -> str:
        body: dict[str, Any] = {"notificationId": notification_id, "event": payload["event"]}
        for field, element in ELEMENTS:
            value = payload.get(field)
            if value is None:
                continue
            if field == "effective_date":
                value = date.fromisoformat(value)
            elif field == "expected_consumption":
                value = Decimal(value)
            body[element] = value
        if "customerNumber" not in body or "effectiveDate" not in body:
            raise DeliveryFailed(
                f"{self.recipient_id} needs customer_number and effective_date: add them to "
                "its fields in notification_recipients.json",
                transient=False,
            )
        headers: dict[str, str] = {}
        correlation_id = observability.logger.get_correlation_id()
        if correlation_id:
            headers[CORRELATION_HEADER] = correlation_id
        try:
            with self._client.settings(extra_http_headers=headers):
                answer = self._service.NotifySupplyEvent(**body)
        except Fault as fault:
            raise _from_fault(self.recipient_id, fault) from fault
        except TransportError as failed:
            status = failed.status_code
            raise DeliveryFailed(
                f"{self.recipient_id} answered HTTP {status}",
                transient=status == 429 or status >= 500 or status < 400,
            ) from failed
        except requests.exceptions.RequestException as failed:
            raise DeliveryFailed(
                f"{self.recipient_id} unreachable: {type(failed).__name__}", transient=True
            ) from failed
        except (XMLParseError, XMLSyntaxError, etree.XMLSyntaxError) as garbled:
            raise DeliveryFailed(
                f"{self.recipient_id} answered with XML that is not the promised answer",
                transient=True,
            ) from garbled
        receipt = getattr(answer, "receiptId", None)
        if not isinstance(receipt, str) or not receipt:
            raise DeliveryFailed(f"{self.recipient_id} answered without a receipt", transient=True)
        return receipt


def _from_fault(recipient_id: str, fault: Fault) -> DeliveryFailed:
    faultcode = str(fault.code or "")
    kind = faultcode.rsplit("}", 1)[-1].rsplit(":", 1)[-1]
    detail = fault.detail.find(f"{{{NAMESPACE}}}supplyFault") if fault.detail is not None else None
    code = _detail_text(detail, "code") or kind or "unknown"
    message = _detail_text(detail, "message") or str(fault.message or "").strip()
    flag = _detail_text(detail, "transient")
    transient = flag in ("true", "1") if flag is not None else kind.startswith("Server")
    return DeliveryFailed(
        f"{recipient_id} fault {code}{' (transient)' if transient else ''}: {message}",
        transient=transient,
    )


def _detail_text(detail: Any, name: str) -> str | None:
    if detail is None:
        return None
    child = detail.find(f"{{{NAMESPACE}}}{name}")
    text = child.text.strip() if child is not None and child.text else ""
    return text or None
