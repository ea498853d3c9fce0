"""Who may see what, through the real API handler: every denial.

A corporate relationship manager never receives a residential customer (nor a regional
manager a corporate one): lookups are 404 exactly as for a record that does not exist, lists
leave them out, writes are 404. An agency never receives another agency's records. Route
groups refuse with 403 before anything is read."""

from __future__ import annotations

from typing import Any

import pytest

from monosub.store import listing
from tests.integration.test_agency_api import (
    AGENCY_A,
    AGENCY_B,
    CORPORATE,
    OPS,
    REGIONAL,
    SALES,
    register,
    registration_body,
    set_up_agency,
)

HOME = {"company": "山田 花子", "person_name": "山田 花子", "email": "hanako@example.jp"}
FIRM = {"company": "株式会社北商事", "person_name": "北 太郎", "email": "kita@kita.example.jp"}


def customer(api, lead: dict[str, str], segment: str) -> dict[str, str]:
    """A converted lead of ``segment``: its account, contact and deal ids."""
    submitted = api("POST", "/leads", lead, groups=None)
    converted = api(
        "POST", f"/leads/{submitted.json()['lead_id']}/convert", {"segment": segment}, **SALES
    )
    assert converted.status == 200, converted
    return converted.json()


def ids(response) -> list[str]:
    assert response.status == 200, response
    return [deal["deal_id"] for deal in response.json()["deals"]]


@pytest.fixture
def customers(api) -> dict[str, dict[str, str]]:
    return {
        "residential": customer(api, HOME, "residential"),
        "corporate": customer(api, FIRM, "corporate"),
    }


def partitions_read(monkeypatch) -> list[str]:
    """The listing partitions queried from here on."""
    read: list[str] = []
    original = listing._read

    def spy(table: Any, source: listing.Source, **kwargs: Any) -> Any:
        read.append(source.partition)
        return original(table, source, **kwargs)

    monkeypatch.setattr(listing, "_read", spy)
    return read


# ---- segments ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case",
    [(CORPORATE, "corporate", "residential"), (REGIONAL, "residential", "corporate")],
    ids=["corporate-manager", "regional-manager"],
)
def test_a_segment_manager_never_receives_the_other_segment(api, customers, monkeypatch, case):
    manager, own, other = case
    hidden, seen = customers[other], customers[own]
    account, deal = hidden["account_id"], hidden["deal_id"]

    # lookups: 404, word for word what a record that does not exist gets
    refused = api("GET", f"/accounts/{account}", **manager)
    assert refused.status == 404
    assert refused.json() == {"error": "not_found", "message": f"account {account} does not exist"}
    refused = api("GET", f"/deals/{deal}", **manager)
    assert refused.json() == {"error": "not_found", "message": f"deal {deal} does not exist"}
    assert refused.status == 404

    # writes: 404 too, and nothing changed
    assert api("PATCH", f"/deals/{deal}", {"version": 1, "name": "x"}, **manager).status == 404
    moved = api("POST", f"/deals/{deal}/stage", {"to": "qualification", "version": 1}, **manager)
    assert moved.status == 404
    made = api(
        "POST",
        f"/accounts/{account}/deals",
        {"name": "x", "contact_id": hidden["contact_id"]},
        **manager,
    )
    assert made.status == 404
    as_ops = api("GET", f"/deals/{deal}", **OPS).json()
    assert (as_ops["version"], as_ops["name"].endswith(": new deal")) == (1, True)
    assert len(api("GET", f"/accounts/{account}", **OPS).json()["deals"]) == 1

    # lists: left out, and the other segment's partitions are never read
    read = partitions_read(monkeypatch)
    assert ids(api("GET", "/deals", query={"stage": "prospecting"}, **manager)) == [seen["deal_id"]]
    assert ids(api("GET", "/deals", query={"owner": "sato"}, **manager)) == [seen["deal_id"]]
    assert ids(api("GET", "/deals", query={"account_id": account}, **manager)) == []
    assert read == [f"DEALS#{own}#stage#prospecting", f"DEALS#{own}#owner#sato"]
    monkeypatch.undo()

    # the own segment, whole
    assert api("GET", f"/accounts/{seen['account_id']}", **manager).status == 200
    assert api("GET", f"/deals/{seen['deal_id']}", **manager).status == 200
    assert ids(api("GET", "/deals", query={"account_id": seen["account_id"]}, **manager)) == [
        seen["deal_id"]
    ]

    # a lead cannot be converted into the other segment: named account 404, new account 403
    lead = api(
        "POST", "/leads", {"company": "新規", "person_name": "新 規", "email": "n@x.jp"}
    ).json()["lead_id"]
    into = api("POST", f"/leads/{lead}/convert", {"account_id": account}, **manager)
    assert into.status == 404
    new = api("POST", f"/leads/{lead}/convert", {"segment": other}, **manager)
    assert new.status == 403
    assert new.json()["message"] == f"you may not create records of a {other} customer"
    same = api("POST", f"/leads/{lead}/convert", {"segment": own}, **manager)
    assert same.status == 200


def test_ops_and_sales_see_both_segments_merged_newest_first(api, customers, monkeypatch):
    read = partitions_read(monkeypatch)
    deals = [
        api("GET", f"/deals/{customers[segment]['deal_id']}", **OPS).json()
        for segment in ("corporate", "residential")
    ]
    # newest first; deals made in the same instant come in deal-id order, newest-first too
    both = [d["deal_id"] for d in sorted(deals, key=lambda d: (d["created_at"], d["deal_id"]))]
    both.reverse()
    for who in (OPS, SALES):
        assert ids(api("GET", "/deals", query={"stage": "prospecting"}, **who)) == both
    assert set(read) == {"DEALS#residential#stage#prospecting", "DEALS#corporate#stage#prospecting"}


def test_a_lead_of_a_customer_the_caller_cannot_see_is_not_converted(api, customers):
    """The lead's company is the residential customer: a corporate manager may not merge it."""
    again = api("POST", "/leads", {**HOME, "email": "another@example.jp"}).json()["lead_id"]
    refused = api("POST", f"/leads/{again}/convert", {}, **CORPORATE)
    assert refused.status == 403
    wrong = api("POST", f"/leads/{again}/convert", {"segment": "corporate"}, **SALES)
    assert (wrong.status, wrong.json()["details"][0]["field"]) == (400, "segment")
    merged = api("POST", f"/leads/{again}/convert", {}, **REGIONAL)
    assert merged.json()["account_id"] == customers["residential"]["account_id"]


def test_an_account_stored_before_segments_is_corporate(api, customers):
    from monosub import config
    from monosub.names import RECORDS
    from monosub.store.dynamo import Table

    account = customers["corporate"]["account_id"]
    with config.function_environment(api.environment):
        table = Table(RECORDS)
        item = table.get(f"ACCOUNT#{account}", "ACCOUNT")
        assert item is not None
        del item["segment"]
        table.put(item)
    assert api("GET", f"/accounts/{account}", **REGIONAL).status == 404
    record = api("GET", f"/accounts/{account}", **CORPORATE)
    assert record.json()["account"]["segment"] == "corporate"


# ---- agencies ------------------------------------------------------------------------------


@pytest.fixture
def channel(api, customers) -> dict[str, Any]:
    """Two agencies' registered customers, and a direct customer's deal of agency B."""
    set_up_agency(api, "agency-a")
    set_up_agency(api, "agency-b")
    a = register(api, AGENCY_A, name="エー顧客", email="a@example.jp")
    b = register(api, AGENCY_B, name="ビー顧客", email="b@example.jp")
    direct = customers["corporate"]
    via_b = api(
        "POST",
        f"/accounts/{direct['account_id']}/deals",
        {"name": "B経由", "contact_id": direct["contact_id"], "agency_id": "agency-b"},
        **SALES,
    ).json()
    # a deal of agency B inside agency A's customer
    b_in_a = api(
        "POST",
        f"/accounts/{a['account_id']}/deals",
        {"name": "B経由2", "contact_id": a["contact_id"], "agency_id": "agency-b"},
        **SALES,
    ).json()
    return {"a": a, "b": b, "direct": direct, "via_b": via_b, "b_in_a": b_in_a}


def test_an_agency_never_receives_another_agencys_records(api, channel, monkeypatch):
    b, direct = channel["b"], channel["direct"]
    for account in (b["account_id"], direct["account_id"]):
        assert api("GET", f"/accounts/{account}", **AGENCY_A).status == 404
        made = api(
            "POST",
            f"/accounts/{account}/deals",
            {"name": "x", "contact_id": b["contact_id"]},
            **AGENCY_A,
        )
        assert made.status == 404
    for deal in (
        b["deal_id"],
        channel["via_b"]["deal_id"],
        channel["b_in_a"]["deal_id"],
        direct["deal_id"],
    ):
        assert api("GET", f"/deals/{deal}", **AGENCY_A).status == 404
        assert api("PATCH", f"/deals/{deal}", {"version": 1, "name": "x"}, **AGENCY_A).status == 404
        moved = api(
            "POST", f"/deals/{deal}/stage", {"to": "qualification", "version": 1}, **AGENCY_A
        )
        assert moved.status == 404

    # its own customer, without agency B's deal in it
    record = api("GET", f"/accounts/{channel['a']['account_id']}", **AGENCY_A).json()
    assert [d["deal_id"] for d in record["deals"]] == [channel["a"]["deal_id"]]
    assert {a["deal_id"] for a in record["activities"]} == {channel["a"]["deal_id"]}
    assert len(api("GET", f"/accounts/{channel['a']['account_id']}", **SALES).json()["deals"]) == 2

    # lists: only its own agency's partition is read
    read = partitions_read(monkeypatch)
    assert ids(api("GET", "/deals", query={"stage": "prospecting"}, **AGENCY_A)) == [
        channel["a"]["deal_id"]
    ]
    assert ids(api("GET", "/deals", **AGENCY_A)) == [channel["a"]["deal_id"]]  # its user's
    assert ids(api("GET", "/deals", query={"account_id": b["account_id"]}, **AGENCY_A)) == []
    assert ids(
        api("GET", "/deals", query={"account_id": channel["a"]["account_id"]}, **AGENCY_A)
    ) == [channel["a"]["deal_id"]]
    assert set(read) == {"DEALS#agency#agency-a"}
    monkeypatch.undo()
    assert set(ids(api("GET", "/deals", query={"stage": "prospecting"}, **AGENCY_B))) == {
        b["deal_id"],
        channel["via_b"]["deal_id"],
        channel["b_in_a"]["deal_id"],
    }

    # registrations, the agency itself, its performance
    listed = api("GET", "/agency/registrations", **AGENCY_A).json()["registrations"]
    assert [r["account_id"] for r in listed] == [channel["a"]["account_id"]]
    assert api("GET", "/agencies/agency-b", **AGENCY_A).status == 404
    assert api("GET", "/agencies/agency-a", **AGENCY_A).status == 200
    assert api("GET", "/agencies/agency-b/performance", **AGENCY_A).status == 403
    assert api("GET", "/agencies/agency-a/performance", **AGENCY_A).status == 403
    mine = api("GET", "/agency/performance", **AGENCY_A).json()
    assert (mine["agency_id"], mine["registrations"]["count"]) == ("agency-a", 1)


def test_an_agencys_deals_are_always_its_own(api, channel):
    a = channel["a"]
    made = api(
        "POST",
        f"/accounts/{a['account_id']}/deals",
        {"name": "追加", "contact_id": a["contact_id"]},
        **AGENCY_A,
    )
    assert (made.status, made.json()["agency_id"], made.json()["owner"]) == (
        201,
        "agency-a",
        "a-tanaka",
    )
    for agency_id in ("agency-b", None):
        other = api(
            "POST",
            f"/accounts/{a['account_id']}/deals",
            {"name": "x", "contact_id": a["contact_id"], "agency_id": agency_id},
            **AGENCY_A,
        )
        assert other.status == 403, agency_id
        handed = api(
            "PATCH", f"/deals/{a['deal_id']}", {"version": 1, "agency_id": agency_id}, **AGENCY_A
        )
        assert handed.status == 403, agency_id
    assert api("GET", f"/deals/{a['deal_id']}", **AGENCY_A).json()["version"] == 1

    # staff may hand a deal to another agency: it leaves A's list and joins B's
    moved = api("PATCH", f"/deals/{a['deal_id']}", {"version": 1, "agency_id": "agency-b"}, **SALES)
    assert moved.status == 200
    assert api("GET", f"/deals/{a['deal_id']}", **AGENCY_A).status == 404
    assert a["deal_id"] not in ids(api("GET", "/deals", query={"stage": "prospecting"}, **AGENCY_A))
    assert a["deal_id"] in ids(api("GET", "/deals", query={"stage": "prospecting"}, **AGENCY_B))
    cleared = api("PATCH", f"/deals/{a['deal_id']}", {"version": 2, "agency_id": None}, **SALES)
    assert cleared.status == 200
    assert a["deal_id"] not in ids(api("GET", "/deals", query={"stage": "prospecting"}, **AGENCY_B))


def test_an_agency_user_without_its_agency_is_refused_everywhere(api, channel):
    nameless = {"groups": "agency", "user": "x"}
    for method, path in (
        ("GET", "/deals"),
        ("GET", f"/deals/{channel['a']['deal_id']}"),
        ("GET", f"/accounts/{channel['a']['account_id']}"),
        ("GET", "/agency/registrations"),
        ("GET", "/agency/performance"),
        ("GET", "/catalog/products"),
    ):
        refused = api(method, path, **nameless)
        assert refused.status == 403, path
        assert "custom:agency_id" in refused.json()["message"]
    refused = api("POST", "/agency/registrations", registration_body(), **nameless)
    assert refused.status == 403


def test_agencies_get_no_leads(api, customers):
    lead = api("POST", "/leads", {**FIRM, "email": "x@kita.example.jp"}, **AGENCY_A)
    assert lead.status in (200, 201), "the public form stays public"
    lead_id = lead.json()["lead_id"]
    for method, path in (
        ("GET", "/leads"),
        ("GET", f"/leads/{lead_id}"),
        ("POST", f"/leads/{lead_id}/convert"),
    ):
        refused = api(method, path, **AGENCY_A)
        assert refused.status == 403, path
        assert refused.json()["message"].startswith(f"{method} /leads")
    assert api("GET", f"/leads/{lead_id}", **SALES).json()["lead"]["status"] == "open"


def test_who_may_call_the_agency_routes(api):
    set_up_agency(api, "agency-a")
    terms = {"name": "x"}
    for who in (SALES, REGIONAL, CORPORATE, AGENCY_A):
        refused = api("PUT", "/agencies/agency-a", terms, **who)
        assert refused.status == 403, who
        assert refused.json()["message"] == "PUT /agencies/{agency_id} is for ops only"
    assert api("PUT", "/agencies/agency-a", terms, groups="customer").status == 403
    assert api("PUT", "/agencies/agency-a", terms, groups=None).status == 401
    # refused before the body is looked at: no field errors for those who may not call it
    assert api("PUT", "/agencies/agency-a", {"bad": 1}, **SALES).status == 403
    for who in (OPS, SALES, REGIONAL, CORPORATE):
        for method, path in (
            ("POST", "/agency/registrations"),
            ("GET", "/agency/registrations"),
            ("GET", "/agency/performance"),
        ):
            body = registration_body() if method == "POST" else None
            refused = api(method, path, body, **who)
            assert refused.status == 403, (who, path)
            assert refused.json()["message"] == f"{method} {path} is for agency only"
    for who in (REGIONAL, CORPORATE, AGENCY_A):
        refused = api("GET", "/agencies/agency-a/performance", **who)
        assert refused.json()["message"] == (
            "GET /agencies/{agency_id}/performance is for ops, sales only"
        )
    assert api("GET", "/agencies/agency-a", groups="customer").status == 403


def test_agencies_stay_out_of_internal_routes(api):
    for method, path, body in (
        ("GET", "/runs", None),
        ("GET", "/runs/run_x", None),
        ("GET", "/consents/consent_x", None),
        ("POST", "/catalog/products", {"sku": "X"}),
        ("POST", "/campaigns", {}),
    ):
        assert api(method, path, body, **AGENCY_A).status == 403, path
    for path in ("/catalog/products", "/campaigns"):
        assert api("GET", path, **AGENCY_A).status == 200, path
