"""The follow-up policy of unanswered consents (pure, no AWS): the shipped file, files that
are refused, which reminder is due on which day, a missed stretch, the expiry, and the next
action a list shows."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from monosub.consent import follow_up
from monosub.errors import ValidationFailed

POLICY = follow_up.policy_from_json(
    json.dumps({"version": 1, "reminders": [{"days": 3}, {"days": 7}], "expire_after_days": 14})
)
# 2026-11-02 18:00 in Tokyo: the evening of the 2nd (09:00 UTC)
SENT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
LINK = SENT + timedelta(days=14)


def run_at(day: date, hour_utc: int = 0) -> datetime:
    """The daily run's instant on a Tokyo date (09:00 Tokyo = 00:00 UTC)."""
    return datetime(day.year, day.month, day.day, hour_utc, 0, tzinfo=UTC)


def walk(start: date, end: date, *, link_expires_at: datetime = LINK) -> dict[date, str]:
    """What a daily run does each day, recording the reminders it sends, as the store does."""
    reminded = 0
    done: dict[date, str] = {}
    day = start
    while day <= end:
        step = follow_up.due(
            POLICY,
            sent_at=SENT,
            link_expires_at=link_expires_at,
            reminded_days=reminded,
            now=run_at(day),
        )
        if step.kind == "remind":
            assert step.level is not None
            reminded = step.level.days
            done[day] = f"remind {step.level.days}"
        elif step.kind == "expire":
            done[day] = "expire"
            break
        day += timedelta(days=1)
    return done


def test_the_shipped_policy_loads_and_holds_together():
    policy = follow_up.load_policy()
    assert policy.version >= 1
    assert [level.days for level in policy.reminders] == [3, 7]
    assert policy.expire_after_days == 14
    assert all(level.days < policy.expire_after_days for level in policy.reminders)


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"reminders": [{"days": 7}, {"days": 3}]}, None, "reminder days must increase"),
        ({"reminders": [{"days": 3}, {"days": 3}]}, None, "reminder days must increase"),
        ({"reminders": [{"days": 14}]}, None, "on or after the expiry"),
        ({"reminders": [{"days": 0}]}, "reminders.0.days", "greater than or equal to 1"),
        ({"expire_after_days": 91}, "expire_after_days", "less than or equal to 90"),
        ({"expire_after_days": "two weeks"}, "expire_after_days", "valid integer"),
        ({"reminders": [{"days": 3, "mail": "x"}]}, "reminders.0.mail", "Extra inputs"),
        ({"version": 0}, "version", "greater than or equal to 1"),
    ],
)
def test_a_policy_that_does_not_hold_together_is_refused_with_a_clear_message(change, field, words):
    text = json.dumps(
        {"version": 1, "reminders": [{"days": 3}, {"days": 7}], "expire_after_days": 14, **change}
    )
    with pytest.raises(ValidationFailed) as refused:
        follow_up.policy_from_json(text)
    assert refused.value.message.startswith("the consent follow-up policy is refused: ")
    assert words in refused.value.message
    assert refused.value.details
    assert any(d["field"] == field for d in refused.value.details), refused.value.details


def test_a_file_that_is_not_json_is_refused(tmp_path: Path):
    broken = tmp_path / "policy.json"
    broken.write_text('{"version": 1, "reminders": [')
    with pytest.raises(ValidationFailed, match="the consent follow-up policy is refused"):
        follow_up.load_policy(broken)


def test_age_counts_tokyo_calendar_days():
    # sent 18:00 on 11/2 in Tokyo; 11/3 00:30 in Tokyo is already a day later
    assert follow_up.age_in_days(SENT, datetime(2026, 11, 2, 14, 59, tzinfo=UTC)) == 0
    assert follow_up.age_in_days(SENT, datetime(2026, 11, 2, 15, 30, tzinfo=UTC)) == 1
    assert follow_up.age_in_days(SENT, run_at(date(2026, 11, 5))) == 3
    assert follow_up.age_in_days(SENT, SENT - timedelta(hours=1)) == 0


def test_day_by_day_each_level_once_on_its_day_then_the_expiry():
    done = walk(date(2026, 11, 2), date(2026, 12, 31))
    assert done == {
        date(2026, 11, 5): "remind 3",
        date(2026, 11, 9): "remind 7",
        # the link works until 18:00 on 11/16: the 09:00 run of the 17th expires it
        date(2026, 11, 17): "expire",
    }


def test_a_missed_stretch_sends_only_the_latest_level():
    # the runs of 11/3 to 11/9 did not happen: one reminder (level 7), level 3 skipped
    step = follow_up.due(
        POLICY, sent_at=SENT, link_expires_at=LINK, reminded_days=0, now=run_at(date(2026, 11, 10))
    )
    assert step.kind == "remind" and step.level == follow_up.ReminderLevel(days=7)
    assert step.skipped == (follow_up.ReminderLevel(days=3),)
    # and nothing more the next day
    after = follow_up.due(
        POLICY, sent_at=SENT, link_expires_at=LINK, reminded_days=7, now=run_at(date(2026, 11, 11))
    )
    assert after.kind == "wait"


def test_a_rerun_after_a_level_was_recorded_sends_nothing():
    for reminded in (3, 7):
        day = date(2026, 11, 2) + timedelta(days=reminded)
        step = follow_up.due(
            POLICY, sent_at=SENT, link_expires_at=LINK, reminded_days=reminded, now=run_at(day)
        )
        assert step.kind == "wait"


def test_nothing_is_reminded_after_the_expiry_and_a_short_link_expires_first():
    short = SENT + timedelta(days=2)  # a quote valid two more days: the link ends with it
    done = walk(date(2026, 11, 2), date(2026, 12, 31), link_expires_at=short)
    assert done == {date(2026, 11, 5): "expire"}  # 11/4 18:00 was the end; no reminder


def test_a_link_longer_than_m_days_expires_after_m_days():
    # a link issued before M was lowered to 14: the consent expires at 14 days anyway
    long_link = SENT + timedelta(days=30)
    assert follow_up.expires_at(POLICY, SENT, long_link) == SENT + timedelta(days=14)
    done = walk(date(2026, 11, 2), date(2026, 12, 31), link_expires_at=long_link)
    assert done[date(2026, 11, 17)] == "expire"


def test_links_are_issued_for_at_most_m_days():
    assert follow_up.link_lifetime(POLICY, timedelta(days=30)) == timedelta(days=14)
    assert follow_up.link_lifetime(POLICY, timedelta(days=5)) == timedelta(days=5)


def test_the_next_action_is_the_next_reminder_then_the_expiry():
    def action(reminded: int, link: datetime = LINK) -> follow_up.NextAction:
        return follow_up.next_action(
            POLICY, sent_at=SENT, link_expires_at=link, reminded_days=reminded
        )

    assert action(0) == follow_up.NextAction("reminder", date(2026, 11, 5), level_days=3)
    assert action(3) == follow_up.NextAction("reminder", date(2026, 11, 9), level_days=7)
    assert action(7) == follow_up.NextAction("expiry", date(2026, 11, 16), at=LINK)
    short = SENT + timedelta(days=4)  # the day-7 reminder would come after the link ended
    assert action(3, short) == follow_up.NextAction("expiry", date(2026, 11, 6), at=short)
    assert action(7).as_json() == {
        "kind": "expiry",
        "on": "2026-11-16",
        "at": "2026-11-16T09:00:00Z",
        "level_days": None,
    }
