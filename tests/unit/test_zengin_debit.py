"""全銀 預金口座振替 request and result files (``monosub.formats.zengin_debit``)."""

from __future__ import annotations

import dataclasses
import io
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monosub.formats import zengin_debit
from monosub.formats.zengin import HALF_WIDTH_KANA, ZenginFormatError
from monosub.formats.zengin_debit import (
    RESULT_CODES,
    DebitFileErrors,
    DebitHeader,
    DebitRecord,
    DebitTrailer,
    iter_debit_records,
    read_debit_file,
    write_debit_file,
)

HEADER = DebitHeader(
    consignor_code="0000123456",
    consignor_name="ﾓﾉｻﾌﾞ(ｶ",
    debit_date=date(2026, 12, 28),
    bank_code="0001",
    bank_name="ﾐｽﾞﾎ",
    branch_code="001",
    branch_name="ﾎﾝﾃﾝ",
    account_type="1",
    account_number="1234567",
)


def record(n: int, *, amount: int = 5500, result_code: str = " ", **changes: Any) -> DebitRecord:
    base = DebitRecord(
        line=n + 1,
        bank_code="0005",
        bank_name="ﾐﾂﾋﾞｼUFJ",
        branch_code="135",
        branch_name="ｼﾌﾞﾔ",
        account_type="1",
        account_number=f"{n:07d}",
        holder_name="ﾔﾏﾀﾞ ﾀﾛｳ",
        amount=amount,
        new_code="0",
        customer_number=f"INV2026120{n:04d}",
        result_code=result_code,
    )
    return dataclasses.replace(base, **changes)


def lines(data: bytes) -> list[bytes]:
    assert data.endswith(b"\r\n")
    return data[:-2].split(b"\r\n")


def test_every_record_is_120_cp932_bytes_header_data_trailer_end() -> None:
    data = write_debit_file(HEADER, [record(1), record(2, amount=12_000)])
    rows = lines(data)
    assert [len(row) for row in rows] == [120] * 5
    assert [row[:1] for row in rows] == [b"1", b"2", b"2", b"8", b"9"]
    assert rows[0][:4] == b"1910"  # kind 1, 種別 91, JIS
    assert rows[0][54:58] == b"1228"  # 引落日 MMDD
    assert rows[1][50:80].decode("cp932") == "ﾔﾏﾀﾞ ﾀﾛｳ" + " " * 22  # 8 bytes, padded to 30
    assert rows[1][80:90] == b"0000005500"
    assert rows[3][1:19] == b"000002000000017500"  # 2 records, ¥17,500


def test_a_request_reads_back_as_written() -> None:
    records = [record(1), record(2, amount=0, result_code="0")]
    data = write_debit_file(HEADER, records)
    read = read_debit_file(data, year=2026, result=False)
    assert read.header == HEADER
    assert read.records == records
    assert read.trailer == DebitTrailer(count=2, total=5500, line=4)


def test_a_result_file_has_its_debited_and_failed_figures_in_the_trailer() -> None:
    records = [record(1, result_code="0"), record(2, amount=3000, result_code="1")]
    data = write_debit_file(HEADER, records, result=True)
    trailer = read_debit_file(data, year=2026, result=True).trailer
    assert (trailer.debited_count, trailer.debited_total) == (1, 5500)
    assert (trailer.failed_count, trailer.failed_total) == (1, 3000)
    assert RESULT_CODES["1"] == "資金不足"


def test_a_trailer_that_does_not_match_its_records_is_rejected_with_both_figures() -> None:
    data = write_debit_file(HEADER, [record(1), record(2)])
    rows = lines(data)
    rows[3] = b"8" + b"000002" + b"000000011001" + rows[3][19:]  # one yen more
    with pytest.raises(DebitFileErrors) as raised:
        read_debit_file(b"\r\n".join(rows), year=2026, result=False)
    (error,) = raised.value.errors
    assert (error.line, error.field) == (4, "合計金額")
    assert "11001" in error.message and "11000" in error.message


def test_a_result_code_outside_the_list_is_rejected() -> None:
    data = write_debit_file(HEADER, [record(1, result_code="0")], result=True)
    rows = lines(data)
    rows[1] = rows[1][:111] + b"5" + rows[1][112:]
    with pytest.raises(DebitFileErrors) as raised:
        read_debit_file(b"\r\n".join(rows), year=2026, result=True)
    assert [(e.line, e.field) for e in raised.value.errors] == [(2, "振替結果コード")]


def test_a_request_refuses_result_codes_and_a_writer_refuses_them_too() -> None:
    with pytest.raises(ZenginFormatError, match="振替結果コード"):
        write_debit_file(HEADER, [record(1, result_code="1")])
    data = write_debit_file(HEADER, [record(1, result_code="1")], result=True)
    with pytest.raises(DebitFileErrors, match="振替結果コード"):
        read_debit_file(data, year=2026, result=False)


def test_a_missing_end_record_is_rejected() -> None:
    data = write_debit_file(HEADER, [record(1)])
    without_end = b"\r\n".join(lines(data)[:-1])
    with pytest.raises(DebitFileErrors, match="end record is missing"):
        read_debit_file(without_end, year=2026, result=False)
    with pytest.raises(ZenginFormatError, match="end record is missing"):
        list(iter_debit_records(io.BytesIO(without_end), year=2026))


def test_every_bad_record_is_reported_not_just_the_first() -> None:
    rows = lines(write_debit_file(HEADER, [record(1), record(2), record(3)]))
    rows[1] = rows[1][:80] + b"00000x5500" + rows[1][90:]  # amount not numeric
    rows[3] = rows[3][:42] + b"7" + rows[3][43:]  # 預金種目 7
    rows.append(b"2" + b" " * 119)  # something after the end record
    with pytest.raises(DebitFileErrors) as raised:
        read_debit_file(b"\r\n".join(rows), year=2026, result=False)
    problems = [(e.line, e.field) for e in raised.value.errors]
    assert (2, "引落金額") in problems
    assert (4, "預金種目") in problems
    assert (7, "データ区分") in problems


def test_structure_a_data_record_before_the_header_and_two_trailers() -> None:
    rows = lines(write_debit_file(HEADER, [record(1)]))
    swapped = [rows[1], rows[0], *rows[2:]]
    with pytest.raises(DebitFileErrors, match="where the header record should be"):
        read_debit_file(b"\r\n".join(swapped), year=2026, result=False)
    doubled = [*rows[:3], rows[2], rows[3]]
    with pytest.raises(DebitFileErrors, match="a trailer record where the end record"):
        read_debit_file(b"\r\n".join(doubled), year=2026, result=False)


def test_a_wrong_length_record_is_named() -> None:
    rows = lines(write_debit_file(HEADER, [record(1)]))
    rows[1] = rows[1][:119]
    with pytest.raises(DebitFileErrors, match="line 2: record: is 119 bytes long, not 120"):
        read_debit_file(b"\r\n".join(rows), year=2026, result=False)


def test_names_that_do_not_fit_or_are_not_zengin_are_refused_on_writing() -> None:
    with pytest.raises(ZenginFormatError) as raised:
        write_debit_file(HEADER, [record(1), record(2, holder_name="ﾀﾞ" * 16)])
    assert (raised.value.line, raised.value.field) == (3, "預金者名")
    assert write_debit_file(HEADER, [record(1, holder_name="ﾀﾞ" * 15)])
    with pytest.raises(ZenginFormatError, match="全銀 character set"):
        write_debit_file(HEADER, [record(1, holder_name="山田")])


def test_the_debit_year_is_given_or_the_nearest(monkeypatch: pytest.MonkeyPatch) -> None:
    data = write_debit_file(HEADER, [record(1)])
    assert read_debit_file(data, year=2027, result=False).header.debit_date == date(2027, 12, 28)
    monkeypatch.setattr(zengin_debit.clock, "today", lambda: date(2027, 1, 6))
    assert read_debit_file(data, result=False).header.debit_date == date(2026, 12, 28)
    monkeypatch.setattr(zengin_debit.clock, "today", lambda: date(2026, 11, 20))
    assert read_debit_file(data, result=False).header.debit_date == date(2026, 12, 28)


def test_streaming_yields_header_records_trailer_and_accepts_lf_and_eof_byte() -> None:
    data = write_debit_file(HEADER, [record(1), record(2)]).replace(b"\r\n", b"\n") + b"\x1a"
    items = list(iter_debit_records(io.BytesIO(data), year=2026))
    assert [type(item).__name__ for item in items] == [
        "DebitHeader",
        "DebitRecord",
        "DebitRecord",
        "DebitTrailer",
    ]


# ---- round trip ------------------------------------------------------------------------------

_ZENGIN_NAME = st.text(
    alphabet=st.sampled_from(HALF_WIDTH_KANA + "ABCXYZ0189 ()-./"), min_size=0, max_size=30
).map(lambda name: name.strip())


def _fits(width: int) -> st.SearchStrategy[str]:
    return _ZENGIN_NAME.filter(lambda name: len(name.encode("cp932")) <= width)


_records = st.lists(
    st.builds(
        DebitRecord,
        line=st.just(0),
        bank_code=st.from_regex(r"\A[0-9]{4}\Z"),
        bank_name=_fits(15),
        branch_code=st.from_regex(r"\A[0-9]{3}\Z"),
        branch_name=_fits(15),
        account_type=st.sampled_from(["1", "2"]),
        account_number=st.from_regex(r"\A[0-9]{7}\Z"),
        holder_name=_fits(30),
        amount=st.integers(0, 9_999_999_999),
        new_code=st.sampled_from(["0", "1", "2"]),
        customer_number=st.from_regex(r"\A[0-9A-Z]{1,20}\Z"),
        result_code=st.sampled_from(sorted(RESULT_CODES)),
    ),
    max_size=20,
)


@settings(max_examples=60)
@given(_records, _fits(40))
def test_round_trip_write_then_read(records: list[DebitRecord], consignor: str) -> None:
    header = dataclasses.replace(HEADER, consignor_name=consignor)
    data = write_debit_file(header, records, result=True)
    assert all(len(row) == 120 for row in lines(data))
    read = read_debit_file(data, year=2026, result=True)
    assert read.header == header
    numbered = [dataclasses.replace(r, line=n) for n, r in enumerate(records, start=2)]
    assert read.records == numbered
    assert read.trailer.count == len(records)
    assert read.trailer.total == sum(r.amount for r in records)
    assert read.trailer.debited_total + read.trailer.failed_total == read.trailer.total
