"""The warehouse's files (``monosub.formats.warehouse``): the shipping instructions we write
and the shipped-serials file we read back."""

from __future__ import annotations

import codecs
import csv
import dataclasses
import io
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monosub.errors import ValidationFailed
from monosub.formats import warehouse
from monosub.formats.warehouse import (
    INSTRUCTION_COLUMNS,
    INSTRUCTION_HEADERS,
    SHIPPED_ALIASES,
    SHIPPED_COLUMNS,
    InstructionEncoding,
    InstructionLine,
    ShippedDevice,
    future_dated,
    instruction_file,
    parse_shipped_devices,
)
from monosub.intake.kinds import FileRejected, RowError

DATA = Path(__file__).parent.parent / "data" / "warehouse"
ENCODINGS: tuple[InstructionEncoding, ...] = ("utf-8-sig", "cp932")

# ---- the instruction file ------------------------------------------------------------------

SAMPLE_LINES = [
    InstructionLine(
        shipment_id="shp_7k3m9q2x4p8r",
        ship_date=date(2026, 4, 6),
        delivery_date=date(2026, 4, 8),
        postal_code="150-0002",
        address="東京都渋谷区渋谷2丁目1-1 渋谷ビル5F",
        company_name="株式会社髙橋商事",
        recipient_name="髙橋 一郎",
        recipient_phone="03-1234-5678",
        device_sku="CAM-ONE-RENT",
        device_name="クラウドカメラ ONE（レンタル）",
        quantity=3,
        installation=False,
        note="午前中着希望",
    ),
    InstructionLine(
        shipment_id="shp_7k3m9q2x4p8r",
        ship_date=date(2026, 4, 6),
        delivery_date=date(2026, 4, 8),
        postal_code="150-0002",
        address="東京都渋谷区渋谷2丁目1-1 渋谷ビル5F",
        company_name="株式会社髙橋商事",
        recipient_name="髙橋 一郎",
        recipient_phone="03-1234-5678",
        device_sku="CAM-PRO-SALE",
        device_name="クラウドカメラ PRO",
        quantity=1,
        installation=True,
        note="設置工事あり（工事日は別途連絡）",
    ),
    InstructionLine(
        shipment_id="shp_9x8w7v6u5t4s",
        ship_date=date(2026, 4, 6),
        delivery_date=None,
        postal_code="530-0001",
        address="大阪府大阪市北区梅田1-2-3 ①号館",
        company_name=None,
        recipient_name="山田 花子",
        recipient_phone="090-1234-5678",
        device_sku="CAM-MINI",
        device_name="クラウドカメラ MINI",
        quantity=1,
        installation=False,
    ),
    InstructionLine(
        shipment_id="shp_5r4q3p2n1m0k",
        ship_date=date(2026, 4, 7),
        delivery_date=date(2026, 4, 10),
        postal_code="812-0011",
        address="福岡県福岡市博多区博多駅前3-4-5",
        company_name="+Style株式会社",  # Excel would take it for a formula
        recipient_name="佐藤 次郎",
        recipient_phone="092-123-4567",
        device_sku="CAM-ONE-RENT",
        device_name="クラウドカメラ ONE（レンタル）",
        quantity=12,
        installation=True,
        note="搬入口は裏手\n平日のみ",
    ),
]


def table(data: bytes, encoding: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(encoding), newline="")))


def line(**changes: Any) -> InstructionLine:
    return dataclasses.replace(SAMPLE_LINES[2], **changes)


@pytest.mark.parametrize(
    ("encoding", "name"),
    [("utf-8-sig", "instruction-utf8.csv"), ("cp932", "instruction-cp932.csv")],
)
def test_the_sample_files_are_what_instruction_file_writes(
    encoding: InstructionEncoding, name: str
) -> None:
    """The samples under tests/data/warehouse are shown to the warehouse: they must not drift
    from the code."""
    assert instruction_file(SAMPLE_LINES, encoding=encoding) == (DATA / name).read_bytes()


def test_the_layout() -> None:
    data = instruction_file(SAMPLE_LINES, encoding="utf-8-sig")
    assert data.startswith(codecs.BOM_UTF8)
    assert data.count(b"\r\n") == len(SAMPLE_LINES) + 1
    assert b"\n" not in data.replace(b"\r\n", b"")
    rows = table(data, "utf-8-sig")
    assert (
        rows[0]
        == list(INSTRUCTION_COLUMNS)
        == [
            "出荷指示番号",
            "出荷予定日",
            "配送希望日",
            "郵便番号",
            "住所",
            "会社名",
            "受取人",
            "電話番号",
            "機種コード",
            "機種名",
            "数量",
            "設置工事",
            "備考",
        ]
    )
    assert rows[1] == [
        "shp_7k3m9q2x4p8r",
        "2026-04-06",
        "2026-04-08",
        "150-0002",
        "東京都渋谷区渋谷2丁目1-1 渋谷ビル5F",
        "株式会社髙橋商事",
        "髙橋 一郎",
        "03-1234-5678",
        "CAM-ONE-RENT",
        "クラウドカメラ ONE（レンタル）",
        "3",
        "不要",
        "午前中着希望",
    ]
    assert rows[2][10:12] == ["1", "要"]
    assert rows[3][2] == "" and rows[3][5] == "" and rows[3][12] == ""


def test_cp932_has_no_bom_and_is_not_utf8() -> None:
    data = instruction_file(SAMPLE_LINES, encoding="cp932")
    assert data.startswith("出荷指示番号".encode("cp932"))
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    assert table(data, "cp932") == table(
        instruction_file(SAMPLE_LINES, encoding="utf-8-sig"), "utf-8-sig"
    )


def test_the_headers_follow_the_fields() -> None:
    assert tuple(INSTRUCTION_HEADERS) == tuple(f.name for f in dataclasses.fields(InstructionLine))


def test_no_lines_is_a_header_only_file() -> None:
    data = instruction_file([], encoding="cp932")
    assert table(data, "cp932") == [list(INSTRUCTION_COLUMNS)]


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "＝", "＋"])
def test_a_value_excel_would_run_as_a_formula_gets_an_apostrophe(start: str) -> None:
    value = f'{start}HYPERLINK("http://example.com")'
    rows = table(instruction_file([line(company_name=value)], encoding="cp932"), "cp932")
    assert rows[1][5] == "'" + value


@pytest.mark.parametrize("value", ["A=B", "株式会社＝", "'quoted", "Style＋", "1-2-3"])
def test_other_values_are_written_as_they_are(value: str) -> None:
    rows = table(instruction_file([line(note=value)], encoding="utf-8-sig"), "utf-8-sig")
    assert rows[1][12] == value


def test_line_breaks_inside_a_value_become_spaces() -> None:
    data = instruction_file(
        [line(address="東京都\r\n渋谷区\t1-1", note="a\u2028b\x0bc")], encoding="cp932"
    )
    assert data.count(b"\r\n") == 2
    rows = table(data, "cp932")
    assert rows[1][4] == "東京都  渋谷区 1-1"
    assert rows[1][12] == "a b c"


@pytest.mark.parametrize(
    ("note", "written"), [("\n=1+1", "' =1+1"), ("　 @SUM(A1)", "'　 @SUM(A1)")]
)
def test_spaces_before_a_formula_do_not_hide_it(note: str, written: str) -> None:
    rows = table(instruction_file([line(note=note)], encoding="utf-8-sig"), "utf-8-sig")
    assert rows[1][12] == written


def test_cp932_writes_compatible_forms_of_characters_it_lacks() -> None:
    address = "東京都渋谷区渋谷2\u20141\u20131\u00a0ビル"  # em dash, en dash, no-break space
    rows = table(instruction_file([line(address=address)], encoding="cp932"), "cp932")
    assert rows[1][4] == "東京都渋谷区渋谷2-1-1 ビル"
    utf8 = table(instruction_file([line(address=address)], encoding="utf-8-sig"), "utf-8-sig")
    assert utf8[1][4] == address


def test_characters_cp932_cannot_write_refuse_the_file_naming_every_value() -> None:
    lines = [
        line(shipment_id="shp_a", recipient_name="𠮷田 太郎", note="よろしく😀😀"),
        line(shipment_id="shp_b"),
        line(shipment_id="shp_c", address="東京都港区🗼1-1", company_name="株式会社𠮷野😀"),
    ]
    with pytest.raises(ValidationFailed) as caught:
        instruction_file(lines, encoding="cp932")
    error = caught.value
    assert [(d["shipment_id"], d["field"]) for d in error.details] == [
        ("shp_a", "recipient_name"),
        ("shp_a", "note"),
        ("shp_c", "address"),
        ("shp_c", "company_name"),
    ]
    assert error.details[1]["message"] == (
        "備考 has characters that cannot be written in cp932: 😀 (U+1F600)"
    )
    assert error.details[3]["message"].endswith("𠮷 (U+20BB7), 😀 (U+1F600)")
    assert error.details[0]["value"] == "𠮷田 太郎"
    assert "shp_a, shp_c" in error.message and "4 value(s)" in error.message
    # The same lines are fine in UTF-8.
    rows = table(instruction_file(lines, encoding="utf-8-sig"), "utf-8-sig")
    assert rows[1][6] == "𠮷田 太郎"


# Text the instruction file carries unchanged (no control characters); cp932 text is made
# of characters cp932 writes and reads back as themselves.
JAPANESE = "株式会社髙橋商事山田太郎花子東京都渋谷区①②ⅰ㈱～・ーｱｲｳｶﾞ（）「」、。 ,\"'=+-@#abcXYZ019"
japanese_text = st.text(alphabet=st.sampled_from(list(JAPANESE)), max_size=20)
any_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=20
)


def lines_of(text: st.SearchStrategy[str]) -> st.SearchStrategy[InstructionLine]:
    return st.builds(
        InstructionLine,
        shipment_id=st.from_regex(r"shp_[0-9a-z]{12}", fullmatch=True),
        ship_date=st.dates(),
        delivery_date=st.none() | st.dates(),
        postal_code=st.from_regex(r"[0-9]{3}-[0-9]{4}", fullmatch=True),
        address=text,
        company_name=st.none() | text,
        recipient_name=text,
        recipient_phone=st.from_regex(r"0[0-9]{1,3}-[0-9]{2,4}-[0-9]{4}", fullmatch=True),
        device_sku=st.from_regex(r"[A-Z0-9][A-Z0-9._-]{0,20}", fullmatch=True),
        device_name=text,
        quantity=st.integers(1, 10_000),
        installation=st.booleans(),
        note=text,
    )


def expected_cells(item: InstructionLine) -> list[str]:
    def text(value: str | None) -> str:
        if value is None:
            return ""
        return "'" + value if value.lstrip()[:1] in ("=", "+", "-", "@") else value

    return [
        item.shipment_id,
        item.ship_date.isoformat(),
        item.delivery_date.isoformat() if item.delivery_date else "",
        item.postal_code,
        text(item.address),
        text(item.company_name),
        text(item.recipient_name),
        item.recipient_phone,
        item.device_sku,
        text(item.device_name),
        str(item.quantity),
        "要" if item.installation else "不要",
        text(item.note),
    ]


@settings(max_examples=100, deadline=None)
@given(
    encoding=st.sampled_from(ENCODINGS),
    lines=st.lists(lines_of(japanese_text), max_size=6),
)
def test_japanese_lines_read_back_the_same_in_both_encodings(
    encoding: InstructionEncoding, lines: list[InstructionLine]
) -> None:
    data = instruction_file(lines, encoding=encoding)
    assert table(data, encoding) == [
        list(INSTRUCTION_COLUMNS),
        *[expected_cells(item) for item in lines],
    ]


@settings(max_examples=100, deadline=None)
@given(lines=st.lists(lines_of(any_text), max_size=6))
def test_any_text_reads_back_the_same_in_utf8(lines: list[InstructionLine]) -> None:
    data = instruction_file(lines, encoding="utf-8-sig")
    assert table(data, "utf-8-sig")[1:] == [expected_cells(item) for item in lines]


# ---- the shipped-serials file --------------------------------------------------------------


def device(line: int, shipment: str, model: str, serial: str, **changes: Any) -> ShippedDevice:
    values: dict[str, Any] = {
        "ship_date": date(2026, 4, 6),
        "carrier": "ヤマト運輸",
        "tracking_number": "4512-3456-7890",
    }
    return ShippedDevice(line, shipment, model, serial, **(values | changes))


def parse(text: str, encoding: str = "utf-8") -> Any:
    return parse_shipped_devices(text.encode(encoding))


def rejected(data: bytes) -> FileRejected:
    with pytest.raises(FileRejected) as caught:
        parse_shipped_devices(data)
    return caught.value


HEADER = ",".join(SHIPPED_COLUMNS)
GOOD = "shp_1,CAM-ONE,SN-0001,2026-04-06,ヤマト運輸,4512-3456-7890"


def test_the_good_sample() -> None:
    parsed = parse_shipped_devices((DATA / "shipped-devices.csv").read_bytes())
    assert parsed.errors == []
    assert parsed.rows == [
        device(2, "shp_7k3m9q2x4p8r", "CAM-ONE-RENT", "SC1-24A-000101"),
        device(3, "shp_7k3m9q2x4p8r", "CAM-ONE-RENT", "SC1-24A-000102"),
        device(4, "shp_7k3m9q2x4p8r", "CAM-ONE-RENT", "SC1-24A-000103"),
        device(
            6,
            "shp_7k3m9q2x4p8r",
            "CAM-PRO-SALE",
            "SP2-25B-004711",
            tracking_number="4512-3456-7891",
        ),
        device(
            7,
            "shp_9x8w7v6u5t4s",
            "CAM-MINI",
            "SM1-24C-100020",
            carrier="佐川急便",
            tracking_number="360012345678",
        ),
    ]


def test_the_cp932_sample_with_japanese_headers_and_full_width_values() -> None:
    data = (DATA / "shipped-devices-cp932.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    parsed = parse_shipped_devices(data)
    assert parsed.errors == []
    assert parsed.rows == [
        device(
            2,
            "shp_7k3m9q2x4p8r",
            "CAM-ONE-RENT",
            "SC1-24A-000101",
            tracking_number="451234567890",
        ),
        device(
            3,
            "shp_9x8w7v6u5t4s",
            "CAM-MINI",
            "SM1-24C-100020",
            carrier="日本郵便",
            tracking_number="EJ123456789JP",
        ),
    ]


def test_the_bad_sample_reports_every_bad_value() -> None:
    parsed = parse_shipped_devices((DATA / "shipped-devices-invalid.csv").read_bytes())
    assert [row.line for row in parsed.rows] == [2]
    assert [(e.line, e.field, e.value) for e in parsed.errors] == [
        (3, "serial", None),
        (4, "ship_date", "2026/02/30"),
        (5, "serial", "sc1-24a-000101"),
        (6, "serial", "SM1#24C#100020"),
        (6, "ship_date", "1926-04-06"),
        (7, "tracking_number", "問い合わせ中"),
        (9, None, None),
        (10, "shipment_id", "shp 9x8w"),
        (10, "model", "カメラ"),
        (10, "ship_date", "45753"),
        (10, "carrier", None),
        (10, "tracking_number", "12"),
    ]
    messages = {(e.line, e.field): e.message for e in parsed.errors}
    assert messages[3, "serial"] == "required"
    assert messages[4, "ship_date"] == "2026/02/30 is not a day of the calendar"
    assert messages[5, "serial"] == "serial SC1-24A-000101 is on line 2 already"
    assert messages[6, "ship_date"] == "1926-04-06 is not a plausible ship date (2000 to 2099)"
    assert messages[9, None] == "4 fields, expected 6"
    assert messages[10, "ship_date"] == "a date is written YYYY-MM-DD or YYYY/MM/DD"


def test_japanese_headers_any_order_and_extra_columns() -> None:
    text = (
        "備考,追跡番号,配送業者,出荷日,シリアル番号,機種コード,出荷指示番号,倉庫コード\n"
        "割れ物,4512-3456-7890,ヤマト運輸,2026-04-06,SN-0001,CAM-ONE,shp_1,W01\n"
    )
    assert parse(text).rows == [device(2, "shp_1", "CAM-ONE", "SN-0001")]


@pytest.mark.parametrize("header", sorted(SHIPPED_ALIASES))
def test_every_alias_names_its_column(header: str) -> None:
    column = SHIPPED_ALIASES[header]
    text = HEADER.replace(column, header) + "\n" + GOOD + "\n"
    assert parse(text).rows == [device(2, "shp_1", "CAM-ONE", "SN-0001")]


def test_missing_columns_refuse_the_file_naming_them() -> None:
    error = rejected(
        "出荷指示番号,機種コード,出荷日,配送業者\nshp_1,CAM-ONE,2026-04-06,ヤマト\n".encode()
    )
    assert error.code == "missing_columns"
    assert error.message == "the header lacks the column(s): serial, tracking_number"


def test_a_column_named_twice_refuses_the_file() -> None:
    text = HEADER + ",シリアル番号\n" + GOOD + ",SN-0002\n"
    error = rejected(text.encode())
    assert error.code == "duplicate_columns"
    assert "serial (serial, シリアル番号)" in error.message


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp932"])
def test_the_encodings_read(encoding: str) -> None:
    assert parse(f"{HEADER}\n{GOOD}\n", encoding).rows == [device(2, "shp_1", "CAM-ONE", "SN-0001")]


@pytest.mark.parametrize(
    "data",
    [
        f"{HEADER}\n{GOOD}\n".encode("utf-16"),
        f"{HEADER}\n{GOOD}\n".encode("utf-16-le"),
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        f"{HEADER}\n".encode() + b"shp_1,\x82\xff\n",
    ],
)
def test_other_encodings_refuse_the_file(data: bytes) -> None:
    assert rejected(data).code == "undecodable"


@pytest.mark.parametrize(
    "text", ["", "\r\n", HEADER, HEADER + "\n\n,,,,,\n \n", codecs.BOM_UTF8.decode() + HEADER]
)
def test_a_file_without_data_rows_is_refused(text: str) -> None:
    assert rejected(text.encode()).code == "empty_file"


def test_too_many_rows_refuse_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(warehouse, "MAX_SHIPPED_ROWS", 3)
    rows = [GOOD.replace("SN-0001", f"SN-000{i}") for i in range(1, 5)]
    assert len(parse("\n".join([HEADER, *rows[:3]])).rows) == 3
    error = rejected("\n".join([HEADER, *rows]).encode())
    assert error.code == "too_many_rows"
    assert "more than 3 rows" in error.message


def test_blank_lines_are_skipped_and_lines_stay_physical() -> None:
    text = f"{HEADER}\r\n\r\n{GOOD}\r\n,,,,,\r\n\r\n{GOOD.replace('0001', '0002')}\r\n\r\n"
    assert [row.line for row in parse(text).rows] == [3, 6]


@pytest.mark.parametrize(
    ("typed", "day"),
    [
        ("2026-04-06", date(2026, 4, 6)),
        ("2026/04/06", date(2026, 4, 6)),
        ("2026/4/6", date(2026, 4, 6)),
        ("２０２６／０４／０６", date(2026, 4, 6)),
        ("２０２６－０４－０６", date(2026, 4, 6)),
        ("2000-01-01", date(2000, 1, 1)),
        ("2099-12-31", date(2099, 12, 31)),
    ],
)
def test_ship_dates(typed: str, day: date) -> None:
    row = parse(f"{HEADER}\n{GOOD.replace('2026-04-06', typed)}\n").rows[0]
    assert row.ship_date == day


@pytest.mark.parametrize(
    "typed",
    [
        "2026-4-6x",
        "2026/04-06",
        "20260406",
        "06/04/2026",
        "2026-02-29",
        "1999-12-31",
        "2100-01-01",
        "２０２６年４月６日",
        "٢٠٢٦-٠٤-٠٦",
    ],
)
def test_bad_ship_dates(typed: str) -> None:
    parsed = parse(f"{HEADER}\n{GOOD.replace('2026-04-06', typed)}\n")
    assert [(e.line, e.field, e.value) for e in parsed.errors] == [(2, "ship_date", typed)]


@pytest.mark.parametrize(
    ("typed", "number"),
    [
        ("4512-3456-7890", "4512-3456-7890"),
        ("451234567890", "451234567890"),
        ("４５１２ー３４５６ー７８９０", "4512-3456-7890"),
        (" 4512 3456 7890 ", "451234567890"),
        ("ej123456789jp", "EJ123456789JP"),
        ("1Z999AA10123456784", "1Z999AA10123456784"),
        ("123456", "123456"),
        ("9" * 40, "9" * 40),
    ],
)
def test_tracking_numbers(typed: str, number: str) -> None:
    row = parse(f"{HEADER}\n{GOOD.replace('4512-3456-7890', typed)}\n").rows[0]
    assert row.tracking_number == number


@pytest.mark.parametrize(
    "typed", ["12345", "9" * 41, "-12345678", "12345678-", "1234_5678", "問い合わせ中", "#123456"]
)
def test_bad_tracking_numbers(typed: str) -> None:
    parsed = parse(f"{HEADER}\n{GOOD.replace('4512-3456-7890', typed)}\n")
    assert [(e.line, e.field) for e in parsed.errors] == [(2, "tracking_number")]


def test_values_are_normalised() -> None:
    row = " ｓｈｐ＿１ , cam-one ,ｓｎ－０００１,2026-04-06,  ヤマト　 運輸 ,4512-3456-7890"
    text = f"{HEADER}\n{row}\n"
    assert parse(text).rows == [device(2, "shp_1", "CAM-ONE", "SN-0001", carrier="ヤマト 運輸")]


def test_a_serial_twice_is_an_error_on_each_later_line_naming_the_first() -> None:
    rows = [
        GOOD,
        GOOD.replace("SN-0001", "SN-0002"),
        GOOD.replace("SN-0001", "sn-0001"),
        GOOD.replace("2026-04-06", "bad"),  # still the serial's second line
    ]
    parsed = parse("\n".join([HEADER, *rows]))
    assert [row.line for row in parsed.rows] == [2, 3]
    assert [(e.line, e.field, e.message) for e in parsed.errors] == [
        (4, "serial", "serial SN-0001 is on line 2 already"),
        (5, "ship_date", "a date is written YYYY-MM-DD or YYYY/MM/DD"),
        (5, "serial", "serial SN-0001 is on line 2 already"),
    ]


def test_a_serial_on_an_invalid_first_line_still_counts() -> None:
    parsed = parse("\n".join([HEADER, GOOD.replace("ヤマト運輸", ""), GOOD]))
    assert [(e.line, e.field) for e in parsed.errors] == [(2, "carrier"), (3, "serial")]


def test_a_long_carrier_name_and_a_long_value_in_the_report() -> None:
    parsed = parse(f"{HEADER}\n{GOOD.replace('ヤマト運輸', 'x' * 300)}\n")
    [error] = parsed.errors
    assert error.field == "carrier" and error.value == "x" * 200


def test_future_dated() -> None:
    rows = [
        device(2, "shp_1", "CAM-ONE", "SN-0001", ship_date=date(2026, 4, 6)),
        device(3, "shp_1", "CAM-ONE", "SN-0002", ship_date=date(2026, 4, 7)),
    ]
    assert future_dated(rows, date(2026, 4, 7)) == []
    assert future_dated(rows, date(2026, 4, 6)) == [
        RowError(
            3,
            "shipped on 2026-04-07, after today (2026-04-06, Asia/Tokyo)",
            "ship_date",
            "2026-04-07",
        )
    ]


# ---- properties of the shipped-serials file ------------------------------------------------

JAPANESE_HEADER = {column: alias for alias, column in SHIPPED_ALIASES.items()}
serials = st.from_regex(r"[A-Z0-9][A-Z0-9-]{2,14}[A-Z0-9]", fullmatch=True)
tracking_numbers = st.from_regex(
    r"[0-9]{4}-[0-9]{4}-[0-9]{4}|[0-9]{12}|[A-Z]{2}[0-9]{9}JP", fullmatch=True
)
FULL_WIDTH = str.maketrans(
    {chr(c): chr(c - 0x21 + 0xFF01) for c in range(0x21, 0x7F)}  # ASCII -> full width
)


@st.composite
def typed(draw: st.DrawFn, value: str) -> str:
    """``value`` as a person or a warehouse system may type it."""
    form = draw(st.sampled_from(["as is", "lower", "full width", "padded"]))
    if form == "lower":
        return value.lower()
    if form == "full width":
        return value.translate(FULL_WIDTH)
    return f"  {value} " if form == "padded" else value


@st.composite
def typed_date(draw: st.DrawFn, day: date) -> str:
    form = draw(st.sampled_from(["%Y-%m-%d", "%Y/%m/%d", "short", "full width"]))
    if form == "short":
        return f"{day.year}/{day.month}/{day.day}"
    if form == "full width":
        return day.isoformat().translate(FULL_WIDTH)
    return day.strftime(form)


@st.composite
def shipped_files(draw: st.DrawFn) -> tuple[bytes, list[ShippedDevice], list[dict[str, str]]]:
    """A valid file, the devices it lists, and each row's typed cells."""
    count = draw(st.integers(1, 8))
    unique_serials = draw(st.lists(serials, min_size=count, max_size=count, unique=True))
    devices = [
        ShippedDevice(
            line=0,
            shipment_id=draw(st.from_regex(r"shp_[0-9a-z]{4,12}", fullmatch=True)),
            model=draw(st.sampled_from(["CAM-ONE", "CAM-MINI-2", "CAM.PRO_X"])),
            serial=serial,
            ship_date=draw(st.dates(date(2000, 1, 1), date(2099, 12, 31))),
            carrier=draw(st.sampled_from(["ヤマト運輸", "佐川急便", "日本郵便", "DHL Express"])),
            tracking_number=draw(tracking_numbers),
        )
        for serial in unique_serials
    ]
    order = draw(st.permutations(SHIPPED_COLUMNS))
    names = [draw(st.sampled_from([c, JAPANESE_HEADER[c]])) for c in order]
    extra = draw(st.lists(st.sampled_from(["備考", "倉庫", "memo"]), unique=True, max_size=2))
    header = [*names, *extra]
    cells = []
    for item in devices:
        cells.append(
            {
                "shipment_id": item.shipment_id,
                "model": draw(typed(item.model)),
                "serial": draw(typed(item.serial)),
                "ship_date": draw(typed_date(item.ship_date)),
                "carrier": item.carrier,
                "tracking_number": draw(typed(item.tracking_number)),
            }
        )
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    writer.writerow(header)
    line = 1
    rows = []
    for item, values in zip(devices, cells, strict=True):
        for _ in range(draw(st.integers(0, 2))):
            writer.writerow([])
            line += 1
        line += 1
        writer.writerow(
            [values[c] for c in order] + [draw(st.sampled_from(["", "x", "髙,1"])) for _ in extra]
        )
        rows.append(dataclasses.replace(item, line=line))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp932"]))
    return buffer.getvalue().encode(encoding), rows, cells


@settings(max_examples=150, deadline=None)
@given(shipped_files())
def test_a_valid_file_parses_without_errors_into_its_rows(
    case: tuple[bytes, list[ShippedDevice], list[dict[str, str]]],
) -> None:
    data, rows, _ = case
    parsed = parse_shipped_devices(data)
    assert parsed.errors == []
    assert parsed.rows == rows


def corrupted(data: bytes, column: str, new: str, line: int) -> bytes:
    """``data`` with ``column`` of physical line ``line`` written ``new``."""
    encoding = "cp932" if _is_cp932(data) else "utf-8"
    bom = codecs.BOM_UTF8 if data.startswith(codecs.BOM_UTF8) else b""
    lines = data.removeprefix(bom).decode(encoding).split("\n")
    header = next(csv.reader([lines[0].rstrip("\r")]))
    position = [SHIPPED_ALIASES.get(name, name) for name in header].index(column)
    cells = next(csv.reader([lines[line - 1].rstrip("\r")]))
    cells[position] = new
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="").writerow(cells)
    lines[line - 1] = buffer.getvalue() + ("\r" if lines[line - 1].endswith("\r") else "")
    return bom + "\n".join(lines).encode(encoding)


def _is_cp932(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


@settings(max_examples=150, deadline=None)
@given(case=shipped_files(), data=st.data())
def test_one_corrupted_date_or_serial_is_one_error_on_its_line(
    case: tuple[bytes, list[ShippedDevice], list[dict[str, str]]], data: st.DataObject
) -> None:
    content, rows, cells = case
    index = data.draw(st.integers(0, len(rows) - 1))
    column = data.draw(st.sampled_from(["ship_date", "serial"]))
    if column == "ship_date":
        bad = data.draw(st.sampled_from(["", "2026-02-30", "06/04/2026", "1999-12-31", "明日"]))
    else:
        earlier = [typed_cells["serial"] for typed_cells in cells[:index]]
        bad = data.draw(st.sampled_from(["", "AB", "SN#0001", "-SN0001", "シリアル", *earlier]))
    line = rows[index].line
    parsed = parse_shipped_devices(corrupted(content, column, bad, line))
    assert [(e.line, e.field) for e in parsed.errors] == [(line, column)]
    assert parsed.rows == rows[:index] + rows[index + 1 :]
