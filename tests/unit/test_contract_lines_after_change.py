"""A mid-term change written to the contract's lines (pure: ``lines_after_change``): each
SKU at its new total, units taken off the last lines first, a plan added as its own line, an
option put on the last planned units, a split line keeping its id on its first part, and
what the lines cannot carry reported rather than lost. Hypothesis: the totals of every SKU
after the change are the ones asked (or reported unplaced)."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monosub.domain.billing_changes import LinesRefused, lines_after_change
from monosub.models.deals import DealLine

PLANS = frozenset({"PLAN-30D", "PLAN-7D"})


def line(
    line_id: str, quantity: int, plan: str = "PLAN-30D", *options: str, device: str | None = None
) -> DealLine:
    return DealLine(
        line_id=line_id,
        device_sku=device,
        plan_sku=plan,
        option_skus=list(options),
        quantity=quantity,
    )


def new_id(k: int) -> str:
    return f"line_c1n{k}"


def totals(lines: list[DealLine]) -> Counter[str]:
    counted: Counter[str] = Counter()
    for each in lines:
        for sku in (each.device_sku, each.plan_sku, *each.option_skus):
            if sku:
                counted[sku] += each.quantity
    return counted


def test_a_plan_reduced_and_an_option_added_split_the_line():
    lines = [line("line_a", 3, "PLAN-30D", "OPT-DOWNLOAD", device="CAM-ONE-SALE")]
    after = lines_after_change(
        lines,
        {"PLAN-30D": 2, "OPT-DOWNLOAD": 2, "OPT-AI-COUNT": 1},
        plans=PLANS,
        new_line_id=new_id,
    )
    assert after.unplaced == {}
    assert after.lines == [
        line("line_a", 1, "PLAN-30D", "OPT-DOWNLOAD", device="CAM-ONE-SALE"),
        line("line_c1n1", 1, "PLAN-30D", "OPT-DOWNLOAD", "OPT-AI-COUNT", device="CAM-ONE-SALE"),
    ]
    assert lines[0].quantity == 3  # the lines read are left as they were


def test_a_plan_added_is_its_own_line_and_an_option_goes_on_the_newest_units():
    lines = [line("line_a", 2)]
    after = lines_after_change(
        lines, {"PLAN-7D": 1, "OPT-AI-COUNT": 1}, plans=PLANS, new_line_id=new_id
    )
    assert after.lines == [line("line_a", 2), line("line_c1n1", 1, "PLAN-7D", "OPT-AI-COUNT")]


def test_removing_a_sku_takes_it_off_every_line_and_a_line_left_without_a_plan_goes():
    lines = [line("line_a", 1, "PLAN-30D", "OPT-DOWNLOAD"), line("line_b", 2, "PLAN-7D")]
    assert lines_after_change(
        lines, {"OPT-DOWNLOAD": 0}, plans=PLANS, new_line_id=new_id
    ).lines == [line("line_a", 1), line("line_b", 2, "PLAN-7D")]
    gone = lines_after_change(lines, {"PLAN-7D": 0}, plans=PLANS, new_line_id=new_id)
    assert gone.lines == [line("line_a", 1, "PLAN-30D", "OPT-DOWNLOAD")]


def test_the_last_units_go_first():
    lines = [line("line_a", 2, "PLAN-30D"), line("line_b", 2, "PLAN-30D", "OPT-DOWNLOAD")]
    after = lines_after_change(lines, {"PLAN-30D": 3}, plans=PLANS, new_line_id=new_id)
    # line_b's last unit loses its plan; its option moves to the last planned unit lacking it
    assert after.lines == [
        line("line_a", 1, "PLAN-30D"),
        line("line_c1n1", 1, "PLAN-30D", "OPT-DOWNLOAD"),
        line("line_b", 1, "PLAN-30D", "OPT-DOWNLOAD"),
    ]
    assert totals(after.lines)["OPT-DOWNLOAD"] == 2


def test_what_the_lines_cannot_carry_is_reported():
    lines = [line("line_a", 3, "PLAN-30D", "OPT-DOWNLOAD")]
    fewer_plans = lines_after_change(lines, {"PLAN-30D": 2}, plans=PLANS, new_line_id=new_id)
    assert fewer_plans.lines == [line("line_a", 2, "PLAN-30D", "OPT-DOWNLOAD")]
    assert fewer_plans.unplaced == {"OPT-DOWNLOAD": 1}  # billing kept three
    more_options = lines_after_change(lines, {"OPT-AI": 4}, plans=PLANS, new_line_id=new_id)
    assert more_options.unplaced == {"OPT-AI": 1}
    assert totals(more_options.lines)["OPT-AI"] == 3


def test_a_line_with_too_many_options_is_refused():
    lines = [line("line_a", 1, "PLAN-30D", *(f"OPT-{n:02d}" for n in range(20)))]
    with pytest.raises(LinesRefused) as refused:
        lines_after_change(lines, {"OPT-MORE": 1}, plans=PLANS, new_line_id=new_id)
    assert refused.value.sku == "PLAN-30D"


SKUS = ("PLAN-30D", "PLAN-7D", "OPT-DOWNLOAD", "OPT-AI")


@given(
    quantities=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    options=st.lists(st.booleans(), min_size=3, max_size=3),
    changes=st.dictionaries(st.sampled_from(SKUS), st.integers(0, 6), min_size=1),
)
def test_every_sku_ends_at_the_quantity_asked_or_is_reported(
    quantities: list[int], options: list[bool], changes: dict[str, int]
):
    lines = [
        line(f"line_{i}", q, "PLAN-30D", *(["OPT-DOWNLOAD"] if options[i] else []))
        for i, q in enumerate(quantities)
    ]
    after = lines_after_change(lines, changes, plans=PLANS, new_line_id=new_id)
    counted = totals(after.lines)
    plans_after = counted["PLAN-30D"] + counted["PLAN-7D"]
    for sku, quantity in changes.items():
        if sku in PLANS:
            assert counted[sku] == quantity
        else:
            assert counted[sku] + after.unplaced.get(sku, 0) == quantity
            assert counted[sku] <= plans_after
    ids = [each.line_id for each in after.lines]
    assert len(ids) == len(set(ids))
