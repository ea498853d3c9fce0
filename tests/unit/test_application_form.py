"""The application form (申込書) reader and writer: layouts as data per version, typed values
or the exact cells that failed, and refusing what is not a plain .xlsx form."""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from monosub.domain.text import nfkc
from monosub.formats import application_form as forms
from monosub.intake.kinds import FileRejected

V1 = "MS-APP-2026.1"
V2 = "MS-APP-2026.2"


def valid(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "application_date": date(2026, 11, 24),
        "customer.segment": "corporate",
        "customer.name": "株式会社みなと物流",
        "customer.kana": "カブシキガイシャ ミナトブツリュウ",
        "customer.postal_code": "105-0022",
        "customer.prefecture": "東京都",
        "customer.city": "港区",
        "customer.address_line1": "海岸1-2-3",
        "customer.phone": "03-1234-5678",
        "customer.email": "hanako@minato.example.jp",
        "customer.contact_person": "佐藤 花子",
        "delivery.installation_needed": False,
        "payment_method": "bank-transfer",
        "rep": "tanaka",
        "lines": [
            {"device_sku": "CAM-ONE-SALE", "plan_sku": "PLAN-30D", "quantity": 3},
            {"plan_sku": "PLAN-7D", "option_skus": "OPT-DOWNLOAD", "quantity": 1},
        ],
    }
    values.update(changes)
    return values


def errors_of(data: bytes) -> dict[str, forms.CellError]:
    read = forms.read_form(data)
    assert read.values is None
    return {error.field: error for error in read.errors}


def rejected(data: bytes) -> FileRejected:
    with pytest.raises(FileRejected) as caught:
        forms.read_form(data)
    return caught.value


# ---- layouts -------------------------------------------------------------------------------


def test_every_shipped_layout_loads_and_is_named_after_its_version():
    found = forms.layouts()
    assert {V1, V2} <= set(found)
    for path in forms.LAYOUTS.glob("*.json"):
        assert forms.load_layout(path).key == path.stem


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d: d["fields"].pop("customer.email"), "field customer.email is missing"),
        (lambda d: d["fields"]["customer.kana"].update(cell="C5"), "both use C5"),
        (lambda d: d["fields"]["customer.phone"].update(pattern="(["), "pattern"),
        (lambda d: d["fields"]["application_date"].update(type="text"), "read as date"),
        (lambda d: d["fields"]["rep"].update(cell="7C"), "is not a cell"),
        (
            lambda d: d["fields"]["customer.segment"]["choices"].update(その他="other"),
            "choices mean one of",
        ),
        (lambda d: d["lines"]["columns"].pop("quantity"), "lines column quantity is missing"),
        (lambda d: d["fields"]["rep"].update(cell="B18"), "both use B18"),
    ],
)
def test_a_broken_layout_is_refused_on_load(tmp_path: Path, change, problem):
    data = json.loads((forms.LAYOUTS / f"{V1}.json").read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / f"{V1}.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(forms.LayoutError, match=re.escape(problem)):
        forms.load_layout(path)


def test_a_layout_file_must_be_named_after_its_version(tmp_path: Path):
    path = tmp_path / "MS-APP-2099.9.json"
    path.write_bytes((forms.LAYOUTS / f"{V1}.json").read_bytes())
    with pytest.raises(forms.LayoutError, match=re.escape("name the file MS-APP-2026.1.json")):
        forms.load_layout(path)


# ---- versions ------------------------------------------------------------------------------


def test_two_versions_with_moved_cells_and_an_added_field_read_the_same_values():
    first = forms.read_form(forms.write_example(valid(), V1))
    second = forms.read_form(
        forms.write_example(valid(**{"customer.department": "総務部", "remarks": "至急"}), V2)
    )
    assert first.values is not None and second.values is not None
    assert (first.version, second.version) == (V1, V2)
    assert first.where["customer.email"] == "申込書!C14"
    assert second.where["customer.email"] == "申込書!C16"
    assert second.where["lines[0].plan_sku"] == "申込書!C21"
    assert second.values.fields["customer.department"] == "総務部"
    assert second.values.fields["remarks"] == "至急"
    shared = {k: v for k, v in second.values.fields.items() if k in first.values.fields}
    assert shared == first.values.fields
    assert (
        second.values.lines
        == first.values.lines
        == [
            {
                "device_sku": "CAM-ONE-SALE",
                "plan_sku": "PLAN-30D",
                "option_skus": None,
                "quantity": 3,
                "campaign_code": None,
            },
            {
                "device_sku": None,
                "plan_sku": "PLAN-7D",
                "option_skus": "OPT-DOWNLOAD",
                "quantity": 1,
                "campaign_code": None,
            },
        ]
    )


def _edited(data: bytes, edit) -> bytes:
    workbook = load_workbook(io.BytesIO(data))
    edit(workbook)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_a_named_range_says_where_a_moved_value_is():
    def move_email(workbook):
        sheet = workbook["申込書"]
        sheet["E16"] = sheet["C16"].value
        sheet["C16"] = None
        workbook.defined_names["customer_email"].attr_text = "'申込書'!$E$16"

    read = forms.read_form(_edited(forms.write_example(valid(), V2), move_email))
    assert read.values is not None
    assert read.values.fields["customer.email"] == "hanako@minato.example.jp"
    assert read.where["customer.email"] == "申込書!E16"


def test_without_the_named_range_the_version_cell_of_the_layout_is_read():
    def drop_name(workbook):
        del workbook.defined_names[forms.VERSION_NAME]

    read = forms.read_form(_edited(forms.write_example(valid(), V2), drop_name))
    assert read.version == V2 and read.values is not None


def test_an_unknown_version_is_refused_naming_the_cell():
    def change(workbook):
        workbook["申込書"]["G2"] = "MS-APP-2019.1"

    refusal = rejected(_edited(forms.write_example(valid(), V1), change))
    assert refusal.code == "unknown_version"
    assert "申込書!G2 = 'MS-APP-2019.1'" in refusal.message
    assert V1 in refusal.message and V2 in refusal.message


# ---- what is refused whole -----------------------------------------------------------------


def _with_entry(data: bytes, name: str, body: bytes, content_type: bytes | None = None) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "[Content_Types].xml" and content_type:
                content = content.replace(b"</Types>", content_type + b"</Types>")
            target.writestr(item, content)
        target.writestr(name, body)
    return buffer.getvalue()


def test_a_workbook_with_macros_is_refused():
    data = _with_entry(forms.write_example(valid()), "xl/vbaProject.bin", b"\xd0\xcf\x11\xe0VBA")
    refusal = rejected(data)
    assert refusal.code == "macros"
    assert "nothing executable is accepted" in refusal.message
    assert "xl/vbaproject.bin" in refusal.message


def test_a_macro_enabled_workbook_is_refused_even_without_the_macro_part():
    macro_type = (
        b'<Override PartName="/xl/workbook.xml" '
        b'ContentType="application/vnd.ms-excel.sheet.macroEnabled.main+xml"/>'
    )
    data = _with_entry(forms.write_example(valid()), "docProps/extra.xml", b"<x/>", macro_type)
    assert rejected(data).code == "macros"


def test_an_embedded_object_is_refused():
    data = _with_entry(forms.write_example(valid()), "xl/embeddings/oleObject1.bin", b"x")
    assert rejected(data).code == "macros"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"company,name\nA,B\n", "not_xlsx"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "not_xlsx"),
        (b"", "not_xlsx"),
    ],
)
def test_what_is_not_an_xlsx_workbook_is_refused(data, code):
    assert rejected(data).code == code


def test_a_zip_that_is_not_a_workbook_is_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as package:
        package.writestr("hello.txt", "hi")
    refusal = rejected(buffer.getvalue())
    assert refusal.code == "not_xlsx" and "not an .xlsx" in refusal.message


def test_a_file_or_a_sheet_too_large_is_refused():
    assert rejected(b"PK" + b"\x00" * forms.MAX_FILE_BYTES).code == "too_large"

    def fill_far(workbook):
        workbook["申込書"].cell(row=forms.MAX_SHEET_ROWS + 1, column=1, value="x")

    refusal = rejected(_edited(forms.write_example(valid()), fill_far))
    assert refusal.code == "sheet_too_large"


# ---- cells that fail -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "cell", "value", "message"),
    [
        ({"customer.name": None}, "customer.name", "申込書!C6", "", "必須項目です"),
        ({"customer.email": "hanako.example.jp"}, "customer.email", "申込書!C14", "", "形式"),
        ({"customer.phone": 312345678}, "customer.phone", "申込書!C13", "312345678", "先頭の0"),
        ({"customer.kana": "みなと"}, "customer.kana", "申込書!C7", "みなと", "全角カタカナ"),
        ({"customer.postal_code": "1050"}, "customer.postal_code", "申込書!C8", "1050", "形式"),
        ({"customer.segment": "団体"}, "customer.segment", "申込書!C5", "団体", "「法人」「個人」"),
        ({"payment_method": "現金"}, "payment_method", "申込書!C35", "現金", "いずれか"),
        ({"application_date": "来週"}, "application_date", "申込書!G3", "来週", "日付"),
        ({"application_date": 46000}, "application_date", "申込書!G3", "46000", "数値"),
        ({"application_date": "2026/02/30"}, "application_date", "申込書!G3", "", "存在しない"),
        ({"customer.city": "x" * 51}, "customer.city", "申込書!C10", "", "50文字以内"),
        ({"customer.city": date(2026, 1, 2)}, "customer.city", "申込書!C10", "", "文字"),
        (
            {"delivery.installation_needed": None},
            "delivery.installation_needed",
            "申込書!C33",
            "",
            "必須",
        ),
    ],
)
def test_each_failing_value_is_named_by_its_cell(changes, field, cell, value, message):
    errors = errors_of(forms.write_example(valid(**changes)))
    assert set(errors) == {field}
    error = errors[field]
    assert error.cell == cell and message in error.message
    if value:
        assert error.value == value


@pytest.mark.parametrize(
    ("line", "column", "cell", "message"),
    [
        ({"plan_sku": "PLAN-30D", "quantity": 1.5}, "quantity", "申込書!E18", "整数"),
        ({"plan_sku": "PLAN-30D", "quantity": 0}, "quantity", "申込書!E18", "1以上"),
        ({"plan_sku": "PLAN-30D", "quantity": "三"}, "quantity", "申込書!E18", "整数"),
        ({"plan_sku": "PLAN-30D"}, "quantity", "申込書!E18", "必須"),
        ({"quantity": 2}, "plan_sku", "申込書!C18", "必須"),
        ({"plan_sku": "PLAN 30D", "quantity": 2}, "plan_sku", "申込書!C18", "形式"),
        (
            {"plan_sku": "PLAN-30D", "quantity": 2, "campaign_code": "new!"},
            "campaign_code",
            "申込書!F18",
            "形式",
        ),
    ],
)
def test_a_failing_order_line_is_named_by_its_cell(line, column, cell, message):
    errors = errors_of(forms.write_example(valid(lines=[line])))
    assert set(errors) == {f"lines[0].{column}"}
    error = errors[f"lines[0].{column}"]
    assert error.cell == cell and message in error.message
    assert error.label == f"ご注文内容 1行目 {forms.labels(V1)['lines.' + column]}"


def test_blank_rows_between_lines_are_skipped_and_cells_stay_exact():
    def gap(workbook):
        sheet = workbook["申込書"]
        for column in "BCDEF":
            sheet[f"{column}20"] = sheet[f"{column}19"].value
            sheet[f"{column}19"] = None

    read = forms.read_form(_edited(forms.write_example(valid()), gap))
    assert read.values is not None and len(read.values.lines) == 2
    assert read.where["lines[1].plan_sku"] == "申込書!C20"


def test_a_form_with_no_order_line_names_the_table():
    errors = errors_of(forms.write_example(valid(lines=[])))
    assert errors["lines"].cell == "申込書!B18"
    assert "1行以上" in errors["lines"].message


def test_many_failures_are_all_reported_at_once():
    errors = errors_of(
        forms.write_example(
            valid(**{"customer.email": "x", "payment_method": None}, lines=[{"quantity": -1}])
        )
    )
    assert set(errors) == {
        "customer.email",
        "payment_method",
        "lines[0].plan_sku",
        "lines[0].quantity",
    }


def test_numbers_and_dates_typed_as_text_are_read():
    read = forms.read_form(
        forms.write_example(
            valid(
                application_date="２０２６年１１月２４日",
                lines=[{"plan_sku": "PLAN-30D", "quantity": "１２０"}],
            )
        )
    )
    assert read.values is not None
    assert read.values.fields["application_date"] == date(2026, 11, 24)
    assert read.values.lines[0]["quantity"] == 120


# ---- the values as text (fix and retry) ----------------------------------------------------


def test_the_values_as_text_are_checked_with_the_same_rules_and_corrections_pass():
    read = forms.read_form(forms.write_example(valid(**{"customer.email": "x@"})))
    assert read.values is None and read.raw["customer.email"] == "x@"
    assert read.raw["application_date"] == "2026-11-24"
    assert read.raw["lines[0].quantity"] == "3"
    again = forms.check_values(read.version, read.raw, read.where)
    assert [(e.cell, e.field) for e in again.errors] == [("申込書!C14", "customer.email")]
    fixed = forms.check_values(
        read.version, {**read.raw, "customer.email": "hanako@minato.example.jp"}, read.where
    )
    assert fixed.values is not None and not fixed.errors
    assert fixed.values.fields["delivery.installation_needed"] is False
    assert fixed.values.lines[0]["quantity"] == 3


def test_a_correction_naming_no_field_of_the_form_is_refused():
    read = forms.read_form(forms.write_example(valid()))
    again = forms.check_values(read.version, {**read.raw, "customer.fax": "03"}, read.where)
    assert [e.field for e in again.errors] == ["customer.fax"]


# ---- writing -------------------------------------------------------------------------------


def test_text_that_looks_like_a_formula_is_written_as_text():
    data = forms.write_example(valid(**{"customer.address_line2": "=HYPERLINK(1)"}))
    sheet = load_workbook(io.BytesIO(data))["申込書"]
    assert sheet["C12"].data_type == "s"
    read = forms.read_form(data)
    assert read.values is not None
    assert read.values.fields["customer.address_line2"] == "=HYPERLINK(1)"


def test_the_blank_template_has_every_label_and_its_version():
    data = forms.write_example({}, V2)
    sheet = load_workbook(io.BytesIO(data))["申込書"]
    assert sheet["H2"].value == V2
    assert sheet["B16"].value == "メールアドレス"
    assert sheet["C20"].value == "プラン"
    read = forms.read_form(data)
    assert read.version == V2 and read.values is None


# ---- round trip ----------------------------------------------------------------------------


def _text_for(spec: forms.FieldSpec) -> st.SearchStrategy[str]:
    if spec.pattern is not None:
        base = st.from_regex(spec.pattern, fullmatch=True)
    else:
        base = st.text(st.characters(codec="utf-8", categories=("L", "N", "P", "Zs")), min_size=1)
    return base.filter(
        lambda s: (
            s == s.strip()
            and 0 < len(s) <= spec.max_length
            and not forms.illegal_text(s)
            and (spec.pattern is None or re.fullmatch(spec.pattern, nfkc(s)))
        )
    )


def _value_for(spec: forms.FieldSpec) -> st.SearchStrategy[Any]:
    if spec.type == "integer":
        return st.integers(spec.minimum or -(10**9), spec.maximum or 10**9)
    if spec.type == "date":
        return st.dates(date(1990, 1, 1), date(2099, 12, 31))
    if spec.type == "choice":
        assert spec.choices
        return st.sampled_from(list(spec.choices.values()))
    return _text_for(spec)


def _maybe(spec: forms.FieldSpec) -> st.SearchStrategy[Any]:
    return _value_for(spec) if spec.required else st.none() | _value_for(spec)


@st.composite
def form_values(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    version = draw(st.sampled_from(sorted(forms.layouts())))
    chosen = forms.layout(version)
    values: dict[str, Any] = {name: draw(_maybe(spec)) for name, spec in chosen.fields.items()}
    count = draw(st.integers(1, min(3, chosen.lines.last_row - chosen.lines.first_row + 1)))
    values["lines"] = [
        {name: draw(_maybe(spec)) for name, spec in chosen.lines.columns.items()}
        for _ in range(count)
    ]
    return version, values


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(form_values())
def test_write_example_then_read_gives_the_same_values(example):
    version, values = example
    read = forms.read_form(forms.write_example(values, version))
    assert read.errors == [], read.errors
    assert read.values is not None and read.version == version
    expected = {name: value for name, value in values.items() if name != "lines"}
    assert read.values.fields == expected
    assert read.values.lines == values["lines"]
    again = forms.check_values(version, read.raw, read.where)
    assert again.values == read.values


def test_text_a_workbook_cannot_hold_is_recognized():
    assert forms.illegal_text("a\x01b") and forms.illegal_text("0@0.\ufffe")
    assert forms.illegal_text("\uffff") and forms.illegal_text("\ud800")
    assert not forms.illegal_text("株式会社みなと物流 ｶ) 〒105-0022\t")
