"""Direct debit on the embedded AWS: the daily schedule starts the debit date's run on the day
the bank needs the request, the request file (全銀, cp932) reaches the local SFTP server once,
an invoice that cannot be requested waits in the exceptions queue, and the bank's result file
dropped back pays one invoice and records the other's failure; a result for a request never
sent, or one that does not match what was sent, is quarantined whole."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from local.runtime import EmbeddedAWS
from monosub.formats import zengin_debit
from monosub.store import billing as billing_store
from monosub.store import cash as cash_store
from tests.cash_fixtures import a_customer, an_invoice
from tests.sales_flow import Calls

DEBIT_DATE = date(2026, 12, 28)  # the 27th is a Sunday: due dates moved to Monday
BANK = {
    "bank_code": "0009",
    "bank_name": "ミツイスミトモ",
    "branch_code": "456",
    "branch_name": "シンジュク",
    "account_type": "1",
    "account_number": "7654321",
}


@pytest.fixture
def cloud() -> Iterator[EmbeddedAWS]:
    with EmbeddedAWS(business_time=datetime(2026, 12, 10, 1, 0, tzinfo=UTC)) as embedded:
        yield embedded


@pytest.fixture
def call(cloud: EmbeddedAWS) -> Calls:
    return Calls(cloud)


def debit_customer(cloud: EmbeddedAWS, account_id: str, holder: str | None, total: int) -> None:
    a_customer(
        cloud,
        account_id,
        "口座振替の顧客",
        [an_invoice(f"inv_{account_id}", account_id, total, due=DEBIT_DATE, method="direct-debit")],
        payment_method="direct-debit",
        debit_account={**BANK, "holder_name": holder} if holder else None,
    )


def test_a_debit_date_from_request_file_to_result(cloud: EmbeddedAWS, call: Calls):
    debit_customer(cloud, "acct_dd1", "ヤマダ タロウ", 11000)
    debit_customer(cloud, "acct_dd2", "カ）ダイイチショウジ", 5500)
    debit_customer(cloud, "acct_dd3", None, 3300)  # no 口座振替依頼書 yet

    # 21 December (5 bank days before the 28th), 03:00 in Tokyo: the request is due
    cloud.set_clock(datetime(2026, 12, 20, 17, 0, tzinfo=UTC))
    cloud.wait_for_executions()
    assert cloud.bank_sftp.received() == {}  # not yet
    cloud.set_clock(datetime(2026, 12, 20, 18, 30, tzinfo=UTC))
    cloud.wait_for_executions()
    [(name, content)] = cloud.bank_sftp.received().items()
    assert name == "KOFURI_1234567890_20261228.txt"
    assert all(len(line) == 120 for line in content.split(b"\r\n") if line)
    request = zengin_debit.read_debit_file(content, result=False)
    assert request.header.debit_date == DEBIT_DATE
    assert [(r.holder_name, r.amount) for r in request.records] == [
        ("ﾔﾏﾀﾞ ﾀﾛｳ", 11000),
        ("ｶ)ﾀﾞｲｲﾁｼﾖｳｼﾞ", 5500),
    ]
    assert request.trailer.total == 16500
    queued = call("GET", "/exceptions", groups="ops", query={"kind": "debit-not-requested"})
    [skipped] = queued.json()["exceptions"]
    assert skipped["invoice_id"] == "inv_acct_dd3"

    # the next days' runs find the request made: nothing is sent twice
    cloud.set_clock(datetime(2026, 12, 23, 18, 30, tzinfo=UTC))
    cloud.wait_for_executions()
    assert len(cloud.bank_sftp.received()) == 1
    assert cloud.bank_sftp.received()[name] == content
    with cloud.as_function("api"):
        sent = cash_store.get_debit_request(DEBIT_DATE)
    assert sent is not None and sent["status"] == "delivered"

    # the bank's result: the first debited, the second short of funds
    first, second = request.records
    result = zengin_debit.write_debit_file(
        request.header,
        [replace(first, result_code="0"), replace(second, result_code="1")],
        result=True,
    )
    never = zengin_debit.write_debit_file(
        replace(request.header, debit_date=date(2026, 12, 29)),
        [replace(first, result_code="0")],
        result=True,
    )
    refused = cloud.drop("zengin-debit-result", "never.txt", never)
    assert refused["status"] == "quarantined", refused
    assert "never sent" in str(refused)
    changed = zengin_debit.write_debit_file(
        request.header,
        [replace(first, result_code="0", amount=10000), replace(second, result_code="1")],
        result=True,
    )
    wrong = cloud.drop("zengin-debit-result", "wrong.txt", changed)
    assert wrong["status"] == "quarantined"
    assert [(e["line"], e["field"]) for e in wrong["errors"]] == [(2, "amount")]

    done = cloud.drop("zengin-debit-result", "KEKKA_20261228.txt", result)
    assert done["status"] == "succeeded", done
    assert done["counts"]["debited"] == 1 and done["counts"]["failed"] == 1
    with cloud.as_function("api"):
        paid = billing_store.get_invoice("inv_acct_dd1")
        failed = billing_store.get_invoice("inv_acct_dd2")
    assert paid is not None and failed is not None
    assert (paid.status, paid.amount_paid) == ("paid", 11000)
    assert failed.status == "finalized" and failed.payment_failure is not None
    assert (failed.payment_failure.code, failed.payment_failure.reason) == ("1", "資金不足")

    again = cloud.drop("zengin-debit-result", "KEKKA_again.txt", result)
    assert again["status"] != "succeeded"  # the same content again: refused as a re-send
    with cloud.as_function("api"):
        assert billing_store.get_invoice("inv_acct_dd1").amount_paid == 11000  # type: ignore[union-attr]
