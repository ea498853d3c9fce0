"""The print vendor client against the local print-vendor SOAP server (no AWS): the WSDL as
shipped, what is submitted, the idempotency per (batch, invoice), archive tokens, and how
the vendor's answers become results or the two error classes Step Functions retries or not."""

from __future__ import annotations

import hashlib
import json
import socket
import time
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
import requests
import zeep
from lxml import etree
from zeep.exceptions import Fault
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from functions import resources
from functions.declarations import secret_env
from local.print_vendor import ARCHIVE_URL, UNDELIVERABLE, PrintVendorServer
from monosub import names, observability
from monosub.adapters import print_vendor
from monosub.adapters.print_vendor import (
    ArchiveResult,
    PrintJob,
    PrintVendorClient,
    PrintVendorNotConfigured,
    PrintVendorRejected,
    PrintVendorUnavailable,
    Receipt,
)

BATCH = "invoicing-2026-05"
PDF = b"%PDF-1.7\n% an issued invoice\n"


@pytest.fixture(scope="module")
def server() -> Iterator[PrintVendorServer]:
    with PrintVendorServer(archive_secret="unit-test-secret") as running:
        yield running


@pytest.fixture
def vendor(server: PrintVendorServer) -> PrintVendorServer:
    server.reset()
    return server


@pytest.fixture
def client(vendor: PrintVendorServer) -> PrintVendorClient:
    return PrintVendorClient(vendor.url, vendor.username, vendor.password, timeout=2.0)


def job(number: int = 1, **changes: Any) -> PrintJob:
    values: dict[str, Any] = {
        "invoice_number": f"INV-2026-{number:06d}",
        "issue_date": date(2026, 5, 31),
        "due_date": date(2026, 6, 30),
        "total_yen": 13_200,
        "recipient_name": "株式会社ひかり商事 経理部",
        "postal_code": "150-0002",
        "address": "東京都渋谷区渋谷2-1-1 ひかりビル5階",
        "pdf": PDF + str(number).encode(),
    }
    return PrintJob(**{**values, **changes})


class _Offline(requests.Session):
    """A session that fails any request: loading the WSDL must not need the network."""

    def request(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        raise AssertionError(f"network access while loading the WSDL: {args} {kwargs}")

    def get(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        raise AssertionError(f"network access while loading the WSDL: {args} {kwargs}")


# ---- the WSDL ----------------------------------------------------------------------------------


def test_the_packaged_wsdl_parses_offline_with_both_operations():
    wsdl = zeep.Client(str(print_vendor.WSDL_PATH), transport=Transport(session=_Offline())).wsdl
    (service,) = wsdl.services.values()
    assert service.name == "PrintDeliveryService"
    (port,) = service.ports.values()
    assert port.binding.name.text == print_vendor.BINDING
    assert type(port.binding).__name__ == "Soap11Binding"
    assert port.binding_options["address"].startswith("https://")  # a placeholder we override
    operations = port.binding._operations
    assert set(operations) == {"SubmitInvoices", "GetArchiveTokens"}
    for operation in operations.values():
        assert operation.style == "document"
        assert operation.soapaction == f"{print_vendor.NAMESPACE}#{operation.name}"
    invoice = wsdl.types.get_type(f"{{{print_vendor.NAMESPACE}}}Invoice")
    assert [name for name, _ in invoice.elements] == [
        "invoiceNumber",
        "issueDate",
        "dueDate",
        "totalAmount",
        "recipientName",
        "postalCode",
        "address",
        "pdf",
        "documentType",
        "originalInvoiceNumber",
    ]
    optional = {name for name, element in invoice.elements if element.min_occurs == 0}
    assert optional == {"dueDate", "documentType", "originalInvoiceNumber"}
    item = wsdl.types.get_type(f"{{{print_vendor.NAMESPACE}}}ArchiveItem")
    optional = {name for name, element in item.elements if element.min_occurs == 0}
    assert optional == {"archiveToken", "archiveUrl", "reason"}


def test_the_server_serves_the_wsdl_with_its_own_address(vendor: PrintVendorServer):
    answer = requests.get(vendor.wsdl_url, timeout=2)
    assert answer.status_code == 200
    document = etree.fromstring(answer.content)
    (address,) = document.iter("{http://schemas.xmlsoap.org/wsdl/soap/}address")
    assert address.get("location") == vendor.url
    served = zeep.Client(vendor.wsdl_url)  # a client built from it reaches the server
    assert served.service._binding_options["address"] == vendor.url
    assert requests.get(vendor.url, timeout=2).status_code == 404  # no ?wsdl


# ---- submitting ------------------------------------------------------------------------------


def test_submit_returns_a_receipt_per_invoice_in_order(
    vendor: PrintVendorServer, client: PrintVendorClient
):
    jobs = [job(3), job(1), job(2)]
    receipts = client.submit(BATCH, jobs)

    assert [r.invoice_number for r in receipts] == [j.invoice_number for j in jobs]
    assert all(isinstance(r, Receipt) and r.receipt_id for r in receipts)
    assert len({r.receipt_id for r in receipts}) == 3
    (request,) = vendor.requests()
    assert (request.operation, request.batch_id, request.status) == ("SubmitInvoices", BATCH, 200)
    assert request.authorized  # the UsernameToken came along
    assert request.invoice_numbers == [j.invoice_number for j in jobs]
    assert request.pdf_sha256 == {j.invoice_number: hashlib.sha256(j.pdf).hexdigest() for j in jobs}
    assert vendor.printed() == [(BATCH, j.invoice_number) for j in jobs]


def test_a_resubmitted_batch_gets_the_same_receipts_and_prints_nothing_twice(
    vendor: PrintVendorServer, client: PrintVendorClient
):
    first = client.submit(BATCH, [job(1), job(2)])
    again = client.submit(BATCH, [job(1), job(2), job(3)])  # a retry that also carries one more

    assert again[:2] == first
    assert vendor.requests()[-1].replayed == ["INV-2026-000001", "INV-2026-000002"]
    assert vendor.printed() == [
        (BATCH, "INV-2026-000001"),
        (BATCH, "INV-2026-000002"),
        (BATCH, "INV-2026-000003"),
    ]
    other_batch = client.submit("invoicing-2026-06", [job(1)])  # idempotent per batch only
    assert other_batch[0].receipt_id not in {r.receipt_id for r in again}


def test_a_resubmission_with_other_content_is_rejected_and_changes_nothing(
    vendor: PrintVendorServer, client: PrintVendorClient
):
    client.submit(BATCH, [job(1)])
    with pytest.raises(PrintVendorRejected) as refused:
        client.submit(BATCH, [job(2), job(1, total_yen=99)])
    assert refused.value.code == "INVOICE_CHANGED"
    assert refused.value.invoice_number == "INV-2026-000001"
    assert vendor.printed() == [(BATCH, "INV-2026-000001")]  # not even the new invoice 2


def test_a_large_batch_goes_in_chunks_under_one_batch_id(
    vendor: PrintVendorServer, client: PrintVendorClient, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(print_vendor, "INVOICES_PER_REQUEST", 2)
    jobs = [job(n) for n in range(1, 6)]
    receipts = client.submit(BATCH, jobs)

    assert [r.invoice_number for r in receipts] == [j.invoice_number for j in jobs]
    assert [len(r.invoice_numbers) for r in vendor.requests()] == [2, 2, 1]
    assert {r.batch_id for r in vendor.requests()} == {BATCH}


def test_the_invocations_correlation_id_goes_along(
    vendor: PrintVendorServer, client: PrintVendorClient
):
    observability.logger.set_correlation_id("exec-invoicing-7")
    try:
        client.submit(BATCH, [job(1)])
    finally:
        observability.logger.set_correlation_id(None)
    client.results(BATCH)
    assert [r.correlation_id for r in vendor.requests()] == ["exec-invoicing-7", None]


# ---- results -----------------------------------------------------------------------------------


def credit_note(number: int = 1, **changes: Any) -> PrintJob:
    values: dict[str, Any] = {
        "invoice_number": f"CN-2026-{number:06d}",
        "due_date": None,
        "document_type": "credit_note",
        "original_number": f"INV-2026-{number:06d}",
        "pdf": PDF + b"credit note " + str(number).encode(),
    }
    return job(number, **{**values, **changes})


def test_a_credit_note_goes_with_its_type_and_original_and_no_due_date(
    vendor: PrintVendorServer, client: PrintVendorClient
):
    receipts = client.submit(BATCH, [job(1), credit_note(1)])
    assert [r.invoice_number for r in receipts] == ["INV-2026-000001", "CN-2026-000001"]
    (request,) = vendor.requests()
    assert request.document_types == {"INV-2026-000001": "invoice", "CN-2026-000001": "creditNote"}
    assert request.original_numbers == {"CN-2026-000001": "INV-2026-000001"}
    assert request.pdf_sha256["CN-2026-000001"] == hashlib.sha256(credit_note(1).pdf).hexdigest()
    (result,) = [r for r in client.results(BATCH) if r.invoice_number == "CN-2026-000001"]
    assert result.archive_token == vendor.archive_token("CN-2026-000001")
    assert client.submit(BATCH, [credit_note(1)]) == receipts[1:]  # once per batch
    assert vendor.printed() == [(BATCH, "INV-2026-000001"), (BATCH, "CN-2026-000001")]


def _raw_submit(vendor: PrintVendorServer, invoice: dict[str, Any]) -> Any:
    """A request as another client might send it (the adapter's checks left out)."""
    transport = Transport(session=requests.Session())
    raw = zeep.Client(
        vendor.wsdl_url,
        transport=transport,
        wsse=UsernameToken(vendor.username, vendor.password),
    )
    return raw.service.SubmitInvoices(batchId=BATCH, invoice=[invoice])


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"dueDate": None}, "MISSING_FIELD"),  # an invoice needs its due date
        ({"documentType": "creditNote", "dueDate": None}, "MISSING_FIELD"),  # no original
        (
            {"documentType": "creditNote", "originalInvoiceNumber": "INV-2026-000001"},
            "INVALID_DATE",  # a credit note with a due date
        ),
        ({"originalInvoiceNumber": "INV-2026-000001"}, "MALFORMED_REQUEST"),
    ],
)
def test_the_vendor_refuses_a_document_of_the_wrong_shape(
    vendor: PrintVendorServer, fields: dict[str, Any], code: str
):
    invoice = {
        "invoiceNumber": "CN-2026-000009",
        "issueDate": date(2026, 5, 31),
        "dueDate": date(2026, 6, 30),
        "totalAmount": 100,
        "recipientName": "ひかり商事",
        "postalCode": "150-0002",
        "address": "東京都渋谷区",
        "pdf": PDF,
        **fields,
    }
    with pytest.raises(Fault):
        _raw_submit(vendor, invoice)
    assert vendor.requests()[-1].fault_code == code
    assert vendor.printed() == []


def test_results_give_each_invoice_its_archive_token_and_url(
    vendor: PrintVendorServer, client: PrintVendorClient
):
    client.submit(BATCH, [job(1), job(2)])
    results = client.results(BATCH)

    token = vendor.archive_token("INV-2026-000001")
    assert len(token) == 20 and int(token, 16) >= 0
    assert results[0] == ArchiveResult(
        invoice_number="INV-2026-000001",
        status="mailed",
        archive_token=token,
        archive_url=ARCHIVE_URL.format(token=token),
        reason=None,
    )
    assert results[0].archive_url == f"https://archive.print-vendor.example/i/{token}"
    assert results[1].invoice_number == "INV-2026-000002"
    assert results[1].archive_token not in {None, token}
    # Deterministic: the same server secret gives the same token, another secret another.
    assert (
        PrintVendorServer(archive_secret="unit-test-secret").archive_token("INV-2026-000001")
        == token
    )
    assert PrintVendorServer(archive_secret="other").archive_token("INV-2026-000001") != token


def test_an_invoice_with_an_empty_address_fails_with_the_vendors_reason(
    client: PrintVendorClient,
):
    client.submit(BATCH, [job(1), job(2, address="  ")])
    failed = client.results(BATCH)[1]
    assert (failed.status, failed.reason) == ("failed", UNDELIVERABLE)
    assert failed.archive_token is None and failed.archive_url is None


def test_results_of_an_unknown_batch_are_rejected(client: PrintVendorClient):
    with pytest.raises(PrintVendorRejected) as refused:
        client.results("never-submitted")
    assert refused.value.code == "UNKNOWN_BATCH"


# ---- errors ------------------------------------------------------------------------------------


def test_the_error_classes_keep_the_names_step_functions_matches():
    assert PrintVendorUnavailable.__name__ == "PrintVendorUnavailable"
    assert PrintVendorRejected.__name__ == "PrintVendorRejected"
    assert PrintVendorNotConfigured.__name__ == "PrintVendorNotConfigured"


def test_a_503_is_unavailable_and_the_retry_succeeds(
    vendor: PrintVendorServer, client: PrintVendorClient
):
    vendor.fail_next(1)
    with pytest.raises(PrintVendorUnavailable, match="HTTP 503"):
        client.submit(BATCH, [job(1)])
    assert vendor.printed() == []  # the failed request changed nothing

    (receipt,) = client.submit(BATCH, [job(1)])
    assert receipt.invoice_number == "INV-2026-000001"
    assert [r.status for r in vendor.requests()] == [503, 200]
    assert vendor.requests()[0].injected


def test_a_client_fault_is_rejected_with_the_vendors_code_naming_the_invoice(
    vendor: PrintVendorServer, client: PrintVendorClient
):
    vendor.fault_next("ADDRESS_REQUIRED", "address: required", invoice_number="INV-2026-000002")
    with pytest.raises(PrintVendorRejected) as refused:
        client.submit(BATCH, [job(1), job(2)])

    rejected = refused.value
    assert (rejected.code, rejected.message) == ("ADDRESS_REQUIRED", "address: required")
    assert (rejected.invoice_number, rejected.batch_id) == ("INV-2026-000002", BATCH)
    assert "INV-2026-000002" in str(rejected) and "ADDRESS_REQUIRED" in str(rejected)
    assert vendor.printed() == []


def test_a_fault_naming_no_invoice_names_the_requests_invoices(
    vendor: PrintVendorServer, client: PrintVendorClient
):
    vendor.fault_next("BATCH_CLOSED", "the batch is closed for printing")
    with pytest.raises(PrintVendorRejected) as refused:
        client.submit(BATCH, [job(n) for n in range(1, 8)])
    assert refused.value.invoice_number is None
    assert "INV-2026-000001" in str(refused.value) and "and 2 more" in str(refused.value)


def test_a_server_fault_is_unavailable(vendor: PrintVendorServer, client: PrintVendorClient):
    vendor.fault_next("SPOOLER_DOWN", "try again later", server=True)
    with pytest.raises(PrintVendorUnavailable, match="SPOOLER_DOWN"):
        client.submit(BATCH, [job(1)])


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"postal_code": "1500002"}, "INVALID_POSTAL_CODE"),
        ({"pdf": b"<html>not a pdf</html>"}, "INVALID_PDF"),
        ({"due_date": date(2026, 5, 30)}, "INVALID_DATE"),
        ({"recipient_name": " "}, "MISSING_FIELD"),
    ],
)
def test_data_the_vendor_refuses_is_rejected_whole(
    vendor: PrintVendorServer, client: PrintVendorClient, changes: dict[str, Any], code: str
):
    with pytest.raises(PrintVendorRejected) as refused:
        client.submit(BATCH, [job(1), job(2, **changes)])
    assert (refused.value.code, refused.value.invoice_number) == (code, "INV-2026-000002")
    assert vendor.printed() == []  # invoice 1 was not taken either
    assert vendor.requests()[-1].fault_code == code


def test_a_stall_beyond_the_timeout_is_unavailable_and_the_retry_prints_once(
    vendor: PrintVendorServer,
):
    vendor.stall_next(1.0)
    impatient = PrintVendorClient(vendor.url, vendor.username, vendor.password, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(PrintVendorUnavailable, match="unreachable"):
        impatient.submit(BATCH, [job(1)])
    assert time.monotonic() - started < 0.9  # gave up at its timeout, not at the answer

    deadline = time.monotonic() + 3
    while vendor.requests()[0].status == 0 and time.monotonic() < deadline:
        time.sleep(0.02)  # the vendor still takes the stalled request
    (receipt,) = impatient.submit(BATCH, [job(1)])
    assert vendor.requests()[0].stalled_seconds == 1.0
    assert vendor.requests()[1].replayed == [receipt.invoice_number]
    assert vendor.printed() == [(BATCH, "INV-2026-000001")]


@pytest.mark.parametrize("who", ["password", "username"])
def test_a_wrong_user_or_password_is_rejected(vendor: PrintVendorServer, who: str):
    username = "intruder" if who == "username" else vendor.username
    password = "not-the-password" if who == "password" else vendor.password
    intruder = PrintVendorClient(vendor.url, username, password, timeout=2.0)
    with pytest.raises(PrintVendorRejected) as refused:
        intruder.submit(BATCH, [job(1)])
    assert refused.value.code == "FailedAuthentication"
    assert not vendor.requests()[-1].authorized
    assert vendor.printed() == []


def test_the_server_checks_a_password_digest_and_wants_a_token(vendor: PrintVendorServer):
    """The vendor accepts the digest form of the UsernameToken too, and refuses a request
    without one (the adapter sends PasswordText over HTTPS)."""

    def service(wsse: Any) -> Any:
        soap = zeep.Client(str(print_vendor.WSDL_PATH), wsse=wsse)
        return soap.create_service(print_vendor.BINDING, vendor.url)

    digest = UsernameToken(vendor.username, vendor.password, use_digest=True)
    with pytest.raises(Fault) as unknown:  # authenticated: the batch is simply unknown
        service(digest).GetArchiveTokens(batchId="none")
    assert "no invoices were submitted" in str(unknown.value.message)
    wrong = UsernameToken(vendor.username, "wrong", use_digest=True)
    with pytest.raises(Fault) as refused:
        service(wrong).GetArchiveTokens(batchId="none")
    assert refused.value.code == "wsse:FailedAuthentication"
    with pytest.raises(Fault) as missing:
        service(None).GetArchiveTokens(batchId="none")
    assert missing.value.code == "wsse:InvalidSecurity"


def test_a_refused_connection_is_unavailable():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    nobody = PrintVendorClient(f"http://127.0.0.1:{port}/soap", "u", "p", timeout=1.0)
    with pytest.raises(PrintVendorUnavailable, match="unreachable"):
        nobody.results(BATCH)


def test_a_wrong_endpoint_path_is_rejected(vendor: PrintVendorServer):
    lost = PrintVendorClient(vendor.url + "-old", vendor.username, vendor.password, timeout=2.0)
    with pytest.raises(PrintVendorRejected) as refused:
        lost.submit(BATCH, [job(1)])
    assert refused.value.code == "HTTP 404"


def test_reset_forgets_everything(vendor: PrintVendorServer, client: PrintVendorClient):
    client.submit(BATCH, [job(1)])
    vendor.fail_next(2)
    vendor.reset()
    assert vendor.requests() == [] and vendor.printed() == []
    with pytest.raises(PrintVendorRejected, match="UNKNOWN_BATCH"):
        client.results(BATCH)  # no injected 503 left either


# ---- the job, the client and the secret --------------------------------------------------------


def test_a_credit_note_job_names_its_original_and_has_no_due_date():
    with pytest.raises(ValueError, match="no due date"):
        credit_note(1, due_date=date(2026, 6, 30))
    with pytest.raises(ValueError, match="reverses"):
        credit_note(1, original_number=None)
    with pytest.raises(ValueError, match="needs its due date"):
        job(1, due_date=None)
    with pytest.raises(ValueError, match="only a credit note"):
        job(1, original_number="INV-2026-000001")


def test_a_job_is_whole_yen_with_a_pdf_and_a_batch_holds_an_invoice_once(
    client: PrintVendorClient,
):
    for changes in ({"total_yen": 13200.0}, {"total_yen": -1}, {"total_yen": True}, {"pdf": b""}):
        with pytest.raises(ValueError):
            job(1, **changes)
    with pytest.raises(ValueError, match="INV-2026-000001"):
        client.submit(BATCH, [job(1), job(1)])
    with pytest.raises(ValueError):
        client.submit("", [job(1)])
    assert "pdf" not in repr(job(1))  # no PDF bytes in logs


def test_the_client_never_shows_its_password(vendor: PrintVendorServer):
    client = PrintVendorClient(vendor.url, "monosub", "s3cr3t-password")
    assert "s3cr3t" not in repr(client) and client.endpoint == vendor.url


def test_the_secret_reaches_code_under_the_name_code_reads():
    assert print_vendor.SECRET == names.PRINT_VENDOR == resources.PRINT_VENDOR
    assert secret_env(print_vendor.SECRET) == print_vendor.SECRET_ENV
    (declared,) = [s for s in resources.SECRETS if s.name == names.PRINT_VENDOR]
    assert declared.filled_by == "ops"


def test_the_secret_must_hold_an_endpoint_and_a_user():
    filled = {"endpoint": "https://pv.example/soap", "username": "monosub", "password": "pw"}
    assert print_vendor._credentials(json.dumps(filled)) == (
        "https://pv.example/soap",
        "monosub",
        "pw",
    )
    for value, problem in [
        ("placeholder-from-the-deploy", "no JSON object"),
        (json.dumps({**filled, "endpoint": "pv.example/soap"}), "not an http"),
        (json.dumps({**filled, "password": ""}), "password is empty"),
        (json.dumps({k: v for k, v in filled.items() if k != "username"}), "username is empty"),
    ]:
        with pytest.raises(PrintVendorNotConfigured, match=problem):
            print_vendor._credentials(value)
