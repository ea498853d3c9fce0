"""The billing engine (pure: no I/O): what a contract charges, month by month, and the invoice
of a billing account at a closing (締め日).

**Components.** A contract's priced document (the lines and discounts the customer agreed to)
becomes components (``components_from_document``): each monthly line is charged per calendar
month from the billing start (the ship or installation date); a campaign discount limited to
N months is a negative component ending N months after the billing start (the contract dates
rule, 民法143条); a one-time line is charged once, on the billing start. A change never edits
a component: it ends it (``end_components``) and adds another.

**Proration by day.** A component that covers part of a calendar month of D days, its days s..e
(day numbers), is charged ``floor(A·e/D) − floor(A·(s−1)/D)`` of its monthly amount A (the
sign kept for discounts): the pieces of a month split at any days add up to exactly A, so a
change mid-month charges the old and the new price to the day with no yen lost or gained.
``first_month = "next_month"`` starts the monthly charges on the 1st of the month after a
start that is not a 1st (the first partial month is free), per billing account.

**Invoices** bill in advance: the invoice at a closing charges every month up to the closing's
month for the components that started by the closing, and every one-time charge dated by it.
What was billed is kept per (contract, component, month) in the billing account's ledger; an
invoice bills the difference between what is due and what was billed, so a rerun bills nothing
twice, and a change that reaches back into a month already billed appears as an adjustment
(調整) line on the next invoice. Months older than ``HORIZON_MONTHS`` before the closing are
settled and not looked at again. Tax is computed once per rate on the invoice.

**Usage** (metered) is billed in arrears: the invoice at a closing charges the meter readings
(on the billing account) of the months before the closing's month, under the same ledger
keys, so a corrected reading is an adjustment too (``monosub.domain.usage_billing``).
"""

from __future__ import annotations

import calendar
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import NamedTuple, cast, get_args

from monosub.documents.model import PricedItems, TaxRate
from monosub.domain import usage_billing
from monosub.domain.contracts import month_offset, term_end
from monosub.domain.tax import TAX_CATEGORIES, TAX_RATE_PERCENT, Rounding, TaxCategory, tax_on
from monosub.models.billing import (
    BillingAccount,
    Component,
    Delivery,
    FirstMonth,
    Invoice,
    InvoiceLine,
    RevenueRow,
    TaxAmount,
    trusted_line,
    trusted_tax,
)

HORIZON_MONTHS = 12
ONCE = "once"
_CATEGORY: dict[int, TaxCategory] = {rate: category for category, rate in TAX_RATE_PERCENT.items()}
_RATES: tuple[TaxRate, ...] = tuple(cast("TaxRate", TAX_RATE_PERCENT[c]) for c in TAX_CATEGORIES)


# ---- months --------------------------------------------------------------------------------


# The month helpers are cached: a run asks the same few months again for every component of
# every account, and parsing them again was most of the engine's time (bench/billing.py).
_MONTHS_CACHED = 4096


@functools.lru_cache(maxsize=_MONTHS_CACHED)
def month_key(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


@functools.lru_cache(maxsize=_MONTHS_CACHED)
def month_first(key: str) -> date:
    return date(int(key[:4]), int(key[5:7]), 1)


@functools.lru_cache(maxsize=_MONTHS_CACHED)
def month_last(key: str) -> date:
    first = month_first(key)
    return first.replace(day=calendar.monthrange(first.year, first.month)[1])


@functools.lru_cache(maxsize=_MONTHS_CACHED)
def _month_span(key: str) -> tuple[date, date, int]:
    """The month's first day, last day and number of days (one call instead of three)."""
    last = month_last(key)
    return month_first(key), last, last.day


@functools.lru_cache(maxsize=_MONTHS_CACHED)
def add_months(key: str, months: int) -> str:
    year, month = month_offset(int(key[:4]), int(key[5:7]), months)
    return f"{year:04d}-{month:02d}"


def months_from(first: str, last: str) -> list[str]:
    """Every month key from ``first`` to ``last`` inclusive (none if last < first)."""
    return list(_months_between(first, last))


@functools.lru_cache(maxsize=_MONTHS_CACHED)
def _months_between(first: str, last: str) -> tuple[str, ...]:
    months, current = [], first
    while current <= last:
        months.append(current)
        current = add_months(current, 1)
    return tuple(months)


@functools.lru_cache(maxsize=_MONTHS_CACHED)
def month_label(key: str) -> str:
    return f"{int(key[:4])}年{int(key[5:7])}月分"


def billing_start(start: date, first_month: FirstMonth) -> date:
    """The first day of monthly charges for a contract started on ``start``."""
    if first_month == "prorate" or start.day == 1:
        return start
    year, month = month_offset(start.year, start.month, 1)
    return date(year, month, 1)


# ---- components ----------------------------------------------------------------------------


def components_from_document(
    document: PricedItems,
    *,
    contract_id: str,
    term: int,
    start: date,
    first_month: FirstMonth,
    one_time: bool = True,
) -> list[Component]:
    """The components of a contract term's priced document, started on ``start`` (the ship or
    installation date; a renewal's first day). ``one_time``: False for a renewal (nothing
    one-time is charged again)."""
    monthly_from = billing_start(start, first_month)
    components: list[Component] = []

    def add(**values: object) -> None:
        key = f"t{term}.{len(components) + 1:02d}"
        components.append(Component(contract_id=contract_id, key=key, **values))

    for line in document.lines:
        if line.billing == "one_time" and not one_time:
            continue
        add(
            name=line.name,
            sku=line.note,
            kind=line.billing,
            quantity=line.quantity,
            unit=line.unit,
            unit_price=line.unit_price,
            amount=line.amount,
            tax_rate=line.tax_rate,
            starts=start if line.billing == "one_time" else monthly_from,
        )
    for discount in document.discounts:
        if discount.billing == "one_time" and not one_time:
            continue
        if discount.discount == 0:
            continue
        monthly = discount.billing == "monthly"
        add(
            name=f"{discount.name}（{discount.applies_to}）",
            kind=discount.billing,
            quantity=1,
            unit_price=-discount.discount,
            amount=-discount.discount,
            tax_rate=discount.tax_rate,
            starts=monthly_from if monthly else start,
            ends=term_end(monthly_from, discount.months) if monthly and discount.months else None,
            discount=True,
            applies_to_sku=_sku_of_line(document, discount.applies_to, discount.billing),
        )
    return components


def _sku_of_line(document: PricedItems, name: str, billing: str) -> str | None:
    """The SKU of the line a discount names (``applies_to`` is the line's name): the line of
    the same billing kind first; None when no line or lines of two SKUs have the name (a
    manual discount names 月額費用, not a line)."""
    named = [line for line in document.lines if line.name == name]
    skus = {line.note for line in named if line.billing == billing} or {line.note for line in named}
    return skus.pop() if len(skus) == 1 else None


def end_components(
    components: Iterable[Component], contract_id: str, last_day: date
) -> list[Component]:
    """The contract's monthly and usage components billed no further than ``last_day`` (the
    end of the contract, or the day before a change): open ones and ones ending later end
    then; ones that would start after it are dropped. Other contracts' components are left
    alone."""
    kept = []
    for component in components:
        if component.contract_id != contract_id or component.kind == "one_time":
            kept.append(component)
        elif component.starts > last_day:
            continue
        elif component.ends is None or component.ends > last_day:
            kept.append(component.model_copy(update={"ends": last_day}))
        else:
            kept.append(component)
    return kept


# ---- charges -------------------------------------------------------------------------------


class Charge(NamedTuple):
    """What a component charges for one month (or once). A named tuple: a run makes one per
    component and month of every account, and a tuple is the cheapest immutable record."""

    component: Component
    month: str | None
    amount: int
    days: int | None = None
    days_in_month: int | None = None
    first_day: date | None = None
    last_day: date | None = None
    usage: Decimal | None = None  # a usage charge: the month's reading

    @property
    def key(self) -> str:
        return ledger_key(self.component.contract_id, self.component.key, self.month)

    @property
    def prorated(self) -> bool:
        return self.days is not None and self.days != self.days_in_month


def ledger_key(contract_id: str, component: str, month: str | None) -> str:
    return f"{contract_id}|{component}|{month or ONCE}"


def prorate(amount: int, first: int, last: int, days: int) -> int:
    """The part of a monthly ``amount`` for days ``first``..``last`` of a ``days``-day month:
    cumulative floors, so the parts of a month always add up to the amount (a negative
    amount is prorated as its absolute value, then negated)."""
    if not 1 <= first <= last <= days:
        raise ValueError(f"days {first}..{last} are not within a month of {days} days")
    size = abs(amount)
    part = size * last // days - size * (first - 1) // days
    return part if amount >= 0 else -part


def monthly_charge(component: Component, month: str) -> Charge | None:
    """The component's charge for the calendar month ``month``; None when it does not cover
    any day of it."""
    first, last, days = _month_span(month)
    start = max(first, component.starts)
    end = min(last, component.ends) if component.ends else last
    if start > end:
        return None
    if start == first and end == last:  # the whole month: most charges of a run
        return Charge(component, month, component.amount, days, days, first, last)
    return Charge(
        component=component,
        month=month,
        amount=prorate(component.amount, start.day, end.day, days),
        days=end.day - start.day + 1,
        days_in_month=days,
        first_day=start,
        last_day=end,
    )


def charges_through(
    components: Iterable[Component],
    closing: date,
    *,
    since: str | None = None,
    billed: Mapping[str, int] | None = None,
    settled: set[str] | None = None,
) -> list[Charge]:
    """Every charge due by ``closing``: each month from the component's first (or ``since``,
    whichever is later) to the closing's month, for components started by the closing, and
    each one-time charge dated by it.

    ``billed`` (the ledger) with ``settled``: a month the ledger holds for a component that
    does not end before that month's last day is *settled*: it is not computed again, its
    ledger key goes into ``settled``. It would charge exactly what was billed: nothing of a
    component changes but its end, which only ever moves earlier (a change ends a component
    and adds another), so a month whole now was whole, at the same price, when it was billed;
    and the ledger holds for a month what its charge was (a void gives the month back whole:
    ``billing_changes.ledger_without``). An account billed for a year computes one month per
    component instead of twelve (``tests/unit/test_billing_settled.py`` checks the shortcut
    against computing every month)."""
    return [due[-1] for due in _due(components, closing, since, billed, settled)]


# What ``draft_invoice`` orders and keys a charge by, made with the charge: (contract, month
# ("" for a one-time charge), component key, position, ledger key, charge). The position
# keeps charges of equal keys in the order they came, as a stable sort on the first three
# would; sorting these tuples never compares past it.
_Due = tuple[str, str, str, int, str, Charge]
_new_tuple = tuple.__new__
_NO_PERIOD = (None, None, None, None, None)  # a one-time charge's days, first/last day, usage
_NOTHING: Mapping[str, int] = MappingProxyType({})


def _due(
    components: Iterable[Component],
    closing: date,
    since: str | None,
    billed: Mapping[str, int] | None,
    settled: set[str] | None,
) -> list[_Due]:
    """``charges_through``'s charges, each with its order and ledger key (the hot loop of
    the engine: the month's charge is made here for a whole month, ``monthly_charge`` for
    a part of one)."""
    due: list[_Due] = []
    append = due.append
    last_month = month_key(closing)
    # without both, nothing is settled: an empty ledger holds no month
    held: Mapping[str, int] = billed if billed is not None and settled is not None else _NOTHING
    into: set[str] = settled if settled is not None else set()
    for component in components:
        starts = component.starts
        kind = component.kind
        if starts > closing or kind == "usage":
            continue  # usage is charged on readings: usage_charges
        contract_id, component_key = component.contract_id, component.key
        prefix = f"{contract_id}|{component_key}|"
        if kind == "one_time":
            charge = _new_tuple(Charge, (component, None, component.amount, *_NO_PERIOD))
            append((contract_id, "", component_key, len(due), prefix + ONCE, charge))
            continue
        first = month_key(starts)
        if since and since > first:
            first = since
        ends = component.ends
        final = min(last_month, month_key(ends)) if ends else last_month
        whole_through = _whole_through(ends) if billed is not None else None
        amount = component.amount
        for month in _months_between(first, final):
            key = prefix + month
            if key in held and (whole_through is None or month <= whole_through):
                into.add(key)  # settled
                continue
            # monthly_charge's charge, made here (a charge of every component of a run)
            month_start, month_end, days = _month_span(month)
            if starts <= month_start and (ends is None or ends >= month_end):  # whole
                charge = _new_tuple(
                    Charge, (component, month, amount, days, days, month_start, month_end, None)
                )
            else:  # a part: prorate's cumulative floors, the sign kept
                first_day = starts if starts > month_start else month_start
                last_day = ends if ends is not None and ends < month_end else month_end
                if first_day > last_day:
                    continue
                from_day, to_day = first_day.day, last_day.day
                size = amount if amount >= 0 else -amount
                part = size * to_day // days - size * (from_day - 1) // days
                charge = _new_tuple(
                    Charge,
                    (
                        component,
                        month,
                        part if amount >= 0 else -part,
                        to_day - from_day + 1,
                        days,
                        first_day,
                        last_day,
                        None,
                    ),
                )
            append((contract_id, month, component_key, len(due), key, charge))
    return due


@functools.lru_cache(maxsize=_MONTHS_CACHED)
def _whole_through(ends: date | None) -> str | None:
    """The last month a component ending on ``ends`` charges whole (None: no end)."""
    if ends is None:
        return None
    month = month_key(ends)
    return month if ends == month_last(month) else add_months(month, -1)


def usage_charges(
    components: Iterable[Component], usage: dict[str, str], closing: date, *, since: str
) -> list[Charge]:
    """In arrears: each reading of a month from ``since`` to the month before the closing's,
    on a usage component covering that month, priced by its tiers (floored once)."""
    return [
        Charge(
            component=due.component,
            month=due.month,
            amount=due.amount,
            first_day=month_first(due.month),
            last_day=month_last(due.month),
            usage=due.quantity,
        )
        for due in usage_billing.usage_due(
            components, usage, since=since, before=month_key(closing)
        )
    ]


# ---- invoices ------------------------------------------------------------------------------


def horizon(closing: date) -> str:
    """The oldest month an invoice at ``closing`` still looks at."""
    return add_months(month_key(closing), -HORIZON_MONTHS)


@dataclass(frozen=True)
class Draft:
    """An invoice computed at a closing, and the ledger once it is finalized. ``invoice`` is
    None when nothing is due (or what is due is not positive: it waits for the next
    closing)."""

    invoice: Invoice | None
    ledger: dict[str, int]
    due_lines: int


def invoice_id(account_id: str, closing: date) -> str:
    return f"invoice_{_day_digits(closing)}{account_id.split('_', 1)[-1]}"


@functools.lru_cache(maxsize=_MONTHS_CACHED)
def _day_digits(day: date) -> str:
    return f"{day:%Y%m%d}"  # strftime: a microsecond, asked for every invoice of a closing


def draft_invoice(
    account: BillingAccount,
    closing: date,
    *,
    rounding: Rounding,
    created_at: str,
    due_date: date | None = None,
    run_id: str | None = None,
    recompute: bool = False,
) -> Draft:
    """The invoice of ``account`` at ``closing``: what is due minus what was billed, line by
    line, tax once per rate (pure: everything comes in the arguments). Months already billed
    and settled are not computed again (``charges_through``); ``recompute`` computes every
    month (the reference the shortcut is tested against)."""
    since = horizon(closing)
    last_month = month_key(closing)
    billed = account.billed
    settled: set[str] = set()
    due = _due(account.components, closing, since, None if recompute else billed, settled)
    if account.usage:
        for charge in usage_charges(account.components, account.usage, closing, since=since):
            due.append(_ordered(charge, len(due)))
    # the ledger's keys that are settled or due: when they are all of them (the usual case),
    # nothing billed is no longer due and every key is within the horizon (due and settled
    # months are), so neither needs a pass over the ledger (twelve keys per component of
    # an account a year old)
    accounted = settled
    for entry in due:
        if entry[4] in billed:
            accounted.add(entry[4])
    if len(accounted) == len(billed):  # accounted is within billed: the same keys
        ledger = dict(billed)
    else:
        for charge in _no_longer_due(account, due, accounted, since, last_month):
            due.append(_ordered(charge, len(due)))
        # the ledger within the horizon (a one-time charge's key, …|once, always is)
        ledger = {k: yen for k, yen in billed.items() if k[-7:] >= since or k.endswith(ONCE)}
    lines: list[InvoiceLine] = []
    by_rate: dict[TaxRate, int] = {}
    contracts: set[str] = set()
    subtotal = 0
    period_start: date | None = None
    due.sort()
    for contract_id, _month, _component, _position, key, charge in due:
        before = billed.get(key)
        amount = charge.amount
        difference = amount if before is None else amount - before
        if difference == 0:
            continue
        line = _line(charge, difference, adjustment=before is not None)
        lines.append(line)
        subtotal += difference
        rate = charge.component.tax_rate
        by_rate[rate] = by_rate.get(rate, 0) + difference
        contracts.add(contract_id)
        first_day = charge.first_day or _first_day(charge)
        if period_start is None or first_day < period_start:
            period_start = first_day
        ledger[key] = amount
    if not lines or subtotal <= 0 or period_start is None:
        return Draft(invoice=None, ledger=dict(account.billed), due_lines=len(lines))
    taxes = tax_amounts(by_rate.items(), rounding)
    tax_total = sum(t.tax for t in taxes)
    values = {
        "invoice_id": invoice_id(account.account_id, closing),
        "account_id": account.account_id,
        "closing_date": closing,
        "period_start": period_start,
        "period_end": month_last(last_month),
        "due_date": due_date,
        "series": series_of(closing),
        "lines": lines,
        "taxes": taxes,
        "subtotal": subtotal,
        "tax_total": tax_total,
        "total": subtotal + tax_total,
        "delivery": account.delivery,
        "payment_method": account.payment_method,
        "contracts": sorted(contracts),
        "run_id": run_id,
        "created_at": created_at,
    }
    if _typed(account, closing, due_date, run_id, created_at):
        invoice = Invoice.trusted(values)
    else:  # what the engine did not type itself is validated (and refused when wrong)
        invoice = Invoice(**values)
    return Draft(invoice=invoice, ledger=ledger, due_lines=len(lines))


def _typed(
    account: BillingAccount,
    closing: date,
    due_date: date | None,
    run_id: str | None,
    created_at: str,
) -> bool:
    """The invoice's values that are not the engine's own are of the exact types the model
    takes (an account copied with ``model_copy(update=…)`` is not validated again): then
    validating the invoice would change and refuse nothing."""
    return (
        type(closing) is date
        and (due_date is None or type(due_date) is date)
        and (run_id is None or type(run_id) is str)
        and type(created_at) is str
        and type(account.account_id) is str
        and type(account.payment_method) is str
        and type(account.delivery) is str
        and account.delivery in _DELIVERIES
    )


_DELIVERIES = frozenset(get_args(Delivery))


def _ordered(charge: Charge, position: int) -> _Due:
    component = charge.component
    return (
        component.contract_id,
        charge.month or "",
        component.key,
        position,
        charge.key,
        charge,
    )


def _no_longer_due(
    account: BillingAccount,
    due: Iterable[_Due],
    accounted: set[str],
    since: str,
    last_month: str,
) -> list[Charge]:
    """A zero charge for each month billed that is no longer due at all (a change or a
    return ended the component before that month): so it is given back as an adjustment.
    ``accounted``: the ledger's keys that are due, or settled (due as billed)."""
    unsettled = [key for key, yen in account.billed.items() if yen and key not in accounted]
    if not unsettled:
        return []
    keys = {entry[4] for entry in due}
    components = {(c.contract_id, c.key): c for c in account.components}
    zero = []
    for key in unsettled:
        contract_id, component_key, month = key.rsplit("|", 2)
        component = components.get((contract_id, component_key))
        if key in keys or component is None or month == ONCE:
            continue
        if since <= month <= last_month:
            zero.append(Charge(component=component, month=month, amount=0))
    return zero


def ledger_after(billed: dict[str, int], invoice: Invoice, closing: date) -> dict[str, int]:
    """The ledger once ``invoice`` (of ``closing``) is billed: what its lines add to what was
    billed (a rerun that finds the invoice written rebuilds the same ledger from it)."""
    since = horizon(closing)
    ledger = {key: yen for key, yen in billed.items() if _month_of(key) >= since}
    for line in invoice.lines:
        key = ledger_key(line.contract_id, line.component, line.month)
        ledger[key] = billed.get(key, 0) + line.amount
    return ledger


def tax_amounts(amounts: Iterable[tuple[TaxRate, int]], rounding: Rounding) -> list[TaxAmount]:
    """Tax once per rate, standard rate first: ``monosub.domain.tax.taxes_by_rate``'s sums
    and order, and its rounding (``tax_on``), made without its records and with trusted
    models (one per invoice of a run; ``tests/unit/test_billing_fast_paths.py`` compares
    the two)."""
    bases: dict[TaxRate, int] = {}
    for rate, yen in amounts:
        bases[rate] = bases.get(rate, 0) + yen
    if not bases.keys() <= _CATEGORY.keys():
        raise KeyError(f"no tax rate of {sorted(bases.keys() - _CATEGORY.keys())} %")
    return [
        trusted_tax(
            rate=rate, taxable=bases[rate], tax=tax_on(bases[rate], _CATEGORY[rate], rounding)
        )
        for rate in _RATES
        if rate in bases
    ]


def series_of(closing: date) -> str:
    """The numbering series of a closing's invoices: one per year of the closing."""
    return f"INV-{closing.year}"


def invoice_number(series: str, sequence: int) -> str:
    return f"{series}-{sequence:06d}"


def _first_day(charge: Charge) -> date:
    return month_first(charge.month) if charge.month else charge.component.starts


def _month_of(key: str) -> str:
    """The month of a ledger key (``…|YYYY-MM``; a one-time charge's ``…|once`` sorts last)."""
    return "9999-12" if key.endswith(ONCE) else key[-7:]


def _line(charge: Charge, amount: int, *, adjustment: bool) -> InvoiceLine:
    component = charge.component
    month = charge.month
    if charge.usage is not None and month is not None:
        return _usage_line(charge, month, charge.usage, amount, adjustment=adjustment)
    days = charge.days
    prorated = days is not None and days != charge.days_in_month
    if month is None:
        period = _day_label(component.starts)
    elif prorated and charge.first_day and charge.last_day:
        period = _days_label(charge.first_day, charge.last_day, days, charge.days_in_month)
    else:
        period = month_label(month)
    if adjustment:
        period = f"{period} 調整"
        exact = False
    else:
        exact = not prorated
    # built without validation: every value comes typed from a component (the hot path of a
    # run: a line of every invoice)
    return trusted_line(
        contract_id=component.contract_id,
        component=component.key,
        month=month,
        name=component.name,
        period=period,
        quantity=component.quantity if exact else 1,
        unit=component.unit if exact else "式",
        unit_price=component.unit_price if exact else amount,
        amount=amount,
        prorated=prorated,
        tax_rate=component.tax_rate,
        adjustment=adjustment,
    )


@functools.lru_cache(maxsize=_MONTHS_CACHED)
def _day_label(day: date) -> str:
    """A one-time charge's period: its day (cached: the accounts of a run share the days)."""
    return f"{day.year}年{day.month}月{day.day}日"


@functools.lru_cache(maxsize=_MONTHS_CACHED)
def _days_label(first: date, last: date, days: int | None, days_in_month: int | None) -> str:
    """A part of a month's period (cached: the accounts of a run share the days)."""
    return (
        f"{first.year}年{first.month}月{first.day}日〜{last.month}月{last.day}日"
        f"（日割 {days}/{days_in_month}日）"
    )


def _usage_line(
    charge: Charge, month: str, quantity: Decimal, amount: int, *, adjustment: bool
) -> InvoiceLine:
    """A month's reading: the quantity in the name (電力 従量料金（350.5kWh）), one 式 of the
    amount (an adjustment: the difference, the corrected quantity named)."""
    component = charge.component
    return InvoiceLine.trusted(
        {
            "contract_id": component.contract_id,
            "component": component.key,
            "month": month,
            "prorated": False,
            "name": usage_billing.line_name(component, quantity),
            "period": f"{month_label(month)} 調整" if adjustment else month_label(month),
            "quantity": 1,
            "unit": "式",
            "unit_price": amount,
            "amount": amount,
            "tax_rate": component.tax_rate,
            "adjustment": adjustment,
        }
    )


# ---- revenue -------------------------------------------------------------------------------


def revenue_rows(
    components: Iterable[Component],
    month: str,
    account_id: str,
    usage: dict[str, str] | None = None,
) -> list[RevenueRow]:
    """Revenue of ``month`` (売上計上): each monthly component's charge for the month (by day),
    each one-time charge dated in it, and each usage component's reading of the month when
    ``usage`` (the account's readings at the run) has it. Never a row for another month."""
    components = list(components)
    rows = [
        _revenue(due.component, month, account_id, due.amount, None)
        for due in usage_billing.month_usage(components, usage or {}, month)
        if due.amount
    ]
    first, last = month_first(month), month_last(month)
    for component in components:
        if component.kind == "usage":
            continue
        if component.kind == "one_time":
            if first <= component.starts <= last:
                rows.append(_revenue(component, month, account_id, component.amount, None))
            continue
        charge = monthly_charge(component, month)
        if charge is not None and charge.amount:
            rows.append(_revenue(component, month, account_id, charge.amount, charge.days))
    return rows


def late_usage_rows(
    components: Iterable[Component],
    month: str,
    account_id: str,
    usage: Mapping[str, str],
    seen: Mapping[str, str],
) -> list[RevenueRow]:
    """Revenue of earlier months' readings that no revenue file has yet: a reading that came
    after its month's run (meters are read at month end, the file arrives days later), or one
    corrected since. Recognized in ``month`` (the run that finds it) as the difference from
    what was recognized, each row naming its service month (``service_month``). ``seen``: the
    readings the revenue files hold so far (the previous month's revenue item keeps them).
    Readings older than the invoices' horizon are not looked at (nor billed)."""
    oldest = add_months(month, -HORIZON_MONTHS)
    changed = [
        key
        for key in sorted({*usage, *seen})
        if oldest <= key.rsplit("|", 1)[-1] < month and usage.get(key) != seen.get(key)
    ]
    rows = []
    for key in changed:
        service_month = key.rsplit("|", 1)[-1]
        now = _usage_amounts(components, {key: usage[key]} if key in usage else {}, service_month)
        before = _usage_amounts(components, {key: seen[key]} if key in seen else {}, service_month)
        rows += _late_rows(now, before, month, service_month, account_id)
    return rows


def readings_through(usage: Mapping[str, str], month: str) -> dict[str, str]:
    """The readings of the months up to ``month`` within the invoices' horizon: what the
    revenue files hold once ``month`` is recognized."""
    oldest = add_months(month, -HORIZON_MONTHS)
    return {k: v for k, v in usage.items() if oldest <= k.rsplit("|", 1)[-1] <= month}


def _usage_amounts(
    components: Iterable[Component], usage: Mapping[str, str], month: str
) -> dict[str, tuple[Component, int]]:
    return {
        ledger_key(due.component.contract_id, due.component.key, month): (due.component, due.amount)
        for due in usage_billing.month_usage(components, usage, month)
    }


def _late_rows(
    now: Mapping[str, tuple[Component, int]],
    before: Mapping[str, tuple[Component, int]],
    month: str,
    service_month: str,
    account_id: str,
) -> list[RevenueRow]:
    rows = []
    for key in sorted({*now, *before}):
        component = (now.get(key) or before[key])[0]
        amount = now.get(key, (component, 0))[1] - before.get(key, (component, 0))[1]
        if amount:
            rows.append(
                _revenue(component, month, account_id, amount, None, service_month=service_month)
            )
    return rows


def _revenue(
    component: Component,
    month: str,
    account_id: str,
    amount: int,
    days: int | None,
    *,
    service_month: str | None = None,
) -> RevenueRow:
    return RevenueRow(
        month=month,
        contract_id=component.contract_id,
        component=component.key,
        account_id=account_id,
        name=component.name,
        amount=amount,
        tax_rate=component.tax_rate,
        days=days,
        service_month=service_month or month,
    )


def day_before(day: date) -> date:
    return day - timedelta(days=1)
