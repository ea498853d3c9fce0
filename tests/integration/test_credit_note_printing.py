"""A void's credit note for a paper customer on the embedded AWS, through the HTTP API: it
goes to the print vendor (the local SOAP server) as a credit note naming the invoice it
reverses, with its PDF, once; the vendor's receipt and archive token are kept on it; the
vendor failing once is retried within the void; a vendor down throughout leaves the void
done, the note not printed and an exception for ops, and voiding again (or ops' retry)
prints it, still once."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from local.ops_page import subject_of
from local.runtime import EmbeddedAWS
from monosub.documents import pdf_rendering_available
from tests.integration.test_billing import started_contract
from tests.sales_flow import Calls, priced_cloud, sent_mail

pytestmark = pytest.mark.skipif(
    pdf_rendering_available() is not None, reason=str(pdf_rendering_available())
)
OPS = {"groups": "ops", "user": "ops-sato"}
CREDIT_NOTE = "CN-2026-000001"
BATCH = f"credit-note-{CREDIT_NOTE}"


@pytest.fixture
def cloud() -> Iterator[EmbeddedAWS]:
    with priced_cloud(datetime(2026, 11, 24, 1, 0, tzinfo=UTC)) as embedded:
        yield embedded


@pytest.fixture
def call(cloud: EmbeddedAWS) -> Calls:
    return Calls(cloud)


def paper_invoice(cloud: EmbeddedAWS, call: Calls) -> dict[str, Any]:
    """A started contract whose customer wants paper; November's invoice, printed."""
    account_id = started_contract(cloud, call)["account_id"]
    current = call("GET", f"/billing-accounts/{account_id}").json()
    paper = call(
        "PATCH",
        f"/billing-accounts/{account_id}",
        {"version": current["version"], "delivery": "paper"},
        **OPS,
    )
    assert paper.status == 200, paper
    cloud.set_clock(datetime(2026, 12, 1, 17, 30, tzinfo=UTC))  # November's closing
    cloud.wait_for_executions()
    (invoice,) = call("GET", "/invoices", query={"account_id": account_id}).json()["invoices"]
    assert invoice["delivery"] == "paper" and invoice["archive_token"]
    return dict(invoice)


def credit_note_submissions(cloud: EmbeddedAWS) -> list[Any]:
    return [
        r
        for r in cloud.print_vendor.requests()
        if r.operation == "SubmitInvoices" and r.batch_id == BATCH
    ]


def void(call: Calls, invoice: dict[str, Any]) -> dict[str, Any]:
    voided = call("POST", f"/invoices/{invoice['invoice_id']}/void", {"reason": "宛名誤り"}, **OPS)
    assert voided.status == 200, voided
    return dict(voided.json()["credit_note"])


def test_a_paper_customers_credit_note_is_printed_once_after_a_failure(
    cloud: EmbeddedAWS, call: Calls
):
    invoice = paper_invoice(cloud, call)
    cloud.print_vendor.fail_next(1, status=503)  # the vendor fails once: retried in the void

    note = void(call, invoice)
    assert note["number"] == CREDIT_NOTE and note["delivered_at"] is not None
    assert note["print_batch"] == BATCH and note["print_receipt"]
    assert note["archive_token"] == cloud.print_vendor.archive_token(CREDIT_NOTE)
    assert note["archive_url"].endswith(note["archive_token"]) and note["delivery_note"] is None
    failed, printed = credit_note_submissions(cloud)
    assert (failed.status, failed.injected, printed.status) == (503, True, 200)
    assert printed.invoice_numbers == [CREDIT_NOTE]
    assert printed.document_types == {CREDIT_NOTE: "creditNote"}
    assert printed.original_numbers == {CREDIT_NOTE: invoice["number"]}
    pdf = base64.b64decode(call("GET", f"/invoices/{note['invoice_id']}/pdf").text)
    assert printed.pdf_sha256[CREDIT_NOTE] == hashlib.sha256(pdf).hexdigest()
    assert cloud.print_vendor.printed().count((BATCH, CREDIT_NOTE)) == 1
    assert not [m for m in sent_mail() if "取消のお知らせ" in subject_of(m)]  # paper only

    # a replayed void sends nothing again and returns the same note
    assert void(call, invoice) == note
    assert len(credit_note_submissions(cloud)) == 2
    exceptions = call("GET", "/exceptions", query={"kind": "credit-note-unprinted"}, **OPS)
    assert exceptions.json()["exceptions"] == []


def test_a_vendor_down_throughout_leaves_an_exception_and_a_retry_prints_once(
    cloud: EmbeddedAWS, call: Calls
):
    invoice = paper_invoice(cloud, call)
    cloud.print_vendor.fail_next(3, status=503)  # every attempt of the void

    note = void(call, invoice)
    assert note["number"] == CREDIT_NOTE and note["delivered_at"] is None
    assert note["archive_token"] is None and "not printed yet" in note["delivery_note"]
    assert len(credit_note_submissions(cloud)) == 3
    assert (BATCH, CREDIT_NOTE) not in cloud.print_vendor.printed()
    listed = call("GET", "/exceptions", query={"kind": "credit-note-unprinted"}, **OPS).json()
    (exception,) = listed["exceptions"]
    assert exception["reference"] == CREDIT_NOTE and exception["invoice_id"] == note["invoice_id"]
    assert exception["actions"] == ["reject", "retry"]
    assert "PrintVendorUnavailable" in exception["reason"]
    assert exception["exception_id"] in note["delivery_note"]

    # ops' retry while the vendor still fails: 503, the exception stays open
    cloud.print_vendor.fail_next(3, status=503)
    path = f"/exceptions/{exception['exception_id']}/resolve"
    retry = {"action": "retry", "version": exception["version"], "note": "再送"}
    assert call("POST", path, retry, **OPS).status == 503

    # voiding again prints it; ops' retry then finds it printed: nothing twice
    printed = void(call, invoice)
    assert printed["delivered_at"] and printed["archive_token"]
    resolved = call("POST", path, retry, **OPS)
    assert resolved.status == 200, resolved
    assert resolved.json()["status"] == "resolved"
    assert resolved.json()["resolution"]["archive_token"] == printed["archive_token"]
    assert cloud.print_vendor.printed().count((BATCH, CREDIT_NOTE)) == 1
