"""File intake on the embedded AWS: real S3 notifications, the real state machine, the real
handlers. Kinds that need other slices are covered in their own tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local.runtime import EmbeddedAWS
from monosub.store import runs

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cloud():
    with EmbeddedAWS() as embedded:
        yield embedded


def drop(cloud: EmbeddedAWS, key: str, body: bytes) -> dict:
    bucket = cloud.bucket("exchange")
    etag = cloud.s3.put_object(Bucket=bucket, Key=key, Body=body)["ETag"].strip('"')
    cloud.wait_for_executions()
    business_key = f"drop#{bucket}/{key}#{etag}"
    with cloud.as_function("api"):
        run = runs.get(runs.run_id_for("file-intake", business_key))
    assert run is not None, "the drop opened no run"
    return run.model_dump()


def keys(cloud: EmbeddedAWS, prefix: str) -> list[str]:
    listed = cloud.s3.list_objects_v2(Bucket=cloud.bucket("exchange"), Prefix=prefix)
    return sorted(o["Key"] for o in listed.get("Contents", []))


def test_unknown_kind_is_quarantined_with_a_report(cloud):
    run = drop(cloud, "inbox/mystery/file.csv", b"a,b\n1,2\n")
    assert run["status"] == "quarantined"
    assert "unknown file kind 'mystery'" in run["message"]
    assert keys(cloud, "inbox/") == []
    quarantined = keys(cloud, "quarantine/")
    assert len(quarantined) == 2
    report_key = next(k for k in quarantined if k.endswith(".error.json"))
    report = json.loads(
        cloud.s3.get_object(Bucket=cloud.bucket("exchange"), Key=report_key)["Body"].read()
    )
    assert report["error"]["code"] == "unknown_kind"
    assert report["file"]["key"] == "inbox/mystery/file.csv"
    execution = cloud.executions("file-intake")[0]
    assert execution["status"] == "SUCCEEDED"


def test_empty_file_is_quarantined(cloud):
    run = drop(cloud, "inbox/leads/empty.csv", b"")
    assert run["status"] == "quarantined"
    assert run["errors"][0]["code"] == "empty_file"


def test_an_undecodable_file_is_quarantined(cloud):
    run = drop(cloud, "inbox/leads/garbled.csv", b"company,name\n\xff\xfe\x81\x00broken\n")
    assert run["status"] == "quarantined"
    assert run["errors"][0]["code"] == "undecodable"


def test_a_batch_interrupted_midway_completes_on_retry_without_doubles(cloud, monkeypatch):
    """Apply fails transiently after two rows; the state machine retries; every row is
    applied exactly once (writes are keyed by run and line)."""
    from monosub import access
    from monosub.intake.kinds import TransientError
    from monosub.services import leads

    real = leads.receive_lead
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise TransientError("DynamoDB throttled")
        return real(*args, **kwargs)

    monkeypatch.setattr(leads, "receive_lead", flaky)
    body = (ROOT / "tests" / "data" / "leads-tradeshow.csv").read_bytes()
    run = drop(cloud, "inbox/leads/flaky.csv", body)
    assert run["status"] == "succeeded"
    assert (run["errors"], run["error_count"]) == ([], 0), "the retried failure is no error"
    assert run["counts"]["created"] == 4
    with cloud.as_function("api"):
        page = leads.list_leads("open", 50, None, scope=access.EVERYTHING)
    assert len(page.leads) == 4
    history = cloud.sfn.get_execution_history(
        executionArn=cloud.executions("file-intake")[0]["executionArn"]
    )["events"]
    failures = [e for e in history if e["type"] == "LambdaFunctionFailed"]
    assert len(failures) == 1


def test_a_file_over_the_size_limit_is_refused_unread(cloud, monkeypatch):
    from monosub.intake import service

    monkeypatch.setattr(service, "MAX_FILE_BYTES", 10)
    run = drop(cloud, "inbox/leads/huge.csv", b"company,name\nA,B\n")
    assert run["status"] == "quarantined"
    assert run["errors"][0]["code"] == "too_large"
    assert "split it" in run["message"]
