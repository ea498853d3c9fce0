"""EventBridge schedule expressions evaluated locally (``local/cron.py``).

The business clock fires schedules by calling ``fire_times(expr, previous, new)`` each time it
moves; the window is (after, until], so consecutive moves must neither double-fire nor lose a
fire time.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from local.cron import ScheduleExpressionError, fire_times, longest_gap, parse_cron

MINUTE = timedelta(minutes=1)


def fires(expression: str, after: datetime, until: datetime) -> list[datetime]:
    return list(fire_times(expression, after, until))


def utc(  # noqa: PLR0917
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def aws_weekday(day: date) -> int:
    """1=SUN .. 7=SAT, computed independently of the module."""
    return (day.weekday() + 1) % 7 + 1


def is_last_day_of_month(day: date) -> bool:
    return (day + timedelta(days=1)).month != day.month


# ---- cron: fixed examples -------------------------------------------------------------------


def test_minute_five_of_every_hour_fires_24_times_a_day() -> None:
    times = fires("cron(5 * * * ? *)", utc(2026, 3, 1), utc(2026, 3, 2))
    assert len(times) == 24
    assert all(t.minute == 5 and t.second == 0 and t.microsecond == 0 for t in times)
    assert [t.hour for t in times] == list(range(24))
    assert all(t.tzinfo == UTC for t in times)


def test_last_day_of_every_month_in_a_leap_year() -> None:
    times = fires("cron(0 0 L * ? *)", utc(2023, 12, 31, 12), utc(2024, 12, 31, 12))
    assert [t.date() for t in times] == [
        date(2024, 1, 31),
        date(2024, 2, 29),
        date(2024, 3, 31),
        date(2024, 4, 30),
        date(2024, 5, 31),
        date(2024, 6, 30),
        date(2024, 7, 31),
        date(2024, 8, 31),
        date(2024, 9, 30),
        date(2024, 10, 31),
        date(2024, 11, 30),
        date(2024, 12, 31),
    ]
    assert all((t.hour, t.minute) == (0, 0) for t in times)


@pytest.mark.parametrize(
    ("year", "last_february_day"), [(2024, 29), (2025, 28), (2100, 28), (2000, 29)]
)
def test_last_day_of_february(year: int, last_february_day: int) -> None:
    times = fires("cron(30 23 L 2 ? *)", utc(year, 1, 1), utc(year, 12, 31))
    assert times == [utc(year, 2, last_february_day, 23, 30)]


def test_weekdays_mon_fri_fire_five_times_in_a_week_never_on_weekends() -> None:
    # 2026-01-04 is a Sunday.
    week = fires("cron(0 9 ? * MON-FRI *)", utc(2026, 1, 4), utc(2026, 1, 11))
    assert [t.date() for t in week] == [date(2026, 1, d) for d in range(5, 10)]
    assert all((t.hour, t.minute) == (9, 0) for t in week)
    many = fires("cron(0 9 ? * MON-FRI *)", utc(2026, 1, 1), utc(2026, 4, 1))
    assert many
    assert all(t.weekday() < 5 for t in many)  # never Saturday (5) or Sunday (6)


def test_weekday_numbers_are_1_sunday_to_7_saturday() -> None:
    window = (utc(2026, 1, 4), utc(2026, 1, 11))  # Sunday 4th .. Saturday 10th, inclusive
    for number in range(1, 8):
        (only,) = fires(f"cron(0 12 ? * {number} *)", *window)
        assert aws_weekday(only.date()) == number
    assert fires("cron(0 12 ? * 1 *)", *window)[0].date() == date(2026, 1, 4)  # Sunday
    assert fires("cron(0 12 ? * 7 *)", *window)[0].date() == date(2026, 1, 10)  # Saturday
    assert fires("cron(0 9 ? * 2-6 *)", *window) == fires("cron(0 9 ? * MON-FRI *)", *window)


@pytest.mark.parametrize(
    ("name", "number"),
    [("SUN", 1), ("MON", 2), ("TUE", 3), ("THU", 5), ("FRI", 6), ("SAT", 7), ("mon", 2)],
)
def test_weekday_names_equal_their_numbers(name: str, number: int) -> None:
    window = (utc(2026, 1, 1), utc(2026, 2, 1))
    by_name = fires(f"cron(0 12 ? * {name} *)", *window)
    assert by_name == fires(f"cron(0 12 ? * {number} *)", *window)
    assert len(by_name) in (4, 5)
    assert {aws_weekday(t.date()) for t in by_name} == {number}


def test_weekday_list_of_names() -> None:
    times = fires("cron(0 12 ? * SUN,SAT *)", utc(2026, 1, 4), utc(2026, 1, 11))
    assert [t.date() for t in times] == [date(2026, 1, 4), date(2026, 1, 10)]


def test_month_names_and_day_lists() -> None:
    times = fires("cron(0 0 1,15 JAN,JUL ? *)", utc(2025, 12, 31), utc(2026, 12, 31))
    assert [t.date() for t in times] == [
        date(2026, 1, 1),
        date(2026, 1, 15),
        date(2026, 7, 1),
        date(2026, 7, 15),
    ]


def test_minute_list() -> None:
    times = fires("cron(1,15 10 * * ? *)", utc(2026, 5, 1), utc(2026, 5, 2))
    assert times == [utc(2026, 5, 1, 10, 1), utc(2026, 5, 1, 10, 15)]


@pytest.mark.parametrize(
    ("field", "minutes"),
    [
        ("0/15", [0, 15, 30, 45]),
        ("*/15", [0, 15, 30, 45]),
        ("5/15", [5, 20, 35, 50]),
        ("10-20/5", [10, 15, 20]),
        ("50-59/20", [50]),
        ("58-59", [58, 59]),
    ],
)
def test_minute_steps_and_ranges(field: str, minutes: list[int]) -> None:
    times = fires(f"cron({field} 3 * * ? *)", utc(2026, 5, 1), utc(2026, 5, 2))
    assert [t.minute for t in times] == minutes
    assert all(t.hour == 3 for t in times)


def test_hour_steps() -> None:
    times = fires("cron(0 0/6 * * ? *)", utc(2026, 5, 1), utc(2026, 5, 2))
    assert [t.hour for t in times] == [6, 12, 18, 0]  # 00:00 on the 1st is excluded
    assert times[-1] == utc(2026, 5, 2)


def test_year_field() -> None:
    times = fires("cron(0 0 1 1 ? 2027)", utc(2025, 6, 1), utc(2029, 6, 1))
    assert times == [utc(2027, 1, 1)]
    ranged = fires("cron(0 0 1 1 ? 2026-2027)", utc(2025, 6, 1), utc(2029, 6, 1))
    assert ranged == [utc(2026, 1, 1), utc(2027, 1, 1)]
    assert fires("cron(0 0 1 1 ? 2030)", utc(2025, 6, 1), utc(2029, 6, 1)) == []


def test_window_excludes_after_and_includes_until() -> None:
    times = fires("cron(0 * * * ? *)", utc(2026, 5, 1, 10), utc(2026, 5, 1, 12))
    assert times == [utc(2026, 5, 1, 11), utc(2026, 5, 1, 12)]
    assert fires("cron(0 * * * ? *)", utc(2026, 5, 1, 10), utc(2026, 5, 1, 10)) == []
    assert fires("cron(0 * * * ? *)", utc(2026, 5, 1, 12), utc(2026, 5, 1, 10)) == []
    # one microsecond before the fire time: the fire time is inside the window
    just_before = utc(2026, 5, 1, 10) - timedelta(microseconds=1)
    assert fires("cron(0 * * * ? *)", just_before, utc(2026, 5, 1, 10)) == [utc(2026, 5, 1, 10)]


def test_window_in_another_time_zone_is_the_same_instant() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    after = datetime(2026, 5, 1, 9, 0, tzinfo=tokyo)  # 2026-05-01T00:00Z
    until = datetime(2026, 5, 2, 9, 0, tzinfo=tokyo)  # 2026-05-02T00:00Z
    times = fires("cron(0 0 * * ? *)", after, until)
    assert times == [utc(2026, 5, 2)]
    assert times[0].tzinfo == UTC


def test_results_are_strictly_increasing() -> None:
    times = fires("cron(0/7 */5 * * ? *)", utc(2026, 1, 1), utc(2026, 1, 4))
    assert len(times) > 100
    assert all(a < b for a, b in itertools.pairwise(times))


def test_parse_cron_fields() -> None:
    parsed = parse_cron("0/20 9-11 ? JAN-MAR MON,FRI 2026")
    assert parsed.minutes == frozenset({0, 20, 40})
    assert parsed.hours == frozenset({9, 10, 11})
    assert parsed.days is None
    assert parsed.last_day is False
    assert parsed.months == frozenset({1, 2, 3})
    assert parsed.weekdays == frozenset({2, 6})
    assert parsed.years == frozenset({2026})
    last = parse_cron("0 0 L * ? *")
    assert last.last_day is True
    assert last.weekdays is None
    assert last.years is None


# ---- rate ----------------------------------------------------------------------------------


def test_rate_one_hour_fires_on_the_hour() -> None:
    times = fires("rate(1 hour)", utc(2026, 5, 1, 10, 30), utc(2026, 5, 1, 13, 30))
    assert times == [utc(2026, 5, 1, 11), utc(2026, 5, 1, 12), utc(2026, 5, 1, 13)]


def test_rate_five_minutes() -> None:
    times = fires("rate(5 minutes)", utc(2026, 5, 1, 10), utc(2026, 5, 1, 11))
    assert len(times) == 12
    assert times[0] == utc(2026, 5, 1, 10, 5)
    assert times[-1] == utc(2026, 5, 1, 11)
    assert all(b - a == timedelta(minutes=5) for a, b in itertools.pairwise(times))


def test_rate_one_day() -> None:
    times = fires("rate(1 day)", utc(2026, 5, 1, 0, 0, 1), utc(2026, 5, 4))
    assert times == [utc(2026, 5, 2), utc(2026, 5, 3), utc(2026, 5, 4)]


@pytest.mark.parametrize(
    ("expression", "step"),
    [
        ("rate(1 minute)", timedelta(minutes=1)),
        ("rate(1 minutes)", timedelta(minutes=1)),
        ("rate(2 hours)", timedelta(hours=2)),
        ("rate(3 days)", timedelta(days=3)),
    ],
)
def test_rate_units(expression: str, step: timedelta) -> None:
    after = utc(2026, 5, 1, 10, 17, 3)
    times = fires(expression, after, after + 10 * step)
    assert len(times) == 10
    assert after < times[0] <= after + step
    assert all(b - a == step for a, b in itertools.pairwise(times))


def test_rate_window_boundaries() -> None:
    # exactly on a fire time: excluded as `after`, included as `until`
    times = fires("rate(1 hour)", utc(2026, 5, 1, 12), utc(2026, 5, 1, 13))
    assert times == [utc(2026, 5, 1, 13)]


# ---- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expression",
    [
        "cron(0 0 15W * ? *)",  # W
        "cron(0 0 LW * ? *)",
        "cron(0 0 ? * 2#1 *)",  # nth weekday
        "cron(0 0 ? * 6L *)",  # last weekday
        "cron(0 0 ? * L *)",
        "cron(0 0 1 * MON *)",  # both day-of-month and day-of-week
        "cron(0 0 * * * *)",
        "cron(0 0 L * 2 *)",
        "cron(0 0 * * ?)",  # five fields
        "cron(0 0 * * ? * *)",  # seven fields
        "cron()",
        "cron(60 0 * * ? *)",  # out of range
        "cron(0 24 * * ? *)",
        "cron(0 0 0 * ? *)",
        "cron(0 0 32 * ? *)",
        "cron(0 0 * 0 ? *)",
        "cron(0 0 * 13 ? *)",
        "cron(0 0 ? * 0 *)",
        "cron(0 0 ? * 8 *)",
        "cron(0 0 1 1 ? 1969)",
        "cron(0 0 1 1 ? 2200)",
        "cron(0 0-24 * * ? *)",
        "cron(0/0 0 * * ? *)",  # step 0
        "cron(0/-1 0 * * ? *)",
        "cron(a b c d e f)",  # garbage
        "cron(? 0 * * ? *)",
        "cron(0 0 * FOO ? *)",
        "cron(0 0 ? * FUNDAY *)",
        "cron(-1 0 * * ? *)",
        "cron(0 0 * * ? *",  # unbalanced
        "every hour",
        "",
        "rate(1 fortnight)",
        "rate(1 week)",
        "rate()",
        "rate(-1 hours)",
        "rate(1.5 hours)",
        "rate(hours)",
        "rate(1hour)",
    ],
)
def test_refused(expression: str) -> None:
    with pytest.raises(ScheduleExpressionError):
        fires(expression, utc(2026, 1, 1), utc(2026, 1, 2))


@pytest.mark.parametrize("dow", ["WED", "MON-WED", "WED,FRI"])
def test_wednesday_by_name(dow: str) -> None:
    window = (utc(2026, 1, 4), utc(2026, 1, 11))  # Sunday .. Saturday
    assert fires(f"cron(0 9 ? * {dow} *)", *window) == fires(
        f"cron(0 9 ? * {dow.replace('MON', '2').replace('WED', '4').replace('FRI', '6')} *)",
        *window,
    )


def test_list_mixing_value_and_step() -> None:
    times = fires("cron(5,0/15 3 * * ? *)", utc(2026, 5, 1), utc(2026, 5, 2))
    assert [t.minute for t in times] == [0, 5, 15, 30, 45]


@pytest.mark.parametrize("minute", ["1,,2", "1,", ",1"])
def test_empty_list_item_is_refused(minute: str) -> None:
    with pytest.raises(ScheduleExpressionError):
        fires(f"cron({minute} 0 * * ? *)", utc(2026, 1, 1), utc(2026, 1, 2))


@pytest.mark.parametrize("minute", ["0/x", "*/", "²"])
def test_garbage_numbers_raise_schedule_expression_error(minute: str) -> None:
    with pytest.raises(ScheduleExpressionError):
        fires(f"cron({minute} 0 * * ? *)", utc(2026, 1, 1), utc(2026, 1, 2))


def test_rate_zero_is_refused() -> None:
    with pytest.raises(ScheduleExpressionError):
        fires("rate(0 minutes)", utc(2026, 1, 1), utc(2026, 1, 2))


@pytest.mark.parametrize("expression", ["cron(30-10 * * * ? *)", "cron(0 9 ? * FRI-MON *)"])
def test_reversed_range_is_refused_or_wraps(expression: str) -> None:
    try:
        times = fires(expression, utc(2026, 1, 4), utc(2026, 1, 11))
    except ScheduleExpressionError:
        return
    assert times


# ---- property tests ------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    text: str
    values: frozenset[int] | None  # None: any


def field_strategy(
    low: int,
    high: int,
    names: dict[int, str] | None = None,
    *,
    drawn: tuple[int, int] | None = None,
) -> st.SearchStrategy[Field]:
    """A cron field: '*', one step form, or a list of values/ranges; with its value set.

    ``low``/``high`` are the field's bounds (what '*' means); values are drawn from ``drawn``
    (a sub-range, to keep years near the test windows).
    """

    def render(value: int, use_name: bool) -> str:
        return names[value] if names and use_name and value in names else str(value)

    value = st.integers(*(drawn or (low, high)))
    single = st.builds(lambda v, n: (render(v, n), {v}), value, st.booleans())
    ranged = st.tuples(value, value, st.booleans()).map(
        lambda t: (
            f"{render(min(t[0], t[1]), t[2])}-{render(max(t[0], t[1]), t[2])}",
            set(range(min(t[0], t[1]), max(t[0], t[1]) + 1)),
        )
    )
    listed = st.lists(st.one_of(single, ranged), min_size=1, max_size=4).map(
        lambda items: Field(
            ",".join(text for text, _ in items),
            frozenset().union(*(values for _, values in items)),
        )
    )
    step = st.integers(1, high - low + 1)
    stepped = st.one_of(
        st.builds(lambda s: Field(f"*/{s}", frozenset(range(low, high + 1, s))), step),
        st.builds(lambda v, s: Field(f"{v}/{s}", frozenset(range(v, high + 1, s))), value, step),
        st.builds(
            lambda a, b, s: Field(
                f"{min(a, b)}-{max(a, b)}/{s}", frozenset(range(min(a, b), max(a, b) + 1, s))
            ),
            value,
            value,
            step,
        ),
    )
    return st.one_of(st.just(Field("*", None)), listed, stepped)


# WED is left out of the names: see test_wednesday_by_name.
WEEKDAY_NAMES = {1: "SUN", 2: "MON", 3: "TUE", 5: "THU", 6: "FRI", 7: "SAT"}
MONTH_NAMES = {
    i: n
    for i, n in enumerate(
        ["", "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    )
    if n
}


@dataclass(frozen=True)
class CronSpec:
    minute: Field
    hour: Field
    dom: Field | None  # None: '?'
    last_day: bool
    month: Field
    dow: Field | None  # None: '?'
    year: Field

    @property
    def expression(self) -> str:
        dom = "L" if self.last_day else ("?" if self.dom is None else self.dom.text)
        dow = "?" if self.dow is None else self.dow.text
        fields = [self.minute.text, self.hour.text, dom, self.month.text, dow, self.year.text]
        return f"cron({' '.join(fields)})"

    def matches(self, moment: datetime) -> bool:
        def within(field: Field | None, value: int) -> bool:
            return field is None or field.values is None or value in field.values

        day = moment.date()
        if self.last_day and not is_last_day_of_month(day):
            return False
        return (
            within(self.minute, moment.minute)
            and within(self.hour, moment.hour)
            and within(self.dom, day.day)
            and within(self.month, day.month)
            and within(self.dow, aws_weekday(day))
            and within(self.year, day.year)
        )


@st.composite
def cron_specs(draw: st.DrawFn, *, small_time_fields: bool = False) -> CronSpec:
    if small_time_fields:
        minute = draw(field_strategy(0, 59).filter(lambda f: f.values is not None))
        hour = draw(field_strategy(0, 23).filter(lambda f: f.values is not None))
        assume(len(minute.values or ()) * len(hour.values or ()) <= 8)
    else:
        minute = draw(field_strategy(0, 59))
        hour = draw(field_strategy(0, 23))
    day_kind = draw(st.sampled_from(["dom", "last", "dow", "neither"]))
    dom = draw(field_strategy(1, 31)) if day_kind == "dom" else None
    dow = draw(field_strategy(1, 7, WEEKDAY_NAMES)) if day_kind == "dow" else None
    month = draw(field_strategy(1, 12, MONTH_NAMES))
    year = draw(field_strategy(1970, 2199, drawn=(2019, 2032)))
    return CronSpec(minute, hour, dom, day_kind == "last", month, dow, year)


instants = st.datetimes(
    min_value=datetime(2020, 1, 1),  # noqa: DTZ001 - the bound of a UTC strategy
    max_value=datetime(2030, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
)


def expected_minutes(spec: CronSpec, after: datetime, until: datetime) -> list[datetime]:
    moment = after.replace(second=0, microsecond=0)
    found = []
    while moment <= until:
        if moment > after and spec.matches(moment):
            found.append(moment)
        moment += MINUTE
    return found


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(
    spec=cron_specs(),
    after=instants,
    length=st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=50)),
)
def test_cron_fire_times_are_exactly_the_matching_minutes(
    spec: CronSpec, after: datetime, length: timedelta
) -> None:
    until = after + length
    times = fires(spec.expression, after, until)
    assert all(after < t <= until for t in times)
    assert all(a < b for a, b in itertools.pairwise(times))
    assert all(t.second == 0 and t.microsecond == 0 and t.tzinfo == UTC for t in times)
    assert all(spec.matches(t) for t in times)
    assert times == expected_minutes(spec, after, until)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(
    spec=cron_specs(small_time_fields=True),
    after=instants,
    length=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=800)),
)
def test_cron_over_long_windows_matches_day_by_day(
    spec: CronSpec, after: datetime, length: timedelta
) -> None:
    until = after + length
    times = fires(spec.expression, after, until)
    expected = []
    day = after.date()
    while day <= until.date():
        for hour in sorted(spec.hour.values or ()):
            for minute in sorted(spec.minute.values or ()):
                moment = datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
                if after < moment <= until and spec.matches(moment):
                    expected.append(moment)
        day += timedelta(days=1)
    assert times == expected


expressions = st.one_of(
    cron_specs().map(lambda spec: spec.expression),
    st.builds(
        lambda n, unit: f"rate({n} {unit})",
        st.integers(1, 90),
        st.sampled_from(["minute", "minutes", "hour", "hours", "day", "days"]),
    ),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(
    expression=expressions,
    after=instants,
    first=st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=40)),
    second=st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=40)),
)
def test_splitting_a_window_neither_doubles_nor_loses_a_fire(
    expression: str, after: datetime, first: timedelta, second: timedelta
) -> None:
    middle = after + first
    until = middle + second
    whole = fires(expression, after, until)
    assert fires(expression, after, middle) + fires(expression, middle, until) == whole
    assert all(after < t <= until for t in whole)
    assert len(set(whole)) == len(whole)


@settings(max_examples=40, deadline=None)
@given(
    expression=expressions,
    after=instants,
    cuts=st.lists(
        st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=6)),
        min_size=1,
        max_size=8,
    ),
)
def test_moving_the_clock_in_many_steps_fires_each_time_once(
    expression: str, after: datetime, cuts: list[timedelta]
) -> None:
    """What the business clock does: fire (previous, new] at each move."""
    moments = [after]
    for cut in cuts:
        moments.append(moments[-1] + cut)
    stepwise = [t for a, b in itertools.pairwise(moments) for t in fires(expression, a, b)]
    assert stepwise == fires(expression, moments[0], moments[-1])


def test_the_longest_gap_is_what_a_missed_run_alarm_must_watch():
    assert longest_gap("cron(5 * * * ? *)") == timedelta(hours=1)
    assert longest_gap("rate(90 minutes)") == timedelta(minutes=90)
    assert longest_gap("cron(0 0 ? * MON *)") == timedelta(days=7)
    assert longest_gap("cron(0 15 L * ? *)") == timedelta(days=31)
    assert longest_gap("cron(0 0 1 1 ? 2026)") is None  # fires once
