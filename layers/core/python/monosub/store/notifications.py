"""Keys of the notifications table (docs/notifications.md):

- ``NOTIFICATION#<id>`` / ``NOTIFICATION``: the notification with its attempts;
- gsi1 ``STATUS#<status>`` / ``<created_at>#<id>``: by status in time order (the sweep reads
  the ``pending`` partition, ops the ``undelivered`` one);
- gsi2 ``METER#<serial>`` / ``<created_at>#<id>``: every notification about one meter
  (sparse: only those naming a meter);
- gsi3 ``RECIPIENT#<recipient>`` / ``<created_at>#<id>``: by recipient in time order.

Every index sorts by the same key, so a time range is a key condition on any of them and one
cursor (the last sort key returned) pages through one index or through the merge of several
(the search without a status, meter or recipient reads each recipient's partition). The
event filter is a filter expression on the partition read, never a scan.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from monosub.domain.notifications import NOTIFICATIONS
from monosub.models.notifications import Notification
from monosub.store.dynamo import Table, from_item, to_value

_table = Table(NOTIFICATIONS)
SORT_KEY_END = "\uffff"  # after every id: "to" includes the whole last instant


def _pk(notification_id: str) -> str:
    return f"NOTIFICATION#{notification_id}"


def sort_key(notification: Notification) -> str:
    return f"{notification.created_at}#{notification.notification_id}"


def _index(notification: Notification) -> dict[str, str]:
    sk = sort_key(notification)
    keys = {
        "gsi1pk": f"STATUS#{notification.status}",
        "gsi1sk": sk,
        "gsi3pk": f"RECIPIENT#{notification.recipient}",
        "gsi3sk": sk,
    }
    if notification.meter_serial:
        keys["gsi2pk"] = f"METER#{notification.meter_serial}"
        keys["gsi2sk"] = sk
    return keys


def _item(notification: Notification) -> dict[str, Any]:
    return {
        "pk": _pk(notification.notification_id),
        "sk": "NOTIFICATION",
        **_index(notification),
        **notification.model_dump(mode="json"),
    }


def put_new(notification: Notification) -> bool:
    """Record a notification once: False when its id exists (the fact arrived before)."""
    return _table.put_new(_item(notification))


def get(notification_id: str) -> Notification | None:
    item = _table.get(_pk(notification_id), "NOTIFICATION")
    return Notification.model_validate(item) if item else None


def save(notification: Notification, *, expected_version: int) -> bool:
    """Write the notification over the one at ``expected_version``; False when another
    delivery changed it meanwhile (the caller reads again)."""
    return _table.update(
        _pk(notification.notification_id),
        "NOTIFICATION",
        set_values={
            k: v for k, v in _item(notification).items() if k not in ("pk", "sk") and v is not None
        },
        remove=[
            name
            for name in ("next_attempt_at", "last_error", "exception_id")
            if getattr(notification, name) is None
        ],
        condition="#version = :version",
        condition_values={":version": expected_version},
    )


def query(
    *,
    index: str,
    partition: str,
    start: str | None,
    end: str | None,
    before: str | None,
    event: str | None,
    extra: Mapping[str, str] | None = None,
    limit: int,
) -> Iterator[Notification]:
    """Newest first, one index partition: sort keys from ``start`` to ``end`` and below
    ``before`` (a cursor); ``event`` and ``extra`` (attribute → value) filter what is read."""
    low = start or "0"  # below every instant (an empty key value is refused)
    high = min(end + SORT_KEY_END if end else SORT_KEY_END, before or SORT_KEY_END)
    names = {"#pk": f"{index}pk", "#sk": f"{index}sk"}
    values: dict[str, Any] = {
        ":pk": to_value(partition),
        ":low": to_value(low),
        ":high": to_value(high),
    }
    # BETWEEN includes the high end: a cursor's own item must not come again
    condition = "#pk = :pk AND #sk BETWEEN :low AND :high"
    filters = []
    for position, (name, value) in enumerate(
        {**({"event": event} if event else {}), **(extra or {})}.items()
    ):
        names[f"#f{position}"] = name
        values[f":f{position}"] = to_value(value)
        filters.append(f"#f{position} = :f{position}")
    if before:
        names["#sk2"] = f"{index}sk"
        values[":before"] = to_value(before)
        filters.append("#sk2 < :before")
    request: dict[str, Any] = {
        "TableName": _table.name,
        "IndexName": index,
        "KeyConditionExpression": condition,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
        "ScanIndexForward": False,
        "Limit": max(limit, 25),
    }
    if filters:
        request["FilterExpression"] = " AND ".join(filters)
    returned = 0
    while True:
        response = _table.client.query(**request)
        for raw in response.get("Items", []):
            yield Notification.model_validate(from_item(raw))
            returned += 1
            if returned >= limit:
                return
        last = response.get("LastEvaluatedKey")
        if not last:
            return
        request["ExclusiveStartKey"] = last


def by_status(status: str, *, limit: int = 1000) -> list[Notification]:
    """Oldest first: the sweep's work list (``pending``) or ops' (``undelivered``)."""
    return [
        Notification.model_validate(item)
        for item in _table.query(f"STATUS#{status}", index="gsi1", limit=limit)
    ]


def partitions_for(
    *, status: str | None, meter: str | None, recipient: str | None, recipients: Sequence[str]
) -> tuple[str, list[str], dict[str, str]]:
    """Which index and partitions answer a search, and which of its filters are left for the
    filter expression: the most selective key first (meter, then status, then recipient);
    with none of them, every recipient's partition."""
    extra: dict[str, str] = {}
    if meter:
        if status:
            extra["status"] = status
        if recipient:
            extra["recipient"] = recipient
        return "gsi2", [f"METER#{meter}"], extra
    if status:
        if recipient:
            extra["recipient"] = recipient
        return "gsi1", [f"STATUS#{status}"], extra
    if recipient:
        return "gsi3", [f"RECIPIENT#{recipient}"], extra
    return "gsi3", [f"RECIPIENT#{r}" for r in recipients], extra
