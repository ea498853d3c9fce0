"""The customer portal's rules (issue 9): when a payment-method change takes effect, what
a meter reading must be to be believed and what it bills, the consumption chart, and the
due dates of a billing inquiry. Pure: nothing here touches AWS.

- **Payment method**: effective from the next closing (``next_closing``): the invoice of that
  closing is the first billed with it; invoices issued before keep theirs.
- **Meter readings** are meter *indexes* (what the dial shows). A reading is checked against
  the previous one of the same service (``reading_problems``): not before it, not lower
  unless the meter was replaced (a new meter counts from 0), and not more than
  ``MeterRules.max_factor`` times what the history's daily use suggests (or the
  ``floor_per_day`` when there is no history to go by). What a reading bills is the use since
  the previous one, in the month it was read on (``month_use``); the first reading of a
  meter is its starting point and bills nothing.
- **Inquiries** (苦情・問合せ): acknowledge and answer within business days given as data
  (``monosub/data/inquiry_rules.json``), counted on the Japanese bank-day calendar.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from monosub.domain import calendar, usage_billing
from monosub.models.billing import BillingAccount, Component

INQUIRY_RULES = Path(__file__).resolve().parent.parent / "data" / "inquiry_rules.json"
# The portal shows at most this many months of invoices and of consumption.
INVOICE_MONTHS = 36
CONSUMPTION_MONTHS = 12


# ---- payment method --------------------------------------------------------------------------


def next_closing(today: date, closing_day: int, last_closing: date | None) -> date:
    """The first closing whose invoice is not issued yet: the closing on or after ``today``
    (today's own closing is invoiced by the next morning's run), after ``last_closing``."""
    year, month = today.year, today.month
    while True:
        closing = calendar.closing_date(year, month, closing_day)
        if closing >= today and (last_closing is None or closing > last_closing):
            return closing
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def payment_at(account: BillingAccount, closing: date) -> dict[str, Any] | None:
    """The account's payment fields to bill ``closing`` with, when a pending change takes
    effect at it (None: nothing changes). A card or bank account given replaces the one
    on file; the pending change itself is removed by the same write."""
    pending = account.pending_payment
    if pending is None or pending.effective_from > closing:
        return None
    values: dict[str, Any] = {"payment_method": pending.payment_method}
    if pending.debit_account is not None:
        values["debit_account"] = pending.debit_account.model_dump(mode="json")
    if pending.card is not None:
        values["card"] = pending.card.model_dump(mode="json")
    return values


def with_payment(account: BillingAccount, values: Mapping[str, Any] | None) -> BillingAccount:
    """The account as it bills with ``values`` (from ``payment_at``) applied."""
    if not values:
        return account
    return BillingAccount.model_validate(
        {**account.model_dump(mode="json"), **values, "pending_payment": None}
    )


# ---- meter readings --------------------------------------------------------------------------


class MeterRules(BaseModel):
    """How far a reading may run ahead of what the meter's history suggests."""

    model_config = ConfigDict(frozen=True)

    max_factor: Decimal = Field(default=Decimal(5), gt=0)
    floor_per_day: Decimal = Field(
        default=Decimal(100), gt=0, description="Use per day always believed (kWh, GB …)"
    )
    history_days: int = Field(default=28, ge=1, description="History needed to go by it")


@dataclass(frozen=True)
class MeterReading:
    """What a meter showed on a day; ``replaced``: the first reading of a new meter."""

    meter: str
    read_on: date
    value: Decimal
    replaced: bool = False


def reading_problems(
    history: Sequence[MeterReading],
    reading: MeterReading,
    *,
    today: date,
    rules: MeterRules = MeterRules(),  # noqa: B008 - frozen
) -> list[dict[str, str]]:
    """Why ``reading`` cannot be believed after ``history`` (oldest first), as field-level
    details; empty when it can."""
    problems: list[dict[str, str]] = []
    if reading.read_on > today:
        problems.append({"field": "read_on", "message": f"{reading.read_on} is in the future"})
    if reading.value < 0:
        problems.append({"field": "value", "message": "a meter reading cannot be negative"})
    if not history:
        return problems
    last = history[-1]
    if reading.read_on <= last.read_on:
        problems.append(
            {
                "field": "read_on",
                "message": f"the previous reading is of {last.read_on}: a reading must be "
                "of a later day",
            }
        )
        return problems
    if reading.replaced:
        return problems
    if reading.meter != last.meter:
        problems.append(
            {
                "field": "meter",
                "message": f"the previous reading was of meter {last.meter}: if the meter was "
                "replaced, say so (meter_replaced)",
            }
        )
        return problems
    if reading.value < last.value:
        problems.append(
            {
                "field": "value",
                "message": f"{reading.value} is lower than the previous reading {last.value} "
                f"of {last.read_on} (if the meter was replaced, say so: meter_replaced)",
            }
        )
        return problems
    limit = _most_believable(history, reading.read_on, rules)
    used = reading.value - last.value
    if used > limit:
        problems.append(
            {
                "field": "value",
                "message": f"{used} used since {last.read_on} is far more than this meter's "
                f"history suggests (at most {limit}): check the reading",
            }
        )
    return problems


def _most_believable(history: Sequence[MeterReading], read_on: date, rules: MeterRules) -> Decimal:
    """The most use believed between the last reading and ``read_on``: ``max_factor`` times
    the history's daily use since the meter's first reading (its own meter only), at least
    ``floor_per_day`` a day."""
    last = history[-1]
    days = Decimal((read_on - last.read_on).days)
    floor = rules.floor_per_day * days
    same = list(_since_replacement(history))
    first = same[0]
    span = (last.read_on - first.read_on).days
    if span < rules.history_days:
        return floor
    daily = (last.value - first.value) / Decimal(span)
    return max(floor, (daily * days * rules.max_factor).quantize(Decimal(1)))


def _since_replacement(history: Sequence[MeterReading]) -> Iterable[MeterReading]:
    start = 0
    for index, reading in enumerate(history):
        if reading.replaced or reading.meter != history[start].meter:
            start = index
    return history[start:]


def month_use(history: Sequence[MeterReading], month: str) -> Decimal | None:
    """What the readings of ``month`` (by read date) add up to: each reading's use since the
    one before (a new meter's from 0); None when no reading of the month bills anything."""
    total: Decimal | None = None
    for before, reading in pairwise(history):
        if usage_billing.month_of(reading.read_on) != month:
            continue
        used = reading.value if reading.replaced else reading.value - before.value
        total = used if total is None else total + used
    return total


# ---- consumption chart -----------------------------------------------------------------------


def last_months(today: date, count: int) -> list[str]:
    """The ``count`` months up to ``today``'s, oldest first (``YYYY-MM``)."""
    year, month = today.year, today.month
    months = []
    for _ in range(count):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return months[::-1]


def consumption(
    components: Sequence[Component], usage: Mapping[str, str], months: Sequence[str]
) -> list[dict[str, object]]:
    """One series per metered service (SKU, every contract's readings added): its values per
    month of ``months`` (None for a month with no reading: a gap, not zero use)."""
    by_key = {(c.contract_id, c.key): c for c in components if c.kind == usage_billing.USAGE}
    sums: dict[str, dict[str, Decimal]] = {}
    named: dict[str, Component] = {}
    for component in by_key.values():
        sku = component.sku or component.key
        named.setdefault(sku, component)
        sums.setdefault(sku, {})
    for key, text in usage.items():
        contract_id, component_key, month = usage_billing.split_usage_key(key)
        metered = by_key.get((contract_id, component_key))
        if metered is None or month not in months:
            continue
        sku = metered.sku or metered.key
        sums[sku][month] = sums[sku].get(month, Decimal(0)) + Decimal(text)
    return [
        {
            "service": sku,
            "name": named[sku].name,
            "unit": named[sku].usage_unit or named[sku].unit,
            "values": [_number(sums[sku].get(month)) for month in months],
        }
        for sku in sorted(sums)
    ]


def _number(value: Decimal | None) -> int | float | None:
    """A quantity as a chart library reads it (a number; a quantity, never money)."""
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


# ---- inquiries -------------------------------------------------------------------------------


class InquiryRules(BaseModel):
    """The handling rules for billing inquiries, as data."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = Field(ge=1)
    comment: str = ""
    acknowledge_bank_days: int = Field(ge=0, le=30)
    answer_bank_days: int = Field(ge=1, le=60)


def load_inquiry_rules(path: Path = INQUIRY_RULES) -> InquiryRules:
    return InquiryRules.model_validate_json(path.read_bytes())


def add_bank_days(day: date, count: int) -> date:
    """The ``count``-th bank day after ``day`` (``day`` itself for 0 if a bank day, else the
    next one): an inquiry received on Friday evening or Saturday is due the same bank days
    after as one received on Friday morning."""
    result = calendar.next_bank_day(day) if count == 0 else day
    for _ in range(count):
        result = calendar.next_bank_day(result + timedelta(days=1))
    return result


def inquiry_due(received_on: date, rules: InquiryRules) -> tuple[date, date]:
    """(acknowledge by, answer by) for an inquiry received on ``received_on`` (Tokyo)."""
    return (
        add_bank_days(received_on, rules.acknowledge_bank_days),
        add_bank_days(received_on, rules.answer_bank_days),
    )
