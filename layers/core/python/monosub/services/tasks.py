"""Tasks for staff (docs/tasks.md): what a person must do about a customer, opened once per
business key, announced to its assignee, listed and worked through the API.

``open_task`` is what a process calls (the overdue follow-up at its task and escalation
levels): the id is derived from the caller's key, so a rerun, or two invoices of one deal
reaching the level together, open one task. Its assignee is told once: the
``TaskAssigned`` event, an email (templates ``task_assigned_*.j2``) to the address in the
staff directory and, when one is configured, a chat webhook. The notification is claimed on
the task before it is sent (``notified_at``), so two callers never both send it; an email
that SES refused releases the claim and raises, and the next call sends it. The chat post is
best effort: a chat tool that is down is logged, the task and its email stand.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from monosub import clock, company, email, events, ids, staff_directory
from monosub.documents.formatting import date_ja
from monosub.domain import tasks as rules
from monosub.domain.tasks import TaskScope
from monosub.errors import Conflict, NotFound
from monosub.events import EventPublisher
from monosub.models.tasks import AssigneeRole, Task, TaskStatus, TaskUpdate
from monosub.observability import count, logger
from monosub.store import tasks as store

SOURCE = "monosub.tasks"
CHAT_TIMEOUT_SECONDS = 5

__all__ = ["TaskScope", "list_tasks", "manager_of", "open_task", "update_task"]


def manager_of(user_id: str) -> str | None:
    """The user id of ``user_id``'s manager (staff directory); None when there is none."""
    return staff_directory.manager_of(user_id)


def task_id_for(key: str) -> str:
    """The task that belongs to a business key (e.g. ``overdue#<deal>#<level>``)."""
    return ids.derived_id("task", key)


def open_task(
    *,
    key: str,
    kind: str,
    title: str,
    detail: str,
    account_id: str | None,
    deal_id: str | None,
    invoice_ids: Sequence[str],
    assignee: str,
    assignee_role: AssigneeRole,
    due_on: date,
    source: str,
    publisher: EventPublisher | None = None,
    mailer: email.Mailer | None = None,
) -> tuple[Task, bool]:
    """The task of ``key``, made on the first call; returns it and whether it is new. The
    assignee is notified once, whichever call gets there first."""
    now = clock.now_iso()
    task = Task(
        task_id=task_id_for(key),
        kind=kind,
        title=title,
        detail=detail,
        account_id=account_id,
        deal_id=deal_id,
        invoice_ids=list(invoice_ids),
        assignee=assignee,
        assignee_role=assignee_role,
        due_on=due_on,
        created_at=now,
        updated_at=now,
        source=source,
    )
    created = store.create(task)
    if created:
        count("TasksOpened")
    else:
        task = store.get(task.task_id) or task
    if task.notified_at is None and store.claim_notification(task.task_id, now):
        _announce(task, publisher=publisher, mailer=mailer or email.default_mailer)
        task = task.model_copy(update={"notified_at": now})
    return task, created


def list_tasks(
    *,
    assignee: str | None = None,
    status: TaskStatus | None = None,
    scope: TaskScope,
    limit: int = 100,
) -> list[Task]:
    """An assignee's tasks (the caller's own when none is named), by status then due date.
    A rep asking for someone else's is refused (403)."""
    whose = assignee or scope.user
    rules.require_readable(scope, whose)
    return list(store.assigned(whose, status=status, limit=limit))


def update_task(
    task_id: str,
    update: TaskUpdate,
    *,
    by: str,
    scope: TaskScope,
    publisher: EventPublisher | None = None,
) -> Task:
    """Change a task's status or note on the version read (409 when it changed since, or is
    closed); only its assignee, their manager or ops (404 for whoever may not read it)."""
    task = store.get(task_id)
    if task is None:
        raise NotFound(f"task {task_id} does not exist")
    rules.require_changeable(scope, task, assignee_manager=manager_of(task.assignee))
    values = rules.changes(task, update, now_iso=clock.now_iso())
    if not store.update(task, values):
        raise Conflict(f"task {task_id} changed meanwhile")
    changed = task.model_copy(update={**values, "version": task.version + 1})
    events.publish_all(
        publisher,
        [
            (
                SOURCE,
                "TaskUpdated",
                {
                    "task_id": task_id,
                    "kind": task.kind,
                    "by": by,
                    "assignee": task.assignee,
                    "status": changed.status,
                    "previous_status": task.status,
                    "note": changed.note,
                    "account_id": task.account_id,
                    "deal_id": task.deal_id,
                },
            )
        ],
    )
    if changed.status != task.status and changed.status in rules.CLOSED:
        count("TasksClosed")
    return changed


def _announce(task: Task, *, publisher: EventPublisher | None, mailer: email.Mailer) -> None:
    """The event, the email and the chat post of a new task (claimed by the caller)."""
    try:
        events.publish_all(
            publisher,
            [
                (
                    SOURCE,
                    "TaskAssigned",
                    {
                        "task_id": task.task_id,
                        "kind": task.kind,
                        "assignee": task.assignee,
                        "assignee_role": task.assignee_role,
                        "due_on": task.due_on.isoformat(),
                        "account_id": task.account_id,
                        "deal_id": task.deal_id,
                        "invoice_ids": task.invoice_ids,
                        "source": task.source,
                    },
                )
            ],
        )
        member = staff_directory.member(task.assignee)
        if member is None:
            logger.warning(
                "task assignee is not in the staff directory: no email",
                extra={"task_id": task.task_id, "assignee": task.assignee},
            )
            count("TaskNotificationsUnaddressed")
        else:
            mailer.send(notification_email(task, member))
            count("TaskEmailsSent")
    except Exception:
        store.release_notification(task.task_id)
        raise
    url = staff_directory.chat_webhook_url(task.assignee)
    if url:
        post_to_chat(url, chat_message(task, member.name if member else task.assignee))


def notification_email(task: Task, member: staff_directory.StaffMember) -> email.Email:
    """The assignee's email about a new task."""
    text, html = email.render(
        "task_assigned",
        {
            "recipient": member.name,
            "title": task.title,
            "detail": task.detail,
            "due_on": task.due_on,
            "role": task.assignee_role,
            "account_id": task.account_id,
            "deal_id": task.deal_id,
            "invoice_ids": task.invoice_ids,
            "task_id": task.task_id,
            "issuer": company.issuer().name,
        },
    )
    return email.Email(
        to=[member.email],
        subject=f"【タスク】{task.title}（期限 {date_ja(task.due_on)}）",
        text=text,
        html=html,
    )


def chat_message(task: Task, assignee_name: str) -> dict[str, Any]:
    """The chat post: ``text`` for the incoming webhooks of Slack or Teams, ``task`` for a
    tool that reads fields."""
    return {
        "text": f"【タスク】{assignee_name}さん: {task.title}（期限 {date_ja(task.due_on)}）",
        "task": {
            "task_id": task.task_id,
            "kind": task.kind,
            "assignee": task.assignee,
            "due_on": task.due_on.isoformat(),
            "account_id": task.account_id,
            "deal_id": task.deal_id,
            "invoice_ids": task.invoice_ids,
        },
    }


def post_to_chat(url: str, message: Mapping[str, Any]) -> bool:
    """POST ``message`` as JSON to a chat webhook; False (logged, never raised) when it did
    not take it: the task exists either way."""
    if urlsplit(url).scheme not in ("http", "https"):
        logger.warning("chat webhook is not an http(s) URL: not posted")
        count("ChatNotificationsFailed")
        return False
    request = urllib.request.Request(
        url,
        data=json.dumps(message, ensure_ascii=False).encode("utf-8"),
        headers={"Content-Type": "application/json; charset=utf-8"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=CHAT_TIMEOUT_SECONDS) as response:
            response.read()
    except (OSError, ValueError) as error:
        # URLError and HTTPError are OSErrors; the URL itself (it may hold a token) is not
        # logged.
        logger.warning("chat webhook did not take the post", extra={"error": str(error)})
        count("ChatNotificationsFailed")
        return False
    count("ChatNotificationsSent")
    return True
