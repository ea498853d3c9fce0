"""Scenario: a reseller registers customers through the API, with a real local sign-in
(JWTs signed with the local key, verified by the local API Gateway), and sees only its own;
monosub's managers see only their segment.

Read top to bottom, as the business story it is."""

from __future__ import annotations

SHIP_TO = {
    "postal_code": "060-0001",
    "prefecture": "北海道",
    "city": "札幌市中央区",
    "address_line1": "北一条西2-1",
    "recipient_name": "北野 一郎",
    "recipient_phone": "011-222-3333",
}


def registration(name, segment, email):
    return {
        "segment": segment,
        "name": name,
        "contact": {"person_name": "北野 一郎", "email": email},
        "deal": {
            "name": f"{name} 見守りカメラ",
            "lines": [{"device_sku": "CAM-ONE", "plan_sku": "PLAN-30D", "quantity": 4}],
            "ship_to": SHIP_TO,
            "payment_method": "direct-debit",
        },
    }


def test_an_agency_registers_customers_and_sees_only_its_own(cloud, http):
    # Ops sets up two resellers: their commission per unit and this month's targets.
    terms = {
        "name": "北海道セキュリティ販売",
        "commission_rules": [
            {"valid_from": "2026-10", "per_device_unit_yen": 2500, "per_plan_unit_yen": 300}
        ],
        "monthly_targets": [{"month": "2026-11", "registrations": 3, "won_deals": 1}],
    }
    assert http("PUT", "/agencies/hokkaido", terms, user="ops1", groups="ops")[0] == 201
    other = {**terms, "name": "九州テック"}
    assert http("PUT", "/agencies/kyushu", other, user="ops1", groups="ops")[0] == 201
    # Only ops keeps agencies.
    assert http("PUT", "/agencies/hokkaido", terms, user="tanaka", groups="sales")[0] == 403

    # The Hokkaido agency's user signs in (its token names its agency) and registers a
    # company and a household, each with its deal.
    hokkaido = {"user": "h-kitano", "groups": "agency", "agency": "hokkaido"}
    status, firm = http(
        "POST",
        "/agency/registrations",
        registration("株式会社札幌", "corporate", "a@s.jp"),
        **hokkaido,
    )
    assert status == 201 and firm["agency_id"] == "hokkaido"
    cloud.advance(hours=1)
    status, home = http(
        "POST",
        "/agency/registrations",
        registration("北野 家", "residential", "h@s.jp"),
        **hokkaido,
    )
    assert status == 201 and home["segment"] == "residential"
    kyushu = {"user": "k-minami", "groups": "agency", "agency": "kyushu"}
    status, theirs = http(
        "POST",
        "/agency/registrations",
        registration("株式会社博多", "corporate", "b@h.jp"),
        **kyushu,
    )
    assert status == 201

    # Each agency sees its own registrations and customers, never the other's.
    status, page = http("GET", "/agency/registrations", **hokkaido)
    assert status == 200
    assert [r["name"] for r in page["registrations"]] == ["北野 家", "株式会社札幌"]
    assert http("GET", f"/accounts/{firm['account_id']}", **hokkaido)[0] == 200
    assert http("GET", f"/accounts/{theirs['account_id']}", **hokkaido)[0] == 404
    assert http("GET", f"/deals/{theirs['deal_id']}", **hokkaido)[0] == 404
    assert http("GET", "/agencies/kyushu", **hokkaido)[0] == 404
    # An agency works no leads, and a sign-in without its agency is refused.
    assert http("GET", "/leads", **hokkaido)[0] == 403
    assert http("GET", "/deals", user="nobody", groups="agency")[0] == 403

    # monosub's managers see their segment only: the household is the regional manager's.
    assert (
        http("GET", f"/accounts/{home['account_id']}", user="kita", groups="regional-manager")[0]
        == 200
    )
    status, _ = http(
        "GET", f"/accounts/{home['account_id']}", user="ono", groups="corporate-manager"
    )
    assert status == 404
    status, _ = http(
        "GET", f"/accounts/{firm['account_id']}", user="ono", groups="corporate-manager"
    )
    assert status == 200
    status, listed = http("GET", "/deals?stage=prospecting", user="ono", groups="corporate-manager")
    assert {d["deal_id"] for d in listed["deals"]} == {firm["deal_id"], theirs["deal_id"]}

    # The agency wins its company deal; its month shows the registrations and commission.
    status, deal = http("GET", f"/deals/{firm['deal_id']}", **hokkaido)
    for to in ("qualification", "proposal", "negotiation", "won"):
        status, deal = http(
            "POST",
            f"/deals/{firm['deal_id']}/stage",
            {"to": to, "version": deal["version"]},
            **hokkaido,
        )
        assert status == 200, deal
    status, month = http("GET", "/agency/performance?month=2026-11", **hokkaido)
    assert status == 200
    assert month["registrations"] == {"count": 2, "target": 3}
    assert month["won_deals"] == {"count": 1, "target": 1}
    assert month["commission_yen"] == 4 * 2500 + 4 * 300
    status, seen_by_ops = http(
        "GET", "/agencies/hokkaido/performance?month=2026-11", user="ops1", groups="ops"
    )
    assert seen_by_ops == month
    assert http("GET", "/agencies/kyushu/performance", **hokkaido)[0] == 403
