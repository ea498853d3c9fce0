"""The ERP sync on the embedded AWS: domain events → the outbox → the daily ``erp-sync`` run
pushes each record once to the local ERP (``local/erp_server.py``); the ERP failing is
retried and the run ledger shows it; a record the ERP refuses goes to the exceptions queue;
a re-driven run pushes nothing twice; a status mismatch is raised once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from local.erp_server import ErpServer
from local.runtime import EmbeddedAWS
from monosub import events, names, redrive
from monosub.adapters import erp as adapter
from monosub.services import erp
from monosub.store import erp as erp_store
from monosub.store import exceptions as exceptions_store
from monosub.store import runs
from tests.cash_fixtures import a_customer, an_invoice

START = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)


@pytest.fixture
def cloud() -> Iterator[EmbeddedAWS]:
    with EmbeddedAWS(business_time=START) as embedded:
        yield embedded


@pytest.fixture
def server(cloud: EmbeddedAWS) -> Iterator[ErpServer]:
    """The local ERP, in the ``erp`` secret as ops would put it (until the runtime starts
    one itself)."""
    with ErpServer() as local_erp:
        cloud.client("secretsmanager").put_secret_value(
            SecretId=cloud.names.secrets[names.ERP], SecretString=local_erp.secret_value()
        )
        adapter.forget_cached_credentials()
        yield local_erp
    adapter.forget_cached_credentials()


def publish(cloud: EmbeddedAWS, source: str, detail_type: str, detail: dict[str, Any]) -> None:
    with cloud.as_function("erp-sync-step"):
        events.publish_all(None, [(source, detail_type, detail)])


def signed_up(cloud: EmbeddedAWS, account_id: str, name: str, **settings: Any) -> None:
    a_customer(cloud, account_id, name, [], **settings)
    publish(
        cloud,
        "monosub.signups",
        "CustomerSignedUp",
        {"account_id": account_id, "segment": "corporate", "name": name, "channel": "phone"},
    )


def sync(cloud: EmbeddedAWS, day: date) -> dict[str, Any]:
    """That day's run, started by the schedule function; its ledger entry once it ended."""
    cloud.invoke("erp-sync", {"time": f"{day.isoformat()}T01:00:00Z"})
    cloud.wait_for_executions()
    with cloud.as_function("erp-sync-step"):
        run = runs.require(runs.run_id_for(names.ERP_SYNC, erp.run_key(day)))
    return run.model_dump()


def test_events_are_staged_once_and_pushed_once(cloud: EmbeddedAWS, server: ErpServer):
    signed_up(
        cloud, "acc_erp1", "株式会社 北斗電力", postal_code="5300001", address="大阪府大阪市北区"
    )
    signed_up(cloud, "acc_erp2", "南海ガス 株式会社")
    # the same event again: one outbox item
    publish(cloud, "monosub.signups", "CustomerSignedUp", {"account_id": "acc_erp1"})
    publish(
        cloud,
        "monosub.billing",
        "UsageReadingsStored",
        {
            "readings": [
                {
                    "contract_number": "C2026-000001",
                    "sku": "ELEC-KWH",
                    "month": "2026-11",
                    "quantity": "350.5",
                    "read_on": "2026-11-30",
                    "unit": "kWh",
                }
            ]
        },
    )
    with cloud.as_function("erp-sync-step"):
        assert len(erp_store.pending_keys()) == 3
        (item,) = erp_store.outbox_items("customer", "acc_erp1")
    assert item["record"]["postalCode"] == "530-0001"

    run = sync(cloud, date(2026, 12, 1))
    assert run["status"] == "succeeded", run
    assert run["counts"]["pushed"] == 3 and run["counts"]["push_retries"] == 0, (
        run["counts"],
        run["errors"],
        run["message"],
    )
    assert sorted(server.applied()) == [
        "customer:acc_erp1@1",
        "customer:acc_erp2@1",
        "reading:C2026-000001|ELEC-KWH|2026-11@" + str(int(START.timestamp())),
    ]
    assert server.records("reading")["C2026-000001|ELEC-KWH|2026-11"]["value"] == "350.5"
    with cloud.as_function("erp-sync-step"):
        assert erp_store.pending_keys() == []
        (sent,) = erp_store.outbox_items("customer", "acc_erp1")
    assert sent["status"] == "sent" and sent["erp_status"] == "CREATED"

    # the next day: nothing waiting, nothing to check: no run at all, nothing pushed
    cloud.set_clock(START + timedelta(days=1), fire=False)
    idle = cloud.invoke("erp-sync", {"time": "2026-12-02T01:00:00Z"})
    assert (idle["started"], idle["idle"]) == (False, True)
    assert len(cloud.executions("erp-sync")) == 1
    assert len(server.applied()) == 3


def test_the_erp_failing_twice_is_retried_and_the_ledger_shows_it(
    cloud: EmbeddedAWS, server: ErpServer
):
    signed_up(cloud, "acc_erp3", "東邦エナジー")
    server.fault_next(1)
    server.timeout_next(1, seconds=0.1)  # answered as a server fault after a stall
    run = sync(cloud, date(2026, 12, 1))
    assert run["status"] == "succeeded", run
    assert run["counts"]["push_retries"] == 2 and run["counts"]["pushed"] == 1
    retried = [e for e in run["errors"] if e.get("retried")]
    assert [e["error"] for e in retried] == ["ErpUnavailable", "ErpUnavailable"]
    assert server.applied() == ["customer:acc_erp3@1"]
    assert [r.injected for r in server.requests()] == ["fault", "timeout", None]


def test_a_record_the_erp_refuses_becomes_an_exception_and_the_rest_goes_on(
    cloud: EmbeddedAWS, server: ErpServer
):
    signed_up(cloud, "acc_bad", "不正データ株式会社")
    signed_up(cloud, "acc_good", "正常データ株式会社")
    server.refuse_source("acc_bad")
    run = sync(cloud, date(2026, 12, 1))
    assert run["status"] == "succeeded", run
    assert run["counts"]["rejected"] == 1 and run["counts"]["pushed"] == 1
    assert run["counts"]["push_retries"] == 0  # a refusal is not retried
    assert server.applied() == ["customer:acc_good@1"]
    with cloud.as_function("api"):
        listed = list(exceptions_store.listed("open", kind=erp.REJECTED_KIND))
    (exception,) = listed
    assert exception.original["record"]["sourceId"] == "acc_bad"
    assert "INVALID_DATA" in exception.reason
    with cloud.as_function("erp-sync-step"):
        (item,) = erp_store.outbox_items("customer", "acc_bad")
        assert item["status"] == "rejected" and erp_store.pending_keys() == []


def test_a_re_driven_run_pushes_nothing_twice(cloud: EmbeddedAWS, server: ErpServer):
    for n in range(3):
        signed_up(cloud, f"acc_rd{n}", f"再送テスト{n}株式会社")
    server.fault_next(50)  # more than the retries
    failed = sync(cloud, date(2026, 12, 1))
    assert failed["status"] == "failed", failed
    assert failed["counts"].get("push_retries", 0) == 0  # Finish never summed
    assert server.applied() == []

    server.behave()
    with cloud.as_function("api"):
        redrive.redrive_run(failed["run_id"], by="ops@example.jp")
    cloud.wait_for_executions()
    with cloud.as_function("erp-sync-step"):
        run = runs.require(failed["run_id"])
    assert run.status == "succeeded", run
    assert run.attempts == 2 and run.counts["pushed"] == 3
    assert run.counts["push_retries"] >= 6
    assert sorted(server.applied()) == [f"customer:acc_rd{n}@1" for n in range(3)]


def test_a_status_mismatch_is_raised_once(cloud: EmbeddedAWS, server: ErpServer):
    (invoice,) = a_customer(
        cloud,
        "acc_inv",
        "請求先株式会社",
        [an_invoice("inv_erp1", "acc_inv", 11_000, due=date(2026, 12, 31))],
    )
    assert invoice.number
    publish(cloud, "monosub.cash", "InvoiceReopened", {"invoice_id": "inv_erp1"})
    server.set_invoice(
        invoice.number, "PAID", 11_000, paid_amount=11_000, paid_on=date(2026, 11, 30)
    )
    run = sync(cloud, date(2026, 12, 1))
    assert run["status"] == "succeeded", run
    assert run["counts"]["invoices_checked"] == 1 and run["counts"]["mismatches"] == 1
    with cloud.as_function("erp-sync-step"):
        stored = erp_store.erp_status("inv_erp1")
    assert stored is not None and stored["erp_status"] == "PAID"
    assert stored["mismatches"] == ["paid-in-erp-open-here"]

    cloud.set_clock(START + timedelta(days=1), fire=False)
    again = sync(cloud, date(2026, 12, 2))
    assert again["counts"]["invoices_checked"] == 1 and again["counts"]["mismatches"] == 0
    with cloud.as_function("api"):
        raised = list(exceptions_store.listed("open", kind=erp.MISMATCH_KIND))
    assert len(raised) == 1 and raised[0].invoice_id == "inv_erp1"
    assert json.dumps(server.requests()[-1].invoice_numbers) == json.dumps([invoice.number])
