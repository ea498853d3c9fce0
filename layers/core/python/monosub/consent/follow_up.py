"""Following up a consent nobody answered (pure): when its reminders are due and when it
expires. ``docs/consent.md`` ("Unsigned contracts: reminders and expiry") describes it for
people.

**The policy** (``monosub/data/consent_follow_up.json``, ``FollowUpPolicy``) lists reminder
levels, each after a number of days since the link was sent, and ``expire_after_days`` (M).
Changing when customers are reminded is a change of data, not of code; a policy that does not
hold together (days out of order, a reminder on or after the expiry) is refused when it is
read, with a message naming the field.

**Days** are counted by the Tokyo calendar of the business clock: a link sent on 11/2 at
18:00 is 3 days old from 11/5 00:00 (Asia/Tokyo), whatever the hour of the daily run.

**Expiry**: a consent expires at the earlier of its link's own ``expires_at`` and M days after
it was sent (``expires_at``). Links are issued for at most M days (``link_lifetime``), so for
them the two are the same instant and the 回答期限 in the email holds; the second bound only
matters for a link issued before M was lowered.

**Which reminder is due** (``due``): each level is sent once per consent; the consent records
the days of the latest level sent (``reminded_days``). Of the levels whose day has come, the
latest is sent if it was not yet; earlier ones not sent are skipped (a run that missed days
sends one reminder, not a burst). Nothing is reminded once the consent has expired: then it
is expired instead.

Pure: no AWS; ``now`` is the caller's (``monosub.clock.now()``), never read here.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from monosub import clock
from monosub.errors import refused

POLICY = Path(__file__).resolve().parent.parent / "data" / "consent_follow_up.json"
MAX_EXPIRY_DAYS = 90  # the longest a consent link may be issued for (service.LONGEST_EXPIRY)


class ReminderLevel(BaseModel):
    """A reminder with the same link, ``days`` after the link was sent."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    days: int = Field(ge=1, le=MAX_EXPIRY_DAYS - 1, description="Days since the link was sent")


class FollowUpPolicy(BaseModel):
    """When a consent nobody answered is reminded, and when it expires."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    version: int = Field(ge=1, description="Raised on every change of the file")
    comment: str = Field(default="", description="Why the days are what they are")
    reminders: tuple[ReminderLevel, ...] = Field(max_length=10)
    expire_after_days: int = Field(
        ge=1, le=MAX_EXPIRY_DAYS, description="M: no link outlives this many days"
    )

    @model_validator(mode="after")
    def holds_together(self) -> FollowUpPolicy:
        for before, after in itertools.pairwise(self.reminders):
            if after.days <= before.days:
                raise ValueError(
                    f"reminder days must increase: {after.days} comes after {before.days}"
                )
        late = [level.days for level in self.reminders if level.days >= self.expire_after_days]
        if late:
            raise ValueError(
                f"a reminder after {late[0]} days comes on or after the expiry "
                f"(expire_after_days {self.expire_after_days})"
            )
        return self

    @property
    def expire_after(self) -> timedelta:
        return timedelta(days=self.expire_after_days)


def policy_from_json(text: str | bytes) -> FollowUpPolicy:
    """The policy in ``text``; ``ValidationFailed`` (one detail per problem: field and
    message) when it is not JSON or does not hold together."""
    try:
        return FollowUpPolicy.model_validate_json(text)
    except ValidationError as error:
        raise refused(error, "the consent follow-up policy") from error


@functools.cache
def load_policy(path: Path = POLICY) -> FollowUpPolicy:
    """The policy in ``path`` (default: the one shipped with the code), read once per
    process: a changed file takes effect with the next deployment."""
    return policy_from_json(path.read_bytes())


# ---- days and instants ------------------------------------------------------------------------


def sent_on(sent_at: datetime) -> date:
    """The Tokyo date a link was sent on."""
    return sent_at.astimezone(clock.TOKYO).date()


def age_in_days(sent_at: datetime, now: datetime) -> int:
    """Whole days since the link was sent, by the Tokyo calendar (0 on the day itself)."""
    return max(0, (now.astimezone(clock.TOKYO).date() - sent_on(sent_at)).days)


def link_lifetime(policy: FollowUpPolicy, requested: timedelta) -> timedelta:
    """How long a new link works: what the asking feature wanted, at most M days."""
    return min(requested, policy.expire_after)


def expires_at(policy: FollowUpPolicy, sent_at: datetime, link_expires_at: datetime) -> datetime:
    """When a consent expires: its link's expiry, or M days after it was sent if earlier."""
    return min(link_expires_at, sent_at + policy.expire_after)


# ---- what is due ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """What the daily run does for one pending consent now."""

    kind: Literal["remind", "expire", "wait"]
    level: ReminderLevel | None = None  # remind: the level sent
    skipped: tuple[ReminderLevel, ...] = ()  # remind: earlier levels never sent (missed runs)


def due(
    policy: FollowUpPolicy,
    *,
    sent_at: datetime,
    link_expires_at: datetime,
    reminded_days: int,
    now: datetime,
) -> Step:
    """The step for a pending consent sent at ``sent_at`` whose latest reminder sent was the
    level of ``reminded_days`` (0: none)."""
    if now >= expires_at(policy, sent_at, link_expires_at):
        return Step("expire")
    age = age_in_days(sent_at, now)
    come = [level for level in policy.reminders if level.days <= age]
    if not come or come[-1].days <= reminded_days:
        return Step("wait")
    skipped = tuple(level for level in come[:-1] if level.days > reminded_days)
    return Step("remind", come[-1], skipped)


@dataclass(frozen=True)
class NextAction:
    """What happens next to a pending consent, as the list shows it: a reminder on a date
    (the daily run of that day sends it), or the expiry at an instant."""

    kind: Literal["reminder", "expiry"]
    on: date  # the Tokyo date
    at: datetime | None = None  # expiry: the instant
    level_days: int | None = None  # reminder: its level

    def as_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "on": self.on.isoformat(),
            "at": clock.iso(self.at) if self.at else None,
            "level_days": self.level_days,
        }


def next_action(
    policy: FollowUpPolicy, *, sent_at: datetime, link_expires_at: datetime, reminded_days: int
) -> NextAction:
    """The next reminder not sent yet whose day comes before the expiry, else the expiry."""
    expiry = expires_at(policy, sent_at, link_expires_at)
    expiry_on = expiry.astimezone(clock.TOKYO).date()
    for level in policy.reminders:
        on = sent_on(sent_at) + timedelta(days=level.days)
        if level.days > reminded_days and on < expiry_on:
            return NextAction("reminder", on, level_days=level.days)
    return NextAction("expiry", expiry_on, at=expiry)
