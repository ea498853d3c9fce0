"""Domain events on the EventBridge bus. The event-journal function writes each one to the
audit trail; later capabilities subscribe with their own rules."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from monosub import aws, clock, config


class EventPublisher(Protocol):
    def publish(self, source: str, detail_type: str, detail: Mapping[str, Any]) -> None: ...


Event = tuple[str, str, Mapping[str, Any]]  # source, detail type, detail
ENTRIES_PER_CALL = 10  # PutEvents takes at most 10 entries


class EventBridgePublisher:
    def publish(self, source: str, detail_type: str, detail: Mapping[str, Any]) -> None:
        self.publish_all([(source, detail_type, detail)])

    def publish_all(self, events: Sequence[Event]) -> None:
        """Publish ``events`` ten to a call (a run of thousands of payments)."""
        bus = config.require(config.EVENT_BUS_ENV)
        now = clock.now_iso()
        for start in range(0, len(events), ENTRIES_PER_CALL):
            entries = [
                {
                    "Source": source,
                    "DetailType": detail_type,
                    "Detail": json.dumps({**detail, "occurred_at": now}, default=str),
                    "EventBusName": bus,
                }
                for source, detail_type, detail in events[start : start + ENTRIES_PER_CALL]
            ]
            response = aws.client("events").put_events(Entries=entries)
            if response.get("FailedEntryCount"):
                raise RuntimeError(f"events were not accepted: {response['Entries']}")


def publish_all(publisher: EventPublisher | None, events: Sequence[Event]) -> None:
    """Publish several events, batched when the publisher can."""
    target = publisher or default_publisher
    if isinstance(target, EventBridgePublisher):
        target.publish_all(events)
        return
    for source, detail_type, detail in events:
        target.publish(source, detail_type, detail)


class RecordingPublisher:
    """For unit tests: keeps what was published."""

    def __init__(self) -> None:
        self.published: list[tuple[str, str, dict[str, Any]]] = []

    def publish(self, source: str, detail_type: str, detail: Mapping[str, Any]) -> None:
        self.published.append((source, detail_type, dict(detail)))


default_publisher: EventPublisher = EventBridgePublisher()
