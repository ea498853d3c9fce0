"""The business clock: the one source of "now" for every handler and domain function.

On AWS in ``prod`` it is the wall clock and nothing can override it. In other stages (and in
the embedded runtime) a function may be given ``CLOCK_PARAMETER``, the name of an SSM
parameter holding an ISO-8601 instant; when that parameter has a value, that instant is
"now". It is read once per invocation (``begin_invocation`` clears the cache), so one
invocation sees one consistent time.
"""

from __future__ import annotations

from contextvars import ContextVar
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from monosub import aws, config

TOKYO = ZoneInfo("Asia/Tokyo")

_cached: ContextVar[datetime | None] = ContextVar("monosub_clock_cached", default=None)


class ClockOverrideRefused(RuntimeError):
    """A clock override was configured in prod."""


def begin_invocation() -> None:
    _cached.set(None)


def now() -> datetime:
    """The current instant, timezone-aware, in UTC."""
    cached = _cached.get()
    if cached is not None:
        return cached
    value = _read_override() or datetime.now(UTC)
    _cached.set(value)
    return value


def today() -> date:
    """Today's business date in Asia/Tokyo."""
    return now().astimezone(TOKYO).date()


def iso(moment: datetime) -> str:
    """An instant as stored: UTC, second precision, 'Z' suffix."""
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_iso() -> str:
    return iso(now())


def parse_instant(text: str) -> datetime:
    """Parse an ISO-8601 instant; a naive one is taken as Asia/Tokyo."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=TOKYO)
    return value.astimezone(UTC)


def _read_override() -> datetime | None:
    parameter = config.setting(config.CLOCK_PARAMETER_ENV)
    if not parameter:
        return None
    if config.stage() == "prod":
        raise ClockOverrideRefused("the business clock cannot be overridden in prod")
    ssm = aws.client("ssm")
    try:
        value = ssm.get_parameter(Name=parameter)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        return None
    if value in ("", "wall"):
        return None
    return parse_instant(value)


__all__ = [
    "TOKYO",
    "begin_invocation",
    "iso",
    "now",
    "now_iso",
    "parse_instant",
    "today",
]
