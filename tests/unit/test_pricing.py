"""Pricing rules without AWS: list prices, each campaign effect, stacking and exclusivity,
eligibility, windows at their edges, tax once per rate, refusals with field paths, and where
a new price version or a retirement goes in a product's history."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from monosub.domain import pricing, tax
from monosub.domain.pricing import CatalogEntry
from monosub.errors import Conflict, ValidationFailed
from monosub.models.catalog import (
    Campaign,
    PriceDraft,
    PricedResult,
    PriceVersion,
    PricingRequest,
    Product,
)

DAY = dt.date(2026, 4, 15)
START = dt.date(2026, 4, 1)


# ---- building a catalog in memory (also used by the property tests) -----------------------


def product(sku: str, kind: str, **fields: Any) -> Product:
    return Product.model_validate(
        {
            "sku": sku,
            "name": fields.pop("name", sku),
            "kind": kind,
            "valid_from": START,
            "created_at": "2026-03-01T00:00:00Z",
            "created_by": "test",
            "updated_at": "2026-03-01T00:00:00Z",
            **fields,
        }
    )


def version(sku: str, valid_from: dt.date = START, **fields: Any) -> PriceVersion:
    return PriceVersion.model_validate(
        {
            "sku": sku,
            "valid_from": valid_from,
            "created_at": "2026-03-01T00:00:00Z",
            "created_by": "test",
            **fields,
        }
    )


def entry(sku: str, kind: str, *, prices: tuple[PriceVersion, ...] = (), **fields: Any):
    price_fields = {k: fields.pop(k) for k in ("monthly_yen", "one_time_yen", "tax") if k in fields}
    versions = prices or (version(sku, **price_fields),)
    return sku, CatalogEntry(product(sku, kind, **fields), versions)


def camera_catalog() -> dict[str, CatalogEntry]:
    return dict(
        [
            entry("CAM-SALE", "device", acquisition="sale", one_time_yen=39800),
            entry("CAM-RENT", "device", acquisition="rental", monthly_yen=980),
            entry(
                "CAM-OUT",
                "device",
                acquisition="sale",
                installation_required=True,
                one_time_yen=64800,
            ),
            entry("PLAN-7D", "plan", monthly_yen=1200),
            entry("PLAN-30D", "plan", monthly_yen=1980),
            entry("PLAN-365D", "plan", monthly_yen=5500),
            entry("OPT-STORAGE", "option", fits_plans=["PLAN-30D", "PLAN-365D"], monthly_yen=500),
            entry("OPT-AI", "option", fits_plans=["PLAN-30D"], monthly_yen=1000),
            entry("SVC-INSTALL", "service", one_time_yen=25000),
            entry("FOOD-105", "service", one_time_yen=105, tax="reduced"),
            entry("ITEM-105", "service", one_time_yen=105),
        ]
    )


def campaign(code: str, effect: dict[str, Any], **fields: Any) -> Campaign:
    skus = fields.pop("skus", ["PLAN-30D"])
    eligibility = fields.pop("eligibility", {})
    if effect["type"] != "bundle":
        eligibility = {"skus": skus, **eligibility}
    return Campaign.model_validate(
        {
            "code": code,
            "name": fields.pop("name", code),
            "valid_from": fields.pop("valid_from", START),
            "eligibility": eligibility,
            "effect": effect,
            "created_at": "2026-03-01T00:00:00Z",
            "created_by": "test",
            **fields,
        }
    )


def request(*lines: Any, **fields: Any) -> PricingRequest:
    return PricingRequest.model_validate(
        {
            "date": DAY,
            "segment": "residential",
            "channel": "web",
            "new_customer": True,
            "lines": [
                line if isinstance(line, dict) else {"sku": line, "quantity": 1} for line in lines
            ],
            **fields,
        }
    )


def price(req: PricingRequest, campaigns=(), catalog=None, **kwargs) -> PricedResult:
    return pricing.price(req, catalog or camera_catalog(), list(campaigns), **kwargs)


def schedule(item) -> list[tuple[int, int, int]]:
    return [(p.from_month, p.to_month, p.yen) for p in item.net_monthly]


def refusals(req: PricingRequest, catalog=None) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as caught:
        price(req, catalog=catalog)
    return {d["field"]: d["message"] for d in caught.value.details}


# ---- list prices and tax --------------------------------------------------------------------


def test_list_prices_are_unit_price_times_quantity_and_options_follow_the_line():
    result = price(
        request(
            {"sku": "CAM-SALE", "quantity": 2},
            {"sku": "PLAN-30D", "quantity": 2, "options": ["OPT-STORAGE"]},
        )
    )
    camera, plan = result.lines
    assert (camera.list_one_time_yen, camera.list_monthly_yen, camera.net_monthly) == (79600, 0, [])
    assert plan.list_monthly_yen == 3960
    assert plan.options[0].quantity == 2
    assert plan.options[0].list_monthly_yen == 1000
    assert result.one_time.subtotal_yen == 79600
    assert [(m.from_month, m.to_month, m.subtotal_yen) for m in result.monthly] == [(1, 12, 4960)]
    assert result.term.monthly_yen == 12 * 4960
    assert result.term.total_yen == result.term.subtotal_yen + result.term.tax_yen


def test_tax_is_rounded_once_per_rate_not_per_line():
    result = price(request("ITEM-105", "ITEM-105", "ITEM-105"))
    assert [(t.base_yen, t.tax_yen) for t in result.one_time.taxes] == [(315, 31)]
    per_line = sum(tax.tax_on(105, "standard", "floor") for _ in range(3))
    assert per_line == 30  # what rounding per line would wrongly give


def test_each_rate_is_its_own_base():
    result = price(request("ITEM-105", "FOOD-105", "FOOD-105", "SVC-INSTALL"))
    assert [(t.tax, t.rate_percent, t.base_yen, t.tax_yen) for t in result.one_time.taxes] == [
        ("standard", 10, 25105, 2510),
        ("reduced", 8, 210, 16),
    ]
    assert result.one_time.tax_yen == 2526
    assert result.one_time.total_yen == 25315 + 2526


@pytest.mark.parametrize(
    ("rounding", "expected"), [("floor", 31), ("half_up", 32), ("ceiling", 32)]
)
def test_the_rounding_mode_is_a_parameter(rounding, expected):
    result = price(request("ITEM-105", "ITEM-105", "ITEM-105"), rounding=rounding)
    assert result.one_time.tax_yen == expected
    assert result.tax_rounding == rounding


def test_tax_inside_a_tax_inclusive_total():
    assert tax.tax_included_in(1100, "standard", "floor") == 100
    assert tax.tax_included_in(1080, "reduced", "floor") == 80
    assert tax.tax_included_in(999, "standard", "floor") == 90  # 90.81…


def test_each_month_is_its_own_document_for_tax():
    result = price(
        request({"sku": "PLAN-30D", "quantity": 1}, term_months=3),
        [campaign("FREE", {"type": "free_months", "months": 2})],
    )
    assert [(m.from_month, m.to_month, m.subtotal_yen, m.tax_yen) for m in result.monthly] == [
        (1, 2, 0, 0),
        (3, 3, 1980, 198),
    ]
    assert result.term.tax_yen == 198


# ---- each effect ----------------------------------------------------------------------------


def test_percent_off_monthly_for_the_whole_term():
    result = price(request("PLAN-30D"), [campaign("P10", {"type": "percent", "percent": "10"})])
    plan = result.lines[0]
    assert schedule(plan) == [(1, 12, 1782)]
    assert plan.effects[0].monthly_discount[0].yen == 198
    assert plan.effects[0].description == "10% off monthly for the whole term"


def test_percent_off_for_n_months_makes_a_schedule():
    effect = {"type": "percent", "percent": "50", "months": 3}
    result = price(request("PLAN-30D"), [campaign("HALF3", effect)])
    assert schedule(result.lines[0]) == [(1, 3, 990), (4, 12, 1980)]
    assert [(m.from_month, m.to_month) for m in result.monthly] == [(1, 3), (4, 12)]


def test_a_percent_discount_is_floored_per_line():
    catalog = dict([entry("ODD", "service", one_time_yen=999)])
    effect = {"type": "percent", "percent": "15", "applies_to": "one_time"}
    req = request({"sku": "ODD", "quantity": 3})
    result = price(req, [campaign("P15", effect, skus=["ODD"])], catalog=catalog)
    # 2997 × 15 % = 449.55: the discount is 449, the line 2548
    assert result.lines[0].effects[0].one_time_discount_yen == 449
    assert result.lines[0].net_one_time_yen == 2548


def test_percent_off_one_time_and_both():
    catalog = dict(
        [entry("KIT", "device", acquisition="rental", monthly_yen=1000, one_time_yen=3000)]
    )
    one_time = campaign(
        "OT", {"type": "percent", "percent": "20", "applies_to": "one_time"}, skus=["KIT"]
    )
    result = price(request("KIT"), [one_time], catalog=catalog)
    assert (result.lines[0].net_one_time_yen, schedule(result.lines[0])) == (2400, [(1, 12, 1000)])
    both = campaign(
        "BOTH", {"type": "percent", "percent": "20", "applies_to": "both"}, skus=["KIT"]
    )
    result = price(request("KIT"), [both], catalog=catalog)
    assert (result.lines[0].net_one_time_yen, schedule(result.lines[0])) == (2400, [(1, 12, 800)])


def test_fixed_yen_off_per_unit_never_below_zero():
    effect = {"type": "fixed", "yen_per_unit": 5000, "applies_to": "one_time"}
    off = campaign("INSTALL5000", effect, skus=["SVC-INSTALL"])
    result = price(request({"sku": "SVC-INSTALL", "quantity": 3}), [off])
    assert result.lines[0].net_one_time_yen == 75000 - 15000
    huge = campaign("HUGE", {"type": "fixed", "yen_per_unit": 99999}, skus=["PLAN-30D"])
    result = price(request("PLAN-30D"), [huge])
    assert schedule(result.lines[0]) == [(1, 12, 0)]
    assert result.lines[0].effects[0].monthly_discount[0].yen == 1980


def test_fixed_off_for_n_months():
    effect = {"type": "fixed", "yen_per_unit": 480, "months": 6}
    result = price(request({"sku": "PLAN-30D", "quantity": 2}), [campaign("F480", effect)])
    assert schedule(result.lines[0]) == [(1, 6, 3000), (7, 12, 3960)]


def test_free_months_then_the_full_price():
    result = price(request("PLAN-30D"), [campaign("FREE3", {"type": "free_months", "months": 3})])
    assert schedule(result.lines[0]) == [(1, 3, 0), (4, 12, 1980)]
    assert result.lines[0].net_monthly_term_yen == 9 * 1980


def test_free_months_never_exceed_the_term():
    free = campaign("FREE6", {"type": "free_months", "months": 6})
    result = price(request("PLAN-30D", term_months=4), [free])
    assert schedule(result.lines[0]) == [(1, 4, 0)]
    assert [(p.from_month, p.to_month) for p in result.lines[0].effects[0].monthly_discount] == [
        (1, 4)
    ]


def test_a_bundle_is_priced_as_a_set_and_shared_in_proportion():
    bundle = campaign(
        "STARTER",
        {"type": "bundle", "skus": ["CAM-RENT", "PLAN-30D"], "monthly_yen": 2500},
    )
    result = price(request("CAM-RENT", "PLAN-30D"), [bundle])
    camera, plan = result.lines
    # list 980 + 1980 = 2960; 460 off shared 152.3 / 307.7 -> 152 / 308 (largest remainder)
    assert schedule(camera) == [(1, 12, 828)]
    assert schedule(plan) == [(1, 12, 1672)]
    assert result.monthly[0].subtotal_yen == 2500


def test_a_bundle_counts_complete_sets():
    bundle = campaign(
        "STARTER",
        {"type": "bundle", "skus": ["CAM-RENT", "PLAN-30D"], "monthly_yen": 2500},
    )
    result = price(
        request({"sku": "CAM-RENT", "quantity": 2}, {"sku": "PLAN-30D", "quantity": 3}), [bundle]
    )
    assert result.monthly[0].subtotal_yen == 2 * 2500 + 1980
    assert "2 of 2 set(s)" in result.lines[1].effects[0].description
    none = price(request({"sku": "PLAN-30D", "quantity": 3}), [bundle])
    assert none.campaigns_not_applied[0].reason == (
        "needs 1 complete set(s) of CAM-RENT + PLAN-30D; the document has 0"
    )


def test_a_bundle_dearer_than_its_parts_changes_nothing():
    bundle = campaign(
        "DEAR", {"type": "bundle", "skus": ["CAM-RENT", "PLAN-30D"], "monthly_yen": 5000}
    )
    result = price(request("CAM-RENT", "PLAN-30D"), [bundle])
    assert result.monthly[0].subtotal_yen == 2960
    assert result.monthly[0].discount_yen == 0


def test_a_one_time_bundle_of_a_camera_and_its_installation():
    bundle = campaign(
        "OUT-SET",
        {"type": "bundle", "skus": ["CAM-OUT", "SVC-INSTALL"], "one_time_yen": 79800},
    )
    result = price(request("CAM-OUT", "SVC-INSTALL"), [bundle])
    assert result.one_time.subtotal_yen == 79800
    assert result.one_time.discount_yen == 64800 + 25000 - 79800


def test_allocation_adds_up_and_respects_weights():
    assert pricing.allocate(460, {"A": 980, "B": 1980}) == {"A": 152, "B": 308}
    assert pricing.allocate(0, {"A": 1}) == {"A": 0}
    assert pricing.allocate(5, {"A": 0, "B": 0}) == {"A": 0, "B": 0}
    shares = pricing.allocate(10, {"A": 1, "B": 1, "C": 1})
    assert sum(shares.values()) == 10 and shares == {"A": 4, "B": 3, "C": 3}


# ---- stacking and exclusivity ---------------------------------------------------------------


def test_non_exclusive_campaigns_stack_in_priority_order():
    first = campaign("A-TEN", {"type": "percent", "percent": "10"}, priority=1)
    second = campaign("B-TEN", {"type": "percent", "percent": "10"}, priority=2)
    result = price(request("PLAN-30D"), [second, first])
    plan = result.lines[0]
    assert [e.code for e in plan.effects] == ["A-TEN", "B-TEN"]
    # 1980 - 198 = 1782; 1782 - 178 (178.2 floored) = 1604
    assert schedule(plan) == [(1, 12, 1604)]
    assert result.campaigns_applied == ["A-TEN", "B-TEN"]


def test_equal_priorities_apply_by_code():
    fixed = campaign("A-FIXED", {"type": "fixed", "yen_per_unit": 980})
    percent = campaign("B-HALF", {"type": "percent", "percent": "50"})
    result = price(request("PLAN-30D"), [percent, fixed])
    assert schedule(result.lines[0]) == [(1, 12, 500)]  # (1980 - 980) / 2


def test_an_exclusive_campaign_first_stands_alone():
    exclusive = campaign("SOLO", {"type": "free_months", "months": 2}, priority=1, exclusive=True)
    other = campaign("TEN", {"type": "percent", "percent": "10"}, priority=5)
    result = price(request("PLAN-30D"), [other, exclusive])
    assert [e.code for e in result.lines[0].effects] == ["SOLO"]
    assert result.campaigns_not_applied[0].model_dump() == {
        "code": "TEN",
        "name": "TEN",
        "reason": "does not stack with the exclusive campaign SOLO",
    }


def test_an_exclusive_campaign_after_another_is_skipped():
    exclusive = campaign("SOLO", {"type": "free_months", "months": 2}, priority=9, exclusive=True)
    other = campaign("TEN", {"type": "percent", "percent": "10"}, priority=5)
    result = price(request("PLAN-30D"), [other, exclusive])
    assert [e.code for e in result.lines[0].effects] == ["TEN"]
    assert (
        result.campaigns_not_applied[0].reason == "exclusive, and TEN already applies to its SKUs"
    )


def test_exclusivity_is_per_item():
    exclusive = campaign("SOLO", {"type": "free_months", "months": 2}, priority=1, exclusive=True)
    install = campaign(
        "INSTALL",
        {"type": "fixed", "yen_per_unit": 5000, "applies_to": "one_time"},
        skus=["SVC-INSTALL"],
        priority=5,
    )
    result = price(request("PLAN-30D", "SVC-INSTALL"), [exclusive, install])
    assert result.campaigns_applied == ["SOLO", "INSTALL"]


def test_an_exclusive_bundle_keeps_its_members_to_itself():
    bundle = campaign(
        "STARTER",
        {"type": "bundle", "skus": ["CAM-RENT", "PLAN-30D"], "monthly_yen": 2500},
        exclusive=True,
        priority=1,
    )
    free = campaign("FREE3", {"type": "free_months", "months": 3}, priority=2)
    result = price(request("CAM-RENT", {"sku": "PLAN-30D", "quantity": 1}), [bundle, free])
    assert result.campaigns_applied == ["STARTER"]
    assert result.campaigns_not_applied[0].code == "FREE3"


# ---- eligibility and windows ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("eligibility", "context", "reason"),
    [
        ({"segments": ["corporate"]}, {}, "for corporate customers only"),
        ({"channels": ["agency", "phone"]}, {}, "for the agency or phone channel only"),
        ({"new_customers_only": True}, {"new_customer": False}, "for new customers only"),
        ({"min_quantity": 2}, {}, "needs 2 units of PLAN-30D; the document has 1"),
    ],
)
def test_an_ineligible_campaign_says_why(eligibility, context, reason):
    offer = campaign("OFFER", {"type": "percent", "percent": "10"}, eligibility=eligibility)
    result = price(request("PLAN-30D", **context), [offer])
    assert result.campaigns_applied == []
    assert [(c.code, c.reason) for c in result.campaigns_not_applied] == [("OFFER", reason)]


def test_min_quantity_counts_lines_and_options_of_its_skus():
    bulk = campaign(
        "BULK",
        {"type": "percent", "percent": "10"},
        skus=["PLAN-30D", "PLAN-365D"],
        eligibility={"min_quantity": 10, "segments": ["corporate"]},
    )
    corporate = {"segment": "corporate"}
    result = price(
        request(
            {"sku": "PLAN-30D", "quantity": 6},
            {"sku": "PLAN-365D", "quantity": 4},
            **corporate,
        ),
        [bulk],
    )
    assert result.campaigns_applied == ["BULK"]
    storage = campaign(
        "STORE",
        {"type": "percent", "percent": "10"},
        skus=["OPT-STORAGE"],
        eligibility={"min_quantity": 3},
    )
    result = price(
        request({"sku": "PLAN-30D", "quantity": 3, "options": ["OPT-STORAGE"]}), [storage]
    )
    assert result.campaigns_applied == ["STORE"]


def test_a_campaign_about_other_skus_is_not_mentioned():
    other = campaign("OTHER", {"type": "percent", "percent": "10"}, skus=["PLAN-7D"])
    result = price(request("PLAN-30D"), [other])
    assert (result.campaigns_applied, result.campaigns_not_applied) == ([], [])


def test_a_campaign_is_in_force_on_its_first_and_last_day_inclusive():
    offer = campaign(
        "APRIL",
        {"type": "percent", "percent": "10"},
        valid_from=dt.date(2026, 4, 10),
        valid_to=dt.date(2026, 4, 30),
    )
    for day, applied in [
        (dt.date(2026, 4, 9), []),
        (dt.date(2026, 4, 10), ["APRIL"]),
        (dt.date(2026, 4, 30), ["APRIL"]),
        (dt.date(2026, 5, 1), []),
    ]:
        assert price(request("PLAN-30D", date=day), [offer]).campaigns_applied == applied


def test_campaigns_in_force_are_ordered_by_priority_then_code():
    offers = [
        campaign("C", {"type": "percent", "percent": "1"}, priority=5),
        campaign("B", {"type": "percent", "percent": "1"}, priority=1),
        campaign("A", {"type": "percent", "percent": "1"}, priority=5),
        campaign("OLD", {"type": "percent", "percent": "1"}, valid_to=dt.date(2026, 4, 14)),
    ]
    assert [c.code for c in pricing.campaigns_in_force(offers, DAY)] == ["B", "A", "C"]


def test_a_price_version_is_in_force_to_its_last_day_inclusive():
    versions = (
        version("PLAN-30D", START, monthly_yen=1980, valid_to=dt.date(2026, 9, 30)),
        version("PLAN-30D", dt.date(2026, 10, 1), monthly_yen=2180),
    )
    assert pricing.price_on(versions, dt.date(2026, 3, 31)) is None
    assert pricing.price_on(versions, dt.date(2026, 9, 30)).monthly_yen == 1980
    assert pricing.price_on(versions, dt.date(2026, 10, 1)).monthly_yen == 2180
    catalog = dict([entry("PLAN-30D", "plan", prices=versions)])
    result = price(request("PLAN-30D", date=dt.date(2026, 10, 1)), catalog=catalog)
    assert result.lines[0].unit_monthly_yen == 2180


def test_a_retired_product_has_no_price_after_its_last_day():
    catalog = dict([entry("OLD", "service", one_time_yen=100, valid_to=dt.date(2026, 4, 14))])
    assert refusals(request("OLD"), catalog) == {"lines[0].sku": "OLD was retired after 2026-04-14"}
    on_last_day = price(request("OLD", date=dt.date(2026, 4, 14)), catalog=catalog)
    assert on_last_day.one_time.subtotal_yen == 100


# ---- refusals -------------------------------------------------------------------------------


def test_every_bad_line_is_named_with_its_position():
    req = request(
        {"sku": "PLAN-30D", "quantity": 0},
        {"sku": "NOPE", "quantity": 1},
        {"sku": "PLAN-7D", "quantity": 1, "options": ["OPT-STORAGE"]},
        {"sku": "PLAN-30D", "quantity": 1, "options": ["OPT-AI", "OPT-AI", "CAM-SALE"]},
        {"sku": "OPT-AI", "quantity": 1},
        {"sku": "", "quantity": -3},
    )
    assert refusals(req) == {
        "lines[0].quantity": "the quantity must be at least 1",
        "lines[1].sku": "unknown SKU NOPE",
        "lines[2].options[0]": "option OPT-STORAGE does not fit plan PLAN-7D "
        "(it fits PLAN-30D, PLAN-365D)",
        "lines[3].options[1]": "option OPT-AI is named twice on this line",
        "lines[3].options[2]": "CAM-SALE is a device, not an option",
        "lines[4].sku": "OPT-AI is an option: list it in the options of its plan's line",
        "lines[5].quantity": "the quantity must be at least 1",
        "lines[5].sku": "give a SKU",
    }


def test_no_price_on_the_date_is_refused():
    catalog = dict(
        [entry("GAP", "plan", prices=(version("GAP", START, monthly_yen=1, valid_to=START),))]
    )
    assert refusals(request("GAP"), catalog) == {"lines[0].sku": "GAP has no price on 2026-04-15"}


def test_limits_on_quantity_and_options():
    too_many = request({"sku": "PLAN-30D", "quantity": 10_001, "options": ["OPT-AI"] * 11})
    assert refusals(too_many) == {
        "lines[0].quantity": "at most 10000 per line",
        "lines[0].options": "at most 10 options per line",
    }


def test_installation_without_a_service_line_is_a_warning():
    assert price(request("CAM-OUT")).warnings == [
        "CAM-OUT (CAM-OUT) needs installation (設置工事): the document has no service line for it"
    ]
    assert price(request("CAM-OUT", "SVC-INSTALL")).warnings == []


def test_the_date_is_the_callers_to_decide():
    with pytest.raises(ValueError, match="pricing date"):
        price(request("PLAN-30D", date=None))


# ---- price versions and retirement ----------------------------------------------------------


def draft(valid_from: dt.date, **fields: Any) -> PriceDraft:
    return PriceDraft.model_validate({"valid_from": valid_from, "monthly_yen": 1980} | fields)


PLAN = product("PLAN-30D", "plan")
APRIL = version("PLAN-30D", START, monthly_yen=1980)


def test_the_first_version_closes_nothing():
    assert pricing.plan_price_version(PLAN, [], draft(START)) == pricing.VersionPlan()


def test_a_new_version_closes_the_open_one():
    plan = pricing.plan_price_version(PLAN, [APRIL], draft(dt.date(2026, 10, 1), monthly_yen=2180))
    assert plan == pricing.VersionPlan(closes=APRIL)


def test_the_same_version_again_changes_nothing():
    assert pricing.plan_price_version(PLAN, [APRIL], draft(START)).unchanged
    closed = APRIL.model_copy(update={"valid_to": dt.date(2026, 9, 30)})
    assert pricing.plan_price_version(PLAN, [closed], draft(START)).unchanged


@pytest.mark.parametrize(
    ("versions", "new", "message"),
    [
        ([APRIL], draft(START, monthly_yen=1500), "with other terms"),
        ([APRIL], draft(dt.date(2026, 4, 2), valid_to=dt.date(2026, 5, 1)), None),
        ([APRIL], draft(dt.date(2026, 3, 1)), "cannot start earlier"),
        (
            [version("PLAN-30D", dt.date(2026, 5, 1), monthly_yen=1)],
            draft(dt.date(2026, 4, 20)),
            "starts after the newest one",
        ),
        (
            [version("PLAN-30D", START, monthly_yen=1, valid_to=dt.date(2026, 6, 30))],
            draft(dt.date(2026, 6, 30)),
            "explicit end",
        ),
    ],
)
def test_versions_never_rewrite_history(versions, new, message):
    if message is None:
        assert pricing.plan_price_version(PLAN, versions, new).closes == APRIL
        return
    with pytest.raises(Conflict, match=message):
        pricing.plan_price_version(PLAN, versions, new)


def test_a_version_after_an_explicit_end_leaves_a_gap():
    ended = version("PLAN-30D", START, monthly_yen=1, valid_to=dt.date(2026, 6, 30))
    assert pricing.plan_price_version(PLAN, [ended], draft(dt.date(2026, 8, 1))) == (
        pricing.VersionPlan()
    )


def test_a_retired_product_gets_no_new_price():
    retired = PLAN.model_copy(update={"valid_to": dt.date(2026, 12, 31)})
    with pytest.raises(Conflict, match="retired"):
        pricing.plan_price_version(retired, [APRIL], draft(dt.date(2026, 10, 1)))


def test_retirement_ends_the_newest_version_too():
    plan = pricing.plan_retirement(PLAN, [APRIL], dt.date(2026, 12, 31))
    assert plan == pricing.RetirementPlan(shortens=APRIL)
    retired = PLAN.model_copy(update={"valid_to": dt.date(2026, 12, 31)})
    assert pricing.plan_retirement(retired, [APRIL], dt.date(2026, 12, 31)).unchanged
    with pytest.raises(Conflict, match="already"):
        pricing.plan_retirement(retired, [APRIL], dt.date(2026, 11, 30))
    later = version("PLAN-30D", dt.date(2027, 1, 1), monthly_yen=1)
    with pytest.raises(Conflict, match="after 2026-12-31"):
        pricing.plan_retirement(PLAN, [APRIL, later], dt.date(2026, 12, 31))
    with pytest.raises(Conflict, match="offered from"):
        pricing.plan_retirement(PLAN, [APRIL], dt.date(2026, 3, 1))


# ---- the models -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "device"}, "give acquisition"),
        ({"kind": "plan", "acquisition": "sale"}, "devices only"),
        ({"kind": "plan", "installation_required": True}, "devices only"),
        ({"kind": "option"}, "fits_plans"),
        ({"kind": "plan", "fits_plans": ["PLAN-7D"]}, "options only"),
        ({"kind": "option", "fits_plans": ["PLAN-7D", "PLAN-7D"]}, "twice"),
    ],
)
def test_product_attributes_fit_the_kind(fields, message):
    with pytest.raises(ValueError, match=message):
        product("X-1", **fields)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"eligibility": {}}, "eligibility.skus"),
        ({"valid_to": dt.date(2026, 3, 1)}, "valid_to is before valid_from"),
        (
            {"effect": {"type": "percent", "percent": "5", "applies_to": "one_time", "months": 2}},
            "months limits monthly charges",
        ),
        (
            {"effect": {"type": "bundle", "skus": ["A", "B"], "monthly_yen": 1}},
            "leave eligibility.skus empty",
        ),
        ({"effect": {"type": "bundle", "skus": ["A", "B"]}, "eligibility": {}}, "a bundle has"),
        ({"effect": {"type": "percent", "percent": "NaN"}}, "percent"),
    ],
)
def test_campaign_terms_are_consistent(changes, message):
    base = {
        "code": "X",
        "name": "x",
        "valid_from": START,
        "eligibility": {"skus": ["PLAN-30D"]},
        "effect": {"type": "percent", "percent": "10"},
    }
    with pytest.raises(ValueError, match=message):
        Campaign.model_validate(base | changes | {"created_at": "", "created_by": ""})


def test_percent_of_floors():
    assert pricing.percent_of(1980, Decimal("10")) == 198
    assert pricing.percent_of(1782, Decimal("10")) == 178
    assert pricing.percent_of(999, Decimal("33.3333")) == 332
    assert pricing.percent_of(0, Decimal("100")) == 0
