"""The overdue follow-up rules (pure): the policy as data, which levels are due, shares of
invoices per deal and the achievement rate."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monosub.domain import overdue
from monosub.domain.overdue import (
    FollowUpLevel,
    InvoiceShare,
    account_standings,
    achievement_rate,
    days_past_due,
    levels_due,
    load_policy,
    overdue_only,
    policy_from_json,
    shares_of,
    standings,
)
from monosub.errors import NotFound, ValidationFailed
from monosub.models.billing import Invoice, InvoiceLine, TaxAmount

PROPERTY = settings(deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow])
DUE = date(2026, 5, 31)


def level(key: str, days: int, **values: Any) -> FollowUpLevel:
    values.setdefault("email", key.replace("-", "_"))
    return FollowUpLevel(key=key, days=days, **values)


LEVELS = [
    level("reminder", -3),
    level("first-notice", 1, attach_invoices=True),
    level("second-notice", 7, attach_invoices=True, task="rep"),
    level("escalation", 14, email=None, task="manager"),
    level("suspension", 30, suspend=True, legal=True),
]


def keys(levels: list[FollowUpLevel]) -> list[str]:
    return [item.key for item in levels]


def walk(start: date, end: date, *, balance: int = 10_000, step: int = 1) -> dict[date, list[str]]:
    """Run the rules every ``step`` days from ``start`` to ``end``, recording what fired."""
    fired: list[str] = []
    fired_on: dict[date, list[str]] = {}
    day = start
    while day <= end:
        due = levels_due(due_date=DUE, today=day, balance=balance, fired=fired, levels=LEVELS)
        if due:
            fired_on[day] = keys(due)
            fired.extend(keys(due))
        day += timedelta(days=step)
    return fired_on


def in_order(fired_on: dict[date, list[str]]) -> list[str]:
    return [key for day in sorted(fired_on) for key in fired_on[day]]


# ---- which levels are due -------------------------------------------------------------------


def test_each_level_fires_on_its_day_once() -> None:
    fired_on = walk(DUE - timedelta(days=10), DUE + timedelta(days=60))

    assert fired_on == {
        date(2026, 5, 28): ["reminder"],
        date(2026, 6, 1): ["first-notice"],
        date(2026, 6, 7): ["second-notice"],
        date(2026, 6, 14): ["escalation"],
        date(2026, 6, 30): ["suspension"],
    }


def test_nothing_before_the_first_day_and_nothing_again_the_same_day() -> None:
    early = levels_due(
        due_date=DUE, today=DUE - timedelta(days=4), balance=1, fired=(), levels=LEVELS
    )
    rerun = levels_due(
        due_date=DUE,
        today=DUE + timedelta(days=1),
        balance=1,
        fired=["reminder", "first-notice"],
        levels=LEVELS,
    )

    assert early == []
    assert rerun == []


def test_a_paid_invoice_fires_nothing() -> None:
    for balance in (0, -100):
        assert (
            levels_due(
                due_date=DUE,
                today=DUE + timedelta(days=40),
                balance=balance,
                fired=(),
                levels=LEVELS,
            )
            == []
        )


def test_paying_stops_the_sequence_midway() -> None:
    fired: list[str] = ["reminder", "first-notice"]
    paid_day = DUE + timedelta(days=5)
    later = [
        levels_due(due_date=DUE, today=day, balance=0, fired=fired, levels=LEVELS)
        for day in (paid_day + timedelta(days=n) for n in range(60))
    ]

    assert all(due == [] for due in later)


def test_a_partial_payment_keeps_the_sequence() -> None:
    assert keys(
        levels_due(
            due_date=DUE,
            today=DUE + timedelta(days=7),
            balance=1,
            fired=["reminder", "first-notice"],
            levels=LEVELS,
        )
    ) == ["second-notice"]


def test_after_skipped_days_only_the_latest_email_and_every_task_or_suspension() -> None:
    # The run did not run from 2 days before the due date to 20 days after it.
    due = levels_due(
        due_date=DUE,
        today=DUE + timedelta(days=20),
        balance=5_000,
        fired=["reminder"],
        levels=LEVELS,
    )

    # first-notice (an email only) is superseded; the tasks are not.
    assert keys(due) == ["second-notice", "escalation"]


def test_a_superseded_level_never_fires_later() -> None:
    fired_on = walk(DUE + timedelta(days=9), DUE + timedelta(days=60))

    assert fired_on[DUE + timedelta(days=9)] == ["second-notice"]
    assert "reminder" not in in_order(fired_on)
    assert "first-notice" not in in_order(fired_on)
    assert in_order(fired_on) == ["second-notice", "escalation", "suspension"]


def test_a_weekly_run_still_makes_every_task_and_the_suspension() -> None:
    fired = in_order(walk(DUE - timedelta(days=10), DUE + timedelta(days=60), step=7))

    assert "second-notice" in fired and "escalation" in fired and "suspension" in fired
    assert len(fired) == len(set(fired))


def test_first_seen_at_the_suspension_day_suspends_and_makes_every_task() -> None:
    due = levels_due(
        due_date=DUE, today=DUE + timedelta(days=31), balance=1, fired=(), levels=LEVELS
    )

    assert keys(due) == ["second-notice", "escalation", "suspension"]


def test_reopened_after_being_paid_restarts_in_order_one_level_a_run() -> None:
    fired: list[str] = ["reminder"]
    seen = []
    for n in range(40, 46):
        due = levels_due(
            due_date=DUE,
            today=DUE + timedelta(days=n),
            balance=3_000,
            fired=fired,
            levels=LEVELS,
            paid_late=True,
        )
        seen.append(keys(due))
        fired.extend(keys(due))

    assert seen == [["first-notice"], ["second-notice"], ["escalation"], ["suspension"], [], []]


def test_days_past_due() -> None:
    assert days_past_due(DUE, DUE - timedelta(days=3)) == 0
    assert days_past_due(DUE, DUE) == 0
    assert days_past_due(DUE, DUE + timedelta(days=1)) == 1
    assert days_past_due(DUE, date(2026, 7, 1)) == 31


# ---- the policy -----------------------------------------------------------------------------


def test_the_shipped_policy_holds_together() -> None:
    policy = load_policy()

    assert set(policy.segments) >= {"residential", "corporate", "default"}
    assert policy.comment
    residential = {item.key: item for item in policy.levels_for("residential")}
    corporate = {item.key: item for item in policy.levels_for("corporate")}
    assert residential["reminder"].days == -3
    assert residential["suspension"].days == 30 and residential["suspension"].legal
    assert corporate["escalation"].days == 14 and corporate["escalation"].task == "manager"
    assert corporate["suspension"].days == 45
    assert not any(item.suspend for item in policy.levels_for("default"))
    assert policy.levels_for("agency") == policy.levels_for("default")
    assert policy.levels_for(None) == policy.levels_for("default")


def test_load_policy_reads_a_file_given(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(_policy(residential=[{"key": "a", "days": 1, "email": "x"}])))

    assert load_policy(path).levels_for("residential")[0].key == "a"


def _policy(**segments: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [{"key": "notice", "days": 1, "email": "overdue_notice"}]
    return {
        "version": 1,
        "segments": {"residential": ok, "corporate": ok, "default": ok, **segments},
    }


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (
            _policy(
                corporate=[
                    {"key": "a", "days": 1, "email": "x"},
                    {"key": "a", "days": 2, "email": "y"},
                ]
            ),
            "segments.corporate",
            "level key(s) a listed twice",
        ),
        (
            _policy(
                residential=[
                    {"key": "a", "days": 7, "email": "x"},
                    {"key": "b", "days": 7, "email": "y"},
                ]
            ),
            "segments.residential",
            "days must increase: 'b' (7) comes after 'a' (7)",
        ),
        (
            _policy(
                default=[
                    {"key": "stop", "days": 30, "suspend": True},
                    {"key": "stop-again", "days": 40, "suspend": True},
                ]
            ),
            "segments.default",
            "more than one suspension level (stop, stop-again)",
        ),
        (
            _policy(
                default=[
                    {"key": "stop", "days": 30, "suspend": True},
                    {"key": "after", "days": 40, "email": "x"},
                ]
            ),
            "segments.default",
            "the suspension level 'stop' must be the last",
        ),
        (
            {"version": 1, "segments": {"residential": [], "corporate": []}},
            "segments",
            "lacks default",
        ),
        (
            _policy(default=[{"key": "a", "days": 1}]),
            "segments.default.0",
            "level 'a' sends no email, makes no task, suspends nothing",
        ),
        (
            _policy(default=[{"key": "a", "days": 1, "task": "boss"}]),
            "segments.default.0.task",
            "Input should be 'rep' or 'manager'",
        ),
        (
            _policy(default=[{"key": "a", "days": -1, "suspend": True}]),
            "segments.default.0",
            "level 'a' suspends service before the due date has passed",
        ),
        (
            _policy(default=[{"key": "a", "days": 1, "email": "x", "sms": True}]),
            "segments.default.0.sms",
            "Extra inputs are not permitted",
        ),
        (
            _policy(default=[{"key": "a", "days": 1, "email": "../x"}]),
            "segments.default.0.email",
            "String should match pattern",
        ),
    ],
)
def test_a_bad_policy_is_refused_with_a_clear_message(
    data: dict[str, Any], field: str | None, message: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        policy_from_json(json.dumps(data))

    assert f"{field}: {message}" in refused.value.message
    assert any(
        detail["field"] == field and message in str(detail["message"])
        for detail in refused.value.details
    ), refused.value.details


def test_a_policy_that_is_not_json_is_refused() -> None:
    with pytest.raises(ValidationFailed, match=r"the follow-up policy is refused: .*JSON"):
        policy_from_json("{not json")


def test_a_level_cannot_be_changed_once_read() -> None:
    with pytest.raises(ValueError, match="frozen"):
        LEVELS[0].days = 5  # type: ignore[misc]


# ---- shares per deal ------------------------------------------------------------------------


def invoice(
    lines: list[tuple[str, int, int]], *, paid: int = 0, status: str = "finalized", **values: Any
) -> Invoice:
    """An invoice of (contract, amount, tax rate) lines; total with tax per rate, rounded down."""
    taxes: dict[int, int] = {}
    for _, amount, rate in lines:
        taxes[rate] = taxes.get(rate, 0) + amount
    tax_amounts = [
        TaxAmount(rate=rate, taxable=taxable, tax=taxable * rate // 100)  # type: ignore[arg-type]
        for rate, taxable in sorted(taxes.items())
    ]
    subtotal = sum(amount for _, amount, _ in lines)
    tax_total = sum(item.tax for item in tax_amounts)
    return Invoice.model_validate(
        {
            "invoice_id": "inv-1",
            "account_id": "acct-1",
            "closing_date": date(2026, 4, 30),
            "period_start": date(2026, 4, 1),
            "period_end": date(2026, 4, 30),
            "due_date": DUE,
            "status": status,
            "number": "INV-2026-000001",
            "series": "INV-2026",
            "lines": [
                InvoiceLine(
                    contract_id=contract,
                    component=f"c{i}",
                    name="品目",
                    quantity=1,
                    unit_price=amount,
                    amount=amount,
                    tax_rate=rate,  # type: ignore[arg-type]
                )
                for i, (contract, amount, rate) in enumerate(lines)
            ],
            "taxes": tax_amounts,
            "subtotal": subtotal,
            "tax_total": tax_total,
            "total": subtotal + tax_total,
            "amount_paid": paid,
            "created_at": "2026-04-30T00:00:00Z",
            **values,
        }
    )


DEALS = {"ct-1": "deal-a", "ct-2": "deal-a", "ct-3": "deal-b", "ct-4": "deal-c"}
OWNERS = {"deal-a": "tanaka", "deal-b": "sato", "deal-c": "tanaka"}


def test_an_invoice_of_one_deal_is_one_share() -> None:
    shares = shares_of(
        invoice([("ct-1", 10_000, 10), ("ct-2", 2_000, 8)], paid=500), DEALS, OWNERS, "corporate"
    )

    assert shares == [
        InvoiceShare(
            invoice_id="inv-1",
            number="INV-2026-000001",
            account_id="acct-1",
            deal_id="deal-a",
            owner="tanaka",
            segment="corporate",
            due_date=DUE,
            expected=13_160,
            paid=500,
            settled=False,
        )
    ]


def test_an_invoice_of_two_deals_is_split_by_their_lines_with_tax() -> None:
    # deal-a: 10,000 at 10 % (11,000 with tax); deal-b: 10,000 at 8 % (10,800 with tax).
    bill = invoice([("ct-1", 10_000, 10), ("ct-3", 10_000, 8)], paid=10_000)
    shares = {share.deal_id: share for share in shares_of(bill, DEALS, OWNERS, "corporate")}

    assert bill.total == 21_800
    assert (shares["deal-a"].expected, shares["deal-b"].expected) == (11_000, 10_800)
    assert shares["deal-a"].paid + shares["deal-b"].paid == 10_000
    assert shares["deal-b"].owner == "sato"


def test_the_rounding_remainder_goes_to_the_largest_share() -> None:
    # Three equal-ish deals: 1,001 yen split 2:1:1 by weight leaves 1 yen of rounding.
    bill = invoice([("ct-1", 500, 10), ("ct-3", 250, 10), ("ct-4", 250, 10)], paid=0)
    shares = {share.deal_id: share.expected for share in shares_of(bill, DEALS, OWNERS, "x")}

    assert bill.total == 1_100
    assert shares == {"deal-a": 550, "deal-b": 275, "deal-c": 275}
    odd = overdue.split_pro_rata(1_001, {"deal-a": 2, "deal-b": 1, "deal-c": 1})
    assert odd == {"deal-a": 501, "deal-b": 250, "deal-c": 250}


def test_a_paid_remainder_never_makes_a_share_paid_more_than_it_owes() -> None:
    # Shares 1, 1, 1 and 2 yen paid: "remainder on the largest" alone would pay one 2.
    paid = overdue.split_pro_rata(2, {"a": 1, "b": 1, "c": 1}, cap=True)

    assert sum(paid.values()) == 2
    assert all(paid[key] <= 1 for key in paid)


def test_a_credit_deal_has_no_share_and_lowers_the_others() -> None:
    bill = invoice([("ct-1", 10_000, 10), ("ct-3", -2_000, 10)])
    shares = shares_of(bill, DEALS, OWNERS, "residential")

    assert [(share.deal_id, share.expected) for share in shares] == [("deal-a", 8_800)]


@pytest.mark.parametrize(
    "values",
    [{"status": "draft"}, {"status": "void"}, {"kind": "credit_note"}],
)
def test_only_an_owed_invoice_has_shares(values: dict[str, Any]) -> None:
    assert shares_of(invoice([("ct-1", 1_000, 10)], **values), DEALS, OWNERS, "corporate") == []


def test_a_contract_without_a_deal_or_a_deal_without_an_owner_is_refused() -> None:
    with pytest.raises(NotFound, match="contract ct-9 belongs to no deal"):
        shares_of(invoice([("ct-9", 1_000, 10)]), DEALS, OWNERS, "corporate")
    with pytest.raises(NotFound, match="deal deal-b has no owner"):
        shares_of(invoice([("ct-3", 1_000, 10)]), DEALS, {"deal-a": "tanaka"}, "corporate")


def test_a_finalized_invoice_without_a_due_date_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="without a number or due date"):
        shares_of(invoice([("ct-1", 1_000, 10)], due_date=None), DEALS, OWNERS, "corporate")


CONTRACTS = st.sampled_from(sorted(DEALS))
LINES = st.lists(
    st.tuples(CONTRACTS, st.integers(-5_000, 200_000), st.sampled_from([8, 10])),
    min_size=1,
    max_size=8,
)


@PROPERTY
@given(lines=LINES, paid_fraction=st.fractions(0, 1))
def test_shares_add_up_exactly_to_the_total_and_the_payments(
    lines: list[tuple[str, int, int]], paid_fraction: Any
) -> None:
    draft = invoice(lines)
    paid = int(draft.total * paid_fraction) if draft.total > 0 else 0
    bill = draft.model_copy(update={"amount_paid": paid})

    shares = shares_of(bill, DEALS, OWNERS, "corporate")

    if bill.total <= 0:
        assert shares == []
        return
    assert sum(share.expected for share in shares) == bill.total
    assert sum(share.paid for share in shares) == paid
    assert all(0 <= share.paid <= share.expected for share in shares)
    assert len({share.deal_id for share in shares}) == len(shares)
    if paid == bill.total:
        assert all(share.paid == share.expected for share in shares)


@PROPERTY
@given(
    amount=st.integers(0, 10**9),
    weights=st.dictionaries(
        st.text("abcdef", min_size=1, max_size=3), st.integers(1, 10**6), min_size=1
    ),
)
def test_split_pro_rata_is_exact_and_capped(amount: int, weights: dict[str, int]) -> None:
    split = overdue.split_pro_rata(amount, weights)
    assert sum(split.values()) == amount
    assert all(value >= 0 for value in split.values())

    owed = sum(weights.values())
    capped = overdue.split_pro_rata(amount % (owed + 1), weights, cap=True)
    assert sum(capped.values()) == amount % (owed + 1)
    assert all(0 <= capped[key] <= weights[key] for key in weights)


# ---- standing and the achievement rate ------------------------------------------------------


def share(
    invoice_id: str,
    deal_id: str,
    expected: int,
    paid: int,
    *,
    due: date = DUE,
    account_id: str = "acct-1",
    owner: str = "tanaka",
    settled: bool | None = None,
) -> InvoiceShare:
    return InvoiceShare(
        invoice_id=invoice_id,
        number=f"INV-{invoice_id}",
        account_id=account_id,
        deal_id=deal_id,
        owner=owner,
        segment="corporate",
        due_date=due,
        expected=expected,
        paid=paid,
        settled=settled,
    )


TODAY = DUE + timedelta(days=10)


def test_a_deal_with_several_invoices() -> None:
    shares = [
        share("i1", "deal-a", 100_000, 100_000, due=DUE - timedelta(days=31)),
        share("i2", "deal-a", 50_000, 20_000, due=DUE),
        share("i3", "deal-a", 50_000, 0, due=DUE + timedelta(days=30)),
    ]

    [row] = standings(shares, TODAY)

    assert (row.deal_id, row.account_id, row.owner, row.segment) == (
        "deal-a",
        "acct-1",
        "tanaka",
        "corporate",
    )
    assert (row.invoices, row.expected, row.paid, row.outstanding) == (3, 200_000, 120_000, 80_000)
    assert row.earliest_unpaid_due_date == DUE
    assert row.days_past_due == 10
    assert row.achievement_rate == Decimal("60.0")


def test_the_rate_is_rounded_down_and_100_only_when_all_is_paid() -> None:
    assert achievement_rate(3, 1, all_settled=False) == Decimal("33.3")
    assert achievement_rate(3, 2, all_settled=False) == Decimal("66.6")
    assert achievement_rate(100_000, 99_999, all_settled=False) == Decimal("99.9")
    assert achievement_rate(100_000, 100_000, all_settled=True) == Decimal("100.0")
    assert str(achievement_rate(100_000, 100_000, all_settled=True)) == "100.0"
    assert str(achievement_rate(7, 0, all_settled=False)) == "0.0"
    assert achievement_rate(0, 0, all_settled=True) == Decimal("100.0")


def test_a_share_covered_by_a_partial_payment_does_not_make_the_deal_paid() -> None:
    # A 1-yen balance split over two deals leaves one deal's share whole; the invoice is
    # still owed, so that deal is not at 100 % and the invoice counts as unpaid.
    bill = invoice([("ct-1", 500, 10), ("ct-3", 500, 10)], paid=1_099)
    shares = shares_of(bill, DEALS, OWNERS, "corporate")
    rows = {row.deal_id: row for row in standings(shares, TODAY)}

    assert sorted(row.outstanding for row in rows.values()) == [0, 1]
    assert sorted(row.achievement_rate for row in rows.values()) == [
        Decimal("99.8"),
        Decimal("99.9"),
    ]
    assert all(row.days_past_due == 10 for row in rows.values())


def test_a_fully_paid_deal_is_not_overdue() -> None:
    shares = [share("i1", "deal-a", 1_000, 1_000), share("i2", "deal-b", 1_000, 400)]

    rows = standings(shares, TODAY)

    assert [(row.deal_id, row.days_past_due, row.achievement_rate) for row in rows] == [
        ("deal-b", 10, Decimal("40.0")),
        ("deal-a", 0, Decimal("100.0")),
    ]
    assert [row.deal_id for row in overdue_only(rows)] == ["deal-b"]
    assert rows[1].earliest_unpaid_due_date is None


def test_not_yet_due_is_not_overdue() -> None:
    rows = standings([share("i1", "deal-a", 1_000, 0, due=TODAY)], TODAY)

    assert rows[0].days_past_due == 0
    assert overdue_only(rows) == []


def test_rows_are_most_overdue_first_then_most_owed() -> None:
    shares = [
        share("i1", "deal-a", 1_000, 0, due=DUE),
        share("i2", "deal-b", 9_000, 0, due=DUE),
        share("i3", "deal-c", 1_000, 0, due=DUE - timedelta(days=5)),
    ]

    assert [row.deal_id for row in standings(shares, TODAY)] == ["deal-c", "deal-b", "deal-a"]


def test_account_standing_counts_a_split_invoice_once() -> None:
    shares = [
        share("i1", "deal-a", 600, 600, owner="tanaka"),
        share("i1", "deal-b", 400, 400, owner="sato"),
        share("i2", "deal-b", 1_000, 250, owner="sato", due=DUE + timedelta(days=3)),
        share("i9", "deal-z", 5_000, 0, account_id="acct-2", due=DUE + timedelta(days=20)),
    ]

    rows = {row.account_id: row for row in account_standings(shares, TODAY)}

    one = rows["acct-1"]
    assert (one.invoices, one.deals, one.owners) == (2, 2, ("sato", "tanaka"))
    assert (one.expected, one.paid, one.outstanding) == (2_000, 1_250, 750)
    assert one.earliest_unpaid_due_date == DUE + timedelta(days=3)
    assert (one.days_past_due, one.achievement_rate) == (7, Decimal("62.5"))
    assert rows["acct-2"].days_past_due == 0
    assert [row.account_id for row in overdue_only(account_standings(shares, TODAY))] == ["acct-1"]


RATE_CASES = st.integers(1, 10**9).flatmap(
    lambda expected: st.tuples(
        st.just(expected), st.integers(0, expected), st.integers(0, expected)
    )
)


@PROPERTY
@given(case=RATE_CASES)
def test_the_rate_is_within_bounds_100_iff_paid_and_monotonic(case: tuple[int, int, int]) -> None:
    expected, paid, other = case
    low, high = sorted((paid, other))

    def rate(amount: int) -> Decimal:
        [row] = standings([share("i1", "deal-a", expected, amount)], TODAY)
        return row.achievement_rate

    assert Decimal(0) <= rate(paid) <= Decimal(100)
    assert (rate(paid) == Decimal(100)) == (paid == expected)
    assert rate(low) <= rate(high)
    assert rate(paid).as_tuple().exponent == -1


@PROPERTY
@given(
    invoices=st.lists(st.tuples(st.integers(1, 10**7), st.fractions(0, 1)), min_size=1, max_size=6)
)
def test_a_deal_is_at_100_iff_every_invoice_is_paid(invoices: list[tuple[int, Any]]) -> None:
    shares = [
        share(f"i{i}", "deal-a", expected, int(expected * fraction))
        for i, (expected, fraction) in enumerate(invoices)
    ]

    [row] = standings(shares, TODAY)

    assert (row.achievement_rate == Decimal(100)) == all(s.paid == s.expected for s in shares)
    assert row.outstanding == row.expected - row.paid
