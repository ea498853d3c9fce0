"""Scenario: a partner's lead list fails halfway through an outage; ops fix the cause and
re-drive the run, which continues where it failed and applies every row exactly once.

Read top to bottom, as the operations story it is."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from monosub import access
from monosub.services import leads
from monosub.store import audit

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture
def outage(monkeypatch):
    """DynamoDB becomes unavailable after the first two leads of a file are written, until
    ops fix it (``outage["on"] = False``)."""
    state = {"on": True, "calls": 0}
    real = leads.receive_lead

    def receive_lead(*args, **kwargs):
        state["calls"] += 1
        if state["on"] and state["calls"] > 2:
            raise ClientError(
                {"Error": {"Code": "InternalServerError", "Message": "DynamoDB is unavailable"}},
                "PutItem",
            )
        return real(*args, **kwargs)

    monkeypatch.setattr(leads, "receive_lead", receive_lead)
    return state


def open_leads(cloud) -> list:
    with cloud.as_function("api"):
        return leads.list_leads("open", 100, None, scope=access.EVERYTHING).leads


def test_a_run_that_failed_in_an_outage_is_re_driven_to_success_without_doubles(
    cloud, http, outage
):
    before = datetime.now(UTC)

    # A partner drops its list of four trade-show leads; DynamoDB fails after two of them.
    run = cloud.drop("leads", "tradeshow.csv", (DATA / "leads-tradeshow.csv").read_bytes())
    run_id = run["run_id"]

    # The run says failed, at which step and why; the file waits in the inbox.
    assert run["status"] == "failed"
    assert run["errors"][0]["step"] == "Apply"
    assert "DynamoDB is unavailable" in run["message"]
    inbox = cloud.s3.list_objects_v2(Bucket=cloud.bucket("exchange"), Prefix="inbox/")
    assert [o["Key"] for o in inbox["Contents"]] == ["inbox/leads/tradeshow.csv"]
    assert len(open_leads(cloud)) == 2, "two rows were written before the outage"

    # The execution failed at Apply: the condition of the file-intake Failed alarm
    # (ExecutionsFailed >= 1 in five minutes) holds, and the console shows the execution.
    assert cloud.execution_metrics("file-intake", since=before)["ExecutionsFailed"] == 1
    (execution,) = cloud.executions("file-intake")
    assert execution["status"] == "FAILED" and execution["name"] == run_id
    described = cloud.sfn.describe_execution(executionArn=execution["executionArn"])
    assert described["redriveStatus"] == "REDRIVABLE"

    # Only ops may re-drive; an unknown run is not found.
    assert http("POST", f"/runs/{run_id}/retry")[0] == 401
    assert http("POST", f"/runs/{run_id}/retry", user="tanaka", groups="sales")[0] == 403
    assert http("POST", "/runs/run_nope/retry", user="ops1", groups="ops")[0] == 404

    # Ops fix the cause (the outage ends) and re-drive the run.
    outage["on"] = False
    status, redriven = http("POST", f"/runs/{run_id}/retry", user="ops1", groups="ops")
    assert status == 202
    assert redriven["status"] == "running" and redriven["attempts"] == 2
    assert "re-driven by ops1" in redriven["message"]
    cloud.wait_for_executions()

    # The run continued at Apply and succeeded: four leads, each written exactly once.
    status, finished = http("GET", f"/runs/{run_id}", user="ops1", groups="ops")
    assert status == 200 and finished["status"] == "succeeded" and finished["errors"] == []
    assert finished["counts"]["created"] == 4
    created = open_leads(cloud)
    assert len(created) == 4
    # The re-driven Apply submitted rows 1 and 2 again; keyed by run and line, they wrote
    # nothing and published nothing the second time: one LeadReceived per lead.
    with cloud.as_function("api"), cloud.as_function("event-journal"):
        for lead in created:
            received = [t for t in audit.trail("lead", lead.lead_id) if t["type"] == "LeadReceived"]
            assert len(received) == 1, lead.lead_id
    archived = cloud.s3.list_objects_v2(Bucket=cloud.bucket("exchange"), Prefix="archive/")
    assert [o["Key"].rsplit("/", 1)[-1] for o in archived["Contents"]] == ["tradeshow.csv"]

    # The same execution went on: Inspect ran once, Apply twice (failed, then re-driven).
    (execution,) = cloud.executions("file-intake")
    assert execution["status"] == "SUCCEEDED"
    events = cloud.sfn.get_execution_history(executionArn=execution["executionArn"])["events"]
    entered = [
        e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e
    ]
    assert entered == ["Inspect", "Outcome", "Apply", "Apply", "Complete"]
    assert [e["type"] for e in events].count("ExecutionRedriven") == 1
    ran = [i.function for i in cloud.invocations]
    assert (ran.count("intake-inspect"), ran.count("intake-apply")) == (1, 2)

    # A second retry is refused: the run is not failed any more.
    assert http("POST", f"/runs/{run_id}/retry", user="ops1", groups="ops")[0] == 409

    # The audit trail of the run tells who re-drove it, and that the file was processed once.
    with cloud.as_function("api"), cloud.as_function("event-journal"):
        trail = [t["type"] for t in audit.trail("run", run_id)]
    assert trail.count("RunRedriven") == 1
    assert trail.count("FileProcessed") == 1


def test_a_run_that_did_not_fail_is_not_re_driven(cloud, http):
    run = cloud.drop("leads", "fine.csv", (DATA / "leads-tradeshow.csv").read_bytes())
    assert run["status"] == "succeeded"
    status, refused = http("POST", f"/runs/{run['run_id']}/retry", user="ops1", groups="ops")
    assert status == 409
    assert "only a failed run" in refused["message"]


def test_a_failed_run_whose_execution_step_functions_refuses_stays_failed(cloud, http):
    # The ledger says failed, but its execution ended well (e.g. a file superseded midway):
    # Step Functions refuses the re-drive, and the run is put back exactly as it was.
    from monosub.store import runs

    run = cloud.drop("leads", "fine.csv", (DATA / "leads-tradeshow.csv").read_bytes())
    with cloud.as_function("file-dropped"):
        runs.update(run["run_id"], status="failed", message="replaced before it was read")
        before = runs.require(run["run_id"])
    status, refused = http("POST", f"/runs/{run['run_id']}/retry", user="ops1", groups="ops")
    assert status == 409
    assert "ExecutionNotRedrivable" in refused["message"] or "SUCCEEDED" in refused["message"]
    with cloud.as_function("file-dropped"):
        after = runs.require(run["run_id"])
    assert (after.status, after.attempts, after.ended_at) == ("failed", 1, before.ended_at)
    assert "re-drive refused" in (after.message or "")
