"""The accounting journal file without AWS: the rows of an invoice and of a credit note, the
settings (accounts, tax classes, columns, encoding), refusals of documents that do not add
up, a golden file, and properties (Hypothesis): debits equal credits per document, and the
bytes do not depend on the order the documents come in."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from monosub.formats.journal import (
    DEFAULT_COLUMNS,
    JournalInvoice,
    JournalSettings,
    JournalTax,
    journal_file,
    load_settings,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "journal"
APRIL_END = dt.date(2026, 4, 30)

BASE_SETTINGS: dict[str, Any] = {
    "encoding": "utf-8-sig",
    "receivables": {"code": "135", "name": "売掛金"},
    "sales": {"code": "511", "name": "売上高"},
    "output_tax": {"code": "335", "name": "仮受消費税"},
}
SETTINGS = JournalSettings.model_validate(BASE_SETTINGS)


def invoice(number: str = "INV-2026-000123", **fields: Any) -> JournalInvoice:
    values: dict[str, Any] = {
        "number": number,
        "kind": "invoice",
        "issue_date": APRIL_END,
        "account_id": "acct_01",
        "customer_name": "株式会社サンプル",
        "customer_code": None,
        "taxes": (JournalTax(10, 10000, 1000),),
        "total_yen": 11000,
        **fields,
    }
    return JournalInvoice(**values)


def rows(data: bytes, encoding: str = "utf-8-sig") -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(encoding), newline="")))


# ---- the rows -------------------------------------------------------------------------------


def test_an_invoice_debits_receivables_and_credits_sales_and_tax_per_rate():
    two_rates = invoice(
        taxes=(JournalTax(8, 500, 40), JournalTax(10, 10000, 1000)), total_yen=11540
    )
    header, *body = rows(journal_file([two_rates], SETTINGS))
    assert header == [
        "伝票日付",
        "伝票番号",
        "借方勘定科目",
        "借方金額",
        "貸方勘定科目",
        "貸方金額",
        "税区分",
        "摘要",
    ]
    description = "請求書 INV-2026-000123 株式会社サンプル"
    assert body == [
        ["2026/04/30", "INV-2026-000123", "売掛金", "11540", "", "", "対象外", description],
        ["2026/04/30", "INV-2026-000123", "", "", "売上高", "10000", "課税売上10%", description],
        ["2026/04/30", "INV-2026-000123", "", "", "仮受消費税", "1000", "対象外", description],
        ["2026/04/30", "INV-2026-000123", "", "", "売上高", "500", "課税売上8%(軽)", description],
        ["2026/04/30", "INV-2026-000123", "", "", "仮受消費税", "40", "対象外", description],
    ]


def test_a_credit_note_reverses_the_sides():
    credit_note = invoice("CN-2026-000007", kind="credit_note")
    _, *body = rows(journal_file([credit_note], SETTINGS))
    description = "返還請求書 CN-2026-000007 株式会社サンプル"
    assert body == [
        ["2026/04/30", "CN-2026-000007", "", "", "売掛金", "11000", "対象外", description],
        ["2026/04/30", "CN-2026-000007", "売上高", "10000", "", "", "課税売上10%", description],
        ["2026/04/30", "CN-2026-000007", "仮受消費税", "1000", "", "", "対象外", description],
    ]


def test_rows_are_sorted_by_issue_date_then_number_with_crlf():
    documents = [
        invoice("INV-2026-000125", issue_date=dt.date(2026, 4, 20)),
        invoice("INV-2026-000124"),
        invoice("CN-2026-000001", kind="credit_note", issue_date=dt.date(2026, 4, 20)),
    ]
    data = journal_file(documents, SETTINGS)
    numbers = [row[1] for row in rows(data)[1:]]
    assert numbers == ["CN-2026-000001"] * 3 + ["INV-2026-000125"] * 3 + ["INV-2026-000124"] * 3
    text = data.decode("utf-8-sig")
    assert text.count("\r\n") == 10 and "\n" not in text.replace("\r\n", "")
    assert data.startswith(b"\xef\xbb\xbf")


def test_rows_of_zero_yen_are_left_out():
    small = invoice(taxes=(JournalTax(10, 9, 0),), total_yen=9)
    _, *body = rows(journal_file([small], SETTINGS))
    assert [(r[2] or r[4], r[3] or r[5]) for r in body] == [("売掛金", "9"), ("売上高", "9")]
    free_month = invoice(taxes=(JournalTax(10, 0, 0),), total_yen=0)
    assert rows(journal_file([free_month], SETTINGS))[1:] == []


def test_text_cells_are_guarded_and_kept_on_one_line():
    columns = [*DEFAULT_COLUMNS, {"field": "customer_name", "header": "取引先名"}]
    with_name = JournalSettings.model_validate({**BASE_SETTINGS, "columns": columns})
    name = '=HYPERLINK("x")\r\n株式会社'
    data = journal_file([invoice(customer_name=name)], with_name)
    first = rows(data)[1]
    assert first[-1] == '\'=HYPERLINK("x")  株式会社'
    assert first[-2] == '請求書 INV-2026-000123 =HYPERLINK("x")  株式会社'
    assert len(data.decode("utf-8-sig").split("\r\n")) == 5  # header, 3 rows, the end


def test_cp932_writes_what_it_can_and_never_fails_on_a_name():
    cp932 = JournalSettings.model_validate({**BASE_SETTINGS, "encoding": "cp932"})
    data = journal_file([invoice(customer_name="髙橋①\u00a0𠮷野家\u2014😀")], cp932)
    assert rows(data, "cp932")[1][-1] == "請求書 INV-2026-000123 髙橋① 〓野家-〓"


def test_columns_headers_codes_and_date_format_are_settings():
    custom = JournalSettings.model_validate(
        {
            **BASE_SETTINGS,
            "date_format": "%Y%m%d",
            "header_row": False,
            "sales_by_rate": {"8": {"code": "512", "name": "売上高(軽減)"}},
            "tax_classes": {"10": "課税売上 10%", "8": "課税売上 8%軽"},
            "labels": {"invoice": "売上", "credit_note": "売上返品"},
            "columns": [
                {"field": "number", "header": "No"},
                {"field": "date", "header": "日付"},
                {"field": "debit_account_code", "header": "借方"},
                {"field": "debit_amount", "header": "借方金額"},
                {"field": "credit_account_code", "header": "貸方"},
                {"field": "credit_amount", "header": "貸方金額"},
                {"field": "tax_class", "header": "税"},
                {"field": "customer_code", "header": "取引先"},
                {"field": "account_id", "header": "顧客ID"},
                {"field": "description", "header": "摘要"},
            ],
        }
    )
    document = invoice(customer_code="C-0001", taxes=(JournalTax(8, 500, 40),), total_yen=540)
    assert rows(journal_file([document], custom)) == [
        [
            "INV-2026-000123",
            "20260430",
            "135",
            "540",
            "",
            "",
            "対象外",
            "C-0001",
            "acct_01",
            "売上 INV-2026-000123 株式会社サンプル",
        ],
        [
            "INV-2026-000123",
            "20260430",
            "",
            "",
            "512",
            "500",
            "課税売上 8%軽",
            "C-0001",
            "acct_01",
            "売上 INV-2026-000123 株式会社サンプル",
        ],
        [
            "INV-2026-000123",
            "20260430",
            "",
            "",
            "335",
            "40",
            "対象外",
            "C-0001",
            "acct_01",
            "売上 INV-2026-000123 株式会社サンプル",
        ],
    ]


def test_no_documents_is_the_header_alone():
    header = "伝票日付,伝票番号,借方勘定科目,借方金額,貸方勘定科目,貸方金額,税区分,摘要\r\n"
    assert journal_file([], SETTINGS) == ("\ufeff" + header).encode()


# ---- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("documents", "message"),
    [
        ([invoice(total_yen=11001)], "INV-2026-000123 does not add up: total 11001, taxable"),
        ([invoice(taxes=(), total_yen=1)], "does not add up"),
        ([invoice(), invoice()], "INV-2026-000123 is listed twice"),
        ([invoice(number="")], "without a number"),
        ([invoice(taxes=(JournalTax(5, 100, 5),), total_yen=105)], "no tax rate [5]"),
        (
            [invoice(taxes=(JournalTax(10, 100, 10), JournalTax(10, 100, 10)), total_yen=220)],
            "a tax rate is listed twice",
        ),
        (
            [invoice(kind="credit_note", taxes=(JournalTax(10, -100, -10),), total_yen=-110)],
            "amounts are positive",
        ),
    ],
)
def test_documents_that_cannot_be_booked_are_refused(documents, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        journal_file(documents, SETTINGS)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"encoding": "utf-16"}, "encoding"),
        ({"tax_classes": {"10": "課税売上10%"}}, "no 税区分 for rate(s) [8]"),
        ({"sales_by_rate": {"5": {"code": "1", "name": "x"}}}, "no tax rate [5]"),
        ({"labels": {"invoice": "請求書"}}, "labels names invoice and credit_note"),
        ({"columns": [{"field": "date", "header": "日付"}]}, "the columns lack"),
        ({"columns": [*DEFAULT_COLUMNS, {"field": "date", "header": "x"}]}, "listed twice"),
        ({"receivables": {"code": "", "name": "売掛金"}}, "at least 1 character"),
        ({"unknown": 1}, "Extra inputs are not permitted"),
    ],
)
def test_settings_are_checked(changes, message):
    with pytest.raises(ValidationError, match=re.escape(message)):
        JournalSettings.model_validate({**BASE_SETTINGS, **changes})


def test_the_shipped_settings_load():
    shipped = load_settings()
    assert shipped.encoding == "cp932"
    assert shipped.columns == DEFAULT_COLUMNS
    assert (shipped.receivables.name, shipped.sales.name, shipped.output_tax.name) == (
        "売掛金",
        "売上高",
        "仮受消費税",
    )
    header = rows(journal_file([], shipped), "cp932")[0]
    assert header[0] == "伝票日付"


# ---- golden file ----------------------------------------------------------------------------

GOLDEN_SETTINGS = JournalSettings.model_validate(
    {
        **BASE_SETTINGS,
        "sales_by_rate": {"8": {"code": "512", "name": "売上高(軽減)"}},
        "columns": [
            *DEFAULT_COLUMNS[:2],
            {"field": "debit_account_code", "header": "借方科目コード"},
            *DEFAULT_COLUMNS[2:4],
            {"field": "credit_account_code", "header": "貸方科目コード"},
            *DEFAULT_COLUMNS[4:],
            {"field": "customer_code", "header": "取引先コード"},
        ],
    }
)
GOLDEN_DOCUMENTS = [
    invoice(
        "INV-2026-000124",
        customer_name="合同会社みどり電機",
        customer_code="C-0042",
        account_id="acct_02",
        taxes=(JournalTax(10, 25480, 2548), JournalTax(8, 3240, 259)),
        total_yen=31527,
    ),
    invoice("INV-2026-000123", issue_date=dt.date(2026, 4, 20)),
    invoice(
        "CN-2026-000007",
        kind="credit_note",
        customer_name="+Style 株式会社, 渋谷店",
        taxes=(JournalTax(10, 1980, 198),),
        total_yen=2178,
    ),
    invoice(
        "INV-2026-000125",
        customer_name="山田 太郎",
        taxes=(JournalTax(10, 5, 0),),
        total_yen=5,
    ),
]


def test_the_golden_file_is_reproduced_byte_for_byte():
    expected = (DATA / "expected.csv").read_bytes()
    assert journal_file(GOLDEN_DOCUMENTS, GOLDEN_SETTINGS) == expected
    assert journal_file(list(reversed(GOLDEN_DOCUMENTS)), GOLDEN_SETTINGS) == expected


# ---- properties -----------------------------------------------------------------------------

PROPERTY = settings(deadline=None, max_examples=150)


@st.composite
def documents(draw: st.DrawFn) -> list[JournalInvoice]:
    numbers = draw(st.sets(st.integers(1, 999_999), max_size=8))
    found = []
    for n in sorted(numbers):
        rates = draw(st.lists(st.sampled_from([10, 8]), unique=True, max_size=2))
        taxes = tuple(
            JournalTax(rate, taxable, taxable * rate // 100)
            for rate, taxable in zip(
                rates,
                draw(st.lists(st.integers(0, 10**9), min_size=len(rates), max_size=len(rates))),
                strict=True,
            )
        )
        kind = draw(st.sampled_from(["invoice", "credit_note"]))
        prefix = "INV" if kind == "invoice" else "CN"
        found.append(
            invoice(
                f"{prefix}-2026-{n:06d}",
                kind=kind,
                issue_date=draw(st.dates(dt.date(2026, 1, 1), dt.date(2026, 12, 31))),
                customer_name=draw(st.text(max_size=20)),
                taxes=taxes,
                total_yen=sum(t.taxable_yen + t.tax_yen for t in taxes),
            )
        )
    return found


@PROPERTY
@given(documents())
def test_debits_equal_credits_per_document(found):
    body = rows(journal_file(found, SETTINGS))[1:]
    by_number: dict[str, list[int]] = {}
    for row in body:
        sums = by_number.setdefault(row[1], [0, 0])
        sums[0] += int(row[3] or 0)
        sums[1] += int(row[5] or 0)
    assert all(debit == credit for debit, credit in by_number.values())
    assert set(by_number) == {d.number for d in found if d.total_yen}
    for document in found:
        if document.total_yen:
            side = 3 if document.kind == "invoice" else 5
            assert by_number[document.number][0] == document.total_yen
            receivables = [
                r for r in body if r[1] == document.number and (r[2] or r[4]) == "売掛金"
            ]
            assert [int(r[side]) for r in receivables] == [document.total_yen]


@PROPERTY
@given(documents(), st.randoms(use_true_random=False))
def test_the_bytes_do_not_depend_on_the_order_of_the_documents(found, random):
    shuffled = list(found)
    random.shuffle(shuffled)
    assert journal_file(shuffled, SETTINGS) == journal_file(found, SETTINGS)
