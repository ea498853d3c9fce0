"""A run re-driven outside ``POST /runs/{id}/retry``, as the Step Functions console does
(``RedriveExecution`` straight on Step Functions): the status-change event on the default bus
reaches ``execution-redriven``, the ledger says running then succeeded, the audit trail says
"console", and nothing the failed attempt did is done twice."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest

from local.erp_server import ErpServer
from local.runtime import EmbeddedAWS
from monosub import names, redrive
from monosub.adapters import erp as adapter
from monosub.store import audit, runs
from tests.integration.test_erp_sync import signed_up, sync

START = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)


@pytest.fixture
def cloud() -> Iterator[EmbeddedAWS]:
    with EmbeddedAWS(business_time=START) as embedded:
        yield embedded


@pytest.fixture
def server(cloud: EmbeddedAWS) -> Iterator[ErpServer]:
    with ErpServer() as local_erp:
        cloud.client("secretsmanager").put_secret_value(
            SecretId=cloud.names.secrets[names.ERP], SecretString=local_erp.secret_value()
        )
        adapter.forget_cached_credentials()
        yield local_erp
    adapter.forget_cached_credentials()


def _failed_erp_run(cloud: EmbeddedAWS, server: ErpServer) -> dict[str, Any]:
    for n in range(2):
        signed_up(cloud, f"acc_cr{n}", f"コンソール再送{n}株式会社")
    server.fault_next(50)  # more than Step Functions' retries: the execution fails
    failed = sync(cloud, date(2026, 12, 1))
    assert failed["status"] == "failed", failed
    return failed


def _redriven_by(cloud: EmbeddedAWS, run_id: str) -> list[str]:
    with cloud.as_function("event-journal"):
        return [
            entry["detail"]["redriven_by"]
            for entry in audit.trail("run", run_id)
            if entry["type"] == "RunRedriven"
        ]


def test_a_console_redrive_is_ledgered_and_audited_and_applies_nothing_twice(
    cloud: EmbeddedAWS, server: ErpServer
):
    failed = _failed_erp_run(cloud, server)
    assert server.applied() == []
    server.behave()

    invoked = len([i for i in cloud.invocations if i.function == "execution-redriven"])
    cloud.sfn.redrive_execution(executionArn=failed["execution_arn"])  # as the console does
    # the rule fired before the execution went on: the ledger already says running
    with cloud.as_function("erp-sync-step"):
        assert runs.require(failed["run_id"]).status in ("running", "succeeded")
    cloud.wait_for_executions()

    with cloud.as_function("erp-sync-step"):
        run = runs.require(failed["run_id"])
    assert run.status == "succeeded", run
    assert run.attempts == 2
    assert sorted(server.applied()) == [f"customer:acc_cr{n}@1" for n in range(2)]
    assert _redriven_by(cloud, failed["run_id"]) == ["console"]
    redriven = [i for i in cloud.invocations if i.function == "execution-redriven"]
    assert len(redriven) == invoked + 1 and not redriven[-1].errored


def test_an_api_redrive_is_audited_once_by_its_caller_not_by_the_console(
    cloud: EmbeddedAWS, server: ErpServer
):
    failed = _failed_erp_run(cloud, server)
    server.behave()
    with cloud.as_function("api"):
        redrive.redrive_run(failed["run_id"], by="ops@example.jp")
    cloud.wait_for_executions()
    with cloud.as_function("erp-sync-step"):
        run = runs.require(failed["run_id"])
    assert run.status == "succeeded" and run.attempts == 2
    # the status-change event came too, and found the run already running: no second record
    assert _redriven_by(cloud, failed["run_id"]) == ["ops@example.jp"]


def test_plain_starts_and_ends_of_executions_invoke_nothing(cloud: EmbeddedAWS, server: ErpServer):
    _failed_erp_run(cloud, server)  # a start and a FAILED end, both announced on the bus
    assert [i for i in cloud.invocations if i.function == "execution-redriven"] == []
