"""The engine's fast paths against the slow ones they stand for: a whole month's charge made
in ``charges_through``'s loop against ``monthly_charge``; lines and invoices built without
validation against validated models (same fields, defaults, fields set and JSON); the
integer tax against the Decimal one; the drafts' order against a stable sort; an invoice
whose inputs the engine did not type itself still validated (and refused)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from monosub.domain import billing, tax
from monosub.models.billing import (
    BillingAccount,
    Component,
    Invoice,
    InvoiceLine,
    TaxAmount,
    trusted_line,
)
from tests.unit.test_billing_settled import _apply as apply_step
from tests.unit.test_billing_settled import closing
from tests.unit.test_billing_settled import steps as settled_steps

NOW = "2026-11-30T15:00:00Z"


def component(
    key: str,
    amount: int,
    starts: date,
    ends: date | None = None,
    *,
    kind: str = "monthly",
    contract_id: str = "contract_c1",
) -> Component:
    return Component(
        contract_id=contract_id,
        key=key,
        name=f"プラン {key}",
        kind=kind,  # type: ignore[arg-type]
        quantity=2,
        unit="台",
        unit_price=amount // 2,
        amount=amount,
        starts=starts,
        ends=ends,
        tax_rate=8 if key.endswith("8") else 10,
    )


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


# ---- charges -------------------------------------------------------------------------------


def reference_charges(components: list[Component], closing: date) -> list[billing.Charge]:
    """``charges_through`` without a ledger as it was written before its loop was made
    fast: ``monthly_charge`` for every month, ``Charge`` built by keywords."""
    due: list[billing.Charge] = []
    for c in components:
        if c.starts > closing or c.kind == "usage":
            continue
        if c.kind == "one_time":
            due.append(billing.Charge(component=c, month=None, amount=c.amount))
            continue
        final = billing.month_key(closing)
        if c.ends:
            final = min(final, billing.month_key(c.ends))
        for month in billing.months_from(billing.month_key(c.starts), final):
            charge = billing.monthly_charge(c, month)
            if charge is not None:
                due.append(charge)
    return due


spans = st.tuples(
    st.integers(-5000, 12000),
    st.dates(date(2025, 1, 1), date(2027, 6, 30)),
    st.one_of(st.none(), st.integers(0, 500)),
    st.sampled_from(["monthly", "monthly", "one_time"]),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(spans, min_size=1, max_size=6), st.dates(date(2025, 6, 1), date(2027, 12, 31)))
def test_the_months_charged_in_the_loop_are_monthly_charge_s(
    specs: list[tuple[int, date, int | None, str]], closing: date
) -> None:
    components = [
        component(
            f"t1.{n:02d}",
            amount,
            starts,
            None if length is None or kind == "one_time" else starts + timedelta(days=length),
            kind=kind,
        )
        for n, (amount, starts, length, kind) in enumerate(specs, 1)
    ]
    fast = billing.charges_through(components, closing)
    reference = reference_charges(components, closing)
    assert fast == reference
    assert [type(c) for c in fast] == [billing.Charge] * len(reference)
    assert [c._asdict() for c in fast] == [c._asdict() for c in reference]


@settings(max_examples=150, deadline=None)
@given(
    amounts=st.lists(st.integers(-3000, 12000), min_size=1, max_size=4),
    start_day=st.integers(1, 28),
    plan=st.lists(settled_steps, min_size=1, max_size=16),
)
def test_the_ledger_made_without_a_pass_is_the_ledger_after_the_invoice(
    amounts: list[int], start_day: int, plan: list[tuple[object, ...]]
) -> None:
    """``draft_invoice`` copies the ledger whole when its keys are all due or settled, and
    filters it by the horizon (and gives back months no longer due) otherwise: either way
    the ledger is ``ledger_after``'s, which always filters, from the invoice's lines."""
    start = date(2026, 1, start_day)
    components = [component(f"t1.{n:02d}", a, start) for n, a in enumerate(amounts, 1)]
    current = account(components)
    last: Invoice | None = None
    for index, step in enumerate(plan):
        day = closing(index)
        current = apply_step(current, step, day, last)
        draft = billing.draft_invoice(current, day, rounding="floor", created_at=NOW)
        if draft.invoice is None:
            continue
        assert draft.ledger == billing.ledger_after(current.billed, draft.invoice, day)
        last = draft.invoice
        current = current.model_copy(update={"billed": draft.ledger, "last_closing": day})


# ---- lines and invoices --------------------------------------------------------------------

LINE = {
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


def test_a_trusted_line_is_the_validated_line_field_for_field() -> None:
    line = trusted_line(**LINE)  # type: ignore[arg-type]
    validated = InvoiceLine(**LINE)  # type: ignore[arg-type]
    assert line == validated
    assert line.model_fields_set == validated.model_fields_set
    assert line.model_dump_json() == validated.model_dump_json()  # the fields' order too
    # every field of the model is a parameter: a field added to the model and not to
    # trusted_line (which would leave it unset on the engine's lines) fails here
    assert list(line.__dict__) == list(InvoiceLine.model_fields)


def test_an_engine_line_of_each_kind_is_a_validated_line() -> None:
    """Whole month, prorated, one-time and adjustment lines, as a validated line of the
    same values."""
    start = date(2026, 10, 15)
    components = [
        component("t1.01", 2940, start),
        component("t1.02", 15000, start, kind="one_time"),
        component("t1.08", -980, start, date(2027, 1, 14)),
    ]
    first = billing.draft_invoice(
        account(components), date(2026, 11, 30), rounding="floor", created_at=NOW
    )
    changed = [
        *billing.end_components(components, "contract_c1", date(2026, 11, 20)),
        component("c1.01", 6000, date(2026, 11, 21)),
    ]
    second = billing.draft_invoice(
        account(changed, billed=first.ledger), date(2026, 12, 31), rounding="floor", created_at=NOW
    )
    assert first.invoice is not None and second.invoice is not None
    lines = [*first.invoice.lines, *second.invoice.lines]
    assert {(line.prorated, line.adjustment, line.month is None) for line in lines} >= {
        (True, False, False),
        (False, False, False),
        (False, False, True),
        (True, True, False),
    }
    for line in lines:
        validated = InvoiceLine(**line.model_dump())
        assert line == validated
        assert line.model_dump_json() == validated.model_dump_json()
        assert line.model_fields_set == validated.model_fields_set


def test_a_trusted_invoice_is_the_validated_invoice() -> None:
    draft = billing.draft_invoice(
        account([component("t1.01", 2940, date(2026, 10, 15))]),
        date(2026, 11, 30),
        rounding="floor",
        created_at=NOW,
        due_date=date(2026, 12, 31),
        run_id="run_1",
    )
    invoice = draft.invoice
    assert invoice is not None
    given_values = {name: getattr(invoice, name) for name in invoice.model_fields_set}
    validated = Invoice(**given_values)
    trusted = Invoice.trusted(dict(given_values))
    for made in (invoice, trusted):
        assert made == validated
        assert made.model_fields_set == validated.model_fields_set
        assert made.model_dump_json() == validated.model_dump_json()
        assert list(made.__dict__) == list(validated.__dict__)
    # a default made by a factory is made anew: two invoices share no list
    other = Invoice.trusted(dict(given_values))
    assert trusted.payments == [] and trusted.payments is not other.payments
    assert "payments" not in trusted.model_fields_set


def test_a_trusted_invoice_needs_the_required_fields_and_no_others() -> None:
    values = {
        "invoice_id": "invoice_20261130a1",
        "account_id": "account_a1",
        "closing_date": date(2026, 11, 30),
        "period_start": date(2026, 11, 1),
        "period_end": date(2026, 11, 30),
        "series": "INV-2026",
        "lines": [],
        "taxes": [],
        "subtotal": 0,
        "tax_total": 0,
        "total": 0,
        "created_at": NOW,
    }
    assert Invoice.trusted(dict(values)) == Invoice(**values)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="needs"):
        Invoice.trusted({k: v for k, v in values.items() if k != "total"})
    with pytest.raises(TypeError, match="needs"):
        Invoice.trusted({**values, "colour": "red"})


def test_what_the_engine_did_not_type_is_validated_and_refused() -> None:
    """An account copied with ``model_copy(update=…)`` is not validated: a wrong delivery
    (or a caller's wrong type) is refused as validating the invoice always refused it."""
    components = [component("t1.01", 2940, date(2026, 10, 15))]
    wrong = account(components).model_copy(update={"delivery": "fax"})
    with pytest.raises(ValidationError, match="delivery"):
        billing.draft_invoice(wrong, date(2026, 11, 30), rounding="floor", created_at=NOW)
    with pytest.raises(ValidationError, match="created_at"):
        billing.draft_invoice(
            account(components),
            date(2026, 11, 30),
            rounding="floor",
            created_at=datetime(2026, 11, 30, 15, tzinfo=UTC),  # type: ignore[arg-type]
        )
    # a value validation converts (a date with its time: midnight) is converted, as before
    draft = billing.draft_invoice(
        account(components),
        date(2026, 11, 30),
        rounding="floor",
        created_at=NOW,
        due_date=datetime(2026, 12, 31, tzinfo=UTC),
    )
    assert draft.invoice is not None and type(draft.invoice.due_date) is date


# ---- order, ids, tax -----------------------------------------------------------------------


def test_lines_come_in_the_order_of_a_stable_sort_by_contract_month_component() -> None:
    start = date(2026, 10, 15)
    components = [
        component("t1.03", 1000, start, contract_id="contract_b"),
        component("t1.01", 2000, start, contract_id="contract_b"),
        component("t1.02", 3000, start, kind="one_time", contract_id="contract_b"),
        component("t1.01", 4000, start, contract_id="contract_a"),
        component("t1.01", 5000, start, contract_id="contract_a"),  # the same key twice
    ]
    draft = billing.draft_invoice(
        account(components), date(2026, 11, 30), rounding="floor", created_at=NOW
    )
    assert draft.invoice is not None
    lines = draft.invoice.lines
    charges = sorted(
        billing.charges_through(components, date(2026, 11, 30)),
        key=lambda c: (c.component.contract_id, c.month or "", c.component.key),
    )
    # the two charges of one ledger key (4000 and 5000) keep the order they came in
    assert [(line.contract_id, line.month, line.component, line.amount) for line in lines] == [
        (c.component.contract_id, c.month, c.component.key, c.amount) for c in charges
    ]
    assert [line.amount for line in lines][:4] == [2194, 2742, 4000, 5000]


@given(st.dates(date(1000, 1, 1), date(9999, 12, 31)))
def test_an_invoice_id_names_the_closing_day(day: date) -> None:
    assert billing.invoice_id("account_a1", day) == f"invoice_{day.strftime('%Y%m%d')}a1"


@settings(max_examples=500)
@given(
    base=st.one_of(st.integers(-(10**6), 10**9), st.integers(-(10**40), 10**40)),
    category=st.sampled_from(["standard", "reduced"]),
    rounding=st.sampled_from(["floor", "half_up", "ceiling"]),
)
def test_the_integer_tax_is_the_decimal_tax(base: int, category: str, rounding: str) -> None:
    rate = tax.TAX_RATE_PERCENT[category]  # type: ignore[index]
    decimal = tax.round_yen(Decimal(base) * rate / 100, rounding)  # type: ignore[arg-type]
    assert tax.tax_on(base, category, rounding) == decimal  # type: ignore[arg-type]


@pytest.mark.parametrize("base", [5, -5, 15, -15, 105, -105, 1, -1, 0, 10**23 - 1, -(10**23) + 1])
@pytest.mark.parametrize("rounding", ["floor", "half_up", "ceiling"])
def test_the_integer_tax_rounds_halves_and_signs_as_decimal(base: int, rounding: str) -> None:
    for category in ("standard", "reduced"):
        rate = tax.TAX_RATE_PERCENT[category]  # type: ignore[index]
        decimal = tax.round_yen(Decimal(base) * rate / 100, rounding)  # type: ignore[arg-type]
        assert tax.tax_on(base, category, rounding) == decimal  # type: ignore[arg-type, arg-type]


@settings(max_examples=300)
@given(
    amounts=st.lists(
        st.tuples(st.sampled_from([10, 8]), st.integers(-(10**7), 10**9)), min_size=1, max_size=8
    ),
    rounding=st.sampled_from(["floor", "half_up", "ceiling"]),
)
def test_the_invoice_s_taxes_are_taxes_by_rate_as_validated_models(
    amounts: list[tuple[int, int]], rounding: str
) -> None:
    category = {10: "standard", 8: "reduced"}
    reference = [
        TaxAmount(rate=t.rate_percent, taxable=t.base_yen, tax=t.tax_yen)  # type: ignore[arg-type]
        for t in tax.taxes_by_rate(
            [(category[rate], yen) for rate, yen in amounts],  # type: ignore[misc]
            rounding,  # type: ignore[arg-type]
        )
    ]
    fast = billing.tax_amounts(amounts, rounding)  # type: ignore[arg-type]
    assert fast == reference
    assert [t.model_dump_json() for t in fast] == [t.model_dump_json() for t in reference]
    assert [t.model_fields_set for t in fast] == [t.model_fields_set for t in reference]


def test_a_rate_that_is_not_a_tax_rate_is_refused() -> None:
    with pytest.raises(KeyError):
        billing.tax_amounts([(10, 100), (5, 100)], "floor")  # type: ignore[list-item]
