"""A bank's deposit statement as its internet banking exports it (入出金明細 CSV), read by a
column mapping into ``monosub.formats.statement.StatementEntry``: the shape bank-transfer
matching reads, whatever the statement's format (the 全銀 fixed-width one is
``monosub.formats.zengin_statement``).

Banks differ in headers (取引日 or 日付, 入金金額 or お預り金額), encoding (mostly cp932) and
dates (``2026/11/24``, or 和暦 ``R8.11.24`` / ``令和8年11月24日``), so ``StatementMapping``
names them; ``BANK_CSV_DEFAULT`` is a common layout. Deposits are positive amounts,
withdrawals negative; matching reads the deposits.

Payer names (振込依頼人名) are brought to the form banks print them, half-width kana and
upper-case ASCII (``ﾔﾏﾀﾞ ﾀﾛｳ``), whatever width the export used, so that a name matches the
customer's registered kana. Only the width: the 全銀 character rules (small kana, the
characters a 全銀 field may hold) are ``monosub.formats.zengin.to_zengin_kana``'s.

Streaming, pure: bytes in, values out; ``write_bank_statement`` writes one for tests.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from typing import BinaryIO, Literal

import jaconv
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from monosub.formats.csv_rows import (
    AmountStyle,
    SeenIds,
    header_columns,
    open_text,
    stream_records,
    yen_reader,
)
from monosub.formats.statement import StatementEntry
from monosub.intake.kinds import RowError

StatementField = Literal[
    "transaction_date",
    "value_date",
    "deposit",
    "withdrawal",
    "payer_name",
    "payer_code",
    "reference",
    "virtual_account",
    "description",
]
DateStyle = Literal["any", "western", "wareki"]
_REQUIRED: frozenset[str] = frozenset({"transaction_date", "deposit", "payer_name", "reference"})
MAX_TEXT = 200


class StatementMapping(BaseModel):
    """How one bank writes its statement CSV (loadable from JSON)."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    bank: str = Field(min_length=1, max_length=40)
    encoding: Literal["utf-8", "cp932"] = "cp932"
    delimiter: Literal[",", "\t", ";"] = ","
    columns: dict[StatementField, tuple[str, ...]] = Field(
        description="Per field, the headers that may hold it, in order of preference"
    )
    date_style: DateStyle = Field(
        default="any", description="western: 2026/11/24; wareki: R8.11.24; any: either"
    )
    amount_style: AmountStyle = "comma"

    @field_validator("columns", mode="before")
    @classmethod
    def one_or_more_headers(cls, columns: object) -> object:
        if isinstance(columns, dict):
            return {k: (v,) if isinstance(v, str) else v for k, v in columns.items()}
        return columns

    @model_validator(mode="after")
    def complete(self) -> StatementMapping:
        given = {name for name, headers in self.columns.items() if headers}
        missing = sorted(_REQUIRED - given)
        if missing:
            raise ValueError(f"columns names no header for {', '.join(missing)}")
        return self


BANK_CSV_DEFAULT = StatementMapping(
    bank="default",
    encoding="cp932",
    columns={
        "transaction_date": ("取引日", "勘定日", "日付"),
        "value_date": ("起算日",),
        "deposit": ("入金金額", "入金額", "お預り金額", "お預入金額"),
        "withdrawal": ("出金金額", "出金額", "お引出金額", "お支払金額"),
        "payer_name": ("振込依頼人名", "依頼人名"),
        "payer_code": ("振込依頼人コード", "依頼人コード"),
        "reference": ("照会番号", "取引番号", "明細番号"),
        "virtual_account": ("振込先口座番号", "バーチャル口座番号", "入金口座番号"),
        "description": ("摘要", "取引内容", "お取引内容"),
    },
    date_style="any",
    amount_style="comma",
)


# ---- payer names ---------------------------------------------------------------------------


def normalize_payer_name(name: str) -> str:
    """A payer name as banks print it: full-width kana, letters and digits half-width
    (``ヤマダ　タロウ`` -> ``ﾔﾏﾀﾞ ﾀﾛｳ``), ASCII letters upper-case, spaces collapsed.

    Width only: hiragana, kanji and the 全銀 rules (small ``ｬ`` written ``ﾔ``, the
    characters allowed) are left to ``monosub.formats.zengin.to_zengin_kana``.
    """
    half = jaconv.z2h(name, kana=True, ascii=True, digit=True)
    return " ".join(half.upper().split())


# ---- dates ---------------------------------------------------------------------------------

# 和暦: the eras a statement may name, with the day each began. A date before its era began
# is refused (R1.04.30 is not a day); one after the next began is read (systems that kept
# printing 平成31年 in May 2019 exist).
ERAS: dict[str, tuple[str, date]] = {
    "M": ("明治", date(1868, 10, 23)),
    "T": ("大正", date(1912, 7, 30)),
    "S": ("昭和", date(1926, 12, 25)),
    "H": ("平成", date(1989, 1, 8)),
    "R": ("令和", date(2019, 5, 1)),
}
_ERA_BY_NAME = {name: letter for letter, (name, _) in ERAS.items()} | {
    name[0]: letter for letter, (name, _) in ERAS.items()
}
_WAREKI = re.compile(
    r"(?P<era>[MTSHR]|明治|大正|昭和|平成|令和|[明大昭平令])\s*(?P<year>\d{1,2}|元)"
    r"(?:[./-](?P<m1>\d{1,2})[./-](?P<d1>\d{1,2})|年(?P<m2>\d{1,2})月(?P<d2>\d{1,2})日)",
    re.ASCII,
)
_WESTERN = re.compile(
    r"(?P<y1>\d{4})[./-](?P<m1>\d{1,2})[./-](?P<d1>\d{1,2})"
    r"|(?P<y2>\d{4})年(?P<m2>\d{1,2})月(?P<d2>\d{1,2})日"
    r"|(?P<y3>\d{4})(?P<m3>\d{2})(?P<d3>\d{2})",
    re.ASCII,
)


def read_statement_date(text: str, style: DateStyle = "any") -> date:
    """A statement date: ``2026/11/24``, ``2026-11-24``, ``20261124``, ``2026年11月24日``
    (western) or ``R8.11.24``, ``R08/11/24``, ``令和8年11月24日``, ``令和元年5月1日`` (和暦).
    Full-width digits are read. Raises ``ValueError`` naming the forms."""
    value = unicodedata.normalize("NFKC", text).strip().upper()
    if style != "western" and (match := _WAREKI.fullmatch(value)):
        letter = _ERA_BY_NAME.get(match["era"], match["era"])
        era_name, began = ERAS[letter]
        year = 1 if match["year"] == "元" else int(match["year"])
        if year < 1:
            raise ValueError(f"{text}: {era_name} starts at year 1 (元年)")
        day = _calendar_day(
            text, began.year + year - 1, match["m1"] or match["m2"], match["d1"] or match["d2"]
        )
        if day < began:
            raise ValueError(f"{text}: {era_name} began on {began.isoformat()}")
        return day
    if style != "wareki" and (match := _WESTERN.fullmatch(value)):
        n = next(n for n in (1, 2, 3) if match[f"y{n}"])
        return _calendar_day(text, int(match[f"y{n}"]), match[f"m{n}"], match[f"d{n}"])
    forms = {
        "any": "2026/11/24 or R8.11.24",
        "western": "2026/11/24",
        "wareki": "R8.11.24 or 令和8年11月24日",
    }[style]
    raise ValueError(f"{text} is not a date written {forms}")


def _calendar_day(text: str, year: int, month: str, day: str) -> date:
    try:
        return date(year, int(month), int(day))
    except ValueError:
        raise ValueError(f"{text} is not a day of the calendar") from None


# ---- reading -------------------------------------------------------------------------------


def iter_bank_statement(
    stream: BinaryIO, mapping: StatementMapping = BANK_CSV_DEFAULT, *, account: str = ""
) -> Iterator[StatementEntry | RowError]:
    """Each line of the statement in ``stream`` as a ``StatementEntry`` of ``account``
    (deposits positive, withdrawals negative) or, for each bad value, a ``RowError`` with
    its line and field. Read as iterated.

    Per row: a date; exactly one of deposit and withdrawal, whole yen above zero; a
    reference for a deposit, not seen on an earlier line (a statement exported twice into
    one file); digits for the payer code and virtual account. Raises ``FileRejected`` for
    the file as a whole (encoding, a required column missing or twice, no rows).
    """
    header, records = stream_records(
        open_text(stream, mapping.encoding), delimiter=mapping.delimiter
    )
    at = header_columns(header, mapping.columns, _REQUIRED)
    amount = yen_reader(mapping.amount_style)
    seen = SeenIds()

    def cell(cells: list[str], name: StatementField) -> str:
        index = at.get(name)
        return "" if index is None else cells[index].strip()

    for record in records:
        if isinstance(record, RowError):
            yield record
            continue
        line, cells = record
        errors: list[RowError] = []
        transaction_date = _value(
            line,
            cell(cells, "transaction_date"),
            "transaction_date",
            lambda t: read_statement_date(t, mapping.date_style),
            errors,
            required=True,
        )
        value_date = _value(
            line,
            cell(cells, "value_date"),
            "value_date",
            lambda t: read_statement_date(t, mapping.date_style),
            errors,
        )
        signed = _signed_amount(
            line, cell(cells, "deposit"), cell(cells, "withdrawal"), amount, errors
        )
        reference = cell(cells, "reference")
        if signed is not None and signed > 0:
            if not reference:
                errors.append(RowError(line, "required for a deposit", "reference"))
            elif first := seen.add(reference, line):
                errors.append(
                    RowError(
                        line,
                        f"reference {reference} is on line {first} already: is the statement "
                        "in the file twice?",
                        "reference",
                        reference[:MAX_TEXT],
                    )
                )
        payer_code = _digits(line, cell(cells, "payer_code"), "payer_code", errors)
        virtual_account = _digits(line, cell(cells, "virtual_account"), "virtual_account", errors)
        if errors:
            yield from errors
            continue
        assert transaction_date is not None and signed is not None
        yield StatementEntry(
            line=line,
            account=account,
            transaction_date=transaction_date,
            value_date=value_date,
            amount=signed,
            payer_name=normalize_payer_name(cell(cells, "payer_name")),
            payer_code=payer_code,
            virtual_account=virtual_account,
            reference=reference,
            description=" ".join(cell(cells, "description").split()),
        )


def _value(
    line: int,
    text: str,
    field: str,
    read: Callable[[str], date],
    errors: list[RowError],
    *,
    required: bool = False,
) -> date | None:
    if not text:
        if required:
            errors.append(RowError(line, "required", field))
        return None
    try:
        return read(text)
    except ValueError as error:
        errors.append(RowError(line, str(error), field, text[:MAX_TEXT]))
        return None


def _signed_amount(
    line: int,
    deposit: str,
    withdrawal: str,
    read: Callable[[str], int],
    errors: list[RowError],
) -> int | None:
    """The deposit, or minus the withdrawal: exactly one of them, above zero. A bank that
    writes ``0`` in the other column is read as leaving it empty."""
    amounts: dict[str, int] = {}
    for field, text in (("deposit", deposit), ("withdrawal", withdrawal)):
        if not text:
            continue
        try:
            value = read(unicodedata.normalize("NFKC", text))
        except ValueError as error:
            errors.append(RowError(line, str(error), field, text[:MAX_TEXT]))
            return None
        if value < 0:
            errors.append(RowError(line, "an amount here is above zero", field, text))
            return None
        if value:
            amounts[field] = value
    if len(amounts) == 2:
        errors.append(
            RowError(line, "a line is a deposit or a withdrawal, not both", "deposit", deposit)
        )
        return None
    if not amounts:
        errors.append(RowError(line, "neither a deposit nor a withdrawal", "deposit", deposit))
        return None
    return amounts.get("deposit") or -amounts["withdrawal"]


def _digits(line: int, text: str, field: str, errors: list[RowError]) -> str:
    value = unicodedata.normalize("NFKC", text).replace("-", "").replace(" ", "")
    if value and not (value.isascii() and value.isdigit()):
        errors.append(RowError(line, "digits only", field, text[:MAX_TEXT]))
        return ""
    return value


# ---- writing -------------------------------------------------------------------------------


def write_bank_statement(
    entries: Iterable[StatementEntry], mapping: StatementMapping = BANK_CSV_DEFAULT
) -> bytes:
    """The CSV ``mapping``'s bank would export for ``entries`` (for tests and the demo):
    each mapped field under its first header, dates ``YYYY/MM/DD`` (和暦 ``R8.11.24`` for a
    ``wareki`` mapping), amounts as the mapping writes them, CRLF."""
    names = [name for name in mapping.columns if mapping.columns[name]]
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=mapping.delimiter, lineterminator="\r\n")
    writer.writerow([mapping.columns[name][0] for name in names])
    for entry in entries:
        values: dict[str, str] = {
            "transaction_date": _written_date(entry.transaction_date, mapping.date_style),
            "value_date": _written_date(entry.value_date, mapping.date_style),
            "deposit": _written_yen(entry.amount, mapping.amount_style) if entry.amount > 0 else "",
            "withdrawal": (
                _written_yen(-entry.amount, mapping.amount_style) if entry.amount < 0 else ""
            ),
            "payer_name": entry.payer_name,
            "payer_code": entry.payer_code,
            "reference": entry.reference,
            "virtual_account": entry.virtual_account,
            "description": entry.description,
        }
        writer.writerow([values[name] for name in names])
    return buffer.getvalue().encode(mapping.encoding)


def _written_date(day: date | None, style: DateStyle) -> str:
    if day is None:
        return ""
    if style == "wareki":
        letter, (_, began) = next(
            (letter, era) for letter, era in reversed(ERAS.items()) if day >= era[1]
        )
        return f"{letter}{day.year - began.year + 1}.{day.month:02d}.{day.day:02d}"
    return day.strftime("%Y/%m/%d")


def _written_yen(amount: int, style: AmountStyle) -> str:
    return f"{amount:,}" if style == "comma" else str(amount)
