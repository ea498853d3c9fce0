"""Tasks over HTTP, declared in ``functions/manifest.py`` (TASK_ROUTES).

``GET /tasks?assignee=&status=`` lists an assignee's tasks by status then due date: the
caller's own when no assignee is named; ops and managers may name anyone, a rep only
themself (403). ``PATCH /tasks/{task_id}`` changes a task's status or note on the version
read (409 when it changed since or is closed), for its assignee, their manager or ops.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from functions.api import caller
from monosub.models.tasks import TaskStatus, TaskUpdate
from monosub.services import tasks

router = APIGatewayRouter()


@router.get("/tasks")
def list_tasks(
    assignee: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    status: Annotated[TaskStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
) -> dict[str, Any]:
    principal = caller.principal(router)
    scope = tasks.TaskScope.of(principal)
    listed = tasks.list_tasks(assignee=assignee, status=status, scope=scope, limit=limit)
    return {
        "assignee": assignee or principal.user,
        "status": status,
        "tasks": [t.model_dump(mode="json") for t in listed],
    }


@router.patch("/tasks/<task_id>")
def update_task(task_id: str, update: TaskUpdate) -> dict[str, Any]:
    principal = caller.principal(router)
    changed = tasks.update_task(
        task_id, update, by=principal.user, scope=tasks.TaskScope.of(principal)
    )
    return changed.model_dump(mode="json")
