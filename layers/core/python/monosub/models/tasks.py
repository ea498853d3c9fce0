"""Tasks for staff: something a person must do about a customer (chase an overdue invoice),
assigned to one user, with a due date and a status, until it is done or cancelled."""

from __future__ import annotations

from datetime import date
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

TaskStatus = Literal["open", "in_progress", "done", "cancelled"]
TASK_STATUSES: tuple[TaskStatus, ...] = get_args(TaskStatus)
AssigneeRole = Literal["rep", "manager"]


class Task(BaseModel):
    task_id: str = Field(description="Derived from the business key that made it (once per key)")
    kind: str = Field(description="What made it, e.g. overdue-follow-up")
    title: str = Field(description="What to do, in Japanese (the line a list shows)")
    detail: str = ""
    account_id: str | None = None
    deal_id: str | None = None
    invoice_ids: list[str] = Field(default_factory=list)
    assignee: str = Field(description="The user id of the person who does it")
    assignee_role: AssigneeRole = "rep"
    due_on: date
    status: TaskStatus = "open"
    created_at: str
    updated_at: str
    closed_at: str | None = None
    note: str | None = None
    source: str = Field(description="What created it: a run, a follow-up level …")
    notified_at: str | None = Field(
        default=None, description="When the assignee was told (email, chat): once per task"
    )
    version: int = 1


class TaskUpdate(BaseModel):
    """Body of ``PATCH /tasks/{task_id}``: a new status, a note, or both, on the version
    read (409 when the task changed since)."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    status: TaskStatus | None = None
    note: str | None = Field(default=None, min_length=1, max_length=1000)
    version: int = Field(ge=1, description="The version read; 409 when the task changed since")

    @model_validator(mode="after")
    def changes_something(self) -> TaskUpdate:
        if self.status is None and self.note is None:
            raise ValueError("give a status, a note, or both")
        return self
