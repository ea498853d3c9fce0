"""The engine's shortcut: months already billed and settled are not computed again
(``billing.charges_through`` with the ledger). Whatever happens to an account (components
ending early, reaching back into billed months, added mid-month, an invoice voided), the
invoice and ledger at every closing are those of computing every month
(``draft_invoice(recompute=True)``)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monosub.domain import billing
from monosub.domain.billing_changes import ledger_without
from monosub.models.billing import BillingAccount, Component, Invoice, InvoiceLine

NOW = "2026-11-30T15:00:00Z"
FIRST_CLOSING = date(2026, 1, 31)


def monthly(key: str, amount: int, starts: date, ends: date | None = None) -> Component:
    return Component(
        contract_id="contract_c1",
        key=key,
        name=f"プラン {key}",
        kind="monthly",
        quantity=1,
        unit_price=amount,
        amount=amount,
        starts=starts,
        ends=ends,
        discount=amount < 0,
    )


def closing(index: int) -> date:
    """The month-end closing ``index`` months after January 2026."""
    return billing.month_last(billing.add_months("2026-01", index))


# One step between two closings: nothing, a component ended (possibly reaching back into
# billed months), a component added from a day, or the last invoice voided.
steps = st.one_of(
    st.just(("nothing",)),
    st.tuples(st.just("end"), st.integers(0, 9), st.integers(-70, 40)),
    st.tuples(st.just("add"), st.integers(-1500, 9000), st.integers(0, 40)),
    st.tuples(
        st.just("void"),
    ),
)


@settings(max_examples=150, deadline=None)
@given(
    amounts=st.lists(st.integers(-3000, 12000), min_size=1, max_size=4),
    start_day=st.integers(1, 28),
    plan=st.lists(steps, min_size=1, max_size=14),
)
def test_the_shortcut_bills_what_computing_every_month_bills(
    amounts: list[int], start_day: int, plan: list[tuple[object, ...]]
) -> None:
    start = date(2026, 1, start_day)
    components = [monthly(f"t1.{n:02d}", a, start) for n, a in enumerate(amounts, 1)]
    account = BillingAccount(
        account_id="account_a1",
        name="株式会社サンプル",
        customer_number="C0001",
        components=components,
        created_at=NOW,
        updated_at=NOW,
    )
    last: Invoice | None = None
    for index, step in enumerate(plan):
        day = closing(index)
        account = _apply(account, step, day, last)
        fast = billing.draft_invoice(account, day, rounding="floor", created_at=NOW)
        full = billing.draft_invoice(account, day, rounding="floor", created_at=NOW, recompute=True)
        assert fast == full
        if fast.invoice is not None:
            last = fast.invoice
            account = account.model_copy(update={"billed": fast.ledger, "last_closing": day})


def _apply(
    account: BillingAccount, step: tuple[object, ...], day: date, last: Invoice | None
) -> BillingAccount:
    kind = step[0]
    if kind == "end":
        index, offset = int(step[1]), int(step[2])  # type: ignore[call-overload]
        if not account.components:
            return account
        target = account.components[index % len(account.components)]
        ends = day + timedelta(days=offset)
        components = [
            c.model_copy(update={"ends": min(ends, c.ends) if c.ends else ends})
            if c.key == target.key
            else c
            for c in account.components
        ]
        return account.model_copy(update={"components": components})
    if kind == "add":
        amount, offset = int(step[1]), int(step[2])  # type: ignore[call-overload]
        key = f"c{len(account.components) + 1:02d}"
        added = monthly(key, amount, day - timedelta(days=offset))
        return account.model_copy(update={"components": [*account.components, added]})
    if kind == "void" and last is not None:
        return account.model_copy(update={"billed": ledger_without(account.billed, last)})
    return account


def test_a_year_old_account_computes_only_the_new_month() -> None:
    """Billed for a year, the next invoice computes one month per component: the settled
    months are named, not charged again."""
    components = [
        monthly("t1.01", 3000, date(2025, 11, 1)),
        monthly("t1.02", 500, date(2025, 11, 1)),
    ]
    account = BillingAccount(
        account_id="account_a1",
        name="株式会社サンプル",
        customer_number="C0001",
        components=components,
        created_at=NOW,
        updated_at=NOW,
    )
    for month in billing.months_from("2025-11", "2026-10"):
        draft = billing.draft_invoice(
            account, billing.month_last(month), rounding="floor", created_at=NOW
        )
        account = account.model_copy(update={"billed": draft.ledger})
    settled: set[str] = set()
    charges = billing.charges_through(
        account.components,
        date(2026, 11, 30),
        since=billing.horizon(date(2026, 11, 30)),
        billed=account.billed,
        settled=settled,
    )
    assert [(c.component.key, c.month) for c in charges] == [
        ("t1.01", "2026-11"),
        ("t1.02", "2026-11"),
    ]
    assert len(settled) == 2 * 12  # November 2025 (the horizon) to October 2026
    # a component ended within a billed month is computed again for that month
    ended = [components[0].model_copy(update={"ends": date(2026, 10, 15)}), components[1]]
    settled.clear()
    charges = billing.charges_through(
        ended,
        date(2026, 11, 30),
        since=billing.horizon(date(2026, 11, 30)),
        billed=account.billed,
        settled=settled,
    )
    assert ("t1.01", "2026-10") in [(c.component.key, c.month) for c in charges]


def test_a_trusted_line_is_the_validated_line() -> None:
    values = {
        "contract_id": "contract_c1",
        "component": "t1.01",
        "month": "2026-11",
        "name": "録画プラン",
        "period": "2026年11月分",
        "quantity": 2,
        "unit": "台",
        "unit_price": 1470,
        "amount": 2940,
        "prorated": False,
        "tax_rate": 10,
        "adjustment": False,
    }
    line = InvoiceLine.trusted(dict(values))
    assert line == InvoiceLine(**values)  # type: ignore[arg-type]
    assert line.model_dump() == InvoiceLine(**values).model_dump()  # type: ignore[arg-type]
    values.pop("unit")
    with pytest.raises(TypeError, match="exactly"):
        InvoiceLine.trusted(values)
