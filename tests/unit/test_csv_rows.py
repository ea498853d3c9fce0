"""Reading partner CSV files (``monosub.formats.csv_rows``)."""

from __future__ import annotations

import codecs
import csv
import io
import itertools
from collections.abc import Sequence
from datetime import date

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from monosub.formats.csv_rows import CsvRow, decode, read_csv, read_date
from monosub.intake.kinds import FileRejected

REQUIRED = ("company", "name")
OPTIONAL = ("email", "phone")


def read(data: bytes, encodings: Sequence[str] = ("utf-8-sig", "cp932")) -> list[CsvRow]:
    return read_csv(data, required=REQUIRED, optional=OPTIONAL, encodings=encodings)


def rejected(data: bytes, encodings: Sequence[str] = ("utf-8-sig", "cp932")) -> FileRejected:
    with pytest.raises(FileRejected) as caught:
        read(data, encodings)
    return caught.value


# ---- encodings -----------------------------------------------------------------------------


def test_utf8_japanese() -> None:
    rows = read("company,name\n株式会社テスト,山田 太郎\n".encode())
    assert rows == [CsvRow(2, {"company": "株式会社テスト", "name": "山田 太郎"})]


def test_utf8_with_bom() -> None:
    rows = read(codecs.BOM_UTF8 + "company,name\n株式会社テスト,山田\n".encode())
    assert rows == [CsvRow(2, {"company": "株式会社テスト", "name": "山田"})]


@pytest.mark.parametrize(
    ("company", "name"),
    [
        ("株式会社テスト", "山田 太郎"),
        ("ｶﾌﾞｼｷｶﾞｲｼｬ", "ﾔﾏﾀﾞ ﾀﾛｳ"),  # half-width kana (single bytes in cp932)
        ("①髙橋商店～", "髙橋"),  # NEC/IBM extensions: cp932, not plain Shift_JIS
    ],
)
def test_cp932(company: str, name: str) -> None:
    data = f"company,name,email\r\n{company},{name},a@example.jp\r\n".encode("cp932")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # so the test really exercises the cp932 fallback
    rows = read(data)
    assert rows == [CsvRow(2, {"company": company, "name": name, "email": "a@example.jp"})]


def test_decode_uses_the_first_encoding_that_fits() -> None:
    assert decode("テスト".encode(), ("utf-8-sig", "cp932")) == "テスト"
    assert decode(codecs.BOM_UTF8 + b"abc", ("utf-8-sig", "cp932")) == "abc"
    assert decode("テスト".encode("cp932"), ("utf-8-sig", "cp932")) == "テスト"


@pytest.mark.parametrize(
    "data",
    [
        b"company,name\nA,\x82\xff\n",  # cp932 lead byte with a bad trail byte
        b"company,name\nA,B\x81",  # truncated cp932 double byte
        b"company,name\n\xef\xbb,x\n\x81\n",
    ],
)
def test_invalid_in_every_encoding_is_undecodable(data: bytes) -> None:
    error = rejected(data)
    assert error.code == "undecodable"
    assert "utf-8-sig" in error.message and "cp932" in error.message


def test_undecodable_with_utf8_only() -> None:
    data = "company,name\n株式会社,山田\n".encode("cp932")
    assert rejected(data, encodings=("utf-8",)).code == "undecodable"


# ---- whole-file refusals -------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b" ", b"\n", b"\r\n\r\n", b" \t\r\n  \n", codecs.BOM_UTF8])
def test_empty_or_whitespace_only(data: bytes) -> None:
    assert rejected(data).code == "empty_file"


@pytest.mark.parametrize("data", [codecs.BOM_UTF8 + b"\r\n", "\u3000\n".encode()])
def test_blank_after_decoding_is_empty(data: bytes) -> None:
    assert rejected(data).code == "empty_file"


@pytest.mark.parametrize(
    "data", [b"company,name\n", b"company,name", b"company,name\r\n\r\n\n,\n , \n"]
)
def test_header_only(data: bytes) -> None:
    assert rejected(data).code == "empty_file"


def test_missing_columns_are_named() -> None:
    error = rejected(b"company,email\nA,a@example.jp\n")
    assert error.code == "missing_columns"
    assert "name" in error.message
    assert "company" not in error.message
    both = rejected(b"email\na@example.jp\n")
    assert both.code == "missing_columns"
    assert "company" in both.message and "name" in both.message


def test_unknown_columns_are_named() -> None:
    error = rejected(b"company,name,fax,phone\nA,B,03,04\n")
    assert error.code == "unknown_columns"
    assert "fax" in error.message
    assert "phone" not in error.message


def test_oversized_field_is_malformed() -> None:
    data = b'company,name\nA,B\n"' + b"x" * 200_000 + b'",y\n'
    error = rejected(data)
    assert error.code == "malformed_csv"
    assert error.message.startswith("line 3:")


def test_utf16_and_binary_are_undecodable_when_cp932_is_tried() -> None:
    for data in ("company,name\nA,B\n".encode("utf-16"), b"company,name\nA,\x00B\n"):
        error = rejected(data)
        assert error.code == "undecodable"
        assert "UTF-16" in error.message


# ---- aliases, other columns, a row limit ---------------------------------------------------

ALIASES = {"会社名": "company", "氏名": "name"}


def test_aliases_name_columns() -> None:
    rows = read_csv(
        "氏名, 会社名 ,email\n山田,テスト,\n".encode(),
        required=REQUIRED,
        optional=OPTIONAL,
        aliases=ALIASES,
    )
    assert rows == [CsvRow(2, {"name": "山田", "company": "テスト", "email": ""})]


def test_a_missing_column_is_named_by_its_column_not_its_alias() -> None:
    with pytest.raises(FileRejected) as caught:
        read_csv("会社名\nテスト\n".encode(), required=REQUIRED, aliases=ALIASES)
    assert caught.value.code == "missing_columns"
    assert caught.value.message == "the header lacks the column(s): name"


@pytest.mark.parametrize(
    ("header", "named"),
    [
        ("company,name,会社名", "company (company, 会社名)"),
        ("company,name,Company", "company (company, company)"),
    ],
)
def test_a_column_named_twice_is_refused(header: str, named: str) -> None:
    with pytest.raises(FileRejected) as caught:
        read_csv(f"{header}\nA,B,C\n".encode(), required=REQUIRED, aliases=ALIASES)
    assert caught.value.code == "duplicate_columns"
    assert named in caught.value.message


def test_other_columns_can_be_ignored() -> None:
    data = b"memo,company,name,memo,\nx,A,B,y,z\n"
    assert read_csv(data, required=REQUIRED, ignore_unknown=True) == [
        CsvRow(2, {"company": "A", "name": "B"})
    ]
    with pytest.raises(FileRejected) as caught:
        read_csv(data, required=REQUIRED)
    assert caught.value.code == "unknown_columns"


def test_ignored_columns_still_count_for_the_number_of_fields() -> None:
    rows = read_csv(b"company,name,memo\nA,B\n", required=REQUIRED, ignore_unknown=True)
    assert rows == [CsvRow(2, {"__error__": "2 fields, expected 3"})]


def test_max_rows_counts_rows_not_blank_lines() -> None:
    data = b"company,name\nA,B\n\n\nC,D\n,\n"
    assert len(read_csv(data, required=REQUIRED, max_rows=2)) == 2
    with pytest.raises(FileRejected) as caught:
        read_csv(data + b"E,F\n", required=REQUIRED, max_rows=2)
    assert caught.value.code == "too_many_rows"
    assert caught.value.message.startswith("the file has more than 2 rows")


# ---- dates in cells ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    ["2026-04-01", "2026/04/01", "2026/4/1", "2026-4-01", " 2026-04-01 ", "２０２６／０４／０１"],
)
def test_read_date(typed: str) -> None:
    assert read_date(typed) == date(2026, 4, 1)


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("2026-04/01", "a date is written YYYY-MM-DD or YYYY/MM/DD"),
        ("26-04-01", "a date is written YYYY-MM-DD or YYYY/MM/DD"),
        ("2026-004-01", "a date is written YYYY-MM-DD or YYYY/MM/DD"),
        ("2026年4月1日", "a date is written YYYY-MM-DD or YYYY/MM/DD"),
        ("", "a date is written YYYY-MM-DD or YYYY/MM/DD"),
        ("2026-04-31", "2026-04-31 is not a day of the calendar"),
        ("2026/0/1", "2026/0/1 is not a day of the calendar"),
    ],
)
def test_read_date_refuses(typed: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        read_date(typed)
    assert str(caught.value) == message


@given(st.dates())
def test_read_date_reads_every_iso_date(day: date) -> None:
    assume(day.year >= 1000)
    assert read_date(day.isoformat()) == day
    assert read_date(day.isoformat().replace("-", "/")) == day


# ---- header and rows -----------------------------------------------------------------------


def test_header_is_case_insensitive_and_trimmed() -> None:
    rows = read(b" Company ,NAME,\tEmail \nA,B,c@example.jp\n")
    assert rows == [CsvRow(2, {"company": "A", "name": "B", "email": "c@example.jp"})]


def test_column_order_is_free_and_values_are_stripped() -> None:
    rows = read(b"name,company\n  Taro ,\t ACME  \n")
    assert rows == [CsvRow(2, {"name": "Taro", "company": "ACME"})]


def test_blank_lines_are_skipped_and_lines_are_physical() -> None:
    data = b"company,name\n\nA,B\n,\n  ,  \nC,D\n\n"
    rows = read(data)
    assert rows == [
        CsvRow(3, {"company": "A", "name": "B"}),
        CsvRow(6, {"company": "C", "name": "D"}),
    ]


def test_crlf_line_numbers() -> None:
    rows = read(b"company,name\r\nA,B\r\n\r\nC,D\r\n")
    assert [r.line for r in rows] == [2, 4]


def test_rows_after_a_multiline_field_keep_their_physical_line() -> None:
    data = 'company,name\n"株式会社\nテスト",x\nC,D\n"E","F\n\nG"\nH,I\n'.encode()
    rows = read(data)
    assert [r.values for r in rows] == [
        {"company": "株式会社\nテスト", "name": "x"},
        {"company": "C", "name": "D"},
        {"company": "E", "name": "F\n\nG"},
        {"company": "H", "name": "I"},
    ]
    assert rows[1].line == 4
    assert rows[3].line == 8


def test_a_multiline_record_is_reported_at_its_first_line() -> None:
    rows = read(b'company,name\n"A\nB",x\nC,D\n')
    assert [r.line for r in rows] == [2, 4]


def test_wrong_number_of_fields() -> None:
    rows = read(b"company,name\nA\nB,C,D\nE,F\n")
    assert rows == [
        CsvRow(2, {"__error__": "1 fields, expected 2"}),
        CsvRow(3, {"__error__": "3 fields, expected 2"}),
        CsvRow(4, {"company": "E", "name": "F"}),
    ]


def test_only_bad_rows_is_not_empty() -> None:
    rows = read(b"company,name\nA,B,C\n")
    assert rows == [CsvRow(2, {"__error__": "3 fields, expected 2"})]


# ---- property ------------------------------------------------------------------------------

COLUMNS = ("c1", "c2", "c3")
cell = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12
)
japanese_cell = st.text(
    alphabet=st.sampled_from(
        list("株式会社テスト山田太郎髙橋①～あいうえおアイウエオｱｲｳｴｵｶﾞﾊﾟ ,\"'\n\r-_.0123abc")
    ),
    max_size=10,
)


def write(rows: list[list[str]]) -> str:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    return buffer.getvalue()


def expected(rows: list[list[str]]) -> list[list[str]]:
    return [[v.strip() for v in row] for row in rows if any(v.strip() for v in row)]


def check(data: bytes, rows: list[list[str]]) -> None:
    want = expected(rows)
    if not want:
        with pytest.raises(FileRejected) as caught:
            read_csv(data, required=COLUMNS)
        assert caught.value.code == "empty_file"
        return
    got = read_csv(data, required=COLUMNS)
    assert [[r.values[c] for c in COLUMNS] for r in got] == want
    lines = [r.line for r in got]
    assert lines[0] >= 2
    assert all(a < b for a, b in itertools.pairwise(lines))


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(st.lists(cell, min_size=3, max_size=3), min_size=1, max_size=6))
def test_any_utf8_table_round_trips(rows: list[list[str]]) -> None:
    check(write(rows).encode("utf-8"), rows)


@settings(max_examples=50, deadline=None)
@given(
    rows=st.lists(st.lists(cell, min_size=3, max_size=3), min_size=1, max_size=4),
)
def test_any_utf8_table_with_bom_round_trips(rows: list[list[str]]) -> None:
    check(codecs.BOM_UTF8 + write(rows).encode("utf-8"), rows)


@settings(max_examples=50, deadline=None)
@given(rows=st.lists(st.lists(japanese_cell, min_size=3, max_size=3), min_size=1, max_size=4))
def test_japanese_cp932_table_round_trips(rows: list[list[str]]) -> None:
    data = write(rows).encode("cp932")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        # cp932 bytes that are also valid UTF-8 (ASCII only, or a rare coincidence) are
        # read as UTF-8 by design.
        assume(data.isascii())
    check(data, rows)
