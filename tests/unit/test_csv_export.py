"""CSV for spreadsheets (``monosub.formats.csv_export``): BOM, CRLF, quoting, no formulas,
and files bounded by rows and by their size in the response."""

from __future__ import annotations

import csv
import io
import json

from hypothesis import given
from hypothesis import strategies as st

from monosub.formats import csv_export
from monosub.formats.csv_export import Sheet

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")


def read_back(text: str) -> list[list[str]]:
    assert text.startswith(csv_export.BOM)
    return list(csv.reader(io.StringIO(text.removeprefix(csv_export.BOM), newline="")))


def test_a_file_is_utf8_with_a_bom_and_crlf_lines():
    sheet = Sheet(("name", "amount"), max_rows=10, max_wire_bytes=10_000)
    assert sheet.add_all([("株式会社みなと物流", 12_000), ("佐藤, 花子", None), ('a "b"\nc', 0)])
    text = sheet.text()
    assert text.encode("utf-8").startswith(b"\xef\xbb\xbf")
    assert text == (
        '\ufeffname,amount\r\n株式会社みなと物流,12000\r\n"佐藤, 花子",\r\n"a ""b""\nc",0\r\n'
    )
    assert read_back(text)[1:] == [
        ["株式会社みなと物流", "12000"],
        ["佐藤, 花子", ""],
        ['a "b"\nc', "0"],
    ]


def test_formulas_become_text_and_numbers_stay_numbers():
    for dangerous in ("=1+1", "+81 3", "-2", "@SUM(A1)", "\tx", "\rx", "＝１＋１", "  =1+1"):
        assert csv_export.cell(dangerous) == "'" + dangerous
    assert csv_export.cell(-5) == "-5"  # an int is a number, not a formula
    assert csv_export.cell("a=1") == "a=1"
    assert csv_export.cell(None) == ""


@given(st.text(max_size=40))
def test_any_text_reads_back_as_itself_and_never_as_a_formula(text):
    sheet = Sheet(("value",), max_rows=1, max_wire_bytes=10_000)
    assert sheet.add_all([(text,)])
    [_, [value]] = read_back(sheet.text())
    if text.lstrip().startswith(FORMULA_STARTS) or text.startswith(FORMULA_STARTS):
        assert value == "'" + text
    else:
        assert value == text
    assert not value.startswith(FORMULA_STARTS)
    assert not value.lstrip().startswith(FORMULA_STARTS)


@given(st.text(max_size=60), st.text(max_size=60))
def test_the_size_counted_is_the_most_json_can_take(first, second):
    """The Lambda response is JSON: the body never takes more room there than counted, and
    the sizes of a file's lines add up to the file's."""
    for text in (first, second):
        assert csv_export.wire_size(text) >= len(json.dumps(text, ensure_ascii=False).encode()) - 2
        assert csv_export.wire_size(text) >= len(text.encode("utf-8"))
    together = csv_export.wire_size(first + second)
    assert together == csv_export.wire_size(first) + csv_export.wire_size(second)


def test_a_sheet_takes_whole_batches_up_to_its_rows_and_size():
    sheet = Sheet(("v",), max_rows=3, max_wire_bytes=10_000)
    assert sheet.add_all([("a",), ("b",)])
    assert not sheet.add_all([("c",), ("d",)]), "two more would be four rows"
    assert sheet.rows == 2 and sheet.room == 1
    assert sheet.add_all([("c",)])
    assert sheet.room == 0 and sheet.add_all([])
    # in JSON: the header "\\ufeffv\\r\\n" 11, "ab\\r\\n" 6, "\\u65e5\\u672c\\r\\n" 16
    small = Sheet(("v",), max_rows=100, max_wire_bytes=11 + 6 + 6)
    assert small.add_all([("ab",)])
    assert not small.add_all([("日本",)])
    assert small.add_all([("cd",)])
    assert read_back(small.text()) == [["v"], ["ab"], ["cd"]]
