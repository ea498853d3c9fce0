"""The on-premises ERP (基幹システム): the SOAP web service that keeps metering and billing
records (seed 001). monosub pushes customers, contracts and meter readings to it and reads
back its status of our invoices. The service, what is pushed when, and the local stand-in:
``docs/erp.md``.

The WSDL (``wsdl/erp.wsdl``, one inline schema) ships with this package and is loaded from
the file, never fetched: a deploy must not depend on the ERP serving it, and the contract we
built against stays in review. The endpoint comes from the secret and overrides the WSDL's
placeholder address. Requests carry a WS-Security UsernameToken.

Pushes are idempotent per (``sourceId``, ``sourceVersion``): the ERP applies a version once
and answers ``UNCHANGED`` to a version it has, so a retried or re-driven batch changes nothing
twice.

Errors are split by what a retry can do, because Step Functions decides by the exception's
**class name** (``errorType``; ``Retry`` ``ErrorEquals`` match that exact name):

- ``ErpUnavailable``: timeout, connection refused or reset, HTTP 5xx or 429 without a SOAP
  fault, a ``soap:Server`` fault, an answer that is not the promised XML. Worth retrying with
  back-off; the idempotency rule makes the retry safe.
- ``ErpRejected``: a ``soap:Client`` fault (the ERP refuses the data: its ``code`` and, when
  one record is at fault, that record's ``source_id``), a WS-Security fault, another HTTP
  4xx. A retry gets the same answer: a person looks (the exceptions queue).
- ``ErpNotConfigured``: the secret does not hold the endpoint and user yet.

Renaming any of these classes silently disables the state machine's Retry on them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import requests
from lxml import etree
from zeep.exceptions import Fault, TransportError, XMLParseError, XMLSyntaxError

from monosub import names, observability, secret_cache
from monosub.adapters import soap
from monosub.domain.erp import ERP_INVOICE_STATUSES, EntityType, ErpInvoice

WSDL_PATH = Path(__file__).resolve().parent / "wsdl" / "erp.wsdl"
NAMESPACE = "urn:example:kikan-erp:v1"
BINDING = f"{{{NAMESPACE}}}KikanErpBinding"
# The secret holding {"endpoint": ..., "username": ..., "password": ...}, declared in
# functions/resources.py; a function that declares it gets its id in this variable.
SECRET = names.ERP
SECRET_ENV = "SECRET_ERP"
CORRELATION_HEADER = "X-Correlation-Id"
# The ERP answers a batch of 100 in well under a second; a stalled on-premises link must not
# hold a Lambda for minutes (the state machine retries with back-off instead).
DEFAULT_TIMEOUT_SECONDS = 20.0
RECORDS_PER_REQUEST = 100  # the ERP takes at most 100 records per push
INVOICES_PER_REQUEST = 100
# entity type → (operation, element name of one record)
OPERATIONS: dict[str, tuple[str, str]] = {
    "customer": ("PushCustomers", "customer"),
    "contract": ("PushContracts", "contract"),
    "reading": ("PushMeterReadings", "reading"),
}


@dataclass(frozen=True)
class PushResult:
    """What the ERP did with one record: ``CREATED``, ``UPDATED`` or ``UNCHANGED`` (this
    version was applied before), and its own key of the record."""

    source_id: str
    source_version: int
    status: str
    erp_id: str


class ErpUnavailable(Exception):
    """The ERP could not answer (timeout, connection, 5xx, a server fault, a garbled
    answer): worth retrying. Step Functions matches this exact class name."""


class ErpRejected(Exception):
    """The ERP refused the request (a client or security fault, a 4xx): retrying gets the
    same answer. ``code`` is the ERP's code, ``message`` its own words, ``source_id`` the
    record it names (if any)."""

    def __init__(
        self, code: str, message: str, *, operation: str, source_id: str | None = None
    ) -> None:
        subject = f"record {source_id}" if source_id else "the request"
        super().__init__(f"ERP rejected {operation} ({subject}): {code}: {message}")
        self.code = code
        self.message = message
        self.operation = operation
        self.source_id = source_id


class ErpNotConfigured(RuntimeError):
    """The secret does not hold the ERP's ``endpoint``, ``username`` and ``password`` (ops
    fill it after the first deploy: docs/erp.md)."""


class ErpClient:
    """Calls the ERP's web service as one WS-Security user. Build one per invocation (it
    holds an HTTP session and the parsed WSDL)."""

    def __init__(
        self,
        endpoint: str,
        username: str,
        password: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self.endpoint = endpoint
        self.username = username
        self.timeout = timeout
        self._client, self._service = soap.service(
            WSDL_PATH, BINDING, endpoint, username, password, timeout=timeout
        )

    def __repr__(self) -> str:  # never the password
        return f"ErpClient({self.endpoint!r}, {self.username!r}, timeout={self.timeout})"

    def push(
        self, entity_type: EntityType, batch_id: str, records: Sequence[Mapping[str, Any]]
    ) -> list[PushResult]:
        """Push ``records`` of one type (``monosub.domain.erp`` dicts) under ``batch_id``,
        ``RECORDS_PER_REQUEST`` to a request: one result per record, in order."""
        if not batch_id:
            raise ValueError("a batch id is required")
        operation, element = OPERATIONS[entity_type]
        results: dict[tuple[str, int], PushResult] = {}
        for start in range(0, len(records), RECORDS_PER_REQUEST):
            chunk = records[start : start + RECORDS_PER_REQUEST]
            answer = self._call(operation, batchId=batch_id, **{element: [dict(r) for r in chunk]})
            for result in _list(answer, "result"):
                pushed = PushResult(
                    source_id=_text(result, "sourceId"),
                    source_version=int(getattr(result, "sourceVersion", 0) or 0),
                    status=_text(result, "status"),
                    erp_id=_text(result, "erpId"),
                )
                results[(pushed.source_id, pushed.source_version)] = pushed
        wanted = [(str(r["sourceId"]), int(r["sourceVersion"])) for r in records]
        missing = [f"{i}@{v}" for i, v in wanted if (i, v) not in results]
        if missing:  # the ERP promises one result per record: a broken answer
            raise ErpUnavailable(
                f"ERP answered {operation} for batch {batch_id} without a result for "
                f"{', '.join(missing[:5])}"
            )
        return [results[key] for key in wanted]

    def invoice_statuses(self, invoice_numbers: Sequence[str]) -> list[ErpInvoice]:
        """The ERP's status of each invoice (``UNKNOWN`` for one it has not heard of)."""
        found: list[ErpInvoice] = []
        for start in range(0, len(invoice_numbers), INVOICES_PER_REQUEST):
            chunk = list(invoice_numbers[start : start + INVOICES_PER_REQUEST])
            answer = self._call("GetInvoiceStatus", invoiceNo=chunk)
            # zeep unwraps a response of one element: the list of invoices itself
            items = list(answer or []) if isinstance(answer, list) else _list(answer, "invoice")
            for item in items:
                status = _text(item, "status")
                if status not in ERP_INVOICE_STATUSES:
                    raise ErpUnavailable(f"ERP answered an unknown invoice status {status!r}")
                paid_on = getattr(item, "paidOn", None)
                found.append(
                    ErpInvoice(
                        invoice_number=_text(item, "invoiceNo"),
                        status=status,  # type: ignore[arg-type]  # checked above
                        amount=_int(item, "amount"),
                        paid_amount=_int(item, "paidAmount"),
                        paid_on=paid_on if isinstance(paid_on, date) else None,
                    )
                )
        return found

    def _call(self, operation: str, **body: Any) -> Any:
        headers: dict[str, str] = {}
        correlation_id = observability.logger.get_correlation_id()
        if correlation_id:
            headers[CORRELATION_HEADER] = correlation_id
        try:
            with self._client.settings(extra_http_headers=headers):
                return getattr(self._service, operation)(**body)
        except Fault as fault:
            raise _from_fault(fault, operation) from fault
        except TransportError as failed:
            # An HTTP error that is no SOAP fault (a proxy's or load balancer's page).
            status = failed.status_code
            if status == 429 or status >= 500 or status < 400:
                raise ErpUnavailable(f"ERP answered HTTP {status} to {operation}") from failed
            raise ErpRejected(
                f"HTTP {status}", str(failed.message)[:200], operation=operation
            ) from failed
        except requests.exceptions.RequestException as failed:
            # Timeouts, refused or reset connections, a garbled HTTP answer.
            raise ErpUnavailable(f"ERP unreachable for {operation}: {failed!r}") from failed
        except (XMLParseError, XMLSyntaxError, etree.XMLSyntaxError) as garbled:
            raise ErpUnavailable(
                f"ERP answered {operation} with XML that is not the promised answer: {garbled}"
            ) from garbled


def default_client() -> ErpClient:
    """The client configured by the declared ``erp`` secret (the calling function must
    declare it in the manifest: ``secrets=(names.ERP,)``)."""
    endpoint, username, password = secret_cache.read(SECRET_ENV, _credentials)
    return ErpClient(endpoint, username, password)


def forget_cached_credentials() -> None:
    """Read the secret again on next use (after ops put a new password)."""
    secret_cache.forget(SECRET_ENV)


def _credentials(secret_string: str) -> tuple[str, str, str]:
    return soap.credentials(
        secret_string, secret=SECRET, docs="docs/erp.md", refused=ErpNotConfigured
    )


def _from_fault(fault: Fault, operation: str) -> Exception:
    """The exception for a SOAP fault: ``soap:Server`` is worth a retry, anything else (a
    ``soap:Client`` fault, a WS-Security fault) is a refusal."""
    faultcode = str(fault.code or "")
    kind = faultcode.rsplit("}", 1)[-1].rsplit(":", 1)[-1]  # prefix:Local or {ns}Local
    detail = fault.detail.find(f"{{{NAMESPACE}}}erpFault") if fault.detail is not None else None
    code = _detail_text(detail, "code") or kind or "unknown"
    message = _detail_text(detail, "message") or str(fault.message or "").strip()
    if kind == "Server" or kind.startswith("Server."):
        return ErpUnavailable(f"ERP failed {operation}: {code}: {message}")
    return ErpRejected(
        code, message, operation=operation, source_id=_detail_text(detail, "sourceId")
    )


def _detail_text(detail: Any, name: str) -> str | None:
    if detail is None:
        return None
    child = detail.find(f"{{{NAMESPACE}}}{name}")
    text = child.text.strip() if child is not None and child.text else ""
    return text or None


def _list(answer: Any, name: str) -> list[Any]:
    values = getattr(answer, name, None) if answer is not None else None
    return list(values or [])


def _text(value: Any, name: str) -> str:
    text = getattr(value, name, None)
    if not isinstance(text, str) or not text:
        raise ErpUnavailable(f"ERP's answer lacks {name}")
    return text


def _int(value: Any, name: str) -> int | None:
    number = getattr(value, name, None)
    return int(number) if number is not None else None
