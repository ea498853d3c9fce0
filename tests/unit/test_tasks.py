"""Task rules without AWS: the status moves, what an update sets, who may read and change
whose tasks, the staff directory, and the notification's email and chat post."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError

from monosub import auth, ids, staff_directory
from monosub.domain import tasks as rules
from monosub.domain.tasks import TaskScope
from monosub.errors import Conflict, Forbidden, NotFound
from monosub.models.tasks import TASK_STATUSES, Task, TaskUpdate
from monosub.services import tasks as service

NOW = "2026-05-08T01:00:00Z"


def a_task(**changes: object) -> Task:
    values: dict[str, object] = {
        "task_id": "task_x",
        "kind": "overdue-follow-up",
        "title": "株式会社フライク様の未入金を確認し、入金を依頼する",
        "detail": "請求書 INV-2026-000001 が支払期限から7日過ぎています。",
        "account_id": "acc_1",
        "deal_id": "deal_1",
        "invoice_ids": ["inv_1", "inv_2"],
        "assignee": "tanaka",
        "due_on": date(2026, 5, 11),
        "created_at": "2026-05-07T00:00:00Z",
        "updated_at": "2026-05-07T00:00:00Z",
        "source": "overdue-follow-up#level-7",
    }
    values.update(changes)
    return Task.model_validate(values)


REP = TaskScope(user="tanaka")
OTHER_REP = TaskScope(user="sato")
MANAGER = TaskScope(user="yamada", manager=True)
OTHER_MANAGER = TaskScope(user="kimura", manager=True)
OPS = TaskScope(user="ops-suzuki", ops=True)


# --- status moves --------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["done", "cancelled"])
def test_a_closed_task_moves_nowhere(status):
    assert rules.allowed_next(status) == ()


def test_an_active_task_may_move_to_any_other_status():
    assert rules.allowed_next("open") == ("in_progress", "done", "cancelled")
    assert rules.allowed_next("in_progress") == ("open", "done", "cancelled")


def test_closing_sets_closed_at_and_the_status():
    values = rules.changes(a_task(), TaskUpdate(status="done", version=1), now_iso=NOW)
    assert values == {"status": "done", "closed_at": NOW, "updated_at": NOW}


def test_starting_work_does_not_close_it():
    values = rules.changes(a_task(), TaskUpdate(status="in_progress", version=1), now_iso=NOW)
    assert values == {"status": "in_progress", "updated_at": NOW}


def test_a_note_alone_keeps_the_status():
    values = rules.changes(
        a_task(), TaskUpdate(note="電話済み、来週入金予定", version=1), now_iso=NOW
    )
    assert values == {"note": "電話済み、来週入金予定", "updated_at": NOW}


def test_a_stale_version_is_a_conflict_with_the_current_one():
    with pytest.raises(Conflict) as refused:
        rules.changes(a_task(version=3), TaskUpdate(status="done", version=2), now_iso=NOW)
    assert refused.value.details == {"version": 3}


@pytest.mark.parametrize("closed", ["done", "cancelled"])
def test_a_closed_task_is_not_changed(closed):
    with pytest.raises(Conflict):
        rules.changes(a_task(status=closed), TaskUpdate(status="open", version=1), now_iso=NOW)


def test_an_update_must_change_something_and_name_its_version():
    with pytest.raises(ValidationError):
        TaskUpdate(version=1)
    with pytest.raises(ValidationError):
        TaskUpdate.model_validate({"status": "done"})
    with pytest.raises(ValidationError):
        TaskUpdate.model_validate({"status": "finished", "version": 1})
    with pytest.raises(ValidationError):  # extra fields are refused, not ignored
        TaskUpdate.model_validate({"status": "done", "version": 1, "assignee": "sato"})


def test_statuses_are_the_four_of_the_brief():
    assert TASK_STATUSES == ("open", "in_progress", "done", "cancelled")


# --- who -----------------------------------------------------------------------------------


def test_scope_from_groups():
    assert TaskScope.of(auth.Principal("tanaka", frozenset({auth.SALES}))) == REP
    assert TaskScope.of(auth.Principal("yamada", frozenset({auth.CORPORATE_MANAGER}))).manager
    assert TaskScope.of(auth.Principal("ops-suzuki", frozenset({auth.OPS}))).ops


def test_a_rep_reads_only_their_own_tasks():
    rules.require_readable(REP, "tanaka")
    with pytest.raises(Forbidden):
        rules.require_readable(REP, "sato")


@pytest.mark.parametrize("scope", [MANAGER, OTHER_MANAGER, OPS])
def test_ops_and_managers_read_anyones(scope):
    rules.require_readable(scope, "tanaka")


@pytest.mark.parametrize("scope", [REP, MANAGER, OPS])
def test_the_assignee_their_manager_and_ops_change_a_task(scope):
    rules.require_changeable(scope, a_task(), assignee_manager="yamada")


def test_another_rep_is_told_the_task_does_not_exist():
    with pytest.raises(NotFound):
        rules.require_changeable(OTHER_REP, a_task(), assignee_manager="yamada")


def test_another_manager_reads_it_but_may_not_change_it():
    with pytest.raises(Forbidden):
        rules.require_changeable(OTHER_MANAGER, a_task(), assignee_manager="yamada")


# --- ids, the directory, the notification --------------------------------------------------


def test_one_key_is_one_task_id():
    key = "overdue#deal_1#task"
    assert service.task_id_for(key) == service.task_id_for(key) == ids.derived_id("task", key)
    assert service.task_id_for(key) != service.task_id_for("overdue#deal_2#task")


def test_the_shipped_directory_knows_the_sales_chain():
    assert service.manager_of("tanaka") == "yamada"
    assert service.manager_of("yamada") is None
    assert service.manager_of("nobody") is None
    assert staff_directory.member("ops-suzuki") is not None


def test_a_webhook_comes_from_the_user_before_the_directory(tmp_path: Path, monkeypatch):
    path = tmp_path / "staff.json"
    path.write_text(
        json.dumps(
            {
                "chat_webhook_url": "https://chat.example/team",
                "staff": {
                    "tanaka": {"name": "田中", "email": "t@example.jp", "manager": "yamada"},
                    "sato": {
                        "name": "佐藤",
                        "email": "s@example.jp",
                        "chat_webhook_url": "https://chat.example/sato",
                    },
                },
            }
        ),
        encoding="utf-8",
    )
    monkeypatch.setattr(staff_directory, "PATH", path)
    assert staff_directory.chat_webhook_url("sato") == "https://chat.example/sato"
    assert staff_directory.chat_webhook_url("tanaka") == "https://chat.example/team"
    assert staff_directory.member("tanaka").user_id == "tanaka"


def test_without_any_webhook_there_is_no_chat():
    assert staff_directory.chat_webhook_url("tanaka") is None


def test_the_email_is_japanese_and_names_what_to_do_and_by_when():
    member = staff_directory.member("tanaka")
    assert member is not None
    message = service.notification_email(a_task(), member)
    assert message.to == ["tanaka@monosub.example.jp"]
    assert message.subject == (
        "【タスク】株式会社フライク様の未入金を確認し、入金を依頼する（期限 2026年5月11日）"
    )
    for body in (message.text, message.html or ""):
        assert "田中 一郎 さん" in body
        assert "2026年5月11日" in body
        assert "inv_1、inv_2" in body
        assert "請求書 INV-2026-000001 が支払期限から7日過ぎています。" in body
    assert "マネージャー" not in message.text
    as_manager = service.notification_email(a_task(assignee_role="manager"), member)
    assert "マネージャーとしての対応" in as_manager.text


def test_the_html_email_escapes_what_it_is_given():
    member = staff_directory.member("tanaka")
    assert member is not None
    message = service.notification_email(a_task(detail="<b>至急</b>"), member)
    assert "&lt;b&gt;至急&lt;/b&gt;" in (message.html or "")
    assert "<b>至急</b>" in message.text


def test_the_chat_post_has_text_and_fields():
    message = service.chat_message(a_task(), "田中 一郎")
    assert message["text"].startswith("【タスク】田中 一郎さん: 株式会社フライク様")
    assert message["task"]["task_id"] == "task_x"
    assert message["task"]["due_on"] == "2026-05-11"


def test_a_chat_post_that_fails_is_false_not_raised():
    # a port nobody listens on (connection refused), and a scheme that is not http(s)
    assert service.post_to_chat("http://127.0.0.1:9/hook", {"text": "x"}) is False
    assert service.post_to_chat("file:///etc/passwd", {"text": "x"}) is False
