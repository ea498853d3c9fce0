"""Phone sign-ups and renewal quotes on the embedded AWS, through the API handler.

A phone sign-up makes the customer, deal and quote in one request and sends the customer the
契約書 itself to agree to; the contract then keeps exactly that number and PDF. A retry
continues where an attempt stopped. A contract's renewal quote is made by the renewal-quotes
function when the daily schedule says it is due, sent by the rep, and its acceptance renews
the contract."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest

from local.runtime import EmbeddedAWS
from monosub.documents import pdf_rendering_available
from monosub.names import DOCUMENTS
from monosub.services import contracts
from monosub.services import quotes as quote_service
from tests.sales_flow import Calls, a_deal, priced_cloud, sent_mail, token_of, trail

pytestmark = pytest.mark.skipif(
    pdf_rendering_available() is not None, reason=str(pdf_rendering_available())
)


@pytest.fixture
def cloud() -> Iterator[EmbeddedAWS]:
    with priced_cloud(datetime(2026, 11, 24, 1, 0, tzinfo=UTC)) as embedded:
        yield embedded


@pytest.fixture
def call(cloud: EmbeddedAWS) -> Calls:
    return Calls(cloud)


def signup(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "segment": "residential",
        "name": "山本 健一",
        "contact": {
            "person_name": "山本 健一",
            "email": "kenichi@example.jp",
            "phone": "090-1234-5678",
        },
        "deal": {
            "name": "自宅用カメラ 1台",
            "lines": [
                {
                    "device_sku": "CAM-ONE-SALE",
                    "plan_sku": "PLAN-30D",
                    "quantity": 1,
                    "option_skus": [],
                }
            ],
            "payment_method": "card",
            "requested_delivery_date": "2026-12-10",
            "ship_to": {
                "postal_code": "220-0012",
                "prefecture": "神奈川県",
                "city": "横浜市西区",
                "address_line1": "みなとみらい2-2-1",
                "recipient_name": "山本 健一",
                "recipient_phone": "090-1234-5678",
            },
        },
        "quote": {"term_months": 12},
        "call_note": "11/24 電話受付、カード払い希望",
    }
    body.update(changes)
    return body


def agree(call: Calls, token: str) -> str:
    """The customer agrees on the page; returns the sha256 of the document shown."""
    page = call("GET", f"/consent/{token}", groups=None)
    assert page.status == 200, page
    document = re.search(r'name="document" value="([0-9a-f]{64})"', page.text)
    assert document, page.text[:500]
    agreed = call.form(f"/consent/{token}", {"decision": "agree", "document": document.group(1)})
    assert agreed.status == 200, agreed
    return document.group(1)


def test_a_phone_signup_sends_the_contract_and_the_agreement_keeps_it(
    cloud: EmbeddedAWS, call: Calls
):
    made = call("POST", "/phone-signups", signup(), headers={"Idempotency-Key": "call-0001"})
    assert made.status == 201, made
    result = made.json()
    assert result["quote_status"] == "sent" and result["sent_to"] == "kenichi@example.jp"
    assert re.fullmatch(r"C2026-\d{6}", result["contract_number"])
    (message,) = sent_mail()
    assert "ご契約内容のご確認" in message.body
    page = call("GET", f"/consent/{token_of(message)}", groups=None).text
    assert result["contract_number"] in page and "第1条（目的）" in page
    quote = call("GET", f"/quotes/{result['quote_id']}").json()
    assert quote["channel"] == "phone" and quote["owner"] == "tanaka"
    draft_pdf = cloud.s3.get_object(Bucket=cloud.bucket(DOCUMENTS), Key=result["contract_pdf_key"])

    replay = call("POST", "/phone-signups", signup(), headers={"Idempotency-Key": "call-0001"})
    assert replay.status == 201 and replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json() == result and len(sent_mail()) == 1

    evidence = agree(call, token_of(message))
    cloud.wait_for_executions()
    accepted = call("GET", f"/quotes/{result['quote_id']}").json()
    contract = call("GET", f"/contracts/{accepted['contract_created']}").json()
    assert contract["number"] == result["contract_number"]
    assert contract["pdf_key"] == result["contract_pdf_key"]
    assert contract["pdf_sha256"] == quote["contract_draft"]["pdf_sha256"]
    assert contract["contract_date"] == "2026-11-24"
    assert contract["consent"]["document_sha256"] == evidence
    kept = cloud.s3.get_object(Bucket=cloud.bucket(DOCUMENTS), Key=contract["pdf_key"])
    assert kept["Body"].read() == draft_pdf["Body"].read()
    types = [e["type"] for e in trail(cloud, "deal", result["deal_id"])]
    assert types.count("OrderConfirmed") == 1, types
    history = call("GET", f"/accounts/{result['account_id']}").json()
    assert "電話受付" in str(history)


def test_a_retried_signup_continues_where_it_stopped(cloud: EmbeddedAWS, call: Calls):
    """The service called twice with the same key (the first answer lost): one customer,
    one quote, one link."""
    from monosub.auth import Principal
    from monosub.models.signups import PhoneSignup
    from monosub.services import signups

    request = PhoneSignup.model_validate(signup(name="高橋 美咲"))
    rep = Principal(user="tanaka", groups=frozenset({"sales"}))
    with cloud.as_function("api"):
        first = signups.phone_signup(
            request, principal=rep, idempotency_key="k-7", link_base="http://127.0.0.1:8787"
        )
        again = signups.phone_signup(
            request, principal=rep, idempotency_key="k-7", link_base="http://127.0.0.1:8787"
        )
    assert again == first and len(sent_mail()) == 1


def test_an_incomplete_or_unauthorised_signup_makes_nothing(call: Calls):
    key = {"Idempotency-Key": "call-bad"}
    no_email = signup(contact={"person_name": "山本 健一", "phone": "090-1234-5678"})
    refused = call("POST", "/phone-signups", no_email, headers=key)
    assert refused.status == 400, refused
    assert {d["field"] for d in refused.json()["details"]} == {"contact.email"}
    no_ship = signup()
    del no_ship["deal"]["ship_to"]
    refused = call("POST", "/phone-signups", no_ship, headers={"Idempotency-Key": "call-bad-2"})
    assert refused.status == 400 and refused.json()["details"][0]["field"] == "deal.ship_to"
    assert call("POST", "/phone-signups", signup()).status == 400  # no Idempotency-Key
    assert call("POST", "/phone-signups", signup(), groups="agency", headers=key).status == 403
    corporate = call(
        "POST",
        "/phone-signups",
        signup(),
        groups="corporate-manager",
        headers={"Idempotency-Key": "call-bad-3"},
    )
    assert corporate.status == 403, corporate
    assert sent_mail() == []
    assert call("GET", "/deals", query={"limit": "100"}).json()["deals"] == []


def test_a_discount_above_the_limit_waits_for_a_manager_before_sending(call: Calls):
    body = signup(quote={"manual_discount": {"monthly_yen": 400, "reason": "紹介割"}})
    made = call("POST", "/phone-signups", body, headers={"Idempotency-Key": "call-9"})
    assert made.status == 201, made
    assert made.json()["quote_status"] == "awaiting_approval" and made.json()["sent_to"] is None
    assert sent_mail() == []


def test_a_discount_above_every_limit_or_an_unknown_plan_is_refused_before_any_write(
    call: Calls,
):
    too_much = signup(quote={"manual_discount": {"monthly_yen": 900, "reason": "紹介割"}})
    refused = call("POST", "/phone-signups", too_much, headers={"Idempotency-Key": "call-10"})
    assert refused.status == 400 and refused.json()["details"][0]["field"] == "manual_discount"
    unknown = signup()
    unknown["deal"]["lines"][0]["plan_sku"] = "PLAN-NOPE"
    refused = call("POST", "/phone-signups", unknown, headers={"Idempotency-Key": "call-11"})
    assert refused.status == 400, refused
    assert refused.json()["details"][0]["field"] == "deal.lines[0].plan_sku"
    assert call("GET", "/deals", query={"limit": "100"}).json()["deals"] == []


def test_a_renewal_quote_is_made_when_due_sent_and_renews_the_contract(
    cloud: EmbeddedAWS, call: Calls
):
    deal = a_deal(call, quantity=2)
    quote = call("POST", f"/deals/{deal['deal_id']}/quotes", {"term_months": 1}).json()
    call("POST", f"/quotes/{quote['quote_id']}/send", {"version": 1})
    agree(call, token_of(sent_mail()[-1]))
    cloud.wait_for_executions()
    contract_id = call("GET", f"/quotes/{quote['quote_id']}").json()["contract_created"]
    with cloud.as_function("api"):
        contracts.start(contract_id, date(2026, 11, 25), by="shipping")
    # one month from 11-25 ends 12-24; the notice date 11-24 has passed: due at once
    cloud.advance(days=1)
    cloud.wait_for_executions()
    events = [e for e in trail(cloud, "deal", deal["deal_id"]) if e["type"] == "QuoteCreated"]
    renewal_events = [e for e in events if e["detail"].get("purpose") == "renewal"]
    assert len(renewal_events) == 1, events
    renewal_id = renewal_events[0]["detail"]["quote_id"]
    renewal = call("GET", f"/quotes/{renewal_id}").json()
    assert renewal["purpose"] == "renewal" and renewal["contract_id"] == contract_id
    assert renewal["renews_term_end"] == "2026-12-24" and renewal["valid_until"] == "2026-12-24"
    assert [line["device_sku"] for line in renewal["lines"]] == [None]
    assert renewal["document"]["one_time_total"] == 0 and renewal["status"] == "draft"
    assert renewal["number"] != quote["number"]

    # the event again (a redelivery) makes nothing more
    detail = {
        "renewal_id": renewal_events[0]["detail"]["renewal_id"],
        "contract_id": contract_id,
        "term_end": "2026-12-24",
        "term_months": 1,
    }
    with cloud.as_function("renewal-quotes"):
        assert quote_service.on_renewal_due(detail) == "exists"

    sent = call("POST", f"/quotes/{renewal_id}/send", {"version": 1})
    assert sent.status == 200, sent
    message = sent_mail()[-1]
    assert "ご契約更新内容のご確認" in message.body
    agree(call, token_of(message))
    cloud.wait_for_executions()
    renewed = call("GET", f"/contracts/{contract_id}").json()
    assert len(renewed["terms"]) == 2 and renewed["end_date"] == "2027-01-24"
    assert renewed["terms"][1]["quote_id"] == renewal_id
    assert call("GET", f"/quotes/{renewal_id}").json()["status"] == "accepted"


def test_a_renewal_quote_keeps_a_rented_device_and_the_renewed_term_bills_its_rent(
    cloud: EmbeddedAWS, call: Calls
):
    """A sold camera is the customer's and is not quoted again; a rented one is the
    company's: its rent is priced in the renewal quote and billed in the renewed term."""
    deal = a_deal(call, quantity=2)
    changed = call(
        "PATCH",
        f"/deals/{deal['deal_id']}",
        {
            "version": deal["version"],
            "lines": [{"device_sku": "CAM-ONE-RENT", "plan_sku": "PLAN-30D", "quantity": 2}],
        },
    )
    assert changed.status == 200, changed
    quote = call("POST", f"/deals/{deal['deal_id']}/quotes", {"term_months": 1}).json()
    call("POST", f"/quotes/{quote['quote_id']}/send", {"version": 1})
    agree(call, token_of(sent_mail()[-1]))
    cloud.wait_for_executions()
    contract_id = call("GET", f"/quotes/{quote['quote_id']}").json()["contract_created"]
    with cloud.as_function("api"):
        contracts.start(contract_id, date(2026, 11, 25), by="shipping")
    cloud.advance(days=1)
    cloud.wait_for_executions()
    created = [e for e in trail(cloud, "deal", deal["deal_id"]) if e["type"] == "QuoteCreated"]
    (renewal_id,) = [
        e["detail"]["quote_id"] for e in created if e["detail"].get("purpose") == "renewal"
    ]
    renewal = call("GET", f"/quotes/{renewal_id}").json()
    assert [line["device_sku"] for line in renewal["lines"]] == ["CAM-ONE-RENT"]
    assert renewal["document"]["one_time_total"] == 0
    assert renewal["document"]["monthly_total"] == quote["document"]["monthly_total"]
    call("POST", f"/quotes/{renewal_id}/send", {"version": 1})
    agree(call, token_of(sent_mail()[-1]))
    cloud.wait_for_executions()
    account_id = call("GET", f"/contracts/{contract_id}").json()["account_id"]
    account = call("GET", f"/billing-accounts/{account_id}").json()
    second_term = {c["sku"] for c in account["components"] if c["key"].startswith("t2.")}
    assert "CAM-ONE-RENT" in second_term and "PLAN-30D" in second_term


def test_no_renewal_quote_for_a_contract_the_customer_gave_notice_on(
    cloud: EmbeddedAWS, call: Calls
):
    deal = a_deal(call, quantity=1)
    quote = call("POST", f"/deals/{deal['deal_id']}/quotes", {"term_months": 3}).json()
    call("POST", f"/quotes/{quote['quote_id']}/send", {"version": 1})
    agree(call, token_of(sent_mail()[-1]))
    cloud.wait_for_executions()
    contract_id = call("GET", f"/quotes/{quote['quote_id']}").json()["contract_created"]
    with cloud.as_function("api"):
        started = contracts.start(contract_id, date(2026, 11, 25), by="shipping")
        contracts.give_notice(contract_id, version=started.version, by="tanaka")
    detail = {
        "renewal_id": "renewal_x",
        "contract_id": contract_id,
        "term_end": started.end_date.isoformat() if started.end_date else "",
        "term_months": 3,
    }
    with cloud.as_function("renewal-quotes"):
        assert quote_service.on_renewal_due(detail) == "not renewable"
