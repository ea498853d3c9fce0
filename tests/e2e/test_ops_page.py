"""Scenario: a newcomer opens the local ops page and sees what ops would see in the console:
runs, executions with their state history, quarantined files with their reports, failures."""

from __future__ import annotations

import urllib.request
from pathlib import Path

from botocore.exceptions import ClientError

from functions.manifest import API_ROUTES
from monosub.services import leads

DATA = Path(__file__).resolve().parents[1] / "data"


def ops_page(http) -> tuple[int, str, str]:
    with urllib.request.urlopen(http.url + "/ops", timeout=30) as response:
        return response.status, response.headers["Content-Type"], response.read().decode()


def test_the_ops_page_shows_runs_executions_quarantine_and_failures(cloud, http, monkeypatch):
    # A good file, a file with a bad row, a file of an unknown kind with a strange name ...
    good = cloud.drop("leads", "good.csv", (DATA / "leads-tradeshow.csv").read_bytes())
    bad = cloud.drop("leads", "bad.csv", (DATA / "leads-with-errors.csv").read_bytes())
    strange = cloud.drop("mystery", "<script>odd.csv", b"a,b\n1,2\n")
    assert (good["status"], bad["status"], strange["status"]) == (
        "succeeded",
        "quarantined",
        "quarantined",
    )

    # ... and one that fails during an outage.
    def unavailable(*args, **kwargs):
        raise ClientError({"Error": {"Code": "InternalServerError", "Message": "down"}}, "PutItem")

    monkeypatch.setattr(leads, "receive_lead", unavailable)
    failed = cloud.drop("leads", "late.csv", (DATA / "leads-late-referrals.csv").read_bytes())
    assert failed["status"] == "failed"

    status, content_type, page = ops_page(http)
    assert status == 200 and content_type.startswith("text/html")

    # Needs attention: the failed run, with how to re-drive it.
    attention = page.split('id="attention"')[1].split('id="runs"')[0]
    assert failed["run_id"] in attention and good["run_id"] not in attention
    assert f"POST /runs/{failed['run_id']}/retry" in attention
    assert "ExecutionsFailed 1" in attention

    # Runs: every run with its status and counts.
    runs = page.split('id="runs"')[1].split('id="executions"')[0]
    for run in (good, bad, strange, failed):
        assert f'id="run-{run["run_id"]}"' in runs
    assert '<td class="succeeded">succeeded</td>' in runs
    assert "created=4" in runs

    # Executions, each with its state history; the failed one shows where and why.
    executions = page.split('id="executions"')[1].split('id="quarantine"')[0]
    assert f'id="execution-{failed["run_id"]}" open' in executions
    failed_part = executions.split(f'id="execution-{failed["run_id"]}"')[1].split("</details>")[0]
    assert "TaskStateEntered</td><td>Apply" in failed_part
    assert "LambdaFunctionFailed" in failed_part and "ClientError" in failed_part
    assert "ExecutionFailed" in failed_part
    good_part = executions.split(f'id="execution-{good["run_id"]}"')[1].split("</details>")[0]
    assert "TaskStateExited</td><td>Complete" in good_part

    # Quarantine: each file with its error report and bad rows; names are escaped.
    quarantine = page.split('id="quarantine"')[1].split('id="exceptions"')[0]
    assert bad["subject"]["quarantined_as"] in quarantine
    assert "invalid_rows" in quarantine
    assert "&lt;script&gt;odd.csv" in quarantine and "<script>" not in page
    assert "unknown_kind" in quarantine

    # Exceptions: the handler that raised, with its error.
    exceptions = page.split('id="exceptions"')[1]
    assert "intake-apply" in exceptions and "InternalServerError" in exceptions


def test_the_ops_page_is_local_only_not_an_api_route(http):
    assert all(not route.path.startswith("/ops") for route in API_ROUTES)
    status, _, page = ops_page(http)
    assert status == 200 and "No failed runs." in page and "Nothing in quarantine/." in page


def test_the_ops_page_lists_the_emails_sent(cloud, http):
    from monosub import email

    with cloud.as_function("api"):
        email.default_mailer.send(
            email.Email(to=["kenichi@example.jp"], subject="【出荷のお知らせ】テスト", text="本文")
        )
    status, _, page = ops_page(http)
    emails = page.split('id="emails"')[1]
    assert status == 200
    assert "kenichi@example.jp" in emails and "【出荷のお知らせ】テスト" in emails
