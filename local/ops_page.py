"""``GET /ops`` of ``monosub serve``: what ops would look at in the AWS console, on one local
HTML page: the run ledger, Step Functions executions with their state history, quarantined
files with their error reports, failed runs, the exceptions queue and handler exceptions.

Local only: not an API route (not in the manifest, not deployed); it reads the embedded AWS
directly, as the console reads AWS.
"""

from __future__ import annotations

import email
import email.policy
import json
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from jinja2 import Environment

from monosub.store import runs

if TYPE_CHECKING:
    from local.runtime import EmbeddedAWS

QUARANTINE = "quarantine/"
MAX_RUNS = 100
MAX_EXECUTIONS = 30
MAX_ROW_ERRORS = 20

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>monosub ops ({{ stage }})</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { border: 1px solid #ddd; padding: .25em .5em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } code { font-size: .9em; }
.failed, .FAILED, .TIMED_OUT, .ABORTED { color: #b00; font-weight: bold; }
.quarantined { color: #a60; font-weight: bold; }
.succeeded, .SUCCEEDED { color: #070; } .running, .RUNNING { color: #06c; }
details { margin: .3em 0; } nav a { margin-right: 1em; }
</style></head><body>
<h1>monosub ops: stage {{ stage }}</h1>
<p>Business clock {{ now }} · page built {{ built }} (reload to refresh)</p>
<nav><a href="#attention">needs attention</a><a href="#runs">runs</a>
<a href="#executions">executions</a><a href="#quarantine">quarantine</a>
<a href="#queue">exceptions queue</a>
<a href="#exceptions">handler errors</a><a href="#emails">emails</a></nav>

<h2 id="attention">Needs attention</h2>
{% if failed_runs %}
<table><tr><th>run</th><th>kind</th><th>what</th><th>message</th><th>re-drive</th></tr>
{% for run in failed_runs %}<tr><td><a href="#run-{{ run.run_id }}">{{ run.run_id }}</a></td>
<td>{{ run.kind }}</td><td>{{ run.subject.get("key") or run.business_key }}</td>
<td>{{ run.message or "" }}</td><td><code>POST /runs/{{ run.run_id }}/retry</code></td></tr>
{% endfor %}</table>
{% else %}<p>No failed runs.</p>{% endif %}
<p>Alarm conditions over every execution so far:
{% for machine, metrics in alarm_conditions.items() %}
<b>{{ machine }}</b> ExecutionsFailed {{ metrics.ExecutionsFailed }},
ExecutionsTimedOut {{ metrics.ExecutionsTimedOut }}{% if not loop.last %};{% endif %}
{% endfor %}</p>

<h2 id="runs">Runs ({{ runs|length }})</h2>
<table><tr><th>started (UTC)</th><th>run</th><th>kind</th><th>status</th><th>attempts</th>
<th>subject</th><th>counts</th><th>message</th><th>errors</th></tr>
{% for run in runs %}<tr id="run-{{ run.run_id }}"><td>{{ run.started_at }}</td>
<td><code>{{ run.run_id }}</code></td><td>{{ run.kind }}</td>
<td class="{{ run.status }}">{{ run.status }}</td><td>{{ run.attempts }}</td>
<td>{{ run.subject.get("key") or run.business_key }}</td>
<td>{% for k, v in run.counts.items() %}{{ k }}={{ v }} {% endfor %}</td>
<td>{{ run.message or "" }}</td>
<td>{% if run.errors %}<details><summary>{{ run.error_count }} error(s)</summary><ul>
{% for e in run.errors[:20] %}<li>{{ e | tojson }}</li>{% endfor %}</ul></details>{% endif %}
</td></tr>{% endfor %}</table>

<h2 id="executions">Step Functions executions</h2>
{% for machine in executions %}<h3>{{ machine.name }}</h3>
{% for execution in machine.executions %}
<details id="execution-{{ execution.name }}"
{%- if execution.status != "SUCCEEDED" %} open{% endif %}>
<summary><code>{{ execution.name }}</code> <span class="{{ execution.status }}">
{{ execution.status }}</span> started {{ execution.started }}
{% if execution.redrive_count %} · re-driven {{ execution.redrive_count }}×{% endif %}
{% if execution.error %} · {{ execution.error }}{% endif %}</summary>
{% if execution.cause %}<p>Cause: <code>{{ execution.cause }}</code></p>{% endif %}
<table><tr><th>#</th><th>time</th><th>event</th><th>state</th><th>detail</th></tr>
{% for event in execution.history %}<tr><td>{{ event.id }}</td><td>{{ event.time }}</td>
<td class="{{ event.css }}">{{ event.type }}</td><td>{{ event.state }}</td>
<td>{{ event.detail }}</td></tr>{% endfor %}</table></details>
{% else %}<p>No executions.</p>{% endfor %}{% endfor %}

<h2 id="quarantine">Quarantined files ({{ quarantined|length }})</h2>
{% for file in quarantined %}<details open><summary><code>{{ file.key }}</code>
({{ file.size }} bytes){% if file.report %} · <b>{{ file.report.error.code }}</b>:
{{ file.report.error.message }}{% endif %}</summary>
{% if file.report %}<p>Run <a href="#run-{{ file.report.run_id }}">{{ file.report.run_id }}</a>,
quarantined {{ file.report.quarantined_at }}. {{ file.report.what_to_do }}</p>
{% if file.report.row_errors %}<table><tr><th>line</th><th>field</th><th>value</th>
<th>message</th></tr>{% for e in file.report.row_errors[:max_row_errors] %}<tr>
<td>{{ e.line }}</td><td>{{ e.field }}</td><td>{{ e.value }}</td><td>{{ e.message }}</td>
</tr>{% endfor %}</table>{% if file.report.row_errors|length > max_row_errors %}
<p>… {{ file.report.row_errors|length - max_row_errors }} more in
<code>{{ file.report_key }}</code></p>{% endif %}{% endif %}
{% else %}<p>No error report beside it.</p>{% endif %}</details>
{% else %}<p>Nothing in quarantine/.</p>{% endfor %}

<h2 id="queue">Exceptions queue: waiting for ops ({{ queue|length }})</h2>
{% if queue %}<table><tr><th>since (UTC)</th><th>kind</th><th>channel</th><th>amount</th>
<th>reason</th><th>resolve</th></tr>
{% for e in queue %}<tr><td>{{ e.created_at }}</td><td>{{ e.kind }}</td><td>{{ e.channel }}</td>
<td>{{ e.amount if e.amount is not none else "" }}</td><td>{{ e.reason }}</td>
<td><code>POST /exceptions/{{ e.exception_id }}/resolve</code> ({{ e.actions|join(", ") }})</td>
</tr>{% endfor %}</table>
{% else %}<p>Nothing waits.</p>{% endif %}

<h2 id="exceptions">Recent handler exceptions ({{ exceptions|length }})</h2>
{% if exceptions %}<table><tr><th>when (UTC)</th><th>function</th><th>error</th></tr>
{% for e in exceptions %}<tr><td>{{ e.at }}</td><td>{{ e.function }}</td>
<td><code>{{ e.error }}</code></td></tr>{% endfor %}</table>
{% else %}<p>No handler raised.</p>{% endif %}

<h2 id="emails">Emails sent ({{ emails|length }}, captured by the embedded SES)</h2>
{% if emails %}<table><tr><th>to</th><th>subject</th></tr>
{% for m in emails %}<tr><td>{{ m.to }}</td><td>{{ m.subject }}</td></tr>{% endfor %}</table>
{% else %}<p>No email sent yet.</p>{% endif %}
</body></html>
"""

_page = Environment(autoescape=True).from_string(_TEMPLATE)


def render(cloud: EmbeddedAWS) -> str:
    """The ops page of this embedded AWS, as HTML."""
    with cloud.as_function("api"):
        ledger = list(runs.list_runs(limit=MAX_RUNS))
    return _page.render(
        stage=cloud.stage,
        now=_iso(cloud.now()),
        built=_iso(datetime.now(UTC)),
        runs=ledger,
        failed_runs=[run for run in ledger if run.status == "failed"],
        alarm_conditions={m: cloud.execution_metrics(m) for m in cloud.names.state_machines},
        executions=[_machine(cloud, name) for name in cloud.names.state_machines],
        quarantined=_quarantined(cloud),
        exceptions=[
            {"at": _iso(i.at), "function": i.function, "error": i.error}
            for i in reversed(cloud.invocations)
            if i.errored
        ][:50],
        max_row_errors=MAX_ROW_ERRORS,
        emails=sent_emails(),
        queue=_queue(cloud),
    )


def sent_emails() -> list[dict[str, str]]:
    """Every email the embedded SES captured, newest first (what customers were sent)."""
    from moto.ses.models import ses_backends

    sent = []
    for regions in ses_backends.values():
        for backend in regions.values():
            for message in backend.sent_messages:
                to = message.destinations  # a raw message (attachments) keeps a plain list
                addresses = to.get("ToAddresses", []) if isinstance(to, dict) else list(to)
                sent.append({"to": ", ".join(addresses), "subject": subject_of(message)})
    return list(reversed(sent))


def raw_message(message: Any) -> EmailMessage | None:
    """A message the embedded SES kept raw (one sent with attachments, as MIME), parsed;
    None for a simple one (moto keeps its subject and body as fields)."""
    if hasattr(message, "subject"):
        return None
    raw = message.raw_data
    parsed = email.message_from_bytes(
        raw if isinstance(raw, bytes) else raw.encode(), policy=email.policy.default
    )
    assert isinstance(parsed, EmailMessage)
    return parsed


def subject_of(message: Any) -> str:
    """A sent message's subject, simple or raw."""
    parsed = raw_message(message)
    return str(message.subject) if parsed is None else str(parsed["Subject"])


def _queue(cloud: EmbeddedAWS) -> list[dict[str, Any]]:
    """The open exceptions queue (what ``GET /exceptions`` lists for ops)."""
    from monosub.store import exceptions

    with cloud.as_function("api"):
        return [e.model_dump(mode="json") for e in exceptions.listed("open", limit=100)]


def _machine(cloud: EmbeddedAWS, name: str) -> dict[str, Any]:
    executions = []
    for listed in cloud.executions(name)[:MAX_EXECUTIONS]:
        arn = listed["executionArn"]
        described = cloud.sfn.describe_execution(executionArn=arn)
        events = cloud.sfn.get_execution_history(executionArn=arn)["events"]
        executions.append(
            {
                "name": described["name"],
                "status": described["status"],
                "started": _iso(described["startDate"]),
                "error": described.get("error"),
                "cause": _short(described.get("cause")),
                "redrive_count": described.get("redriveCount", 0),
                "history": [_event(event) for event in events],
            }
        )
    return {"name": name, "executions": executions}


def _event(event: dict[str, Any]) -> dict[str, Any]:
    """One history event as a row: its state (entered/exited), and what failed or what the
    state received."""
    kind = str(event["type"])
    state = ""
    detail = ""
    for key, value in event.items():
        if not key.endswith("EventDetails") or not isinstance(value, dict):
            continue
        state = value.get("name", state)
        if "error" in value or "cause" in value:
            detail = f"{value.get('error', '')}: {_short(value.get('cause'))}"
        elif key == "executionRedrivenEventDetails":
            detail = f"redrive {value.get('redriveCount')}"
    failed = kind.endswith(("Failed", "TimedOut", "Aborted"))
    return {
        "id": event["id"],
        "time": _iso(event["timestamp"]),
        "type": kind,
        "state": state,
        "detail": detail,
        "css": "FAILED" if failed else ("SUCCEEDED" if kind.endswith("Succeeded") else ""),
    }


def _quarantined(cloud: EmbeddedAWS) -> list[dict[str, Any]]:
    bucket = cloud.bucket("exchange")
    objects = []
    for page in cloud.s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=QUARANTINE
    ):
        objects += page.get("Contents", [])
    keys = {o["Key"] for o in objects}
    files = []
    for item in sorted(objects, key=lambda o: o["Key"], reverse=True):
        key = item["Key"]
        if key.endswith(".error.json"):
            continue
        report_key = f"{key}.error.json"
        report = None
        if report_key in keys:
            body = cloud.s3.get_object(Bucket=bucket, Key=report_key)["Body"].read()
            report = json.loads(body)
        files.append({"key": key, "size": item["Size"], "report": report, "report_key": report_key})
    return files


def _short(text: str | None, limit: int = 500) -> str:
    if not text:
        return ""
    try:  # a Lambda error's cause is its JSON payload: keep the message
        parsed = json.loads(text)
        text = str(parsed.get("errorMessage") or text) if isinstance(parsed, dict) else text
    except ValueError:
        pass
    return text if len(text) <= limit else text[:limit] + "…"


def _iso(moment: Any) -> str:
    if isinstance(moment, datetime):
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return str(moment)
