"""Usage (metered) billing, pure: which of a contract's products are billed on meter readings,
which reading belongs to which component, and what a month's reading charges.

**Components.** A contract's product whose price version in force on the start date has
``usage_tiers`` (an energy plan in kWh, storage in GB) gets a ``usage`` component besides its
monthly one: the monthly line of the document already charges the price's base amount
(基本料金), so the usage component has amounts of 0 and carries the unit and tiers instead.
One per product and contract term, however many lines or units name the product: the meter
reads the contract's whole use of it. It starts on the billing start and is open-ended, ended
like the monthly components.

**Readings** are kept on the billing account (``usage``: ``<contract>|<component>|<YYYY-MM>``
→ the quantity as a decimal string), so the engine stays pure: everything it prices comes in
through the account. A reading for a month belongs to the newest usage component of the
contract for the product that covers a day of the month (a month split by a renewal is
priced by the new term's tiers).

**Arrears.** The invoice at a closing charges the readings of the months before the closing's
month (``usage_due``), each priced by ``usage_charge`` (floored to the yen once per line),
under the same ledger keys as monthly charges: a corrected reading is an adjustment, a rerun
bills nothing twice, and a reading that comes late is billed at the next closing after it.

This module imports nothing of the engine (``monosub.domain.billing`` imports it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from monosub.domain.pricing import CatalogEntry, price_on, usage_charge
from monosub.domain.tax import TAX_RATE_PERCENT
from monosub.models.billing import Component
from monosub.models.deals import DealLine

USAGE = "usage"
USAGE_NAME = "従量料金"


def usage_key(contract_id: str, component: str, month: str) -> str:
    """The key of a reading: the engine's ledger key of the month it charges."""
    return f"{contract_id}|{component}|{month}"


def split_usage_key(key: str) -> tuple[str, str, str]:
    contract_id, component, month = key.split("|")
    return contract_id, component, month


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


# ---- components ----------------------------------------------------------------------------


def line_skus(lines: Iterable[DealLine]) -> list[str]:
    """Every product the lines name (device, plan, options), each once, in the lines' order."""
    skus: dict[str, None] = {}
    for line in lines:
        for sku in (line.device_sku, line.plan_sku, *line.option_skus):
            if sku:
                skus.setdefault(sku, None)
    return list(skus)


def usage_components(
    skus: Iterable[str],
    catalog: Mapping[str, CatalogEntry],
    *,
    contract_id: str,
    term: int,
    starts: date,
    priced_on: date,
) -> list[Component]:
    """A usage component for each of ``skus`` whose price version in force on ``priced_on``
    (the contract's start or renewal date) is a usage price, billed from ``starts`` (the
    billing start). Keys ``t<term>.u<n>``: apart from the document's ``t<term>.<n>``."""
    components: list[Component] = []
    for sku in skus:
        entry = catalog.get(sku)
        price = price_on(entry.prices, priced_on) if entry else None
        if entry is None or price is None or price.usage_tiers is None:
            continue
        components.append(
            Component(
                contract_id=contract_id,
                key=f"t{term}.u{len(components) + 1:02d}",
                name=f"{entry.product.name} {USAGE_NAME}",
                sku=sku,
                kind=USAGE,
                quantity=1,
                unit=price.usage_unit or "",
                unit_price=0,
                amount=0,
                tax_rate=TAX_RATE_PERCENT[price.tax],
                starts=starts,
                usage_unit=price.usage_unit,
                usage_tiers=list(price.usage_tiers),
            )
        )
    return components


def covers(component: Component, month: str) -> bool:
    """The component is billed for some day of ``month``."""
    if month < month_of(component.starts):
        return False
    return component.ends is None or month <= month_of(component.ends)


def component_for(
    components: Iterable[Component], contract_id: str, sku: str, month: str
) -> Component | None:
    """The usage component of the contract for ``sku`` that a reading of ``month`` belongs
    to: the newest one covering a day of the month; None if there is none."""
    matching = [
        c
        for c in components
        if c.kind == USAGE and c.contract_id == contract_id and c.sku == sku and covers(c, month)
    ]
    return max(matching, key=lambda c: c.starts, default=None)


# ---- charges -------------------------------------------------------------------------------


@dataclass(frozen=True)
class UsageDue:
    """A reading as the engine charges it: ``amount`` floored to the yen once."""

    component: Component
    month: str
    quantity: Decimal
    amount: int


def usage_amount(component: Component, quantity: Decimal) -> int:
    if not component.usage_tiers:
        raise ValueError(f"component {component.key} of {component.contract_id} has no tiers")
    return usage_charge(component.usage_tiers, quantity).amount_yen


def usage_due(
    components: Iterable[Component], usage: Mapping[str, str], *, since: str, before: str
) -> list[UsageDue]:
    """Each reading of a month from ``since`` to before ``before`` (in arrears: the months
    before the closing's) on a usage component covering that month."""
    if not usage:
        return []
    metered = {(c.contract_id, c.key): c for c in components if c.kind == USAGE}
    due = []
    for key, text in usage.items():
        contract_id, component_key, month = split_usage_key(key)
        component = metered.get((contract_id, component_key))
        if component is None or not since <= month < before or not covers(component, month):
            continue
        quantity = Decimal(text)
        due.append(UsageDue(component, month, quantity, usage_amount(component, quantity)))
    return due


def month_usage(
    components: Iterable[Component], usage: Mapping[str, str], month: str
) -> list[UsageDue]:
    """The readings of ``month`` itself (its revenue: what is read by the month-end run)."""
    year, number = int(month[:4]), int(month[5:7])
    following = f"{year + number // 12:04d}-{number % 12 + 1:02d}"
    return usage_due(components, usage, since=month, before=following)


def format_quantity(quantity: Decimal) -> str:
    """A quantity as stored and printed: no exponent, no trailing zeros (350.5, 1200, 0)."""
    text = format(quantity, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def line_name(component: Component, quantity: Decimal) -> str:
    """品目 of a usage line: the component's name with the month's reading, e.g.
    ``電力 従量料金（350.5kWh）``."""
    return f"{component.name}（{format_quantity(quantity)}{component.usage_unit or ''}）"


# ---- readings ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    """A validated reading for a billing account."""

    contract_id: str
    component: str
    month: str
    quantity: Decimal

    @property
    def key(self) -> str:
        return usage_key(self.contract_id, self.component, self.month)


def merge_readings(
    usage: Mapping[str, str], readings: Iterable[Reading], *, oldest_month: str
) -> tuple[dict[str, str], dict[str, int]]:
    """The account's readings with ``readings`` stored: a new key is ``stored``, a different
    quantity for a key ``replaced`` (a corrected reading), the same one ``unchanged`` (a
    retried apply, a file sent again). Readings of months before ``oldest_month`` are
    dropped: the engine no longer looks at them, and the account item must stay small."""
    merged = {key: text for key, text in usage.items() if split_usage_key(key)[2] >= oldest_month}
    counts = {"stored": 0, "replaced": 0, "unchanged": 0}
    for reading in readings:
        before = merged.get(reading.key)
        if before is None:
            counts["stored"] += 1
        elif Decimal(before) == reading.quantity:
            counts["unchanged"] += 1
            continue
        else:
            counts["replaced"] += 1
        merged[reading.key] = format_quantity(reading.quantity)
    return merged, counts
