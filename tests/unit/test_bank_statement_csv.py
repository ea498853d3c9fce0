"""A bank's statement CSV (``monosub.formats.bank_statement_csv``): mapping, dates in 和暦 and
western forms, payer names as banks print them, row checks, write -> parse round trips."""

from __future__ import annotations

import io
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from monosub.formats.bank_statement_csv import (
    BANK_CSV_DEFAULT,
    StatementMapping,
    iter_bank_statement,
    normalize_payer_name,
    read_statement_date,
    write_bank_statement,
)
from monosub.formats.statement import StatementEntry
from monosub.intake.kinds import FileRejected, RowError

ACCOUNT = "0001-100-1234567"
HEADER = "取引日,起算日,摘要,出金金額,入金金額,振込依頼人名,照会番号,振込先口座番号"


def statement(*lines: str, header: str = HEADER, encoding: str = "cp932") -> bytes:
    return ("\r\n".join([header, *lines]) + "\r\n").encode(encoding)


def parse(
    data: bytes, mapping: StatementMapping = BANK_CSV_DEFAULT
) -> list[StatementEntry | RowError]:
    return list(iter_bank_statement(io.BytesIO(data), mapping, account=ACCOUNT))


def errors_of(items: list[StatementEntry | RowError]) -> list[RowError]:
    return [item for item in items if isinstance(item, RowError)]


def test_default_mapping_in_cp932() -> None:
    data = statement(
        'R8.11.24,R8.11.24,振込,,"12,100",ｶ)ﾔﾏﾀﾞｼﾖｳｼﾞ,A0001,9990001',
        '2026/11/25,,口座振替 電気料金,"3,300",,,B0002,',
        '2026/11/26,,振込,,"5,500",ヤマダ　タロウ,A0003,',
    )
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    deposit, withdrawal, full_width = parse(data)
    assert deposit == StatementEntry(
        line=2,
        account=ACCOUNT,
        transaction_date=date(2026, 11, 24),
        value_date=date(2026, 11, 24),
        amount=12100,
        payer_name="ｶ)ﾔﾏﾀﾞｼﾖｳｼﾞ",
        virtual_account="9990001",
        reference="A0001",
        description="振込",
    )
    assert (withdrawal.amount, withdrawal.is_deposit, withdrawal.payer_name) == (-3300, False, "")
    assert full_width.payer_name == "ﾔﾏﾀﾞ ﾀﾛｳ"


def test_other_headers_of_the_default_mapping() -> None:
    header = "日付,お取引内容,お引出金額,お預り金額,依頼人名,取引番号"
    (entry,) = parse(statement("2026-11-24,振込,0,1000,ﾃｽﾄ,X1", header=header))
    assert (entry.amount, entry.reference, entry.virtual_account) == (1000, "X1", "")


def test_a_utf8_export() -> None:
    mapping = BANK_CSV_DEFAULT.model_copy(update={"encoding": "utf-8"})
    (entry,) = parse(statement("2026/11/24,,振込,,100,ﾃｽﾄ,X1,", encoding="utf-8-sig"), mapping)
    assert entry.amount == 100


# ---- dates ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("R8.11.24", date(2026, 11, 24)),
        ("R08/11/24", date(2026, 11, 24)),
        ("r8-1-5", date(2026, 1, 5)),
        ("令和8年11月24日", date(2026, 11, 24)),
        ("令和元年5月1日", date(2019, 5, 1)),
        ("令8.11.24", date(2026, 11, 24)),
        ("H31.04.30", date(2019, 4, 30)),
        ("H31.05.01", date(2019, 5, 1)),  # systems that kept printing 平成 in May 2019
        ("平成元年1月8日", date(1989, 1, 8)),
        ("S64.01.07", date(1989, 1, 7)),
        ("2026/11/24", date(2026, 11, 24)),
        ("2026-1-5", date(2026, 1, 5)),
        ("20261124", date(2026, 11, 24)),
        ("2026年11月24日", date(2026, 11, 24)),
        ("２０２６／１１／２４", date(2026, 11, 24)),
        ("Ｒ８．１１．２４", date(2026, 11, 24)),
    ],
)
def test_statement_dates(text: str, day: date) -> None:
    assert read_statement_date(text) == day


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("R1.04.30", "began on 2019-05-01"),  # still 平成
        ("H1.01.07", "began on 1989-01-08"),
        ("R0.1.1", "year 1"),
        ("R8.13.01", "not a day"),
        ("2026/02/30", "not a day"),
        ("X8.11.24", "not a date"),
        ("24/11/2026", "not a date"),
        ("", "not a date"),
    ],
)
def test_bad_statement_dates(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        read_statement_date(text)


def test_date_styles_restrict() -> None:
    with pytest.raises(ValueError):
        read_statement_date("2026/11/24", "wareki")
    with pytest.raises(ValueError):
        read_statement_date("R8.11.24", "western")


@given(st.dates(date(1989, 1, 8), date(2099, 12, 31)))
def test_wareki_round_trip(day: date) -> None:
    era = "R" if day >= date(2019, 5, 1) else "H"
    year = day.year - (2018 if era == "R" else 1988)
    assert read_statement_date(f"{era}{year}.{day.month}.{day.day}") == day


# ---- payer names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "printed"),
    [
        ("ヤマダ　タロウ", "ﾔﾏﾀﾞ ﾀﾛｳ"),
        ("ｶ)ﾔﾏﾀﾞ  ｼｮｳｼﾞ", "ｶ)ﾔﾏﾀﾞ ｼｮｳｼﾞ"),  # half-width kept; small kana left to 全銀
        ("カ）モノサブ", "ｶ)ﾓﾉｻﾌﾞ"),
        ("ﾓﾉｻﾌﾞ ｶﾌﾞｼｷｶﾞｲｼｬ", "ﾓﾉｻﾌﾞ ｶﾌﾞｼｷｶﾞｲｼｬ"),
        ("ｍｏｎｏｓｕｂ　Ｉｎｃ．", "MONOSUB INC."),
        ("abc co ltd", "ABC CO LTD"),
        ("  ﾃｽﾄ\u3000 ", "ﾃｽﾄ"),
        ("コーポ", "ｺｰﾎﾟ"),
    ],
)
def test_payer_names_as_banks_print_them(name: str, printed: str) -> None:
    assert normalize_payer_name(name) == printed
    assert normalize_payer_name(printed) == printed


# ---- row checks ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "field", "message"),
    [
        (",,振込,,100,ﾃｽﾄ,X9,", "transaction_date", "required"),
        ("R1.04.30,,振込,,100,ﾃｽﾄ,X9,", "transaction_date", "began"),
        ("2026/11/24,2026/99/01,振込,,100,ﾃｽﾄ,X9,", "value_date", "not a day"),
        ("2026/11/24,,振込,,,ﾃｽﾄ,X9,", "deposit", "neither"),
        ("2026/11/24,,振込,100,100,ﾃｽﾄ,X9,", "deposit", "not both"),
        ("2026/11/24,,振込,,100.5,ﾃｽﾄ,X9,", "deposit", "whole yen"),
        ("2026/11/24,,振込,,-100,ﾃｽﾄ,X9,", "deposit", "above zero"),
        ("2026/11/24,,振込,x,,ﾃｽﾄ,X9,", "withdrawal", "whole yen"),
        ("2026/11/24,,振込,,100,ﾃｽﾄ,,", "reference", "required"),
        ("2026/11/24,,振込,,100,ﾃｽﾄ,X9,99A", "virtual_account", "digits"),
    ],
)
def test_bad_rows_name_line_and_field(line: str, field: str, message: str) -> None:
    items = parse(statement("2026/11/24,,振込,,100,ﾃｽﾄ,X1,", line))
    assert isinstance(items[0], StatementEntry)
    errors = errors_of(items)
    assert [(e.line, e.field) for e in errors] == [(3, field)]
    assert message in errors[0].message


def test_full_width_amounts_and_account_numbers() -> None:
    (entry,) = parse(statement("2026/11/24,,振込,,１，０００,ﾃｽﾄ,X1,９９９－０００１"))
    assert (entry.amount, entry.virtual_account) == (1000, "9990001")


def test_a_statement_twice_in_one_file() -> None:
    line = "2026/11/24,,振込,,100,ﾃｽﾄ,X1,"
    items = parse(statement(line, "2026/11/24,,振込,,200,ﾃｽﾄ,X2,", line))
    (error,) = errors_of(items)
    assert (error.line, error.field, error.value) == (4, "reference", "X1")
    assert "line 2" in error.message


def test_missing_columns() -> None:
    with pytest.raises(FileRejected) as caught:
        parse(statement("2026/11/24,100", header="取引日,入金金額"))
    assert caught.value.code == "missing_columns"
    assert "振込依頼人名" in caught.value.message


def test_a_mapping_needs_the_required_columns() -> None:
    with pytest.raises(ValidationError, match="reference"):
        StatementMapping(
            bank="x", columns={"transaction_date": "日付", "deposit": "入金", "payer_name": "名"}
        )


# ---- round trips ---------------------------------------------------------------------------

kana_names = st.text(st.sampled_from(list("ｱｲｳｴｵｶﾞﾊﾟﾔﾏﾀﾞﾀﾛｳｰ()ABC019.")), min_size=1, max_size=30).map(
    lambda name: " ".join(name.split())
)


@st.composite
def entries(draw: st.DrawFn, wareki: bool) -> list[StatementEntry]:
    low = date(1989, 1, 8) if wareki else date(1900, 1, 1)
    count = draw(st.integers(1, 6))
    references = draw(
        st.lists(
            st.text("ABC0123456789", min_size=1, max_size=12),
            min_size=count,
            max_size=count,
            unique=True,
        )
    )
    return [
        StatementEntry(
            line=n + 2,
            account=ACCOUNT,
            transaction_date=draw(st.dates(low, date(2099, 12, 31))),
            value_date=draw(st.none() | st.dates(low, date(2099, 12, 31))),
            amount=draw(st.integers(1, 10**12) | st.integers(-(10**12), -1)),
            payer_name=draw(kana_names),
            virtual_account=draw(st.sampled_from(["", "9990001", "0000123"])),
            reference=reference,
            description=draw(st.sampled_from(["", "振込", "口座振替 ﾃﾞﾝｷ", 'a,"b"'])),
        )
        for n, reference in enumerate(references)
    ]


@settings(max_examples=100, deadline=None)
@given(rows=entries(wareki=False))
def test_round_trip(rows: list[StatementEntry]) -> None:
    assert parse(write_bank_statement(rows)) == rows


@settings(max_examples=100, deadline=None)
@given(rows=entries(wareki=True))
def test_round_trip_wareki(rows: list[StatementEntry]) -> None:
    mapping = BANK_CSV_DEFAULT.model_copy(
        update={"date_style": "wareki", "amount_style": "integer"}
    )
    assert parse(write_bank_statement(rows, mapping), mapping) == rows
