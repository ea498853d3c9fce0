"""Contracts on the embedded AWS: the 契約書 PDF rendered by the real renderer function into
the documents bucket, the daily renewal schedule fired by the business clock (RenewalQuoteDue
once per term, across reruns, recorded in the run ledger and the audit trail), and the
dashboard through the API function."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from local.runtime import EmbeddedAWS
from monosub.documents import pdf_rendering_available, storage
from monosub.names import DOCUMENTS
from monosub.services import contracts as service
from monosub.store import audit, runs
from tests.conftest import ApiResponse, proxy_event
from tests.priced_quotes import priced_quote

pytestmark = pytest.mark.skipif(
    pdf_rendering_available() is not None, reason=str(pdf_rendering_available())
)

AGREED = "2026-11-10T03:00:00Z"


@pytest.fixture(scope="module")
def cloud() -> Iterator[EmbeddedAWS]:
    with EmbeddedAWS(business_time=datetime(2026, 11, 10, 3, 0, tzinfo=UTC)) as embedded:
        yield embedded


def make_contract(cloud: EmbeddedAWS, **quote_fields):
    quote = priced_quote(**quote_fields)
    with cloud.as_function("api"):
        return service.create_from_quote(
            quote, agreed_at=AGREED, consent_id="consent_e2e", document_sha256="ab" * 32
        )


def api(cloud: EmbeddedAWS, method: str, path: str, body=None, **kwargs) -> ApiResponse:
    return ApiResponse(cloud.invoke("api", proxy_event(method, path, body, **kwargs)))


def trail(cloud: EmbeddedAWS, account_id: str) -> list[str]:
    with cloud.as_function("api"), cloud.as_function("event-journal"):
        return [str(item["type"]) for item in audit.trail("account", account_id)]


def test_the_contract_pdf_is_rendered_once_by_the_renderer(cloud):
    before = sum(1 for i in cloud.invocations if i.function == "document-renderer")
    quote = priced_quote(account_id="account_pdf", company="株式会社さくら警備保障")
    with cloud.as_function("api"):
        contract = service.create_from_quote(
            quote, agreed_at=AGREED, consent_id="consent_1", document_sha256="ab" * 32
        )
        again = service.create_from_quote(
            quote, agreed_at=AGREED, consent_id="consent_1", document_sha256="ab" * 32
        )
        pdf = storage.read_pdf(contract.pdf_key)
    assert again == contract
    assert pdf.startswith(b"%PDF-")
    assert hashlib.sha256(pdf).hexdigest() == contract.pdf_sha256
    head = cloud.s3.head_object(Bucket=cloud.bucket(DOCUMENTS), Key=contract.pdf_key)
    assert head["Metadata"] == {"sha256": contract.pdf_sha256, "kind": "contract"}
    after = sum(1 for i in cloud.invocations if i.function == "document-renderer")
    assert after - before == 1
    assert trail(cloud, "account_pdf") == ["ContractCreated"]
    if shutil.which("pdftotext"):
        text = subprocess.run(
            ["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True
        ).stdout.decode()
        for expected in (
            "サービス利用契約書",
            contract.number,
            "株式会社さくら警備保障",
            "利用開始日から12ヶ月間",
            "期間満了日の30日前までに",
            f"¥{contract.monthly_total:,}/月",
        ):
            assert expected in text


def test_the_daily_schedule_requests_a_renewal_quote_once(cloud):
    contract = make_contract(cloud, account_id="account_renew", term_months=1)
    with cloud.as_function("api"):
        service.start(contract.contract_id, dt.date(2026, 11, 20), by="shipping")
    # ends 2026-12-19, notice date 2026-11-19: due from 2026-10-20, so at the next run
    fired = cloud.advance(days=1)
    assert {"rule": "monosub-local-contract-renewals-daily", "at": "2026-11-10T21:00:00Z"} in fired
    assert trail(cloud, "account_renew").count("RenewalQuoteDue") == 1
    cloud.advance(days=1)
    rerun = cloud.invoke("contract-renewals", {"time": "2026-11-10T21:00:00Z"})
    assert rerun["rerun"] is True
    assert trail(cloud, "account_renew").count("RenewalQuoteDue") == 1
    with cloud.as_function("api"):
        ledger = {r.business_key: r for r in runs.list_runs(kind="contract-renewals")}
        marked = service.get_contract(contract.contract_id)
    first = ledger["contract-renewals#2026-11-11"]
    second = ledger["contract-renewals#2026-11-12"]
    assert first.status == second.status == "succeeded"
    assert first.counts["requested"] == 1 and second.counts["requested"] == 0
    assert marked.renewal_requested_for == dt.date(2026, 12, 19)


def test_the_dashboard_and_notice_through_the_api_function(cloud):
    contract = make_contract(cloud, account_id="account_dash", term_months=2)
    with cloud.as_function("api"):
        started = service.start(contract.contract_id, dt.date(2026, 11, 25), by="installer")
    dashboard = api(cloud, "GET", "/contracts/expiring", query={"within_days": "90"})
    assert dashboard.status == 200, dashboard
    rows = {r["contract_id"]: r for r in dashboard.json()["contracts"]}
    row = rows[contract.contract_id]
    assert (row["end_date"], row["notice_date"], row["auto_renew"]) == (
        "2027-01-24",
        "2026-12-25",
        True,
    )
    assert row["monthly_amount"] == contract.monthly_total and row["owner"] == "suzuki"
    noticed = api(
        cloud, "POST", f"/contracts/{contract.contract_id}/notice", {"version": started.version}
    )
    assert noticed.status == 200, noticed
    assert noticed.json()["auto_renew"] is False
    assert "ContractNoticeGiven" in trail(cloud, "account_dash")


def test_the_schedule_sample_runs_the_renewals_of_its_tokyo_day(cloud):
    sample = Path(__file__).resolve().parents[2] / "events" / "schedule" / "contract-renewals.json"
    result = cloud.invoke("contract-renewals", json.loads(sample.read_text(encoding="utf-8")))
    assert result["status"] == "succeeded"
    with cloud.as_function("api"):
        run = runs.get(result["run_id"])
    assert run is not None and run.business_key == "contract-renewals#2026-11-13"


def test_the_daily_run_ends_or_renews_the_terms_that_are_over(cloud):
    renewing = make_contract(cloud, account_id="account_auto", term_months=1)
    ending = make_contract(cloud, account_id="account_end", term_months=1)
    with cloud.as_function("api"):
        service.start(renewing.contract_id, dt.date(2026, 11, 20), by="shipping")
        service.start(ending.contract_id, dt.date(2026, 11, 20), by="shipping")
        service.give_notice(ending.contract_id, version=2, by="ops", reason="閉店")
    # both terms end 2026-12-19: the run of 20 December (06:00 in Tokyo) closes them
    cloud.set_clock(datetime(2026, 12, 19, 21, 0, tzinfo=UTC), fire=False)
    result = cloud.invoke("contract-renewals", {"time": "2026-12-19T21:00:00Z"})
    assert result["status"] == "succeeded" and result["ended"] == 1
    assert result["auto_renewed"] >= 1  # other tests' one-month contracts renew too
    with cloud.as_function("api"):
        renewed = service.get_contract(renewing.contract_id)
        ended = service.get_contract(ending.contract_id)
    with cloud.as_function("api"), cloud.as_function("event-journal"):
        journal = {
            str(item["type"]): item["detail"] for item in audit.trail("account", "account_auto")
        }
    assert (renewed.status, renewed.end_date, renewed.terms[-1].automatic) == (
        "active",
        dt.date(2027, 1, 19),
        True,
    )
    assert renewed.pdf_key == renewing.pdf_key  # no new 契約書 for an automatic renewal
    assert (ended.status, ended.end_reason, ended.end_date) == (
        "ended",
        "notice",
        dt.date(2026, 12, 19),
    )
    assert journal["ContractRenewed"]["automatic"] is True
    assert journal["ContractRenewed"].get("quote_id") is None  # the trail keeps no None
    assert journal["RenewalQuoteDue"]["term_end"] == "2027-01-19"  # the new term, same run
    assert trail(cloud, "account_end")[-1] == "ContractEnded"
    again = cloud.invoke("contract-renewals", {"time": "2026-12-19T21:00:00Z"})
    assert again["rerun"] is True
    assert trail(cloud, "account_auto").count("ContractRenewed") == 1
