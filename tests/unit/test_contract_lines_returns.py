"""Rental returns written to the contract's lines, and the contract's monthly total as billed
(pure): a returned device's line loses the unit, not another line; changes and returns are
taken in the order billing applied them; the regular month of the components is the
document's ``monthly_total`` until a change or return, and then what the quantities left
bill (Hypothesis: after any sequence of changes, the total of the quantities in force, tax
once per rate); a contract stored before it kept a monthly total bills as agreed."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from monosub.documents.model import Quote as QuoteDocument
from monosub.domain import billing
from monosub.domain import billing_changes as changes
from monosub.models.billing import Component
from monosub.models.billing_changes import AppliedReturn, ContractChange, QuantityChange
from monosub.models.contracts import Contract
from monosub.models.deals import DealLine

RENT, PLAN, OPTION, DRINK = "CAM-ONE-RENT", "PLAN-30D", "OPT-DOWNLOAD", "DRINK-BOX"
PLANS = frozenset({PLAN})
C = "contract_r1"
START = date(2026, 11, 20)
QUOTE = json.loads(Path("tests/data/documents/quote-camera.json").read_text(encoding="utf-8"))


def line(line_id: str, quantity: int, *options: str, device: str | None = RENT) -> DealLine:
    return DealLine(
        line_id=line_id,
        device_sku=device,
        plan_sku=PLAN,
        option_skus=list(options),
        quantity=quantity,
    )


def new_id(k: int) -> str:
    return f"line_r1n{k}"


# ---- the returned device's line --------------------------------------------------------------


def test_a_returned_devices_line_loses_the_unit_not_the_last_line():
    lines = [line("line_a", 2), line("line_b", 1, OPTION)]
    returned = {RENT: 2, PLAN: 2}
    after = changes.lines_after_change(
        lines, returned, plans=PLANS, new_line_id=new_id, first_from="line_a"
    )
    assert after.lines == [line("line_a", 1), line("line_b", 1, OPTION)]
    assert after.unplaced == {}
    # without naming the line the last unit goes (line_b's), its option moving to line_a
    unnamed = changes.lines_after_change(lines, returned, plans=PLANS, new_line_id=new_id)
    assert unnamed.lines == [line("line_a", 1), line("line_r1n1", 1, OPTION)]


def test_a_line_no_longer_there_leaves_it_to_the_last_units():
    lines = [line("line_a", 2), line("line_b", 1, OPTION)]
    returned = {RENT: 2, PLAN: 2}
    gone = changes.lines_after_change(
        lines, returned, plans=PLANS, new_line_id=new_id, first_from="line_split_away"
    )
    assert gone == changes.lines_after_change(lines, returned, plans=PLANS, new_line_id=new_id)


# ---- changes and returns in billing's order --------------------------------------------------


def change(number: int, at: str, **quantities: int) -> ContractChange:
    return ContractChange(
        number=number,
        contract_id=C,
        effective_date=date(2026, 12, 1),
        changes=[QuantityChange(sku=sku, quantity=q) for sku, q in quantities.items()],
        previous={sku: q + 1 for sku, q in quantities.items()},
        reason="撤去",
        by="tanaka",
        at=at,
        components=[],
    )


def returned(
    number: int, at: str, before: int | None, contract_id: str = C, **quantities: int
) -> AppliedReturn:
    return AppliedReturn(
        number=number,
        contract_id=contract_id,
        serial=f"RNT-{number}",
        returned_on=date(2026, 11, 25),
        line_id="line_a",
        skus=list(quantities),
        quantities=quantities,
        changes_before=before,
        components=[],
        at=at,
    )


def test_changes_and_returns_are_taken_in_the_order_billing_applied_them():
    edits = changes.line_edits(
        [change(2, "2026-11-27T00:00:00Z", PLAN=1), change(1, "2026-11-26T00:00:00Z", PLAN=2)],
        [
            returned(1, "2026-11-26T00:00:00Z", 1, PLAN=2),
            returned(2, "2026-11-28T00:00:00Z", 2, PLAN=0),
            returned(3, "2026-11-25T00:00:00Z", 0, PLAN=3),
            returned(4, "2026-11-28T00:00:00Z", 2),  # a sold device: nothing reduced
            returned(5, "2026-11-28T00:00:00Z", 0, "contract_other", PLAN=1),
            returned(6, "2026-11-26T12:00:00Z", None, PLAN=1),  # kept before changes_before
        ],
        C,
    )
    assert [edit.change_id for edit in edits] == ["r3", "c1", "r1", "r6", "c2", "r2"]


def test_a_return_sets_one_fewer_from_the_day_after():
    edit = changes.LineEdit.of_return(returned(1, "2026-11-25T01:00:00Z", 0, **{RENT: 1, PLAN: 1}))
    assert (edit.change_id, edit.kind, edit.number, edit.serial, edit.line_id) == (
        "r1",
        "return",
        1,
        "RNT-1",
        "line_a",
    )
    assert edit.effective_date == date(2026, 11, 26)
    assert (edit.quantities, edit.previous) == ({RENT: 1, PLAN: 1}, {RENT: 2, PLAN: 2})
    assert "RNT-1" in edit.reason and "2026-11-25" in edit.reason and edit.by == "fulfilment"


# ---- the monthly total as billed -------------------------------------------------------------


def document(**values: Any) -> QuoteDocument:
    """Monthly: 3 plans (980), 3 downloads (300, a lasting 長期割 of 200), 2 drink boxes at
    the reduced rate (1,250), a 3-month campaign on the plans and a manual discount of 100."""
    monthly = [
        ("録画プラン30日", PLAN, 3, 980, 10),
        ("映像ダウンロード", OPTION, 3, 300, 10),
        ("ドリップコーヒー定期便", DRINK, 2, 1250, 8),
    ]
    lines = [
        {
            "name": name,
            "note": sku,
            "quantity": quantity,
            "unit": "台",
            "unit_price": price,
            "amount": quantity * price,
            "billing": "monthly",
            "tax_rate": rate,
        }
        for name, sku, quantity, price, rate in monthly
    ]

    def discount(name: str, applies_to: str, list_price: int, amount: int, **more: Any) -> Any:
        return {
            "name": name,
            "applies_to": applies_to,
            "billing": "monthly",
            "tax_rate": 10,
            "list_price": list_price,
            "discount": amount,
            "discounted_price": list_price - amount,
            **more,
        }

    discounts = [
        discount("3ヶ月無料キャンペーン", "録画プラン30日", 2940, 2940, months=3),
        discount("長期割", "映像ダウンロード", 900, 200),
        discount("お値引き", "月額費用", 3640, 100),
    ]
    subtotals = [
        {"billing": "monthly", "rate": 10, "taxable_amount": 3540, "tax": 354},
        {"billing": "monthly", "rate": 8, "taxable_amount": 2500, "tax": 200},
    ]
    return QuoteDocument.model_validate(
        {
            **QUOTE,
            "lines": lines,
            "discounts": discounts,
            "tax_subtotals": subtotals,
            "one_time_total": 0,
            "monthly_total": 3540 + 354 + 2500 + 200,
            **values,
        }
    )


def started(agreed: QuoteDocument) -> list[Component]:
    return billing.components_from_document(
        agreed, contract_id=C, term=1, start=START, first_month="prorate"
    )


def test_the_components_a_contract_starts_with_bill_its_documents_monthly_total():
    agreed = document()
    assert changes.regular_monthly_total(started(agreed), C, "floor") == agreed.monthly_total
    camera = QuoteDocument.model_validate(QUOTE)  # with one-time lines and a campaign
    assert changes.regular_monthly_total(started(camera), C, "floor") == camera.monthly_total
    assert changes.regular_monthly_total(started(camera), "another", "floor") == 0


def test_a_return_bills_what_is_left_and_the_campaign_still_does_not_count():
    components = started(document())
    day = date(2026, 11, 26)
    quantities = changes.return_quantities(
        components, contract_id=C, skus=[RENT, PLAN, OPTION], day=day
    )
    assert quantities == {PLAN: 2, OPTION: 2}  # the rental is not billed on this contract
    after = changes.apply_change(
        components,
        contract_id=C,
        effective=day,
        quantities=quantities,
        added={},
        key_prefix="r1",
    )
    # 10 %: 2 plans 1,960 + 2 downloads 600 − 長期割 in proportion 133 − the manual 100
    standard = 1960 + 600 - 200 * 2 // 3 - 100
    assert changes.regular_monthly_total(after, C, "floor") == (
        standard + standard * 10 // 100 + 2500 + 200
    )


PRICES = {PLAN: (980, 10), DRINK: (1250, 8)}


def priced(sku: str) -> changes.PricedSku:
    price, rate = PRICES[sku]
    return changes.PricedSku(
        sku=sku, name=sku, kind="plan", unit="台", unit_price=price, tax_rate=rate
    )


@given(
    steps=st.lists(
        st.tuples(
            st.integers(0, 40),
            st.dictionaries(st.sampled_from(sorted(PRICES)), st.integers(0, 5), min_size=1),
        ),
        max_size=6,
    )
)
def test_after_any_changes_the_total_is_what_the_quantities_bill(
    steps: list[tuple[int, dict[str, int]]],
):
    components = [
        billing_component(PLAN, 3, "t1.01"),
        billing_component(DRINK, 2, "t1.02"),
    ]
    held = {PLAN: 3, DRINK: 2}
    effective = START
    for number, (days, quantities) in enumerate(steps, start=1):
        effective += timedelta(days=days)
        components = changes.apply_change(
            components,
            contract_id=C,
            effective=effective,
            quantities=quantities,
            added={sku: priced(sku) for sku in PRICES},
            key_prefix=f"c{number}",
        )
        held.update(quantities)
    bases = {10: 0, 8: 0}
    for sku, quantity in held.items():
        price, rate = PRICES[sku]
        bases[rate] += price * quantity
    expected = sum(base + base * rate // 100 for rate, base in bases.items())
    assert changes.regular_monthly_total(components, C, "floor") == expected


def billing_component(sku: str, quantity: int, key: str) -> Component:
    price, rate = PRICES[sku]
    return Component(
        contract_id=C,
        key=key,
        name=sku,
        sku=sku,
        kind="monthly",
        quantity=quantity,
        unit="台",
        unit_price=price,
        amount=quantity * price,
        tax_rate=rate,
        starts=START,
    )


# ---- the contract's two totals ---------------------------------------------------------------


def stored_contract(**values: Any) -> dict[str, Any]:
    agreed = document().model_dump(mode="json")
    return {
        "contract_id": C,
        "number": "C2026-000001",
        "account_id": "account_1",
        "deal_id": "deal_1",
        "quote_id": "quote_1",
        "quote_version": 1,
        "owner": "suzuki",
        "segment": "corporate",
        "status": "active",
        "contract_date": "2026-11-10",
        "term_months": 12,
        "lines": [line("line_a", 3).model_dump(mode="json")],
        "document": agreed,
        "consent": {"document_sha256": "ab" * 32, "agreed_at": "2026-11-10T03:00:00Z"},
        "terms": [],
        "pdf_key": "contracts/contract_r1/v001.pdf",
        "pdf_sha256": "cd" * 32,
        "created_at": "2026-11-10T03:00:00Z",
        "updated_at": "2026-11-10T03:00:00Z",
        **values,
    }


def test_a_contract_kept_before_its_monthly_total_bills_as_agreed():
    legacy = Contract.model_validate(stored_contract())
    assert legacy.monthly_total == legacy.agreed_monthly_total == 6594
    changed = Contract.model_validate(stored_contract(monthly_total=4200))
    assert (changed.monthly_total, changed.agreed_monthly_total) == (4200, 6594)
    shown = changed.model_dump(mode="json")
    assert (shown["monthly_total"], shown["agreed_monthly_total"]) == (4200, 6594)
    assert Contract.model_validate(shown) == changed  # a dump (as the API shows it) reads back
