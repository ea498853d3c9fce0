"""Billing on the embedded AWS: a contract that starts on its ship date mid-month gets a
billing account; the month-end revenue run (its real ASL, a Distributed Map over batches in
S3) writes November's revenue only; the invoicing run of the month-end closing drafts,
finalizes and numbers a prorated first invoice with tax once per rate; reruns make nothing
twice; 50 finalizers at once leave no gap and no duplicate in the numbers."""

from __future__ import annotations

import base64
import csv
import io
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest

from local.runtime import EmbeddedAWS
from monosub.documents import pdf_rendering_available
from monosub.models.billing import (
    BillingAccount,
    Component,
    GiveBack,
    Invoice,
    InvoiceLine,
    TaxAmount,
)
from monosub.services import billing
from monosub.store import billing as billing_store
from tests.integration.test_fulfilment import an_order, instruct, shipped_file
from tests.sales_flow import Calls, priced_cloud, sent_mail

pytestmark = pytest.mark.skipif(
    pdf_rendering_available() is not None, reason=str(pdf_rendering_available())
)
OPS = {"groups": "ops", "user": "ops-sato"}


@pytest.fixture
def cloud() -> Iterator[EmbeddedAWS]:
    with priced_cloud(datetime(2026, 11, 24, 1, 0, tzinfo=UTC)) as embedded:
        yield embedded


@pytest.fixture
def call(cloud: EmbeddedAWS) -> Calls:
    return Calls(cloud)


def started_contract(cloud: EmbeddedAWS, call: Calls) -> dict[str, Any]:
    """Three cameras ordered, shipped on 2026-11-25: the started contract."""
    shipment = an_order(cloud, call, quantity=3)
    instruct(cloud)
    cloud.advance(hours=18)
    serials = ["SC1-26K-000001", "SC1-26K-000002", "SC1-26K-000003"]
    run = cloud.drop(
        "warehouse-shipments", "shipped.csv", shipped_file(shipment["shipment_id"], serials)
    )
    assert run["status"] == "succeeded", run
    cloud.wait_for_executions()
    contract = call("GET", f"/contracts/{shipment['contract_id']}").json()
    assert contract["start_date"] == "2026-11-25"
    return contract


def check_november_files(cloud: EmbeddedAWS, invoice: dict[str, Any]) -> None:
    # the month's revenue file: November only, the same amounts as the rows
    body = cloud.s3.get_object(
        Bucket=cloud.bucket("exchange"), Key="outbox/accounting/2026-11/revenue-202611.csv"
    )["Body"].read()
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8"))))
    assert rows and {r["month"] for r in rows} == {"2026-11"}
    assert sum(int(r["amount"]) for r in rows) == invoice["subtotal"]

    # the closing's journal for accounting: receivables = sales + output tax
    journal = cloud.s3.get_object(
        Bucket=cloud.bucket("exchange"), Key="outbox/accounting/2026-11/journal-20261130.csv"
    )["Body"].read()
    lines = journal.decode("cp932").splitlines()
    assert "INV-2026-000001" in lines[1] and str(invoice["total"]) in lines[1]
    assert len(lines) == 1 + 1 + 2 * len(invoice["taxes"])


def switch_to_paper(call: Calls, account_id: str) -> None:
    # from December the customer wants paper: the print vendor mails it and archives it
    current = call("GET", f"/billing-accounts/{account_id}").json()
    stale = call(
        "PATCH", f"/billing-accounts/{account_id}", {"version": 1, "delivery": "paper"}, **OPS
    )
    assert stale.status == 409
    assert (
        call(
            "PATCH",
            f"/billing-accounts/{account_id}",
            {"version": current["version"], "delivery": "fax"},
            **OPS,
        ).status
        == 400
    )
    assert (
        call(
            "PATCH",
            f"/billing-accounts/{account_id}",
            {"version": current["version"], "delivery": "paper"},
        ).status
        == 403
    )
    paper = call(
        "PATCH",
        f"/billing-accounts/{account_id}",
        {"version": current["version"], "delivery": "paper"},
        **OPS,
    )
    assert paper.status == 200, paper


def test_a_mid_month_start_is_prorated_invoiced_and_recognized(cloud: EmbeddedAWS, call: Calls):
    contract = started_contract(cloud, call)
    account_id = contract["account_id"]
    account = call("GET", f"/billing-accounts/{account_id}").json()
    assert account["contracts"] == [contract["contract_id"]]
    monthly = [c for c in account["components"] if c["kind"] == "monthly" and not c["discount"]]
    assert monthly and {c["starts"] for c in monthly} == {"2026-11-25"}
    assert call("GET", f"/billing-accounts/{account_id}", groups="agency").status in (403, 404)

    # to 2 December, 02:00 in Tokyo: month-end (1 Dec 01:00) then invoicing (02:00)
    cloud.set_clock(datetime(2026, 11, 30, 17, 30, tzinfo=UTC))
    cloud.wait_for_executions()
    month_end = cloud.executions("month-end-revenue")
    invoicing = cloud.executions("invoicing")
    assert [e["status"] for e in month_end] == ["SUCCEEDED"]
    assert [e["status"] for e in invoicing] == ["SUCCEEDED"]

    listed = call("GET", "/invoices", query={"account_id": account_id}).json()["invoices"]
    (invoice,) = listed
    assert invoice["status"] == "finalized" and invoice["number"] == "INV-2026-000001"
    # 月末締め翌月末払い: 31 December is a bank holiday (31 Dec – 3 Jan), so Monday 4 January
    assert invoice["closing_date"] == "2026-11-30" and invoice["due_date"] == "2027-01-04"
    plan = [line for line in invoice["lines"] if line["month"] == "2026-11" and line["prorated"]]
    assert plan and all("（日割 6/30日）" in line["period"] for line in plan)
    assert invoice["subtotal"] == sum(line["amount"] for line in invoice["lines"])
    by_rate = {}
    for line in invoice["lines"]:
        by_rate[line["tax_rate"]] = by_rate.get(line["tax_rate"], 0) + line["amount"]
    assert [(t["rate"], t["taxable"]) for t in invoice["taxes"]] == sorted(
        by_rate.items(), reverse=True
    )
    assert invoice["total"] == invoice["subtotal"] + sum(t["tax"] for t in invoice["taxes"])

    check_november_files(cloud, invoice)

    # rerunning the schedules, and the batch itself, makes nothing twice
    again = cloud.invoke("invoicing", {"time": "2026-11-30T17:00:00Z"})
    assert again["started"] == []
    state = {"closing": "2026-11-30", "batch": 1, "run_id": "rerun"}
    with cloud.as_function("invoicing-batch"):
        state["key"] = "runs/invoicing/2026-11-30/batch-00001.json"
        billing.invoicing_batch(state)
        assert billing_store.last_number("INV-2026") == 1
    assert len(call("GET", "/invoices", query={"account_id": account_id}).json()["invoices"]) == 1

    # the PDF is stored and readable, the customer got an email with the link
    assert invoice["pdf_key"] == "invoices/2026/INV-2026-000001.pdf" and invoice["delivered_at"]
    pdf = call("GET", f"/invoices/{invoice['invoice_id']}/pdf")
    assert pdf.status == 200 and base64.b64decode(pdf.text).startswith(b"%PDF")
    (mail,) = [m for m in sent_mail() if "INV-2026-000001" in m.subject]
    assert f"/invoices/{invoice['invoice_id']}" in mail.body

    switch_to_paper(call, account_id)

    # December bills December in full, nothing of November again
    cloud.set_clock(datetime(2026, 12, 31, 17, 30, tzinfo=UTC))
    cloud.wait_for_executions()
    latest = call("GET", "/invoices", query={"account_id": account_id}).json()["invoices"]
    assert [i["number"] for i in latest] == ["INV-2026-000002", "INV-2026-000001"]
    december = latest[0]
    assert {line["month"] for line in december["lines"]} == {"2026-12"}
    assert not any(line["prorated"] or line["adjustment"] for line in december["lines"])
    assert december["delivery"] == "paper" and december["archive_token"]
    assert december["archive_url"].endswith(december["archive_token"])
    printed = cloud.print_vendor.printed()
    assert [number for _, number in printed] == ["INV-2026-000002"]


def test_fifty_finalizers_at_once_leave_no_gap(cloud: EmbeddedAWS):
    with cloud.as_function("api"):
        for n in range(50):
            billing_store.put_draft(
                Invoice(
                    invoice_id=f"invoice_manual{n:03d}",
                    account_id="account_none",
                    closing_date=date(2026, 11, 30),
                    period_start=date(2026, 11, 1),
                    period_end=date(2026, 11, 30),
                    series="INV-2026",
                    lines=[
                        InvoiceLine(
                            contract_id="contract_x",
                            component="m.01",
                            month=None,
                            name="手動請求",
                            quantity=1,
                            unit_price=1000,
                            amount=1000,
                        )
                    ],
                    taxes=[TaxAmount(rate=10, taxable=1000, tax=100)],
                    subtotal=1000,
                    tax_total=100,
                    total=1100,
                    created_at="2026-11-24T01:00:00Z",
                )
            )
        numbers: list[str] = []
        errors: list[BaseException] = []

        def finalize(n: int) -> None:
            try:
                with cloud.as_function("api"):  # the environment is per thread
                    invoice = billing.finalize_invoice(f"invoice_manual{n:03d}")
                numbers.append(str(invoice.number))
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=finalize, args=(n,)) for n in range(50)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert sorted(numbers) == [f"INV-2026-{n:06d}" for n in range(1, 51)]
        assert billing_store.last_number("INV-2026") == 50
        # finalizing again changes nothing
        assert billing.finalize_invoice("invoice_manual007").number in numbers
        assert billing_store.last_number("INV-2026") == 50


def a_billing_account(account_id: str, name: str) -> BillingAccount:
    return BillingAccount(
        account_id=account_id,
        name=name,
        email=f"{account_id}@example.jp",
        customer_number=account_id.upper(),
        components=[
            Component(
                contract_id=f"contract_{account_id[8:]}",
                key="t1.01",
                name="録画プラン 30日",
                kind="monthly",
                quantity=2,
                unit="件",
                unit_price=1980,
                amount=3960,
                starts=date(2026, 11, 1),
            )
        ],
        contracts=[f"contract_{account_id[8:]}"],
        created_at="2026-11-24T01:00:00Z",
        updated_at="2026-11-24T01:00:00Z",
    )


def test_a_broken_account_is_reported_and_the_others_are_invoiced(cloud: EmbeddedAWS, call: Calls):
    table = cloud.table("billing")
    with cloud.as_function("billing-contracts"):
        for account_id, name in (
            ("account_good1", "株式会社いち"),
            ("account_good2", "株式会社に"),
        ):
            assert billing_store.create_account(a_billing_account(account_id, name))
    broken = {
        "pk": {"S": "BILLING#account_broken"},
        "sk": {"S": "ACCOUNT"},
        "gsi1pk": {"S": "CLOSING#31"},
        "gsi1sk": {"S": "account_broken"},
        "account_id": {"S": "account_broken"},
        "components": {"S": "not a list"},
    }
    cloud.client("dynamodb").put_item(TableName=table, Item=broken)

    cloud.set_clock(datetime(2026, 11, 30, 17, 30, tzinfo=UTC))
    cloud.wait_for_executions()
    (run,) = call("GET", "/runs", query={"kind": "invoicing"}, **OPS).json()["runs"]
    assert run["status"] == "failed"
    assert run["counts"]["invoices"] == 2 and run["counts"]["failed_accounts"] == 1
    assert run["errors"][0]["account_id"] == "account_broken"
    assert "not valid" in run["errors"][0]["error"]
    with cloud.as_function("api"):  # accounts made for the test: no customer record to scope
        for account_id in ("account_good1", "account_good2"):
            (invoice,) = billing_store.account_invoices(account_id)
            assert invoice.total == 3960 + 396

    # ops put the account right; the next day's schedule runs what is left of the closing
    with cloud.as_function("billing-contracts"):
        fixed = a_billing_account("account_broken", "株式会社さん")
        cloud.client("dynamodb").delete_item(
            TableName=table, Key={"pk": broken["pk"], "sk": broken["sk"]}
        )
        assert billing_store.create_account(fixed)
    cloud.set_clock(datetime(2026, 12, 1, 17, 30, tzinfo=UTC))
    cloud.wait_for_executions()
    (run,) = call("GET", "/runs", query={"kind": "invoicing"}, **OPS).json()["runs"]
    assert run["status"] == "succeeded" and run["attempts"] == 2
    assert run["counts"]["invoices"] == 1 and run["counts"]["already_invoiced"] == 2
    with cloud.as_function("api"):
        (invoice,) = billing_store.account_invoices("account_broken")
    assert invoice.number == "INV-2026-000003"
    # the closing's journal, written whole again by the second attempt, has all three
    journal_file = cloud.s3.get_object(
        Bucket=cloud.bucket("exchange"), Key=run["subject"]["journal"]
    )
    text = journal_file["Body"].read().decode("cp932")
    assert all(f"INV-2026-00000{n}" in text for n in (1, 2, 3)), text


def test_a_run_writing_its_ledgers_never_loses_a_void_given_back_meanwhile(cloud: EmbeddedAWS):
    """The run writes ledgers whole (BatchWriteItem, no condition); a void that lands
    between the run's read and its write is kept on the account and folded in at the next
    read, then recorded as applied by the next ledger written: given back exactly once."""
    voided = "contract_race|t1.01|2026-10"
    with cloud.as_function("api"):
        account = a_billing_account("account_race", "株式会社れーす")
        assert billing_store.create_account(account.model_copy(update={"billed": {voided: 500}}))
        read_by_run = billing_store.get_account("account_race")
        assert read_by_run is not None and read_by_run.billed == {voided: 500}
        # a void of October's invoice gives its 500 back while the run holds what it read
        assert billing_store.add_give_back(
            read_by_run,
            GiveBack(invoice_id="invoice_oct", at="2026-11-30T09:00:00Z", lines=[(voided, 500)]),
        )
        november = {**read_by_run.billed, "contract_race|t1.01|2026-11": 3960}
        billing_store.move_ledgers(
            [billing_store.LedgerMove(read_by_run, november, date(2026, 11, 30))]
        )
        after = billing_store.get_account("account_race")
        assert after is not None and after.last_closing == date(2026, 11, 30)
        assert after.billed == {"contract_race|t1.01|2026-11": 3960}  # October given back
        assert after.given_back == ["invoice_oct"] and after.give_backs_read == 1
        # the next closing records the give-back as applied: it is not taken off twice
        december = {**after.billed, voided: 500, "contract_race|t1.01|2026-12": 3960}
        billing_store.move_ledgers([billing_store.LedgerMove(after, december, date(2026, 12, 31))])
        again = billing_store.get_account("account_race")
        assert again is not None and again.billed == december


def test_numbers_claimed_by_a_batch_that_died_are_written_by_its_next_attempt(
    cloud: EmbeddedAWS, call: Calls, monkeypatch: pytest.MonkeyPatch
):
    """A batch claims its block of numbers, then dies before writing its invoices: the
    counter has moved and no invoice has those numbers yet; the run ends failed naming the
    batch. The next attempt's batch writes the claimed invoices from their S3 copy with the
    same numbers (no gap, none given twice) before it would number anything; the claim is
    closed. (On AWS the Map fails at the batch and a re-drive runs it again: the same
    recovery.)"""
    with cloud.as_function("billing-contracts"):
        for account_id, name in (("account_one", "株式会社いち"), ("account_two", "株式会社に")):
            assert billing_store.create_account(a_billing_account(account_id, name))
    real_put = billing_store.put_issued
    died: list[int] = []

    def dies_once(invoices: Any) -> int:
        if not died:
            died.append(len(invoices))
            raise RuntimeError("the batch died after claiming its numbers")
        return real_put(invoices)

    monkeypatch.setattr(billing_store, "put_issued", dies_once)
    cloud.set_clock(datetime(2026, 11, 30, 17, 30, tzinfo=UTC))
    cloud.wait_for_executions()
    (run,) = call("GET", "/runs", query={"kind": "invoicing"}, **OPS).json()["runs"]
    assert run["status"] == "failed" and died == [2], run.get("message")
    with cloud.as_function("api"):
        assert billing_store.last_number("INV-2026") == 2  # claimed
        assert billing_store.account_invoices("account_one") == []  # not written
        (pending,) = billing_store.pending_claims()
        assert pending["invoice_ids"] == [
            "invoice_20261130one",
            "invoice_20261130two",
        ]

    assert run["counts"]["failed_batches"] == 1 and "1 batch(es) did not finish" in run["message"]

    # the next day's schedule runs what is left of the closing: the claim first
    cloud.set_clock(datetime(2026, 12, 1, 17, 30, tzinfo=UTC))
    cloud.wait_for_executions()
    (run,) = call("GET", "/runs", query={"kind": "invoicing"}, **OPS).json()["runs"]
    assert run["status"] == "succeeded" and run["attempts"] == 2, run.get("message")
    with cloud.as_function("api"):
        numbers = {
            account_id: [i.number for i in billing_store.account_invoices(account_id)]
            for account_id in ("account_one", "account_two")
        }
        assert numbers == {
            "account_one": ["INV-2026-000001"],
            "account_two": ["INV-2026-000002"],
        }
        assert billing_store.last_number("INV-2026") == 2
        assert billing_store.pending_claims() == []
        assert billing.recover_claims() == 0  # nothing left for the orphan sweep


def test_an_orphaned_claim_is_recovered_by_any_run_only_once_it_is_old(
    cloud: EmbeddedAWS, monkeypatch: pytest.MonkeyPatch
):
    """A claim whose batch never came back (its accounts moved to another closing day, say)
    is written by the next run's last step once it is older than a Lambda function lives;
    never while it is young (its owner may still be writing it); never over an invoice
    that is there."""
    with cloud.as_function("billing-contracts"):
        assert billing_store.create_account(a_billing_account("account_lost", "株式会社ろすと"))
    monkeypatch.setattr(
        billing_store, "put_issued", lambda invoices: (_ for _ in ()).throw(RuntimeError("died"))
    )
    cloud.set_clock(datetime(2026, 11, 30, 17, 5, tzinfo=UTC))  # the run starts at 17:00
    cloud.wait_for_executions()
    monkeypatch.undo()
    with cloud.as_function("invoicing-finish"):
        assert billing.recover_claims() == 0  # young: left to its owner
    cloud.set_clock(datetime(2026, 11, 30, 17, 30, tzinfo=UTC))
    with cloud.as_function("invoicing-finish"):
        assert billing.recover_claims() == 1
        (invoice,) = billing_store.account_invoices("account_lost")
        assert invoice.number == "INV-2026-000001" and invoice.status == "finalized"
        assert billing_store.pending_claims() == []
        # its ledger moved past the closing: November is not billed again
        account = billing_store.get_account("account_lost")
        assert account is not None and account.last_closing == date(2026, 11, 30)
        assert account.billed == {"contract_lost|t1.01|2026-11": 3960}
