"""Consent without a login, through the real API handler on the embedded storage: the email
with its link, the page, the answer and its evidence, the events, and every link that
cannot be used (answered, superseded, expired, tampered)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest

from monosub import clock, config, events
from monosub.consent import service
from monosub.consent.models import ConsentRequest
from monosub.store import consents as consents_store
from tests.conftest import ApiResponse, FakeContext, proxy_event, set_clock
from tests.unit.test_consent_document import document, line

NOW = "2026-11-02T01:00:00Z"  # 10:00 in Tokyo
EXPIRY = "2026-11-16T01:00:00Z"  # 14 days later
LINK_BASE = "https://consent.example.jp"
IP = "203.0.113.7"
UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Mobile/15E148 Safari/604.1"


@pytest.fixture
def log() -> Iterator[list[logging.LogRecord]]:
    """What the functions log (Powertools' logger does not propagate to the root)."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("monosub")
    handler, level = Keep(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)  # as on AWS (the test process runs quieter)
    yield records
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.fixture
def env(api: Any, aws_storage: Any, published: list[Any]) -> dict[str, str]:
    set_clock(aws_storage, NOW)
    environment: dict[str, str] = api.environment
    return environment


def sent_mail() -> list[Any]:
    from moto.ses.models import ses_backends

    return list(ses_backends["123456789012"]["ap-northeast-1"].sent_messages)


def ask(
    environment: dict[str, str], subject_id: str = "q_1", version: int = 1, **changes: Any
) -> tuple[ConsentRequest, str]:
    """Request consent as the quotes feature will; return it and the token from the email."""
    arguments: dict[str, Any] = {
        "subject_kind": "quote",
        "subject_id": subject_id,
        "subject_version": version,
        "recipient_email": "hanako@example.jp",
        "recipient_name": "山田 花子",
        "document": document(),
        "requested_by": "sato",
        "link_base": LINK_BASE,
        "references": {"deal_id": "deal_1", "account_id": "acc_1"},
    }
    with config.function_environment(environment):
        clock.begin_invocation()
        request = service.request_consent(**(arguments | changes))
    message = sent_mail()[-1]
    tokens = re.findall(r'<a href="[^"]+/consent/([^"]+)"', message.body)
    assert tokens and len(set(tokens)) == 1, "the email links to one consent page"
    return request, tokens[0]


def call(
    environment: dict[str, str],
    method: str,
    path: str,
    form: dict[str, str] | None = None,
    *,
    groups: str | None = None,
    ip: str = IP,
    user_agent: str = UA,
) -> ApiResponse:
    """One request as API Gateway sends it, with the caller's IP and browser."""
    from functions.api import app

    headers = {"User-Agent": user_agent}
    if form is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    body = urlencode(form) if form is not None else None
    event = proxy_event(method, path, body, groups=groups, headers=headers)
    event["requestContext"]["identity"] = {"sourceIp": ip, "userAgent": user_agent}
    with config.function_environment(environment):
        return ApiResponse(app.handler(event, FakeContext("api")))


def stored(environment: dict[str, str], consent_id: str) -> Any:
    with config.function_environment(environment):
        return consents_store.get(consent_id)


def answers(published: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(kind, detail) for _, kind, detail in published if kind != service.REQUESTED]


def article(page: str) -> str:
    (html,) = re.findall(
        r'<article class="document card" id="document">.*?</article>\n', page, re.S
    )
    return str(html)


# ---- the happy path ------------------------------------------------------------------------


def test_the_email_links_to_a_page_that_shows_the_document(env, published):
    request, token = ask(env)

    (message,) = sent_mail()
    assert message.destinations["ToAddresses"] == ["hanako@example.jp"]
    assert message.subject == "【ご確認のお願い】お見積り内容のご確認"
    assert "山田 花子 様" in message.body
    assert (request.status, request.expires_at, request.supersedes) == ("pending", EXPIRY, None)
    assert request.email_message_id == stored(env, request.consent_id).email_message_id
    (requested,) = published
    assert requested[:2] == ("monosub.consent", "ConsentRequested")
    assert requested[2]["quote_id"] == "q_1" and requested[2]["deal_id"] == "deal_1"
    assert token not in json.dumps(requested[2])  # the link goes to the customer only

    page = call(env, "GET", f"/consent/{token}")
    assert page.status == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["X-Robots-Tag"].startswith("noindex")
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")
    for text in ("見守りカメラ MS-100", "36,000円", "−6,000円", "30,000円", "3,600円/月"):
        assert text in page.text, text
    assert "上記の内容に同意する" in page.text and "同意しない" in page.text
    # The page shows exactly the HTML that was hashed when consent was requested.
    shown = article(page.text)
    assert service.render.sha256_hex(shown) == request.document_sha256
    assert stored(env, request.consent_id).status == "pending"


def test_agreeing_keeps_the_evidence_publishes_consent_given_and_only_once(env, published):
    request, token = ask(env)
    set_clock(env_names(env), "2026-11-03T05:30:00Z")

    agreed = call(
        env, "POST", f"/consent/{token}", {"decision": "agree", "document": request.document_sha256}
    )
    assert agreed.status == 200
    assert "同意を受け付けました" in agreed.text and "2026年11月3日 14:30" in agreed.text

    consent = stored(env, request.consent_id)
    assert consent.status == "agreed" and consent.answer_published is True
    evidence = consent.answer
    assert evidence.model_dump() == {
        "decision": "agree",
        "answered_at": "2026-11-03T05:30:00Z",
        "consent_id": request.consent_id,
        "token_sha256": service.tokens.fingerprint(token),
        "document_sha256": request.document_sha256,
        "document_version": 1,
        "template_version": service.render.TEMPLATE_VERSION,
        "ip": IP,
        "user_agent": UA,
        "reason": None,
        "reason_truncated": False,
    }
    ((kind, detail),) = answers(published)
    assert kind == "ConsentGiven"
    assert detail["consent_id"] == request.consent_id
    assert (detail["subject_kind"], detail["subject_id"], detail["subject_version"]) == (
        "quote",
        "q_1",
        1,
    )
    assert detail["quote_id"] == "q_1" and detail["deal_id"] == "deal_1"
    assert detail["evidence"]["document_sha256"] == request.document_sha256
    assert detail["evidence"]["answered_at"] == "2026-11-03T05:30:00Z"
    assert detail["evidence"]["ip"] == IP

    # A double click: the second POST finds it answered and changes nothing.
    again = call(env, "POST", f"/consent/{token}", {"decision": "agree"}, ip="198.51.100.1")
    assert again.status == 409
    assert "ご回答済みです" in again.text and "「同意する」" in again.text
    later_decline = call(env, "POST", f"/consent/{token}", {"decision": "decline"})
    assert later_decline.status == 409
    assert stored(env, request.consent_id).answer == evidence
    assert len(answers(published)) == 1
    reopened = call(env, "GET", f"/consent/{token}")
    assert reopened.status == 409 and "ご回答済みです" in reopened.text

    staff = call(env, "GET", f"/consents/{request.consent_id}", groups="sales")
    assert staff.status == 200
    view = staff.json()
    assert view["status"] == "agreed" and view["answer"] == evidence.model_dump()
    assert [a["reason"] for a in view["refused_attempts"]] == ["answered"] * 3
    assert view["refused_attempts"][0]["ip"] == "198.51.100.1"


def test_when_two_answers_race_the_conditional_write_keeps_the_first(env, published, monkeypatch):
    request, token = ask(env)
    pending = stored(env, request.consent_id)
    # The other tab's decline lands between this request's read and its write.
    decline = pending.model_copy()
    with config.function_environment(env):
        clock.begin_invocation()
        first = service.answer_consent(
            token, "decline", service.Visit("POST", "192.0.2.9", "other tab")
        )
    assert first.outcome == "declined"
    reads = iter([pending])
    real_get = consents_store.get
    monkeypatch.setattr(consents_store, "get", lambda cid: next(reads, None) or real_get(cid))

    racing = call(env, "POST", f"/consent/{token}", {"decision": "agree"})

    assert racing.status == 409 and "「同意しない」" in racing.text
    consent = stored(env, request.consent_id)
    assert consent.status == "declined" and consent.answer.ip == "192.0.2.9"
    assert [kind for kind, _ in answers(published)] == ["ConsentDeclined"]
    assert decline.status == "pending"


def test_declining_with_a_reason(env, published):
    request, token = ask(env)
    reason = "数量を2台に変更したいです。\n開始は来月希望です。"

    declined = call(env, "POST", f"/consent/{token}", {"decision": "decline", "reason": reason})

    assert declined.status == 200
    assert (
        "ご回答を受け付けました" in declined.text and "数量を2台に変更したいです。" in declined.text
    )
    consent = stored(env, request.consent_id)
    assert consent.status == "declined"
    assert consent.answer.reason == reason and consent.answer.ip == IP
    ((kind, detail),) = answers(published)
    assert kind == "ConsentDeclined" and detail["reason"] == reason
    assert call(env, "POST", f"/consent/{token}", {"decision": "agree"}).status == 409
    assert stored(env, request.consent_id).status == "declined"


def test_an_agreement_keeps_no_reason_and_a_long_reason_is_cut_and_marked(env, published):
    _, token = ask(env, subject_id="q_a")
    call(env, "POST", f"/consent/{token}", {"decision": "agree", "reason": "x"})
    request, token = ask(env, subject_id="q_b")
    call(env, "POST", f"/consent/{token}", {"decision": "decline", "reason": "長" * 1500})
    answer = stored(env, request.consent_id).answer
    assert answer.reason == "長" * 1000 and answer.reason_truncated is True
    given = [d for k, d in answers(published) if k == "ConsentGiven"]
    assert "reason" not in given[0]


# ---- links that cannot be used -------------------------------------------------------------


def test_a_newer_request_supersedes_the_older_link(env, published):
    first, old_token = ask(env, version=1)
    second, new_token = ask(
        env, version=2, document=document(lines=(line(discount=7000, discounted_price=29000),))
    )
    assert second.supersedes == first.consent_id
    assert published[-1][2]["supersedes"] == first.consent_id

    old_page = call(env, "GET", f"/consent/{old_token}")
    assert old_page.status == 410 and "新しいご案内をお送りしています" in old_page.text
    old_answer = call(env, "POST", f"/consent/{old_token}", {"decision": "agree"})
    assert old_answer.status == 410

    old = stored(env, first.consent_id)
    assert (old.status, old.superseded_by, old.answer) == ("superseded", second.consent_id, None)
    assert answers(published) == []
    new_page = call(env, "GET", f"/consent/{new_token}")
    assert new_page.status == 200 and "29,000円" in new_page.text
    with config.function_environment(env):
        history = [c.consent_id for c in service.consents_for("quote", "q_1")]
    assert history == [second.consent_id, first.consent_id]


def test_an_answered_request_is_not_superseded_by_a_later_one(env, published):
    first, token = ask(env)
    call(env, "POST", f"/consent/{token}", {"decision": "agree"})
    second, _ = ask(env, version=2)
    assert second.supersedes is None
    assert stored(env, first.consent_id).status == "agreed"


def test_an_expired_link_changes_nothing(env, published, aws_storage):
    request, token = ask(env)

    set_clock(aws_storage, "2026-11-16T00:59:59Z")
    assert call(env, "GET", f"/consent/{token}").status == 200

    set_clock(aws_storage, EXPIRY)
    page = call(env, "GET", f"/consent/{token}")
    assert page.status == 410
    assert "有効期限が切れています" in page.text and "2026年11月16日 10:00" in page.text
    assert call(env, "POST", f"/consent/{token}", {"decision": "agree"}).status == 410

    consent = stored(env, request.consent_id)
    assert consent.status == "pending" and consent.answer is None
    assert answers(published) == []
    view = call(env, "GET", f"/consents/{request.consent_id}", groups="ops").json()
    assert (view["status"], view["stored_status"]) == ("expired", "pending")
    assert [a["reason"] for a in view["refused_attempts"]] == ["expired", "expired"]


def test_a_tampered_link_gets_a_clear_page_is_recorded_and_logged(env, published, log):
    request, token = ask(env)
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")

    page = call(env, "GET", f"/consent/{flipped}")
    answer = call(env, "POST", f"/consent/{flipped}", {"decision": "agree"})

    assert page.status == answer.status == 400
    assert "リンクが正しくありません" in page.text
    assert "株式会社" not in page.text  # a bad link learns nothing about any customer
    assert stored(env, request.consent_id).status == "pending"
    assert answers(published) == []
    with config.function_environment(env):
        refused = list(consents_store.refusals_on("2026-11-02"))
    assert [(r.reason, r.method, r.ip) for r in refused] == [
        ("tampered", "GET", IP),
        ("tampered", "POST", IP),
    ]
    assert refused[0].token_sha256 == service.tokens.fingerprint(flipped)
    refusals = [r for r in log if r.getMessage() == "consent link refused"]
    assert [(r.levelname, r.reason, r.method) for r in refusals] == [  # type: ignore[attr-defined]
        ("WARNING", "tampered", "GET"),
        ("WARNING", "tampered", "POST"),
    ]
    for record in log:  # the token itself is never logged, only its fingerprint
        assert flipped not in json.dumps(record.__dict__, default=str)


def test_the_signature_is_checked_before_anything_is_read(env, monkeypatch):
    _, token = ask(env)

    def no_reads(*_: Any) -> None:
        raise AssertionError("read before the signature was verified")

    monkeypatch.setattr(consents_store, "get", no_reads)
    for bad in ("cns_" + "a" * 26 + ".1796000000." + "A" * 43, token + "x", "garbage"):
        assert call(env, "GET", f"/consent/{bad}").status == 400
        assert call(env, "POST", f"/consent/{bad}", {"decision": "agree"}).status == 400


def test_a_form_without_a_decision_or_for_another_document_changes_nothing(env, published):
    request, token = ask(env)
    assert call(env, "POST", f"/consent/{token}", {"decision": "maybe"}).status == 400
    assert call(env, "POST", f"/consent/{token}", {}).status == 400
    changed = call(env, "POST", f"/consent/{token}", {"decision": "agree", "document": "0" * 64})
    assert changed.status == 409 and "内容が最新ではありません" in changed.text
    assert stored(env, request.consent_id).status == "pending"
    assert answers(published) == []


def test_a_failed_publication_keeps_the_answer_and_the_next_visit_publishes(env, monkeypatch):
    request, token = ask(env)
    delivered: list[str] = []

    class FlakyBus:
        failures = 1

        def publish(self, source: str, detail_type: str, detail: Any) -> None:
            if detail_type == "ConsentGiven" and self.failures:
                self.failures -= 1
                raise RuntimeError("EventBridge unavailable")
            delivered.append(detail_type)

    monkeypatch.setattr(events, "default_publisher", FlakyBus())

    agreed = call(env, "POST", f"/consent/{token}", {"decision": "agree"})
    assert agreed.status == 200  # the customer's agreement is kept either way
    assert stored(env, request.consent_id).answer_published is False
    assert delivered == []

    assert call(env, "GET", f"/consent/{token}").status == 409
    assert delivered == ["ConsentGiven"]
    assert stored(env, request.consent_id).answer_published is True
    call(env, "GET", f"/consent/{token}")
    assert delivered == ["ConsentGiven"]


# ---- staff ---------------------------------------------------------------------------------


def test_staff_read_status_and_evidence_customers_cannot(env, published):
    request, token = ask(env)
    view = call(env, "GET", f"/consents/{request.consent_id}", groups="sales").json()
    assert view["status"] == "pending" and view["answer"] is None
    assert view["recipient_email"] == "hanako@example.jp"
    assert view["document_sha256"] == request.document_sha256
    assert service.render.sha256_hex(view["document_html"]) == request.document_sha256
    assert view["totals"][0] == {
        "billing": "one_time",
        "list_price": 36000,
        "discount": 6000,
        "discounted_price": 30000,
    }
    assert token not in json.dumps(view)

    assert call(env, "GET", f"/consents/{request.consent_id}").status == 401
    assert call(env, "GET", f"/consents/{request.consent_id}", groups="customer").status == 403
    missing = call(env, "GET", f"/consents/cns_{'a' * 26}", groups="sales")
    assert missing.status == 404 and missing.json()["error"] == "not_found"
    assert call(env, "GET", "/consents/whatever", groups="sales").status == 404


# ---- asking --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"subject_kind": "Quote#1"},
        {"subject_id": "q#1"},
        {"subject_version": 0},
        {"recipient_email": "not-an-address"},
        {"recipient_name": " "},
        {"link_base": "http://consent.example.jp"},
        {"link_base": "https://consent.example.jp/?x=1"},
        {"expires_in": service.timedelta(minutes=5)},
        {"expires_in": service.timedelta(days=91)},
    ],
)
def test_a_request_that_cannot_be_sent_is_refused_before_anything_is_stored(env, changes):
    from monosub.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        ask(env, **changes)
    assert sent_mail() == []


def test_a_local_server_may_use_http(env):
    request, _ = ask(env, link_base="http://127.0.0.1:8787/")
    assert request.status == "pending"
    assert 'href="http://127.0.0.1:8787/consent/cns_' in sent_mail()[-1].body


def test_the_link_base_of_an_api_request():
    event = {
        "headers": {"Host": "abc123.execute-api.ap-northeast-1.amazonaws.com"},
        "requestContext": {"stage": "dev"},
    }
    assert service.link_base_from_event(event) == (
        "https://abc123.execute-api.ap-northeast-1.amazonaws.com/dev"
    )
    local = {"headers": {"host": "127.0.0.1:8787", "X-Forwarded-Proto": "http"}}
    assert service.link_base_from_event(local) == "http://127.0.0.1:8787"


def env_names(environment: dict[str, str]) -> Any:
    """The clock parameter of this set-up, as ``set_clock`` wants it."""

    class Names:
        clock_parameter = environment[config.CLOCK_PARAMETER_ENV]

    return Names()
