"""The price-book and campaigns files through the embedded AWS: dropped under inbox/, run by
the real file-intake state machine, applied whole or quarantined with every bad line."""

from __future__ import annotations

import datetime as dt
from datetime import UTC, datetime
from pathlib import Path

import pytest

from local.runtime import EmbeddedAWS
from monosub.intake import kinds
from monosub.intake.kinds import ApplyContext
from monosub.models.catalog import PricingRequest
from monosub.services import catalog, pricing

DATA = Path(__file__).resolve().parents[1] / "data" / "catalog"
START = datetime(2026, 4, 15, 0, 0, tzinfo=UTC)


@pytest.fixture
def cloud():
    with EmbeddedAWS(business_time=START) as embedded:
        yield embedded


def sample(name: str) -> bytes:
    return (DATA / name).read_bytes()


def test_the_sample_price_book_and_campaigns_load_and_price_an_order(cloud):
    run = cloud.drop("price-book", "2026-04.csv", sample("price-book.csv"))
    assert run["status"] == "succeeded", run
    assert run["counts"] == {
        "rows": 12,
        "rows_invalid": 0,
        "products_created": 11,
        "products_unchanged": 0,
        "prices_added": 12,
        "prices_unchanged": 0,
    }
    run = cloud.drop("campaigns", "2026-04.json", sample("campaigns.json"))
    assert run["status"] == "succeeded", run
    assert run["counts"] == {
        "rows": 4,
        "rows_invalid": 0,
        "campaigns_created": 4,
        "campaigns_unchanged": 0,
    }
    with cloud.as_function("api"):
        plan = catalog.product_history("PLAN-30D")
        option = catalog.product_history("OPT-STORAGE-100")
        in_force = [c.code for c in catalog.list_campaigns(on=dt.date(2026, 4, 15))]
        result = pricing.preview(
            PricingRequest.model_validate(
                {
                    "segment": "residential",
                    "channel": "web",
                    "new_customer": True,
                    "lines": [
                        {"sku": "CAM-ONE-SALE", "quantity": 1},
                        {"sku": "PLAN-30D", "quantity": 1, "options": ["OPT-STORAGE-100"]},
                        {"sku": "SVC-INSTALL", "quantity": 1},
                    ],
                }
            )
        )
    assert [(p.valid_from.isoformat(), p.valid_to) for p in plan.prices] == [
        ("2026-10-01", None),
        ("2026-04-01", dt.date(2026, 9, 30)),
    ]
    assert plan.price is not None and plan.price.monthly_yen == 1980
    assert (
        plan.prices[0].source
        == f"s3://{cloud.bucket('exchange')}/inbox/price-book/2026-04.csv#line=7"
    )
    assert option.product.fits_plans == ["PLAN-30D", "PLAN-365D"]
    assert in_force == ["NEW-OPEN-2026", "STARTER-SET", "CORP-BULK-10", "WEB-INSTALL-5000"]
    assert result.date == dt.date(2026, 4, 15)
    assert result.campaigns_applied == ["NEW-OPEN-2026", "WEB-INSTALL-5000"]
    assert result.one_time.subtotal_yen == 39800 + 25000 - 5000
    assert [(m.from_month, m.to_month, m.subtotal_yen) for m in result.monthly] == [
        (1, 3, 500),
        (4, 12, 2480),
    ]


def test_an_invalid_price_book_is_quarantined_with_every_bad_line(cloud):
    run = cloud.drop("price-book", "bad.csv", sample("price-book-invalid.csv"))
    assert run["status"] == "quarantined"
    assert run["counts"] == {"rows": 6, "rows_invalid": 6}
    assert [(e["line"], e.get("field")) for e in run["errors"]] == [
        (2, None),
        (3, "monthly_yen"),
        (4, "fits_plans[0]"),
        (5, "tax"),
        (5, "valid_from"),
        (6, None),
        (7, None),
    ]
    with cloud.as_function("api"):
        assert catalog.list_products() == []


def test_invalid_campaigns_are_quarantined_and_nothing_is_written(cloud):
    cloud.drop("price-book", "2026-04.csv", sample("price-book.csv"))
    run = cloud.drop("campaigns", "bad.json", sample("campaigns-invalid.json"))
    assert run["status"] == "quarantined"
    assert [e["line"] for e in run["errors"]] == [2, 9, 16, 23]
    with cloud.as_function("api"):
        assert catalog.list_campaigns() == []


def test_a_later_price_book_adds_versions_and_one_that_rewrites_history_is_refused(cloud):
    cloud.drop("price-book", "2026-04.csv", sample("price-book.csv"))
    header = sample("price-book.csv").decode().splitlines()[0]
    next_year = "\n".join(
        [
            header,
            "PLAN-7D,録画プラン 7日,plan,,,,1200,,standard,2026-04-01,",
            "PLAN-7D,録画プラン 7日,plan,,,,1320,,standard,2027-04-01,",
            "PLAN-365D,録画プラン 365日,plan,,,,5800,,standard,2027-04-01,",
        ]
    )
    run = cloud.drop("price-book", "2027-04.csv", next_year.encode())
    assert run["status"] == "succeeded", run
    assert run["counts"]["prices_added"] == 2
    assert run["counts"]["prices_unchanged"] == 1
    with cloud.as_function("api"):
        history = catalog.product_history("PLAN-7D")
    assert [(p.valid_from.isoformat(), p.valid_to) for p in history.prices] == [
        ("2027-04-01", None),
        ("2026-04-01", dt.date(2027, 3, 31)),
    ]
    rewrite = "\n".join([header, "PLAN-30D,録画プラン 30日,plan,,,,1780,,standard,2026-04-01,"])
    run = cloud.drop("price-book", "oops.csv", rewrite.encode())
    assert run["status"] == "quarantined"
    assert run["errors"][0]["line"] == 2
    assert "never edited" in run["errors"][0]["message"]


def test_a_retried_apply_writes_nothing_twice(cloud):
    context = ApplyContext(run_id="run_retry", bucket="b", key="k", progress=lambda _: None)
    for kind, name in (("price-book", "price-book.csv"), ("campaigns", "campaigns.json")):
        processor = kinds.processor_for(kind)
        assert processor is not None
        with cloud.as_function("intake-apply"):
            first = processor.apply(processor.parse(sample(name)).rows, context)
            second = processor.apply(processor.parse(sample(name)).rows, context)
        assert all(v == 0 for k, v in second.items() if "created" in k or "added" in k), second
        assert sum(first.values()) == sum(second.values())
    with cloud.as_function("api"):
        assert len(catalog.product_history("PLAN-30D").prices) == 2
        assert len(catalog.list_campaigns()) == 4
