"""Contracts on moto (the tables, no functions) through the service and the real API handler:
made once per accepted quote, started, listed (by account, status, expiring), notice,
renewal, who sees what, and the renewal schedule's once-per-term guarantee.

The 契約書 PDF is stubbed here (``store_pdf`` records what it was asked); the real renderer
is exercised in ``test_contracts.py`` on the embedded AWS.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest

from monosub import clock, config
from monosub.documents import storage
from monosub.errors import Conflict, NotFound, ValidationFailed
from monosub.models.contracts import Contract
from monosub.services import contracts as service
from monosub.store import contracts as store
from monosub.store import runs
from tests.conftest import set_clock
from tests.priced_quotes import priced_quote, renewal_of

AGREED = "2026-11-10T03:00:00Z"  # 12:00 on 10 November in Tokyo


@pytest.fixture
def rendered(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, Any]]:
    """``store_pdf`` without the renderer function: what was asked, a made-up sha256."""
    asked: list[tuple[str, str, Any]] = []

    def fake_store_pdf(kind: str, document: Any, key: str) -> storage.StoredDocument:
        asked.append((kind, key, document))
        body = json.dumps(document.model_dump(mode="json"), sort_keys=True).encode()
        return storage.StoredDocument(key=key, sha256=hashlib.sha256(body).hexdigest(), size=9)

    monkeypatch.setattr(storage, "store_pdf", fake_store_pdf)
    return asked


@pytest.fixture
def call(api: Any, aws_storage: Any, rendered: Any, published: Any) -> Callable[..., Any]:
    """Run a service function as the API function would (its environment, a fresh clock)."""
    set_clock(aws_storage, AGREED)

    def run(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with config.function_environment(api.environment):
            clock.begin_invocation()
            return function(*args, **kwargs)

    return run


def at(aws_storage: Any, instant: str) -> None:
    set_clock(aws_storage, instant)


def contract_for(call, **quote_fields) -> Contract:
    quote = priced_quote(**quote_fields)
    return call(
        service.create_from_quote,
        quote,
        agreed_at=AGREED,
        consent_id="consent_test",
        document_sha256="ab" * 32,
    )


def started(call, start: str = "2026-11-20", **quote_fields) -> Contract:
    contract = contract_for(call, **quote_fields)
    return call(service.start, contract.contract_id, dt.date.fromisoformat(start), by="shipping")


def types(published) -> list[str]:
    return [detail_type for _, detail_type, _ in published]


def fields_of(response) -> set[str]:
    return {d["field"] for d in response.json()["details"]}


# ---- create ----------------------------------------------------------------------------------


def test_an_accepted_quote_makes_one_contract(call, rendered, published):
    quote = priced_quote(term_months=24, owner="suzuki", agency_id="agency-7")
    first = call(
        service.create_from_quote,
        quote,
        agreed_at=AGREED,
        consent_id="consent_1",
        document_sha256="ab" * 32,
    )
    again = call(
        service.create_from_quote,
        quote,
        agreed_at=AGREED,
        consent_id="consent_1",
        document_sha256="ab" * 32,
    )
    assert again == first
    assert first.contract_id == service.contract_id_for(quote.quote_id, 1)
    assert first.number == "C2026-000001"
    assert first.status == "pending_start"
    assert first.contract_date == dt.date(2026, 11, 10)
    assert (first.start_date, first.end_date, first.notice_date) == (None, None, None)
    assert (first.term_months, first.auto_renew, first.notice_days) == (24, True, 30)
    assert (first.owner, first.agency_id, first.segment) == ("suzuki", "agency-7", "corporate")
    assert first.lines == quote.lines and first.document == quote.document
    assert first.consent.model_dump() == {
        "consent_id": "consent_1",
        "document_sha256": "ab" * 32,
        "agreed_at": AGREED,
    }
    assert first.pdf_key == f"contracts/{first.contract_id}/v001.pdf"
    assert [t.number for t in first.terms] == [1]
    assert len(rendered) == 1  # the second call rendered nothing
    kind, key, document = rendered[0]
    assert (kind, key) == ("contract", first.pdf_key)
    assert document.number == "C2026-000001" and document.minimum_term_months == 24
    assert types(published) == ["ContractCreated"]
    source, _, detail = published[0]
    assert source == "monosub.contracts"
    assert detail["contract_id"] == first.contract_id and detail["number"] == first.number
    assert detail["monthly_total"] == quote.monthly_total


def test_numbers_count_up_per_year_and_each_quote_version_is_its_own_contract(call):
    quote = priced_quote()
    one = contract_for(call)
    two = call(
        service.create_from_quote,
        quote,
        agreed_at=AGREED,
        consent_id=None,
        document_sha256="cd" * 32,
    )
    three = call(
        service.create_from_quote,
        quote.model_copy(update={"version": 2}),
        agreed_at="2027-01-05T01:00:00Z",
        consent_id=None,
        document_sha256="cd" * 32,
    )
    assert [one.number, two.number, three.number] == [
        "C2026-000001",
        "C2026-000002",
        "C2027-000001",
    ]
    assert three.contract_id != two.contract_id


def test_a_retry_after_a_failed_render_keeps_the_number(call, rendered, monkeypatch):
    quote = priced_quote()

    def broken(kind, document, key):
        rendered.append((kind, key, document))
        raise storage.DocumentNotRendered("the renderer is down")

    with monkeypatch.context() as patched:
        patched.setattr(storage, "store_pdf", broken)
        with pytest.raises(storage.DocumentNotRendered):
            call(service.create_from_quote, quote, agreed_at=AGREED, consent_id=None,
                 document_sha256="ab" * 32)  # fmt: skip
    made = call(
        service.create_from_quote, quote, agreed_at=AGREED, consent_id=None, document_sha256="ab"
    )
    assert made.number == "C2026-000001"
    assert rendered[0][2] == rendered[1][2]  # the same document both times: the same bytes


def test_only_an_accepted_order_quote_makes_a_contract(call):
    with pytest.raises(Conflict, match="declined"):
        contract_for(call, status="declined")
    with pytest.raises(ValidationFailed):
        contract_for(call, purpose="renewal", contract_id="contract_x")


def test_the_contract_takes_the_payment_method_of_the_deal(api, call, rendered):
    submitted = api(
        "POST", "/leads", {"company": "株式会社フライク", "person_name": "大瀧 太郎",
                           "email": "ootaki@flyck.example.jp"}, groups=None,
    )  # fmt: skip
    converted = api("POST", f"/leads/{submitted.json()['lead_id']}/convert").json()
    deal_id = converted["deal_id"]
    changed = api("PATCH", f"/deals/{deal_id}", {"version": 1, "payment_method": "direct-debit"})
    assert changed.status == 200, changed
    contract = contract_for(call, deal_id=deal_id, account_id=converted["account_id"])
    assert contract.payment_method == "direct-debit"
    assert rendered[-1][2].payment_method == "口座振替"


# ---- start -----------------------------------------------------------------------------------


def test_starting_fixes_the_dates(call, published):
    contract = contract_for(call)
    published.clear()
    active = call(service.start, contract.contract_id, dt.date(2026, 11, 20), by="shipping")
    assert active.status == "active"
    assert (active.start_date, active.term_start, active.end_date, active.notice_date) == (
        dt.date(2026, 11, 20),
        dt.date(2026, 11, 20),
        dt.date(2027, 11, 19),
        dt.date(2027, 10, 20),
    )
    assert active.version == 2
    assert (active.terms[0].start_date, active.terms[0].end_date) == (
        dt.date(2026, 11, 20),
        dt.date(2027, 11, 19),
    )
    assert types(published) == ["ContractStarted"]
    assert published[0][2]["end_date"] == dt.date(2027, 11, 19)
    assert call(service.start, contract.contract_id, dt.date(2026, 11, 20), by="x") == active
    with pytest.raises(Conflict, match="active since 2026-11-20"):
        call(service.start, contract.contract_id, dt.date(2026, 11, 21), by="x")
    assert types(published) == ["ContractStarted"]


def test_a_contract_does_not_start_before_its_contract_date(call):
    contract = contract_for(call)
    with pytest.raises(ValidationFailed) as refused:
        call(service.start, contract.contract_id, dt.date(2026, 11, 9), by="shipping")
    assert refused.value.details[0]["field"] == "start_date"
    with pytest.raises(NotFound):
        call(service.start, "contract_nothere", dt.date(2026, 11, 20), by="shipping")


# ---- read and list through the API -----------------------------------------------------------


def test_a_contract_over_http(api, call):
    contract = started(call)
    response = api("GET", f"/contracts/{contract.contract_id}")
    assert response.status == 200, response
    body = response.json()
    assert body["number"] == contract.number and body["end_date"] == "2027-11-19"
    assert api("GET", "/contracts/contract_nothere").status == 404
    assert api("GET", "/contracts/nothing-like-an-id").status == 404
    assert api("GET", f"/contracts/{contract.contract_id}", groups="customer").status == 403


def test_contracts_by_account_and_status_are_paged(api, call, monkeypatch):
    from monosub.store import dynamo

    monkeypatch.setattr(dynamo, "BATCH_GET_LIMIT", 2)  # a page's contracts read in batches
    ids = []
    for _ in range(5):
        ids.append(contract_for(call, account_id="account_many").contract_id)
    other = contract_for(call, account_id="account_other")
    call(service.start, ids[0], dt.date(2026, 11, 20), by="shipping")
    listed, token = [], None
    while True:
        query = {"account_id": "account_many", "limit": "2"} | ({"next": token} if token else {})
        page = api("GET", "/contracts", query=query)
        assert page.status == 200, page
        listed += [c["contract_id"] for c in page.json()["contracts"]]
        token = page.json()["next"]
        if token is None:
            break
    assert sorted(listed) == sorted(ids) and len(listed) == 5
    pending = api("GET", "/contracts", query={"status": "pending_start", "limit": "100"}).json()
    assert {c["contract_id"] for c in pending["contracts"]} == {*ids[1:], other.contract_id}
    active = api("GET", "/contracts", query={"account_id": "account_many", "status": "active"})
    assert [c["contract_id"] for c in active.json()["contracts"]] == [ids[0]]


def test_listing_needs_a_filter_and_a_valid_token(api):
    refused = api("GET", "/contracts")
    assert refused.status == 400 and fields_of(refused) == {"account_id", "status"}
    assert fields_of(api("GET", "/contracts", query={"status": "open"})) == {"query.status"}
    forged = base64.urlsafe_b64encode(b"nonsense").decode()
    bad = api("GET", "/contracts", query={"status": "active", "next": forged})
    assert bad.status == 400 and fields_of(bad) == {"next"}


def test_the_expiring_contracts_dashboard(api, call, aws_storage):
    soon = started(call, "2026-11-20", term_months=1, company="株式会社すぐ")  # ends 12-19
    later = started(call, "2026-11-15", term_months=2)  # ends 2027-01-14
    far = started(call, "2026-11-20", term_months=12)  # ends 2027-11-19
    pending = contract_for(call)
    noticed = started(call, "2026-11-11", term_months=1)  # ends 12-10
    call(service.give_notice, noticed.contract_id, version=noticed.version, by="ops")
    at(aws_storage, "2026-11-30T15:00:00Z")  # 1 December in Tokyo
    response = api("GET", "/contracts/expiring")
    assert response.status == 200, response
    body = response.json()
    assert body["as_of"] == "2026-12-01" and body["within_days"] == 60
    rows = body["contracts"]
    assert [r["contract_id"] for r in rows] == [
        noticed.contract_id,
        soon.contract_id,
        later.contract_id,
    ]
    assert rows[1] == {
        "contract_id": soon.contract_id,
        "number": soon.number,
        "account_id": soon.account_id,
        "customer": "株式会社すぐ",
        "owner": "suzuki",
        "segment": "corporate",
        "agency_id": None,
        "end_date": "2026-12-19",
        "notice_date": "2026-11-19",
        "days_left": 18,
        "auto_renew": True,
        "notice_given": False,
        "renewal_requested": False,
        "monthly_amount": soon.monthly_total,
        "version": 2,
    }
    assert rows[0]["notice_given"] is True and rows[0]["auto_renew"] is False
    whole_year = api("GET", "/contracts/expiring", query={"within_days": "365"}).json()
    assert far.contract_id in [r["contract_id"] for r in whole_year["contracts"]]
    assert pending.contract_id not in [r["contract_id"] for r in whole_year["contracts"]]
    paged, token = [], None
    while True:
        query = {"within_days": "365", "limit": "1"} | ({"next": token} if token else {})
        page = api("GET", "/contracts/expiring", query=query).json()
        paged += [r["contract_id"] for r in page["contracts"]]
        token = page["next"]
        if token is None:
            break
    assert paged == [r["contract_id"] for r in whole_year["contracts"]]
    too_far = api("GET", "/contracts/expiring", query={"within_days": "366"})
    assert too_far.status == 400 and fields_of(too_far) == {"query.within_days"}


# ---- who sees what (the store applies the caller's limits) -----------------------------------


def test_segments_and_agencies_limit_every_read(call, aws_storage):
    shared = {"account_id": "account_shared", "term_months": 6}
    corporate = started(call, segment="corporate", **shared)
    residential = started(call, segment="residential", **shared)
    agency = started(call, segment="corporate", agency_id="agency-7", **shared)
    corporate_only = frozenset({"corporate"})

    def listed(**limits) -> set[str]:
        by_account = call(service.list_contracts, account_id="account_shared", **limits)
        by_status = call(service.list_contracts, status="active", **limits)
        expiring = call(service.list_expiring, within_days=365, **limits)
        found = {c.contract_id for c in by_account.contracts}
        assert found == {c.contract_id for c in by_status.contracts}
        assert found == {c.contract_id for c in expiring.contracts}
        return found

    everyone = {corporate.contract_id, residential.contract_id, agency.contract_id}
    assert listed() == everyone
    assert listed(segments=corporate_only) == {corporate.contract_id, agency.contract_id}
    assert listed(agency_id="agency-7") == {agency.contract_id}
    assert listed(segments=frozenset()) == set()
    assert listed(segments=frozenset({"residential"}), agency_id="agency-7") == set()
    with pytest.raises(NotFound):
        call(service.get_contract, residential.contract_id, segments=corporate_only)
    with pytest.raises(NotFound):
        call(service.get_contract, corporate.contract_id, agency_id="agency-7")
    with pytest.raises(NotFound):
        call(
            service.give_notice,
            residential.contract_id,
            version=2,
            by="manager",
            segments=corporate_only,
        )
    assert call(service.get_contract, agency.contract_id, agency_id="agency-7") == agency


def test_a_filtered_page_reads_past_what_the_caller_may_not_see(call, monkeypatch):
    monkeypatch.setattr(store, "_FILTERED_READ", 2)
    monkeypatch.setattr(store, "_FILTERED_REQUESTS", 2)
    for _ in range(5):
        contract_for(call, segment="residential", account_id="account_mixed")
    mine = contract_for(call, segment="corporate", account_id="account_mixed")
    seen, token, pages = [], None, 0
    while True:
        page = call(
            service.list_contracts,
            account_id="account_mixed",
            limit=10,
            after=token,
            segments=frozenset({"corporate"}),
        )
        pages += 1
        seen += [c.contract_id for c in page.contracts]
        token = page.next
        if token is None:
            break
    assert seen == [mine.contract_id]
    assert pages >= 2  # a short page carried a token to go on


# ---- notice ------------------------------------------------------------------------------------


def test_notice_over_http(api, call, aws_storage, published):
    contract = started(call)  # notice date 2027-10-20
    published.clear()
    path = f"/contracts/{contract.contract_id}/notice"
    missing = api("POST", path, {})
    assert missing.status == 400 and fields_of(missing) == {"version"}
    stale = api("POST", path, {"version": 1})
    assert stale.status == 409, stale
    at(aws_storage, "2027-10-20T14:59:59Z")  # the last second of the notice date in Tokyo
    given = api("POST", path, {"version": 2, "reason": "店舗閉鎖のため"}, user="sato")
    assert given.status == 200, given
    body = given.json()
    assert body["auto_renew"] is False and body["version"] == 3
    assert body["notice"]["by"] == "sato" and body["notice"]["for_term_end"] == "2027-11-19"
    assert body["notice"]["reason"] == "店舗閉鎖のため"
    assert types(published) == ["ContractNoticeGiven"]
    again = api("POST", path, {"version": 3})
    assert again.status == 409 and "does not renew" in again.json()["message"]
    assert api("POST", "/contracts/contract_nothere/notice", {"version": 1}).status == 404


def test_notice_after_the_notice_date_or_before_the_start_is_refused(api, call, aws_storage):
    pending = contract_for(call)
    refused = api("POST", f"/contracts/{pending.contract_id}/notice", {"version": 1})
    assert refused.status == 409 and "pending_start" in refused.json()["message"]
    contract = started(call)
    at(aws_storage, "2027-10-20T15:00:00Z")  # 21 October in Tokyo
    late = api("POST", f"/contracts/{contract.contract_id}/notice", {"version": 2})
    assert late.status == 409 and "2027-10-20" in late.json()["message"]


# ---- renewal -----------------------------------------------------------------------------------


def test_an_accepted_renewal_quote_adds_the_next_term(call, rendered, published):
    contract = started(call, "2026-11-20", term_months=12)
    published.clear()
    quote = renewal_of(contract, quote_date=dt.date(2027, 10, 1), term_months=24, version=2)
    renewed = call(
        service.renew_from_quote,
        quote,
        agreed_at="2027-10-05T01:00:00Z",
        consent_id="consent_r",
        document_sha256="ef" * 32,
    )
    assert renewed.status == "active"
    assert (renewed.start_date, renewed.term_start, renewed.end_date, renewed.notice_date) == (
        dt.date(2026, 11, 20),
        dt.date(2027, 11, 20),
        dt.date(2029, 11, 19),
        dt.date(2029, 10, 20),
    )
    assert renewed.term_months == 24 and renewed.renewed_count == 1
    assert renewed.document == quote.document and renewed.lines == quote.lines
    assert [(t.number, t.quote_id, t.start_date) for t in renewed.terms] == [
        (1, contract.quote_id, dt.date(2026, 11, 20)),
        (2, quote.quote_id, dt.date(2027, 11, 20)),
    ]
    assert renewed.terms[1].consent.consent_id == "consent_r"
    assert renewed.pdf_key == f"contracts/{contract.contract_id}/renewal-{quote.quote_id}-v002.pdf"
    _, key, document = rendered[-1]
    assert key == renewed.pdf_key and document.service_start == dt.date(2027, 11, 20)
    assert document.number == contract.number and document.minimum_term_months == 24
    again = call(
        service.renew_from_quote,
        quote,
        agreed_at="2027-10-05T01:00:00Z",
        consent_id="consent_r",
        document_sha256="ef" * 32,
    )
    assert again == renewed
    assert types(published) == ["ContractRenewed"]
    assert published[0][2]["previous_end_date"] == dt.date(2027, 11, 19)


def test_a_renewal_needs_an_active_contract_without_notice(call):
    pending = contract_for(call)
    quote = renewal_of(pending, quote_date=dt.date(2026, 11, 12))
    with pytest.raises(Conflict, match="pending_start"):
        call(service.renew_from_quote, quote, agreed_at=AGREED, consent_id=None,
             document_sha256="ab")  # fmt: skip
    contract = started(call)
    call(service.give_notice, contract.contract_id, version=2, by="ops")
    with pytest.raises(Conflict, match="gave notice"):
        call(
            service.renew_from_quote,
            renewal_of(contract, quote_date=dt.date(2026, 11, 12)),
            agreed_at=AGREED,
            consent_id=None,
            document_sha256="ab",
        )
    with pytest.raises(ValidationFailed):
        call(service.renew_from_quote, priced_quote(), agreed_at=AGREED, consent_id=None,
             document_sha256="ab")  # fmt: skip


# ---- the renewal schedule, run directly ------------------------------------------------------


def renewal_events(published) -> list[dict[str, Any]]:
    return [detail for _, kind, detail in published if kind == "RenewalQuoteDue"]


def test_a_renewal_quote_is_requested_once_per_term(call, aws_storage, published):
    due = started(call, "2026-11-20", term_months=1)  # ends 12-19, notice 11-19
    not_yet = started(call, "2026-11-20", term_months=3)  # ends 2027-02-19, notice 01-20
    noticed = started(call, "2026-11-20", term_months=1)
    call(service.give_notice, noticed.contract_id, version=2, by="ops")
    published.clear()
    day = dt.date(2026, 11, 20)
    first = call(service.run_renewals, day)
    assert first["status"] == "succeeded" and first["rerun"] is False
    assert (first["requested"], first["listed"]) == (1, 1)  # not_yet is not in the window
    (detail,) = renewal_events(published)
    assert detail == {
        "renewal_id": detail["renewal_id"],
        "contract_id": due.contract_id,
        "number": due.number,
        "account_id": due.account_id,
        "deal_id": due.deal_id,
        "owner": "suzuki",
        "segment": "corporate",
        "agency_id": None,
        "term_end": "2026-12-19",
        "notice_date": "2026-11-19",
        "next_term_start": "2026-12-20",
        "next_term_end": "2027-01-19",
        "term_months": 1,
        "monthly_total": due.monthly_total,
    }
    assert call(service.run_renewals, day)["rerun"] is True  # the same day: nothing
    assert call(service.run_renewals, day + dt.timedelta(days=1))["requested"] == 0
    assert len(renewal_events(published)) == 1
    marked = call(service.get_contract, due.contract_id)
    assert marked.renewal_requested_for == dt.date(2026, 12, 19) and marked.version == 3
    ledger = call(runs.get, first["run_id"])
    assert ledger is not None and ledger.business_key == "contract-renewals#2026-11-20"
    assert ledger.counts["requested"] == 1
    # on 12-20 the one-month terms are over: the noticed one ends, the due one renews by
    # itself (notice date 12-20) and is requested for its new term in the same run
    over = call(service.run_renewals, dt.date(2026, 12, 20))
    assert (over["ended"], over["auto_renewed"], over["requested"]) == (1, 1, 1)
    assert [d["term_end"] for d in renewal_events(published)][-1] == "2027-01-19"
    # 30 days before the three-month contract's notice date (2027-01-20) it is due
    assert call(service.run_renewals, dt.date(2026, 12, 21))["requested"] == 1
    assert [d["contract_id"] for d in renewal_events(published)][-1] == not_yet.contract_id


def test_a_renewal_marked_but_not_published_is_sent_by_the_next_run(call, monkeypatch, published):
    contract = started(call, "2026-11-20", term_months=1)
    published.clear()
    from monosub import events

    class Down:
        def publish(self, source, detail_type, detail):
            raise RuntimeError("the bus is down")

    with monkeypatch.context() as patched:
        patched.setattr(events, "default_publisher", Down())
        failed = call(service.run_renewals, dt.date(2026, 11, 20))
    assert failed["status"] == "failed" and failed["requested"] == 0
    assert renewal_events(published) == []
    again = call(service.run_renewals, dt.date(2026, 11, 20))  # a failed run runs again
    assert again["status"] == "succeeded" and again["resent"] == 1
    (resent,) = renewal_events(published)
    assert resent["contract_id"] == contract.contract_id
    assert resent["monthly_total"] == contract.monthly_total
    assert type(resent["monthly_total"]) is int and type(resent["term_months"]) is int
    assert call(service.run_renewals, dt.date(2026, 11, 21))["listed"] == 0


def test_after_a_renewal_the_next_term_is_requested_again(call, published):
    contract = started(call, "2026-11-20", term_months=1)
    call(service.run_renewals, dt.date(2026, 11, 20))
    current = call(service.get_contract, contract.contract_id)
    call(
        service.renew_from_quote,
        renewal_of(current, quote_date=dt.date(2026, 11, 25), term_months=1),
        agreed_at="2026-11-25T01:00:00Z",
        consent_id=None,
        document_sha256="ab",
    )
    result = call(service.run_renewals, dt.date(2026, 12, 20))  # next notice date 2027-01-19
    assert result["requested"] == 1
    assert [d["term_end"] for d in renewal_events(published)] == ["2026-12-19", "2027-01-19"]


# ---- the daily run: terms that are over -------------------------------------------------------


def run_on(call, day: str, **kwargs) -> dict[str, Any]:
    return call(service.run_renewals, dt.date.fromisoformat(day), **kwargs)


def term_events(published) -> list[tuple[str, dict[str, Any]]]:
    return [(kind, d) for _, kind, d in published if kind in ("ContractEnded", "ContractRenewed")]


def not_renewing(call, start: str = "2026-11-20", **quote_fields) -> Contract:
    quote = priced_quote(**quote_fields)
    made = call(service.create_from_quote, quote, agreed_at=AGREED, consent_id=None,
                document_sha256="ab" * 32, auto_renew=False)  # fmt: skip
    return call(service.start, made.contract_id, dt.date.fromisoformat(start), by="shipping")


def test_a_contract_with_notice_ends_with_its_term(api, call, aws_storage, published):
    contract = started(call, "2026-11-20", term_months=1)  # ends 12-19
    call(service.give_notice, contract.contract_id, version=2, by="ops", reason="閉店")
    published.clear()
    last_day = run_on(call, "2026-12-19")
    assert (last_day["terms_over"], last_day["ended"]) == (0, 0)  # its last day is still in it
    at(aws_storage, "2026-12-19T21:00:00Z")  # 06:00 on 20 December in Tokyo
    result = run_on(call, "2026-12-20")
    assert result["status"] == "succeeded"
    assert (result["terms_over"], result["ended"], result["auto_renewed"]) == (1, 1, 0)
    ended = call(service.get_contract, contract.contract_id)
    assert (ended.status, ended.end_reason, ended.end_date) == (
        "ended",
        "notice",
        contract.end_date,
    )
    assert ended.ended_at == "2026-12-19T21:00:00Z" and ended.version == 4
    assert len(ended.terms) == 1 and ended.renewed_count == 0
    ((kind, detail),) = term_events(published)
    assert kind == "ContractEnded"
    assert detail == {
        "contract_id": contract.contract_id,
        "account_id": contract.account_id,
        "deal_id": contract.deal_id,
        "version": 4,
        "end_date": "2026-12-19",
        "reason": "notice",
    }
    assert renewal_events(published) == []
    listed = api("GET", "/contracts", query={"status": "ended"}).json()["contracts"]
    assert [c["contract_id"] for c in listed] == [contract.contract_id]
    assert api("GET", "/contracts", query={"status": "active"}).json()["contracts"] == []
    dashboard = api("GET", "/contracts/expiring", query={"within_days": "365"}).json()
    assert dashboard["contracts"] == []


def test_a_contract_that_does_not_renew_ends_with_its_term(call, published, rendered):
    contract = not_renewing(call, "2026-11-20", term_months=1)
    published.clear()
    result = run_on(call, "2026-12-20")
    assert (result["ended"], result["auto_renewed"], result["requested"]) == (1, 0, 0)
    ended = call(service.get_contract, contract.contract_id)
    assert (ended.status, ended.end_reason) == ("ended", "no-auto-renew")
    assert [(kind, d["reason"], d["end_date"]) for kind, d in term_events(published)] == [
        ("ContractEnded", "no-auto-renew", "2026-12-19")
    ]


def test_a_term_without_an_accepted_renewal_renews_automatically(call, published, rendered):
    contract = started(call, "2026-11-20", term_months=12)  # ends 2027-11-19, notice 10-20
    run_on(call, "2027-10-01")  # the renewal quote is requested: nobody accepts it
    requested = call(service.get_contract, contract.contract_id)
    assert requested.renewal_requested_for == dt.date(2027, 11, 19)
    renders = len(rendered)
    published.clear()
    result = run_on(call, "2027-11-20")
    assert (result["terms_over"], result["ended"], result["auto_renewed"]) == (1, 0, 1)
    assert result["requested"] == 0  # the new term's notice date is a year away
    renewed = call(service.get_contract, contract.contract_id)
    assert renewed.status == "active" and renewed.renewed_count == 1
    assert (renewed.start_date, renewed.term_start, renewed.end_date, renewed.notice_date) == (
        dt.date(2026, 11, 20),
        dt.date(2027, 11, 20),
        dt.date(2028, 11, 19),
        dt.date(2028, 10, 20),
    )
    assert (renewed.renewal_requested_for, renewed.renewal_requested_at) == (None, None)
    assert renewed.term_months == 12 and renewed.version == requested.version + 1
    # the same lines and priced items, the same 契約書: nothing rendered
    assert renewed.lines == contract.lines and renewed.document == contract.document
    assert (renewed.pdf_key, renewed.pdf_sha256) == (contract.pdf_key, contract.pdf_sha256)
    assert len(rendered) == renders
    term = renewed.terms[1]
    assert term.model_dump(mode="json") == {
        "number": 2,
        "automatic": True,
        "quote_id": None,
        "quote_version": None,
        "quote_number": None,
        "term_months": 12,
        "start_date": "2027-11-20",
        "end_date": "2028-11-19",
        "one_time_total": 0,
        "monthly_total": contract.monthly_total,
        "consent": None,
        "pdf_key": contract.pdf_key,
        "pdf_sha256": contract.pdf_sha256,
    }
    assert renewed.terms[0].automatic is False
    ((kind, detail),) = term_events(published)
    assert kind == "ContractRenewed"
    assert detail == {
        "contract_id": contract.contract_id,
        "account_id": contract.account_id,
        "deal_id": contract.deal_id,
        "version": renewed.version,
        "term": 2,
        "automatic": True,
        "quote_id": None,
        "quote_version": None,
        "previous_end_date": "2027-11-19",
        "start_date": "2027-11-20",
        "end_date": "2028-11-19",
        "notice_date": "2028-10-20",
        "term_months": 12,
        "monthly_total": contract.monthly_total,
        "pdf_key": contract.pdf_key,
    }
    # the new term's renewal quote is requested when it falls due
    assert run_on(call, "2028-09-20")["requested"] == 1
    assert [d["term_end"] for d in renewal_events(published)] == ["2028-11-19"]


def test_an_automatic_renewal_is_requested_for_its_new_term_in_the_same_run(call, published):
    contract = started(call, "2026-11-20", term_months=1)  # ends 12-19
    run_on(call, "2026-11-20")
    published.clear()
    result = run_on(call, "2026-12-20")  # the new term's notice date is 12-20: due at once
    assert (result["auto_renewed"], result["requested"]) == (1, 1)
    assert types(published) == ["ContractRenewed", "RenewalQuoteDue"]
    (detail,) = renewal_events(published)
    assert (detail["contract_id"], detail["term_end"]) == (contract.contract_id, "2027-01-19")
    current = call(service.get_contract, contract.contract_id)
    assert current.renewal_requested_for == dt.date(2027, 1, 19)


def test_a_rerun_closes_nothing_twice(call, published, aws_storage):
    renewing = started(call, "2026-11-20", term_months=1)
    ending = not_renewing(call, "2026-11-20", term_months=1)
    published.clear()
    first = run_on(call, "2026-12-20")
    assert (first["ended"], first["auto_renewed"]) == (1, 1)
    after = {c: call(service.get_contract, c) for c in (renewing.contract_id, ending.contract_id)}
    assert run_on(call, "2026-12-20")["rerun"] is True
    # the next days' runs find nothing over (the renewed term lasts to 2027-01-19)
    for day in ("2026-12-21", "2027-01-19"):
        again = run_on(call, day)
        assert (again["terms_over"], again["ended"], again["auto_renewed"]) == (0, 0, 0)
    # a run that had failed runs again and still changes nothing twice
    ledger = call(runs.get, first["run_id"])
    assert ledger is not None
    call(runs.update, first["run_id"], status="failed")
    rerun = run_on(call, "2026-12-20")
    assert rerun["rerun"] is False and (rerun["ended"], rerun["auto_renewed"]) == (0, 0)
    assert {c: call(service.get_contract, c) for c in after} == after
    assert [kind for kind, _ in term_events(published)].count("ContractRenewed") == 1
    assert [kind for kind, _ in term_events(published)].count("ContractEnded") == 1


def test_missed_days_are_caught_up_term_after_term(call, published):
    renewing = started(call, "2026-11-20", term_months=1)
    noticed = started(call, "2026-11-20", term_months=1)
    call(service.give_notice, noticed.contract_id, version=2, by="ops")
    published.clear()
    # no run from 2026-11-20 to 2027-02-25: three one-month terms of the renewing contract
    # are over (ending 12-19, 01-19, 02-19), and the noticed one ended on 12-19
    result = run_on(call, "2027-02-25")
    assert result["status"] == "succeeded"
    assert (result["terms_over"], result["ended"], result["auto_renewed"]) == (2, 1, 3)
    current = call(service.get_contract, renewing.contract_id)
    assert [(t.number, t.start_date, t.end_date, t.automatic) for t in current.terms] == [
        (1, dt.date(2026, 11, 20), dt.date(2026, 12, 19), False),
        (2, dt.date(2026, 12, 20), dt.date(2027, 1, 19), True),
        (3, dt.date(2027, 1, 20), dt.date(2027, 2, 19), True),
        (4, dt.date(2027, 2, 20), dt.date(2027, 3, 19), True),
    ]
    assert current.renewed_count == 3 and current.end_date == dt.date(2027, 3, 19)
    ended = call(service.get_contract, noticed.contract_id)
    assert (ended.status, ended.end_date) == ("ended", dt.date(2026, 12, 19))
    renewals = [d for kind, d in term_events(published) if kind == "ContractRenewed"]
    assert [(d["term"], d["previous_end_date"]) for d in renewals] == [
        (2, "2026-12-19"),
        (3, "2027-01-19"),
        (4, "2027-02-19"),
    ]
    # the current term's notice date (2027-02-17) has passed, but it lasts: requested once
    assert [d["term_end"] for d in renewal_events(published)] == ["2027-03-19"]


class FailingFor:
    """A publisher that refuses the events of one contract (the others go to ``published``)."""

    def __init__(self, contract_id: str, published: list[Any]) -> None:
        self.contract_id = contract_id
        self.published = published

    def publish(self, source: str, detail_type: str, detail: dict[str, Any]) -> None:
        if detail.get("contract_id") == self.contract_id:
            raise RuntimeError("the bus refused it")
        self.published.append((source, detail_type, dict(detail)))


def test_a_contract_that_fails_does_not_stop_the_others(call, published, monkeypatch):
    broken = started(call, "2026-11-20", term_months=1)
    fine = not_renewing(call, "2026-11-21", term_months=1)  # ends 12-20
    renewing = started(call, "2026-11-19", term_months=1)  # ends 12-18
    published.clear()
    real_save = store.save

    def save_fails_for_one(contract: Contract, **kwargs: Any) -> None:
        if contract.contract_id == broken.contract_id:
            raise RuntimeError("throttled")
        real_save(contract, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(store, "save", save_fails_for_one)
        failed = run_on(call, "2026-12-21")
    assert failed["status"] == "failed"
    assert (failed["terms_over"], failed["ended"], failed["auto_renewed"]) == (3, 1, 1)
    ledger = call(runs.get, failed["run_id"])
    assert ledger is not None
    assert [e["contract_id"] for e in ledger.errors] == [broken.contract_id]
    assert "throttled" in ledger.errors[0]["message"]
    assert call(service.get_contract, broken.contract_id).end_date == dt.date(2026, 12, 19)
    again = run_on(call, "2026-12-21")  # the failed run runs again: only what is left
    assert again["status"] == "succeeded"
    assert (again["terms_over"], again["ended"], again["auto_renewed"]) == (1, 0, 1)
    assert call(service.get_contract, broken.contract_id).end_date == dt.date(2027, 1, 19)
    closed = [d["contract_id"] for _, d in term_events(published)]
    assert sorted(closed) == sorted([broken.contract_id, fine.contract_id, renewing.contract_id])


def test_a_term_event_that_did_not_go_out_is_sent_by_the_next_run(call, published):
    contract = not_renewing(call, "2026-11-20", term_months=1)
    other = not_renewing(call, "2026-11-20", term_months=1)
    published.clear()
    failed = run_on(call, "2026-12-20", publisher=FailingFor(contract.contract_id, published))
    assert failed["status"] == "failed" and failed["ended"] == 1
    assert [d["contract_id"] for _, d in term_events(published)] == [other.contract_id]
    written = call(service.get_contract, contract.contract_id)
    assert written.status == "ended"  # the change was written; its event was not sent
    again = run_on(call, "2026-12-20")
    assert again["status"] == "succeeded"
    assert (again["term_events_resent"], again["terms_over"], again["ended"]) == (1, 0, 0)
    kind, detail = term_events(published)[-1]
    assert kind == "ContractEnded"
    assert detail == {
        "contract_id": contract.contract_id,
        "account_id": contract.account_id,
        "deal_id": contract.deal_id,
        "version": written.version,
        "end_date": "2026-12-19",
        "reason": "no-auto-renew",
    }
    assert run_on(call, "2026-12-21")["term_events_resent"] == 0  # sent once


# ---- a renewal quote for a term that is over ---------------------------------------------------


def accept(call, quote, agreed_at: str = "2026-12-21T01:00:00Z") -> Contract:
    return call(service.renew_from_quote, quote, agreed_at=agreed_at, consent_id="consent_r",
                document_sha256="ef" * 32)  # fmt: skip


def test_a_renewal_quote_for_a_term_that_renewed_meanwhile_is_refused(call, published):
    contract = started(call, "2026-11-20", term_months=1)  # ends 12-19
    late = renewal_of(contract, quote_date=dt.date(2026, 11, 25), term_months=6).model_copy(
        update={"renews_term_end": dt.date(2026, 12, 19)}
    )
    run_on(call, "2026-12-20")  # nobody accepted it in time: renewed automatically
    renewed = call(service.get_contract, contract.contract_id)
    published.clear()
    with pytest.raises(Conflict, match="renewed meanwhile") as refused:
        accept(call, late)
    assert refused.value.details == {"renews_term_end": "2026-12-19", "end_date": "2027-01-19"}
    assert call(service.get_contract, contract.contract_id) == renewed
    assert published == []
    # a quote for the current term renews it
    current = renewal_of(renewed, quote_date=dt.date(2026, 12, 21), term_months=6).model_copy(
        update={"renews_term_end": dt.date(2027, 1, 19)}
    )
    applied = accept(call, current)
    assert (applied.term_start, applied.end_date) == (dt.date(2027, 1, 20), dt.date(2027, 7, 19))
    assert [t.automatic for t in applied.terms] == [False, True, False]
    assert published[-1][2]["automatic"] is False
    # the first quote again: the same refusal (it never made a term)
    with pytest.raises(Conflict, match="renewed meanwhile"):
        accept(call, late)


def test_a_renewal_quote_for_a_term_another_quote_renewed_is_refused(call):
    contract = started(call, "2026-11-20", term_months=12)  # ends 2027-11-19
    first, second = (
        renewal_of(contract, quote_date=dt.date(2027, 10, 1)).model_copy(
            update={"renews_term_end": dt.date(2027, 11, 19)}
        )
        for _ in range(2)
    )
    accept(call, first, "2027-10-02T01:00:00Z")
    with pytest.raises(Conflict, match="its current term ends 2028-11-19"):
        accept(call, second, "2027-10-03T01:00:00Z")
    assert accept(call, first, "2027-10-02T01:00:00Z").renewed_count == 1  # idempotent still


def test_a_renewal_quote_without_the_term_it_follows_renews_the_current_term(call):
    contract = started(call, "2026-11-20", term_months=1)
    run_on(call, "2026-12-20")  # renewed automatically: ends 2027-01-19
    old = renewal_of(contract, quote_date=dt.date(2026, 11, 25), term_months=1)
    assert old.renews_term_end is None  # made before quotes named the term
    applied = accept(call, old)
    assert (applied.term_start, applied.end_date) == (dt.date(2027, 1, 20), dt.date(2027, 2, 19))


# ---- cancel before the start -----------------------------------------------------------------


def test_cancel_a_contract_before_it_starts_over_http(api, call, published, aws_storage):
    contract = contract_for(call)
    published.clear()
    at(aws_storage, "2026-11-12T02:00:00Z")
    path = f"/contracts/{contract.contract_id}/cancel"
    body = {"version": 1, "reason": "  お客様のご都合により取消  "}
    cancelled = api("POST", path, body, groups="ops", user="tanaka")
    assert cancelled.status == 200, cancelled
    shown = cancelled.json()
    assert (shown["status"], shown["version"]) == ("cancelled", 2)
    assert (shown["cancelled_at"], shown["cancelled_by"], shown["cancel_reason"]) == (
        "2026-11-12T02:00:00Z",
        "tanaka",
        "お客様のご都合により取消",
    )
    assert types(published) == ["ContractCancelled"]
    assert published[0][2] == {
        "contract_id": contract.contract_id,
        "account_id": contract.account_id,
        "deal_id": contract.deal_id,
        "version": 2,
        "number": contract.number,
        "quote_id": contract.quote_id,
        "quote_version": 1,
        "cancelled_at": "2026-11-12T02:00:00Z",
        "reason": "お客様のご都合により取消",
        "by": "tanaka",
    }
    listed = api("GET", "/contracts", query={"status": "cancelled"}).json()["contracts"]
    assert [c["contract_id"] for c in listed] == [contract.contract_id]
    again = api("POST", path, {"version": 2, "reason": "二重送信"}, groups="ops")
    assert again.status == 409 and "cancelled" in again.json()["message"]
    with pytest.raises(Conflict, match="cancelled"):  # shipping cannot start it any more
        call(service.start, contract.contract_id, dt.date(2026, 11, 20), by="shipping")
    assert types(published) == ["ContractCancelled"]


def test_cancel_is_refused_for_a_started_contract_or_a_stale_version(api, call):
    active = started(call)
    refused = api(
        "POST", f"/contracts/{active.contract_id}/cancel",
        {"version": active.version, "reason": "取消"}, groups="regional-manager,corporate-manager",
    )  # fmt: skip
    assert refused.status == 409 and "active" in refused.json()["message"]
    pending = contract_for(call)
    stale = api(
        "POST", f"/contracts/{pending.contract_id}/cancel", {"version": 2, "reason": "取消"},
        groups="ops",
    )  # fmt: skip
    assert stale.status == 409 and stale.json()["details"] == {"expected_version": 2, "version": 1}
    assert call(service.get_contract, pending.contract_id).status == "pending_start"


def test_cancel_only_what_the_caller_may_see_and_only_managers_and_ops(api, call, published):
    residential = contract_for(call, segment="residential")
    corporate = contract_for(call, segment="corporate")
    published.clear()
    body = {"version": 1, "reason": "取消"}
    for contract, group in ((residential, "corporate-manager"), (corporate, "regional-manager")):
        hidden = api("POST", f"/contracts/{contract.contract_id}/cancel", body, groups=group)
        assert hidden.status == 404, hidden
    for group in ("sales", "customer"):
        forbidden = api("POST", f"/contracts/{corporate.contract_id}/cancel", body, groups=group)
        assert forbidden.status == 403, forbidden
    agency = api(
        "POST", f"/contracts/{corporate.contract_id}/cancel", body, groups="agency",
        agency_id="agency-7",
    )  # fmt: skip
    assert agency.status == 403
    assert api("POST", "/contracts/contract_nothere/cancel", body, groups="ops").status == 404
    assert published == []
    mine = api(
        "POST", f"/contracts/{corporate.contract_id}/cancel", body, groups="corporate-manager"
    )
    assert mine.status == 200 and mine.json()["status"] == "cancelled"


def test_cancel_needs_a_reason(api, call):
    contract = contract_for(call)
    path = f"/contracts/{contract.contract_id}/cancel"
    for body in (
        {"version": 1},
        {"version": 1, "reason": "   "},
        {"version": 1, "reason": "x" * 501},
    ):
        refused = api("POST", path, body, groups="ops")
        assert refused.status == 400 and fields_of(refused) == {"reason"}, refused
    assert fields_of(api("POST", path, {"reason": "取消"}, groups="ops")) == {"version"}
    assert call(service.get_contract, contract.contract_id).version == 1
