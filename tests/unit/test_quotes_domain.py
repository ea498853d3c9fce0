"""Quote rules without AWS: a priced result becomes a 見積書 whose figures add up (the
document model refuses any that do not) and consent lines with the same totals; the manual
discount's share, the per-role limits and who may approve; pricing errors named by the
deal's fields."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monosub import company
from monosub.documents import Recipient
from monosub.domain import quotes as rules
from monosub.errors import Forbidden, ValidationFailed
from monosub.models.catalog import PricedResult
from monosub.models.deals import DealLine
from monosub.models.quotes import ManualDiscount
from tests.unit.test_pricing import camera_catalog, campaign, price, request

ISSUE = dt.date(2026, 11, 24)


def priced(*, quantity: int = 3, term: int = 12, campaigns=()) -> PricedResult:
    return price(
        request(
            {"sku": "CAM-SALE", "quantity": quantity},
            {"sku": "PLAN-30D", "quantity": quantity, "options": ["OPT-STORAGE"]},
            {"sku": "SVC-INSTALL", "quantity": 1},
            {"sku": "FOOD-105", "quantity": 2},
            term_months=term,
        ),
        campaigns,
        catalog=camera_catalog(),
    )


def faces(result: PricedResult, manual: ManualDiscount | None = None) -> rules.PricedQuote:
    return rules.price_document(
        result,
        manual,
        number="Q2026-000001",
        version=1,
        issue_date=ISSUE,
        valid_until=ISSUE + dt.timedelta(days=30),
        issuer=company.issuer(person="tanaka"),
        recipient=Recipient(company="株式会社みなと物流", person="佐藤 花子"),
        subject="防犯カメラ",
        terms=rules.STANDARD_TERMS,
        rounding="floor",
    )


def test_the_document_prints_every_item_with_its_list_price_and_tax_per_rate():
    document = faces(priced()).document
    names = [(line.name, line.billing, line.amount) for line in document.lines]
    assert ("CAM-SALE", "one_time", 3 * 39800) in names
    assert ("PLAN-30D", "monthly", 3 * 1980) in names
    assert ("OPT-STORAGE", "monthly", 3 * 500) in names
    rates = {(s.billing, s.rate) for s in document.tax_subtotals}
    assert rates == {("one_time", 10), ("one_time", 8), ("monthly", 10)}
    reduced = next(s for s in document.tax_subtotals if s.rate == 8)
    assert (reduced.taxable_amount, reduced.tax) == (210, 16)  # 210 × 8 % = 16.8 → 16


def test_a_whole_term_campaign_reduces_the_regular_month_and_free_months_are_shown_beside():
    result = priced(
        campaigns=[
            campaign("BULK", {"type": "percent", "percent": "10", "applies_to": "monthly"}),
            campaign("FREE3", {"type": "free_months", "months": 3}, skus=["OPT-STORAGE"]),
        ]
    )
    quote = faces(result)
    by_name = {d.name: d for d in quote.document.discounts}
    assert by_name["BULK"].months is None and by_name["BULK"].discount == 594
    assert by_name["FREE3"].months == 3
    plan = next(line for line in quote.consent_lines if line.name == "PLAN-30D")
    assert (plan.discount, plan.note) == (594, "BULK")
    storage = next(line for line in quote.consent_lines if line.name == "OPT-STORAGE")
    assert storage.discount == 0 and "FREE3（1〜3ヶ月目）" in (storage.note or "")
    assert quote.document.monthly_total == (5940 - 594 + 1500) * 110 // 100


def test_the_manual_discount_is_shared_over_the_lines_and_taxed_per_rate():
    quote = faces(priced(), ManualDiscount(one_time_yen=10_000, monthly_yen=1000, reason="x"))
    manual = [d for d in quote.document.discounts if d.name == rules.MANUAL_DISCOUNT_NAME]
    assert sum(d.discount for d in manual if d.billing == "one_time") == 10_000
    assert sum(d.discount for d in manual if d.billing == "monthly") == 1000
    one_time = [line for line in quote.consent_lines if line.billing == "one_time"]
    assert sum(line.discount for line in one_time) == 10_000
    assert all(
        rules.MANUAL_DISCOUNT_NAME in (line.note or "") for line in one_time if line.discount
    )


@settings(max_examples=60, deadline=None)
@given(
    quantity=st.integers(1, 40),
    term=st.integers(1, 36),
    one_time=st.integers(0, 50_000),
    monthly=st.integers(0, 3_000),
)
def test_any_discount_gives_a_document_that_adds_up_or_a_refusal(quantity, term, one_time, monthly):
    result = priced(quantity=quantity, term=term)
    manual = (
        ManualDiscount(one_time_yen=one_time, monthly_yen=monthly, reason="x")
        if one_time or monthly
        else None
    )
    if one_time > result.one_time.subtotal_yen or monthly > rules.regular_month(result):
        with pytest.raises(ValidationFailed):
            faces(result, manual)
        return
    quote = faces(result, manual)  # the document model refuses figures that do not add up
    for billing in ("one_time", "monthly"):
        lines = [line for line in quote.consent_lines if line.billing == billing]
        taxable = sum(
            s.taxable_amount for s in quote.document.tax_subtotals if s.billing == billing
        )
        assert sum(line.discounted_price for line in lines) == taxable
    assert all(line.discounted_price >= 0 for line in quote.consent_lines)


def test_the_share_is_the_larger_of_one_time_and_monthly_rounded_up():
    result = priced()
    one_time_base = result.one_time.subtotal_yen
    share = rules.discount_share(
        ManualDiscount(one_time_yen=one_time_base // 10 + 1, reason="x"), result
    )
    assert share == 11
    with pytest.raises(ValidationFailed) as refused:
        rules.discount_share(ManualDiscount(monthly_yen=10**6, reason="x"), result)
    assert refused.value.details[0]["field"] == "manual_discount.monthly_yen"


@pytest.mark.parametrize(
    ("groups", "share", "needs"),
    [
        ({"sales"}, 10, False),
        ({"sales"}, 11, True),
        ({"agency"}, 6, True),
        ({"regional-manager"}, 30, False),
        ({"sales", "corporate-manager"}, 25, False),
    ],
)
def test_a_roles_own_limit_decides_whether_a_manager_approves(groups, share, needs):
    assert rules.needs_approval(share, groups) is needs


def test_above_every_limit_nobody_can_approve():
    with pytest.raises(ValidationFailed):
        rules.needs_approval(31, {"corporate-manager"})


def test_only_another_manager_with_a_high_enough_limit_approves():
    rules.check_approver(20, {"regional-manager"}, user="suzuki", creator="tanaka")
    with pytest.raises(Forbidden, match="manager"):
        rules.check_approver(20, {"sales"}, user="suzuki", creator="tanaka")
    with pytest.raises(Forbidden, match="someone other"):
        rules.check_approver(20, {"regional-manager"}, user="tanaka", creator="tanaka")


def test_pricing_errors_name_the_deals_fields():
    lines = [
        DealLine(line_id="line_a", device_sku="CAM-SALE", plan_sku="PLAN-30D", quantity=1),
        DealLine(line_id="line_b", plan_sku="PLAN-7D", option_skus=["OPT-X"], quantity=1),
    ]
    assert [p.sku for p in rules.pricing_lines(lines)] == ["CAM-SALE", "PLAN-30D", "PLAN-7D"]
    assert rules.pricing_field("lines[1].sku", lines) == "lines[0].plan_sku"
    assert rules.pricing_field("lines[2].options[0]", lines) == "lines[1].option_skus[0]"
    assert rules.pricing_field("lines[0].quantity", lines) == "lines[0].quantity"


def test_the_consent_document_carries_the_totals_with_tax_and_the_validity():
    quote = faces(priced())
    page = rules.consent_document(quote.document, quote.consent_lines, pdf_key="quotes/q/v001.pdf")
    assert page.recipient == "株式会社みなと物流 佐藤 花子 様"
    assert f"{quote.document.one_time_total:,}円" in page.terms
    assert "2026-12-24" in page.terms and page.reference == "Q2026-000001 第1版"
