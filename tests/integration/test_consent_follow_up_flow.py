"""Unsigned contracts on the embedded AWS, through the real schedule: two quotes sent for
consent; the business clock walks the days and the ``consent-follow-up`` function's 08:30
run sends one reminder per level with the same link (a rerun nothing); one customer agrees
and leaves the list; the other never answers, and at 14 days the consent expires (the page
says so), the deal is in the exceptions queue once, and ``resend`` sends the same quote
version again with a new link that the quote acts on."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from local.ops_page import subject_of
from local.runtime import EmbeddedAWS
from monosub.documents import pdf_rendering_available
from monosub.services import consent_follow_up
from tests.sales_flow import Calls, a_deal, priced_cloud, sent_mail, token_of, trail

pytestmark = pytest.mark.skipif(
    pdf_rendering_available() is not None, reason=str(pdf_rendering_available())
)
RULE = ("consent-follow-up",)


@pytest.fixture
def cloud() -> Iterator[EmbeddedAWS]:
    # Tuesday 11/24, 10:00 in Tokyo
    with priced_cloud(datetime(2026, 11, 24, 1, 0, tzinfo=UTC)) as embedded:
        yield embedded


@pytest.fixture
def call(cloud: EmbeddedAWS) -> Calls:
    return Calls(cloud)


def sent_quote(call: Calls) -> tuple[dict[str, Any], str]:
    """A deal quoted and sent: the quote and the token of its consent email."""
    deal = a_deal(call)
    quote = call("POST", f"/deals/{deal['deal_id']}/quotes", {}).json()
    sent = call("POST", f"/quotes/{quote['quote_id']}/send", {"version": 1})
    assert sent.status == 200, sent
    return sent.json(), token_of(sent_mail()[-1])


def day(cloud: EmbeddedAWS, month: int, date: int) -> None:
    """The business clock to 09:30 in Tokyo of that day: its follow-up run has fired."""
    cloud.set_clock(datetime(2026, month, date, 0, 30, tzinfo=UTC), only=RULE)
    cloud.wait_for_executions()


def reminders_to(token: str, since: int) -> list[Any]:
    return [
        m
        for m in sent_mail()[since:]
        if subject_of(m).startswith("【再送") and f"/consent/{token}" in m.body
    ]


def pending(call: Calls, **who: Any) -> dict[str, dict[str, Any]]:
    response = call("GET", "/consents", query={"status": "pending"}, **who)
    assert response.status == 200, response
    return {row["consent_id"]: row for row in response.json()["consents"]}


def test_reminders_then_an_answer_or_the_back_office(cloud: EmbeddedAWS, call: Calls):
    agreeing, agreeing_token = sent_quote(call)
    silent, silent_token = sent_quote(call)
    listed = pending(call, groups="ops")
    assert set(listed) == {agreeing["consent_id"], silent["consent_id"]}
    row = listed[silent["consent_id"]]
    assert row["subject"]["number"] == silent["number"]
    assert row["subject"]["deal_id"] == silent["deal_id"]
    assert row["subject"]["customer_name"] == "株式会社みなと物流"
    assert (row["age_days"], row["reminders_sent"]) == (0, 0)

    walk_the_reminders(cloud, call, (agreeing_token, silent_token), silent["consent_id"])

    # one customer agrees (from the reminder's link): the quote is accepted, off the list
    page = call("GET", f"/consent/{agreeing_token}", groups=None)
    document = page.text.split('name="document" value="')[1][:64]
    agreed = call.form(f"/consent/{agreeing_token}", {"decision": "agree", "document": document})
    assert agreed.status == 200
    cloud.wait_for_executions()
    assert call("GET", f"/quotes/{agreeing['quote_id']}").json()["status"] == "accepted"
    assert set(pending(call, groups="ops")) == {silent["consent_id"]}

    exception = expire_the_silent_one(cloud, call, silent, silent_token)
    resend(cloud, call, exception, silent, silent_token)


def walk_the_reminders(
    cloud: EmbeddedAWS, call: Calls, tokens: tuple[str, str], consent_id: str
) -> None:
    """Day by day from the sending: one reminder per level for each, with its own link."""
    mails = len(sent_mail())
    day(cloud, 11, 26)  # 2 days: nothing yet
    assert len(sent_mail()) == mails
    day(cloud, 11, 27)  # 3 days: one reminder each, with the same link
    for token in tokens:
        assert len(reminders_to(token, mails)) == 1
    assert len(sent_mail()) == mails + 2
    with cloud.as_function("consent-follow-up"):  # the day's run again
        assert consent_follow_up.run() == {"waiting": 2}
    assert len(sent_mail()) == mails + 2
    day(cloud, 11, 30)
    assert len(sent_mail()) == mails + 2
    day(cloud, 12, 1)  # 7 days: the second level
    for token in tokens:
        assert len(reminders_to(token, mails)) == 2
    assert len(sent_mail()) == mails + 4
    assert pending(call, groups="ops")[consent_id]["reminders_sent"] == 2


def expire_the_silent_one(
    cloud: EmbeddedAWS, call: Calls, silent: dict[str, Any], token: str
) -> dict[str, Any]:
    """Valid until 10:00 on 12/8: the run of the 9th expires it, the next raises nothing."""
    day(cloud, 12, 8)
    assert set(pending(call, groups="ops")) == {silent["consent_id"]}
    day(cloud, 12, 9)
    assert pending(call, groups="ops") == {}
    expired_page = call("GET", f"/consent/{token}", groups=None)
    assert expired_page.status == 410 and "有効期限" in expired_page.text
    expired = call("GET", "/consents", query={"status": "expired"}, groups="ops").json()
    assert [row["consent_id"] for row in expired["consents"]] == [silent["consent_id"]]
    day(cloud, 12, 10)  # the next day's run: nothing raised twice
    raised = call("GET", "/exceptions", query={"kind": "consent-expired"}, groups="ops").json()
    [exception] = raised["exceptions"]
    assert exception["reference"] == silent["consent_id"]
    assert exception["account_id"] == silent["account_id"]
    assert exception["original"]["subject"]["number"] == silent["number"]
    assert int(exception["original"]["reminders_sent"]) == 2  # (numbers come back as text)
    types = [entry["type"] for entry in trail(cloud, "deal", silent["deal_id"])]
    assert types.count("ConsentReminded") == 2 and types.count("ConsentExpired") == 1
    exception_record: dict[str, Any] = exception
    return exception_record


def resend(
    cloud: EmbeddedAWS, call: Calls, exception: dict[str, Any], silent: dict[str, Any], token: str
) -> None:
    """The back office sends the same version again: a new pending link the quote acts on."""
    mails = len(sent_mail())
    resolved = call(
        "POST",
        f"/exceptions/{exception['exception_id']}/resolve",
        {"action": "resend", "version": exception["version"], "note": "お客様から再送の依頼"},
        groups="ops",
    )
    assert resolved.status == 200, resolved
    new_consent = resolved.json()["resolution"]["consent_id"]
    [message] = sent_mail()[mails:]
    new_token = token_of(message)
    assert new_token != token and new_token.startswith(new_consent)
    quote = call("GET", f"/quotes/{silent['quote_id']}").json()
    assert (quote["consent_id"], quote["version"], quote["status"]) == (new_consent, 1, "sent")
    assert set(pending(call, groups="ops")) == {new_consent}
    assert call("GET", f"/consent/{new_token}", groups=None).status == 200
    assert call("GET", f"/consent/{token}", groups=None).status == 410
