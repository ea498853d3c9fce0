"""The billing engine without AWS: components from a contract's document, proration by day,
invoices at closings (in advance, adjustments, nothing twice), tax once per rate, revenue."""

from __future__ import annotations

import itertools
import json
from datetime import date
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from monosub.documents.model import Contract as ContractDocument
from monosub.domain import billing
from monosub.models.billing import BillingAccount, Component, FirstMonth

DOCUMENT = ContractDocument.model_validate(
    json.loads(Path("tests/data/documents/contract-camera.json").read_text(encoding="utf-8"))
)
NOW = "2026-11-30T15:00:00Z"


def account(components: list[Component], **values: object) -> BillingAccount:
    return BillingAccount(
        account_id="account_a1",
        name="株式会社サンプル",
        customer_number="C0001",
        components=components,
        created_at=NOW,
        updated_at=NOW,
        **values,  # type: ignore[arg-type]
    )


def camera(start: date, first_month: FirstMonth = "prorate") -> list[Component]:
    return billing.components_from_document(
        DOCUMENT, contract_id="contract_c1", term=1, start=start, first_month=first_month
    )


def monthly(amount: int, starts: date, ends: date | None = None, key: str = "t1.01") -> Component:
    return Component(
        contract_id="contract_c1",
        key=key,
        name="録画プラン",
        kind="monthly",
        quantity=1,
        unit_price=amount,
        amount=amount,
        starts=starts,
        ends=ends,
    )


def test_the_document_becomes_components() -> None:
    components = camera(date(2026, 11, 15))
    assert [(c.key, c.kind, c.amount, c.starts, c.ends) for c in components] == [
        ("t1.01", "one_time", 119400, date(2026, 11, 15), None),
        ("t1.02", "one_time", 15000, date(2026, 11, 15), None),
        ("t1.03", "one_time", 1500, date(2026, 11, 15), None),
        ("t1.04", "monthly", 2940, date(2026, 11, 15), None),
        ("t1.05", "one_time", -3000, date(2026, 11, 15), None),
        # three months free from the 15th: to 14 February (the contract dates rule)
        ("t1.06", "monthly", -2940, date(2026, 11, 15), date(2027, 2, 14)),
    ]
    assert components[5].discount and components[5].name.startswith("録画プラン 3ヶ月無料")


def test_next_month_mode_starts_monthly_charges_on_the_first() -> None:
    components = camera(date(2026, 11, 15), "next_month")
    plan = components[3]
    assert plan.starts == date(2026, 12, 1)
    assert components[5].ends == date(2027, 2, 28)
    assert components[0].starts == date(2026, 11, 15)  # the device is still charged on shipping


def test_a_first_invoice_prorates_and_taxes_once_per_rate() -> None:
    draft = billing.draft_invoice(
        account(camera(date(2026, 11, 15))), date(2026, 11, 30), rounding="floor", created_at=NOW
    )
    invoice = draft.invoice
    assert invoice is not None
    plan = [line for line in invoice.lines if line.component == "t1.04"]
    assert plan[0].amount == 2940 * 16 // 30 == 1568
    assert plan[0].period == "2026年11月15日〜11月30日（日割 16/30日）"
    free = [line for line in invoice.lines if line.component == "t1.06"]
    assert free[0].amount == -1568  # the campaign covers the same days exactly
    assert invoice.subtotal == 119400 + 15000 + 1500 - 3000
    assert [(t.rate, t.taxable, t.tax) for t in invoice.taxes] == [
        (10, 131400, 13140),
        (8, 1500, 120),
    ]
    assert invoice.total == 132900 + 13260
    assert invoice.period_start == date(2026, 11, 15)
    assert invoice.period_end == date(2026, 11, 30)


def test_a_rerun_bills_nothing_twice_and_the_next_month_bills_the_month() -> None:
    first = billing.draft_invoice(
        account(camera(date(2026, 11, 15))), date(2026, 11, 30), rounding="floor", created_at=NOW
    )
    billed = account(camera(date(2026, 11, 15)), billed=first.ledger)
    again = billing.draft_invoice(billed, date(2026, 11, 30), rounding="floor", created_at=NOW)
    assert again.invoice is None and again.due_lines == 0

    # December, January: plan and campaign cancel out, nothing to invoice
    december = billing.draft_invoice(billed, date(2026, 12, 31), rounding="floor", created_at=NOW)
    assert december.invoice is None
    after_campaign = account(camera(date(2026, 11, 15)), billed=december.ledger)
    january = billing.draft_invoice(
        after_campaign, date(2027, 1, 31), rounding="floor", created_at=NOW
    )
    february = billing.draft_invoice(
        account(camera(date(2026, 11, 15)), billed=january.ledger),
        date(2027, 2, 28),
        rounding="floor",
        created_at=NOW,
    )
    assert february.invoice is not None
    # the campaign's last 14 days of February: 2940 − 2940·14/28
    assert february.invoice.subtotal == 2940 - 1470


def test_a_change_into_a_billed_month_is_an_adjustment() -> None:
    old = monthly(3000, date(2026, 11, 1))
    first = billing.draft_invoice(
        account([old]), date(2026, 11, 20), rounding="floor", created_at=NOW
    )
    assert first.invoice is not None and first.invoice.subtotal == 3000
    # upgraded from the 21st: the old price to the 20th, the new one from the 21st
    changed = [
        *billing.end_components([old], "contract_c1", date(2026, 11, 20)),
        monthly(6000, date(2026, 11, 21), key="c1.01"),
    ]
    december = billing.draft_invoice(
        account(changed, billed=first.ledger), date(2026, 12, 20), rounding="floor", created_at=NOW
    )
    invoice = december.invoice
    assert invoice is not None
    by = {(line.component, line.month): line for line in invoice.lines}
    assert by[("t1.01", "2026-11")].amount == 3000 * 20 // 30 - 3000
    assert by[("t1.01", "2026-11")].adjustment
    assert by[("c1.01", "2026-11")].amount == 6000 - 6000 * 20 // 30
    assert by[("c1.01", "2026-12")].amount == 6000
    assert ("t1.01", "2026-12") not in by


def test_a_negative_balance_waits_for_the_next_closing() -> None:
    old = monthly(3000, date(2026, 11, 1))
    first = billing.draft_invoice(
        account([old]), date(2026, 11, 30), rounding="floor", created_at=NOW
    )
    ended = billing.end_components([old], "contract_c1", date(2026, 11, 10))
    refund = billing.draft_invoice(
        account(ended, billed=first.ledger), date(2026, 11, 30), rounding="floor", created_at=NOW
    )
    assert refund.invoice is None and refund.due_lines == 1
    assert refund.ledger == first.ledger  # nothing recorded as billed


def test_revenue_is_only_the_month_asked() -> None:
    components = camera(date(2026, 11, 15))
    november = billing.revenue_rows(components, "2026-11", "account_a1")
    assert sum(row.amount for row in november) == 119400 + 15000 + 1500 - 3000
    assert {row.month for row in november} == {"2026-11"}
    assert billing.revenue_rows(components, "2026-10", "account_a1") == []
    march = billing.revenue_rows(components, "2027-03", "account_a1")
    assert [(row.component, row.amount, row.days) for row in march] == [("t1.04", 2940, 31)]


@given(
    amount=st.integers(-1_000_000, 1_000_000),
    days=st.sampled_from([28, 29, 30, 31]),
    data=st.data(),
)
def test_the_parts_of_a_month_add_up_to_the_month(
    amount: int, days: int, data: st.DataObject
) -> None:
    cuts = sorted(data.draw(st.sets(st.integers(1, days - 1), max_size=5)))
    bounds = [0, *cuts, days]
    parts = [billing.prorate(amount, a + 1, b, days) for a, b in itertools.pairwise(bounds)]
    assert sum(parts) == amount
    assert all(abs(part) <= abs(amount) for part in parts)
    assert all(part * amount >= 0 for part in parts)


@given(
    start=st.dates(date(2026, 1, 1), date(2030, 12, 31)),
    months=st.integers(1, 36),
    amount=st.integers(1, 100_000),
)
def test_a_term_of_whole_months_is_charged_the_months(
    start: date, months: int, amount: int
) -> None:
    """From a 1st, exactly the months; from another day, the first and last calendar months
    are prorated by their own lengths (日割り by calendar month): the two parts make a month
    give or take the difference of two month lengths (at most 30·(1/28 − 1/31) < 1/9 of it)
    and a yen of rounding each."""
    from monosub.domain.contracts import term_end

    component = monthly(amount, start, term_end(start, months))
    charges = billing.charges_through([component], term_end(start, months))
    total = sum(charge.amount for charge in charges)
    if start.day == 1:
        assert total == amount * months
    else:
        assert abs(total - amount * months) <= amount // 9 + 2
