"""Usage billing on the embedded AWS: an option priced by usage (a version added through the
catalog API) gives a started contract a usage component; a readings drop is checked whole
(a bad file is quarantined) and stores November's reading; the month-end revenue of
November has it, November's invoice does not (arrears), December's bills it as
``… 従量料金（250.5GB）``; a corrected reading is an adjustment on January's invoice."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from local.runtime import EmbeddedAWS
from monosub.documents import pdf_rendering_available
from tests.integration.test_billing import OPS, started_contract
from tests.sales_flow import Calls, priced_cloud

pytestmark = pytest.mark.skipif(
    pdf_rendering_available() is not None, reason=str(pdf_rendering_available())
)
DOWNLOAD_BY_USAGE = {
    "monthly_yen": 300,
    "usage_unit": "GB",
    "usage_tiers": [{"up_to": 100, "unit_yen": "0"}, {"up_to": None, "unit_yen": "12.5"}],
    "valid_from": "2026-11-24",
}


@pytest.fixture
def cloud() -> Iterator[EmbeddedAWS]:
    with priced_cloud(datetime(2026, 11, 24, 1, 0, tzinfo=UTC)) as embedded:
        yield embedded


@pytest.fixture
def call(cloud: EmbeddedAWS) -> Calls:
    return Calls(cloud)


def readings(*rows: str) -> bytes:
    return ("contract_number,sku,month,quantity,read_on\r\n" + "".join(rows)).encode("utf-8")


def invoices(call: Calls, account_id: str) -> list[dict[str, Any]]:
    return call("GET", "/invoices", query={"account_id": account_id}).json()["invoices"]


def usage_lines(invoice: dict[str, Any]) -> list[dict[str, Any]]:
    return [line for line in invoice["lines"] if ".u" in line["component"]]


def test_a_usage_priced_option_is_billed_in_arrears_and_corrected(cloud: EmbeddedAWS, call: Calls):
    added = call("POST", "/catalog/products/OPT-DOWNLOAD/prices", DOWNLOAD_BY_USAGE, **OPS)
    assert added.status == 201, added
    contract = started_contract(cloud, call)
    number, account_id = contract["number"], contract["account_id"]
    account = call("GET", f"/billing-accounts/{account_id}").json()
    (usage,) = [c for c in account["components"] if c["kind"] == "usage"]
    assert (usage["sku"], usage["usage_unit"], usage["starts"]) == (
        "OPT-DOWNLOAD",
        "GB",
        "2026-11-25",
    )
    # the base amount stays the document's monthly line, once
    download = [c for c in account["components"] if c["sku"] == "OPT-DOWNLOAD"]
    assert sorted(c["kind"] for c in download) == ["monthly", "usage"]

    bad = cloud.drop(
        "usage-readings",
        "bad.csv",
        readings(
            f"{number},OPT-DOWNLOAD,2026-10,5,\r\n",
            "C2026-999999,OPT-DOWNLOAD,2026-11,5,\r\n",
            f"{number},PLAN-30D,2026-11,5,\r\n",
            f"{number},OPT-DOWNLOAD,2026-11,5,\r\n",
        ),
    )
    assert bad["status"] == "quarantined", bad
    assert [(e["line"], e["field"]) for e in bad["errors"]] == [
        (2, "month"),
        (3, "contract_number"),
        (4, "sku"),
    ]
    assert call("GET", f"/billing-accounts/{account_id}").json()["usage"] == {}

    good = cloud.drop(
        "usage-readings",
        "readings-202611.csv",
        readings(f"{number},OPT-DOWNLOAD,2026-11,250.5,\r\n"),
    )
    assert good["status"] == "succeeded", good
    assert good["counts"]["readings_stored"] == 1
    key = f"{contract['contract_id']}|{usage['key']}|2026-11"
    assert call("GET", f"/billing-accounts/{account_id}").json()["usage"] == {key: "250.5"}

    # 1 December: November's revenue has the reading; November's invoice does not (arrears)
    cloud.set_clock(datetime(2026, 11, 30, 17, 30, tzinfo=UTC))
    cloud.wait_for_executions()
    body = cloud.s3.get_object(
        Bucket=cloud.bucket("exchange"), Key="outbox/accounting/2026-11/revenue-202611.csv"
    )["Body"].read()
    revenue = [
        r
        for r in csv.DictReader(io.StringIO(body.decode("utf-8")))
        if r["component"] == usage["key"]
    ]
    # 100 GB free, 150.5 GB × ¥12.5 = ¥1,881.25: floored once
    assert [(r["month"], r["amount"]) for r in revenue] == [("2026-11", "1881")]
    (november,) = invoices(call, account_id)
    assert usage_lines(november) == []

    # 1 January: December's invoice bills November's usage
    cloud.set_clock(datetime(2026, 12, 31, 17, 30, tzinfo=UTC))
    cloud.wait_for_executions()
    december = invoices(call, account_id)[0]
    assert december["closing_date"] == "2026-12-31"
    (line,) = usage_lines(december)
    assert line["name"] == "映像ダウンロード 従量料金（250.5GB）"
    assert (line["period"], line["month"], line["amount"], line["adjustment"]) == (
        "2026年11月分",
        "2026-11",
        1881,
        False,
    )

    # the meter company corrects November: an adjustment on January's invoice, once
    corrected = cloud.drop(
        "usage-readings",
        "readings-202611-fix.csv",
        readings(f"{number},OPT-DOWNLOAD,2026-11,300,\r\n"),
    )
    assert corrected["status"] == "succeeded", corrected
    assert corrected["counts"]["readings_replaced"] == 1
    cloud.set_clock(datetime(2027, 1, 31, 17, 30, tzinfo=UTC))
    cloud.wait_for_executions()
    january = invoices(call, account_id)[0]
    assert january["closing_date"] == "2027-01-31"
    (adjustment,) = usage_lines(january)
    assert adjustment["name"] == "映像ダウンロード 従量料金（300GB）"
    assert (adjustment["period"], adjustment["amount"], adjustment["adjustment"]) == (
        "2026年11月分 調整",
        2500 - 1881,
        True,
    )
    assert [i["number"] for i in invoices(call, account_id)] == [
        "INV-2027-000001",
        "INV-2026-000002",
        "INV-2026-000001",
    ]


def revenue_file(cloud: EmbeddedAWS, month: str, component: str) -> list[dict[str, str]]:
    body = cloud.s3.get_object(
        Bucket=cloud.bucket("exchange"),
        Key=f"outbox/accounting/{month}/revenue-{month.replace('-', '')}.csv",
    )["Body"].read()
    rows = csv.DictReader(io.StringIO(body.decode("utf-8")))
    return [r for r in rows if r["component"] == component]


def test_a_reading_after_its_months_run_is_in_the_next_revenue_file_once(
    cloud: EmbeddedAWS, call: Calls
):
    """The meter company's November file arrives on 3 December, after November's run: the
    December revenue file recognizes it (month 2026-12, service month 2026-11), once; a
    correction after December's run is the difference in January's file."""
    added = call("POST", "/catalog/products/OPT-DOWNLOAD/prices", DOWNLOAD_BY_USAGE, **OPS)
    assert added.status == 201, added
    contract = started_contract(cloud, call)
    number, account_id = contract["number"], contract["account_id"]
    account = call("GET", f"/billing-accounts/{account_id}").json()
    (usage,) = [c for c in account["components"] if c["kind"] == "usage"]

    cloud.set_clock(datetime(2026, 11, 30, 17, 30, tzinfo=UTC))  # 1 December: November's run
    cloud.wait_for_executions()
    assert revenue_file(cloud, "2026-11", usage["key"]) == []

    cloud.set_clock(datetime(2026, 12, 3, 1, 0, tzinfo=UTC))
    late = cloud.drop(
        "usage-readings",
        "readings-202611.csv",
        readings(f"{number},OPT-DOWNLOAD,2026-11,250.5,\r\n"),
    )
    assert late["status"] == "succeeded", late

    cloud.set_clock(datetime(2026, 12, 31, 17, 30, tzinfo=UTC))  # 1 January: December's run
    cloud.wait_for_executions()
    december = revenue_file(cloud, "2026-12", usage["key"])
    assert [(r["month"], r["service_month"], r["amount"]) for r in december] == [
        ("2026-12", "2026-11", "1881")
    ]

    corrected = cloud.drop(
        "usage-readings",
        "readings-202611-fix.csv",
        readings(f"{number},OPT-DOWNLOAD,2026-11,300,\r\n"),
    )
    assert corrected["status"] == "succeeded", corrected
    cloud.set_clock(datetime(2027, 1, 31, 17, 30, tzinfo=UTC))  # 1 February: January's run
    cloud.wait_for_executions()
    january = revenue_file(cloud, "2027-01", usage["key"])
    assert [(r["month"], r["service_month"], r["amount"]) for r in january] == [
        ("2027-01", "2026-11", str(2500 - 1881))
    ]
    # in all, the files recognize November's corrected reading once: what was billed
    recognized = sum(
        int(r["amount"])
        for month in ("2026-11", "2026-12", "2027-01")
        for r in revenue_file(cloud, month, usage["key"])
        if r["service_month"] == "2026-11"
    )
    assert recognized == 2500
