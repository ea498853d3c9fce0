"""Usage (metered) billing without AWS: usage components from a contract's products and their
prices, readings billed in arrears at closings (the month's reading on the next closing, a
late one when it arrives, a corrected one as an adjustment, nothing twice), ended with the
contract, month-end revenue of the month's reading, and storing readings (replace, prune)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from monosub.domain import billing, usage_billing
from monosub.domain.pricing import usage_charge
from monosub.domain.usage_billing import Reading
from monosub.models.billing import BillingAccount, Component
from monosub.models.catalog import UsageTier
from monosub.models.deals import DealLine
from tests.unit.test_pricing import entry, version

NOW = "2026-12-31T17:00:00Z"
ENERGY = [
    UsageTier(up_to=120, unit_yen=Decimal("29.80")),
    UsageTier(up_to=300, unit_yen=Decimal("36.40")),
    UsageTier(up_to=None, unit_yen=Decimal("40.49")),
]
ENERGY_PRICE = {
    "monthly_yen": 885,
    "usage_unit": "kWh",
    "usage_tiers": [t.model_dump() for t in ENERGY],
}
START = date(2026, 11, 25)


def catalog() -> dict:
    return dict(
        [
            entry(
                "PLAN-ENERGY",
                "plan",
                name="電力 従量電灯",
                prices=(version("PLAN-ENERGY", **ENERGY_PRICE),),
            ),
            entry("PLAN-30D", "plan", monthly_yen=1980),
            entry(
                "OPT-CLOUD-GB",
                "option",
                name="クラウド保存",
                fits_plans=["PLAN-30D"],
                prices=(
                    version("OPT-CLOUD-GB", monthly_yen=300),
                    version(
                        "OPT-CLOUD-GB",
                        date(2026, 11, 1),
                        usage_unit="GB",
                        usage_tiers=[{"unit_yen": "5.5"}],
                        tax="reduced",
                    ),
                ),
            ),
        ]
    )


def monthly(key: str = "t1.01", amount: int = 885) -> Component:
    return Component(
        contract_id="contract_c1",
        key=key,
        name="電力 従量電灯",
        sku="PLAN-ENERGY",
        kind="monthly",
        quantity=1,
        unit_price=amount,
        amount=amount,
        starts=START,
    )


def metered(starts: date = START, ends: date | None = None, key: str = "t1.u01") -> Component:
    (component,) = usage_billing.usage_components(
        ["PLAN-ENERGY"],
        catalog(),
        contract_id="contract_c1",
        term=1,
        starts=starts,
        priced_on=starts,
    )
    return component.model_copy(update={"ends": ends, "key": key})


def account(components: list[Component], usage: dict[str, str], **values: object) -> BillingAccount:
    return BillingAccount(
        account_id="account_a1",
        name="株式会社サンプル",
        customer_number="C0001",
        components=components,
        usage=usage,
        created_at=NOW,
        updated_at=NOW,
        **values,  # type: ignore[arg-type]
    )


def close(acc: BillingAccount, closing: date) -> tuple[BillingAccount, billing.Draft]:
    """The invoice at ``closing`` and the account once it is billed."""
    draft = billing.draft_invoice(acc, closing, rounding="floor", created_at=NOW)
    return acc.model_copy(update={"billed": draft.ledger, "last_closing": closing}), draft


def usage_lines(draft: billing.Draft) -> list:
    assert draft.invoice is not None
    return [line for line in draft.invoice.lines if line.component.startswith("t1.u")]


# ---- components ----------------------------------------------------------------------------


def test_each_usage_priced_product_of_the_lines_gets_one_usage_component():
    lines = [
        DealLine(line_id="l1", plan_sku="PLAN-ENERGY", quantity=2),
        DealLine(line_id="l2", plan_sku="PLAN-30D", option_skus=["OPT-CLOUD-GB"], quantity=3),
        DealLine(line_id="l3", plan_sku="PLAN-ENERGY", quantity=1),
    ]
    skus = usage_billing.line_skus(lines)
    assert skus == ["PLAN-ENERGY", "PLAN-30D", "OPT-CLOUD-GB"]
    components = usage_billing.usage_components(
        skus, catalog(), contract_id="contract_c1", term=2, starts=START, priced_on=START
    )
    assert [(c.key, c.sku, c.kind, c.name, c.usage_unit, c.tax_rate) for c in components] == [
        ("t2.u01", "PLAN-ENERGY", "usage", "電力 従量電灯 従量料金", "kWh", 10),
        ("t2.u02", "OPT-CLOUD-GB", "usage", "クラウド保存 従量料金", "GB", 8),
    ]
    # amounts of 0: the base amount (基本料金) is the document's monthly line
    assert all(
        (c.amount, c.unit_price, c.starts, c.ends) == (0, 0, START, None) for c in components
    )
    assert components[0].usage_tiers == ENERGY


def test_the_price_in_force_on_the_start_date_decides():
    before = usage_billing.usage_components(
        ["OPT-CLOUD-GB"],
        catalog(),
        contract_id="contract_c1",
        term=1,
        starts=date(2026, 10, 31),
        priced_on=date(2026, 10, 31),
    )
    assert before == []  # its price was monthly only until 31 October
    assert (
        usage_billing.usage_components(
            ["NOT-IN-CATALOG"], catalog(), contract_id="c", term=1, starts=START, priced_on=START
        )
        == []
    )


def test_ending_a_contract_ends_its_usage_components_too():
    components = [monthly(), metered()]
    ended = billing.end_components(components, "contract_c1", date(2027, 3, 15))
    assert [c.ends for c in ended] == [date(2027, 3, 15), date(2027, 3, 15)]
    later = billing.end_components(
        [metered(starts=date(2027, 4, 1))], "contract_c1", date(2027, 3, 31)
    )
    assert later == []


# ---- invoices ------------------------------------------------------------------------------


def test_usage_is_billed_in_arrears_with_the_reading_in_the_name():
    acc = account([monthly(), metered()], {"contract_c1|t1.u01|2026-11": "350.5"})
    acc, november = close(acc, date(2026, 11, 30))
    assert usage_lines(november) == []  # November's reading waits for December's closing
    acc, december = close(acc, date(2026, 12, 31))
    (line,) = usage_lines(december)
    assert line.name == "電力 従量電灯 従量料金（350.5kWh）"
    assert line.period == "2026年11月分" and line.month == "2026-11"
    # 120 × 29.80 + 180 × 36.40 + 50.5 × 40.49 = 12,172.745: floored once
    assert (line.quantity, line.unit, line.unit_price, line.amount) == (1, "式", 12172, 12172)
    assert not line.adjustment and not line.prorated
    assert december.invoice is not None and december.invoice.period_start == date(2026, 11, 1)
    assert acc.billed["contract_c1|t1.u01|2026-11"] == 12172
    # tax once per rate, usage included
    assert december.invoice.subtotal == 885 + 12172
    assert december.invoice.tax_total == (885 + 12172) // 10


def test_a_reading_that_comes_late_is_billed_when_it_is_there_and_only_once():
    acc = account([monthly(), metered()], {})
    acc, december = close(acc, date(2026, 12, 31))
    assert usage_lines(december) == []
    acc = acc.model_copy(
        update={"usage": {"contract_c1|t1.u01|2026-11": "100", "contract_c1|t1.u01|2026-12": "0"}}
    )
    acc, january = close(acc, date(2027, 1, 31))
    assert [(line.month, line.amount) for line in usage_lines(january)] == [("2026-11", 2980)]
    acc, again = close(acc, date(2027, 2, 28))
    assert usage_lines(again) == []  # nothing twice; a reading of 0 charges nothing


def test_a_corrected_reading_is_an_adjustment():
    acc = account([monthly(), metered()], {"contract_c1|t1.u01|2026-11": "350.5"})
    acc, _ = close(acc, date(2026, 12, 31))
    acc = acc.model_copy(update={"usage": {"contract_c1|t1.u01|2026-11": "360"}})
    acc, january = close(acc, date(2027, 1, 31))
    (line,) = usage_lines(january)
    expected = usage_charge(ENERGY, Decimal(360)).amount_yen
    assert line.adjustment and line.period == "2026年11月分 調整"
    assert line.name == "電力 従量電灯 従量料金（360kWh）"
    assert line.amount == expected - 12172 and line.unit_price == line.amount
    assert acc.billed["contract_c1|t1.u01|2026-11"] == expected


def test_a_reading_lower_than_billed_is_netted_against_the_next_charges():
    acc = account([monthly(), metered()], {"contract_c1|t1.u01|2026-11": "350.5"})
    acc, _ = close(acc, date(2026, 12, 31))
    acc = acc.model_copy(update={"usage": {"contract_c1|t1.u01|2026-11": "10"}})
    acc, january = close(acc, date(2027, 1, 31))
    assert january.invoice is None  # 885 − (12,172 − 298) is negative: it waits
    assert acc.billed["contract_c1|t1.u01|2026-11"] == 12172


def test_readings_outside_the_component_or_the_horizon_are_not_billed():
    usage = {
        "contract_c1|t1.u01|2026-10": "100",  # before the start
        "contract_c1|t1.u01|2027-02": "100",  # after the end
        "contract_c1|t1.u99|2026-12": "100",  # no such component
        "contract_c1|t1.u01|2027-01": "100",
    }
    acc = account([metered(ends=date(2027, 1, 10))], usage, last_closing=date(2026, 11, 30))
    _, march = close(acc, date(2027, 3, 31))
    assert [line.month for line in usage_lines(march)] == ["2027-01"]
    _, much_later = close(acc, date(2028, 2, 29))
    assert much_later.invoice is None  # January 2027 is older than the horizon


def test_the_newest_term_takes_a_month_split_by_a_renewal():
    old = metered(ends=date(2027, 11, 24))
    new = metered(starts=date(2027, 11, 25), key="t2.u01")
    assert usage_billing.component_for([old, new], "contract_c1", "PLAN-ENERGY", "2027-11") == new
    assert usage_billing.component_for([old, new], "contract_c1", "PLAN-ENERGY", "2027-10") == old
    assert usage_billing.component_for([old, new], "contract_c1", "PLAN-ENERGY", "2026-10") is None
    assert usage_billing.component_for([old, new], "contract_c1", "PLAN-30D", "2027-10") is None


def test_a_rerun_rebuilds_the_same_ledger_from_the_invoice():
    acc = account([monthly(), metered()], {"contract_c1|t1.u01|2026-11": "350.5"})
    draft = billing.draft_invoice(acc, date(2026, 12, 31), rounding="floor", created_at=NOW)
    assert draft.invoice is not None
    assert billing.ledger_after(acc.billed, draft.invoice, date(2026, 12, 31)) == draft.ledger


# ---- revenue -------------------------------------------------------------------------------


def test_month_end_revenue_has_the_months_reading_when_it_is_there():
    components = [monthly(), metered()]
    usage = {"contract_c1|t1.u01|2026-12": "350.5", "contract_c1|t1.u01|2026-11": "1"}
    rows = billing.revenue_rows(components, "2026-12", "account_a1", usage)
    assert sorted((r.component, r.amount, r.days) for r in rows) == [
        ("t1.01", 885, 31),
        ("t1.u01", 12172, None),
    ]
    assert {r.month for r in rows} == {"2026-12"}
    without = billing.revenue_rows(components, "2027-01", "account_a1", usage)
    assert [r.component for r in without] == ["t1.01"]
    no_readings = billing.revenue_rows(components, "2026-12", "account_a1")
    assert [r.component for r in no_readings] == ["t1.01"]


def test_a_reading_after_its_months_run_is_recognized_by_the_next_run_once():
    """November's reading arrives after November's run: December's run recognizes it, as
    revenue of December naming November; a correction later is the difference; a month
    whose readings the files already hold gives nothing."""
    components = [monthly(), metered()]
    november = "contract_c1|t1.u01|2026-11"
    # November's run had no reading of November: the files hold none
    seen = billing.readings_through({}, "2026-11")
    usage = {november: "350.5"}
    late = billing.late_usage_rows(components, "2026-12", "account_a1", usage, seen)
    assert [(r.month, r.service_month, r.component, r.amount) for r in late] == [
        ("2026-12", "2026-11", "t1.u01", 12172)
    ]
    # December's run recognized it: January's run finds nothing new
    seen = billing.readings_through(usage, "2026-12")
    assert billing.late_usage_rows(components, "2027-01", "account_a1", usage, seen) == []
    # corrected to 300 afterwards (120 × 29.80 + 180 × 36.40 = 10,128 yen): the difference
    corrected = {november: "300"}
    late = billing.late_usage_rows(components, "2027-01", "account_a1", corrected, seen)
    assert [(r.service_month, r.amount) for r in late] == [("2026-11", 10128 - 12172)]
    # a month's own reading is the month's row (revenue_rows), never a late one
    december = {**usage, "contract_c1|t1.u01|2026-12": "10"}
    assert billing.late_usage_rows(components, "2026-12", "account_a1", december, seen) == []


def test_late_readings_older_than_the_horizon_are_not_recognized():
    components = [monthly(), metered()]
    old = {"contract_c1|t1.u01|2025-10": "100"}
    assert billing.late_usage_rows(components, "2026-12", "account_a1", old, {}) == []
    assert billing.readings_through(old, "2026-12") == {}


# ---- readings ------------------------------------------------------------------------------


def test_readings_are_stored_replaced_and_pruned():
    usage = {"c|t1.u01|2025-10": "1", "c|t1.u01|2026-11": "350.5", "c|t1.u01|2026-12": "2"}
    merged, counts = usage_billing.merge_readings(
        usage,
        [
            Reading("c", "t1.u01", "2026-11", Decimal("360.000")),
            Reading("c", "t1.u01", "2026-12", Decimal("2.0")),
            Reading("c", "t1.u01", "2027-01", Decimal("1E+3")),
        ],
        oldest_month="2025-12",
    )
    assert merged == {
        "c|t1.u01|2026-11": "360",
        "c|t1.u01|2026-12": "2",
        "c|t1.u01|2027-01": "1000",
    }
    assert counts == {"stored": 1, "replaced": 1, "unchanged": 1}
    again, counts = usage_billing.merge_readings(
        merged, [Reading("c", "t1.u01", "2026-11", Decimal(360))], oldest_month="2025-12"
    )
    assert again == merged and counts == {"stored": 0, "replaced": 0, "unchanged": 1}


@given(st.decimals(min_value=0, max_value=10**9, places=3, allow_nan=False, allow_infinity=False))
def test_a_stored_quantity_reads_back_as_the_same_number(quantity: Decimal):
    text = usage_billing.format_quantity(quantity)
    assert Decimal(text) == quantity
    assert "E" not in text and (text == "0" or not text.endswith(("0", ".")) or "." not in text)
