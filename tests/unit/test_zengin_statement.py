"""全銀 入出金取引明細 (``monosub.formats.zengin_statement``): 200-byte statements read into
``StatementEntry``."""

from __future__ import annotations

import dataclasses
import io
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monosub.formats.statement import StatementEntry
from monosub.formats.zengin import HALF_WIDTH_KANA, DateStyle, ZenginFormatError
from monosub.formats.zengin_statement import (
    StatementFileErrors,
    StatementHeader,
    StatementRecord,
    iter_statement,
    read_statement_file,
    read_statement_groups,
    write_statement_file,
    write_statement_groups,
)

HEADER = StatementHeader(
    created=date(2026, 12, 1),
    date_from=date(2026, 11, 1),
    date_to=date(2026, 11, 30),
    bank_code="0001",
    bank_name="ﾐｽﾞﾎ",
    branch_code="001",
    branch_name="ﾎﾝﾃﾝ",
    account_type="1",
    account_number="9012345",
    account_name="ﾓﾉｻﾌﾞ(ｶ",
    balance_before=1_000_000,
)

DEPOSIT = StatementRecord(
    line=2,
    reference="00000001",
    transaction_date=date(2026, 11, 5),
    value_date=date(2026, 11, 5),
    amount=5500,
    transaction_kind="11",
    payer_code="1234567890",
    payer_name="ﾔﾏﾀﾞ ﾀﾛｳ",
    remitting_bank="ﾐﾂﾋﾞｼUFJ",
    remitting_branch="ｼﾌﾞﾔ",
    edi="INV20261100001",
)
WITHDRAWAL = StatementRecord(
    line=3,
    reference="00000002",
    transaction_date=date(2026, 11, 27),
    value_date=date(2026, 11, 27),
    amount=-330,
    transaction_kind="18",
    description="ﾌﾘｺﾐﾃｽｳﾘﾖｳ",
)


def lines(data: bytes) -> list[bytes]:
    assert data.endswith(b"\r\n")
    return data[:-2].split(b"\r\n")


def test_every_record_is_200_bytes_with_reiwa_dates() -> None:
    rows = lines(write_statement_file(HEADER, [DEPOSIT, WITHDRAWAL]))
    assert [len(row) for row in rows] == [200] * 5
    assert [row[:1] for row in rows] == [b"1", b"2", b"2", b"8", b"9"]
    assert rows[0][:10] == b"1030081201"  # kind 1, 種別 03, JIS, 作成日 令和8年12月1日
    assert rows[0][63:73] == b"0009012345"  # 口座番号 N(10)
    assert rows[1][9:15] == b"081105"  # 勘定日
    assert rows[1][21:22] == b"1" and rows[2][21:22] == b"2"  # 入払区分
    assert rows[3][1:39] == b"000001" + b"0000000005500" + b"000001" + b"0000000000330"
    assert rows[3][39:54] == b"1" + b"00000001005170"  # 取引後残高 plus


def test_entries_are_signed_and_carry_the_account_and_virtual_account() -> None:
    header, entries, trailer = read_statement_file(
        write_statement_file(HEADER, [DEPOSIT, WITHDRAWAL])
    )
    assert header == HEADER
    deposit, withdrawal = entries
    assert deposit == StatementEntry(
        line=2,
        account="0001-001-9012345",
        transaction_date=date(2026, 11, 5),
        value_date=date(2026, 11, 5),
        amount=5500,
        payer_name="ﾔﾏﾀﾞ ﾀﾛｳ",
        payer_code="1234567890",
        virtual_account="9012345",
        reference="00000001",
        description="ﾐﾂﾋﾞｼUFJ ｼﾌﾞﾔ INV20261100001",
    )
    assert deposit.is_deposit
    assert withdrawal.amount == -330 and not withdrawal.is_deposit
    assert withdrawal.description == "ﾌﾘｺﾐﾃｽｳﾘﾖｳ"
    assert trailer.balance_after == 1_005_170
    assert trailer.record_count == 2


def test_western_dates_by_parameter() -> None:
    data = write_statement_file(HEADER, [DEPOSIT], dates="seireki")
    assert lines(data)[1][9:15] == b"261105"
    (entry,) = read_statement_file(data, dates="seireki").entries
    assert entry.transaction_date == date(2026, 11, 5)
    # The same file read as 和暦 lands in 2044: the caller must say which its bank sends.
    (misread,) = read_statement_file(data).entries
    assert misread.transaction_date == date(2044, 11, 5)


def test_a_trailer_that_does_not_match_is_rejected_naming_both_figures() -> None:
    rows = lines(write_statement_file(HEADER, [DEPOSIT, WITHDRAWAL]))
    rows[3] = rows[3][:7] + b"0000000005501" + rows[3][20:]
    with pytest.raises(StatementFileErrors) as raised:
        read_statement_file(b"\r\n".join(rows))
    (error,) = raised.value.errors
    assert (error.line, error.field) == (4, "入金額合計")
    assert "5501" in error.message and "5500" in error.message
    with pytest.raises(ZenginFormatError, match="入金額合計"):
        list(iter_statement(io.BytesIO(b"\r\n".join(rows))))


def test_a_missing_end_record_is_rejected() -> None:
    rows = lines(write_statement_file(HEADER, [DEPOSIT]))
    with pytest.raises(StatementFileErrors, match="end record is missing"):
        read_statement_file(b"\r\n".join(rows[:-1]))


def test_a_direction_other_than_deposit_or_withdrawal_is_rejected() -> None:
    rows = lines(write_statement_file(HEADER, [DEPOSIT]))
    rows[1] = rows[1][:21] + b"3" + rows[1][22:]
    with pytest.raises(StatementFileErrors) as raised:
        read_statement_file(b"\r\n".join(rows))
    assert [(e.line, e.field) for e in raised.value.errors] == [(2, "入払区分")]


def test_blank_optional_fields_of_a_bank_file_read_as_empty() -> None:
    rows = lines(write_statement_file(HEADER, [DEPOSIT]))
    # An older bank file: no 取引区分, no 振込依頼人コード, spaces where EDI情報 and the
    # trailer's record count are now.
    rows[1] = rows[1][:22] + b"  " + rows[1][24:71] + b" " * 10 + rows[1][81:179] + b" " * 21
    rows[2] = rows[2][:54] + b" " * 146
    (entry,) = read_statement_file(b"\r\n".join(rows)).entries
    assert entry.payer_code == ""
    assert entry.description == "ﾐﾂﾋﾞｼUFJ ｼﾌﾞﾔ"


def test_one_group_per_virtual_account() -> None:
    other = dataclasses.replace(HEADER, account_number="9012346", balance_before=None)
    data = write_statement_groups([(HEADER, [DEPOSIT]), (other, [DEPOSIT, WITHDRAWAL])])
    entries = list(iter_statement(io.BytesIO(data)))
    assert [e.virtual_account for e in entries] == ["9012345", "9012346", "9012346"]
    assert [e.line for e in entries] == [2, 5, 6]
    groups = read_statement_groups(data)
    assert [len(group.entries) for group in groups] == [1, 2]
    assert groups[1].trailer.balance_after is None
    with pytest.raises(StatementFileErrors, match="holds 2 accounts"):
        read_statement_file(data)


def test_a_statement_entry_can_be_written_directly() -> None:
    entry = StatementEntry(
        transaction_date=date(2026, 11, 10),
        amount=12_000,
        payer_name="ｶ)ﾃｽﾄ",
        reference="00000042",
    )
    (read,) = read_statement_file(write_statement_file(HEADER, [entry])).entries
    assert (read.amount, read.payer_name, read.reference) == (12_000, "ｶ)ﾃｽﾄ", "00000042")
    assert read.value_date == date(2026, 11, 10)


# ---- round trip ------------------------------------------------------------------------------

_TEXT = st.sampled_from(HALF_WIDTH_KANA + "ABCXYZ0189 ()-./")


def _fits(width: int) -> st.SearchStrategy[str]:
    return (
        st.text(alphabet=_TEXT, max_size=width)
        .map(str.strip)
        .filter(lambda text: len(text.encode("cp932")) <= width)
    )


STYLES: list[DateStyle] = ["wareki", "seireki"]
_days = st.dates(date(2019, 5, 1), date(2099, 12, 31))
_records = st.lists(
    st.builds(
        StatementRecord,
        line=st.just(0),
        reference=st.from_regex(r"\A[0-9]{8}\Z"),
        transaction_date=_days,
        value_date=_days,
        amount=st.integers(1, 9_999_999_999) | st.integers(-9_999_999_999, -1),
        transaction_kind=st.sampled_from(["", "10", "11", "14", "18"]),
        other_bank_amount=st.integers(0, 999_999),
        exchange_date=st.none() | _days,
        payer_code=st.just("") | st.from_regex(r"\A[1-9][0-9]{9}\Z"),
        payer_name=_fits(48),
        remitting_bank=_fits(15),
        remitting_branch=_fits(15),
        description=_fits(20),
        edi=_fits(20),
    ),
    max_size=15,
)


@settings(max_examples=60)
@given(_records, st.integers(-(10**12), 10**12), st.sampled_from(STYLES))
def test_round_trip_write_then_read(
    records: list[StatementRecord], balance: int, style: DateStyle
) -> None:
    header = dataclasses.replace(HEADER, balance_before=balance)
    data = write_statement_file(header, records, dates=style)
    assert all(len(row) == 200 for row in lines(data))
    read_header, entries, trailer = read_statement_file(data, dates=style)
    assert read_header == header
    numbered = [dataclasses.replace(r, line=n) for n, r in enumerate(records, start=2)]
    assert entries == [record.entry(header) for record in numbered]
    assert trailer.balance_after == balance + sum(r.amount for r in records)
