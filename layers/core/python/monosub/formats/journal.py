"""The monthly journal file (仕訳) for the accounting system: one compound entry per invoice
or credit note of a closing, as the accounting system imports it.

Per invoice: a debit of receivables (売掛金) for the total, and per tax rate a credit of sales
(売上高, the taxable amount) and of output tax (仮受消費税, the tax once per rate as the invoice
says). A credit note reverses the sides. The rows of one document share its number (伝票番号),
so the accounting system books them as one entry.

**Reproducible byte for byte**: the same documents give the same bytes, whatever order they
come in (rows sorted by issue date, then number; nothing from the clock or the environment).
A rerun of a closing can therefore be compared with, or replace, the file sent before.

The account codes and names, the tax classes (税区分), the encoding and the columns come from
``monosub/data/accounting.json`` (``JournalSettings``): the accounting system and its chart of
accounts are the company's choice, so changing them is a change of data, not of code.
``docs/accounting.md`` describes the file for people.

Pure: no AWS; ``load_settings`` reads the data file shipped with the code.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from monosub.domain.tax import TAX_RATE_PERCENT
from monosub.domain.text import DASHES, hyphens, nfkc
from monosub.formats import csv_export

ACCOUNTING = Path(__file__).resolve().parent.parent / "data" / "accounting.json"
TAX_RATES: frozenset[int] = frozenset(TAX_RATE_PERCENT.values())
# What a character stands for when the encoding has no code for it and no compatible form
# (〓, the geta mark, is what Japanese systems print for a character they cannot show).
UNWRITABLE = "〓"

JournalKind = Literal["invoice", "credit_note"]
JournalEncoding = Literal["cp932", "utf-8-sig"]
JournalField = Literal[
    "date",
    "number",
    "debit_account",
    "debit_account_code",
    "debit_amount",
    "credit_account",
    "credit_account_code",
    "credit_amount",
    "tax_class",
    "description",
    "customer_code",
    "customer_name",
    "account_id",
]
Side = Literal["debit", "credit"]


# ---- the documents --------------------------------------------------------------------------


@dataclass(frozen=True)
class JournalTax:
    """One tax rate of a document: its taxable amount (tax-exclusive) and the tax on it."""

    rate: int
    taxable_yen: int
    tax_yen: int


@dataclass(frozen=True)
class JournalInvoice:
    """A finalized invoice or credit note, as the journal needs it. Amounts are positive for
    both kinds: the kind decides the sides."""

    number: str
    kind: JournalKind
    issue_date: date
    account_id: str
    customer_name: str
    customer_code: str | None
    taxes: tuple[JournalTax, ...]
    total_yen: int


# ---- the settings ---------------------------------------------------------------------------


class _Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Account(_Settings):
    """An account of the chart of accounts (勘定科目): its code and name."""

    code: str = Field(min_length=1, max_length=20)
    name: str = Field(min_length=1, max_length=40)


class JournalColumn(_Settings):
    field: JournalField
    header: str = Field(min_length=1, max_length=40)


DEFAULT_COLUMNS: tuple[JournalColumn, ...] = tuple(
    JournalColumn(field=field, header=header)
    for field, header in (
        ("date", "伝票日付"),
        ("number", "伝票番号"),
        ("debit_account", "借方勘定科目"),
        ("debit_amount", "借方金額"),
        ("credit_account", "貸方勘定科目"),
        ("credit_amount", "貸方金額"),
        ("tax_class", "税区分"),
        ("description", "摘要"),
    )
)
_REQUIRED_FIELDS = {"date", "number", "debit_amount", "credit_amount"}
DEFAULT_LABELS: dict[JournalKind, str] = {"invoice": "請求書", "credit_note": "返還請求書"}


class JournalSettings(_Settings):
    """How the accounting system wants the journal (``monosub/data/accounting.json``)."""

    encoding: JournalEncoding = "cp932"
    receivables: Account = Field(description="売掛金")
    sales: Account = Field(description="売上高")
    sales_by_rate: dict[int, Account] = Field(
        default_factory=dict, description="Another sales account for a rate (8: 軽減税率)"
    )
    output_tax: Account = Field(description="仮受消費税")
    tax_classes: dict[int, str] = Field(
        default_factory=lambda: {10: "課税売上10%", 8: "課税売上8%(軽)"},
        description="税区分 of the sales rows, per rate",
    )
    untaxed_class: str = Field(
        default="対象外", max_length=40, description="税区分 of receivables and output tax rows"
    )
    labels: dict[JournalKind, str] = Field(
        default_factory=lambda: dict(DEFAULT_LABELS),
        description="The document's kind at the start of 摘要",
    )
    date_format: Literal["%Y/%m/%d", "%Y-%m-%d", "%Y%m%d"] = "%Y/%m/%d"
    header_row: bool = True
    columns: tuple[JournalColumn, ...] = Field(default=DEFAULT_COLUMNS, min_length=1)

    @field_validator("sales_by_rate", "tax_classes")
    @classmethod
    def known_rates(cls, by_rate: dict[int, object]) -> dict[int, object]:
        unknown = sorted(set(by_rate) - TAX_RATES)
        if unknown:
            raise ValueError(f"no tax rate {unknown}; the rates are {sorted(TAX_RATES)}")
        return by_rate

    @model_validator(mode="after")
    def complete(self) -> JournalSettings:
        missing = sorted(TAX_RATES - set(self.tax_classes))
        if missing:
            raise ValueError(f"tax_classes names no 税区分 for rate(s) {missing}")
        if set(self.labels) != {"invoice", "credit_note"}:
            raise ValueError("labels names invoice and credit_note")
        fields = [column.field for column in self.columns]
        if len(set(fields)) != len(fields):
            raise ValueError("a column is listed twice")
        missing_fields = sorted(_REQUIRED_FIELDS - set(fields))
        for side in ("debit", "credit"):
            if not {f"{side}_account", f"{side}_account_code"} & set(fields):
                missing_fields.append(f"{side}_account or {side}_account_code")
        if missing_fields:
            raise ValueError(f"the columns lack {', '.join(missing_fields)}")
        return self

    def sales_account(self, rate: int) -> Account:
        return self.sales_by_rate.get(rate, self.sales)


@functools.cache
def load_settings(path: Path = ACCOUNTING) -> JournalSettings:
    """The journal settings in ``path`` (default: the company's, shipped with the code)."""
    return JournalSettings.model_validate_json(path.read_bytes())


# ---- the file -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    side: Side
    account: Account
    amount: int
    tax_class: str


def journal_file(invoices: Sequence[JournalInvoice], settings: JournalSettings) -> bytes:
    """The journal of ``invoices``: CSV (header row unless configured off), CRLF, amounts as
    plain integers, rows sorted by (issue date, number), in the settings' encoding.

    Per document, the receivables row comes first, then per rate (10 % before 8 %) the sales
    and output tax rows; a row of 0 yen is left out (a free month books nothing). Text cells
    are guarded against spreadsheet formulas (``csv_export.cell``); line breaks and other
    control characters in a name become spaces. A character the encoding lacks is written in
    its compatible form (NFKC, or ``-`` for a dash), else as ``〓``: a customer's name never
    stops the month's journal, and the amounts are never touched.

    Raises ``ValueError`` when the documents cannot be booked as given: a number twice, an
    unknown rate or a rate twice, a negative amount, or a total that is not the taxable
    amounts plus their taxes (debits must equal credits)."""
    _check_numbers_unique(invoices)
    fields = [column.field for column in settings.columns]
    headers = [column.header for column in settings.columns]
    lines = [csv_export.line(headers)] if settings.header_row else []
    for invoice in sorted(invoices, key=lambda i: (i.issue_date, i.number)):
        for row in _entry(invoice, settings):
            values = _row_values(invoice, row, settings)
            lines.append(csv_export.line([_text(values[field]) for field in fields]))
    return _encoded("".join(lines), settings.encoding)


def _check_numbers_unique(invoices: Sequence[JournalInvoice]) -> None:
    seen: set[str] = set()
    for invoice in invoices:
        if not invoice.number:
            raise ValueError("a document without a number cannot be booked")
        if invoice.number in seen:
            raise ValueError(f"{invoice.number} is listed twice")
        seen.add(invoice.number)


def _entry(invoice: JournalInvoice, settings: JournalSettings) -> list[_Row]:
    """The rows of one document, checked to balance."""
    _check_adds_up(invoice)
    receivable_side: Side = "debit" if invoice.kind == "invoice" else "credit"
    other_side: Side = "credit" if invoice.kind == "invoice" else "debit"
    rows = [_Row(receivable_side, settings.receivables, invoice.total_yen, settings.untaxed_class)]
    for tax in sorted(invoice.taxes, key=lambda t: -t.rate):
        sales_class = settings.tax_classes[tax.rate]
        rows.append(
            _Row(other_side, settings.sales_account(tax.rate), tax.taxable_yen, sales_class)
        )
        rows.append(_Row(other_side, settings.output_tax, tax.tax_yen, settings.untaxed_class))
    debits = sum(row.amount for row in rows if row.side == "debit")
    credits = sum(row.amount for row in rows if row.side == "credit")
    assert debits == credits, f"{invoice.number}: debits {debits} != credits {credits}"
    return [row for row in rows if row.amount != 0]


def _check_adds_up(invoice: JournalInvoice) -> None:
    rates = [tax.rate for tax in invoice.taxes]
    unknown = sorted(set(rates) - TAX_RATES)
    if unknown:
        raise ValueError(f"{invoice.number}: no tax rate {unknown}")
    if len(set(rates)) != len(rates):
        raise ValueError(f"{invoice.number}: a tax rate is listed twice")
    amounts = [invoice.total_yen] + [a for t in invoice.taxes for a in (t.taxable_yen, t.tax_yen)]
    if any(amount < 0 for amount in amounts):
        raise ValueError(
            f"{invoice.number}: amounts are positive (a credit note's kind reverses the sides)"
        )
    taxed = sum(tax.taxable_yen + tax.tax_yen for tax in invoice.taxes)
    if taxed != invoice.total_yen:
        raise ValueError(
            f"{invoice.number} does not add up: total {invoice.total_yen}, "
            f"taxable amounts and taxes {taxed}"
        )


def _row_values(
    invoice: JournalInvoice, row: _Row, settings: JournalSettings
) -> dict[JournalField, str | int | None]:
    debit = row if row.side == "debit" else None
    credit = row if row.side == "credit" else None
    label = settings.labels[invoice.kind]
    return {
        "date": invoice.issue_date.strftime(settings.date_format),
        "number": invoice.number,
        "debit_account": debit.account.name if debit else None,
        "debit_account_code": debit.account.code if debit else None,
        "debit_amount": debit.amount if debit else None,
        "credit_account": credit.account.name if credit else None,
        "credit_account_code": credit.account.code if credit else None,
        "credit_amount": credit.amount if credit else None,
        "tax_class": row.tax_class,
        "description": f"{label} {invoice.number} {invoice.customer_name}",
        "customer_code": invoice.customer_code,
        "customer_name": invoice.customer_name,
        "account_id": invoice.account_id,
    }


# Control characters (CR, LF, tab…) and the Unicode line and paragraph separators.
_BREAKS = frozenset({"Cc", "Zl", "Zp"})


def _text(value: str | int | None) -> str | int | None:
    """A cell on one line: an accounting import reads one record per line."""
    if not isinstance(value, str):
        return value
    return "".join(" " if unicodedata.category(ch) in _BREAKS else ch for ch in value)


def _encoded(text: str, encoding: JournalEncoding) -> bytes:
    try:
        return text.encode(encoding)
    except UnicodeEncodeError:
        return "".join(_writable(text, encoding)).encode(encoding)


def _writable(text: str, encoding: str) -> Iterator[str]:
    for ch in text:
        for candidate in (ch, nfkc(ch), hyphens(ch) if ch in DASHES else None):
            if candidate is not None and _fits(candidate, encoding):
                yield candidate
                break
        else:
            yield UNWRITABLE


def _fits(text: str, encoding: str) -> bool:
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True
