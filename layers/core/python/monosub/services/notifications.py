"""Supplier and regulator notifications (docs/notifications.md): supply facts derived from
domain events, recorded once per recipient and meter, delivered over REST or SOAP with
retries, and searched by ops.

- ``on_event``: one domain event (``ContractStarted`` of a contract with devices or a
  metered service, ``DeviceReplaced``, ``DeviceReturned`` (not of a replaced device),
  ``DevicesSuspended``, ``ContractEnded``) → its supply
  fact (``fact_of``) → one notification per recipient and meter
  (``monosub.domain.notifications.plan``), each written with a conditional put (EventBridge
  delivers at least once, and a service may publish a fact twice) and delivered at once.
- ``sweep`` (hourly): the pending notifications whose next attempt is due.
- After ``max_attempts`` failures, or a refusal, the notification is ``undelivered`` and an
  exception ``notification-undelivered`` is raised; ops' ``retry`` sends it again.

A delivery writes the notification on the version read. Two deliveries racing (the sweep and
ops' retry) may both send: the recipient's idempotency key (the notification id) makes the
second a replay, and only one write wins.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from monosub import access, clock, ids
from monosub.adapters import notification_delivery
from monosub.adapters.notification_delivery import DeliveryFailed, RecipientNotConfigured
from monosub.domain import notifications as rules
from monosub.domain import usage_billing
from monosub.domain.fulfilment import shipment_id_for
from monosub.errors import NotFound, Unavailable, UpstreamRefused, ValidationFailed
from monosub.models.contracts import Contract
from monosub.models.exceptions import ExceptionAction, ExceptionRecord
from monosub.models.notifications import Attempt, Notification, NotificationPage
from monosub.observability import count, logger
from monosub.services import exceptions, replacements
from monosub.store import billing as billing_store
from monosub.store import catalog as catalog_store
from monosub.store import contracts as contracts_store
from monosub.store import cursor
from monosub.store import notifications as store
from monosub.store import shipments as shipments_store

EXCEPTION_KIND = "notification-undelivered"
# The domain events that carry supply facts, by source.
DETAIL_TYPES: dict[str, tuple[str, ...]] = {
    "monosub.contracts": ("ContractStarted", "ContractEnded"),
    "monosub.fulfilment": ("DeviceReturned", "DeviceReplaced"),
    "monosub.overdue": ("DevicesSuspended",),
}
SWEEP_LIMIT = 500
MAX_PAGE = 200
_CURSOR = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z#ntf_[0-9a-z]+")

By = Literal["event", "sweep", "retry"]


@functools.cache
def settings() -> rules.RecipientSettings:
    return rules.load_settings()


# ---- facts ---------------------------------------------------------------------------------


def fact_of(detail_type: str, detail: Mapping[str, Any]) -> rules.SupplyFact | None:
    """The supply fact a domain event carries; None when it carries none (a contract with
    neither devices nor a metered service supplies nothing at a meter)."""
    if detail_type == "ContractStarted":
        return _contract_fact(detail, "supply-start", "start_date")
    if detail_type == "ContractEnded":
        return _contract_fact(detail, "supply-end", "end_date")
    if detail_type == "DeviceReturned":
        return _returned_fact(detail)
    if detail_type == "DeviceReplaced":
        return _replaced_fact(detail)
    if detail_type == "DevicesSuspended":
        return _suspended_fact(detail)
    return None


def _contract_fact(
    detail: Mapping[str, Any], kind: rules.FactKind, date_field: str
) -> rules.SupplyFact | None:
    contract = contracts_store.get(str(detail.get("contract_id") or ""))
    day = _date(detail.get(date_field))
    if contract is None or day is None:
        logger.warning("contract event without a contract or date", extra=dict(detail))
        return None
    serials = _serials(contract)
    unit = _metered_unit(contract, day)
    if not serials and unit is None:
        return None
    expected = None if kind == "supply-start" else _expected(contract, day)
    return rules.SupplyFact(
        kind=kind,
        source_key=f"{'ContractStarted' if kind == 'supply-start' else 'ContractEnded'}"
        f"#{contract.contract_id}#{day.isoformat()}",
        customer_number=contract.account_id,
        effective_date=day,
        meters=tuple(serials) or (None,),
        contract_id=contract.contract_id,
        contract_number=contract.number,
        expected_consumption=expected,
        consumption_unit=unit,
        reason=str(detail["reason"]) if detail.get("reason") else None,
    )


def _returned_fact(detail: Mapping[str, Any]) -> rules.SupplyFact | None:
    serial = str(detail.get("serial") or "")
    day = _date(detail.get("returned_on"))
    if not serial or day is None:
        return None
    if replacements.is_replaced_return(detail):
        return None  # the change was told when the new device was bound (DeviceReplaced)
    contract = contracts_store.get(str(detail.get("contract_id") or ""))
    account = str(detail.get("account_id") or (contract.account_id if contract else ""))
    if not account:
        return None
    return rules.SupplyFact(
        kind="device-change",
        source_key=f"DeviceReturned#{serial}#{day.isoformat()}",
        customer_number=account,
        effective_date=day,
        meters=(serial,),
        contract_id=contract.contract_id if contract else None,
        contract_number=contract.number if contract else None,
        reason="device returned",
        **_consumption(contract, day),
    )


def _replaced_fact(detail: Mapping[str, Any]) -> rules.SupplyFact | None:
    """One device change for the replacement: the new meter, and the one it replaced."""
    replacement_id = str(detail.get("replacement_id") or "")
    new_serial = str(detail.get("new_serial") or "")
    old_serial = str(detail.get("old_serial") or "")
    day = _date(detail.get("effective_date"))
    account = str(detail.get("account_id") or "")
    if not replacement_id or not new_serial or not old_serial or day is None or not account:
        logger.warning("DeviceReplaced without its facts", extra=dict(detail))
        return None
    contract = contracts_store.get(str(detail.get("contract_id") or ""))
    return rules.SupplyFact(
        kind="device-change",
        source_key=f"DeviceReplaced#{replacement_id}",
        customer_number=account,
        effective_date=day,
        meters=(new_serial,),
        previous_meter=old_serial,
        contract_id=contract.contract_id if contract else None,
        contract_number=contract.number if contract else None,
        reason=f"device replaced ({detail.get('reason') or 'other'})",
        **_consumption(contract, day),
    )


def _suspended_fact(detail: Mapping[str, Any]) -> rules.SupplyFact | None:
    serials = sorted({str(s) for s in detail.get("serials") or [] if s})
    invoice_id = str(detail.get("invoice_id") or "")
    account = str(detail.get("account_id") or "")
    if not serials or not invoice_id or not account:
        return None
    day = _business_date(detail.get("occurred_at")) or clock.today()
    registered = shipments_store.registered(serials)
    contract_ids = sorted({d.contract_id for d in registered.values()})
    contract = contracts_store.get(contract_ids[0]) if len(contract_ids) == 1 else None
    return rules.SupplyFact(
        kind="suspension",
        source_key=f"DevicesSuspended#{invoice_id}",
        customer_number=account,
        effective_date=day,
        meters=tuple(serials),
        contract_id=contract.contract_id if contract else None,
        contract_number=contract.number if contract else None,
        reason="non-payment",
        **_consumption(contract, day),
    )


def _serials(contract: Contract) -> list[str]:
    """The contract's meters now: its order's devices, replaced ones swapped for the new."""
    shipped = [d.serial for d in shipments_store.devices(shipment_id_for(contract.quote_id))]
    return replacements.contract_meters(contract.contract_id, shipped)


def _metered_unit(contract: Contract, day: date) -> str | None:
    """The unit of the contract's metered service on ``day`` (kWh …); None: not metered."""
    skus = usage_billing.line_skus(contract.lines)
    components = usage_billing.usage_components(
        skus,
        catalog_store.entries(skus),
        contract_id=contract.contract_id,
        term=1,
        starts=day,
        priced_on=day,
    )
    return (components[0].usage_unit or "") if components else None


def _consumption(contract: Contract | None, day: date) -> dict[str, Any]:
    if contract is None:
        return {}
    unit = _metered_unit(contract, day)
    if unit is None:
        return {}
    return {"expected_consumption": _expected(contract, day), "consumption_unit": unit}


def _expected(contract: Contract, day: date) -> Decimal | None:
    """The contract's average monthly reading (its metered products summed) before ``day``."""
    account = billing_store.get_account(contract.account_id)
    if account is None:
        return None
    months: dict[str, Decimal] = {}
    for key, quantity in account.usage.items():
        contract_id, _, month = usage_billing.split_usage_key(key)
        if contract_id != contract.contract_id:
            continue
        try:
            months[month] = months.get(month, Decimal(0)) + Decimal(quantity)
        except InvalidOperation:
            continue
    return rules.expected_monthly(months, before=usage_billing.month_of(day))


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _business_date(value: Any) -> date | None:
    try:
        return clock.parse_instant(str(value)).astimezone(clock.TOKYO).date() if value else None
    except ValueError:
        return None


# ---- recording and delivering --------------------------------------------------------------


def on_event(event: Mapping[str, Any]) -> dict[str, int]:
    """One EventBridge event: its notifications recorded once each and delivered."""
    detail_type = str(event.get("detail-type") or "")
    detail = event.get("detail") or {}
    fact = fact_of(detail_type, detail)
    counts = {"created": 0, "repeated": 0, "delivered": 0, "pending": 0, "undelivered": 0}
    if fact is None:
        return counts
    config = settings()
    now = clock.now()
    for planned in rules.plan(fact, config.recipients):
        notification = Notification(
            notification_id=planned.notification_id,
            source_key=fact.source_key,
            source_event_id=str(event.get("id") or "") or None,
            detail_type=detail_type,
            event=fact.kind,
            recipient=planned.recipient.recipient_id,
            channel=planned.recipient.channel,
            meter_serial=planned.meter_serial,
            customer_number=fact.customer_number,
            contract_id=fact.contract_id,
            effective_date=fact.effective_date.isoformat(),
            payload=planned.payload,
            # the sweep's safety net should this invocation die before the first attempt
            next_attempt_at=clock.iso(now + timedelta(minutes=config.backoff_minutes[0])),
            created_at=clock.iso(now),
            updated_at=clock.iso(now),
        )
        if not store.put_new(notification):
            counts["repeated"] += 1
            continue
        counts["created"] += 1
        count("NotificationsCreated")
        delivered = deliver(notification, by="event")
        counts[delivered.status] += 1
    return counts


def deliver(notification: Notification, *, by: By) -> Notification:
    """One attempt to deliver ``notification``, recorded on it (at the version read).
    Delivered: ``delivered``. Failed: ``pending`` with the next attempt's time, or
    ``undelivered`` with an exception for ops (a refusal, or the last attempt)."""
    config = settings()
    recipient = config.recipient(notification.recipient)
    started = clock.now()
    at = clock.iso(started)
    number = notification.attempt_count + 1
    update: dict[str, Any]
    try:
        client = notification_delivery.client_for(recipient)
        receipt = client.send(notification.notification_id, notification.payload)
    except RecipientNotConfigured as missing:
        return _wait_for_settings(notification, str(missing), by=by, now=started)
    except DeliveryFailed as failed:
        attempt = Attempt(
            at=at, by=by, outcome="failed", transient=failed.transient, error=str(failed)
        )
        if by == "retry":
            outcome, next_at = "undelivered", None  # ops decide again: the exception stays
        else:
            outcome, next_at = rules.after_failure(
                number, transient=failed.transient, settings=config, now=started
            )
        update = {
            "status": "pending" if outcome == "retry" else "undelivered",
            "next_attempt_at": clock.iso(next_at) if next_at else None,
            "last_error": str(failed),
        }
        count("NotificationAttemptsFailed")
        logger.warning(
            "notification not delivered",
            extra={
                "notification_id": notification.notification_id,
                "recipient": recipient.recipient_id,
                "attempt": number,
                "transient": failed.transient,
                "error": str(failed),
            },
        )
    else:
        attempt = Attempt(at=at, by=by, outcome="delivered", receipt=receipt)
        update = {
            "status": "delivered",
            "delivered_at": at,
            "receipt": receipt,
            "next_attempt_at": None,
            "last_error": None,
        }
        count("NotificationsDelivered")
    changed = notification.model_copy(
        update={
            **update,
            "attempts": [*notification.attempts, attempt],
            "attempt_count": number,
            "updated_at": at,
            "version": notification.version + 1,
        }
    )
    if not store.save(changed, expected_version=notification.version):
        current = store.get(notification.notification_id)
        return current or notification  # another delivery wrote first
    if changed.status == "undelivered" and by != "retry":
        changed = _escalate(changed)
    return changed


def _wait_for_settings(
    notification: Notification, error: str, *, by: By, now: datetime
) -> Notification:
    """The recipient is not configured yet: nothing was sent, no attempt is used up (nor
    recorded: an unfilled secret would add one every hour); the sweep tries again after the
    longest back-off. Ops' retry answers 503."""
    if by == "retry":
        raise Unavailable(f"notification {notification.notification_id} not sent: {error}")
    waiting = notification.model_copy(
        update={
            "status": "pending",
            "next_attempt_at": clock.iso(now + timedelta(minutes=settings().backoff_minutes[-1])),
            "last_error": error,
            "updated_at": clock.iso(now),
            "version": notification.version + 1,
        }
    )
    if not store.save(waiting, expected_version=notification.version):
        return store.get(notification.notification_id) or notification
    logger.warning(
        "notification recipient not configured",
        extra={"notification_id": notification.notification_id, "error": error},
    )
    return waiting


def _escalate(notification: Notification) -> Notification:
    """The exceptions queue, once per notification (its id is the reference)."""
    record, _ = exceptions.raise_exception(
        kind=EXCEPTION_KIND,
        channel=notification.channel,
        source=notification.source_key,
        reference=notification.notification_id,
        reason=f"{notification.event} for {notification.recipient} not delivered after "
        f"{notification.attempt_count} attempt(s): {notification.last_error}",
        original={
            "notification_id": notification.notification_id,
            "recipient": notification.recipient,
            "event": notification.event,
            "meter_serial": notification.meter_serial,
            "payload": notification.payload,
        },
        details={"attempts": notification.attempt_count, "last_error": notification.last_error},
        account_id=notification.customer_number,
        actions=(exceptions.RETRY,),
    )
    count("NotificationsUndelivered")
    marked = notification.model_copy(
        update={"exception_id": record.exception_id, "version": notification.version + 1}
    )
    return marked if store.save(marked, expected_version=notification.version) else notification


def sweep(*, limit: int = SWEEP_LIMIT) -> dict[str, int]:
    """The pending notifications whose next attempt is due, oldest first: one attempt each."""
    now = clock.now_iso()
    counts = {"due": 0, "delivered": 0, "pending": 0, "undelivered": 0}
    for notification in store.by_status("pending", limit=limit):
        if notification.next_attempt_at and notification.next_attempt_at > now:
            continue
        counts["due"] += 1
        counts[deliver(notification, by="sweep").status] += 1
    return counts


def retry(record: ExceptionRecord, decision: ExceptionAction) -> Mapping[str, Any]:
    """Ops' ``retry`` of a ``notification-undelivered`` exception: one attempt now. Delivered
    (or found delivered meanwhile): the exception is resolved. Not delivered: 503 or 502 with
    the attempt recorded on the notification and the exception left open."""
    notification_id = str(record.original.get("notification_id") or "")
    notification = store.get(notification_id)
    if notification is None:
        raise NotFound(f"no notification {notification_id}")
    if notification.status != "delivered":
        notification = deliver(notification, by="retry")
    if notification.status != "delivered":
        error = notification.last_error or "not delivered"
        transient = bool(notification.attempts and notification.attempts[-1].transient)
        failure = Unavailable if transient else UpstreamRefused
        raise failure(
            f"notification {notification_id} was not delivered again: {error}",
            details={"notification_id": notification_id, "attempts": notification.attempt_count},
        )
    return {
        "notification_id": notification_id,
        "status": "delivered",
        "receipt": notification.receipt,
    }


def _register() -> None:
    exceptions.register_action(EXCEPTION_KIND, exceptions.RETRY, retry)


_register()


# ---- reading -------------------------------------------------------------------------------


def get(notification_id: str, *, scope: access.Scope) -> Notification:
    notification = store.get(notification_id) if scope.everything else None
    if notification is None:
        raise NotFound(f"no notification {notification_id}")
    return notification


def search(
    *,
    scope: access.Scope,
    status: str | None = None,
    recipient: str | None = None,
    event: str | None = None,
    meter: str | None = None,
    start: str | None = None,
    end: str | None = None,
    limit: int = 50,
    next_token: str | None = None,
) -> NotificationPage:
    """Newest first. ``start``/``end``: a business date (Asia/Tokyo, the whole day) or a UTC
    instant, on when the notification was recorded. Every filter is a key condition or a
    filter on one index partition (``monosub.store.notifications``)."""
    if not scope.everything:
        return NotificationPage(notifications=[])
    known = [r.recipient_id for r in settings().recipients]
    if recipient is not None and recipient not in known:
        raise ValidationFailed(
            f"no recipient {recipient!r}",
            details=[{"field": "recipient", "message": f"one of {', '.join(known)}"}],
        )
    low = _instant(start, "from", end_of_day=False)
    high = _instant(end, "to", end_of_day=True)
    before = cursor.decode(next_token, _CURSOR) if next_token else None
    index, partitions, extra = store.partitions_for(
        status=status, meter=meter, recipient=recipient, recipients=known
    )
    found: list[Notification] = []
    for partition in partitions:
        found.extend(
            store.query(
                index=index,
                partition=partition,
                start=low,
                end=high,
                before=before,
                event=event,
                extra=extra,
                limit=limit,
            )
        )
    found.sort(key=store.sort_key, reverse=True)
    page = found[:limit]
    more = len(found) > limit or (len(partitions) == 1 and len(page) == limit)
    return NotificationPage(
        notifications=page,
        next=cursor.encode(store.sort_key(page[-1])) if page and more else None,
    )


def _instant(value: str | None, field: str, *, end_of_day: bool) -> str | None:
    if not value:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            moment = datetime.combine(
                day + timedelta(days=1) if end_of_day else day, time(), tzinfo=clock.TOKYO
            )
            if end_of_day:
                moment -= timedelta(seconds=1)
            return clock.iso(moment)
        return clock.iso(clock.parse_instant(value))
    except ValueError:
        raise ValidationFailed(
            f"{field} is not a date or an instant",
            details=[{"field": field, "message": "YYYY-MM-DD or an ISO-8601 instant"}],
        ) from None


def derived_exception_id(notification_id: str) -> str:
    """The exception a notification raises when undelivered (for tests and the docs)."""
    return ids.derived_id("exc", f"{EXCEPTION_KIND}#{notification_id}")
