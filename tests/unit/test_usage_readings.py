"""The ``usage-readings`` file without AWS: rows in form (contract numbers, SKUs, months,
quantities written by people and meter systems, reading dates, a reading twice), then against
billing (unknown contract, a product not billed by usage, months outside its billing or to
come). Hypothesis on quantities: every decimal of up to 3 places reads back exactly, however
it is written; anything else is refused, never misread."""

from __future__ import annotations

import unicodedata
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monosub.intake.kinds import FileRejected, Parsed, processor_for
from monosub.intake.usage_readings import (
    UsageRow,
    check_usage_rows,
    parse_quantity,
    read_usage_rows,
)
from monosub.models.billing import BillingAccount
from tests.unit.test_usage_billing import NOW, metered, monthly

HEADER = "contract_number,sku,month,quantity,read_on\r\n"
TODAY = date(2026, 12, 3)
SKU_FORM = (
    "a SKU is 1 to 48 upper-case letters, digits, '.', '_' or '-', starting with a letter or digit"
)


def read(body: str, encoding: str = "utf-8") -> Parsed:
    return read_usage_rows((HEADER + body).encode(encoding))


def errors(parsed: Parsed) -> list[tuple[int, str | None, str]]:
    return [(e.line, e.field, e.message) for e in parsed.errors]


def test_the_kind_is_registered():
    processor = processor_for("usage-readings")
    assert processor is not None and processor.kind == "usage-readings"


def test_good_rows_in_utf8_and_cp932_with_japanese_headers():
    parsed = read("C2026-000001,PLAN-ENERGY,2026-11,350.5,2026-11-30\r\n")
    assert errors(parsed) == []
    assert parsed.rows == [
        UsageRow(2, "C2026-000001", "PLAN-ENERGY", "2026-11", Decimal("350.5"), date(2026, 11, 30))
    ]
    japanese = (
        "契約番号,sku,対象月,使用量,検針日\r\n"
        'ｃ２０２６－０００００１,PLAN-ENERGY,2026/1,"1,234.5",\r\n'
    )
    parsed = read_usage_rows(japanese.encode("cp932"))
    assert errors(parsed) == []
    (row,) = parsed.rows
    assert (row.contract_number, row.month, row.quantity, row.read_on) == (
        "C2026-000001",
        "2026-01",
        Decimal("1234.5"),
        None,
    )
    no_date_column = "contract_number,sku,month,quantity\r\nC2026-000001,PLAN-ENERGY,2026-11,0\r\n"
    assert read_usage_rows(no_date_column.encode()).rows[0].quantity == 0


def test_bad_rows_are_reported_by_line_and_field():
    parsed = read(
        "C2026-000001,PLAN-ENERGY,2026-11,-3,\r\n"
        "C2026-000001,PLAN-ENERGY,2026-13,3,\r\n"
        "2026-000001,plan energy,2026-11,3.1234,\r\n"
        "C2026-000001,PLAN-ENERGY,2026-11,abc,2026-10-31\r\n"
        ",PLAN-ENERGY,,3,\r\n"
        "C2026-000001,PLAN-ENERGY,2026-10,3,2026-09-30\r\n"
        "C2026-000001,PLAN-ENERGY,2026-12,3,2026-12-01\r\n"
        "C2026-000001,PLAN-ENERGY,2026-12,4,\r\n"
        "C2026-000001,PLAN-ENERGY,2026-12\r\n"
    )
    assert errors(parsed) == [
        (2, "quantity", "a reading cannot be negative"),
        (3, "month", "a month is written YYYY-MM"),
        (4, "contract_number", "a contract number looks like C2026-000001"),
        (4, "sku", SKU_FORM),
        (4, "quantity", "at most 3 decimal places"),
        (5, "quantity", "a quantity is a number such as 350.5 (at most 3 decimal places)"),
        (6, "contract_number", "required"),
        (6, "month", "required"),
        (7, "read_on", "read on 2026-09-30, before the month 2026-10"),
        (
            9,
            "month",
            "the reading of PLAN-ENERGY on C2026-000001 for 2026-12 is on line 8 already",
        ),
        (10, None, "3 fields, expected 5"),
    ]
    assert [row.line for row in parsed.rows] == [8]


def test_a_file_without_the_columns_is_rejected_whole():
    with pytest.raises(FileRejected) as rejected:
        read_usage_rows(b"contract_number,sku,quantity\r\nC2026-000001,X,1\r\n")
    assert rejected.value.code == "missing_columns"


# ---- against billing -----------------------------------------------------------------------


def billed_account() -> BillingAccount:
    ended = metered(ends=date(2027, 1, 10)).model_copy(
        update={"contract_id": "contract_c2", "key": "t1.u01"}
    )
    return BillingAccount(
        account_id="account_a1",
        name="株式会社サンプル",
        customer_number="C0001",
        components=[monthly(), metered(), ended],
        created_at=NOW,
        updated_at=NOW,
    )


CONTRACTS = {
    "C2026-000001": ("contract_c1", "account_a1"),
    "C2026-000002": ("contract_c2", "account_a1"),
    "C2026-000003": ("contract_c3", "account_gone"),
}


def checked(body: str, today: date = TODAY) -> Parsed:
    return check_usage_rows(read(body), CONTRACTS, {"account_a1": billed_account()}, today)


def test_rows_are_checked_against_billing():
    parsed = checked(
        "C2026-000001,PLAN-ENERGY,2026-11,350.5,2026-12-01\r\n"
        "C2026-000009,PLAN-ENERGY,2026-11,1,\r\n"
        "C2026-000003,PLAN-ENERGY,2026-11,1,\r\n"
        "C2026-000001,PLAN-30D,2026-11,1,\r\n"
        "C2026-000001,PLAN-ENERGY,2026-10,1,\r\n"
        "C2026-000001,PLAN-ENERGY,2027-01,1,\r\n"
        "C2026-000002,PLAN-ENERGY,2026-12,1,2026-12-04\r\n"
        "C2026-000001,PLAN-ENERGY,2026-12,1,2026-12-03\r\n",
    )
    assert errors(parsed) == [
        (3, "contract_number", "no contract C2026-000009 is billed (unknown, or not started)"),
        (4, "contract_number", "no contract C2026-000003 is billed (unknown, or not started)"),
        (5, "sku", "PLAN-30D is not billed by usage on C2026-000001"),
        (
            6,
            "month",
            "before the usage billing of PLAN-ENERGY on C2026-000001 starts (2026-11)",
        ),
        (7, "month", "2027-01 has not come yet"),
        (8, "read_on", "2026-12-04 is in the future"),
    ]
    # the kept rows know their contract, account and component
    assert [(r.line, r.contract_id, r.account_id, r.component) for r in parsed.rows] == [
        (2, "contract_c1", "account_a1", "t1.u01"),
        (9, "contract_c1", "account_a1", "t1.u01"),
    ]
    assert parsed.rows[0].reading().key == "contract_c1|t1.u01|2026-11"


def test_a_month_after_the_usage_billing_ended_is_refused():
    parsed = checked("C2026-000002,PLAN-ENERGY,2027-02,1,\r\n", today=date(2027, 3, 1))
    assert errors(parsed) == [
        (
            2,
            "month",
            "after the usage billing of PLAN-ENERGY on C2026-000002 ended (2027-01-10)",
        )
    ]
    assert checked("C2026-000002,PLAN-ENERGY,2027-01,1,\r\n", today=date(2027, 3, 1)).rows


# ---- quantities (Hypothesis) ---------------------------------------------------------------

QUANTITIES = st.decimals(
    min_value=0, max_value=10**9, places=3, allow_nan=False, allow_infinity=False
)


def written(quantity: Decimal, *, grouped: bool, full_width: bool) -> str:
    text = f"{quantity:,f}" if grouped else f"{quantity:f}"
    if full_width:
        text = "".join(chr(ord(c) + 0xFEE0) for c in text)  # ３５０．５
        assert unicodedata.normalize("NFKC", text) == (
            f"{quantity:,f}" if grouped else f"{quantity:f}"
        )
    return text


@given(QUANTITIES, st.booleans(), st.booleans())
def test_every_quantity_reads_back_exactly_however_written(
    quantity: Decimal, grouped: bool, full_width: bool
):
    text = written(quantity, grouped=grouped, full_width=full_width)
    assert parse_quantity(text) == quantity
    parsed = read(f'C2026-000001,PLAN-ENERGY,2026-11,"{text}",\r\n')
    assert errors(parsed) == [] and parsed.rows[0].quantity == quantity


@given(QUANTITIES.filter(lambda q: q > 0))
def test_a_negative_quantity_is_refused(quantity: Decimal):
    with pytest.raises(ValueError, match="cannot be negative"):
        parse_quantity(f"-{quantity:f}")


@given(
    st.integers(min_value=0, max_value=10**6),
    st.integers(min_value=1, max_value=9),
    st.integers(min_value=4, max_value=8),
)
def test_more_than_three_places_is_refused(whole: int, last: int, places: int):
    text = f"{whole}.{'0' * (places - 1)}{last}"
    with pytest.raises(ValueError, match="at most 3 decimal places"):
        parse_quantity(text)


@given(st.text(alphabet="0123456789.,eE+-x ", min_size=1, max_size=12))
def test_anything_else_is_refused_or_read_as_written(text: str):
    try:
        quantity = parse_quantity(text)
    except ValueError:
        return
    assert quantity >= 0
    assert quantity == Decimal(text.strip().replace(",", ""))
