"""Kind ``usage-readings``: a month's meter readings of metered products, one row per contract,
product and month.

CSV (UTF-8 with or without BOM, or cp932), header row, columns ``contract_number``
(契約番号, ``C2026-000001``), ``sku``, ``month`` (``YYYY-MM`` or ``YYYY/MM``), ``quantity``
(a decimal number, at most 3 places, e.g. ``350.5``; ``1,234.5`` and full-width digits are
read) and, optionally, ``read_on`` (検針日)::

    contract_number,sku,month,quantity,read_on
    C2026-000001,PLAN-ENERGY,2026-11,350.5,2026-11-30

Every row is checked first, in form (``read_usage_rows``: pure) and against billing
(``check_usage_rows``: pure, given what billing knows): a contract billing does not know, a
product with no usage billing on it, a month before its billing starts, after it ended or
after the current month, a reading date before the month or in the future, a negative or
malformed quantity, the same contract, product and month twice in the file (the error on
each later line names the first). A file with any bad row is quarantined whole.

Applying stores each reading on its billing account (a reading for a key that has one
replaces it: a corrected reading, counted ``replaced``; the same quantity again is
``unchanged``, so a retried apply stores nothing twice). The engine bills them in arrears at
the next closing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from monosub.domain import usage_billing
from monosub.domain.deals import normalize_sku
from monosub.domain.pricing import MAX_USAGE_QUANTITY, USAGE_QUANTITY_PLACES
from monosub.domain.text import hyphens, nfkc
from monosub.formats.csv_rows import read_csv, read_date
from monosub.intake.kinds import ApplyContext, Parsed, Processor, RowError, register
from monosub.models.billing import BillingAccount

MAX_READING_ROWS = 100_000
ALIASES = {
    "契約番号": "contract_number",
    "対象月": "month",
    "使用量": "quantity",
    "検針日": "read_on",
}
_NUMBER = re.compile(r"C\d{4}-\d{6}")
_MONTH = re.compile(r"(\d{4})[-/](\d{1,2})")
_QUANTITY = re.compile(r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")


@dataclass(frozen=True)
class UsageRow:
    """A reading in form; ``contract_id``, ``account_id`` and ``component`` once checked
    against billing."""

    line: int
    contract_number: str
    sku: str
    month: str
    quantity: Decimal
    read_on: date | None = None
    contract_id: str = ""
    account_id: str = ""
    component: str = ""

    def reading(self) -> usage_billing.Reading:
        return usage_billing.Reading(self.contract_id, self.component, self.month, self.quantity)


def parse_quantity(value: str) -> Decimal:
    """A metered quantity as a person or a meter system writes it: ``350.5``, ``1,234.5``,
    full-width ``３５０．５``. Raises ``ValueError`` saying what is wrong."""
    text = nfkc(value).strip()
    if hyphens(text).startswith("-"):
        raise ValueError("a reading cannot be negative")
    if not _QUANTITY.fullmatch(text):
        raise ValueError("a quantity is a number such as 350.5 (at most 3 decimal places)")
    quantity = Decimal(text.replace(",", ""))
    if quantity != quantity.quantize(Decimal(1).scaleb(-USAGE_QUANTITY_PLACES)):
        raise ValueError(f"at most {USAGE_QUANTITY_PLACES} decimal places")
    if quantity > MAX_USAGE_QUANTITY:
        raise ValueError(f"at most {MAX_USAGE_QUANTITY:,}")
    return quantity


def parse_month(value: str) -> str:
    """``2026-11``, ``2026/11``, ``2026/1`` or full-width: the month key ``YYYY-MM``."""
    match = _MONTH.fullmatch(nfkc(value).strip())
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise ValueError("a month is written YYYY-MM")
    return f"{int(match.group(1)):04d}-{int(match.group(2)):02d}"


def parse_contract_number(value: str) -> str:
    number = hyphens(nfkc(value)).strip().upper()
    if not _NUMBER.fullmatch(number):
        raise ValueError("a contract number looks like C2026-000001")
    return number


def read_usage_rows(data: bytes) -> Parsed:
    """Every row in form: each column present and well written, no reading twice."""
    parsed = Parsed()
    first_line: dict[tuple[str, str, str], int] = {}
    rows = read_csv(
        data,
        required=("contract_number", "sku", "month", "quantity"),
        optional=("read_on",),
        aliases=ALIASES,
        max_rows=MAX_READING_ROWS,
    )
    for row in rows:
        if "__error__" in row.values:
            parsed.errors.append(RowError(row.line, row.values["__error__"]))
            continue
        errors: list[RowError] = []
        values: dict[str, Any] = {}
        readers = {
            "contract_number": parse_contract_number,
            "sku": normalize_sku,
            "month": parse_month,
            "quantity": parse_quantity,
            "read_on": read_date,
        }
        for column, reader in readers.items():
            raw = row.values.get(column, "")
            if not raw:
                if column != "read_on":
                    errors.append(RowError(row.line, "required", column))
                continue
            try:
                values[column] = reader(raw)
            except ValueError as error:
                errors.append(RowError(row.line, str(error), column, raw))
        if errors:
            parsed.errors += errors
            continue
        reading = UsageRow(row.line, **values)
        read_on = reading.read_on
        if read_on is not None and usage_billing.month_of(read_on) < reading.month:
            parsed.errors.append(
                RowError(
                    row.line,
                    f"read on {read_on}, before the month {reading.month}",
                    "read_on",
                    row.values["read_on"],
                )
            )
            continue
        key = (reading.contract_number, reading.sku, reading.month)
        first = first_line.setdefault(key, row.line)
        if first != row.line:
            parsed.errors.append(
                RowError(
                    row.line,
                    f"the reading of {reading.sku} on {reading.contract_number} for "
                    f"{reading.month} is on line {first} already",
                    "month",
                    row.values["month"],
                )
            )
            continue
        parsed.rows.append(reading)
    return parsed


def check_usage_rows(
    parsed: Parsed,
    contracts: Mapping[str, tuple[str, str]],
    accounts: Mapping[str, BillingAccount],
    today: date,
) -> Parsed:
    """The rows against billing: ``contracts`` (number → contract and account ids, those
    billing knows), their billing ``accounts``, ``today`` (no reading of a month to come, no
    reading date in the future). The rows kept know their contract, account and component."""
    this_month = usage_billing.month_of(today)
    kept = []
    for row in parsed.rows:
        error = _problem(row, contracts, accounts, this_month, today)
        if isinstance(error, RowError):
            parsed.errors.append(error)
        else:
            kept.append(error)
    parsed.rows = kept
    return parsed


def _problem(
    row: UsageRow,
    contracts: Mapping[str, tuple[str, str]],
    accounts: Mapping[str, BillingAccount],
    this_month: str,
    today: date,
) -> RowError | UsageRow:
    if row.month > this_month:
        return RowError(row.line, f"{row.month} has not come yet", "month", row.month)
    if row.read_on is not None and row.read_on > today:
        return RowError(row.line, f"{row.read_on} is in the future", "read_on", str(row.read_on))
    ids = contracts.get(row.contract_number)
    account = accounts.get(ids[1]) if ids else None
    if ids is None or account is None:
        return RowError(
            row.line,
            f"no contract {row.contract_number} is billed (unknown, or not started)",
            "contract_number",
            row.contract_number,
        )
    contract_id, account_id = ids
    metered = [
        c
        for c in account.components
        if c.kind == usage_billing.USAGE and c.contract_id == contract_id and c.sku == row.sku
    ]
    if not metered:
        return RowError(
            row.line,
            f"{row.sku} is not billed by usage on {row.contract_number}",
            "sku",
            row.sku,
        )
    component = usage_billing.component_for(metered, contract_id, row.sku, row.month)
    if component is None:
        first = min(usage_billing.month_of(c.starts) for c in metered)
        ended = max((c.ends for c in metered if c.ends), default=None)
        message = (
            f"before the usage billing of {row.sku} on {row.contract_number} starts ({first})"
            if row.month < first
            else f"after the usage billing of {row.sku} on {row.contract_number} ended ({ended})"
        )
        return RowError(row.line, message, "month", row.month)
    return UsageRow(
        row.line,
        row.contract_number,
        row.sku,
        row.month,
        row.quantity,
        row.read_on,
        contract_id=contract_id,
        account_id=account_id,
        component=component.key,
    )


class UsageReadingsCsv(Processor):
    kind = "usage-readings"
    description = (
        "Meter readings: CSV contract_number, sku, month, quantity[, read_on], billed in arrears"
    )

    def parse(self, data: bytes) -> Parsed:
        from monosub.services import usage_readings

        parsed = usage_readings.check(read_usage_rows(data))
        parsed.errors.sort(key=lambda error: (error.line, error.field or ""))
        return parsed

    def apply(self, rows: list[Any], context: ApplyContext) -> dict[str, int]:
        from monosub.services import usage_readings

        return usage_readings.store_readings(rows, run_id=context.run_id)


register(UsageReadingsCsv())
