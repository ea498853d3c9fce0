"""Domain events on the EventBridge bus. The event-journal function writes each one to the
audit trail; later capabilities subscribe with their own rules."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

from monosub import aws, clock, config


class EventPublisher(Protocol):
    def publish(self, source: str, detail_type: str, detail: Mapping[str, Any]) -> None: ...


class EventBridgePublisher:
    def publish(self, source: str, detail_type: str, detail: Mapping[str, Any]) -> None:
        entry = {
            "Source": source,
            "DetailType": detail_type,
            "Detail": json.dumps({**detail, "occurred_at": clock.now_iso()}, default=str),
            "EventBusName": config.require(config.EVENT_BUS_ENV),
        }
        response = aws.client("events").put_events(Entries=[entry])
        if response.get("FailedEntryCount"):
            raise RuntimeError(f"event {detail_type} was not accepted: {response['Entries']}")


class RecordingPublisher:
    """For unit tests: keeps what was published."""

    def __init__(self) -> None:
        self.published: list[tuple[str, str, dict[str, Any]]] = []

    def publish(self, source: str, detail_type: str, detail: Mapping[str, Any]) -> None:
        self.published.append((source, detail_type, dict(detail)))


default_publisher: EventPublisher = EventBridgePublisher()
