"""The catalog, campaigns and price previews through the real API handler on moto: every
route, who may change what, and the refusals (400 with fields, 403, 404, 409)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from functions import manifest
from tests.conftest import FakeContext, set_clock

EVENTS = Path(__file__).resolve().parents[2] / "events" / "api"
OPS = {"groups": "ops", "user": "ops1"}

PLAN_30D = {
    "sku": "PLAN-30D",
    "name": "録画プラン 30日",
    "kind": "plan",
    "valid_from": "2026-04-01",
    "price": {"monthly_yen": 1980, "tax": "standard", "valid_from": "2026-04-01"},
}
CAMERA_RENTAL = {
    "sku": "CAM-ONE-RENT",
    "name": "クラウドカメラ ONE（レンタル）",
    "kind": "device",
    "acquisition": "rental",
    "price": {"monthly_yen": 980, "valid_from": "2026-04-01"},
}
CAMERA_SALE = {
    "sku": "CAM-ONE-SALE",
    "name": "クラウドカメラ ONE（販売）",
    "kind": "device",
    "acquisition": "sale",
    "price": {"one_time_yen": 39800, "valid_from": "2026-04-01"},
}
STORAGE = {
    "sku": "OPT-STORAGE-100",
    "name": "追加ストレージ 100GB",
    "kind": "option",
    "fits_plans": ["PLAN-30D"],
    "price": {"monthly_yen": 500, "valid_from": "2026-04-01"},
}
INSTALL = {
    "sku": "SVC-INSTALL",
    "name": "設置工事",
    "kind": "service",
    "price": {"one_time_yen": 25000, "valid_from": "2026-04-01"},
}
NEW_OPEN = {
    "code": "NEW-OPEN-2026",
    "name": "新規開通キャンペーン",
    "valid_from": "2026-04-01",
    "valid_to": "2026-06-30",
    "priority": 10,
    "eligibility": {
        "segments": ["residential"],
        "skus": ["PLAN-30D"],
        "new_customers_only": True,
    },
    "effect": {"type": "free_months", "months": 3},
}
CORP_BULK = {
    "code": "CORP-BULK-10",
    "name": "法人まとめ割",
    "valid_from": "2026-04-01",
    "priority": 50,
    "eligibility": {"segments": ["corporate"], "skus": ["PLAN-30D"], "min_quantity": 10},
    "effect": {"type": "percent", "percent": "10", "applies_to": "monthly"},
}


@pytest.fixture
def catalog(api, aws_storage, published):
    set_clock(aws_storage, "2026-04-15T01:00:00Z")
    for product in (PLAN_30D, CAMERA_RENTAL, CAMERA_SALE, STORAGE, INSTALL):
        response = api("POST", "/catalog/products", product, **OPS)
        assert response.status == 201, response
    for campaign in (NEW_OPEN, CORP_BULK):
        assert api("POST", "/campaigns", campaign, **OPS).status == 201
    published.clear()
    return api


def fields(response) -> dict[str, str]:
    return {d["field"]: d["message"] for d in response.json()["details"]}


# ---- products -------------------------------------------------------------------------------


def test_a_product_is_created_with_its_first_price(api, aws_storage, published):
    set_clock(aws_storage, "2026-04-15T01:00:00Z")
    response = api("POST", "/catalog/products", PLAN_30D, **OPS)
    assert response.status == 201
    body = response.json()
    assert body["product"]["sku"] == "PLAN-30D"
    assert body["product"]["valid_from"] == "2026-04-01"
    assert body["product"]["created_by"] == "ops1"
    assert body["price"]["monthly_yen"] == 1980
    assert [p[1] for p in published] == ["ProductCreated", "PriceVersionAdded"]
    assert published[0][2] == {
        "sku": "PLAN-30D",
        "kind": "plan",
        "name": "録画プラン 30日",
        "by": "ops1",
    }


def test_the_same_product_again_is_200_and_another_is_409(catalog, published):
    again = catalog("POST", "/catalog/products", PLAN_30D, **OPS)
    assert again.status == 200
    assert again.json()["product"]["sku"] == "PLAN-30D"
    renamed = catalog("POST", "/catalog/products", {**PLAN_30D, "name": "録画30日"}, **OPS)
    assert renamed.status == 409
    assert "never edited" in renamed.json()["message"]
    assert published == []


def test_listing_products_with_today_and_a_given_day(catalog):
    body = catalog("GET", "/catalog/products").json()
    assert body["on"] is None
    assert [p["product"]["sku"] for p in body["products"]] == [
        "CAM-ONE-RENT",
        "CAM-ONE-SALE",
        "OPT-STORAGE-100",
        "PLAN-30D",
        "SVC-INSTALL",
    ]
    assert all(p["price"] is not None for p in body["products"])
    plans = catalog("GET", "/catalog/products", query={"kind": "plan"}).json()["products"]
    assert [p["product"]["sku"] for p in plans] == ["PLAN-30D"]
    before = catalog("GET", "/catalog/products", query={"on": "2026-03-31"}).json()
    assert before == {"on": "2026-03-31", "products": []}


def test_bad_listing_parameters_are_400(catalog):
    assert catalog("GET", "/catalog/products", query={"kind": "gadget"}).status == 400
    response = catalog("GET", "/catalog/products", query={"on": "2026-02-30"})
    assert response.status == 400
    assert "query.on" in fields(response)


def test_a_new_price_version_closes_the_previous_the_day_before(catalog, published):
    response = catalog(
        "POST",
        "/catalog/products/PLAN-30D/prices",
        {"monthly_yen": 2180, "valid_from": "2026-10-01"},
        **OPS,
    )
    assert response.status == 201
    assert response.json()["valid_to"] is None
    history = catalog("GET", "/catalog/products/PLAN-30D").json()
    assert history["on"] == "2026-04-15"
    assert history["price"]["monthly_yen"] == 1980
    assert [(p["valid_from"], p["valid_to"], p["monthly_yen"]) for p in history["prices"]] == [
        ("2026-10-01", None, 2180),
        ("2026-04-01", "2026-09-30", 1980),
    ]
    assert history["product"]["latest_price_from"] == "2026-10-01"
    on_edge = catalog("GET", "/catalog/products/PLAN-30D", query={"on": "2026-09-30"}).json()
    assert on_edge["price"]["monthly_yen"] == 1980
    after = catalog("GET", "/catalog/products/PLAN-30D", query={"on": "2026-10-01"}).json()
    assert after["price"]["monthly_yen"] == 2180
    assert published[0][1] == "PriceVersionAdded"
    assert published[0][2]["closes"] == "2026-04-01"


def test_price_versions_that_rewrite_history_are_409(catalog):
    def add(**price):
        return catalog("POST", "/catalog/products/PLAN-30D/prices", price, **OPS)

    assert add(monthly_yen=1500, valid_from="2026-04-01").status == 409  # same start, other terms
    assert add(monthly_yen=1980, valid_from="2026-04-01").status == 200  # the same version
    assert add(monthly_yen=1500, valid_from="2026-03-01").status == 409  # before the newest
    assert add(monthly_yen=2000, valid_from="2026-05-01", valid_to="2026-05-31").status == 201
    overlapping = add(monthly_yen=2100, valid_from="2026-05-15")
    assert overlapping.status == 409
    assert "explicit end" in overlapping.json()["message"]
    assert add(monthly_yen=2100, valid_from="2026-06-01").status == 201


def test_a_bad_price_is_400_field_by_field(catalog):
    response = catalog(
        "POST",
        "/catalog/products/PLAN-30D/prices",
        {"monthly_yen": -1, "tax": "luxury", "valid_from": "2026-13-01"},
        **OPS,
    )
    assert response.status == 400
    assert set(fields(response)) == {"monthly_yen", "tax", "valid_from"}


ENERGY_TIERS = [
    {"up_to": 120, "unit_yen": "29.80"},
    {"up_to": 300, "unit_yen": "36.40"},
    {"up_to": None, "unit_yen": "40.49"},
]


def test_a_usage_price_keeps_its_tiers_exactly(catalog, published):
    usage = {
        "monthly_yen": 2180,
        "usage_unit": "GB",
        "usage_tiers": ENERGY_TIERS,
        "valid_from": "2026-10-01",
    }
    response = catalog("POST", "/catalog/products/PLAN-30D/prices", usage, **OPS)
    assert response.status == 201
    assert response.json()["usage_tiers"] == ENERGY_TIERS
    history = catalog("GET", "/catalog/products/PLAN-30D", query={"on": "2026-10-01"}).json()
    assert (history["price"]["usage_unit"], history["price"]["usage_tiers"]) == (
        "GB",
        ENERGY_TIERS,
    )
    assert published[0][2]["usage_tiers"] == ENERGY_TIERS
    again = catalog("POST", "/catalog/products/PLAN-30D/prices", usage, **OPS)
    assert again.status == 200
    other = {**usage, "usage_tiers": [{"unit_yen": "40"}]}
    assert catalog("POST", "/catalog/products/PLAN-30D/prices", other, **OPS).status == 409
    bad = {**usage, "valid_from": "2026-11-01", "usage_tiers": [{"up_to": 120, "unit_yen": 1}]}
    response = catalog("POST", "/catalog/products/PLAN-30D/prices", bad, **OPS)
    assert response.status == 400
    assert fields(response)["usage_tiers"].endswith("the last tier is open: leave its up_to empty")


def test_an_unknown_product_is_404(catalog):
    assert catalog("GET", "/catalog/products/NOPE").status == 404
    assert catalog("GET", "/catalog/products/lower-case").status == 404
    response = catalog(
        "POST",
        "/catalog/products/NOPE/prices",
        {"monthly_yen": 1, "valid_from": "2026-05-01"},
        **OPS,
    )
    assert response.status == 404


def test_an_option_must_name_plans_of_the_catalog(catalog):
    response = catalog(
        "POST",
        "/catalog/products",
        {**STORAGE, "sku": "OPT-X", "fits_plans": ["PLAN-30D", "PLAN-90D", "CAM-ONE-SALE"]},
        **OPS,
    )
    assert response.status == 400
    assert fields(response) == {
        "fits_plans[1]": "unknown plan PLAN-90D",
        "fits_plans[2]": "CAM-ONE-SALE is a device",
    }
    assert catalog("POST", "/catalog/products", {"sku": "X", "kind": "device"}, **OPS).status == 400


def test_a_product_is_retired_never_deleted(catalog):
    response = catalog(
        "POST", "/catalog/products/CAM-ONE-SALE/retire", {"valid_to": "2026-12-31"}, **OPS
    )
    assert response.status == 200
    assert response.json()["valid_to"] == "2026-12-31"
    history = catalog("GET", "/catalog/products/CAM-ONE-SALE", query={"on": "2027-01-01"}).json()
    assert history["price"] is None
    assert history["prices"][0]["valid_to"] == "2026-12-31"
    offered = catalog("GET", "/catalog/products", query={"on": "2027-01-01"}).json()["products"]
    assert "CAM-ONE-SALE" not in [p["product"]["sku"] for p in offered]
    again = catalog(
        "POST", "/catalog/products/CAM-ONE-SALE/retire", {"valid_to": "2026-12-31"}, **OPS
    )
    assert again.status == 200
    other = catalog(
        "POST", "/catalog/products/CAM-ONE-SALE/retire", {"valid_to": "2026-11-30"}, **OPS
    )
    assert other.status == 409
    price = catalog(
        "POST",
        "/catalog/products/CAM-ONE-SALE/prices",
        {"one_time_yen": 29800, "valid_from": "2026-12-01"},
        **OPS,
    )
    assert price.status == 409


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/catalog/products", PLAN_30D),
        (
            "POST",
            "/catalog/products/PLAN-30D/prices",
            {"monthly_yen": 1, "valid_from": "2027-01-01"},
        ),
        ("POST", "/catalog/products/PLAN-30D/retire", {"valid_to": "2027-01-01"}),
        ("POST", "/campaigns", NEW_OPEN),
    ],
)
def test_only_ops_and_managers_change_the_catalog(api, method, path, body):
    assert api(method, path, body, groups="sales").status == 403
    assert api(method, path, body, groups="agency").status == 403
    assert api(method, path, body, groups="customer").status == 403
    assert api(method, path, body, groups=None).status == 401


@pytest.mark.parametrize("group", ["regional-manager", "corporate-manager"])
def test_managers_may_change_the_catalog(api, group):
    assert api("POST", "/catalog/products", PLAN_30D, groups=group).status == 201


def test_reading_is_for_staff(catalog):
    assert catalog("GET", "/catalog/products", groups="sales").status == 200
    assert catalog("GET", "/campaigns", groups="agency", agency_id="agency-1").status == 200
    assert catalog("GET", "/catalog/products", groups="customer").status == 403
    assert catalog("GET", "/campaigns", groups=None).status == 401


# ---- campaigns ------------------------------------------------------------------------------


def test_campaigns_are_listed_all_or_in_force_on_a_day(catalog):
    every = catalog("GET", "/campaigns").json()["campaigns"]
    assert [c["code"] for c in every] == ["CORP-BULK-10", "NEW-OPEN-2026"]
    assert every[0]["effect"] == {
        "type": "percent",
        "percent": "10",
        "applies_to": "monthly",
        "months": None,
    }
    last_day = catalog("GET", "/campaigns", query={"on": "2026-06-30"}).json()
    assert [c["code"] for c in last_day["campaigns"]] == ["NEW-OPEN-2026", "CORP-BULK-10"]
    after = catalog("GET", "/campaigns", query={"on": "2026-07-01"}).json()
    assert [c["code"] for c in after["campaigns"]] == ["CORP-BULK-10"]
    before = catalog("GET", "/campaigns", query={"on": "2026-03-31"}).json()
    assert before["campaigns"] == []


def test_a_campaign_again_is_200_and_changed_terms_are_409(catalog):
    assert catalog("POST", "/campaigns", NEW_OPEN, **OPS).status == 200
    changed = {**NEW_OPEN, "effect": {"type": "free_months", "months": 6}}
    response = catalog("POST", "/campaigns", changed, **OPS)
    assert response.status == 409
    assert "new code" in response.json()["message"]


def test_a_bad_campaign_is_400_field_by_field(catalog):
    response = catalog(
        "POST",
        "/campaigns",
        {
            "code": "bad code",
            "name": "",
            "valid_from": "2026-04-01",
            "eligibility": {"skus": ["PLAN-30D"], "channels": ["fax"]},
            "effect": {"type": "percent", "percent": "120"},
        },
        **OPS,
    )
    assert response.status == 400
    assert {"code", "name", "eligibility.channels[0]", "effect.percent.percent"} <= set(
        fields(response)
    )
    unknown = catalog(
        "POST",
        "/campaigns",
        {**NEW_OPEN, "code": "X1", "eligibility": {"skus": ["PLAN-30D", "PLAN-90D"]}},
        **OPS,
    )
    assert unknown.status == 400
    assert fields(unknown) == {"eligibility.skus[1]": "unknown SKU PLAN-90D"}
    bundle = catalog(
        "POST",
        "/campaigns",
        {
            **NEW_OPEN,
            "code": "X2",
            "eligibility": {},
            "effect": {"type": "bundle", "skus": ["NOPE", "PLAN-30D"], "monthly_yen": 1},
        },
        **OPS,
    )
    assert fields(bundle) == {"effect.skus[0]": "unknown SKU NOPE"}


def test_a_campaign_is_published(api, aws_storage, published):
    api("POST", "/catalog/products", PLAN_30D, **OPS)
    published.clear()
    assert api("POST", "/campaigns", NEW_OPEN, **OPS).status == 201
    assert published == [
        (
            "monosub.catalog",
            "CampaignCreated",
            {
                "code": "NEW-OPEN-2026",
                "name": "新規開通キャンペーン",
                "by": "ops1",
                "source": "api",
            },
        )
    ]


# ---- price preview --------------------------------------------------------------------------


def preview(api, **body):
    request = {
        "date": "2026-04-15",
        "segment": "residential",
        "channel": "web",
        "new_customer": True,
        "lines": [{"sku": "CAM-ONE-SALE", "quantity": 1}],
    } | body
    return api("POST", "/prices/preview", request)


def test_a_residential_web_order_with_three_free_months(catalog):
    response = preview(
        catalog,
        lines=[
            {"sku": "CAM-ONE-SALE", "quantity": 1},
            {"sku": "PLAN-30D", "quantity": 1, "options": ["OPT-STORAGE-100"]},
            {"sku": "SVC-INSTALL", "quantity": 1},
        ],
    )
    assert response.status == 200, response
    body = response.json()
    plan = body["lines"][1]
    assert plan["effects"][0]["code"] == "NEW-OPEN-2026"
    assert plan["net_monthly"] == [
        {"from_month": 1, "to_month": 3, "yen": 0},
        {"from_month": 4, "to_month": 12, "yen": 1980},
    ]
    assert plan["options"][0]["net_monthly"] == [{"from_month": 1, "to_month": 12, "yen": 500}]
    assert body["one_time"]["subtotal_yen"] == 39800 + 25000
    assert body["one_time"]["taxes"] == [
        {"tax": "standard", "rate_percent": 10, "base_yen": 64800, "tax_yen": 6480}
    ]
    assert [
        (m["from_month"], m["to_month"], m["subtotal_yen"], m["tax_yen"]) for m in body["monthly"]
    ] == [
        (1, 3, 500, 50),
        (4, 12, 2480, 248),
    ]
    assert body["term"]["monthly_yen"] == 3 * 500 + 9 * 2480
    assert body["campaigns_applied"] == ["NEW-OPEN-2026"]
    assert body["tax_rounding"] == "floor"


def test_a_corporate_order_of_ten_gets_ten_percent_off(catalog):
    body = preview(
        catalog,
        segment="corporate",
        channel="direct",
        new_customer=False,
        lines=[{"sku": "PLAN-30D", "quantity": 10}],
    ).json()
    assert body["lines"][0]["net_monthly"] == [{"from_month": 1, "to_month": 12, "yen": 17820}]
    assert body["campaigns_applied"] == ["CORP-BULK-10"]
    nine = preview(catalog, segment="corporate", lines=[{"sku": "PLAN-30D", "quantity": 9}]).json()
    assert nine["campaigns_applied"] == []
    assert {c["code"]: c["reason"] for c in nine["campaigns_not_applied"]} == {
        "NEW-OPEN-2026": "for residential customers only",
        "CORP-BULK-10": "needs 10 units of PLAN-30D; the document has 9",
    }


def test_the_preview_defaults_to_today(catalog):
    body = preview(catalog, date=None).json()
    assert body["date"] == "2026-04-15"


def test_bad_lines_are_refused_with_their_positions(catalog):
    response = preview(
        catalog,
        lines=[
            {"sku": "CAM-ONE-SALE", "quantity": 0},
            {"sku": "NOPE", "quantity": 1},
            {
                "sku": "PLAN-30D",
                "quantity": 1,
                "options": ["OPT-STORAGE-100", "SVC-INSTALL", "NOPE"],
            },
            {"sku": "CAM-ONE-SALE", "quantity": 1, "options": ["OPT-STORAGE-100"]},
            {"sku": "OPT-STORAGE-100", "quantity": 1},
        ],
    )
    assert response.status == 400
    assert fields(response) == {
        "lines[0].quantity": "the quantity must be at least 1",
        "lines[1].sku": "unknown SKU NOPE",
        "lines[2].options[1]": "SVC-INSTALL is a service, not an option",
        "lines[2].options[2]": "unknown SKU NOPE",
        "lines[3].options[0]": "options go on a plan's line; CAM-ONE-SALE is a device",
        "lines[4].sku": "OPT-STORAGE-100 is an option: list it in the options of its plan's line",
    }
    early = preview(catalog, date="2026-03-31")
    assert early.status == 400
    assert fields(early) == {
        "lines[0].sku": "CAM-ONE-SALE is offered from 2026-04-01, not on 2026-03-31"
    }


def test_a_malformed_preview_is_400(catalog):
    assert preview(catalog, segment="government").status == 400
    assert preview(catalog, lines=[]).status == 400
    assert preview(catalog, term_months=0).status == 400
    assert catalog("POST", "/prices/preview", "{nope").status == 400


def test_the_preview_is_for_staff(catalog):
    assert preview(catalog).status == 200
    body = {
        "segment": "residential",
        "channel": "web",
        "lines": [{"sku": "CAM-ONE-SALE", "quantity": 1}],
    }
    assert catalog("POST", "/prices/preview", body, groups="customer").status == 403
    assert catalog("POST", "/prices/preview", body, groups=None).status == 401


def test_the_sample_event_runs_through_the_handler(catalog, aws_storage):
    from functions.api import app
    from monosub import config

    event = json.loads((EVENTS / "price-preview.json").read_text(encoding="utf-8"))
    environment = manifest.function("api").environment(aws_storage)
    with config.function_environment(environment):
        raw = app.handler(event, FakeContext("api"))
    assert raw["statusCode"] == 200, raw
    body = json.loads(raw["body"])
    assert body["campaigns_applied"] == ["NEW-OPEN-2026"]
    assert body["lines"][1]["net_monthly"][0] == {"from_month": 1, "to_month": 3, "yen": 0}


# ---- conditional writes ---------------------------------------------------------------------


def test_a_version_written_from_a_stale_read_is_refused_and_the_service_reads_again(
    catalog, aws_storage, monkeypatch
):
    from monosub import config
    from monosub.models.catalog import PriceDraft, PriceVersion
    from monosub.services import catalog as service
    from monosub.store import catalog as store
    from monosub.store.dynamo import TransactionConflict

    environment = manifest.function("api").environment(aws_storage)
    with config.function_environment(environment):
        stale = store.product_entry("PLAN-30D")
        service.add_price(
            "PLAN-30D", PriceDraft(monthly_yen=2180, valid_from="2026-10-01"), actor="ops2"
        )
        late = PriceVersion(
            sku="PLAN-30D",
            monthly_yen=2380,
            valid_from="2026-11-01",
            created_at="2026-04-15T01:00:00Z",
            created_by="ops1",
        )
        with pytest.raises(TransactionConflict):
            store.add_price_version(stale.product, late, closes=stale.prices[0], now="x")

        reads = []
        fresh_read = store.product_entry

        def first_read_is_stale(sku):
            reads.append(sku)
            return stale if len(reads) == 1 else fresh_read(sku)

        monkeypatch.setattr(store, "product_entry", first_read_is_stale)
        _, created = service.add_price(
            "PLAN-30D", PriceDraft(monthly_yen=2380, valid_from="2026-11-01"), actor="ops1"
        )
        assert created and len(reads) == 2
        monkeypatch.undo()
        history = service.product_history("PLAN-30D")
    assert [
        (p.valid_from.isoformat(), p.valid_to and p.valid_to.isoformat()) for p in history.prices
    ] == [
        ("2026-11-01", None),
        ("2026-10-01", "2026-10-31"),
        ("2026-04-01", "2026-09-30"),
    ]
