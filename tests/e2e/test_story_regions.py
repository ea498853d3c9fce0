"""Scenario: agencies work in regions; a regional manager sees every residential sign-up of
its region's agencies (and nothing of another region, nor any corporate one), and each
agency's month against its targets with its commission. Through the local API Gateway with
real local sign-ins (the manager's token names its region, as ``custom:region`` does)."""

from __future__ import annotations

from tests.e2e.conftest import Http
from tests.e2e.test_story_agency import registration


def agency(name: str, region: str) -> dict[str, object]:
    return {
        "name": name,
        "region": region,
        "commission_rules": [
            {"valid_from": "2026-10", "per_device_unit_yen": 2500, "per_plan_unit_yen": 300}
        ],
        "monthly_targets": [{"month": "2026-11", "registrations": 2, "won_deals": 1}],
    }


def as_manager(http: Http, path: str, region: str | None) -> tuple[int, dict[str, object]]:
    headers = http.server.bearer("m-hoshino", "regional-manager", region=region)
    return http.raw("GET", path, headers=headers)


def test_a_regional_manager_sees_its_regions_residential_sign_ups(cloud, http):
    for agency_id, name, region in (
        ("sapporo-home", "札幌ホームセキュリティ", "hokkaido"),
        ("asahikawa-net", "旭川ネット", "hokkaido"),
        ("fukuoka-tech", "福岡テック", "kyushu"),
    ):
        status, _ = http(
            "PUT", f"/agencies/{agency_id}", agency(name, region), user="o", groups="ops"
        )
        assert status == 201
    signed = {}
    for agency_id, name, segment in (
        ("sapporo-home", "大通 花子", "residential"),
        ("sapporo-home", "株式会社すすきの", "corporate"),
        ("asahikawa-net", "旭川 一郎", "residential"),
        ("fukuoka-tech", "天神 次郎", "residential"),
    ):
        cloud.advance(minutes=10)
        status, made = http(
            "POST",
            "/agency/registrations",
            registration(name, segment, f"{agency_id}-{segment}@example.jp"),
            user=f"u-{agency_id}",
            groups="agency",
            agency=agency_id,
        )
        assert status == 201, made
        signed[name] = made
    assert signed["大通 花子"]["region"] == "hokkaido"

    status, page = as_manager(http, "/region/registrations", "hokkaido")
    assert status == 200, page
    assert page["region"] == "hokkaido"
    assert [r["name"] for r in page["registrations"]] == ["旭川 一郎", "大通 花子"]  # newest first
    assert all(r["deal"]["stage"] == "prospecting" for r in page["registrations"])

    # another region is not the manager's to see; a manager without a region sees none
    assert as_manager(http, "/region/registrations?region=kyushu", "hokkaido")[0] == 403
    status, refused = as_manager(http, "/region/registrations", None)
    assert status == 403 and "custom:region" in refused["message"]
    # an agency or a corporate manager may not call it at all
    assert http("GET", "/region/registrations", user="k", groups="corporate-manager")[0] == 403
    agent = {"user": "u-sapporo-home", "groups": "agency", "agency": "sapporo-home"}
    assert http("GET", "/region/registrations", **agent)[0] == 403
    # ops name the region
    status, kyushu = http("GET", "/region/registrations?region=kyushu", user="o", groups="ops")
    assert status == 200 and [r["name"] for r in kyushu["registrations"]] == ["天神 次郎"]

    status, month = as_manager(http, "/region/performance?month=2026-11", "hokkaido")
    assert status == 200, month
    by_agency = {p["agency_id"]: p for p in month["agencies"]}
    assert set(by_agency) == {"sapporo-home", "asahikawa-net"}
    assert by_agency["sapporo-home"]["registrations"]["count"] == 2  # both segments count
    assert by_agency["sapporo-home"]["registrations"]["target"] == 2
    assert month["commission_yen"] == 0  # nothing won yet
