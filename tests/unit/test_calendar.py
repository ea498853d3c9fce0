"""Bank business days and payment terms: known dates, then properties over random dates."""

from __future__ import annotations

from calendar import monthrange
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from monosub.domain.calendar import (
    PaymentTerms,
    adjust,
    closing_date,
    closings_between,
    due_date,
    is_bank_day,
    next_bank_day,
    previous_bank_day,
)

MONTH_END_TERMS = PaymentTerms(closing_day=31, months_after=1, pay_day=31)

# ---- bank days -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "why"),
    [
        (date(2025, 12, 31), "year-end closure (a Wednesday)"),
        (date(2026, 1, 1), "元日"),
        (date(2026, 1, 2), "year-end closure (a Friday, no national holiday)"),
        (date(2026, 1, 3), "year-end closure (a Saturday)"),
        (date(2026, 12, 31), "year-end closure (a Thursday)"),
        (date(2026, 5, 6), "振替休日 for 憲法記念日 on Sunday 3 May"),
        (date(2025, 11, 24), "振替休日 for 勤労感謝の日 on Sunday 23 November"),
        (date(2026, 9, 22), "国民の休日 between 敬老の日 and 秋分の日"),
        (date(2026, 1, 12), "成人の日"),
        (date(2026, 11, 28), "a Saturday"),
        (date(2026, 11, 29), "a Sunday"),
        (date(2019, 5, 1), "天皇の即位の日 (2019 only)"),
        (date(2020, 7, 24), "スポーツの日 moved for the Olympics (2020 only)"),
    ],
)
def test_banks_are_closed(day: date, why: str) -> None:
    assert not is_bank_day(day), why


@pytest.mark.parametrize(
    "day",
    [
        date(2026, 1, 5),  # first business day of 2026
        date(2025, 12, 30),  # last before the closure
        date(2026, 5, 7),  # after Golden Week
        date(2026, 11, 30),  # a Monday
        date(2021, 10, 11),  # スポーツの日 was moved away from here in 2021
    ],
)
def test_banks_are_open(day: date) -> None:
    assert is_bank_day(day)


def test_next_and_previous_bank_day() -> None:
    # Golden Week 2026: Sat 2, Sun 3 憲法記念日, 4 みどりの日, 5 こどもの日, 6 振替休日
    assert next_bank_day(date(2026, 5, 2)) == date(2026, 5, 7)
    assert previous_bank_day(date(2026, 5, 6)) == date(2026, 5, 1)
    # the year end: 31 Dec – 3 Jan, then the weekend
    assert next_bank_day(date(2025, 12, 31)) == date(2026, 1, 5)
    assert previous_bank_day(date(2026, 1, 4)) == date(2025, 12, 30)
    # a bank day is its own next and previous
    assert next_bank_day(date(2026, 11, 30)) == date(2026, 11, 30)
    assert previous_bank_day(date(2026, 11, 30)) == date(2026, 11, 30)


def test_adjust_follows_the_rule() -> None:
    saturday = date(2026, 2, 28)
    assert adjust(saturday, "next") == date(2026, 3, 2)
    assert adjust(saturday, "previous") == date(2026, 2, 27)
    assert adjust(saturday, "none") == saturday


def test_years_without_a_holiday_calendar_are_refused() -> None:
    with pytest.raises(ValueError, match="no Japanese holiday calendar for 2100"):
        is_bank_day(date(2100, 3, 1))


# ---- closing dates and terms ---------------------------------------------------------------------


def test_closing_date() -> None:
    assert closing_date(2026, 11, 20) == date(2026, 11, 20)
    assert closing_date(2026, 11, 31) == date(2026, 11, 30)
    assert closing_date(2026, 2, 31) == date(2026, 2, 28)
    assert closing_date(2028, 2, 31) == date(2028, 2, 29)  # leap year
    assert closing_date(2026, 2, 28) == date(2026, 2, 28)
    assert closing_date(2026, 1, 1) == date(2026, 1, 1)


@pytest.mark.parametrize("day", [0, 29, 30, 32, -1, 100])
def test_closing_day_outside_1_28_or_31_is_refused(day: int) -> None:
    with pytest.raises(ValueError, match="1–28, or 31 for month end"):
        closing_date(2026, 11, day)
    with pytest.raises(ValueError, match="1–28, or 31 for month end"):
        closings_between(date(2026, 1, 1), date(2026, 12, 31), day)
    with pytest.raises(ValidationError, match="1–28, or 31 for month end"):
        PaymentTerms(closing_day=day, months_after=1, pay_day=31)
    with pytest.raises(ValidationError, match="1–28, or 31 for month end"):
        PaymentTerms(closing_day=31, months_after=1, pay_day=day)


@pytest.mark.parametrize(
    ("closing_day", "months_after", "pay_day", "label"),
    [
        (31, 1, 31, "月末締め翌月末払い"),
        (20, 1, 10, "20日締め翌月10日払い"),
        (31, 2, 10, "月末締め翌々月10日払い"),
        (15, 0, 31, "15日締め当月末払い"),
        (31, 3, 31, "月末締め翌々々月末払い"),
    ],
)
def test_terms_label(closing_day: int, months_after: int, pay_day: int, label: str) -> None:
    terms = PaymentTerms(closing_day=closing_day, months_after=months_after, pay_day=pay_day)
    assert terms.label == label


def test_terms_are_frozen_and_checked() -> None:
    with pytest.raises(ValidationError):
        MONTH_END_TERMS.pay_day = 10  # type: ignore[misc]
    with pytest.raises(ValidationError, match="months_after"):
        PaymentTerms(closing_day=31, months_after=4, pay_day=31)
    with pytest.raises(ValidationError, match="must come after the closing day"):
        PaymentTerms(closing_day=20, months_after=0, pay_day=10)
    with pytest.raises(ValidationError, match="must come after the closing day"):
        PaymentTerms(closing_day=31, months_after=0, pay_day=31)
    assert PaymentTerms(closing_day=20, months_after=1, pay_day=10).holiday_rule == "next"


@pytest.mark.parametrize(
    ("closing", "terms", "due"),
    [
        # 月末締め翌月末払い: 31 Dec 2026 is a Thursday, January ends on a Sunday
        (date(2026, 11, 30), MONTH_END_TERMS, date(2027, 1, 4)),  # 31 Dec – 3 Jan closed
        (
            date(2026, 11, 30),
            MONTH_END_TERMS.model_copy(update={"holiday_rule": "previous"}),
            date(2026, 12, 30),
        ),
        (date(2026, 12, 31), MONTH_END_TERMS, date(2027, 2, 1)),  # Sun 31 Jan → Mon 1 Feb
        # February: 2026-02-28 is a Saturday, 2028-02-29 (leap) a Tuesday
        (date(2026, 1, 31), MONTH_END_TERMS, date(2026, 3, 2)),
        (
            date(2026, 1, 31),
            MONTH_END_TERMS.model_copy(update={"holiday_rule": "previous"}),
            date(2026, 2, 27),
        ),
        (date(2028, 1, 31), MONTH_END_TERMS, date(2028, 2, 29)),
        (
            date(2026, 1, 31),
            MONTH_END_TERMS.model_copy(update={"holiday_rule": "none"}),
            date(2026, 2, 28),
        ),
        # 20日締め翌月10日払い: 10 May 2026 is a Sunday
        (
            date(2026, 4, 20),
            PaymentTerms(closing_day=20, months_after=1, pay_day=10),
            date(2026, 5, 11),
        ),
        # 月末締め翌々月10日払い across the year
        (
            date(2026, 11, 30),
            PaymentTerms(closing_day=31, months_after=2, pay_day=10),
            date(2027, 1, 12),
        ),
        # the 27th debit of the next month: 27 Dec 2026 is a Sunday
        (
            date(2026, 11, 30),
            PaymentTerms(closing_day=31, months_after=1, pay_day=27),
            date(2026, 12, 28),
        ),
    ],
)
def test_due_date(closing: date, terms: PaymentTerms, due: date) -> None:
    assert due_date(closing, terms) == due


def test_due_date_never_moves_before_the_closing() -> None:
    """1日締め当月3日払い, previous bank day: from 3 Jan the previous bank day is 30 Dec, before
    the closing on 1 Jan, so the due date is the first bank day from the closing instead."""
    terms = PaymentTerms(closing_day=1, months_after=0, pay_day=3, holiday_rule="previous")
    assert due_date(date(2026, 1, 1), terms) == date(2026, 1, 5)


def test_closings_between() -> None:
    assert closings_between(date(2026, 10, 15), date(2027, 2, 10), 31) == [
        date(2026, 10, 31),
        date(2026, 11, 30),
        date(2026, 12, 31),
        date(2027, 1, 31),
    ]
    assert closings_between(date(2026, 10, 20), date(2026, 12, 20), 20) == [
        date(2026, 10, 20),
        date(2026, 11, 20),
        date(2026, 12, 20),
    ]
    assert closings_between(date(2026, 10, 21), date(2026, 11, 19), 20) == []
    assert closings_between(date(2026, 12, 1), date(2026, 11, 1), 20) == []
    assert closings_between(date(2028, 2, 1), date(2028, 3, 1), 31) == [date(2028, 2, 29)]


# ---- properties ----------------------------------------------------------------------------------

PROPERTY = settings(deadline=None, max_examples=200)
DATES = st.dates(min_value=date(1990, 1, 1), max_value=date(2097, 12, 31))
DAYS_OF_MONTH = st.sampled_from([*range(1, 29), 31])


@st.composite
def payment_terms(draw: st.DrawFn) -> PaymentTerms:
    closing_day = draw(DAYS_OF_MONTH)
    months_after = draw(st.integers(0 if closing_day < 28 else 1, 3))
    pay_days = [d for d in [*range(1, 29), 31] if months_after > 0 or d > closing_day]
    return PaymentTerms(
        closing_day=closing_day,
        months_after=months_after,
        pay_day=draw(st.sampled_from(pay_days)),
        holiday_rule=draw(st.sampled_from(["next", "previous", "none"])),
    )


@PROPERTY
@given(DATES)
def test_next_and_previous_are_the_nearest_bank_days(day: date) -> None:
    after, before = next_bank_day(day), previous_bank_day(day)
    assert is_bank_day(after) and is_bank_day(before)
    assert before <= day <= after
    assert (after - before).days <= 12  # the longest closure: year end or Golden Week + weekend
    between = [before + timedelta(days=n) for n in range(1, (after - before).days)]
    assert not any(is_bank_day(d) for d in between)
    if is_bank_day(day):
        assert after == before == day


@PROPERTY
@given(DATES)
def test_year_end_and_weekends_are_never_bank_days(day: date) -> None:
    if day.weekday() >= 5 or (day.month, day.day) in {(12, 31), (1, 1), (1, 2), (1, 3)}:
        assert not is_bank_day(day)


@PROPERTY
@given(st.integers(1990, 2097), st.integers(1, 12), payment_terms())
def test_due_date_is_a_bank_day_never_before_the_closing(
    year: int, month: int, terms: PaymentTerms
) -> None:
    closing = closing_date(year, month, terms.closing_day)
    due = due_date(closing, terms)
    assert due >= closing
    pay_year, pay_month = divmod(year * 12 + month - 1 + terms.months_after, 12)
    pay_month += 1
    pay_day = date(pay_year, pay_month, min(terms.pay_day, monthrange(pay_year, pay_month)[1]))
    if terms.holiday_rule == "none":
        assert due == pay_day
    else:
        assert is_bank_day(due)
        assert abs((due - pay_day).days) <= 12  # moved over one closure at most
    if terms.holiday_rule == "next":
        assert due >= pay_day


@PROPERTY
@given(st.integers(1990, 2097), st.integers(1, 12))
def test_month_end_terms_pay_at_the_next_months_end(year: int, month: int) -> None:
    """月末締め翌月末払い (none): the last day of next month, February and leap years too."""
    terms = MONTH_END_TERMS.model_copy(update={"holiday_rule": "none"})
    closing = closing_date(year, month, 31)
    due = due_date(closing, terms)
    assert (closing + timedelta(days=1)).day == 1
    assert (due + timedelta(days=1)).day == 1
    assert (due.year * 12 + due.month) - (closing.year * 12 + closing.month) == 1


@PROPERTY
@given(DATES, st.integers(0, 1200), DAYS_OF_MONTH)
def test_closings_between_is_one_per_month_in_order(
    first: date, span: int, closing_day: int
) -> None:
    last = first + timedelta(days=span)
    closings = closings_between(first, last, closing_day)
    assert closings == sorted(set(closings))
    assert all(first <= c <= last for c in closings)
    assert all(c == closing_date(c.year, c.month, closing_day) for c in closings)
    months = [(c.year, c.month) for c in closings]
    assert len(months) == len(set(months))
    # nothing missed: every month in the range whose closing falls in it is there
    expected = 0
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        if first <= closing_date(year, month, closing_day) <= last:
            expected += 1
        year, month = (year + month // 12, month % 12 + 1)
    assert len(closings) == expected
    # a span of a full month or more holds at least one closing
    if span >= 31:
        assert closings
