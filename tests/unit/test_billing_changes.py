"""Mid-term changes, rental returns and voids without AWS: which components a change ends
and starts, discounts following their SKU, the checks with their field paths, a return
reducing a line by one, a change reaching back into billed months, the credit note and the
ledger given back."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from monosub.documents.model import Contract as ContractDocument
from monosub.domain import billing
from monosub.domain import billing_changes as changes
from monosub.models.billing import BillingAccount, Component
from monosub.models.billing_changes import QuantityChange

DOCUMENT = ContractDocument.model_validate(
    json.loads(Path("tests/data/documents/contract-camera.json").read_text(encoding="utf-8"))
)
NOW = "2026-11-30T15:00:00Z"
C = "contract_c1"


def charge(
    sku: str, quantity: int, price: int, starts: date, key: str, **values: object
) -> Component:
    return Component(
        contract_id=C,
        key=key,
        name=sku,
        sku=sku,
        kind="monthly",
        quantity=quantity,
        unit="件",
        unit_price=price,
        amount=quantity * price,
        starts=starts,
        **values,  # type: ignore[arg-type]
    )


def free(sku: str, amount: int, starts: date, ends: date | None, key: str) -> Component:
    return Component(
        contract_id=C,
        key=key,
        name=f"3ヶ月無料（{sku}）",
        kind="monthly",
        quantity=1,
        unit_price=-amount,
        amount=-amount,
        starts=starts,
        ends=ends,
        discount=True,
        applies_to_sku=sku,
    )


START = date(2026, 11, 1)
PLAN = charge("PLAN-30D", 3, 980, START, "t1.01")
OPTION = charge("OPT-DOWNLOAD", 3, 300, START, "t1.02")
CAMPAIGN = free("PLAN-30D", 2940, START, date(2027, 1, 31), "t1.03")
OTHER = charge("PLAN-30D", 1, 980, START, "t1.01").model_copy(update={"contract_id": "contract_x"})
TERM = changes.Term(
    start=START, end=date(2027, 10, 31), contract_start=START, plans=frozenset({"PLAN-30D"})
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


def by_key(components: list[Component]) -> dict[str, Component]:
    return {c.key: c for c in components if c.contract_id == C}


# ---- discount linkage ----------------------------------------------------------------------


def test_a_discount_knows_the_sku_of_the_line_it_names() -> None:
    components = billing.components_from_document(
        DOCUMENT, contract_id=C, term=1, start=date(2026, 11, 15), first_month="prorate"
    )
    linked = {c.key: c.applies_to_sku for c in components if c.discount}
    # the document's lines carry their SKU in ``note`` (this one: a description)
    assert linked == {
        "t1.05": "配線・初期設定・動作確認を含む",  # 設置工事
        "t1.06": "クラウド録画 30日間保存・スマートフォン閲覧",  # 録画プラン30日
    }
    assert all(c.applies_to_sku is None for c in components if not c.discount)


def test_a_discount_on_no_line_or_an_ambiguous_name_has_no_sku() -> None:
    manual = DOCUMENT.discounts[0].model_copy(update={"applies_to": "月額費用", "discount": 100})
    twice = DOCUMENT.lines[3].model_copy(update={"note": "PLAN-OTHER"})
    document = DOCUMENT.model_copy(
        update={"discounts": (manual, DOCUMENT.discounts[1]), "lines": (*DOCUMENT.lines, twice)}
    )
    components = billing.components_from_document(
        document, contract_id=C, term=1, start=date(2026, 11, 15), first_month="prorate"
    )
    assert [c.applies_to_sku for c in components if c.discount] == [None, None]


# ---- changes -------------------------------------------------------------------------------


def test_removing_a_sku_ends_it_and_its_campaign_the_day_before() -> None:
    after = changes.apply_change(
        [PLAN, OPTION, CAMPAIGN, OTHER],
        contract_id=C,
        effective=date(2026, 12, 11),
        quantities={"PLAN-30D": 0},
        added={},
        key_prefix="c1",
    )
    keys = by_key(after)
    assert keys["t1.01"].ends == date(2026, 12, 10)
    assert keys["t1.03"].ends == date(2026, 12, 10)
    assert keys["t1.02"].ends is None  # the option is another SKU
    assert set(keys) == {"t1.01", "t1.02", "t1.03"}  # nothing new
    assert OTHER in after  # another contract's components are left alone


def test_a_new_quantity_starts_on_the_effective_date_at_the_agreed_price() -> None:
    after = by_key(
        changes.apply_change(
            [PLAN, CAMPAIGN],
            contract_id=C,
            effective=date(2026, 12, 21),
            quantities={"PLAN-30D": 5},
            added={},
            key_prefix="c2",
        )
    )
    assert after["t1.01"].ends == date(2026, 12, 20)
    new = after["c2.01"]
    assert (new.quantity, new.unit_price, new.amount) == (5, 980, 4900)
    assert (new.starts, new.ends, new.sku) == (date(2026, 12, 21), None, "PLAN-30D")
    assert after["t1.03"].ends == date(2027, 1, 31)  # more units: the campaign stays as agreed
    # December: the old quantity to the 20th, the new one from the 21st, to the yen
    december = [billing.monthly_charge(c, "2026-12") for c in (after["t1.01"], new)]
    assert sum(c.amount for c in december if c) == 2940 * 20 // 31 + (4900 - 4900 * 20 // 31)


def test_fewer_units_keep_the_campaign_in_proportion() -> None:
    after = by_key(
        changes.apply_change(
            [PLAN, CAMPAIGN],
            contract_id=C,
            effective=date(2026, 12, 1),
            quantities={"PLAN-30D": 2},
            added={},
            key_prefix="c1",
        )
    )
    assert after["t1.03"].ends == date(2026, 11, 30)
    again = after["c1.02"]
    assert (again.amount, again.starts, again.ends) == (-1960, date(2026, 12, 1), date(2027, 1, 31))
    assert again.discount and again.applies_to_sku == "PLAN-30D"
    assert after["c1.01"].amount + again.amount == 0  # still free for the units left


def test_an_added_option_is_priced_from_the_price_book() -> None:
    option = changes.PricedSku(
        sku="OPT-AI",
        name="AI検知オプション",
        kind="option",
        unit="件",
        unit_price=500,
        tax_rate=10,
        fits_plans=("PLAN-30D",),
    )
    after = by_key(
        changes.apply_change(
            [PLAN],
            contract_id=C,
            effective=date(2027, 1, 1),
            quantities={"OPT-AI": 3},
            added={"OPT-AI": option},
            key_prefix="c3",
        )
    )
    new = after["c3.01"]
    assert (new.name, new.quantity, new.amount, new.starts) == (
        "AI検知オプション",
        3,
        1500,
        date(2027, 1, 1),
    )
    assert after["t1.01"].ends is None


def test_a_component_not_started_yet_is_kept_charging_nothing() -> None:
    later = charge("PLAN-30D", 3, 980, date(2026, 12, 1), "t1.01")  # billed from the 1st
    after = by_key(
        changes.apply_change(
            [later],
            contract_id=C,
            effective=date(2026, 11, 20),
            quantities={"PLAN-30D": 4},
            added={},
            key_prefix="c1",
        )
    )
    assert after["t1.01"].ends == date(2026, 11, 30)
    assert billing.charges_through([after["t1.01"]], date(2027, 3, 31)) == []
    assert after["c1.01"].starts == date(2026, 12, 1)  # the free first days stay free


def test_a_next_term_already_billed_is_left_alone() -> None:
    current = charge("PLAN-30D", 3, 980, START, "t1.01", ends=date(2027, 10, 31))
    renewal = charge("PLAN-30D", 3, 900, date(2027, 11, 1), "t2.01")
    after = by_key(
        changes.apply_change(
            [current, renewal],
            contract_id=C,
            effective=date(2027, 3, 1),
            quantities={"PLAN-30D": 1},
            added={},
            key_prefix="c1",
            term_end=date(2027, 10, 31),
        )
    )
    assert after["t2.01"] == renewal
    assert (after["c1.01"].starts, after["c1.01"].ends) == (date(2027, 3, 1), date(2027, 10, 31))


def problems(requested: list[QuantityChange], effective: date, **values: object) -> list[str]:
    found = changes.change_problems(
        [PLAN, OPTION, CAMPAIGN],
        contract_id=C,
        term=TERM,
        effective=effective,
        today=date(2026, 12, 10),
        changes=requested,
        priced=values.get("priced", {}),  # type: ignore[arg-type]
    )
    return [f"{p['field']}: {p['message']}" for p in found]


def test_the_checks_name_the_fields() -> None:
    assert problems([QuantityChange(sku="PLAN-30D", quantity=2)], date(2026, 12, 11)) == []
    assert problems([], date(2026, 12, 11)) == ["changes: give at least one change"]
    assert problems([QuantityChange(sku="PLAN-30D", quantity=2)], date(2026, 10, 31)) == [
        "effective_date: the contract starts on 2026-11-01"
    ]
    assert problems([QuantityChange(sku="PLAN-30D", quantity=2)], date(2027, 3, 10)) == []
    assert problems([QuantityChange(sku="PLAN-30D", quantity=2)], date(2027, 3, 11)) == [
        "effective_date: at most 90 days ahead: 2027-03-10 at the latest"
    ]
    twice = [QuantityChange(sku="PLAN-30D", quantity=2), QuantityChange(sku="PLAN-30D", quantity=1)]
    assert problems(twice, date(2026, 12, 11)) == [
        "changes[1].sku: PLAN-30D is changed twice: give each SKU once"
    ]
    assert problems([QuantityChange(sku="PLAN-30D", quantity=3)], date(2026, 12, 11)) == [
        "changes[0].quantity: the contract has 3 of PLAN-30D already"
    ]
    assert problems([QuantityChange(sku="OPT-NONE", quantity=0)], date(2026, 12, 11)) == [
        "changes[0].sku: the contract has 0 of OPT-NONE already"
    ]
    unknown = {"OPT-X": "unknown SKU OPT-X"}
    assert problems(
        [QuantityChange(sku="OPT-X", quantity=1)], date(2026, 12, 11), priced=unknown
    ) == ["changes[0].sku: unknown SKU OPT-X"]


def test_an_added_option_must_fit_a_plan_the_contract_keeps() -> None:
    option = changes.PricedSku(
        sku="OPT-AI",
        name="AI",
        kind="option",
        unit="件",
        unit_price=500,
        tax_rate=10,
        fits_plans=("PLAN-30D",),
    )
    add = QuantityChange(sku="OPT-AI", quantity=3)
    assert problems([add], date(2026, 12, 11), priced={"OPT-AI": option}) == []
    dropped = [add, QuantityChange(sku="PLAN-30D", quantity=0)]
    assert problems(dropped, date(2026, 12, 11), priced={"OPT-AI": option}) == [
        "changes[0].sku: option OPT-AI fits PLAN-30D, not a plan of the contract"
    ]
    plan = changes.PricedSku(
        sku="PLAN-60D", name="60日", kind="plan", unit="件", unit_price=1500, tax_rate=10
    )
    other = option.__class__(**{**option.__dict__, "fits_plans": ("PLAN-60D",)})
    swap = [
        add,
        QuantityChange(sku="PLAN-30D", quantity=0),
        QuantityChange(sku="PLAN-60D", quantity=3),
    ]
    assert problems(swap, date(2026, 12, 11), priced={"OPT-AI": other, "PLAN-60D": plan}) == []


def test_priced_sku_refuses_what_cannot_be_added() -> None:
    assert changes.priced_sku(None, "X-1", date(2026, 12, 1)) == "unknown SKU X-1"


# ---- returns -------------------------------------------------------------------------------


def test_a_return_bills_the_line_one_fewer_from_the_next_day() -> None:
    rental = charge("CAM-RENT", 3, 1200, START, "t1.04")
    components = [PLAN, OPTION, CAMPAIGN, rental]
    quantities = changes.return_quantities(
        components,
        contract_id=C,
        skus=["CAM-RENT", "PLAN-30D", "OPT-DOWNLOAD", "OPT-GONE"],
        day=date(2026, 12, 16),
    )
    assert quantities == {"CAM-RENT": 2, "PLAN-30D": 2, "OPT-DOWNLOAD": 2}
    after = by_key(
        changes.apply_change(
            components,
            contract_id=C,
            effective=date(2026, 12, 16),
            quantities=quantities,
            added={},
            key_prefix="r1",
        )
    )
    assert all(after[k].ends == date(2026, 12, 15) for k in ("t1.01", "t1.02", "t1.03", "t1.04"))
    assert len(after) == 8
    assert sorted(c.amount for k, c in after.items() if k.startswith("r1.")) == [
        -1960,
        600,
        1960,
        2400,
    ]
    # the last device returned: nothing left of the line, its campaign ends with it
    last = changes.return_quantities(
        [charge("PLAN-30D", 1, 980, START, "t1.01")],
        contract_id=C,
        skus=["PLAN-30D"],
        day=date(2026, 12, 16),
    )
    assert last == {"PLAN-30D": 0}


# ---- reaching back into billed months ------------------------------------------------------


def test_a_change_reaching_back_two_months_gives_back_the_months_no_longer_due() -> None:
    plan = charge("PLAN-30D", 3, 1000, date(2026, 9, 1), "t1.01")
    billed: dict[str, int] = {}
    for closing in (date(2026, 9, 30), date(2026, 10, 31), date(2026, 11, 30)):
        draft = billing.draft_invoice(
            account([plan], billed=billed), closing, rounding="floor", created_at=NOW
        )
        billed = draft.ledger
    assert billed == {f"{C}|t1.01|2026-{m}": 3000 for m in ("09", "10", "11")}
    # on 10 December, the plan removed from 16 October (the customer had asked then)
    ended = changes.apply_change(
        [plan],
        contract_id=C,
        effective=date(2026, 10, 16),
        quantities={"PLAN-30D": 0},
        added={},
        key_prefix="c1",
    )
    refund = billing.draft_invoice(
        account(ended, billed=billed), date(2026, 12, 31), rounding="floor", created_at=NOW
    )
    assert refund.invoice is None  # negative: it waits, netted at the next closing
    with_option = [*ended, charge("OPT-DOWNLOAD", 3, 3000, date(2026, 12, 1), "t1.02")]
    invoice = billing.draft_invoice(
        account(with_option, billed=billed), date(2026, 12, 31), rounding="floor", created_at=NOW
    ).invoice
    assert invoice is not None
    lines = {(line.component, line.month): line for line in invoice.lines}
    assert lines[("t1.01", "2026-10")].amount == 3000 * 15 // 31 - 3000
    assert lines[("t1.01", "2026-11")].amount == -3000
    assert lines[("t1.01", "2026-11")].adjustment
    assert lines[("t1.01", "2026-11")].period == "2026年11月分 調整"
    assert ("t1.01", "2026-09") not in lines
    assert invoice.subtotal == 9000 + 3000 * 15 // 31 - 3000 - 3000


# ---- void ----------------------------------------------------------------------------------


def test_a_credit_note_repeats_the_invoice_and_the_ledger_gives_it_back() -> None:
    plan = charge("PLAN-30D", 3, 1000, date(2026, 11, 1), "t1.01")
    first = billing.draft_invoice(
        account([plan]), date(2026, 11, 30), rounding="floor", created_at=NOW
    )
    invoice = first.invoice
    assert invoice is not None
    note = changes.credit_note_for(invoice, issued_on=date(2027, 1, 5), created_at=NOW)
    assert note.kind == "credit_note" and note.series == "CN-2027"
    assert note.invoice_id == changes.credit_note_id(invoice.invoice_id) != invoice.invoice_id
    assert (note.lines, note.taxes, note.total) == (invoice.lines, invoice.taxes, invoice.total)
    assert note.total > 0 and note.original_invoice_id == invoice.invoice_id
    assert note.due_date is None and note.closing_date == date(2027, 1, 5)

    ledger = changes.ledger_without({**first.ledger, "contract_x|t1.01|2026-11": 500}, invoice)
    assert ledger == {"contract_x|t1.01|2026-11": 500}
    again = billing.draft_invoice(
        account([plan], billed=ledger), date(2026, 12, 31), rounding="floor", created_at=NOW
    ).invoice
    assert again is not None
    november = [line for line in again.lines if line.month == "2026-11"]
    assert [(line.amount, line.adjustment) for line in november] == [(3000, False)]
