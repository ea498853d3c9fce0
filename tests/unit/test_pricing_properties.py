"""Properties of pricing over random catalogs, campaigns and lines (Hypothesis)."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monosub.domain import pricing, tax
from monosub.domain.pricing import CatalogEntry
from monosub.models.catalog import Campaign, PricedResult, PricingRequest
from tests.unit.test_pricing import DAY, entry

settings.register_profile(
    "pricing", deadline=None, max_examples=100, suppress_health_check=[HealthCheck.too_slow]
)
PROPERTY = settings(settings.get_profile("pricing"))

TAXES = st.sampled_from(["standard", "reduced"])
YEN = st.integers(0, 120_000)


@st.composite
def catalogs(draw: st.DrawFn) -> dict[str, CatalogEntry]:
    entries = []
    plans = [f"PLAN-{i}" for i in range(draw(st.integers(1, 3)))]
    for sku in plans:
        entries.append(entry(sku, "plan", monthly_yen=draw(YEN), tax=draw(TAXES)))
    for i in range(draw(st.integers(1, 3))):
        charges = draw(
            st.sampled_from(
                [{"one_time_yen": 1}, {"monthly_yen": 1}, {"one_time_yen": 1, "monthly_yen": 1}]
            )
        )
        prices = {key: draw(YEN) for key in charges}
        acquisition = "sale" if "one_time_yen" in prices else "rental"
        entries.append(
            entry(f"DEV-{i}", "device", acquisition=acquisition, tax=draw(TAXES), **prices)
        )
    for i in range(draw(st.integers(0, 3))):
        fits = draw(st.lists(st.sampled_from(plans), min_size=1, unique=True))
        entries.append(
            entry(f"OPT-{i}", "option", fits_plans=fits, monthly_yen=draw(YEN), tax=draw(TAXES))
        )
    for i in range(draw(st.integers(0, 2))):
        entries.append(entry(f"SVC-{i}", "service", one_time_yen=draw(YEN), tax=draw(TAXES)))
    return dict(entries)


@st.composite
def effects(draw: st.DrawFn, skus: list[str]) -> dict[str, Any]:
    kind = draw(st.sampled_from(["percent", "fixed", "free_months", "bundle"]))
    applies_to = draw(st.sampled_from(["monthly", "one_time", "both"]))
    months = None if applies_to == "one_time" else draw(st.none() | st.integers(1, 40))
    if kind == "percent":
        percent = draw(st.decimals(0, 100, places=2))
        return {"type": kind, "percent": percent, "applies_to": applies_to, "months": months}
    if kind == "fixed":
        yen = draw(st.integers(1, 150_000))
        return {"type": kind, "yen_per_unit": yen, "applies_to": applies_to, "months": months}
    if kind == "free_months":
        return {"type": kind, "months": draw(st.integers(1, 40))}
    members = draw(st.lists(st.sampled_from(skus), min_size=2, max_size=3, unique=True))
    prices = draw(
        st.fixed_dictionaries({}, optional={"monthly_yen": YEN, "one_time_yen": YEN}).filter(bool)
    )
    return {"type": kind, "skus": members, **prices}


@st.composite
def campaign_lists(
    draw: st.DrawFn, catalog: dict[str, CatalogEntry], *, exclusive: bool = True
) -> list[Campaign]:
    skus = sorted(catalog)
    found = []
    for i in range(draw(st.integers(0, 4))):
        effect = draw(effects(skus))
        eligibility: dict[str, Any] = {
            "segments": draw(
                st.lists(st.sampled_from(["residential", "corporate"]), unique=True, max_size=1)
            ),
            "channels": draw(
                st.lists(st.sampled_from(["direct", "agency", "web", "phone"]), unique=True)
            ),
            "min_quantity": draw(st.integers(1, 6)),
            "new_customers_only": draw(st.booleans()),
        }
        if effect["type"] != "bundle":
            eligibility["skus"] = draw(st.lists(st.sampled_from(skus), min_size=1, unique=True))
        starts = DAY - dt.timedelta(days=draw(st.integers(-3, 30)))  # some start later
        ends = [day for day in (DAY - dt.timedelta(days=1), DAY) if day >= starts]
        found.append(
            Campaign.model_validate(
                {
                    "code": f"C{i}",
                    "name": f"campaign {i}",
                    "valid_from": starts,
                    "valid_to": draw(st.none() | st.sampled_from(ends)) if ends else None,
                    "priority": draw(st.integers(0, 3)),
                    "exclusive": exclusive and draw(st.booleans()),
                    "eligibility": eligibility,
                    "effect": effect,
                    "created_at": "",
                    "created_by": "",
                }
            )
        )
    return found


@st.composite
def requests(draw: st.DrawFn, catalog: dict[str, CatalogEntry]) -> PricingRequest:
    sellable = sorted(sku for sku, e in catalog.items() if e.product.kind != "option")
    lines = []
    for _ in range(draw(st.integers(1, 5))):
        sku = draw(st.sampled_from(sellable))
        fitting = sorted(
            option
            for option, e in catalog.items()
            if e.product.kind == "option" and sku in e.product.fits_plans
        )
        options = draw(st.lists(st.sampled_from(fitting), unique=True)) if fitting else []
        lines.append({"sku": sku, "quantity": draw(st.integers(1, 15)), "options": options})
    return PricingRequest.model_validate(
        {
            "date": DAY,
            "segment": draw(st.sampled_from(["residential", "corporate"])),
            "channel": draw(st.sampled_from(["direct", "agency", "web", "phone"])),
            "new_customer": draw(st.booleans()),
            "term_months": draw(st.integers(1, 36)),
            "lines": lines,
        }
    )


@st.composite
def scenarios(
    draw: st.DrawFn, *, exclusive: bool = True
) -> tuple[dict[str, CatalogEntry], list[Campaign], PricingRequest]:
    catalog = draw(catalogs())
    return catalog, draw(campaign_lists(catalog, exclusive=exclusive)), draw(requests(catalog))


def items(result: PricedResult) -> list[Any]:
    return [item for line in result.lines for item in (line, *line.options)]


def month_amount(item: Any, month: int) -> int:
    for period in item.net_monthly:
        if period.from_month <= month <= period.to_month:
            return int(period.yen)
    return 0


def amounts(result: PricedResult) -> Any:
    return (
        result.one_time,
        result.monthly,
        result.term,
        [(i.net_one_time_yen, i.net_monthly) for i in items(result)],
    )


# ---- the properties -------------------------------------------------------------------------


@PROPERTY
@given(scenario=scenarios(), rounding=st.sampled_from(["floor", "half_up", "ceiling"]))
def test_tax_is_computed_once_per_rate_on_each_document(scenario, rounding):
    catalog, campaigns, request = scenario
    result = pricing.price(request, catalog, campaigns, rounding=rounding)
    documents = [result.one_time, *result.monthly]
    for document in documents:
        for line in document.taxes:
            exact = Decimal(line.base_yen) * line.rate_percent / 100
            assert line.tax_yen == tax.round_yen(exact, rounding)
        assert document.tax_yen == sum(t.tax_yen for t in document.taxes)
        assert document.subtotal_yen == sum(t.base_yen for t in document.taxes)
    by_rate: dict[str, int] = {}
    for item in items(result):
        if item.unit_one_time_yen is not None:
            by_rate[item.tax] = by_rate.get(item.tax, 0) + item.net_one_time_yen
    assert {t.tax: t.base_yen for t in result.one_time.taxes} == by_rate


@PROPERTY
@given(scenario=scenarios())
def test_rounding_once_per_rate_never_gives_less_than_rounding_per_line(scenario):
    catalog, campaigns, request = scenario
    result = pricing.price(request, catalog, campaigns)
    per_line = sum(
        tax.tax_on(item.net_one_time_yen, item.tax, "floor")
        for item in items(result)
        if item.unit_one_time_yen is not None
    )
    assert result.one_time.tax_yen >= per_line


@PROPERTY
@given(scenario=scenarios())
def test_totals_are_the_sum_of_the_lines(scenario):
    catalog, campaigns, request = scenario
    result = pricing.price(request, catalog, campaigns)
    priced = items(result)
    assert result.one_time.subtotal_yen == sum(i.net_one_time_yen for i in priced)
    assert result.one_time.list_yen == sum(i.list_one_time_yen for i in priced)
    for period in result.monthly:
        for month in (period.from_month, period.to_month):
            assert period.subtotal_yen == sum(month_amount(i, month) for i in priced)
    assert result.term.monthly_yen == sum(i.net_monthly_term_yen for i in priced)


@PROPERTY
@given(scenario=scenarios())
def test_a_discount_never_makes_an_amount_negative_or_larger(scenario):
    catalog, campaigns, request = scenario
    result = pricing.price(request, catalog, campaigns)
    for item in items(result):
        assert 0 <= item.net_one_time_yen <= item.list_one_time_yen
        for period in item.net_monthly:
            assert 0 <= period.yen <= item.list_monthly_yen
        for effect in item.effects:
            assert effect.one_time_discount_yen >= 0
            assert all(p.yen > 0 for p in effect.monthly_discount)
    for document in [result.one_time, *result.monthly]:
        assert 0 <= document.discount_yen <= document.list_yen
        assert document.subtotal_yen >= 0


@PROPERTY
@given(
    scenario=scenarios(exclusive=False),
    applies_to=st.sampled_from(["monthly", "one_time", "both"]),
    priority=st.integers(0, 4),
    data=st.data(),
)
def test_zero_percent_is_the_identity(scenario, applies_to, priority, data):
    catalog, campaigns, request = scenario
    skus = data.draw(st.lists(st.sampled_from(sorted(catalog)), min_size=1, unique=True))
    nothing = Campaign.model_validate(
        {
            "code": "ZERO",
            "name": "0 %",
            "valid_from": DAY,
            "priority": priority,
            "eligibility": {"skus": skus},
            "effect": {"type": "percent", "percent": "0", "applies_to": applies_to},
            "created_at": "",
            "created_by": "",
        }
    )
    without = pricing.price(request, catalog, campaigns)
    with_zero = pricing.price(request, catalog, [*campaigns, nothing])
    assert amounts(with_zero) == amounts(without)


@PROPERTY
@given(scenario=scenarios())
def test_free_months_never_exceed_the_term(scenario):
    catalog, campaigns, request = scenario
    result = pricing.price(request, catalog, campaigns)
    months_of = {c.code: c.effect.months for c in campaigns if c.effect.type == "free_months"}
    for item in items(result):
        for effect in item.effects:
            if effect.type != "free_months":
                continue
            covered = sum(p.to_month - p.from_month + 1 for p in effect.monthly_discount)
            assert covered <= min(months_of[effect.code], request.term_months)
            assert all(p.to_month <= request.term_months for p in effect.monthly_discount)


@PROPERTY
@given(scenario=scenarios())
def test_the_monthly_schedule_is_consistent(scenario):
    catalog, campaigns, request = scenario
    result = pricing.price(request, catalog, campaigns)
    term = request.term_months

    def covers_the_term(periods: list[Any]) -> bool:
        if not periods:
            return True
        spans = [(p.from_month, p.to_month) for p in periods]
        contiguous = all(a[1] + 1 == b[0] for a, b in itertools.pairwise(spans))
        return spans[0][0] == 1 and spans[-1][1] == term and contiguous

    assert covers_the_term(result.monthly)
    assert bool(result.monthly) == any(i.unit_monthly_yen is not None for i in items(result))
    for item in items(result):
        assert covers_the_term(item.net_monthly)
        lengths = sum(p.yen * (p.to_month - p.from_month + 1) for p in item.net_monthly)
        assert lengths == item.net_monthly_term_yen
    for period in result.monthly:
        assert period.total_yen == period.subtotal_yen + period.tax_yen
        assert period.subtotal_yen == period.list_yen - period.discount_yen
    months = [p.to_month - p.from_month + 1 for p in result.monthly]
    assert result.term.monthly_yen == sum(
        p.subtotal_yen * n for p, n in zip(result.monthly, months, strict=True)
    )
    assert result.term.tax_yen == result.one_time.tax_yen + sum(
        p.tax_yen * n for p, n in zip(result.monthly, months, strict=True)
    )
    assert result.term.total_yen == result.term.subtotal_yen + result.term.tax_yen
    assert result.term.subtotal_yen == result.term.one_time_yen + result.term.monthly_yen


@PROPERTY
@given(scenario=scenarios(), data=st.data())
def test_the_order_of_the_lines_changes_no_total(scenario, data):
    catalog, campaigns, request = scenario
    order = data.draw(st.permutations(range(len(request.lines))))
    shuffled = request.model_copy(update={"lines": [request.lines[i] for i in order]})
    result = pricing.price(request, catalog, campaigns)
    again = pricing.price(shuffled, catalog, campaigns)
    assert (again.one_time, again.monthly, again.term) == (
        result.one_time,
        result.monthly,
        result.term,
    )
    assert sorted(again.campaigns_applied) == sorted(result.campaigns_applied)
