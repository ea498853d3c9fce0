"""Japanese bank business days (銀行営業日) and payment terms (締め日・支払日).

Banks are closed on Saturdays, Sundays, national holidays (substitute 振替休日 and sandwiched
国民の休日 included) and from 31 December to 3 January. The national holidays come from the
maintained ``holidays`` package (``holidays.Japan``), never from a hand-written list: the
calendar changes by law (2019's enthronement days, the 2020–2021 Olympic moves).

Payment terms read as Japanese business says them: 月末締め翌月末払い is ``closing_day=31``
(month end), ``months_after=1`` (翌月), ``pay_day=31`` (month end). A due date that falls on a
bank holiday moves to the next bank day, or the previous one when the contract says so
(``holiday_rule``), or stays (``"none"``, e.g. a card charge).

Pure: dates in, dates out. Dates are Asia/Tokyo business dates from the caller.
"""

from __future__ import annotations

from calendar import monthrange
from datetime import date, timedelta
from typing import Literal

import holidays
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

HolidayRule = Literal["next", "previous", "none"]

MONTH_END = 31
"""A closing or pay day of 31 means the month's last day, whatever its length."""

_JAPAN = holidays.Japan()
# The years holidays.Japan knows. Outside them it silently reports no holiday at all, which
# would make every weekday a bank day: refuse instead.
_FIRST_YEAR: int = _JAPAN.start_year
_LAST_YEAR: int = _JAPAN.end_year

_MONTHS_AFTER_LABELS = {0: "当月", 1: "翌月", 2: "翌々月", 3: "翌々々月"}


def _national_holiday(day: date) -> bool:
    if not _FIRST_YEAR <= day.year <= _LAST_YEAR:
        raise ValueError(
            f"no Japanese holiday calendar for {day.year} (known: {_FIRST_YEAR}–{_LAST_YEAR})"
        )
    return day in _JAPAN


def _year_end_closure(day: date) -> bool:
    """31 Dec – 3 Jan: closed by banking custom, though only 1 Jan is a national holiday."""
    return (day.month == 12 and day.day == 31) or (day.month == 1 and day.day <= 3)


def is_bank_day(day: date) -> bool:
    """Whether Japanese banks are open on ``day`` (transfers and debits settle)."""
    return day.weekday() < 5 and not _year_end_closure(day) and not _national_holiday(day)


def next_bank_day(day: date) -> date:
    """``day`` itself when banks are open, else the first bank day after it."""
    while not is_bank_day(day):
        day += timedelta(days=1)
    return day


def previous_bank_day(day: date) -> date:
    """``day`` itself when banks are open, else the last bank day before it."""
    while not is_bank_day(day):
        day -= timedelta(days=1)
    return day


def adjust(day: date, rule: HolidayRule) -> date:
    """``day`` moved off a bank holiday: to the next bank day, the previous one, or not."""
    if rule == "next":
        return next_bank_day(day)
    if rule == "previous":
        return previous_bank_day(day)
    return day


def check_day_of_month(value: int, what: str = "day") -> int:
    """A closing or pay day: 1–28, or 31 for month end. 29 and 30 are refused because they
    would mean month end in February only, which no one intends."""
    if isinstance(value, bool) or not (1 <= value <= 28 or value == MONTH_END):
        raise ValueError(f"{what} must be 1–28, or 31 for month end, not {value!r}")
    return value


def _day_in_month(year: int, month: int, day_of_month: int) -> date:
    """The ``day_of_month`` of that month; 31 (or any day past its length) is its last day."""
    return date(year, month, min(day_of_month, monthrange(year, month)[1]))


def _add_months(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def closing_date(year: int, month: int, closing_day: int) -> date:
    """The closing date (締め日) of that month: ``closing_day`` 1–28, or 31 for month end."""
    check_day_of_month(closing_day, "closing_day")
    return _day_in_month(year, month, closing_day)


class PaymentTerms(BaseModel):
    """When an invoice closes and when it is due: 締め日, 支払月 (months after), 支払日.

    An invoice closed on the closing day is due on ``pay_day`` of the month ``months_after``
    months later, moved off bank holidays by ``holiday_rule``. In the closing's own month
    (``months_after=0``) the pay day must come after the closing day.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    closing_day: int = Field(description="締め日: 1–28, or 31 for month end")
    months_after: int = Field(ge=0, le=3, description="支払月: 0 当月, 1 翌月, 2 翌々月 …")
    pay_day: int = Field(description="支払日: 1–28, or 31 for month end")
    holiday_rule: HolidayRule = "next"

    @field_validator("closing_day", "pay_day")
    @classmethod
    def day_of_month(cls, value: int) -> int:
        return check_day_of_month(value)

    @model_validator(mode="after")
    def paid_after_closing(self) -> PaymentTerms:
        if self.months_after == 0 and self.pay_day <= self.closing_day:
            raise ValueError(
                f"paid in the closing's month, the pay day ({self.pay_day}) must come after "
                f"the closing day ({self.closing_day})"
            )
        return self

    @property
    def label(self) -> str:
        """As documents write the terms: 月末締め翌月末払い, 20日締め翌月10日払い."""
        closing = "月末" if self.closing_day == MONTH_END else f"{self.closing_day}日"
        pay = "末" if self.pay_day == MONTH_END else f"{self.pay_day}日"
        return f"{closing}締め{_MONTHS_AFTER_LABELS[self.months_after]}{pay}払い"


def due_date(closing: date, terms: PaymentTerms) -> date:
    """The payment due date (お支払期限) of an invoice closed on ``closing``.

    ``pay_day`` of the month ``months_after`` after the closing's month, moved off bank
    holidays by ``holiday_rule``. A due date never precedes its closing: should the previous
    bank day (or a closing that is not the terms' closing day) put it earlier, it is the
    first bank day from the closing instead (the closing itself with rule ``"none"``).
    """
    year, month = _add_months(closing.year, closing.month, terms.months_after)
    due = adjust(_day_in_month(year, month, terms.pay_day), terms.holiday_rule)
    if due < closing:
        due = adjust(closing, "none" if terms.holiday_rule == "none" else "next")
    return due


def closings_between(first: date, last: date, closing_day: int) -> list[date]:
    """Every closing date in [first, last] (both included), oldest first, one per month.

    A schedule that did not run for a while catches up with this: each closing it missed
    gets its own invoice. Empty when ``first`` is after ``last``.
    """
    check_day_of_month(closing_day, "closing_day")
    closings: list[date] = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        closing = _day_in_month(year, month, closing_day)
        if first <= closing <= last:
            closings.append(closing)
        year, month = _add_months(year, month, 1)
    return closings
