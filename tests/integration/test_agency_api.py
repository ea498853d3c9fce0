"""The agency channel through the real API handler: agencies as data (ops), a customer and
its deal registered in one transaction, the agency's registrations, and its month against
target with the commission earned."""

from __future__ import annotations

from typing import Any

from monosub import config
from monosub.names import RECORDS
from monosub.store.dynamo import Table
from tests.conftest import set_clock
from tests.integration.test_deals_api import SHIP_TO

OPS = {"groups": "ops", "user": "ops1"}
SALES = {"groups": "sales", "user": "sato"}
REGIONAL = {"groups": "regional-manager", "user": "kita"}
CORPORATE = {"groups": "corporate-manager", "user": "minami"}
AGENCY_A = {"groups": "agency", "user": "a-tanaka", "agency_id": "agency-a"}
AGENCY_B = {"groups": "agency", "user": "b-suzuki", "agency_id": "agency-b"}

TERMS = {
    "name": "株式会社エー代理店",
    "commission_rules": [
        {"valid_from": "2026-04", "per_device_unit_yen": 3000, "per_plan_unit_yen": 500},
        {"valid_from": "2026-05", "per_device_unit_yen": 4000, "per_plan_unit_yen": 0},
    ],
    "monthly_targets": [{"month": "2026-04", "registrations": 5, "won_deals": 2}],
}
CAMERAS = {"device_sku": "CAM-ONE", "plan_sku": "PLAN-30D", "quantity": 3}
PLAN_ONLY = {"plan_sku": "PLAN-7D", "quantity": 2}


def set_up_agency(api, agency_id, **terms):
    response = api("PUT", f"/agencies/{agency_id}", {**TERMS, **terms}, **OPS)
    assert response.status in (200, 201), response
    return response.json()


def registration_body(name="株式会社ミナト", segment="corporate", email="m@minato.example.jp"):
    return {
        "segment": segment,
        "name": name,
        "contact": {"person_name": "港 太郎", "email": email, "phone": "03-1234-5678"},
        "deal": {
            "name": f"{name} カメラ",
            "lines": [CAMERAS, PLAN_ONLY],
            "ship_to": SHIP_TO,
            "payment_method": "card",
        },
    }


def register(api, who, **body) -> dict[str, Any]:
    response = api("POST", "/agency/registrations", registration_body(**body), **who)
    assert response.status == 201, response
    return response.json()


def win(api, deal_id, who):
    deal = api("GET", f"/deals/{deal_id}", **who).json()
    for to in ("qualification", "proposal", "negotiation", "won"):
        moved = api(
            "POST", f"/deals/{deal_id}/stage", {"to": to, "version": deal["version"]}, **who
        )
        assert moved.status == 200, moved
        deal = moved.json()
    return deal


def fields_of(response):
    return {d["field"]: d["message"] for d in response.json()["details"]}


# ---- agencies as data ----------------------------------------------------------------------


def test_ops_keeps_agencies_as_data(api, aws_storage, published):
    set_clock(aws_storage, "2026-04-01T00:00:00Z")
    created = api("PUT", "/agencies/agency-a", TERMS, **OPS)
    assert created.status == 201, created
    agency = created.json()
    assert (agency["agency_id"], agency["version"], agency["updated_by"]) == ("agency-a", 1, "ops1")
    assert [r["valid_from"] for r in agency["commission_rules"]] == ["2026-04", "2026-05"]
    assert published[-1][:2] == ("monosub.agencies", "AgencyUpdated")

    same = api("PUT", "/agencies/agency-a", TERMS, **OPS)
    assert (same.status, same.json()["version"]) == (200, 1), "nothing changed, nothing written"
    set_clock(aws_storage, "2026-04-02T00:00:00Z")
    changed = api("PUT", "/agencies/agency-a", {**TERMS, "name": "エー代理店"}, **OPS)
    assert (changed.status, changed.json()["version"], changed.json()["name"]) == (
        200,
        2,
        "エー代理店",
    )
    assert changed.json()["created_at"] == "2026-04-01T00:00:00Z"

    for who in (OPS, SALES, REGIONAL, CORPORATE, AGENCY_A):
        read = api("GET", "/agencies/agency-a", **who)
        assert (read.status, read.json()["name"]) == (200, "エー代理店"), who
    assert api("GET", "/agencies/agency-x", **OPS).status == 404


def test_agency_terms_are_validated_field_by_field(api):
    bad = api(
        "PUT",
        "/agencies/agency-a",
        {
            "name": "",
            "commission_rules": [
                {"valid_from": "2026-4", "per_device_unit_yen": -1, "per_plan_unit_yen": 0}
            ],
            "monthly_targets": [{"month": "2026-13", "registrations": 1, "won_deals": 1}],
        },
        **OPS,
    )
    assert bad.status == 400
    assert set(fields_of(bad)) == {
        "name",
        "commission_rules[0].valid_from",
        "commission_rules[0].per_device_unit_yen",
        "monthly_targets[0].month",
    }
    bad_id = api("PUT", "/agencies/agency%20a", TERMS, **OPS)
    assert (bad_id.status, set(fields_of(bad_id))) == (400, {"agency_id"})


# ---- registrations -------------------------------------------------------------------------


def test_an_agency_registers_a_customer_with_a_deal_in_one_step(api, aws_storage, published):
    set_clock(aws_storage, "2026-04-10T01:00:00Z")
    set_up_agency(api, "agency-a")
    published.clear()
    registration = register(api, AGENCY_A)
    assert registration == {
        "agency_id": "agency-a",
        "account_id": registration["account_id"],
        "contact_id": registration["contact_id"],
        "deal_id": registration["deal_id"],
        "segment": "corporate",
        "name": "株式会社ミナト",
        "registered_at": "2026-04-10T01:00:00Z",
        "registered_by": "a-tanaka",
        "region": None,  # the agency has no region
    }
    assert published == [
        ("monosub.agencies", "CustomerRegistered", {**registration, "by": "a-tanaka"})
    ]

    record = api("GET", f"/accounts/{registration['account_id']}", **AGENCY_A).json()
    assert (record["account"]["segment"], record["account"]["agency_id"]) == (
        "corporate",
        "agency-a",
    )
    [contact] = record["contacts"]
    assert (contact["person_name"], contact["email"]) == ("港 太郎", "m@minato.example.jp")
    [deal] = record["deals"]
    assert (deal["deal_id"], deal["agency_id"], deal["segment"], deal["owner"]) == (
        registration["deal_id"],
        "agency-a",
        "corporate",
        "a-tanaka",
    )
    assert [(x["plan_sku"], x["quantity"]) for x in deal["lines"]] == [
        ("PLAN-30D", 3),
        ("PLAN-7D", 2),
    ]
    assert [a["kind"] for a in record["activities"]] == ["registration"]
    assert record["activities"][0]["message"] == "registered by agency agency-a"

    # monosub's own staff see it like any customer; a later lead of the company merges into it
    assert api("GET", f"/accounts/{registration['account_id']}", **SALES).status == 200
    lead = api(
        "POST", "/leads", {"company": "ミナト株式会社", "person_name": "港 次郎", "email": "j@x.jp"}
    )
    assert lead.json()["status"] == "created"
    duplicates = api("GET", f"/leads/{lead.json()['lead_id']}", **SALES).json()["lead"]
    assert {"kind": "account", "id": registration["account_id"]}.items() <= duplicates[
        "possible_duplicates"
    ][0].items()


def test_the_agency_is_the_callers_never_the_bodys(api):
    set_up_agency(api, "agency-a")
    set_up_agency(api, "agency-b")
    body = registration_body() | {"agency_id": "agency-b"}
    refused = api("POST", "/agency/registrations", body, **AGENCY_A)
    assert (refused.status, fields_of(refused)) == (
        400,
        {"agency_id": "Extra inputs are not permitted"},
    )


def test_a_registration_is_validated_field_by_field(api, aws_storage):
    set_clock(aws_storage, "2026-04-10T01:00:00Z")
    set_up_agency(api, "agency-a")
    body = registration_body()
    body["segment"] = "government"
    body["contact"] = {"person_name": "港 太郎", "email": "not-an-email"}
    body["deal"] = {
        "name": "x",
        "lines": [{"plan_sku": "PLAN-30D", "quantity": 0}],
        "requested_delivery_date": "2026-04-01",
    }
    bad = api("POST", "/agency/registrations", body, **AGENCY_A)
    assert bad.status == 400
    assert set(fields_of(bad)) == {"segment", "contact.email", "deal.lines[0].quantity"}
    no_lines = registration_body()
    no_lines["deal"]["lines"] = []
    no_reach = registration_body()
    no_reach["contact"] = {"person_name": "港 太郎"}
    assert set(fields_of(api("POST", "/agency/registrations", no_lines, **AGENCY_A))) == {
        "deal.lines"
    }
    assert set(fields_of(api("POST", "/agency/registrations", no_reach, **AGENCY_A))) == {"contact"}
    past = registration_body()
    past["deal"]["requested_delivery_date"] = "2026-04-09"
    refused = api("POST", "/agency/registrations", past, **AGENCY_A)
    assert (refused.status, set(fields_of(refused))) == (400, {"deal.requested_delivery_date"})
    assert api("GET", "/agency/registrations", **AGENCY_A).json()["registrations"] == []


def test_a_retried_registration_with_its_idempotency_key_registers_once(api):
    set_up_agency(api, "agency-a")
    headers = {"Idempotency-Key": "reg-0001"}
    first = api("POST", "/agency/registrations", registration_body(), headers=headers, **AGENCY_A)
    again = api("POST", "/agency/registrations", registration_body(), headers=headers, **AGENCY_A)
    assert (first.status, again.status) == (201, 201)
    assert again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    listed = api("GET", "/agency/registrations", **AGENCY_A).json()["registrations"]
    assert [r["account_id"] for r in listed] == [first.json()["account_id"]]


def test_an_agency_not_set_up_cannot_register(api):
    refused = api("POST", "/agency/registrations", registration_body(), **AGENCY_A)
    assert refused.status == 403
    assert refused.json()["message"] == "agency agency-a is not set up in monosub yet: ask ops"


def test_a_company_that_is_a_customer_already_is_refused_whole(api, aws_storage):
    set_up_agency(api, "agency-a")
    set_up_agency(api, "agency-b")
    register(api, AGENCY_A)
    refused = api(
        "POST",
        "/agency/registrations",
        registration_body(name="ミナト 株式会社", email="other@minato.example.jp"),
        **AGENCY_B,
    )
    assert refused.status == 409
    assert refused.json()["message"] == (
        "this company is a customer of monosub already: ask monosub ops"
    )
    # nothing of it was written: no account, contact, deal, registration or key
    assert api("GET", "/agency/registrations", **AGENCY_B).json()["registrations"] == []
    assert api("GET", "/deals", query={"stage": "prospecting"}, **AGENCY_B).json()["deals"] == []
    with config.function_environment(api.environment):
        table = Table(RECORDS)
        assert table.get("KEY#email#other@minato.example.jp", "LEAD") is None
        keys = list(table.query("KEY#email#other@minato.example.jp"))
    assert keys == []

    # residential customers' names are people's: two households may share one
    home = registration_body(name="山田 花子", segment="residential", email="h1@example.jp")
    other = registration_body(name="山田 花子", segment="residential", email="h2@example.jp")
    assert api("POST", "/agency/registrations", home, **AGENCY_A).status == 201
    assert api("POST", "/agency/registrations", other, **AGENCY_B).status == 201


def test_an_agency_lists_its_registrations_newest_first_in_pages(api, aws_storage):
    set_up_agency(api, "agency-a")
    set_up_agency(api, "agency-b")
    made = []
    for day in range(1, 4):
        set_clock(aws_storage, f"2026-04-0{day}T00:00:00Z")
        made.append(register(api, AGENCY_A, name=f"会社{day}", email=f"a{day}@example.jp"))
    register(api, AGENCY_B, name="他社", email="b@example.jp")
    first = api("GET", "/agency/registrations", query={"limit": "2"}, **AGENCY_A).json()
    assert [r["name"] for r in first["registrations"]] == ["会社3", "会社2"]
    assert first["registrations"][0]["deal"]["stage"] == "prospecting"
    second = api(
        "GET", "/agency/registrations", query={"limit": "2", "next": first["next"]}, **AGENCY_A
    ).json()
    assert ([r["name"] for r in second["registrations"]], second["next"]) == (["会社1"], None)
    bad = api("GET", "/agency/registrations", query={"next": "bogus"}, **AGENCY_A)
    assert bad.status == 400


# ---- performance ---------------------------------------------------------------------------


def test_an_agencys_month_against_target_and_its_commission(api, aws_storage):
    set_clock(aws_storage, "2026-04-01T00:00:00Z")
    set_up_agency(api, "agency-a")
    set_up_agency(api, "agency-b", name="ビー代理店")
    set_clock(aws_storage, "2026-04-02T00:00:00Z")
    april = register(api, AGENCY_A, name="四月商事", email="apr@example.jp")
    # 2026-04-30T15:30Z is 2026-05-01 00:30 in Tokyo: a May registration
    set_clock(aws_storage, "2026-04-30T15:30:00Z")
    may = register(api, AGENCY_A, name="五月商事", email="may@example.jp")
    other = register(api, AGENCY_B, name="別商事", email="b@example.jp")

    set_clock(aws_storage, "2026-04-30T14:00:00Z")  # 23:00 on 30 April in Tokyo
    win(api, april["deal_id"], AGENCY_A)
    set_clock(aws_storage, "2026-05-10T00:00:00Z")
    win(api, may["deal_id"], AGENCY_A)
    win(api, other["deal_id"], AGENCY_B)

    result = api("GET", "/agency/performance", query={"month": "2026-04"}, **AGENCY_A)
    assert result.status == 200, result
    assert result.json() == {
        "agency_id": "agency-a",
        "month": "2026-04",
        "registrations": {"count": 1, "target": 5},
        "won_deals": {"count": 1, "target": 2},
        # 3 cameras × 3000 + (3 + 2) plans × 500, under April's rule
        "commission_yen": 11500,
        "commission_rule": TERMS["commission_rules"][0],
        "deals": [
            {
                "deal_id": april["deal_id"],
                "account_id": april["account_id"],
                "won_at": "2026-04-30T14:00:00Z",
                "device_units": 3,
                "plan_units": 5,
                "commission_yen": 11500,
            }
        ],
    }
    may_result = api("GET", "/agency/performance", query={"month": "2026-05"}, **AGENCY_A).json()
    assert (may_result["registrations"], may_result["won_deals"]) == (
        {"count": 1, "target": None},
        {"count": 1, "target": None},
    )
    assert may_result["commission_yen"] == 3 * 4000  # May's rule: devices only
    # this month (Asia/Tokyo) by default; ops and sales see any agency's
    assert api("GET", "/agency/performance", **AGENCY_A).json() == may_result
    for who in (OPS, SALES):
        seen = api("GET", "/agencies/agency-a/performance", query={"month": "2026-05"}, **who)
        assert seen.json() == may_result
    b = api("GET", "/agencies/agency-b/performance", query={"month": "2026-05"}, **OPS).json()
    assert (b["won_deals"]["count"], b["commission_yen"]) == (1, 12000)
    assert api("GET", "/agencies/agency-x/performance", **OPS).status == 404

    # changing the rules later does not change what April earned
    set_up_agency(
        api,
        "agency-a",
        commission_rules=[
            *TERMS["commission_rules"],
            {"valid_from": "2026-06", "per_device_unit_yen": 1, "per_plan_unit_yen": 1},
        ],
    )
    again = api("GET", "/agency/performance", query={"month": "2026-04"}, **AGENCY_A).json()
    assert again["commission_yen"] == 11500
    for month in ("2026-4", "2026-13", "april"):
        bad = api("GET", "/agency/performance", query={"month": month}, **AGENCY_A)
        assert bad.status == 400, month


def test_the_registration_sample_event_is_a_real_request(api, aws_storage):
    """events/api/agency-registration.json: what API Gateway hands over for an agency user
    (its agency in the custom:agency_id claim), with an Idempotency-Key."""
    import json
    from pathlib import Path

    from functions.api import app
    from tests.conftest import FakeContext

    set_clock(aws_storage, "2026-04-01T00:00:00Z")
    set_up_agency(api, "hokkaido-security")
    sample = Path(__file__).resolve().parents[2] / "events" / "api" / "agency-registration.json"
    event = json.loads(sample.read_text(encoding="utf-8"))
    with config.function_environment(api.environment):
        raw = app.handler(event, FakeContext("api"))
        again = app.handler(event, FakeContext("api"))
    assert raw["statusCode"] == 201, raw
    body = json.loads(raw["body"])
    assert (body["agency_id"], body["registered_by"], body["segment"]) == (
        "hokkaido-security",
        "kitano.hokkaido",
        "corporate",
    )
    assert json.loads(again["body"]) == body
