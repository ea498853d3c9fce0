"""Usage (metered) prices without AWS: the tiers a price version may carry, the progressive
charge of a reading (段階料金, floored to the yen once), and that a usage price adds nothing to
a priced result beyond its monthly base amount. Properties of ``usage_charge`` (Hypothesis)
at the end."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from monosub.domain import pricing
from monosub.domain.pricing import UsageBand, usage_charge
from monosub.errors import ValidationFailed
from monosub.models.catalog import PriceDraft, UsageTier
from tests.unit.test_pricing import camera_catalog, entry, request, version

# 従量電灯B-like tiers: up to 120 kWh, 120–300 kWh, above 300 kWh.
ENERGY = [
    UsageTier(up_to=120, unit_yen=Decimal("29.80")),
    UsageTier(up_to=300, unit_yen=Decimal("36.40")),
    UsageTier(up_to=None, unit_yen=Decimal("40.49")),
]


def draft(**fields: Any) -> PriceDraft:
    return PriceDraft.model_validate({"valid_from": "2026-04-01", **fields})


def problems(**fields: Any) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        draft(**fields)
    return [
        (".".join(str(part) for part in e["loc"]), e["msg"].removeprefix("Value error, "))
        for e in caught.value.errors()
    ]


# ---- the price version ----------------------------------------------------------------------


def test_a_usage_price_has_a_unit_tiers_and_maybe_a_base_amount():
    price = draft(
        monthly_yen=885,
        usage_unit="kWh",
        usage_tiers=[
            {"up_to": 120, "unit_yen": "29.80"},
            {"up_to": 300, "unit_yen": "36.40"},
            {"unit_yen": "40.49"},
        ],
    )
    assert price.metered
    assert price.usage_tiers == ENERGY
    assert price.usage_tiers[0].unit_yen == Decimal("29.80")
    without_base = draft(usage_unit="GB", usage_tiers=[{"up_to": None, "unit_yen": 5}])
    assert without_base.monthly_yen is None and without_base.one_time_yen is None
    assert not draft(monthly_yen=1980).metered


def test_unit_and_tiers_come_together():
    both = "a usage price gives both usage_unit and usage_tiers"
    assert problems(monthly_yen=1, usage_unit="kWh") == [("", both)]
    assert problems(monthly_yen=1, usage_tiers=[{"unit_yen": "1"}]) == [("", both)]


@pytest.mark.parametrize(
    ("tiers", "expected"),
    [
        ([], ("usage_tiers", "List should have at least 1 item after validation, not 0")),
        (
            [{"up_to": 120, "unit_yen": "29.80"}],
            ("usage_tiers", "the last tier is open: leave its up_to empty"),
        ),
        (
            [{"unit_yen": "1"}, {"unit_yen": "2"}],
            ("usage_tiers", "only the last tier is open; give every other tier its up_to"),
        ),
        (
            [{"up_to": 300, "unit_yen": "1"}, {"up_to": 120, "unit_yen": "2"}, {"unit_yen": "3"}],
            ("usage_tiers", "tiers go by ascending up_to, each above the previous"),
        ),
        (
            [{"up_to": 120, "unit_yen": "1"}, {"up_to": 120, "unit_yen": "2"}, {"unit_yen": "3"}],
            ("usage_tiers", "tiers go by ascending up_to, each above the previous"),
        ),
        (
            [{"up_to": 0, "unit_yen": "1"}, {"unit_yen": "2"}],
            ("usage_tiers.0.up_to", "Input should be greater than or equal to 1"),
        ),
        (
            [{"unit_yen": "29.805"}],
            ("usage_tiers.0.unit_yen", "Decimal input should have no more than 2 decimal places"),
        ),
        (
            [{"unit_yen": "-1"}],
            ("usage_tiers.0.unit_yen", "Input should be greater than or equal to 0"),
        ),
        ([{"unit_yen": "NaN"}], ("usage_tiers.0.unit_yen", "Input should be a finite number")),
    ],
)
def test_tiers_ascend_to_one_open_last_tier(tiers, expected):
    assert problems(usage_unit="kWh", usage_tiers=tiers) == [expected]


@pytest.mark.parametrize("unit", ["", "kilowatt-hour"])
def test_the_unit_is_one_to_ten_characters(unit):
    [(field, _)] = problems(usage_unit=unit, usage_tiers=[{"unit_yen": "1"}])
    assert field == "usage_unit"


def test_same_terms_include_the_tiers():
    energy = draft(usage_unit="kWh", usage_tiers=[t.model_dump() for t in ENERGY])
    assert energy.same_terms(draft(usage_unit="kWh", usage_tiers=[t.model_dump() for t in ENERGY]))
    cheaper = [*ENERGY[:2], UsageTier(unit_yen=Decimal("39.99"))]
    assert not energy.same_terms(draft(usage_unit="kWh", usage_tiers=cheaper))
    assert not energy.same_terms(draft(usage_unit="GB", usage_tiers=ENERGY))
    # The same price written 29.8 or 29.80 is the same price.
    assert energy.same_terms(
        draft(
            usage_unit="kWh",
            usage_tiers=[{"up_to": 120, "unit_yen": "29.8"}, *ENERGY[1:]],
        )
    )


# ---- the charge of a reading ----------------------------------------------------------------


def test_a_reading_is_charged_tier_by_tier_and_floored_once():
    charge = usage_charge(ENERGY, Decimal("350.5"))
    assert charge.bands == [
        UsageBand(Decimal(0), Decimal(120), Decimal(120), Decimal("29.80"), Decimal("3576.00")),
        UsageBand(Decimal(120), Decimal(300), Decimal(180), Decimal("36.40"), Decimal("6552.00")),
        UsageBand(
            Decimal(300), Decimal("350.5"), Decimal("50.5"), Decimal("40.49"), Decimal("2044.745")
        ),
    ]
    assert charge.amount_yen == 12172  # floor(12172.745)
    assert charge.quantity == Decimal("350.5")


def test_flooring_once_is_not_flooring_each_band():
    tiers = [UsageTier(up_to=1, unit_yen=Decimal("0.50")), UsageTier(unit_yen=Decimal("0.50"))]
    # 0.5 + 0.5 = 1 yen; floored per band it would be 0 + 0.
    assert usage_charge(tiers, Decimal(2)).amount_yen == 1


def test_a_reading_within_the_first_tier_is_one_band():
    charge = usage_charge(ENERGY, Decimal("100.123"))
    assert [(b.from_qty, b.to_qty) for b in charge.bands] == [(0, Decimal("100.123"))]
    assert charge.amount_yen == 2983  # 100.123 × 29.80 = 2983.6654


def test_a_reading_on_a_tier_bound_stays_in_that_tier():
    charge = usage_charge(ENERGY, Decimal(120))
    assert len(charge.bands) == 1
    assert charge.amount_yen == 3576


def test_no_usage_is_no_charge():
    assert usage_charge(ENERGY, Decimal(0)) == pricing.UsageCharge(Decimal(0), 0, [])


@pytest.mark.parametrize(
    ("quantity", "message"),
    [
        (Decimal(-1), "the quantity cannot be negative"),
        (Decimal("1.2345"), "at most 3 decimal places"),
        (Decimal("NaN"), "the quantity is a finite decimal number"),
        (Decimal("Infinity"), "the quantity is a finite decimal number"),
        (Decimal(10) ** 13, "at most 1,000,000,000,000 units"),
    ],
)
def test_a_bad_quantity_is_refused_with_its_field(quantity, message):
    with pytest.raises(ValidationFailed) as caught:
        usage_charge(ENERGY, quantity)
    assert caught.value.details == [{"field": "quantity", "message": message}]


def test_trailing_zeros_are_not_decimal_places():
    assert usage_charge(ENERGY, Decimal("10.50000")).amount_yen == 312  # 10.5 × 29.80 = 312.9


def test_tiers_a_price_could_not_hold_are_a_bug():
    with pytest.raises(ValueError, match="open tier"):
        usage_charge([], Decimal(1))
    with pytest.raises(ValueError, match="open tier"):
        usage_charge([UsageTier(up_to=10, unit_yen=Decimal(1))], Decimal(1))


# ---- pricing a document with a usage price ---------------------------------------------------


def metered_version(sku: str, **fields: Any):
    return version(sku, usage_unit="kWh", usage_tiers=[t.model_dump() for t in ENERGY], **fields)


def test_a_usage_price_adds_only_its_base_amount_to_a_priced_result():
    catalog = camera_catalog()
    catalog |= dict(
        [
            entry(
                "PLAN-ENERGY",
                "plan",
                prices=(metered_version("PLAN-ENERGY", monthly_yen=885),),
            ),
            entry(
                "OPT-METERED",
                "option",
                fits_plans=["PLAN-30D"],
                prices=(metered_version("OPT-METERED"),),
            ),
        ]
    )
    result = pricing.price(
        request(
            "PLAN-ENERGY",
            {"sku": "PLAN-30D", "quantity": 1, "options": ["OPT-METERED"]},
            new_customer=False,
        ),
        catalog,
        [],
    )
    energy, plan = result.lines
    assert (energy.list_monthly_yen, energy.unit_monthly_yen) == (885, 885)
    metered = plan.options[0]
    assert (metered.list_monthly_yen, metered.net_monthly_term_yen, metered.net_one_time_yen) == (
        0,
        0,
        0,
    )
    assert result.monthly[0].subtotal_yen == 885 + 1980
    assert result.one_time.subtotal_yen == 0


# ---- properties -----------------------------------------------------------------------------

PROPERTY = settings(deadline=None, max_examples=200)
UNIT_YEN = st.decimals(0, 1000, places=2)
QUANTITY = st.decimals(0, 100_000, places=3)


@st.composite
def tier_lists(draw: st.DrawFn) -> list[UsageTier]:
    bounds = sorted(draw(st.sets(st.integers(1, 50_000), max_size=5)))
    prices = draw(st.lists(UNIT_YEN, min_size=len(bounds) + 1, max_size=len(bounds) + 1))
    return [
        UsageTier(up_to=bound, unit_yen=price)
        for bound, price in zip([*bounds, None], prices, strict=True)
    ]


@PROPERTY
@given(tier_lists(), QUANTITY, QUANTITY)
def test_more_usage_never_costs_less(tiers, a, b):
    low, high = sorted((a, b))
    assert usage_charge(tiers, low).amount_yen <= usage_charge(tiers, high).amount_yen


@PROPERTY
@given(UNIT_YEN, QUANTITY)
def test_one_tier_is_the_plain_product_floored(unit_yen, quantity):
    charge = usage_charge([UsageTier(unit_yen=unit_yen)], quantity)
    assert charge.amount_yen == math.floor(unit_yen * quantity)


@PROPERTY
@given(tier_lists(), QUANTITY)
def test_the_bands_cover_the_quantity_without_gaps(tiers, quantity):
    charge = usage_charge(tiers, quantity)
    assert sum((band.quantity for band in charge.bands), Decimal(0)) == quantity
    edges = [Decimal(0)] + [band.to_qty for band in charge.bands]
    assert [band.from_qty for band in charge.bands] == edges[:-1]
    assert edges[-1] == quantity
    assert all(band.quantity > 0 for band in charge.bands)


@PROPERTY
@given(tier_lists(), QUANTITY)
def test_the_amount_is_never_negative_and_floored_once(tiers, quantity):
    charge = usage_charge(tiers, quantity)
    exact = sum((band.quantity * band.unit_yen for band in charge.bands), Decimal(0))
    assert all(band.amount == band.quantity * band.unit_yen for band in charge.bands)
    assert charge.amount_yen >= 0
    assert charge.amount_yen == math.floor(exact)
