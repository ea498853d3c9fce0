"""Contract rules without AWS: term and notice dates (examples and properties), renewals due
on a day, the next term, numbering, and the 契約書 made from a priced quote."""

from __future__ import annotations

import calendar
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monosub.domain import contracts as rules
from monosub.domain.contracts import RenewalCandidate
from tests.priced_quotes import priced_quote

PROPERTY = settings(deadline=None, max_examples=300)
DAYS = st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2060, 12, 31))
MONTHS = st.integers(1, rules.MAX_TERM_MONTHS)


# ---- the dates rule, by example (docs/contracts.md has the same table) ---------------------


@pytest.mark.parametrize(
    ("start", "months", "end"),
    [
        ("2026-04-01", 12, "2027-03-31"),
        ("2026-04-15", 12, "2027-04-14"),
        ("2026-01-31", 1, "2026-02-28"),
        ("2028-01-31", 1, "2028-02-29"),
        ("2026-01-29", 1, "2026-02-28"),
        ("2028-01-29", 1, "2028-02-28"),
        ("2026-03-31", 1, "2026-04-30"),
        ("2026-12-01", 1, "2026-12-31"),
        ("2026-11-20", 24, "2028-11-19"),
        ("2028-02-29", 12, "2029-02-28"),
        ("2027-02-28", 12, "2028-02-27"),
    ],
)
def test_a_term_ends_the_day_before_the_same_day_months_later_or_on_that_months_end(
    start, months, end
):
    assert rules.term_end(dt.date.fromisoformat(start), months) == dt.date.fromisoformat(end)


def test_a_term_is_at_least_a_month():
    with pytest.raises(ValueError):
        rules.term_end(dt.date(2026, 4, 1), 0)


def test_the_notice_date_is_notice_days_before_the_end():
    assert rules.notice_date(dt.date(2027, 3, 31), 30) == dt.date(2027, 3, 1)
    assert rules.notice_date(dt.date(2027, 3, 31), 0) == dt.date(2027, 3, 31)
    with pytest.raises(ValueError):
        rules.notice_date(dt.date(2027, 3, 31), rules.MAX_NOTICE_DAYS + 1)


def test_term_dates_and_the_next_term():
    first = rules.term_dates(dt.date(2026, 11, 20), 12, 30)
    assert (first.start, first.end, first.notice) == (
        dt.date(2026, 11, 20),
        dt.date(2027, 11, 19),
        dt.date(2027, 10, 20),
    )
    second = rules.next_term(first.end, 24, 30)
    assert (second.start, second.end, second.notice, second.months) == (
        dt.date(2027, 11, 20),
        dt.date(2029, 11, 19),
        dt.date(2029, 10, 20),
        24,
    )


def test_months_between():
    assert rules.months_between(dt.date(2026, 11, 30), dt.date(2027, 2, 1)) == [
        "2026-11",
        "2026-12",
        "2027-01",
        "2027-02",
    ]
    assert rules.months_between(dt.date(2026, 11, 30), dt.date(2026, 11, 1)) == ["2026-11"]
    assert rules.months_between(dt.date(2026, 12, 1), dt.date(2026, 11, 30)) == []


# ---- the dates rule, as properties ---------------------------------------------------------


@PROPERTY
@given(DAYS, MONTHS)
def test_the_end_lies_in_the_last_month_of_the_term(start, months):
    end = rules.term_end(start, months)
    year, month = rules.month_offset(start.year, start.month, months)
    before_year, before_month = rules.month_offset(start.year, start.month, months - 1)
    last_day = calendar.monthrange(year, month)[1]
    if start.day == 1:  # the term is whole calendar months
        assert (end.year, end.month) == (before_year, before_month)
        assert end.day == calendar.monthrange(before_year, before_month)[1]
    elif start.day <= last_day:
        assert end == dt.date(year, month, start.day) - dt.timedelta(days=1)
    else:  # no such day in that month: its last day
        assert end == dt.date(year, month, last_day)


@PROPERTY
@given(DAYS, MONTHS)
def test_a_term_lasts_between_28_and_31_days_a_month(start, months):
    end = rules.term_end(start, months)
    days = (end - start).days + 1
    assert 28 * months <= days <= 31 * months


@PROPERTY
@given(DAYS, DAYS, MONTHS)
def test_a_later_start_never_ends_earlier(first, second, months):
    early, late = sorted((first, second))
    assert rules.term_end(early, months) <= rules.term_end(late, months)


@PROPERTY
@given(DAYS, MONTHS, MONTHS)
def test_consecutive_terms_leave_no_gap_and_do_not_overlap(start, first, second):
    one = rules.term_dates(start, first, 30)
    two = rules.next_term(one.end, second, 30)
    assert two.start == one.end + dt.timedelta(days=1)
    assert two.end > one.end
    if start.day <= 28:  # every month has the start's day: two terms are one longer term
        assert two.end == rules.term_end(start, first + second)


@PROPERTY
@given(DAYS, MONTHS, st.integers(0, rules.MAX_NOTICE_DAYS))
def test_the_notice_date_is_inside_the_term_or_before_it(start, months, notice_days):
    dates = rules.term_dates(start, months, notice_days)
    assert dates.end - dates.notice == dt.timedelta(days=notice_days)
    assert dates.notice <= dates.end


# ---- renewals due ----------------------------------------------------------------------------

END = dt.date(2027, 11, 19)
NOTICE = dt.date(2027, 10, 20)


def candidate(**fields) -> RenewalCandidate:
    values = {
        "contract_id": "contract_x",
        "status": "active",
        "auto_renew": True,
        "notice_given": False,
        "end_date": END,
        "notice_date": NOTICE,
        "requested_for": None,
    } | fields
    return RenewalCandidate(**values)


@pytest.mark.parametrize(
    ("day", "due"),
    [
        (NOTICE - dt.timedelta(days=31), False),
        (NOTICE - dt.timedelta(days=30), True),  # 30 days ahead of the notice date
        (NOTICE, True),
        (END, True),  # a missed day is caught up while the term lasts
        (END + dt.timedelta(days=1), False),
    ],
)
def test_a_renewal_is_due_from_lead_days_before_the_notice_date_until_the_end(day, due):
    assert rules.renewal_due(candidate(), day, 30) is due


@pytest.mark.parametrize(
    "fields",
    [
        {"status": "pending_start", "end_date": None, "notice_date": None},
        {"status": "ended"},
        {"status": "cancelled"},
        {"auto_renew": False},
        {"notice_given": True},
        {"requested_for": END},
    ],
)
def test_no_renewal_is_due_without_an_active_auto_renewing_term_not_yet_requested(fields):
    assert not rules.renewal_due(candidate(**fields), NOTICE, 30)


def test_a_request_for_an_earlier_term_does_not_count_for_this_one():
    assert rules.renewal_due(candidate(requested_for=dt.date(2026, 11, 19)), NOTICE, 30)


def test_due_renewals_keeps_the_due_ones_in_order():
    due = rules.due_renewals(
        [
            candidate(contract_id="contract_a"),
            candidate(contract_id="contract_b", auto_renew=False),
            candidate(contract_id="contract_c"),
        ],
        NOTICE,
    )
    assert [c.contract_id for c in due] == ["contract_a", "contract_c"]


@PROPERTY
@given(DAYS, MONTHS, st.integers(0, rules.MAX_NOTICE_DAYS), DAYS, st.integers(0, 90))
def test_a_due_renewal_is_always_inside_the_schedules_window(
    start, months, notice_days, day, lead_days
):
    dates = rules.term_dates(start, months, notice_days)
    due = rules.renewal_due(candidate(end_date=dates.end, notice_date=dates.notice), day, lead_days)
    first, last = rules.renewal_notice_window(day, lead_days)
    if due:
        assert first <= dates.notice <= last


def test_notice_is_possible_up_to_and_including_the_notice_date():
    assert rules.notice_still_possible(NOTICE, NOTICE)
    assert not rules.notice_still_possible(NOTICE + dt.timedelta(days=1), NOTICE)
    assert not rules.notice_still_possible(NOTICE, None)


# ---- a term that is over -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "over"),
    [
        (END - dt.timedelta(days=1), False),
        (END, False),  # the last day of the term is still in it
        (END + dt.timedelta(days=1), True),
        (END + dt.timedelta(days=90), True),  # a run that missed days still finds it
    ],
)
def test_a_term_is_over_from_the_day_after_its_end(day, over):
    assert rules.term_over(candidate(), day) is over


@pytest.mark.parametrize(
    "fields",
    [
        {"status": "pending_start", "end_date": None, "notice_date": None},
        {"status": "ended"},
        {"status": "cancelled"},
    ],
)
def test_only_an_active_contracts_term_is_over(fields):
    assert not rules.term_over(candidate(**fields), END + dt.timedelta(days=1))


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({}, None),  # renews automatically
        ({"requested_for": END}, None),  # a renewal quote asked for but never accepted
        ({"auto_renew": False}, "no-auto-renew"),
        ({"auto_renew": False, "notice_given": True}, "notice"),  # notice turns renewal off
        ({"notice_given": True}, "notice"),
    ],
)
def test_why_a_term_that_is_over_ends_or_none_when_it_renews(fields, reason):
    assert rules.end_reason(candidate(**fields)) == reason


@PROPERTY
@given(DAYS, MONTHS, st.integers(0, rules.MAX_NOTICE_DAYS), DAYS, st.integers(0, 90))
def test_a_renewal_is_never_due_once_the_term_is_over(start, months, notice_days, day, lead_days):
    """So the daily run closes a term before it could request its renewal again."""
    dates = rules.term_dates(start, months, notice_days)
    term = candidate(end_date=dates.end, notice_date=dates.notice)
    assert not (rules.term_over(term, day) and rules.renewal_due(term, day, lead_days))


@PROPERTY
@given(DAYS, MONTHS, st.integers(0, rules.MAX_NOTICE_DAYS), st.integers(1, 800))
def test_renewing_term_after_term_reaches_any_later_day_without_a_gap(
    start, months, notice_days, days_later
):
    """The catch-up of missed days: automatic renewals, each the next term of the one before,
    until a term lasts into the day; the terms are contiguous and the last one holds it."""
    dates = rules.term_dates(start, months, notice_days)
    day = dates.end + dt.timedelta(days=days_later)
    term = candidate(end_date=dates.end, notice_date=dates.notice)
    while rules.term_over(term, day):
        assert term.end_date is not None
        following = rules.next_term(term.end_date, months, notice_days)
        assert following.start == term.end_date + dt.timedelta(days=1)
        term = candidate(end_date=following.end, notice_date=following.notice)
        dates = following
    assert dates.start <= day <= dates.end


# ---- numbers and the 契約書 ----------------------------------------------------------------


def test_contract_numbers():
    assert rules.contract_number(2026, 1) == "C2026-000001"
    assert rules.contract_number(2027, 123456) == "C2027-123456"
    with pytest.raises(ValueError):
        rules.contract_number(2026, 0)


def test_the_contract_document_prints_the_quotes_priced_items_and_parties():
    quote = priced_quote(term_months=24, company="株式会社フライク")
    articles = rules.standard_articles(auto_renew=True, notice_days=45)
    document = rules.contract_document(
        quote, "C2026-000007", dt.date(2026, 11, 10), articles, payment_method="direct-debit"
    )
    shown = quote.document
    assert document.number == "C2026-000007"
    assert document.contract_date == dt.date(2026, 11, 10)
    assert (document.quote_number, document.quote_version) == (shown.number, quote.version)
    assert document.minimum_term_months == 24
    assert document.payment_method == "口座振替"
    assert document.issuer == shown.issuer
    assert document.customer == shown.recipient
    assert document.lines == shown.lines
    assert document.tax_subtotals == shown.tax_subtotals
    assert (document.one_time_total, document.monthly_total) == (
        shown.one_time_total,
        shown.monthly_total,
    )
    assert document.service_start is None
    assert document.electronic
    renewal_clause = next(a for a in document.articles if a.title == "契約期間及び更新")
    assert "期間満了日の45日前までに" in renewal_clause.body


def test_a_contract_that_does_not_renew_says_it_ends_with_its_term():
    articles = rules.standard_articles(auto_renew=False, notice_days=30)
    clause = next(a for a in articles if a.title == "契約期間及び更新")
    assert "期間満了をもって終了する" in clause.body
    assert "更新" not in clause.body.replace("契約期間及び更新", "")


def test_an_unknown_payment_method_is_printed_as_given():
    document = rules.contract_document(
        priced_quote(),
        "C2026-000001",
        dt.date(2026, 11, 10),
        rules.standard_articles(auto_renew=True, notice_days=30),
        payment_method="請求書払い（月末締め翌月末）",
    )
    assert document.payment_method == "請求書払い（月末締め翌月末）"
