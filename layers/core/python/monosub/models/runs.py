"""The run ledger's record: one per scheduled or file-triggered run."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

RunStatus = Literal["running", "succeeded", "quarantined", "failed"]
FINAL_STATUSES: frozenset[str] = frozenset({"succeeded", "quarantined", "failed"})
MAX_ERRORS_KEPT = 50


class Run(BaseModel):
    run_id: str
    kind: str = Field(description="What ran: file-intake, intake-sweep, ...")
    business_key: str = Field(description="What the run is about, e.g. drop#bucket/key#etag")
    status: RunStatus
    subject: dict[str, Any] = Field(default_factory=dict)
    counts: dict[str, int] = Field(default_factory=dict)
    errors: list[dict[str, Any]] = Field(default_factory=list)
    error_count: int = 0
    message: str | None = None
    execution_arn: str | None = None
    attempts: int = 1
    started_at: str
    updated_at: str
    ended_at: str | None = None

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES
