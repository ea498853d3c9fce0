"""Quotes on the embedded AWS, through the API handler: price a deal's quote with the price
book and campaigns, a manual discount above the rep's limit and its approval, the PDF in the
documents bucket, the consent email, the customer agreeing on the page, and what follows
(quote accepted, deal won, OrderConfirmed on the bus). Revisions invalidate the old link."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from local.runtime import EmbeddedAWS
from monosub.documents import pdf_rendering_available
from monosub.names import DOCUMENTS
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


def test_a_deal_is_quoted_sent_agreed_and_becomes_an_order(cloud: EmbeddedAWS, call: Calls):
    deal = a_deal(call)
    created = call(
        "POST",
        f"/deals/{deal['deal_id']}/quotes",
        {"manual_discount": {"monthly_yen": 2000, "reason": "競合対抗"}},
    )
    assert created.status == 201, created
    quote = created.json()
    assert quote["status"] == "draft" and quote["version"] == 1
    assert re.fullmatch(r"Q2026-\d{6}", quote["number"])
    assert "CORP-BULK-10" in quote["priced"]["campaigns_applied"]
    names = [d["name"] for d in quote["document"]["discounts"]]
    assert "法人まとめ割" in names and "特別値引き" in names
    pdf = cloud.s3.get_object(Bucket=cloud.bucket(DOCUMENTS), Key=quote["pdf_key"])["Body"].read()
    assert pdf.startswith(b"%PDF-")

    sent = call("POST", f"/quotes/{quote['quote_id']}/send", {"version": 1})
    assert sent.status == 200, sent
    assert sent.json()["status"] == "sent"
    (message,) = sent_mail()
    assert message.destinations["ToAddresses"] == ["hanako@minato.example.jp"]
    token = token_of(message)

    page = call("GET", f"/consent/{token}", groups=None)
    assert page.status == 200
    assert "法人まとめ割" in page.text or "割" in page.text
    document = re.search(r'name="document" value="([0-9a-f]{64})"', page.text)
    assert document, page.text[:500]
    agreed = call.form(f"/consent/{token}", {"decision": "agree", "document": document.group(1)})
    assert agreed.status == 200, agreed
    cloud.wait_for_executions()

    after = call("GET", f"/quotes/{quote['quote_id']}").json()
    assert after["status"] == "accepted"
    assert after["order_confirmed_at"]
    contract = call("GET", f"/contracts/{after['contract_created']}").json()
    assert contract["status"] == "pending_start" and contract["quote_id"] == quote["quote_id"]
    assert contract["term_months"] == 12
    assert call("GET", f"/deals/{deal['deal_id']}").json()["stage"] == "won"
    again = call.form(f"/consent/{token}", {"decision": "agree", "document": document.group(1)})
    assert again.status == 409
    cloud.wait_for_executions()
    types = [entry["type"] for entry in trail(cloud, "deal", deal["deal_id"])]
    assert types.count("OrderConfirmed") == 1, types
    (order,) = [e for e in trail(cloud, "deal", deal["deal_id"]) if e["type"] == "OrderConfirmed"]
    detail = order["detail"]
    assert detail["quote_id"] == quote["quote_id"] and detail["ship_to"]["city"] == "港区"
    assert detail["contract_id"] == contract["contract_id"]
    assert detail["evidence"]["ip"] == "203.0.113.7"
    assert detail["evidence"]["document_sha256"] == document.group(1)
    assert "QuoteAccepted" in types and "DealStageChanged" in types


def test_a_discount_above_the_reps_limit_waits_for_a_manager(call: Calls):
    deal = a_deal(call)
    quote = call(
        "POST",
        f"/deals/{deal['deal_id']}/quotes",
        {"manual_discount": {"one_time_yen": 100_000, "reason": "大口"}},
    ).json()
    assert quote["status"] == "awaiting_approval"
    assert quote["approval"]["needs_manager"] and quote["approval"]["required_percent"] > 10
    refused = call("POST", f"/quotes/{quote['quote_id']}/send", {"version": 1})
    assert refused.status == 409 and "approval" in refused.json()["message"]
    by_rep = call("POST", f"/quotes/{quote['quote_id']}/approve", {"version": 1})
    assert by_rep.status == 403
    approved = call(
        "POST",
        f"/quotes/{quote['quote_id']}/approve",
        {"version": 1},
        groups="corporate-manager",
        user="suzuki",
    )
    assert approved.status == 200 and approved.json()["status"] == "draft"
    assert approved.json()["approval"]["approved_by"] == "suzuki"


def test_a_discount_above_every_limit_is_refused(call: Calls):
    deal = a_deal(call)
    refused = call(
        "POST",
        f"/deals/{deal['deal_id']}/quotes",
        {"manual_discount": {"monthly_yen": 30_000, "reason": "無理"}},
    )
    assert refused.status == 400
    assert refused.json()["details"][0]["field"].startswith("manual_discount")


def test_revising_a_sent_quote_invalidates_its_link(call: Calls):
    deal = a_deal(call)
    quote = call("POST", f"/deals/{deal['deal_id']}/quotes", {}).json()
    call("POST", f"/quotes/{quote['quote_id']}/send", {"version": 1})
    old_token = token_of(sent_mail()[-1])
    revised = call("POST", f"/quotes/{quote['quote_id']}/revise", {"version": 1, "term_months": 24})
    assert revised.status == 200 and revised.json()["version"] == 2
    assert revised.json()["status"] == "draft"
    old = call("GET", f"/consent/{old_token}", groups=None)
    assert old.status == 410
    versions = call("GET", f"/quotes/{quote['quote_id']}/versions").json()["versions"]
    assert [v["version"] for v in versions] == [2, 1]
    pdf = call("GET", f"/quotes/{quote['quote_id']}/pdf", query={"version": "1"})
    assert pdf.status == 200 and pdf.headers["Content-Type"] == "application/pdf"


def test_a_second_quote_for_the_deal_is_a_conflict(call: Calls):
    deal = a_deal(call)
    first = call("POST", f"/deals/{deal['deal_id']}/quotes", {})
    second = call("POST", f"/deals/{deal['deal_id']}/quotes", {})
    assert first.status == 201 and second.status == 409
    assert second.json()["details"]["quote_id"] == first.json()["quote_id"]


def test_a_manager_of_the_other_segment_never_gets_the_quote(call: Calls):
    deal = a_deal(call)  # a corporate customer
    quote = call("POST", f"/deals/{deal['deal_id']}/quotes", {}).json()
    for path in ("", "/versions", "/pdf"):
        hidden = call("GET", f"/quotes/{quote['quote_id']}{path}", groups="regional-manager")
        assert hidden.status == 404, (path, hidden)
    refused = call(
        "POST", f"/quotes/{quote['quote_id']}/approve", {"version": 1}, groups="regional-manager"
    )
    assert refused.status == 404
    seen = call("GET", f"/quotes/{quote['quote_id']}", groups="corporate-manager")
    assert seen.status == 200
