"""Unanswered consents on the embedded storage, run in process: ``GET /consents`` (its age,
reminders and next action; who sees which), the daily follow-up's reminders (once per level,
the same link, a missed stretch, a rerun, a failed email), answers and new requests taking a
consent off the list, and the expiry (the page, the exception raised once, ``resend`` and
``reject``). The same through the real schedule and a real quote:
``test_consent_follow_up_flow.py``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from monosub import clock, config, email
from monosub.consent import service
from monosub.services import consent_follow_up, exceptions
from monosub.store import consents as consent_store
from monosub.store import exceptions as exception_store
from tests.conftest import set_clock
from tests.integration.test_agency_api import AGENCY_A, CORPORATE, OPS, REGIONAL
from tests.integration.test_consent_access import REGIONAL_AND_AGENCY_A, quote_consent
from tests.integration.test_consent_api import ask, call, sent_mail

SENT = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)  # 10:00 on 11/2 in Tokyo (test_consent_api.NOW)


def at_run(days: int) -> str:
    """09:00 in Tokyo (after the day's run), ``days`` after the 11/2 the consents were sent."""
    return clock.iso(datetime(2026, 11, 2, 0, 0, tzinfo=UTC) + timedelta(days=days))


@pytest.fixture
def env(api: Any, aws_storage: Any, published: Any) -> dict[str, str]:
    set_clock(aws_storage, clock.iso(SENT))
    environment: dict[str, str] = api.environment
    return environment


@pytest.fixture
def run_env(aws_storage: Any) -> dict[str, str]:
    """The consent-follow-up function's own environment (what its declaration grants)."""
    from functions import manifest

    return manifest.function("consent-follow-up").environment(aws_storage)


def follow_up(
    names: Any, run_env: dict[str, str], days: int, mailer: email.Mailer | None = None
) -> dict[str, int]:
    """The daily run ``days`` after sending, in the follow-up function's environment."""
    set_clock(names, at_run(days))
    with config.function_environment(run_env):
        clock.begin_invocation()
        return consent_follow_up.run(mailer=mailer)


def pending(env: dict[str, str], who: dict[str, str] = OPS, **query: str) -> list[dict[str, Any]]:
    response = _get(env, "/consents", who, {"status": "pending", **query})
    assert response.status == 200, response
    consents: list[dict[str, Any]] = response.json()["consents"]
    return consents


def _get(env: dict[str, str], path: str, who: dict[str, str], query: dict[str, str]) -> Any:
    from functions.api import app
    from tests.conftest import ApiResponse, FakeContext, proxy_event

    with config.function_environment(env):
        return ApiResponse(
            app.handler(proxy_event("GET", path, query=query, **who), FakeContext("api"))
        )


def reminders(published: list[Any]) -> list[dict[str, Any]]:
    return [detail for _, kind, detail in published if kind == service.REMINDED]


def stored(env: dict[str, str], consent_id: str) -> Any:
    with config.function_environment(env):
        return consent_store.get(consent_id)


def consent_exceptions(env: dict[str, str]) -> list[Any]:
    with config.function_environment(env):
        return [
            record
            for status in ("open", "resolved", "rejected")
            for record in exception_store.listed(status, kind=consent_follow_up.KIND, limit=100)
        ]


# ---- the list and who sees it ------------------------------------------------------------------


def test_the_pending_list_shows_age_reminders_and_next_action(env, aws_storage, run_env):
    request, _ = ask(env)
    set_clock(aws_storage, at_run(2))
    [row] = pending(env)
    assert row["consent_id"] == request.consent_id
    assert row["status"] == "pending"
    assert row["subject"]["kind"] == "quote" and row["subject"]["id"] == "q_1"
    assert row["subject"]["deal_id"] == "deal_1" and row["subject"]["account_id"] == "acc_1"
    assert row["recipient"] == {"name": "山田 花子", "email": "hanako@example.jp"}
    assert row["sent_at"] == "2026-11-02T01:00:00Z"
    assert row["expires_at"] == "2026-11-16T01:00:00Z"
    assert row["age_days"] == 2
    assert row["reminders_sent"] == 0
    assert row["next_action"] == {
        "kind": "reminder",
        "on": "2026-11-05",
        "at": None,
        "level_days": 3,
    }
    follow_up(aws_storage, run_env, 3)
    [row] = pending(env)
    assert (row["age_days"], row["reminders_sent"]) == (3, 1)
    assert row["next_action"]["on"] == "2026-11-09"


def test_each_caller_lists_only_the_consents_of_records_it_may_see(env):
    asked = {
        "residential": quote_consent(env, segment="residential"),
        "corporate": quote_consent(env, segment="corporate"),
        "agency-a": quote_consent(env, segment="corporate", agency_id="agency-a"),
        "agency-b": quote_consent(env, segment="residential", agency_id="agency-b"),
    }
    expected = {
        "ops": set(asked),
        "corporate": {"corporate", "agency-a"},  # never a residential customer's
        "regional": {"residential", "agency-b"},
        "agency-a": {"agency-a"},  # its own only
        "mixed": {"residential", "agency-b", "agency-a"},
    }
    callers = {
        "ops": OPS,
        "corporate": CORPORATE,
        "regional": REGIONAL,
        "agency-a": AGENCY_A,
        "mixed": REGIONAL_AND_AGENCY_A,
    }
    names = {consent_id: name for name, consent_id in asked.items()}
    for caller, who in callers.items():
        listed = pending(env, who)
        assert {names[row["consent_id"]] for row in listed} == expected[caller], caller
        assert len(listed) == len(expected[caller]), caller  # each consent once
    [row] = pending(env, AGENCY_A)
    assert row["subject"]["number"] and row["subject"]["customer_name"]
    assert row["agency_id"] == "agency-a"


def test_the_list_is_paged_with_the_next_token(env):
    asked = [quote_consent(env, segment=s) for s in ("residential", "corporate", "corporate")]
    seen: list[str] = []
    token: str | None = None
    while True:
        query = {"status": "pending", "limit": "1", **({"next": token} if token else {})}
        page = _get(env, "/consents", OPS, query).json()
        seen += [row["consent_id"] for row in page["consents"]]
        token = page["next"]
        if token is None:
            break
    assert sorted(seen) == sorted(asked)
    forged = _get(env, "/consents", OPS, {"next": "bm90LWEtcG9zaXRpb24"})
    assert forged.status == 400 and forged.json()["details"][0]["field"] == "next"
    refused = _get(env, "/consents", OPS, {"status": "agreed"})
    assert refused.status == 400 and refused.json()["details"][0]["field"] == "query.status"


def test_answers_new_requests_and_withdrawals_take_a_consent_off_the_list(env):
    first, token = ask(env, "q_1")
    second, _ = ask(env, "q_2")
    assert {row["consent_id"] for row in pending(env)} == {first.consent_id, second.consent_id}
    agreed = call(env, "POST", f"/consent/{token}", {"decision": "agree"})
    assert agreed.status == 200
    assert [row["consent_id"] for row in pending(env)] == [second.consent_id]
    newer, _ = ask(env, "q_2")  # a new request supersedes the pending one
    assert [row["consent_id"] for row in pending(env)] == [newer.consent_id]
    with config.function_environment(env):
        service.withdraw("quote", "q_2", reason="revised", by="sato")
    assert pending(env) == []


# ---- reminders -------------------------------------------------------------------------------


def test_a_reminder_per_level_with_the_same_link_and_never_twice(
    env, aws_storage, run_env, published
):
    request, token = ask(env)
    assert follow_up(aws_storage, run_env, 2) == {"waiting": 1}
    assert len(sent_mail()) == 1
    assert follow_up(aws_storage, run_env, 3) == {"reminded": 1}
    reminder = sent_mail()[-1]
    assert reminder.subject == "【再送・ご確認のお願い】お見積り内容のご確認"
    assert reminder.destinations["ToAddresses"] == ["hanako@example.jp"]
    assert f"/consent/{token}" in reminder.body  # the same link
    assert "回答期限" in reminder.body and "2026年11月16日 10:00" in reminder.body
    assert call(env, "GET", f"/consent/{token}").status == 200  # and it still works
    # a rerun the same day, and the next days' runs, send nothing more
    for days in (3, 3, 4, 5, 6):
        assert follow_up(aws_storage, run_env, days) == {"waiting": 1}
    with config.function_environment(run_env):  # a concurrent run that read it before
        assert service.remind(request.consent_id, 3) == "reminded before"
    assert len(sent_mail()) == 2
    assert follow_up(aws_storage, run_env, 7) == {"reminded": 1}
    assert follow_up(aws_storage, run_env, 7) == {"waiting": 1}
    assert len(sent_mail()) == 3 and f"/consent/{token}" in sent_mail()[-1].body
    consent = stored(env, request.consent_id)
    assert (consent.reminded_days, consent.reminders_sent) == (7, 2)
    assert [(r["level_days"], r["reminders_sent"]) for r in reminders(published)] == [
        (3, 1),
        (7, 2),
    ]
    assert reminders(published)[0]["consent_id"] == request.consent_id
    assert reminders(published)[0]["deal_id"] == "deal_1"  # filed under the deal too


def test_a_missed_stretch_sends_only_the_latest_level(env, aws_storage, run_env, published):
    ask(env)
    assert follow_up(aws_storage, run_env, 9) == {"reminded": 1}
    assert follow_up(aws_storage, run_env, 10) == {"waiting": 1}
    assert len(sent_mail()) == 2  # the request and one reminder, not two
    [detail] = reminders(published)
    assert (detail["level_days"], detail["skipped_levels"]) == (7, [3])


def test_a_reminder_that_could_not_be_sent_is_tried_again_the_next_day(env, aws_storage, run_env):
    class Down:
        def send(self, message: email.Email) -> str:
            raise RuntimeError("SES is down")

    request, _ = ask(env)
    with pytest.raises(consent_follow_up.FollowUpFailed, match="1 consent"):
        follow_up(aws_storage, run_env, 3, mailer=Down())
    consent = stored(env, request.consent_id)
    assert (consent.reminded_days, consent.reminders_sent) == (0, 0)
    assert pending(env)[0]["reminders_sent"] == 0
    assert follow_up(aws_storage, run_env, 4) == {"reminded": 1}
    assert len(sent_mail()) == 2


# ---- expiry ----------------------------------------------------------------------------------


def test_an_unanswered_consent_expires_once_into_the_exceptions_queue(
    env, aws_storage, run_env, published
):
    request, token = ask(env)
    assert follow_up(aws_storage, run_env, 7) == {"reminded": 1}
    assert follow_up(aws_storage, run_env, 14) == {"waiting": 1}  # valid until 10:00 today
    assert follow_up(aws_storage, run_env, 15) == {"expired": 1}
    assert follow_up(aws_storage, run_env, 15) == {}  # a rerun: nothing pending
    assert follow_up(aws_storage, run_env, 16) == {}
    consent = stored(env, request.consent_id)
    assert consent.status == "expired" and consent.expired_at == at_run(15)
    page = call(env, "GET", f"/consent/{token}")
    assert page.status == 410 and "有効期限" in page.text
    answer = call(env, "POST", f"/consent/{token}", {"decision": "agree"})
    assert answer.status == 410 and stored(env, request.consent_id).answer is None
    assert pending(env) == []
    [expired] = _get(env, "/consents", OPS, {"status": "expired"}).json()["consents"]
    assert expired["consent_id"] == request.consent_id
    assert (expired["status"], expired["expired_at"], expired["next_action"]) == (
        "expired",
        at_run(15),
        None,
    )
    view = _get(env, f"/consents/{request.consent_id}", OPS, {}).json()
    assert view["status"] == "expired" and view["stored_status"] == "expired"

    [raised] = consent_exceptions(env)
    assert raised.reference == request.consent_id and raised.channel == "consent"
    assert raised.account_id == "acc_1"
    assert raised.actions == ["reject", "resend"]
    assert raised.original["recipient"] == {"name": "山田 花子", "email": "hanako@example.jp"}
    assert raised.original["sent_at"] == "2026-11-02T01:00:00Z"
    assert raised.original["subject"]["id"] == "q_1"
    kinds = [kind for _, kind, _ in published]
    assert kinds.count(service.EXPIRED) == 1 and kinds.count("ExceptionRaised") == 1


def test_resend_asks_again_with_a_new_pending_link(env, aws_storage, run_env):
    # a subject no feature sends itself: the same document again (a quote: the flow test)
    request, token = ask(env, references={"account_id": "acc_1"}, subject_kind="contract")
    follow_up(aws_storage, run_env, 15)
    [raised] = consent_exceptions(env)
    decision = {"action": "resend", "version": raised.version, "note": "お客様から依頼"}
    resolved = _post(env, f"/exceptions/{raised.exception_id}/resolve", decision)
    assert resolved.status == 200, resolved
    new_id = resolved.json()["resolution"]["consent_id"]
    assert new_id != request.consent_id
    assert resolved.json()["resolution"]["replaces"] == request.consent_id
    [row] = pending(env)
    assert row["consent_id"] == new_id and row["age_days"] == 0
    message = sent_mail()[-1]
    assert "/consent/" in message.body and token not in message.body
    assert call(env, "GET", f"/consent/{token}").status == 410  # the old link stays expired
    again = _post(env, f"/exceptions/{raised.exception_id}/resolve", decision)
    assert again.status == 409  # resolved once
    assert len(consent_exceptions(env)) == 1


def test_reject_closes_the_case_and_sends_nothing(env, aws_storage, run_env):
    request, _ = ask(env)
    follow_up(aws_storage, run_env, 15)
    [raised] = consent_exceptions(env)
    mails = len(sent_mail())
    decision = {"action": "reject", "version": raised.version, "note": "営業が電話で確認"}
    assert _post(env, f"/exceptions/{raised.exception_id}/resolve", decision).status == 200
    assert len(sent_mail()) == mails
    assert stored(env, request.consent_id).status == "expired"
    assert pending(env) == []
    assert [e.status for e in consent_exceptions(env)] == ["rejected"]


def test_an_answer_after_the_exception_was_raised_wins_and_closes_it(env, aws_storage, run_env):
    # A link that outlives M (asked before M was lowered): answered between the exception
    # and the mark. The answer stands and the exception is closed.
    request, token = ask(env)
    set_clock(aws_storage, at_run(15))
    with config.function_environment(run_env):
        clock.begin_invocation()
        current = consent_store.get(request.consent_id)
    original_expire = service.expire

    def answered_first(consent: Any, **kwargs: Any) -> bool:
        with config.function_environment(env):
            assert consent_store.record_answer(_answer(current.consent_id))
        return original_expire(consent, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(service, "expire", answered_first)
        assert follow_up(aws_storage, run_env, 15) == {"answered meanwhile": 1}
    assert stored(env, request.consent_id).status == "agreed"
    assert [e.status for e in consent_exceptions(env)] == ["rejected"]
    assert token


def _answer(consent_id: str) -> Any:
    from monosub.consent.models import Answer

    return Answer(
        decision="agree",
        answered_at="2026-11-01T00:00:00Z",  # before the link's expiry: the condition holds
        consent_id=consent_id,
        token_sha256="0" * 64,
        document_sha256="0" * 64,
        document_version=1,
        template_version=1,
    )


def _post(env: dict[str, str], path: str, body: dict[str, Any]) -> Any:
    from functions.api import app
    from tests.conftest import ApiResponse, FakeContext, proxy_event

    with config.function_environment(env):
        clock.begin_invocation()
        return ApiResponse(app.handler(proxy_event("POST", path, body, **OPS), FakeContext("api")))


def test_exceptions_are_registered_for_the_resend_action():
    exceptions._load_actions()
    assert consent_follow_up.RESEND in exceptions._ACTIONS[consent_follow_up.KIND]
