"""Bank transfers on the embedded AWS: a 全銀 statement (入出金取引明細) dropped under
inbox/bank-statement/ is matched to open invoices by virtual account or by payer name:
exact, several invoices oldest first, partial and over-payments (credit); a deposit nobody
matches waits in the exceptions queue; the statement again pays nothing twice."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from local.runtime import EmbeddedAWS
from monosub.formats import zengin_statement
from monosub.formats.statement import StatementEntry
from monosub.store import billing as billing_store
from monosub.store import cash as cash_store
from tests.cash_fixtures import a_customer, an_invoice
from tests.sales_flow import Calls

DAY = date(2026, 12, 10)


@pytest.fixture
def cloud() -> Iterator[EmbeddedAWS]:
    with EmbeddedAWS(business_time=datetime(2026, 12, 10, 6, 0, tzinfo=UTC)) as embedded:
        yield embedded


@pytest.fixture
def call(cloud: EmbeddedAWS) -> Calls:
    return Calls(cloud)


def header(account_number: str) -> zengin_statement.StatementHeader:
    return zengin_statement.StatementHeader(
        created=DAY,
        date_from=DAY,
        date_to=DAY,
        bank_code="0001",
        bank_name="ﾐｽﾞﾎ",
        branch_code="123",
        branch_name="ｼﾌﾞﾔ",
        account_type="1",
        account_number=account_number,
        account_name="ﾓﾉｻﾌﾞ(ｶ",
        balance_before=1_000_000,
    )


def deposit(reference: str, amount: int, payer: str) -> StatementEntry:
    return StatementEntry(
        reference=reference, transaction_date=DAY, value_date=DAY, amount=amount, payer_name=payer
    )


def owed(cloud: EmbeddedAWS, invoice_id: str) -> int:
    with cloud.as_function("api"):
        invoice = billing_store.get_invoice(invoice_id)
    assert invoice is not None
    return invoice.balance


def test_deposits_are_matched_by_virtual_account_and_payer_name(cloud: EmbeddedAWS, call: Calls):
    a_customer(
        cloud,
        "acct_b1",
        "山田太郎",
        [
            an_invoice("inv_b1a", "acct_b1", 1100, due=date(2026, 11, 30)),
            an_invoice("inv_b1b", "acct_b1", 2200, due=date(2026, 12, 31)),
        ],
        payer_name="ヤマダ タロウ",
    )
    a_customer(
        cloud,
        "acct_b2",
        "株式会社ビー",
        [an_invoice("inv_b2", "acct_b2", 5500, due=date(2026, 12, 31))],
        virtual_account="7000001",
    )
    a_customer(
        cloud,
        "acct_b3",
        "スズキ",
        [an_invoice("inv_b3", "acct_b3", 3300, due=date(2026, 12, 31))],
    )
    statement = zengin_statement.write_statement_groups(
        [
            (
                header("1234567"),
                [
                    deposit("0001", 3300, "ﾔﾏﾀﾞ ﾀﾛｳ"),  # both of its invoices, oldest first
                    deposit("0002", 4000, "ｽｽﾞｷ"),  # 700 over: credit
                    deposit("0003", 1000, "ﾀﾅｶ ｲﾁﾛｳ"),  # nobody
                    StatementEntry(
                        reference="0004", transaction_date=DAY, amount=-500, payer_name=""
                    ),
                ],
            ),
            (header("7000001"), [deposit("0001", 5000, "ﾋﾞ-")]),  # the virtual account: part
        ],
        dates="wareki",
    )
    done = cloud.drop("bank-statement", "nyushukkin-20261210.txt", statement)
    assert done["status"] == "succeeded", done
    counts = done["counts"]
    assert (counts["deposits"], counts["withdrawals"], counts["matched"], counts["unmatched"]) == (
        4,
        1,
        3,
        1,
    )
    assert [owed(cloud, i) for i in ("inv_b1a", "inv_b1b", "inv_b2", "inv_b3")] == [0, 0, 500, 0]
    with cloud.as_function("api"):
        assert cash_store.get_credit("acct_b3").balance == 700
    [stray] = call("GET", "/exceptions", groups="ops").json()["exceptions"]
    assert (stray["amount"], stray["original"]["received"]["payer"]) == (1000, "ﾀﾅｶ ｲﾁﾛｳ")

    # the same statement under another name is a re-send: refused; an overlapping statement
    # (yesterday's lines again, one new) pays only the new line
    again = cloud.drop("bank-statement", "resent.txt", statement)
    assert again["status"] != "succeeded"
    overlapping = zengin_statement.write_statement_groups(
        [(header("7000001"), [deposit("0001", 5000, "ﾋﾞ-"), deposit("0002", 500, "ﾋﾞ-")])],
        dates="wareki",
    )
    later = cloud.drop("bank-statement", "nyushukkin-20261211.txt", overlapping)
    assert later["counts"]["already"] == 1 and later["counts"]["matched"] == 1
    assert owed(cloud, "inv_b2") == 0


def test_a_csv_statement_by_the_default_mapping(cloud: EmbeddedAWS):
    from monosub.formats.bank_statement_csv import write_bank_statement

    a_customer(
        cloud,
        "acct_b4",
        "佐藤花子",
        [an_invoice("inv_b4", "acct_b4", 2200, due=date(2026, 12, 31))],
        payer_name="サトウ ハナコ",
    )
    body = write_bank_statement(
        [
            deposit("C-001", 1000, "ｻﾄｳ ﾊﾅｺ"),  # part of it
            deposit("C-002", 1500, "ｻﾄｳ ﾊﾅｺ"),  # the rest, 300 over
        ]
    )
    done = cloud.drop("bank-statement", "meisai.csv", body)
    assert done["status"] == "succeeded", done
    assert done["counts"]["matched"] == 2
    assert owed(cloud, "inv_b4") == 0
    with cloud.as_function("api"):
        assert cash_store.get_credit("acct_b4").balance == 300
