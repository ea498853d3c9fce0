"""Tasks in table ``records`` (no table of their own):

====================  ===============================  =========================================
item                  pk / sk                          gsi1pk / gsi1sk
====================  ===============================  =========================================
task                  TASK#<id> / TASK                 TASKS#<assignee> / <status>#<due_on>#<id>
====================  ===============================  =========================================

The index puts one person's tasks in one partition ordered by status, then due date: "my open
tasks, soonest first" is one query under the ``open#`` prefix. A status change moves the
task within its assignee's partition (the index keys are rewritten with it).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from monosub.models.tasks import Task, TaskStatus
from monosub.names import RECORDS
from monosub.store.dynamo import Table

_table = Table(RECORDS)
_SK = "TASK"


def _pk(task_id: str) -> str:
    return f"TASK#{task_id}"


def index_keys(task: Task) -> dict[str, str]:
    return {
        "gsi1pk": f"TASKS#{task.assignee}",
        "gsi1sk": f"{task.status}#{task.due_on.isoformat()}#{task.task_id}",
    }


def create(task: Task) -> bool:
    """False when a task with this id exists (the caller derived the id from its business
    key: the same follow-up again)."""
    return _table.put_new(
        {"pk": _pk(task.task_id), "sk": _SK, **index_keys(task), **task.model_dump(mode="json")}
    )


def get(task_id: str) -> Task | None:
    item = _table.get(_pk(task_id), _SK)
    return Task.model_validate(item) if item else None


def update(task: Task, values: Mapping[str, Any]) -> bool:
    """Write ``values`` at the version read; False when the task changed meanwhile."""
    changed = task.model_copy(update=dict(values))
    return _table.update(
        _pk(task.task_id),
        _SK,
        set_values={**values, **index_keys(changed), "version": task.version + 1},
        condition="#version = :version",
        condition_values={":version": task.version},
    )


def assigned(
    assignee: str, *, status: TaskStatus | None = None, limit: int = 100
) -> Iterator[Task]:
    """An assignee's tasks (of one status), by status then due date."""
    for item in _table.query(
        f"TASKS#{assignee}",
        index="gsi1",
        sk_prefix=f"{status}#" if status else None,
        limit=limit,
    ):
        yield Task.model_validate(item)


def claim_notification(task_id: str, at: str) -> bool:
    """Mark the assignee's notification as being sent; False when someone did before (the
    same task opened twice at once). Bookkeeping: the task's version does not change, so it
    never makes a rep's update stale."""
    return _table.update(
        _pk(task_id),
        _SK,
        set_values={"notified_at": at},
        condition="attribute_exists(pk) AND attribute_not_exists(#notified_at)",
    )


def release_notification(task_id: str) -> None:
    """Undo a claim whose notification could not be sent, so the next call sends it."""
    _table.update(_pk(task_id), _SK, set_values={}, remove=("notified_at",))
