"""The business clock (``monosub.clock``), without AWS: the SSM read is replaced by fakes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monosub import aws, clock, config

TOKYO = clock.TOKYO


@pytest.fixture(autouse=True)
def fresh_invocation() -> Iterator[None]:
    clock.begin_invocation()
    yield
    clock.begin_invocation()


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Any AWS client request fails the test."""
    asked: list[str] = []

    def refuse(service: str) -> Any:
        asked.append(service)
        raise AssertionError(f"an AWS client ({service}) was requested")

    monkeypatch.setattr(aws, "client", refuse)
    return asked


class FakeSsm:
    class exceptions:
        class ParameterNotFound(Exception):
            pass

    def __init__(self, value: str | None) -> None:
        self.value = value
        self.calls: list[str] = []

    def get_parameter(self, Name: str) -> dict[str, Any]:
        self.calls.append(Name)
        if self.value is None:
            raise self.exceptions.ParameterNotFound(Name)
        return {"Parameter": {"Name": Name, "Value": self.value}}


def fake_ssm(monkeypatch: pytest.MonkeyPatch, value: str | None) -> FakeSsm:
    ssm = FakeSsm(value)

    def client(service: str) -> Any:
        assert service == "ssm"
        return ssm

    monkeypatch.setattr(aws, "client", client)
    return ssm


# ---- parse_instant / iso -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2026-04-01T00:00:00Z", datetime(2026, 4, 1, tzinfo=UTC)),
        ("2026-04-01T09:00:00+09:00", datetime(2026, 4, 1, tzinfo=UTC)),
        ("2026-03-31T19:00:00-05:00", datetime(2026, 4, 1, tzinfo=UTC)),
        ("2026-04-01T00:00:00+00:00", datetime(2026, 4, 1, tzinfo=UTC)),
        ("  2026-04-01T00:00:00Z\n", datetime(2026, 4, 1, tzinfo=UTC)),
        ("2026-04-01T00:00:00.250Z", datetime(2026, 4, 1, 0, 0, 0, 250_000, tzinfo=UTC)),
        # naive: Asia/Tokyo
        ("2026-04-01T09:00:00", datetime(2026, 4, 1, tzinfo=UTC)),
        ("2026-04-01T00:00:00", datetime(2026, 3, 31, 15, tzinfo=UTC)),
        ("2026-04-01", datetime(2026, 3, 31, 15, tzinfo=UTC)),
    ],
)
def test_parse_instant(text: str, instant: datetime) -> None:
    parsed = clock.parse_instant(text)
    assert parsed == instant
    assert parsed.utcoffset() == timedelta(0)
    assert parsed.tzinfo == UTC


@pytest.mark.parametrize("text", ["", "tomorrow", "2026-13-01T00:00:00Z", "wall"])
def test_parse_instant_refuses_garbage(text: str) -> None:
    with pytest.raises(ValueError):
        clock.parse_instant(text)


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2026, 4, 1, tzinfo=UTC), "2026-04-01T00:00:00Z"),
        (datetime(2026, 4, 1, 9, 0, 0, 999_999, tzinfo=TOKYO), "2026-04-01T00:00:00Z"),
        (datetime(2026, 12, 31, 23, 59, 59, 1, tzinfo=UTC), "2026-12-31T23:59:59Z"),
        (datetime(2027, 1, 1, 8, 30, tzinfo=TOKYO), "2026-12-31T23:30:00Z"),
        (datetime(2026, 6, 1, 12, tzinfo=timezone(timedelta(hours=-7))), "2026-06-01T19:00:00Z"),
    ],
)
def test_iso(moment: datetime, text: str) -> None:
    assert clock.iso(moment) == text


aware = st.datetimes(
    min_value=datetime(1971, 1, 1),  # noqa: DTZ001 - bounds of an aware strategy
    max_value=datetime(2199, 12, 31),  # noqa: DTZ001
    timezones=st.sampled_from([UTC, TOKYO, timezone(timedelta(hours=-11, minutes=-30))]),
)


@settings(max_examples=150, deadline=None)
@given(moment=aware)
def test_iso_and_parse_instant_round_trip(moment: datetime) -> None:
    text = clock.iso(moment)
    assert len(text) == 20 and text.endswith("Z") and text[10] == "T"
    parsed = clock.parse_instant(text)
    assert parsed == moment.replace(microsecond=0)
    assert clock.iso(parsed) == text


@settings(max_examples=150, deadline=None)
@given(moment=aware)
def test_naive_text_is_tokyo_time(moment: datetime) -> None:
    tokyo_wall = moment.astimezone(TOKYO).replace(tzinfo=None, microsecond=0)
    assert clock.parse_instant(tokyo_wall.isoformat()) == moment.replace(microsecond=0)


# ---- now / today with an override ----------------------------------------------------------


def test_today_is_the_tokyo_date(monkeypatch: pytest.MonkeyPatch) -> None:
    cases = [
        ("2026-11-30T15:30:00Z", date(2026, 12, 1)),
        ("2026-11-30T14:59:59Z", date(2026, 11, 30)),
        ("2026-11-30T15:00:00Z", date(2026, 12, 1)),
        ("2026-12-31T15:00:00Z", date(2027, 1, 1)),
        ("2026-01-01T08:59:59+09:00", date(2026, 1, 1)),
    ]
    for text, expected in cases:
        instant = clock.parse_instant(text)
        monkeypatch.setattr(clock, "_read_override", lambda instant=instant: instant)
        clock.begin_invocation()
        assert clock.now() == instant
        assert clock.today() == expected
        assert clock.now_iso() == clock.iso(instant)


@settings(max_examples=100, deadline=None)
@given(moment=aware)
def test_today_is_nine_hours_ahead_of_utc(moment: datetime) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(clock, "_read_override", lambda: moment)
        clock.begin_invocation()
        assert clock.today() == (moment.astimezone(UTC) + timedelta(hours=9)).date()
    clock.begin_invocation()


def test_now_is_read_once_per_invocation(monkeypatch: pytest.MonkeyPatch) -> None:
    ssm = fake_ssm(monkeypatch, "2026-05-01T10:00:00Z")
    with config.function_environment({"STAGE": "dev", "CLOCK_PARAMETER": "/monosub/clock"}):
        first = clock.now()
        ssm.value = "2026-05-01T11:00:00Z"
        assert clock.now() == first == datetime(2026, 5, 1, 10, tzinfo=UTC)
        assert ssm.calls == ["/monosub/clock"]
        clock.begin_invocation()
        assert clock.now() == datetime(2026, 5, 1, 11, tzinfo=UTC)
        assert ssm.calls == ["/monosub/clock", "/monosub/clock"]


def test_naive_override_value_is_tokyo_time(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_ssm(monkeypatch, "2026-12-01T00:30:00")
    with config.function_environment({"STAGE": "local", "CLOCK_PARAMETER": "/p"}):
        assert clock.now() == datetime(2026, 11, 30, 15, 30, tzinfo=UTC)
        assert clock.today() == date(2026, 12, 1)


@pytest.mark.parametrize("value", ["wall", "", None])
def test_wall_clock_when_the_override_is_unset(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    fake_ssm(monkeypatch, value)
    with config.function_environment({"STAGE": "dev", "CLOCK_PARAMETER": "/p"}):
        before = datetime.now(UTC)
        current = clock.now()
        after = datetime.now(UTC)
    assert before <= current <= after
    assert current.tzinfo is not None and current.utcoffset() == timedelta(0)


def test_wall_clock_without_a_parameter(no_aws: list[str]) -> None:
    with config.function_environment({"STAGE": "prod", "CLOCK_PARAMETER": ""}):
        before = datetime.now(UTC)
        current = clock.now()
        after = datetime.now(UTC)
    assert before <= current <= after
    assert no_aws == []


def test_prod_refuses_an_override_before_any_aws_call(no_aws: list[str]) -> None:
    with (
        config.function_environment({"STAGE": "prod", "CLOCK_PARAMETER": "/monosub/clock"}),
        pytest.raises(clock.ClockOverrideRefused),
    ):
        clock.now()
    assert no_aws == []
    clock.begin_invocation()
    with (
        config.function_environment({"STAGE": "prod", "CLOCK_PARAMETER": "/monosub/clock"}),
        pytest.raises(clock.ClockOverrideRefused),
    ):
        clock.today()
    assert no_aws == []


def test_prod_refusal_is_not_hidden_by_a_cached_value(
    monkeypatch: pytest.MonkeyPatch, no_aws: list[str]
) -> None:
    """A new invocation in prod with an override configured refuses again."""
    with config.function_environment({"STAGE": "prod", "CLOCK_PARAMETER": ""}):
        clock.now()
    clock.begin_invocation()
    with (
        config.function_environment({"STAGE": "prod", "CLOCK_PARAMETER": "/p"}),
        pytest.raises(clock.ClockOverrideRefused),
    ):
        clock.now()
    assert no_aws == []
