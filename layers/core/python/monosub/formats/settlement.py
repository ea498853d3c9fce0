"""A payment provider's payout settlement file: one row per balance transaction (a card
payment, a refund, a dispute, a fee…) settled in a payout to our bank account.

Providers write these files differently (Stripe's "Itemized payout reconciliation" report in
UTF-8 with English headers and UTC times; a Japanese PSP in cp932 with Japanese headers,
"1,234" amounts and Tokyo dates), so the layout is data: a ``ColumnMapping`` says which
column holds each field, how amounts and times are written and what the provider's
categories mean. ``STRIPE_ITEMIZED_PAYOUTS`` is Stripe's; the other providers' are in
``monosub/data/settlement_providers.json`` (``provider_mappings``).

**Streaming.** ``iter_settlement`` reads a file of any size through ``csv`` over a text
wrapper and yields one ``SettlementRow`` or ``RowError`` at a time. What it keeps per row is
only a fingerprint of the transaction id (``csv_rows.SeenIds``: 12 bytes a slot, at most half full),
for the one check that needs the whole file: an id listed twice. Everything else is flat.

**Money.** JPY is a zero-decimal currency: every amount is integer yen. A provider that
writes ``1234.00`` or ``1,234`` is read when its mapping says so; ``1234.5`` is refused,
never rounded, and no amount is ever a float.

Pure: bytes in, values out (``write_settlement`` for values out, bytes in). Matching rows
to invoices and holding a payout that does not add up are the caller's.
``docs/settlement-files.md`` describes the formats for people.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import BinaryIO, Literal, TypeVar, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from monosub.formats.csv_rows import (
    AmountStyle,
    SeenIds,
    header_columns,
    open_text,
    stream_records,
    yen_reader,
)
from monosub.intake.kinds import RowError

_T = TypeVar("_T")

TOKYO = ZoneInfo("Asia/Tokyo")
PROVIDERS = Path(__file__).resolve().parent.parent / "data" / "settlement_providers.json"
KIND_PREFIX = "settlement-"

Category = Literal[
    "charge", "refund", "dispute", "dispute_reversal", "fee", "payout", "adjustment", "other"
]
SettlementField = Literal[
    "payout_id",
    "payout_date",
    "transaction_id",
    "created",
    "currency",
    "gross",
    "fee",
    "net",
    "category",
    "description",
    "payment_intent_id",
    "charge_id",
    "invoice_ref",
    "customer_ref",
]
SettlementEncoding = Literal["utf-8", "cp932"]
CATEGORIES: tuple[Category, ...] = get_args(Category)
# Money in (charges, dispute reversals) is never negative, money back out never positive.
NOT_NEGATIVE: frozenset[str] = frozenset({"charge", "dispute_reversal"})
NOT_POSITIVE: frozenset[str] = frozenset({"refund", "dispute"})
_ALWAYS_REQUIRED: frozenset[str] = frozenset(
    {"payout_date", "transaction_id", "created", "gross", "net", "category"}
)
# A provider's id: ASCII letters, digits and ``_ - . : /``, at most 255 characters.
_ID = re.compile(r"[A-Za-z0-9_\-.:/]{1,255}")


@dataclass(frozen=True)
class SettlementRow:
    """One balance transaction of a payout. Amounts are integer yen, signed as the provider
    books them: a charge positive, a refund or dispute negative, ``gross - fee == net``."""

    line: int  # the line in the file, the header being line 1
    payout_id: str
    payout_date: date  # Asia/Tokyo date of the payout's effective time
    transaction_id: str  # the provider's balance transaction id: unique
    created: datetime  # aware, UTC
    currency: str  # "jpy"
    gross: int
    fee: int
    net: int
    category: Category
    description: str = ""
    payment_intent_id: str | None = None
    charge_id: str | None = None
    invoice_ref: str | None = None  # our invoice id or number, echoed from metadata
    customer_ref: str | None = None


_ROW_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(SettlementRow))
_set_attribute = object.__setattr__
_new_object = object.__new__


def _new_row(values: tuple[object, ...]) -> SettlementRow:
    """A ``SettlementRow`` of already checked values, in field order, in a third of the time
    of its ``__init__`` (a frozen dataclass sets each field through ``object.__setattr__``:
    15 calls a row, a fifth of the parse at a million rows)."""
    row: SettlementRow = _new_object(SettlementRow)
    _set_attribute(row, "__dict__", dict(zip(_ROW_FIELDS, values, strict=True)))
    return row


# ---- the mapping ---------------------------------------------------------------------------


class ColumnMapping(BaseModel):
    """How one provider writes its settlement file (loadable from JSON)."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    provider: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")
    encoding: SettlementEncoding = "utf-8"
    delimiter: Literal[",", "\t", ";"] = ","
    columns: dict[SettlementField, tuple[str, ...]] = Field(
        description="Per field, the headers that may hold it, in order of preference"
    )
    categories: dict[str, Category] = Field(
        description="The provider's category value -> ours (compared trimmed, lower-cased)"
    )
    unknown_category: Category | None = Field(
        default=None, description="Our category for a value not listed; None: a row error"
    )
    amount_style: AmountStyle = "integer"
    fee: Literal["given", "computed"] = Field(
        default="given", description="computed: the file has no fee column, fee = gross - net"
    )
    fee_negative: bool = Field(
        default=False, description="The provider writes fees as negative numbers"
    )
    created_format: str = "%Y-%m-%d %H:%M:%S"
    created_time_zone: str = "UTC"
    payout_date_format: str = "%Y-%m-%d %H:%M:%S"
    payout_time_zone: str = "UTC"
    currency: str | None = Field(
        default=None, description="The currency of every row when the file has no column"
    )

    @field_validator("columns", mode="before")
    @classmethod
    def one_or_more_headers(cls, columns: object) -> object:
        if isinstance(columns, dict):
            return {k: (v,) if isinstance(v, str) else v for k, v in columns.items()}
        return columns

    @field_validator("categories")
    @classmethod
    def folded_keys(cls, categories: dict[str, Category]) -> dict[str, Category]:
        return {key.strip().lower(): value for key, value in categories.items()}

    @field_validator("created_time_zone", "payout_time_zone")
    @classmethod
    def known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"no time zone {name!r} (e.g. UTC, Asia/Tokyo)") from None
        return name

    @model_validator(mode="after")
    def complete(self) -> ColumnMapping:
        given = {name for name, headers in self.columns.items() if headers}
        missing = sorted(self.required_fields - given)
        if missing:
            raise ValueError(f"columns names no header for {', '.join(missing)}")
        if self.fee == "computed" and "fee" in self.columns:
            raise ValueError("a computed fee has no column")
        if "currency" not in self.columns and self.currency is None:
            raise ValueError("a file without a currency column needs currency")
        return self

    @property
    def required_fields(self) -> frozenset[str]:
        return _ALWAYS_REQUIRED | ({"fee"} if self.fee == "given" else set())

    @property
    def kind(self) -> str:
        """The intake kind of this provider's files."""
        return f"{KIND_PREFIX}{self.provider}"

    def header(self, field: SettlementField) -> str:
        """The header a written file gives ``field`` (its first one)."""
        return self.columns[field][0]


STRIPE_REPORTING_CATEGORIES: dict[str, Category] = {
    "charge": "charge",
    "refund": "refund",
    "dispute": "dispute",
    "dispute_reversal": "dispute_reversal",
    "fee": "fee",
    "payout": "payout",
    "other_adjustment": "adjustment",
    "refund_failure": "adjustment",
    "partial_capture_reversal": "adjustment",
    "charge_failure": "adjustment",
    "payout_reversal": "adjustment",
    "other": "other",
}

STRIPE_ITEMIZED_PAYOUTS = ColumnMapping(
    provider="stripe",
    encoding="utf-8",
    # Stripe's report runs write ``created`` in the run's time zone (UTC unless one is asked
    # for) and ``created_utc`` always in UTC: the UTC column is read when the file has it.
    columns={
        "payout_id": ("automatic_payout_id",),
        "payout_date": ("automatic_payout_effective_at_utc", "automatic_payout_effective_at"),
        "transaction_id": ("balance_transaction_id",),
        "created": ("created_utc", "created"),
        "currency": ("currency",),
        "gross": ("gross",),
        "fee": ("fee",),
        "net": ("net",),
        "category": ("reporting_category",),
        "description": ("description",),
        "payment_intent_id": ("payment_intent_id",),
        "charge_id": ("charge_id",),
        "invoice_ref": ("payment_metadata[monosub_invoice_id]",),
        "customer_ref": ("customer_id",),
    },
    categories=STRIPE_REPORTING_CATEGORIES,
    unknown_category="other",
    # Stripe's CSVs write amounts in major units as decimals; JPY has none, "1234.00" is
    # read as 1234 and "1234.5" refused.
    amount_style="decimal",
    created_format="%Y-%m-%d %H:%M:%S",
    created_time_zone="UTC",
    payout_date_format="%Y-%m-%d %H:%M:%S",
    payout_time_zone="UTC",
)

STRIPE_COLUMNS: tuple[str, ...] = (
    "automatic_payout_id",
    "automatic_payout_effective_at",
    "balance_transaction_id",
    "created",
    "available_on",
    "currency",
    "gross",
    "fee",
    "net",
    "reporting_category",
    "description",
    "payment_intent_id",
    "charge_id",
    "payment_metadata[monosub_invoice_id]",
    "customer_id",
)


class _ProviderFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    providers: tuple[ColumnMapping, ...]


@functools.cache
def provider_mappings(path: Path = PROVIDERS) -> dict[str, ColumnMapping]:
    """The configured providers' mappings by intake kind (``settlement-<provider>``)."""
    loaded = _ProviderFile.model_validate_json(path.read_bytes())
    mappings = {mapping.kind: mapping for mapping in loaded.providers}
    if len(mappings) != len(loaded.providers):
        raise ValueError(f"{path.name} names a provider twice")
    return mappings


# ---- reading -------------------------------------------------------------------------------


def iter_settlement(stream: BinaryIO, mapping: ColumnMapping) -> Iterator[SettlementRow | RowError]:
    """Each row of the file in ``stream``, as a ``SettlementRow`` or, for each bad value of
    it, a ``RowError`` naming its line and field. Read as iterated: memory stays flat.

    Per row: required values present; amounts whole yen; ``gross - fee == net``; currency
    JPY; charges and dispute reversals not negative, refunds and disputes not positive; a
    transaction id not seen on an earlier line; one payout row per payout, and one payout
    date per payout.

    Raises ``FileRejected`` for the file as a whole: undecodable in the mapping's encoding,
    a required column missing or named twice, malformed CSV, no rows. A problem found after
    rows were yielded (bytes that do not decode on line 80,000) raises then: whoever
    iterates applies nothing before the iteration ended.
    """
    header, records = stream_records(
        open_text(stream, mapping.encoding), delimiter=mapping.delimiter
    )
    reader = _RowReader(mapping, header_columns(header, mapping.columns, mapping.required_fields))
    for record in records:
        if isinstance(record, RowError):
            yield record
            continue
        row = reader.read(*record)
        if isinstance(row, list):
            yield from row
        else:
            yield row


_ID_MESSAGE = "an id is 1 to 255 ASCII letters, digits or _ - . : /"
_fromisoformat = datetime.fromisoformat


class _RowReader:
    """Reads one record into a ``SettlementRow`` or its errors, remembering what the file
    checks need across rows (the ids seen, each payout's date and payout row)."""

    def __init__(self, mapping: ColumnMapping, at: dict[SettlementField, int]) -> None:
        self.provider = mapping.provider
        self.created_at = _instant_reader(mapping.created_format, mapping.created_time_zone)
        self.payout_day = _date_reader(mapping.payout_date_format, mapping.payout_time_zone)
        self.amount = yen_reader(mapping.amount_style)
        self.categories = mapping.categories
        self.unknown_category = mapping.unknown_category
        self.fee_sign = -1 if mapping.fee_negative else 1
        self.fixed_currency = (mapping.currency or "").strip().lower()
        self.created_iso_utc = (
            _ISO_FORMATS.get(mapping.created_format) == 19
            and mapping.created_time_zone.upper() == "UTC"
        )
        self.i_payout = at.get("payout_id")
        self.i_date, self.i_id, self.i_created = (
            at["payout_date"],
            at["transaction_id"],
            at["created"],
        )
        self.i_gross, self.i_net, self.i_category = at["gross"], at["net"], at["category"]
        self.i_fee, self.i_currency = at.get("fee"), at.get("currency")
        self.i_description = at.get("description")
        self.i_intent, self.i_charge = at.get("payment_intent_id"), at.get("charge_id")
        self.i_invoice, self.i_customer = at.get("invoice_ref"), at.get("customer_ref")
        self.seen = SeenIds()
        self.payouts: dict[str, tuple[date, int]] = {}  # id -> its date, its payout row (0)

    def read(self, line: int, cells: list[str]) -> SettlementRow | list[RowError]:
        """The row, or its errors. The common case (plain values, as Stripe writes them) is
        checked inline; anything else goes through the methods that word the errors: at
        50,000+ rows a second, every call per row counts."""
        errors: list[RowError] = []
        transaction_id = self._transaction_id(line, cells, errors)
        payout_id, payout_date = self._payout(line, cells, errors)

        text = cells[self.i_created]
        created: datetime | None
        if self.created_iso_utc and len(text) == 19 and text.isascii():
            try:
                created = _fromisoformat(text).replace(tzinfo=UTC)
            except ValueError:
                created = self._time(line, text, "created", self.created_at, errors)
        else:
            created = self._time(line, text, "created", self.created_at, errors)

        currency = self.fixed_currency
        if self.i_currency is not None:
            currency = cells[self.i_currency].strip().lower()
        if currency != "jpy":
            self._currency(line, currency, errors)

        raw_category = cells[self.i_category]
        category = self.categories.get(raw_category)
        if category is None:
            category, raw_category = self._category(line, raw_category, errors)

        g, n = cells[self.i_gross], cells[self.i_net]
        gross = (
            int(g)
            if g.isascii() and (g.isdigit() or (g[:1] == "-" and g[1:].isdigit()))
            else _amount(self.amount, g, line, "gross", errors)
        )
        net = (
            int(n)
            if n.isascii() and (n.isdigit() or (n[:1] == "-" and n[1:].isdigit()))
            else _amount(self.amount, n, line, "net", errors)
        )
        fee: int | None
        if self.i_fee is None:
            fee = None if gross is None or net is None else gross - net
        else:
            f = cells[self.i_fee]
            fee = (
                int(f)
                if f.isascii() and (f.isdigit() or (f[:1] == "-" and f[1:].isdigit()))
                else _amount(self.amount, f, line, "fee", errors)
            )
            if fee is not None:
                fee *= self.fee_sign
        self._amount_rules(line, gross=gross, fee=fee, net=net, category=category, errors=errors)

        if payout_id and payout_date is not None:
            known = self.payouts.get(payout_id)
            if known is None or known[0] != payout_date or category == "payout":
                self._payout_consistency(
                    line,
                    payout_id=payout_id,
                    payout_date=payout_date,
                    category=category,
                    raw_category=raw_category,
                    errors=errors,
                )
        if errors:
            return errors
        assert payout_date is not None and created is not None and category is not None
        assert gross is not None and fee is not None and net is not None
        return _new_row(
            (
                line,
                payout_id,
                payout_date,
                transaction_id,
                created,
                currency,
                gross,
                fee,
                net,
                category,
                "" if self.i_description is None else cells[self.i_description].strip(),
                None if self.i_intent is None else cells[self.i_intent].strip() or None,
                None if self.i_charge is None else cells[self.i_charge].strip() or None,
                None if self.i_invoice is None else cells[self.i_invoice].strip() or None,
                None if self.i_customer is None else cells[self.i_customer].strip() or None,
            )
        )

    def _transaction_id(self, line: int, cells: list[str], errors: list[RowError]) -> str:
        transaction_id = cells[self.i_id].strip()
        if not transaction_id:
            errors.append(RowError(line, "required", "transaction_id"))
        elif not _ID.fullmatch(transaction_id):
            errors.append(RowError(line, _ID_MESSAGE, "transaction_id", transaction_id[:200]))
        else:
            first = self.seen.add(transaction_id, line)
            if first:
                errors.append(
                    RowError(
                        line,
                        f"transaction {transaction_id} is on line {first} already",
                        "transaction_id",
                        transaction_id,
                    )
                )
        return transaction_id

    def _payout(
        self, line: int, cells: list[str], errors: list[RowError]
    ) -> tuple[str, date | None]:
        """The payout's id and Tokyo date. A provider without payout ids pays out once a
        day: its payout is named ``<provider>:<date>``."""
        payout_date = self._time(line, cells[self.i_date], "payout_date", self.payout_day, errors)
        if self.i_payout is None:
            return (
                f"{self.provider}:{payout_date.isoformat()}" if payout_date else ""
            ), payout_date
        payout_id = cells[self.i_payout].strip()
        if not payout_id:
            errors.append(RowError(line, "required", "payout_id"))
        elif not _ID.fullmatch(payout_id):
            errors.append(RowError(line, _ID_MESSAGE, "payout_id", payout_id[:200]))
            payout_id = ""
        return payout_id, payout_date

    @staticmethod
    def _time(
        line: int,
        cell: str,
        field: str,
        read: Callable[[str], _T],
        errors: list[RowError],
    ) -> _T | None:
        text = cell.strip()
        if not text:
            errors.append(RowError(line, "required", field))
            return None
        try:
            return read(text)
        except ValueError as error:
            errors.append(RowError(line, str(error), field, text[:200]))
            return None

    @staticmethod
    def _currency(line: int, currency: str, errors: list[RowError]) -> None:
        if not currency:
            errors.append(RowError(line, "required", "currency"))
        else:
            errors.append(
                RowError(
                    line,
                    f"currency {currency} is not settled here: only jpy (integer yen)",
                    "currency",
                    currency[:200],
                )
            )

    def _category(
        self, line: int, cell: str, errors: list[RowError]
    ) -> tuple[Category | None, str]:
        raw = cell.strip()
        if not raw:
            errors.append(RowError(line, "required", "category"))
            return None, raw
        category = self.categories.get(raw.lower(), self.unknown_category)
        if category is None:
            errors.append(
                RowError(
                    line,
                    f"unknown category {raw}; known: {', '.join(self.categories)}",
                    "category",
                    raw[:200],
                )
            )
        return category, raw

    @staticmethod
    def _amount_rules(
        line: int,
        *,
        gross: int | None,
        fee: int | None,
        net: int | None,
        category: Category | None,
        errors: list[RowError],
    ) -> None:
        """``gross - fee == net``; the sign of the gross amount by category."""
        if gross is None:
            return
        if fee is not None and net is not None and gross - fee != net:
            errors.append(
                RowError(
                    line,
                    f"gross {gross} - fee {fee} = {gross - fee}, not net {net}",
                    "net",
                    str(net),
                )
            )
        if gross < 0 and category in NOT_NEGATIVE:
            errors.append(RowError(line, f"a {category} is not negative", "gross", str(gross)))
        elif gross > 0 and category in NOT_POSITIVE:
            errors.append(
                RowError(line, f"a {category} is negative or zero (money out)", "gross", str(gross))
            )

    def _payout_consistency(
        self,
        line: int,
        *,
        payout_id: str,
        payout_date: date,
        category: Category | None,
        raw_category: str,
        errors: list[RowError],
    ) -> None:
        """One date per payout, one payout row per payout."""
        is_payout_row = category == "payout"
        known = self.payouts.get(payout_id)
        if known is None:
            self.payouts[payout_id] = (payout_date, line if is_payout_row else 0)
            return
        known_date, payout_line = known
        if known_date != payout_date:
            errors.append(
                RowError(
                    line,
                    f"payout {payout_id} is dated {known_date.isoformat()} on an earlier line",
                    "payout_date",
                    payout_date.isoformat(),
                )
            )
        elif is_payout_row and payout_line:
            errors.append(
                RowError(
                    line,
                    f"payout {payout_id} has its payout row on line {payout_line} already",
                    "category",
                    raw_category,
                )
            )
        elif is_payout_row:
            self.payouts[payout_id] = (known_date, line)


def _amount(
    read: Callable[[str], int], cell: str, line: int, field: str, errors: list[RowError]
) -> int | None:
    text = cell.strip()
    if not text:
        errors.append(RowError(line, "required", field))
        return None
    try:
        return read(text)
    except ValueError as error:
        errors.append(RowError(line, str(error), field, text[:200]))
        return None


# ---- cell values ---------------------------------------------------------------------------


_ISO_FORMATS = {"%Y-%m-%d %H:%M:%S": 19, "%Y-%m-%dT%H:%M:%S": 19, "%Y-%m-%d": 10}


def _parse_naive(text: str, fmt: str) -> datetime:
    """``text`` in the strptime format ``fmt``; the ISO forms by ``fromisoformat`` (C, ten
    times faster than ``strptime``), its length checked so that it accepts only ``fmt``."""
    size = _ISO_FORMATS.get(fmt)
    if size is not None and len(text) == size and text.isascii():
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass  # strptime words the error
    try:
        return datetime.strptime(text, fmt)  # noqa: DTZ007 (the caller applies the zone)
    except ValueError:
        raise ValueError(f"{text} is not a time written {fmt}") from None


def _instant_reader(fmt: str, zone_name: str) -> Callable[[str], datetime]:
    zone = ZoneInfo(zone_name)
    if zone_name.upper() == "UTC":

        def utc(text: str) -> datetime:
            return _parse_naive(text, fmt).replace(tzinfo=UTC)

        return utc

    def local(text: str) -> datetime:
        return _parse_naive(text, fmt).replace(tzinfo=zone).astimezone(UTC)

    return local


def _date_reader(fmt: str, zone_name: str) -> Callable[[str], date]:
    """The Tokyo date of a time (or date) written in ``fmt`` in ``zone_name``. Rows of one
    payout repeat its time, so the last answers are remembered (bounded)."""
    zone = ZoneInfo(zone_name)
    cache: dict[str, date] = {}

    def read(text: str) -> date:
        day = cache.get(text)
        if day is None:
            day = _parse_naive(text, fmt).replace(tzinfo=zone).astimezone(TOKYO).date()
            if len(cache) >= 4096:
                cache.clear()
            cache[text] = day
        return day

    return read


# ---- payouts -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PayoutCheck:
    """A payout's rows summed: ``net`` is what its transactions settle; ``payout_amount``
    what the payout row says was paid out (minus its row's net), ``None`` when the file has
    no payout row (Stripe's itemized report has none: compare ``net`` with the payout's
    amount from the provider's API). ``agrees`` is ``None`` without a payout row."""

    payout_id: str
    payout_date: date
    rows: int  # transactions, the payout row not counted
    gross: int
    fee: int
    net: int
    payout_amount: int | None
    agrees: bool | None


def payout_totals(rows: Iterable[SettlementRow]) -> dict[str, PayoutCheck]:
    """Per payout id, the sums of its transactions and whether its payout row agrees."""
    sums: dict[str, list[int]] = {}  # rows, gross, fee, net
    dates: dict[str, date] = {}
    amounts: dict[str, int] = {}
    for row in rows:
        dates.setdefault(row.payout_id, row.payout_date)
        if row.category == "payout":
            amounts[row.payout_id] = amounts.get(row.payout_id, 0) - row.net
            sums.setdefault(row.payout_id, [0, 0, 0, 0])
            continue
        total = sums.setdefault(row.payout_id, [0, 0, 0, 0])
        total[0] += 1
        total[1] += row.gross
        total[2] += row.fee
        total[3] += row.net
    checks = {}
    for payout_id, (count, gross, fee, net) in sums.items():
        amount = amounts.get(payout_id)
        checks[payout_id] = PayoutCheck(
            payout_id=payout_id,
            payout_date=dates[payout_id],
            rows=count,
            gross=gross,
            fee=fee,
            net=net,
            payout_amount=amount,
            agrees=None if amount is None else amount == net,
        )
    return checks


# ---- writing -------------------------------------------------------------------------------


def write_settlement(rows: Iterable[SettlementRow], mapping: ColumnMapping) -> bytes:
    """The file ``mapping``'s provider would send with ``rows`` (for tests and the demo):
    a header of each mapped field's first header, CRLF, amounts and times as the mapping
    reads them. A payout date is written as midnight Tokyo of that day in the mapping's
    format and zone. Raises ``ValueError`` for a category the provider has no value for."""
    names = [name for name in get_args(SettlementField) if name in mapping.columns]
    written_category: dict[str, str] = {}
    for value, category in mapping.categories.items():
        written_category.setdefault(category, value)
    if mapping.unknown_category is not None:
        written_category.setdefault(mapping.unknown_category, mapping.unknown_category)
    created_zone = ZoneInfo(mapping.created_time_zone)
    payout_zone = ZoneInfo(mapping.payout_time_zone)
    fee_sign = -1 if mapping.fee_negative else 1
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=mapping.delimiter, lineterminator="\r\n")
    writer.writerow([mapping.header(name) for name in names])
    for row in rows:
        if row.category not in written_category:
            raise ValueError(f"{mapping.provider} has no category for {row.category}")
        midnight = datetime.combine(row.payout_date, time(), tzinfo=TOKYO)
        values = {
            "payout_id": row.payout_id,
            "payout_date": midnight.astimezone(payout_zone).strftime(mapping.payout_date_format),
            "transaction_id": row.transaction_id,
            "created": row.created.astimezone(created_zone).strftime(mapping.created_format),
            "currency": row.currency,
            "gross": _written(row.gross, mapping.amount_style),
            "fee": _written(fee_sign * row.fee, mapping.amount_style),
            "net": _written(row.net, mapping.amount_style),
            "category": written_category[row.category],
            "description": row.description,
            "payment_intent_id": row.payment_intent_id or "",
            "charge_id": row.charge_id or "",
            "invoice_ref": row.invoice_ref or "",
            "customer_ref": row.customer_ref or "",
        }
        writer.writerow([values[name] for name in names])
    encoding = "utf-8" if mapping.encoding == "utf-8" else "cp932"
    return buffer.getvalue().encode(encoding)


def _written(amount: int, style: AmountStyle) -> str:
    return f"{amount:,}" if style == "comma" else str(amount)


__all__ = [
    "CATEGORIES",
    "STRIPE_COLUMNS",
    "STRIPE_ITEMIZED_PAYOUTS",
    "Category",
    "ColumnMapping",
    "PayoutCheck",
    "SettlementRow",
    "iter_settlement",
    "payout_totals",
    "provider_mappings",
    "write_settlement",
]
