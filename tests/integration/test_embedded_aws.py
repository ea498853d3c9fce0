"""The embedded AWS itself: clock and schedules, EventBridge delivery, the HTTP front door,
and file intake's guarantees (nothing lost, nothing twice, failures visible)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest

from functions import manifest
from local.http_api import LocalApiServer
from local.runtime import EmbeddedAWS
from monosub.intake import kinds
from monosub.intake.kinds import ApplyContext, FileRejected, Parsed, Processor, RowError
from monosub.store import audit, runs

START = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)


class LinesKind(Processor):
    """A test kind: one item per line; a line 'bad' is invalid; 'explode' crashes apply."""

    kind = "test-lines"
    description = "lines of text"
    applied: ClassVar[list[str]] = []

    def parse(self, data: bytes) -> Parsed:
        lines = data.decode().splitlines()
        if not lines:
            raise FileRejected("empty_file", "the file is empty")
        parsed = Parsed()
        for number, line in enumerate(lines, start=1):
            if line == "bad":
                parsed.errors.append(RowError(number, "bad line", field="text", value=line))
            else:
                parsed.rows.append(line)
        return parsed

    def apply(self, rows: list[Any], context: ApplyContext) -> dict[str, int]:
        if "explode" in rows:
            raise RuntimeError("the processor exploded")
        self.applied.extend(rows)
        return {"applied": len(rows)}


@pytest.fixture
def cloud():
    kinds.register(LinesKind())
    LinesKind.applied.clear()
    with EmbeddedAWS(business_time=START) as embedded:
        yield embedded


def run_of(cloud: EmbeddedAWS, run_id: str):
    with cloud.as_function("api"):
        return runs.get(run_id)


def inbox(cloud: EmbeddedAWS) -> list[str]:
    listed = cloud.s3.list_objects_v2(Bucket=cloud.bucket("exchange"), Prefix="inbox/")
    return [o["Key"] for o in listed.get("Contents", [])]


def test_each_function_gets_its_declared_environment(cloud):
    lam = cloud.client("lambda")
    for function in manifest.FUNCTIONS:
        configuration = lam.get_function_configuration(
            FunctionName=f"monosub-local-{function.name}"
        )
        assert configuration["Environment"]["Variables"] == function.environment(cloud.names)
        assert configuration["Handler"] == function.handler


def test_a_valid_file_is_applied_and_archived(cloud):
    run = cloud.drop("test-lines", "a.txt", b"one\ntwo\n")
    assert run["status"] == "succeeded"
    assert run["counts"] == {"rows": 2, "rows_invalid": 0, "applied": 2}
    assert LinesKind.applied == ["one", "two"]
    assert inbox(cloud) == []
    archived = run["subject"]["archived_as"]
    assert archived == f"archive/test-lines/2026-11-02/{run['run_id']}/a.txt"
    body = cloud.s3.get_object(Bucket=cloud.bucket("exchange"), Key=archived)["Body"].read()
    assert body == b"one\ntwo\n"


def test_a_file_with_one_bad_row_is_refused_whole_with_line_numbers(cloud):
    run = cloud.drop("test-lines", "b.txt", b"one\nbad\nthree\n")
    assert run["status"] == "quarantined"
    assert LinesKind.applied == []
    assert run["errors"] == [{"line": 2, "message": "bad line", "field": "text", "value": "bad"}]
    report_key = run["subject"]["error_report"]
    report = json.loads(
        cloud.s3.get_object(Bucket=cloud.bucket("exchange"), Key=report_key)["Body"].read()
    )
    assert report["error"]["code"] == "invalid_rows"
    assert report["row_errors"][0]["line"] == 2


def test_the_same_object_dropped_twice_is_processed_once(cloud):
    first = cloud.drop("test-lines", "c.txt", b"one\n")
    second = cloud.drop("test-lines", "c.txt", b"one\n")
    assert first["run_id"] == second["run_id"]
    assert LinesKind.applied == ["one"]
    assert len(cloud.executions("file-intake")) == 1
    assert inbox(cloud) == []
    assert "dropped again" in second["message"]


def test_the_same_content_under_another_name_is_refused(cloud):
    cloud.drop("test-lines", "d.txt", b"one\n")
    again = cloud.drop("test-lines", "d-resent.txt", b"one\n")
    assert again["status"] == "quarantined"
    assert again["errors"][0]["code"] == "duplicate_content"
    assert "inbox/test-lines/d.txt" in again["message"]
    assert LinesKind.applied == ["one"]


def test_a_corrected_file_is_accepted_after_a_rejection(cloud):
    assert cloud.drop("test-lines", "e.txt", b"bad\n")["status"] == "quarantined"
    assert cloud.drop("test-lines", "e.txt", b"fixed\n")["status"] == "succeeded"


def test_a_processor_failure_fails_the_execution_at_apply_and_keeps_the_file(cloud):
    """No Catch: the execution fails at the step that failed, so a re-drive continues there;
    the file waits in inbox/, and neither a re-drop nor the sweep removes it."""
    run = cloud.drop("test-lines", "f.txt", b"explode\n")
    assert run["status"] == "failed"
    assert "Apply failed: RuntimeError: the processor exploded" in run["message"]
    assert run["errors"] == [
        {
            "code": "step_failed",
            "step": "Apply",
            "error_type": "RuntimeError",
            "message": "the processor exploded",
        }
    ]
    assert "quarantined_as" not in run["subject"]
    (execution,) = cloud.executions("file-intake")
    assert execution["status"] == "FAILED"
    assert cloud.sfn.describe_execution(executionArn=execution["executionArn"])["error"] == (
        "RuntimeError"
    )
    assert inbox(cloud) == ["inbox/test-lines/f.txt"]
    again = cloud.drop("test-lines", "f.txt", b"explode\n")
    assert again["status"] == "failed"
    cloud.advance(hours=1)
    assert inbox(cloud) == ["inbox/test-lines/f.txt"]
    with cloud.as_function("api"):
        (sweep,) = runs.list_runs(kind="intake-sweep")
    assert sweep.counts["awaiting_redrive"] == 1
    assert len(cloud.executions("file-intake")) == 1


def test_clock_advance_fires_the_hourly_sweep_in_order(cloud):
    fired = cloud.set_clock(datetime(2026, 11, 2, 3, 0, tzinfo=UTC))
    assert [f["at"] for f in fired if f["rule"].endswith("intake-sweep-hourly")] == [
        "2026-11-02T00:05:00Z",
        "2026-11-02T01:05:00Z",
        "2026-11-02T02:05:00Z",
    ]
    assert cloud.now() == datetime(2026, 11, 2, 3, 0, tzinfo=UTC)
    with cloud.as_function("api"):
        sweeps = list(runs.list_runs(kind="intake-sweep"))
    assert sorted(r.business_key for r in sweeps) == [
        "intake-sweep#2026-11-02T00",
        "intake-sweep#2026-11-02T01",
        "intake-sweep#2026-11-02T02",
    ]
    assert all(r.status == "succeeded" for r in sweeps)


def test_two_schedules_due_at_the_same_instant_both_fire_in_name_order(cloud):
    events = cloud.client("events")
    for name in ("zz-tie-b", "zz-tie-a"):
        events.put_rule(
            Name=f"monosub-{cloud.stage}-{name}", ScheduleExpression="cron(5 * * * ? *)"
        )
    fired = cloud.set_clock(datetime(2026, 11, 2, 1, 0, tzinfo=UTC))
    at_five = [f["rule"] for f in fired if f["at"] == "2026-11-02T00:05:00Z"]
    assert at_five[-2:] == [f"monosub-{cloud.stage}-zz-tie-a", f"monosub-{cloud.stage}-zz-tie-b"]
    assert sorted(at_five) == at_five


def test_a_file_whose_notification_was_lost_is_picked_up_by_the_sweep(cloud):
    bucket = cloud.bucket("exchange")
    notifications = cloud.s3.get_bucket_notification_configuration(Bucket=bucket)
    notifications.pop("ResponseMetadata", None)
    cloud.s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    cloud.s3.put_object(Bucket=bucket, Key="inbox/test-lines/lost.txt", Body=b"found\n")
    cloud.s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration=notifications
    )
    assert cloud.executions("file-intake") == []
    cloud.advance(hours=1)
    cloud.wait_for_executions()
    assert LinesKind.applied == ["found"]
    assert inbox(cloud) == []


def test_domain_events_reach_the_audit_trail_through_the_rule(cloud):
    from monosub.events import default_publisher

    with cloud.as_function("api"):
        default_publisher.publish("monosub.test", "SomethingHappened", {"lead_id": "lead_x"})
    with cloud.as_function("api"), cloud.as_function("event-journal"):
        trail = list(audit.trail("lead", "lead_x"))
    assert [t["type"] for t in trail] == ["SomethingHappened"]
    assert trail[0]["occurred_at"] == "2026-11-02T00:00:00Z"


def _request(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_http_server_plays_api_gateway(cloud):
    server = LocalApiServer(cloud).start()
    try:
        assert _request(server.url + "/runs") == (401, {"message": "Unauthorized"})
        assert _request(server.url + "/nowhere") == (
            403,
            {"message": "Missing Authentication Token"},
        )
        staff = server.bearer("ops1", "ops")
        status, body = _request(server.url + "/runs", staff)
        assert status == 200 and body == {"runs": []}
        customer = server.bearer("c1", "customer")
        assert _request(server.url + "/runs", customer)[0] == 403
        status, document = _request(server.url + "/openapi.json")
        assert status == 200 and "/runs" in document["paths"]
    finally:
        server.stop()
