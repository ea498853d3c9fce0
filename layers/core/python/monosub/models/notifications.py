"""Supplier and regulator notifications as stored and shown (docs/notifications.md): one per
supply fact, recipient and meter, with every delivery attempt."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

NotificationStatus = Literal["pending", "delivered", "undelivered"]
STATUSES: tuple[NotificationStatus, ...] = ("pending", "delivered", "undelivered")


class Attempt(BaseModel):
    """One delivery attempt and what came of it."""

    at: str = Field(description="UTC instant the attempt started")
    by: Literal["event", "sweep", "retry"] = Field(
        description="What made it: the event's arrival, the hourly sweep, ops' retry"
    )
    outcome: Literal["delivered", "failed"]
    transient: bool | None = Field(default=None, description="Failed: worth another try")
    error: str | None = None
    receipt: str | None = Field(default=None, description="Delivered: the recipient's reference")


class Notification(BaseModel):
    notification_id: str = Field(description="Also the idempotency key the recipient gets")
    source_key: str = Field(description="The supply fact, e.g. ContractStarted#<id>#<date>")
    source_event_id: str | None = Field(
        default=None, description="The EventBridge event that first brought the fact"
    )
    detail_type: str = Field(description="The domain event's detail-type")
    event: str = Field(description="supply-start, device-change, suspension, supply-end")
    recipient: str
    channel: Literal["rest", "soap"]
    meter_serial: str | None = None
    customer_number: str
    contract_id: str | None = None
    effective_date: str
    payload: dict[str, Any] = Field(
        description="Exactly what the recipient is sent (strings only: dates ISO, quantities as "
        "decimal strings)"
    )
    status: NotificationStatus = "pending"
    attempt_count: int = 0
    attempts: list[Attempt] = Field(default_factory=list)
    next_attempt_at: str | None = Field(default=None, description="Pending: when it is due")
    last_error: str | None = None
    delivered_at: str | None = None
    receipt: str | None = None
    exception_id: str | None = Field(
        default=None, description="Undelivered: the exception raised for ops (once)"
    )
    created_at: str
    updated_at: str
    version: int = 1


class NotificationPage(BaseModel):
    notifications: list[Notification]
    next: str | None = Field(default=None, description="Pass as ?next= for the next page")
