"""EventBridge schedule expressions, evaluated locally so the business clock can fire them.

Supports ``rate(N minute|minutes|hour|hours|day|days)`` and ``cron(min hour dom month dow
year)`` with ``*``, ``?``, lists, ranges, ``/`` steps, month and weekday names and ``L`` for
the last day of the month. Times are UTC, as on EventBridge. ``W`` and ``#`` are refused.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

_MONTHS = {m.upper(): i for i, m in enumerate(calendar.month_abbr) if m}
_WEEKDAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}


class ScheduleExpressionError(ValueError):
    pass


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int] | None  # None: any ("?" or "*")
    last_day: bool
    months: frozenset[int]
    weekdays: frozenset[int] | None  # 1=SUN .. 7=SAT; None: any
    years: frozenset[int] | None

    def matches_day(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        if self.years is not None and day.year not in self.years:
            return False
        if self.last_day:
            if day.day != calendar.monthrange(day.year, day.month)[1]:
                return False
        elif self.days is not None and day.day not in self.days:
            return False
        aws_weekday = (day.isoweekday() % 7) + 1  # Monday=1 in ISO -> 2 in AWS
        return self.weekdays is None or aws_weekday in self.weekdays


def _field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise ScheduleExpressionError(f"empty item in {text!r}")
        step = 1
        part = item
        if "/" in item:
            part, step_text = item.split("/", 1)
            step = _value(step_text, None)
            if step < 1:
                raise ScheduleExpressionError(f"bad step in {text!r}")
        if part == "*":
            start, end = low, high
        elif "-" in part:
            a, b = part.split("-", 1)
            start, end = _value(a, names), _value(b, names)
            if start > end:
                raise ScheduleExpressionError(f"reversed range {part!r} in {text!r}")
        else:
            start = _value(part, names)
            end = high if "/" in item else start
        if not (low <= start <= high and low <= end <= high):
            raise ScheduleExpressionError(f"{text!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


def _value(text: str, names: dict[str, int] | None) -> int:
    if names and text.upper() in names:
        return names[text.upper()]
    if not (text.isascii() and text.isdigit()):
        raise ScheduleExpressionError(f"{text!r} is not a number")
    return int(text)


def parse_cron(body: str) -> Cron:
    parts = body.split()
    if len(parts) != 6:
        raise ScheduleExpressionError("cron() takes six fields: min hour dom month dow year")
    minute, hour, dom, month, dow, year = parts
    if "W" in dom.upper() or "#" in dow or (dow != "?" and "L" in dow.upper()):
        raise ScheduleExpressionError("W, # and weekday L are not supported locally")
    if dom != "?" and dow != "?":
        raise ScheduleExpressionError("one of day-of-month and day-of-week must be '?'")
    return Cron(
        minutes=_field(minute, 0, 59),
        hours=_field(hour, 0, 23),
        days=None if dom in ("?", "*", "L") else _field(dom, 1, 31),
        last_day=dom == "L",
        months=_field(month, 1, 12, _MONTHS),
        weekdays=None if dow in ("?", "*") else _field(dow, 1, 7, _WEEKDAYS),
        years=None if year == "*" else _field(year, 1970, 2199),
    )


_RATE = re.compile(r"^(\d+) (minute|minutes|hour|hours|day|days)$")


def fire_times(expression: str, after: datetime, until: datetime) -> Iterator[datetime]:
    """Every time in (after, until] at which the schedule fires, in order (UTC)."""
    after, until = after.astimezone(UTC), until.astimezone(UTC)
    if expression.startswith("rate(") and expression.endswith(")"):
        match = _RATE.match(expression[5:-1].strip())
        if not match:
            raise ScheduleExpressionError(f"bad rate expression {expression!r}")
        if int(match.group(1)) < 1:
            raise ScheduleExpressionError("a rate must be at least 1")
        unit = match.group(2).rstrip("s")
        step = timedelta(**{unit + "s": int(match.group(1))})
        # Rates are anchored on the epoch here, so firing is deterministic.
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        moment = epoch + ((after - epoch) // step + 1) * step
        while moment <= until:
            yield moment
            moment += step
        return
    if not (expression.startswith("cron(") and expression.endswith(")")):
        raise ScheduleExpressionError(f"{expression!r} is neither cron(...) nor rate(...)")
    cron = parse_cron(expression[5:-1])
    day = after.date()
    while day <= until.date():
        if cron.matches_day(day):
            for hour in sorted(cron.hours):
                for minute in sorted(cron.minutes):
                    moment = datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
                    if after < moment <= until:
                        yield moment
        day += timedelta(days=1)


def longest_gap(expression: str, within: timedelta = timedelta(days=400)) -> timedelta | None:
    """The longest time between two consecutive firings over ``within`` (from 2026-01-01
    UTC): what a "the scheduled run did not start" alarm must watch at least. None when the
    schedule fires fewer than twice in that time."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    previous: datetime | None = None
    longest: timedelta | None = None
    for moment in fire_times(expression, start, start + within):
        if previous is not None and (longest is None or moment - previous > longest):
            longest = moment - previous
        previous = moment
    return longest
