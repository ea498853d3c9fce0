"""Consumption tax (消費税) as a qualified invoice (適格請求書) computes it.

Tax is computed **once per tax rate per document**: the tax-exclusive amounts of every item
at one rate are added first, then that base is multiplied by the rate and rounded once. Never
per line: three lines of ¥105 at 10 % are a base of ¥315 and a tax of ¥31 (floor), where
per-line rounding would wrongly give ¥30.

The rounding mode is the issuer's choice and must be the same on every document: it is a
parameter here, and ``monosub.services.pricing.TAX_ROUNDING`` is the company's choice.
Money is integer yen; rates are integer percents.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Literal

TaxCategory = Literal["standard", "reduced"]
Rounding = Literal["floor", "half_up", "ceiling"]

# 標準税率 10 %, 軽減税率 8 % (since 2019-10-01).
TAX_RATE_PERCENT: Mapping[TaxCategory, int] = {"standard": 10, "reduced": 8}
TAX_CATEGORIES: tuple[TaxCategory, ...] = ("standard", "reduced")

_DECIMAL_ROUNDING: Mapping[Rounding, str] = {
    "floor": ROUND_FLOOR,
    "half_up": ROUND_HALF_UP,
    "ceiling": ROUND_CEILING,
}


def round_yen(value: Decimal, rounding: Rounding) -> int:
    """``value`` rounded to whole yen with ``rounding``."""
    return int(value.to_integral_value(rounding=_DECIMAL_ROUNDING[rounding]))


@dataclass(frozen=True)
class RateTax:
    """The tax of one rate on one document: its base (tax-exclusive) and the tax on it."""

    category: TaxCategory
    rate_percent: int
    base_yen: int
    tax_yen: int


def tax_on(base_yen: int, category: TaxCategory, rounding: Rounding) -> int:
    """The tax on a tax-exclusive base of one rate, rounded once: base × rate / 100, in
    integers (what ``round_yen`` of the Decimal gives, at a tenth of its cost: one per rate
    of every invoice of a run; ``tests/unit/test_billing_fast_paths.py`` compares the two)."""
    rate = TAX_RATE_PERCENT[category]
    if not -_EXACT_BASE < base_yen < _EXACT_BASE:  # beyond Decimal's 28 digits: its rounding
        return round_yen(Decimal(base_yen) * rate / 100, rounding)
    hundredths = base_yen * rate
    if rounding == "floor":
        return hundredths // 100
    if rounding == "ceiling":
        return -(-hundredths // 100)
    if rounding == "half_up":  # a half away from zero, as ROUND_HALF_UP
        whole, rest = divmod(abs(hundredths), 100)
        whole += rest >= 50
        return whole if hundredths >= 0 else -whole
    raise KeyError(rounding)


# A base below this times a rate (≤ 100) has at most 25 digits: Decimal's default context
# (28) computes it exactly, so the integer result is the same.
_EXACT_BASE = 10**23


def taxes_by_rate(amounts: Iterable[tuple[TaxCategory, int]], rounding: Rounding) -> list[RateTax]:
    """The tax of a document: its tax-exclusive ``amounts`` summed per rate, each sum taxed
    and rounded once. Rates with no item are left out; the standard rate comes first."""
    bases: dict[TaxCategory, int] = {}
    for category, amount in amounts:
        bases[category] = bases.get(category, 0) + amount
    return [
        RateTax(
            category=category,
            rate_percent=TAX_RATE_PERCENT[category],
            base_yen=bases[category],
            tax_yen=tax_on(bases[category], category, rounding),
        )
        for category in TAX_CATEGORIES
        if category in bases
    ]


def tax_included_in(total_yen: int, category: TaxCategory, rounding: Rounding) -> int:
    """The tax inside a tax-inclusive total of one rate: total × rate / (100 + rate)."""
    rate = TAX_RATE_PERCENT[category]
    return round_yen(Decimal(total_yen) * rate / (100 + rate), rounding)
