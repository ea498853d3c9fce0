"""Task rules: how a task's status may move, what an update changes, and who may see or
change whose tasks.

A task is *open* or *in progress* until its assignee finishes it (*done*) or it no longer
needs doing (*cancelled*); those two are final, so a closed follow-up is not silently
reopened (a new occurrence of the problem makes a new task under a new key). Who: a rep sees
and works their own tasks; ops and the managers' groups may read anyone's; changing one is
for its assignee, the assignee's own manager (from the staff directory) or ops.

Pure: the caller passes in "now" and the assignee's manager. Nothing here touches AWS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from monosub import auth
from monosub.errors import Conflict, Forbidden, NotFound
from monosub.models.tasks import Task, TaskStatus, TaskUpdate

ACTIVE: tuple[TaskStatus, ...] = ("open", "in_progress")
CLOSED: tuple[TaskStatus, ...] = ("done", "cancelled")
_MANAGER_GROUPS = frozenset({auth.REGIONAL_MANAGER, auth.CORPORATE_MANAGER})


@dataclass(frozen=True)
class TaskScope:
    """Whose tasks a caller may read: its own always; anyone's for ops and managers."""

    user: str
    ops: bool = False
    manager: bool = False

    @classmethod
    def of(cls, principal: auth.Principal) -> TaskScope:
        return cls(
            user=principal.user,
            ops=auth.OPS in principal.groups,
            manager=bool(principal.groups & _MANAGER_GROUPS),
        )

    @property
    def reads_anyones(self) -> bool:
        return self.ops or self.manager


def allowed_next(status: TaskStatus) -> tuple[TaskStatus, ...]:
    """The statuses a task in ``status`` may move to (the same one is no move)."""
    if status in CLOSED:
        return ()
    return tuple(s for s in ("open", "in_progress", "done", "cancelled") if s != status)


def require_readable(scope: TaskScope, assignee: str) -> None:
    """403 for a rep asking for someone else's tasks."""
    if assignee != scope.user and not scope.reads_anyones:
        raise Forbidden("a rep sees their own tasks; ops and managers see anyone's")


def require_changeable(scope: TaskScope, task: Task, *, assignee_manager: str | None) -> None:
    """Only the assignee, the assignee's manager or ops change a task. A caller who may not
    even read it is told it does not exist (404), one who may read it but not change it 403.
    """
    if scope.user == task.assignee or scope.ops or scope.user == assignee_manager:
        return
    if not scope.reads_anyones:
        raise NotFound(f"task {task.task_id} does not exist")
    raise Forbidden(f"task {task.task_id} is for {task.assignee}, their manager or ops")


def changes(task: Task, update: TaskUpdate, *, now_iso: str) -> dict[str, Any]:
    """The values an update sets (``status``, ``note``, ``updated_at``, ``closed_at`` when it
    closes the task). 409 on a stale version, a closed task, or a move not allowed."""
    if update.version != task.version:
        raise Conflict(
            f"task {task.task_id} changed since it was read", details={"version": task.version}
        )
    if task.status in CLOSED:
        raise Conflict(f"task {task.task_id} is {task.status} already")
    values: dict[str, Any] = {"updated_at": now_iso}
    if update.status is not None and update.status != task.status:
        if update.status not in allowed_next(task.status):
            raise Conflict(
                f"a task cannot move from {task.status} to {update.status}",
                details={"allowed": list(allowed_next(task.status))},
            )
        values["status"] = update.status
        if update.status in CLOSED:
            values["closed_at"] = now_iso
    if update.note is not None:
        values["note"] = update.note
    return values
