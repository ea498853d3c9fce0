"""Agency rules: Asia/Tokyo months, units of a deal, commission rules as data, performance,
and what a registration makes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from monosub.domain import agencies as rules
from monosub.errors import ValidationFailed
from monosub.models.agencies import (
    Agency,
    AgencyTerms,
    CommissionRule,
    RegistrationContact,
    RegistrationRequest,
)
from monosub.models.deals import NewDealLine

RULES = [
    CommissionRule(valid_from="2026-01", per_device_unit_yen=3000, per_plan_unit_yen=500),
    CommissionRule(valid_from="2026-06", per_device_unit_yen=4000, per_plan_unit_yen=0),
]


def test_a_month_is_its_asia_tokyo_instants():
    assert rules.month_bounds("2026-04") == ("2026-03-31T15:00:00Z", "2026-04-30T15:00:00Z")
    assert rules.month_bounds("2026-12") == ("2026-11-30T15:00:00Z", "2026-12-31T15:00:00Z")
    assert rules.month_bounds("2027-01")[0] == "2026-12-31T15:00:00Z"
    assert rules.month_of("2026-04-30T15:00:00Z") == "2026-05"
    assert rules.month_of("2026-04-30T14:59:59Z") == "2026-04"
    for bad in ("2026-13", "2026-4", "26-04", "2026-04-01", ""):
        with pytest.raises(ValidationFailed):
            rules.month_bounds(bad)


@given(st.integers(2000, 2100), st.integers(1, 12))
def test_months_tile_time(year, number):
    month = f"{year:04d}-{number:02d}"
    low, high = rules.month_bounds(month)
    following = f"{year + number // 12:04d}-{number % 12 + 1:02d}"
    assert rules.month_bounds(following)[0] == high
    assert rules.month_of(low) == month
    # a position at the month's last instant is inside; one at the next month's first is not
    assert low <= f"{low}#deal_x" <= high
    assert not f"{high}#deal_x" <= high


def test_units_of_a_deal():
    lines = [
        NewDealLine(device_sku="CAM-ONE", plan_sku="PLAN-30D", quantity=5),
        NewDealLine(plan_sku="PLAN-7D", quantity=2),
    ]
    assert rules.units(lines) == (5, 7)
    assert rules.units([]) == (0, 0)


def test_the_rule_of_a_month_never_changes_an_earlier_month():
    assert rules.rule_for(RULES, "2025-12") is None
    assert rules.rule_for(RULES, "2026-01") == RULES[0]
    assert rules.rule_for(RULES, "2026-05") == RULES[0]
    assert rules.rule_for(RULES, "2026-06") == RULES[1]
    assert rules.commission(5, 7, RULES[0]) == 5 * 3000 + 7 * 500
    assert rules.commission(5, 7, None) == 0


def agency(**terms):
    return Agency(
        agency_id="agency-a",
        name="代理店A",
        created_at="2026-01-01T00:00:00Z",
        updated_at="2026-01-01T00:00:00Z",
        updated_by="ops1",
        **terms,
    )


def test_performance_of_a_month():
    result = rules.performance(
        agency(
            commission_rules=RULES,
            monthly_targets=[{"month": "2026-05", "registrations": 10, "won_deals": 4}],
        ),
        "2026-05",
        registrations=3,
        won=[
            {
                "deal_id": "deal_1",
                "account_id": "account_1",
                "won_at": "2026-05-02T00:00:00Z",
                "device_units": 5,
                "plan_units": 7,
            },
            {
                "deal_id": "deal_2",
                "account_id": "account_2",
                "won_at": "2026-05-03T00:00:00Z",
                "device_units": 0,
                "plan_units": 2,
            },
        ],
    )
    assert (result.registrations.count, result.registrations.target) == (3, 10)
    assert (result.won_deals.count, result.won_deals.target) == (2, 4)
    assert [d.commission_yen for d in result.deals] == [18500, 1000]
    assert result.commission_yen == 19500
    assert result.commission_rule == RULES[0]
    nothing = rules.performance(agency(), "2026-05", registrations=0, won=[])
    assert (nothing.commission_yen, nothing.won_deals.target, nothing.commission_rule) == (
        0,
        None,
        None,
    )


def test_terms_one_rule_and_one_target_per_month_sorted():
    terms = AgencyTerms(
        name="代理店A",
        commission_rules=list(reversed(RULES)),
        monthly_targets=[
            {"month": "2026-05", "registrations": 1, "won_deals": 1},
            {"month": "2026-04", "registrations": 1, "won_deals": 1},
        ],
    )
    assert [r.valid_from for r in terms.commission_rules] == ["2026-01", "2026-06"]
    assert [t.month for t in terms.monthly_targets] == ["2026-04", "2026-05"]
    with pytest.raises(ValidationError, match="one rule per valid_from month: 2026-01"):
        AgencyTerms(name="x", commission_rules=[RULES[0], RULES[0]])
    with pytest.raises(ValidationError, match="one target per month"):
        AgencyTerms(
            name="x",
            monthly_targets=[{"month": "2026-04", "registrations": 1, "won_deals": 1}] * 2,
        )
    with pytest.raises(ValidationError):
        CommissionRule(valid_from="2026-04", per_device_unit_yen=-1, per_plan_unit_yen=0)


def request(segment="corporate", name="株式会社テスト", **contact):
    return RegistrationRequest(
        segment=segment,
        name=name,
        contact={"person_name": "試験 太郎", "email": "t@example.jp", **contact},
        deal={
            "name": "カメラ2台",
            "lines": [{"device_sku": "CAM-ONE", "plan_sku": "PLAN-30D", "quantity": 2}],
            "payment_method": "card",
        },
    )


IDS = rules.RegistrationIds(
    account_id="account_1", contact_id="contact_1", deal_id="deal_1", line_ids=["line_1"]
)


def test_a_registration_makes_an_account_contact_and_deal_of_the_agency():
    plan = rules.plan_registration(
        request(phone="03-1234-5678"),
        agency_id="agency-a",
        by="ag-user",
        new_ids=IDS,
        now="2026-04-01T00:00:00Z",
    )
    assert (plan.account.segment, plan.account.agency_id, plan.account.name_key) == (
        "corporate",
        "agency-a",
        "テスト",
    )
    assert (plan.contact.email_key, plan.contact.phone_key) == ("t@example.jp", "0312345678")
    deal = plan.deal
    assert (deal.agency_id, deal.segment, deal.owner, deal.stage) == (
        "agency-a",
        "corporate",
        "ag-user",
        "prospecting",
    )
    assert [line.line_id for line in deal.lines] == ["line_1"]
    assert deal.billing_account_id == deal.device_owner_account_id == "account_1"
    assert plan.registration.model_dump() == {
        "agency_id": "agency-a",
        "account_id": "account_1",
        "contact_id": "contact_1",
        "deal_id": "deal_1",
        "segment": "corporate",
        "name": "株式会社テスト",
        "registered_at": "2026-04-01T00:00:00Z",
        "registered_by": "ag-user",
        "region": None,  # the agency's region, when it has one
    }
    assert (plan.activity.kind, plan.activity.message) == (
        "registration",
        "registered by agency agency-a",
    )


def test_a_residential_customers_name_is_no_company_key():
    plan = rules.plan_registration(
        request(segment="residential", name="山田 花子"),
        agency_id="agency-a",
        by="u",
        new_ids=IDS,
        now="2026-04-01T00:00:00Z",
    )
    assert (plan.account.segment, plan.account.name_key, plan.deal.segment) == (
        "residential",
        None,
        "residential",
    )


def test_a_contact_needs_an_email_or_a_phone():
    with pytest.raises(ValidationError, match="give an email or a phone number"):
        RegistrationContact(person_name="x", email=" ", phone=None)
    with pytest.raises(ValidationError, match="not a valid email"):
        RegistrationContact(person_name="x", email="nope")
    assert RegistrationContact(person_name="x", phone="090-1234-5678").phone == "090-1234-5678"
