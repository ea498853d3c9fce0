"""The sample events under events/ are what the handlers really receive: each one runs
through its handler on the embedded AWS."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local.runtime import EmbeddedAWS
from monosub.store import audit, runs

EVENTS = Path(__file__).resolve().parents[2] / "events"


def load(name: str) -> dict:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


@pytest.fixture
def cloud():
    with EmbeddedAWS() as embedded:
        yield embedded


def test_the_s3_sample_opens_a_run_for_the_decoded_key(cloud):
    bucket = cloud.bucket("exchange")
    cloud.s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    cloud.s3.put_object(Bucket=bucket, Key="inbox/leads/展示会 2026.csv", Body=b"company,name\n")
    result = cloud.invoke("file-dropped", load("s3/file-dropped.json"))
    assert result["drops"][0]["action"] == "started"
    with cloud.as_function("api"):
        run = runs.get(result["drops"][0]["run_id"])
    assert run is not None and run.subject["key"] == "inbox/leads/展示会 2026.csv"


def test_the_schedule_sample_runs_the_sweep_for_its_hour(cloud):
    assert cloud.invoke("intake-sweep", load("schedule/intake-sweep.json"))["inbox_files"] == 0
    with cloud.as_function("api"):
        (sweep,) = list(runs.list_runs(kind="intake-sweep"))
    assert sweep.business_key == "intake-sweep#2026-11-02T01"


def test_the_state_machine_sample_is_a_valid_inspect_input(cloud):
    state = load("statemachines/file-intake-input.json")
    with cloud.as_function("intake-inspect"):
        runs.open_run("file-intake", "drop#sample", {})
    state["run_id"] = runs.run_id_for("file-intake", "drop#sample")
    result = cloud.invoke("intake-inspect", state)
    assert result == {"outcome": "superseded"}  # the sample's object is not in the bucket


def test_the_eventbridge_sample_is_journaled_once(cloud):
    event = load("eventbridge/lead-received.json")
    assert cloud.invoke("event-journal", event) == {"recorded": 1}
    assert cloud.invoke("event-journal", event) == {"recorded": 0}
    with cloud.as_function("event-journal"):
        assert len(list(audit.trail("lead", "lead_0000000000000000"))) == 1
