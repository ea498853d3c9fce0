"""The files exchanged with the warehouse: the shipping instructions we send (出荷指示) and the
serial numbers of the devices it shipped, which it sends back.

Pure: bytes in, values out (or values in, bytes out). Whether a shipment exists, a model
matches the order or a serial is active elsewhere needs the database and is the caller's
check; so is "shipped in the future", which needs the business date (``future_dated``).
The layouts, encodings and rules are described for people in ``docs/fulfilment.md``.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from monosub.domain.deals import normalize_sku
from monosub.domain.devices import normalize_serial
from monosub.domain.text import DASHES, hyphens, nfkc
from monosub.errors import ValidationFailed
from monosub.formats import csv_export
from monosub.formats.csv_rows import read_csv, read_date
from monosub.intake.kinds import Parsed, RowError

# ---- the shipping instruction file (出荷指示) ------------------------------------------------

InstructionEncoding = Literal["utf-8-sig", "cp932"]


@dataclass(frozen=True)
class InstructionLine:
    """One line of a shipping instruction: one model of one shipment, with its quantity."""

    shipment_id: str
    ship_date: date  # 出荷予定日
    delivery_date: date | None  # 配送希望日; None: as soon as possible
    postal_code: str
    address: str  # prefecture, city and lines, joined
    company_name: str | None
    recipient_name: str
    recipient_phone: str
    device_sku: str
    device_name: str
    quantity: int
    installation: bool  # the device is installed by an engineer (設置工事)
    note: str = ""


# Field -> column header, in the file's order.
INSTRUCTION_HEADERS: dict[str, str] = {
    "shipment_id": "出荷指示番号",
    "ship_date": "出荷予定日",
    "delivery_date": "配送希望日",
    "postal_code": "郵便番号",
    "address": "住所",
    "company_name": "会社名",
    "recipient_name": "受取人",
    "recipient_phone": "電話番号",
    "device_sku": "機種コード",
    "device_name": "機種名",
    "quantity": "数量",
    "installation": "設置工事",
    "note": "備考",
}
INSTRUCTION_COLUMNS: tuple[str, ...] = tuple(INSTRUCTION_HEADERS.values())
INSTALLATION_LABELS = {True: "要", False: "不要"}

# A cell Excel would take for a formula (CSV injection) is written as every CSV of monosub
# writes it (``csv_export.cell``: a leading apostrophe, which Excel shows and never
# evaluates). The warehouse's own system reads the apostrophe too: only free text (a company
# called "+Style", a note) ever starts so; ids, dates, postal codes, phones, SKUs and
# quantities never do.
# Control characters (CR, LF, tab…) and the Unicode line and paragraph separators.
_BREAKS = frozenset({"Cc", "Zl", "Zp"})


def instruction_file(lines: Sequence[InstructionLine], *, encoding: InstructionEncoding) -> bytes:
    """The instruction file for ``lines``, in their order: CSV with a header row, CRLF line
    ends, dates ``YYYY-MM-DD``, 設置工事 ``要``/``不要``.

    Line breaks and other control characters inside a value become spaces (warehouse systems
    read one record per line). A value starting with ``= + - @`` (after spaces) gets a
    leading apostrophe (``csv_export.cell``). In cp932 a character without a code is replaced
    by its compatible form when there is one (NFKC: a no-break space by a space; a dash by
    ``-``); any other (emoji, 𠮷) refuses the whole file with ``ValidationFailed``, one
    detail per shipment and field, so every value to correct is known at once.
    """
    rows = [[_cell(getattr(line, name)) for name in INSTRUCTION_HEADERS] for line in lines]
    problems = []
    for line, row in zip(lines, rows, strict=True):
        for index, (name, value) in enumerate(zip(INSTRUCTION_HEADERS, row, strict=True)):
            written, unwritable = _encodable(value, encoding)
            row[index] = written
            if unwritable:
                problems.append(
                    {
                        "shipment_id": line.shipment_id,
                        "field": name,
                        "message": f"{INSTRUCTION_HEADERS[name]} has characters that cannot "
                        f"be written in {encoding}: {', '.join(unwritable)}",
                        "value": value,
                    }
                )
    if problems:
        shipments = sorted({p["shipment_id"] for p in problems})
        raise ValidationFailed(
            f"the instruction file cannot be written in {encoding}: correct "
            f"{len(problems)} value(s) of shipment(s) {', '.join(shipments)}",
            details=problems,
        )
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(INSTRUCTION_COLUMNS)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return INSTALLATION_LABELS[value]
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int):
        return str(value)
    return csv_export.cell(
        "".join(" " if unicodedata.category(ch) in _BREAKS else ch for ch in str(value))
    )


def _encodable(text: str, encoding: str) -> tuple[str, list[str]]:
    """``text`` with each character that ``encoding`` lacks replaced by a compatible one
    (NFKC, or ``-`` for a dash), and the characters that have none (as ``😀 (U+1F600)``)."""
    try:
        text.encode(encoding)
        return text, []
    except UnicodeEncodeError:
        pass
    written, unwritable = [], []
    for ch in text:
        for candidate in (ch, nfkc(ch), hyphens(ch) if ch in DASHES else None):
            if candidate is not None and _fits(candidate, encoding):
                written.append(candidate)
                break
        else:
            written.append(ch)
            name = f"{ch} (U+{ord(ch):04X})"
            if name not in unwritable:
                unwritable.append(name)
    return "".join(written), unwritable


def _fits(text: str, encoding: str) -> bool:
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


# ---- the shipped-serials file ----------------------------------------------------------------

SHIPPED_COLUMNS = ("shipment_id", "model", "serial", "ship_date", "carrier", "tracking_number")
# Header -> column, for files the warehouse's system writes with Japanese headers.
SHIPPED_ALIASES: dict[str, str] = {
    "出荷指示番号": "shipment_id",
    "機種コード": "model",
    "シリアル番号": "serial",
    "シリアルナンバー": "serial",
    "出荷日": "ship_date",
    "配送業者": "carrier",
    "運送会社": "carrier",
    "追跡番号": "tracking_number",
    "送り状番号": "tracking_number",
    "伝票番号": "tracking_number",
}
MAX_SHIPPED_ROWS = 100_000
# A ship date outside these years is a typo (1926 for 2026, a spreadsheet's day number).
SHIP_DATE_YEARS = (2000, 2099)
MAX_CARRIER_LENGTH = 40
_SHIPMENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Domestic tracking numbers are digits, often grouped by hyphens (ヤマト 1234-5678-9012);
# international ones mix letters (EJ123456789JP). 6 to 40 characters, no hyphen at an end.
_TRACKING_NUMBER = re.compile(r"[A-Z0-9][A-Z0-9-]{4,38}[A-Z0-9]")


@dataclass(frozen=True)
class ShippedDevice:
    """One device the warehouse shipped, as its file says (values normalised)."""

    line: int  # the line in the file, the header being line 1
    shipment_id: str
    model: str
    serial: str
    ship_date: date
    carrier: str
    tracking_number: str


def parse_shipped_devices(data: bytes) -> Parsed:
    """Every row of a shipped-serials file, checked on its own and against the other rows
    (no serial twice). ``rows`` are the valid ``ShippedDevice``s, ``errors`` one
    ``RowError`` per bad value, with its line and column.

    Raises ``FileRejected`` when the file cannot be read as a whole: not UTF-8 (with or
    without BOM) nor cp932, a required column missing or named twice, no data rows, more
    than ``MAX_SHIPPED_ROWS`` rows.
    """
    table = read_csv(
        data,
        required=SHIPPED_COLUMNS,
        aliases=SHIPPED_ALIASES,
        ignore_unknown=True,
        max_rows=MAX_SHIPPED_ROWS,
    )
    parsed = Parsed()
    first_line_of: dict[str, int] = {}
    for row in table:
        if "__error__" in row.values:
            parsed.errors.append(RowError(row.line, row.values["__error__"]))
            continue
        errors: list[RowError] = []
        values = _shipped_values(row.line, row.values, errors)
        serial = values.get("serial")
        if isinstance(serial, str):
            first = first_line_of.setdefault(serial, row.line)
            if first != row.line:
                errors.append(
                    RowError(
                        row.line,
                        f"serial {serial} is on line {first} already",
                        "serial",
                        row.values["serial"],
                    )
                )
        if errors:
            parsed.errors += errors
            continue
        parsed.rows.append(ShippedDevice(line=row.line, **values))
    return parsed


def _shipped_values(line: int, raw: Mapping[str, str], errors: list[RowError]) -> dict[str, Any]:
    """The row's values normalised; each bad one adds an error and is left out."""
    readers = {
        "shipment_id": _shipment_id,
        "model": _model,
        "serial": normalize_serial,
        "ship_date": _ship_date,
        "carrier": _carrier,
        "tracking_number": _tracking_number,
    }
    values: dict[str, Any] = {}
    for column, read in readers.items():
        text = raw[column]
        if not text:
            errors.append(RowError(line, "required", column))
            continue
        try:
            values[column] = read(text)
        except ValueError as error:
            errors.append(RowError(line, str(error), column, text[:200]))
    return values


def _shipment_id(value: str) -> str:
    shipment_id = nfkc(value).strip()
    if not _SHIPMENT_ID.fullmatch(shipment_id):
        raise ValueError("a shipment id is 1 to 64 ASCII letters, digits, '_' or '-'")
    return shipment_id


def _model(value: str) -> str:
    """The catalog's SKU of the model; the warehouse may type it in lower case."""
    return normalize_sku(value.upper())


def _ship_date(value: str) -> date:
    day = read_date(value)
    first, last = SHIP_DATE_YEARS
    if not first <= day.year <= last:
        raise ValueError(f"{day.isoformat()} is not a plausible ship date ({first} to {last})")
    return day


def _carrier(value: str) -> str:
    carrier = " ".join(nfkc(value).split())
    if len(carrier) > MAX_CARRIER_LENGTH:
        raise ValueError(f"a carrier's name is at most {MAX_CARRIER_LENGTH} characters")
    return carrier


def _tracking_number(value: str) -> str:
    """Full width and dashes as typed in Japan normalised, spaces removed, upper case."""
    number = hyphens("".join(nfkc(value).split())).upper()
    if not _TRACKING_NUMBER.fullmatch(number):
        raise ValueError(
            "a tracking number is 6 to 40 ASCII letters, digits or hyphens "
            "(1234-5678-9012, EJ123456789JP)"
        )
    return number


def future_dated(rows: Iterable[ShippedDevice], today: date) -> list[RowError]:
    """An error for each device shipped after ``today`` (the business date, Asia/Tokyo)."""
    return [
        RowError(
            row.line,
            f"shipped on {row.ship_date.isoformat()}, after today ({today.isoformat()}, "
            "Asia/Tokyo)",
            "ship_date",
            row.ship_date.isoformat(),
        )
        for row in rows
        if row.ship_date > today
    ]
