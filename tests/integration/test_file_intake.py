"""File intake on the embedded AWS: real S3 notifications, the real state machine, the real
handlers. Kinds that need other slices are covered in their own tests."""

from __future__ import annotations

import json

import pytest

from local.runtime import EmbeddedAWS
from monosub.store import runs


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
