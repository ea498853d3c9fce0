"""Excel application forms (申込書): which cell holds what is data, one JSON file per form
version (``monosub/data/application_forms/<form>-<version>.json``), so a new version of the
paper form is a new file and no code (docs/application-forms.md).

Pure: bytes in, the form's typed values or the exact cells that failed out (``read_form``);
the strings ops corrected in, the same checks (``check_values``); values in, a filled
workbook out (``write_example``). Whether a SKU is sold, the rep exists or the agency is
known needs the database and is the caller's check.

Only a plain ``.xlsx`` is read: a workbook with macros or embedded objects is refused whole
(nothing executable is accepted), as are the old binary ``.xls``, a file or sheet too large,
and a form whose version cell names no known layout.
"""

from __future__ import annotations

import functools
import io
import json
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.utils import absolute_coordinate, quote_sheetname
from openpyxl.utils.cell import (
    column_index_from_string,
    coordinate_from_string,
    get_column_letter,
)
from openpyxl.workbook.defined_name import DefinedName
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from monosub.domain.text import nfkc
from monosub.intake.kinds import FileRejected

LAYOUTS = Path(__file__).resolve().parent.parent / "data" / "application_forms"
DEFAULT_VERSION = "MS-APP-2026.1"
VERSION_NAME = "form_version"  # the named range that says which version a workbook is

MAX_FILE_BYTES = 2 * 1024 * 1024  # a one-page form is some 10 KB
MAX_UNPACKED_BYTES = 20 * 1024 * 1024  # a zip that unpacks to more is refused unread
MAX_SHEET_ROWS = 500
MAX_SHEET_COLUMNS = 50
MAX_LINES = 50

FieldType = Literal["text", "integer", "date", "choice"]
Typed = str | int | bool | date | None

# The fields the application-form service maps to a customer and deal, with their type. A
# layout must have the ``MUST`` ones; it may add any other field (kept with the deal's
# history, e.g. 備考).
KNOWN_FIELDS: dict[str, FieldType] = {
    "application_date": "date",
    "customer.segment": "choice",
    "customer.name": "text",
    "customer.kana": "text",
    "customer.postal_code": "text",
    "customer.prefecture": "text",
    "customer.city": "text",
    "customer.address_line1": "text",
    "customer.address_line2": "text",
    "customer.phone": "text",
    "customer.email": "text",
    "customer.contact_person": "text",
    "delivery.postal_code": "text",
    "delivery.prefecture": "text",
    "delivery.city": "text",
    "delivery.address_line1": "text",
    "delivery.address_line2": "text",
    "delivery.company_name": "text",
    "delivery.recipient_name": "text",
    "delivery.recipient_phone": "text",
    "delivery.requested_date": "date",
    "delivery.installation_needed": "choice",
    "payment_method": "choice",
    "rep": "text",
    "agency_code": "text",
}
MUST_FIELDS = (
    "application_date",
    "customer.segment",
    "customer.name",
    "customer.contact_person",
    "customer.email",
    "payment_method",
)
KNOWN_COLUMNS: dict[str, FieldType] = {
    "device_sku": "text",
    "plan_sku": "text",
    "option_skus": "text",
    "quantity": "integer",
    "campaign_code": "text",
}
MUST_COLUMNS = ("plan_sku", "quantity")
# What a known choice may mean.
CHOICE_VALUES: dict[str, frozenset[Any]] = {
    "customer.segment": frozenset({"corporate", "residential"}),
    "payment_method": frozenset({"card", "direct-debit", "bank-transfer", "convenience-store"}),
    "delivery.installation_needed": frozenset({True, False}),
}

_CELL = re.compile(r"[A-Z]{1,3}[1-9][0-9]{0,6}")
_COLUMN = re.compile(r"[A-Z]{1,3}")
_DATE_TEXT = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")
_INTEGER_TEXT = re.compile(r"[+-]?\d+")


# ---- the layout ----------------------------------------------------------------------------


class FieldSpec(BaseModel):
    """How one value is read: its label (shown in errors), type and checks."""

    model_config = ConfigDict(extra="forbid")

    label: str = Field(min_length=1, max_length=100)
    type: FieldType = "text"
    required: bool = False
    pattern: str | None = Field(default=None, description="Matched whole, on the NFKC text")
    hint: str | None = Field(default=None, description="Added to a pattern's error: an example")
    max_length: int = Field(default=200, ge=1, le=2000)
    minimum: int | None = None
    maximum: int | None = None
    choices: dict[str, str | bool] | None = Field(
        default=None, description="choice: what is written on the form → the value it means"
    )

    @model_validator(mode="after")
    def consistent(self) -> FieldSpec:
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as error:
                raise ValueError(f"pattern {self.pattern!r}: {error}") from error
        if (self.type == "choice") != bool(self.choices):
            raise ValueError("a choice field has choices, and only a choice field")
        if (self.minimum is not None or self.maximum is not None) and self.type != "integer":
            raise ValueError("minimum and maximum are for integer fields")
        if self.pattern is not None and self.type != "text":
            raise ValueError("a pattern is for text fields")
        return self


class CellField(FieldSpec):
    cell: str = Field(description="Where the value is, e.g. C7 (on the layout's sheet)")
    name: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$",
        description="A named range that, when the workbook defines it, says where instead",
    )


class ColumnField(FieldSpec):
    column: str = Field(description="The column of the order-lines table, e.g. B")


class LineTable(BaseModel):
    """The order lines (ご注文内容): rows ``first_row``..``last_row``, one line per row that
    is not blank; the header (the labels) is the row above."""

    model_config = ConfigDict(extra="forbid")

    label: str
    first_row: int = Field(ge=2, le=MAX_SHEET_ROWS)
    last_row: int = Field(ge=2, le=MAX_SHEET_ROWS)
    columns: dict[str, ColumnField]

    @model_validator(mode="after")
    def rows(self) -> LineTable:
        if not 0 <= self.last_row - self.first_row < MAX_LINES:
            raise ValueError(f"the table has 1 to {MAX_LINES} rows, first_row..last_row")
        return self


class Layout(BaseModel):
    """One version of the form: where every value is and how it is checked."""

    model_config = ConfigDict(extra="forbid")

    form: str = Field(pattern=r"^[A-Z][A-Z0-9-]{0,30}[A-Z0-9]$")
    version: str = Field(pattern=r"^[0-9][0-9A-Za-z.]{0,15}$")
    title: str
    sheet: str = Field(min_length=1, max_length=31)
    version_cell: str = Field(description="Where the form prints its version (without the name)")
    default_owner: str = Field(
        min_length=1, max_length=128, description="The deal's owner when the form names no rep"
    )
    fields: dict[str, CellField]
    lines: LineTable

    @property
    def key(self) -> str:
        """What the form's version cell holds, e.g. ``MS-APP-2026.1``."""
        return f"{self.form}-{self.version}"

    @model_validator(mode="after")
    def complete(self) -> Layout:
        problems: list[str] = []
        for name in MUST_FIELDS:
            if name not in self.fields:
                problems.append(f"field {name} is missing")
        for name in MUST_COLUMNS:
            if name not in self.lines.columns:
                problems.append(f"lines column {name} is missing")
        for name, spec in self.fields.items():
            problems += _known_type(name, spec, KNOWN_FIELDS)
        for name, column in self.lines.columns.items():
            problems += _known_type(
                f"lines.{name}", column, {f"lines.{k}": v for k, v in KNOWN_COLUMNS.items()}
            )
        taken: dict[tuple[int, int], str] = {}
        for what, cell in [("version_cell", self.version_cell)] + [
            (name, spec.cell) for name, spec in self.fields.items()
        ]:
            if not _CELL.fullmatch(cell):
                problems.append(f"{what}: {cell!r} is not a cell like C7")
                continue
            problems += _claim(taken, _position(cell), what)
        for name, column in self.lines.columns.items():
            if not _COLUMN.fullmatch(column.column):
                problems.append(f"lines column {name}: {column.column!r} is not a column like B")
                continue
            index = column_index_from_string(column.column)
            for row in range(self.lines.first_row - 1, self.lines.last_row + 1):
                problems += _claim(taken, (row, index), f"lines column {name}")
        outside = [
            what
            for (row, col), what in taken.items()
            if row > MAX_SHEET_ROWS or col > MAX_SHEET_COLUMNS
        ]
        problems += [f"{what} is beyond the sheet's limits" for what in sorted(set(outside))]
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _known_type(name: str, spec: FieldSpec, known: Mapping[str, FieldType]) -> list[str]:
    expected = known.get(name)
    if expected is not None and spec.type != expected:
        return [f"{name} is read as {expected}, not {spec.type}"]
    allowed = CHOICE_VALUES.get(name)
    if allowed is not None and spec.choices:
        odd = [str(v) for v in spec.choices.values() if v not in allowed]
        if odd:
            return [f"{name}: choices mean one of {sorted(map(str, allowed))}, not {odd}"]
    return []


def _claim(taken: dict[tuple[int, int], str], where: tuple[int, int], what: str) -> list[str]:
    other = taken.setdefault(where, what)
    if other != what:
        cell = f"{get_column_letter(where[1])}{where[0]}"
        return [f"{what} and {other} both use {cell}"]
    return []


def _position(cell: str) -> tuple[int, int]:
    letters, row = coordinate_from_string(cell)
    return row, column_index_from_string(letters)


class LayoutError(ValueError):
    """A shipped layout file is not valid (a deployment error, found by the unit tests)."""


def load_layout(path: Path) -> Layout:
    """One layout file, checked: its name must be ``<form>-<version>.json``."""
    try:
        layout = Layout.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (ValidationError, ValueError) as error:
        raise LayoutError(f"{path.name}: {error}") from error
    if path.stem != layout.key:
        raise LayoutError(f"{path.name}: holds {layout.key}; name the file {layout.key}.json")
    return layout


@functools.cache
def layouts() -> dict[str, Layout]:
    """Every shipped layout, by the version the form prints (``MS-APP-2026.1``)."""
    found = [load_layout(path) for path in sorted(LAYOUTS.glob("*.json"))]
    return {layout.key: layout for layout in found}


def layout(version: str) -> Layout:
    try:
        return layouts()[version]
    except KeyError:
        raise KeyError(f"no layout {version!r}; known: {', '.join(layouts())}") from None


# ---- results -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CellError:
    """One value that failed: where (``申込書!C7``), which field, what was found and why."""

    cell: str | None
    field: str
    label: str
    value: str
    message: str

    def as_dict(self) -> dict[str, str | None]:
        return {
            "cell": self.cell,
            "field": self.field,
            "label": self.label,
            "value": self.value,
            "message": self.message,
        }


@dataclass(frozen=True)
class FormValues:
    """A form whose every value passed: typed (None: left blank)."""

    version: str
    fields: dict[str, Typed]
    lines: list[dict[str, Typed]]


@dataclass(frozen=True)
class FormRead:
    """What a form said. ``raw`` holds every value as read, as text, by field (a line's by
    ``lines[<n>].<column>``); ``where`` the cell of each. ``values`` is None when a value
    failed (``errors`` says which)."""

    version: str
    raw: dict[str, str]
    where: dict[str, str]
    errors: list[CellError] = field(default_factory=list)
    values: FormValues | None = None


# ---- reading -------------------------------------------------------------------------------


def read_form(data: bytes) -> FormRead:
    """Read a filled form. File-level problems (not an .xlsx, macros, too large, an unknown
    version) raise ``FileRejected``; a value that fails is a ``CellError`` in the result."""
    _check_package(data)
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for a broken package
        raise FileRejected("unreadable", f"the workbook cannot be read: {error}") from error
    try:
        grids: dict[str, dict[tuple[int, int], Any]] = {}

        def cell_value(sheet: str, cell: str) -> Any:
            if sheet not in grids:
                grids[sheet] = _grid(workbook[sheet])
            return grids[sheet].get(_position(cell))

        names = _defined_names(workbook)
        sheets = set(workbook.sheetnames)
        chosen = _version_of(names, sheets, cell_value)
        where: dict[str, str] = {}
        cells: dict[str, Any] = {}
        for name, spec in chosen.fields.items():
            sheet, cell = names.get(spec.name or "", (chosen.sheet, spec.cell))
            if sheet not in sheets:
                raise FileRejected(
                    "wrong_form", f"form {chosen.key} has no sheet {sheet!r}; it cannot be read"
                )
            cells[name] = cell_value(sheet, cell)
            where[name] = f"{sheet}!{cell}"
        table = chosen.lines
        line = 0
        for row in range(table.first_row, table.last_row + 1):
            found = {
                column: cell_value(chosen.sheet, f"{column_spec.column}{row}")
                for column, column_spec in table.columns.items()
            }
            if all(_blank(value) for value in found.values()):
                continue
            for column, column_spec in table.columns.items():
                key = f"lines[{line}].{column}"
                cells[key] = found[column]
                where[key] = f"{chosen.sheet}!{column_spec.column}{row}"
            line += 1
        raw = {name: _as_text(value) for name, value in cells.items()}
        return _checked(chosen, cells, raw, where)
    finally:
        workbook.close()


def check_values(version: str, raw: Mapping[str, Any], where: Mapping[str, str]) -> FormRead:
    """The same checks on values given as text (a form's values as ops corrected them):
    ``raw`` by field as in ``FormRead.raw``; ``where`` names the cells in errors."""
    chosen = layout(version)
    texts = {str(name): _as_text(value) for name, value in raw.items()}
    return _checked(chosen, dict(texts), texts, dict(where))


def _checked(
    chosen: Layout, cells: Mapping[str, Any], raw: dict[str, str], where: dict[str, str]
) -> FormRead:
    errors: list[CellError] = []
    fields: dict[str, Typed] = {}
    for name, spec in chosen.fields.items():
        value, problem = convert(spec, cells.get(name))
        fields[name] = value
        if problem:
            errors.append(CellError(where.get(name), name, spec.label, raw.get(name, ""), problem))
    lines: list[dict[str, Typed]] = []
    for index in range(_line_count(cells)):
        prefix = f"lines[{index}]."
        if all(_blank(cells.get(prefix + column)) for column in chosen.lines.columns):
            continue  # a line ops cleared
        line: dict[str, Typed] = {}
        for column, column_spec in chosen.lines.columns.items():
            key = prefix + column
            value, problem = convert(column_spec, cells.get(key))
            line[column] = value
            if problem:
                label = f"{chosen.lines.label} {index + 1}行目 {column_spec.label}"
                errors.append(CellError(where.get(key), key, label, raw.get(key, ""), problem))
        lines.append(line)
    if not lines:
        first = next(iter(chosen.lines.columns.items()))
        errors.append(
            CellError(
                f"{chosen.sheet}!{first[1].column}{chosen.lines.first_row}",
                "lines",
                chosen.lines.label,
                "",
                "ご注文内容を1行以上ご記入ください (at least one order line)",
            )
        )
    extra = sorted(set(raw) - set(chosen.fields) - {k for k in raw if k.startswith("lines[")})
    for name in extra:
        errors.append(
            CellError(None, name, name, raw[name], f"form {chosen.key} has no field {name}")
        )
    values = None if errors else FormValues(chosen.key, fields, lines)
    return FormRead(chosen.key, raw, where, errors, values)


def _line_count(cells: Mapping[str, Any]) -> int:
    indexes = [int(m.group(1)) for k in cells if (m := re.match(r"lines\[(\d+)\]\.", k))]
    return max(indexes, default=-1) + 1


def convert(spec: FieldSpec, value: Any) -> tuple[Typed, str | None]:
    """A cell's value (or its text) as the field's type, or why it cannot be."""
    if _blank(value):
        return None, "必須項目です (required)" if spec.required else None
    if spec.type == "integer":
        return _integer(spec, value)
    if spec.type == "date":
        return _date(value)
    if spec.type == "choice":
        assert spec.choices is not None
        text = " ".join(nfkc(_as_text(value)).split())
        for label, meaning in spec.choices.items():
            if text == " ".join(nfkc(label).split()):
                return meaning, None
        return None, f"「{'」「'.join(spec.choices)}」のいずれかをご記入ください (one of these)"
    return _text(spec, value)


def _text(spec: FieldSpec, value: Any) -> tuple[Typed, str | None]:
    if isinstance(value, (datetime, date)):
        return None, "日付ではなく文字でご記入ください (text, not a date)"
    text = _as_text(value).strip()
    if len(text) > spec.max_length:
        return (
            None,
            f"{spec.max_length}文字以内でご記入ください (at most {spec.max_length} characters)",
        )
    if spec.pattern is not None and not re.fullmatch(spec.pattern, nfkc(text)):
        message = "形式が正しくありません (not in the expected form)"
        if spec.hint:
            message += f": {spec.hint}"
        if isinstance(value, (int, float)):
            message += (
                "。数値として入力されています: 先頭の0が消えていないかご確認ください "
                "(entered as a number: format the cell as text)"
            )
        return None, message
    return text, None


def _integer(spec: FieldSpec, value: Any) -> tuple[Typed, str | None]:
    number: int | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float):
        number = int(value) if value.is_integer() else None
    elif isinstance(value, str):
        text = nfkc(value).replace(",", "").strip()
        number = int(text) if _INTEGER_TEXT.fullmatch(text) else None
    if number is None:
        return None, "整数でご記入ください (a whole number)"
    if spec.minimum is not None and number < spec.minimum:
        return None, f"{spec.minimum}以上でご記入ください (at least {spec.minimum})"
    if spec.maximum is not None and number > spec.maximum:
        return None, f"{spec.maximum}以下でご記入ください (at most {spec.maximum})"
    return number, None


def _date(value: Any) -> tuple[Typed, str | None]:
    if isinstance(value, datetime):
        return value.date(), None
    if isinstance(value, date):
        return value, None
    problem = "日付でご記入ください (a date, e.g. 2026/12/10)"
    if not isinstance(value, str):
        return None, problem + "。数値として入力されています (a number: format the cell as a date)"
    text = nfkc(value).strip()
    match = _DATE_TEXT.fullmatch(text.removesuffix(" 00:00:00"))
    if match is None:
        return None, problem
    try:
        return date(*(int(part) for part in match.groups())), None
    except ValueError:
        return None, "存在しない日付です (no such date)"


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _as_text(value: Any) -> str:
    """A cell's value as ops see and correct it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, datetime):
        return (
            value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
        )
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _check_package(data: bytes) -> None:
    """A plain .xlsx, small enough, with nothing executable in it; else ``FileRejected``."""
    if len(data) > MAX_FILE_BYTES:
        raise FileRejected(
            "too_large",
            f"the file is {len(data):,} bytes; an application form is at most "
            f"{MAX_FILE_BYTES:,} bytes",
        )
    if data[:4] == b"\xd0\xcf\x11\xe0":
        raise FileRejected(
            "not_xlsx",
            "this is an old Excel 97-2003 (.xls) or a password-protected workbook: "
            "save the form as .xlsx (Excel ブック) without a password",
        )
    try:
        package = zipfile.ZipFile(io.BytesIO(data))
        entries = package.infolist()
        content_types = (
            package.read("[Content_Types].xml") if _has(entries, "[Content_Types].xml") else b""
        )
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as error:
        raise FileRejected("not_xlsx", f"this is not an .xlsx workbook ({error})") from error
    names = [entry.filename.lower() for entry in entries]
    if not content_types or "xl/workbook.xml" not in names:
        raise FileRejected("not_xlsx", "this is not an .xlsx workbook (no xl/workbook.xml)")
    executable = [
        name
        for name in names
        if name.endswith("vbaproject.bin")
        or name.startswith(("xl/activex/", "xl/embeddings/"))
        or name.endswith((".exe", ".dll", ".bin"))
    ]
    if executable or b"macroEnabled" in content_types:
        found = ", ".join(executable) or "a macro-enabled workbook"
        raise FileRejected(
            "macros",
            f"the workbook contains macros or embedded objects ({found}): nothing executable "
            "is accepted; save the form as .xlsx (Excel ブック) without macros",
        )
    if sum(entry.file_size for entry in entries) > MAX_UNPACKED_BYTES:
        raise FileRejected(
            "too_large", f"the workbook unpacks to more than {MAX_UNPACKED_BYTES:,} bytes"
        )


def _has(entries: Sequence[zipfile.ZipInfo], name: str) -> bool:
    return any(entry.filename == name for entry in entries)


def _grid(sheet: Any) -> dict[tuple[int, int], Any]:
    """The sheet's values by (row, column), refusing a sheet larger than a form can be."""
    grid: dict[tuple[int, int], Any] = {}
    rows = sheet.iter_rows(
        min_row=1,
        max_row=MAX_SHEET_ROWS + 1,
        min_col=1,
        max_col=MAX_SHEET_COLUMNS + 1,
        values_only=True,
    )
    for row_number, row in enumerate(rows, start=1):
        for column_number, value in enumerate(row, start=1):
            if value is None:
                continue
            if row_number > MAX_SHEET_ROWS or column_number > MAX_SHEET_COLUMNS:
                raise FileRejected(
                    "sheet_too_large",
                    f"sheet {sheet.title!r} has values beyond row {MAX_SHEET_ROWS} or column "
                    f"{get_column_letter(MAX_SHEET_COLUMNS)}: this is not an application form",
                )
            grid[(row_number, column_number)] = value
    return grid


def _defined_names(workbook: Any) -> dict[str, tuple[str, str]]:
    """Workbook-level named ranges of one cell: name → (sheet, cell)."""
    found: dict[str, tuple[str, str]] = {}
    for name, defined in workbook.defined_names.items():
        try:
            destinations = list(defined.destinations)
        except Exception:  # a name for a formula or an external reference: not a cell
            continue
        if len(destinations) == 1:
            sheet, reference = destinations[0]
            cell = reference.replace("$", "")
            if _CELL.fullmatch(cell):
                found[name] = (sheet, cell)
    return found


def _version_of(names: Mapping[str, tuple[str, str]], sheets: set[str], cell_value: Any) -> Layout:
    """The layout the workbook says it is: the ``form_version`` named range, else each
    layout's own version cell; FileRejected naming the cell(s) read when none matches."""
    places: list[tuple[str, str]] = []
    if VERSION_NAME in names:
        places.append(names[VERSION_NAME])
    places += [(known.sheet, known.version_cell) for known in layouts().values()]
    seen: list[str] = []
    for sheet, cell in dict.fromkeys(places):
        if sheet not in sheets:
            continue
        text = " ".join(nfkc(_as_text(cell_value(sheet, cell))).split())
        if text in layouts():
            return layouts()[text]
        seen.append(f"{sheet}!{cell} = {text!r}")
    where = (
        "; ".join(seen) or f"no sheet {', '.join(sorted({k.sheet for k in layouts().values()}))}"
    )
    raise FileRejected(
        "unknown_version",
        f"not a known application form version ({where}); known versions: {', '.join(layouts())}",
    )


# ---- writing -------------------------------------------------------------------------------


def write_example(values: Mapping[str, Any], version: str = DEFAULT_VERSION) -> bytes:
    """A filled form of ``version``: ``values`` by field (typed, or as written on the form;
    a choice by its meaning or its label) and ``lines`` (a list of dicts by column). With no
    values it is the blank template. Labels sit left of their cells."""
    chosen = layout(version)
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = chosen.sheet
    sheet["A1"] = chosen.title
    _label_and_value(sheet, chosen.version_cell, "様式", chosen.key)
    workbook.defined_names[VERSION_NAME] = DefinedName(
        VERSION_NAME,
        attr_text=f"{quote_sheetname(chosen.sheet)}!{absolute_coordinate(chosen.version_cell)}",
    )
    for name, spec in chosen.fields.items():
        _label_and_value(sheet, spec.cell, spec.label, _written(spec, values.get(name)))
        if spec.name:
            workbook.defined_names[spec.name] = DefinedName(
                spec.name,
                attr_text=f"{quote_sheetname(chosen.sheet)}!{absolute_coordinate(spec.cell)}",
            )
    table = chosen.lines
    for column_spec in table.columns.values():
        sheet[f"{column_spec.column}{table.first_row - 1}"] = column_spec.label
    lines: Sequence[Mapping[str, Any]] = values.get("lines") or ()
    if len(lines) > table.last_row - table.first_row + 1:
        raise ValueError(
            f"form {chosen.key} has room for {table.last_row - table.first_row + 1} lines"
        )
    for offset, line in enumerate(lines):
        for column, column_spec in table.columns.items():
            cell = f"{column_spec.column}{table.first_row + offset}"
            _put(sheet, cell, _written(column_spec, line.get(column)))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _label_and_value(sheet: Any, cell: str, label: str, value: Any) -> None:
    row, column = _position(cell)
    if column > 1 and sheet.cell(row=row, column=column - 1).value is None:
        sheet.cell(row=row, column=column - 1, value=label)
    _put(sheet, cell, value)


def _put(sheet: Any, cell: str, value: Any) -> None:
    if value is None:
        return
    target = sheet[cell]
    target.value = value
    if isinstance(value, str):
        target.data_type = "s"  # never a formula, even for text starting with "="


def _written(spec: FieldSpec, value: Any) -> Any:
    """What the form shows for a value: a choice's label for its meaning."""
    if value is None or spec.choices is None:
        return value
    for label, meaning in spec.choices.items():
        if value == meaning and type(value) is type(meaning):
            return label
    return value


def labels(version: str = DEFAULT_VERSION) -> dict[str, str]:
    """Field → its label on the form (a line's column as ``lines.<column>``)."""
    chosen = layout(version)
    found = {name: spec.label for name, spec in chosen.fields.items()}
    found.update({f"lines.{k}": v.label for k, v in chosen.lines.columns.items()})
    return found


# What XML 1.0 (a workbook's cells) cannot hold beyond openpyxl's control characters: the
# non-characters U+FFFE and U+FFFF and lone surrogates (lxml refuses them when saving).
_NOT_XML = re.compile("[\ud800-\udfff\ufffe\uffff]")


def illegal_text(text: str) -> bool:
    """Characters a workbook cannot hold (control characters, XML non-characters)."""
    return bool(ILLEGAL_CHARACTERS_RE.search(text) or _NOT_XML.search(text))


__all__ = [
    "DEFAULT_VERSION",
    "CellError",
    "FormRead",
    "FormValues",
    "Layout",
    "LayoutError",
    "check_values",
    "convert",
    "labels",
    "layout",
    "layouts",
    "load_layout",
    "read_form",
    "write_example",
]
