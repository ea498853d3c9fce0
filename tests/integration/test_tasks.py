"""Tasks on the embedded AWS: opened once per key with one email, listed by whose they are,
updated on the version read by the assignee, their manager or ops, and announced to a chat
webhook (a tiny local HTTP server stands in for Slack)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from monosub import config, email, staff_directory
from monosub.models.tasks import Task
from monosub.services import tasks as service
from monosub.store import tasks as store
from tests.sales_flow import sent_mail

KEY = "overdue#deal_1#task"


def open_one(api: Any, key: str = KEY, **changes: Any) -> tuple[Task, bool]:
    values: dict[str, Any] = {
        "key": key,
        "kind": "overdue-follow-up",
        "title": "株式会社フライク様の未入金を確認し、入金を依頼する",
        "detail": "請求書 INV-2026-000001（33,000円）が支払期限から7日過ぎています。",
        "account_id": "acc_1",
        "deal_id": "deal_1",
        "invoice_ids": ["inv_1"],
        "assignee": "tanaka",
        "assignee_role": "rep",
        "due_on": date(2026, 5, 11),
        "source": "overdue-follow-up#7-days",
    }
    values.update(changes)
    with config.function_environment(api.environment):
        return service.open_task(**values)


def task_mail() -> list[Any]:
    return [m for m in sent_mail() if m.subject.startswith("【タスク】")]


def test_one_key_is_one_task_and_one_email(api, published):
    first, created = open_one(api)
    again, created_again = open_one(api, title="別のタイトル")
    assert (created, created_again) == (True, False)
    assert again.task_id == first.task_id
    assert again.title == first.title  # the task made first stands
    assert first.status == "open" and first.version == 1 and first.notified_at
    (mail,) = task_mail()
    assert mail.destinations["ToAddresses"] == ["tanaka@monosub.example.jp"]
    assert mail.subject == (
        "【タスク】株式会社フライク様の未入金を確認し、入金を依頼する（期限 2026年5月11日）"
    )
    assigned = [e for e in published if e[1] == "TaskAssigned"]
    assert len(assigned) == 1
    assert assigned[0][0] == "monosub.tasks"
    assert assigned[0][2]["deal_id"] == "deal_1" and assigned[0][2]["assignee"] == "tanaka"


def test_another_key_is_another_task(api):
    first, _ = open_one(api)
    second, created = open_one(api, key="overdue#deal_1#escalation", assignee="yamada")
    assert created and second.task_id != first.task_id
    assert [m.destinations["ToAddresses"] for m in task_mail()] == [
        ["tanaka@monosub.example.jp"],
        ["yamada@monosub.example.jp"],
    ]


def test_an_email_ses_refused_is_sent_by_the_next_call(api):
    class Refusing:
        def send(self, message: email.Email) -> str:
            raise RuntimeError("SES throttled")

    with pytest.raises(RuntimeError), config.function_environment(api.environment):
        service.open_task(
            key=KEY,
            kind="overdue-follow-up",
            title="未入金の確認",
            detail="",
            account_id=None,
            deal_id=None,
            invoice_ids=[],
            assignee="tanaka",
            assignee_role="rep",
            due_on=date(2026, 5, 11),
            source="test",
            mailer=Refusing(),
        )
    assert task_mail() == []
    task, created = open_one(api)
    assert not created and task.notified_at
    assert len(task_mail()) == 1
    open_one(api)
    assert len(task_mail()) == 1


def test_an_assignee_outside_the_directory_gets_the_task_without_an_email(api):
    task, created = open_one(api, assignee="newcomer")
    assert created and task.assignee == "newcomer"
    assert task_mail() == []


def test_a_rep_lists_their_own_tasks_and_ops_anyones(api):
    task, _ = open_one(api)
    open_one(api, key="overdue#deal_9#task", assignee="sato")

    mine = api("GET", "/tasks", user="tanaka", groups="sales")
    assert mine.status == 200, mine
    assert [t["task_id"] for t in mine.json()["tasks"]] == [task.task_id]
    assert mine.json()["assignee"] == "tanaka"

    other_rep = api("GET", "/tasks", user="sato", groups="sales").json()["tasks"]
    assert task.task_id not in [t["task_id"] for t in other_rep]
    assert len(other_rep) == 1
    asked = api("GET", "/tasks", user="sato", groups="sales", query={"assignee": "tanaka"})
    assert asked.status == 403, asked

    for user, groups in (("ops-suzuki", "ops"), ("yamada", "corporate-manager")):
        listed = api("GET", "/tasks", user=user, groups=groups, query={"assignee": "tanaka"})
        assert listed.status == 200, listed
        assert [t["task_id"] for t in listed.json()["tasks"]] == [task.task_id]

    done = api("GET", "/tasks", user="tanaka", groups="sales", query={"status": "done"})
    assert done.json()["tasks"] == []
    bad = api("GET", "/tasks", user="tanaka", groups="sales", query={"status": "finished"})
    assert bad.status == 400
    agency = api("GET", "/tasks", user="agent", groups="agency", agency_id="agy_1")
    assert agency.status == 403


def test_open_tasks_come_soonest_first(api):
    later, _ = open_one(api, key="k-later", due_on=date(2026, 6, 1))
    sooner, _ = open_one(api, key="k-sooner", due_on=date(2026, 5, 1))
    listed = api("GET", "/tasks", user="tanaka", groups="sales", query={"status": "open"})
    assert [t["task_id"] for t in listed.json()["tasks"]] == [sooner.task_id, later.task_id]


def test_updates_go_on_the_version_read_and_closing_moves_the_task(api, published):
    task, _ = open_one(api)
    path = f"/tasks/{task.task_id}"

    started = api("PATCH", path, {"status": "in_progress", "version": 1}, user="tanaka")
    assert started.status == 200, started
    assert started.json()["status"] == "in_progress" and started.json()["version"] == 2
    assert started.json()["closed_at"] is None

    stale = api("PATCH", path, {"status": "done", "version": 1}, user="tanaka")
    assert stale.status == 409, stale
    assert stale.json()["details"] == {"version": 2}

    stranger = api("PATCH", path, {"status": "done", "version": 2}, user="sato")
    assert stranger.status == 404, stranger
    other_manager = api(
        "PATCH", path, {"status": "done", "version": 2}, user="kimura", groups="regional-manager"
    )
    assert other_manager.status == 403, other_manager
    extra = api("PATCH", path, {"status": "done", "version": 2, "assignee": "sato"}, user="tanaka")
    assert extra.status == 400, extra

    closed = api(
        "PATCH",
        path,
        {"status": "done", "note": "6/1 入金を確認", "version": 2},
        user="yamada",
        groups="corporate-manager",
    )
    assert closed.status == 200, closed
    body = closed.json()
    assert body["status"] == "done" and body["closed_at"] and body["note"] == "6/1 入金を確認"
    with config.function_environment(api.environment):
        stored = store.get(task.task_id)
    assert stored is not None and stored.version == 3 and stored.status == "done"

    listed = api("GET", "/tasks", user="tanaka", groups="sales", query={"status": "done"})
    assert [t["task_id"] for t in listed.json()["tasks"]] == [task.task_id]
    assert api("GET", "/tasks", user="tanaka", query={"status": "open"}).json()["tasks"] == []
    assert (
        api("GET", "/tasks", user="tanaka", query={"status": "in_progress"}).json()["tasks"] == []
    )

    reopened = api("PATCH", path, {"status": "open", "version": 3}, user="ops-suzuki", groups="ops")
    assert reopened.status == 409, reopened
    updates = [e[2] for e in published if e[1] == "TaskUpdated"]
    assert [(u["by"], u["previous_status"], u["status"]) for u in updates] == [
        ("tanaka", "open", "in_progress"),
        ("yamada", "in_progress", "done"),
    ]


def test_a_task_that_does_not_exist_is_404(api):
    missing = api("PATCH", "/tasks/task_nope", {"status": "done", "version": 1}, user="tanaka")
    assert missing.status == 404, missing


# --- the chat webhook ----------------------------------------------------------------------


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]]
    status = 200

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        type(self).received.append(json.loads(self.rfile.read(length).decode("utf-8")))
        self.send_response(type(self).status)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def chat_hook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_Hook]]:
    """A local webhook server, named as the team's chat webhook in a staff directory."""
    handler = type("Hook", (_Hook,), {"received": [], "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    shipped = json.loads(staff_directory.PATH.read_text(encoding="utf-8"))
    shipped["chat_webhook_url"] = f"http://127.0.0.1:{server.server_port}/hook"
    path = tmp_path / "staff.json"
    path.write_text(json.dumps(shipped, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setattr(staff_directory, "PATH", path)
    try:
        yield handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_the_chat_webhook_receives_one_post_per_task(api, chat_hook):
    task, _ = open_one(api)
    open_one(api)
    (post,) = chat_hook.received
    assert post["text"].startswith("【タスク】田中 一郎さん: 株式会社フライク様")
    assert post["task"]["task_id"] == task.task_id


def test_a_chat_tool_that_fails_leaves_the_task_and_its_email(api, chat_hook):
    chat_hook.status = 500
    task, created = open_one(api)
    assert created and len(chat_hook.received) == 1
    assert len(task_mail()) == 1
    with config.function_environment(api.environment):
        assert store.get(task.task_id) is not None
