"""A year of one contract, watched with the test clock: it starts at shipping mid-month with
two free months (a campaign), is invoiced at every month-end closing, recognized month by
month, renews by itself at the end of its term. The schedules do it all (the business clock
fires them; the hourly sweep is left out to keep the test short)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from local.runtime import EmbeddedAWS
from monosub.documents import pdf_rendering_available
from monosub.store import billing as billing_store
from tests.integration.test_billing import started_contract
from tests.sales_flow import Calls, priced_cloud

pytestmark = pytest.mark.skipif(
    pdf_rendering_available() is not None, reason=str(pdf_rendering_available())
)
OPS = {"groups": "ops", "user": "ops-sato"}
BILLING_SCHEDULES = ("month-end", "invoicing", "contract-renewals")
FREE_MONTHS = {
    "code": "FREE-2M-2026",
    "name": "録画プラン 2ヶ月無料",
    "valid_from": "2026-11-01",
    "valid_to": "2026-12-31",
    "priority": 5,
    "exclusive": False,
    "eligibility": {"segments": [], "channels": [], "skus": ["PLAN-30D"]},
    "effect": {"type": "free_months", "months": 2},
}


@pytest.fixture
def cloud() -> Iterator[EmbeddedAWS]:
    with priced_cloud(datetime(2026, 11, 24, 1, 0, tzinfo=UTC)) as embedded:
        yield embedded


@pytest.fixture
def call(cloud: EmbeddedAWS) -> Calls:
    return Calls(cloud)


def test_a_year_of_a_contract(cloud: EmbeddedAWS, call: Calls) -> None:
    assert call("POST", "/campaigns", FREE_MONTHS, **OPS).status == 201
    contract = started_contract(cloud, call)  # shipped 2026-11-25
    account_id = contract["account_id"]
    components = call("GET", f"/billing-accounts/{account_id}").json()["components"]
    (free,) = [c for c in components if c["discount"]]
    assert free["ends"] == "2027-01-24"  # two months from the 25th

    # to 2 December 2027, 02:30 in Tokyo, month by month
    for year, month in [(2026, 12)] + [(2027, m) for m in range(1, 13)]:
        cloud.set_clock(datetime(year, month, 1, 17, 30, tzinfo=UTC), only=BILLING_SCHEDULES)
    cloud.wait_for_executions()

    invoices = sorted(
        call("GET", "/invoices", query={"account_id": account_id, "limit": "50"}).json()[
            "invoices"
        ],
        key=lambda i: i["closing_date"],
    )
    closings = [i["closing_date"] for i in invoices]
    # November 2026 (the device; the plan's first days free), December (the plan free all
    # month, the option charged), then every month
    assert closings == [
        "2026-11-30",
        "2026-12-31",
        *[f"2027-{m:02d}-{last}" for m, last in _month_ends(2027)][:11],
    ]
    assert [i["number"] for i in invoices] == ["INV-2026-000001", "INV-2026-000002"] + [
        f"INV-2027-{n:06d}" for n in range(1, 12)
    ]
    december = {line["name"]: line["amount"] for line in invoices[1]["lines"]}
    assert december["録画プラン 30日"] == -december["録画プラン 2ヶ月無料（録画プラン 30日）"]
    january = invoices[2]
    plan = [line for line in january["lines"] if line["month"] == "2027-01"]
    assert any(line["prorated"] and line["amount"] < 0 for line in plan)  # free to the 24th

    # the term ended 2027-11-24 and renewed by itself; billing went on without a break
    renewed = call("GET", f"/contracts/{contract['contract_id']}").json()
    assert renewed["renewed_count"] == 1 and renewed["end_date"] == "2028-11-24"
    november = invoices[-1]
    assert november["closing_date"] == "2027-11-30"
    assert not any(line["prorated"] for line in november["lines"])

    # month-end revenue ran once per month, and what was billed is what was recognized
    runs = call("GET", "/runs", query={"kind": "month-end-revenue", "limit": "50"}, **OPS).json()
    months = sorted(r["business_key"] for r in runs["runs"])
    assert months == [f"month-end#2026-{m}" for m in ("11", "12")] + [
        f"month-end#2027-{m:02d}" for m in range(1, 12)
    ]
    recognized = _revenue(cloud, account_id)
    assert sum(i["subtotal"] for i in invoices) == sum(recognized.values())
    assert recognized["2026-12"] == invoices[1]["subtotal"]


def _month_ends(year: int) -> list[tuple[int, int]]:
    import calendar

    return [(m, calendar.monthrange(year, m)[1]) for m in range(1, 13)]


def _revenue(cloud: EmbeddedAWS, account_id: str) -> dict[str, Any]:
    months = ["2026-11", "2026-12"] + [f"2027-{m:02d}" for m in range(1, 12)]
    with cloud.as_function("month-end-batch"):
        return {m: sum(r.amount for r in billing_store.revenue_of(m, account_id)) for m in months}
