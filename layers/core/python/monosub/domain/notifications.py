"""Supplier and regulator notifications without AWS: which supply facts each recipient is
told of, what one notification says, its id, and when a failed delivery is tried again.

A **supply fact** is what happened at a meter (a device at the customer's premises):
supply started, the device changed, supply was suspended for non-payment, supply ended.
The service derives it from a domain event (``monosub.services.notifications``); here it
becomes one notification per recipient that takes that kind of fact and per meter, with
the payload fields that recipient is configured to receive
(``monosub/data/notification_recipients.json``).

**Exactly once.** A notification's id is derived from the fact's business key (not the
EventBridge event id: a service that publishes the same fact twice makes two events with two
ids), the recipient and the meter, so the conditional put that records it succeeds once
however often the fact arrives. Recipients receive the id as their idempotency key.

**Retries.** A delivery that failed for a passing reason (5xx, timeout, a transient SOAP
fault) is tried again after ``backoff`` (the hourly sweep picks up what is due); after
``max_attempts`` failed attempts, or at once for a refusal (4xx, a client fault), it goes to
the exceptions queue for ops.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, get_args

from monosub import ids

# Logical names of the table and the secret (declared in functions/resources.py; kept here
# rather than in monosub.names while notifications are one helper's branch).
NOTIFICATIONS = "notifications"
RECIPIENTS_SECRET = "notification-recipients"

FactKind = Literal["supply-start", "device-change", "suspension", "supply-end"]
FACT_KINDS: tuple[str, ...] = get_args(FactKind)
Channel = Literal["rest", "soap"]
RestAuth = Literal["hmac", "api-key"]
# Every field a recipient may take; "event" and the id are always sent.
PAYLOAD_FIELDS: tuple[str, ...] = (
    "customer_number",
    "contract_number",
    "meter_serial",
    "previous_meter_serial",
    "effective_date",
    "expected_consumption",
    "consumption_unit",
    "reason",
)
ALWAYS_SENT = ("notification_id", "event")
RECIPIENTS_FILE = Path(__file__).resolve().parent.parent / "data" / "notification_recipients.json"


# ---- recipients (data) ---------------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    """One party told of supply facts: how it is reached (the endpoint and credentials are
    in the ``notification-recipients`` secret under ``recipient_id``), which kinds of facts
    it takes and which payload fields."""

    recipient_id: str
    name: str
    channel: Channel
    events: tuple[str, ...]
    fields: tuple[str, ...]
    auth: RestAuth | None = None  # rest only


@dataclass(frozen=True)
class RecipientSettings:
    recipients: tuple[Recipient, ...]
    max_attempts: int
    backoff_minutes: tuple[int, ...]

    def recipient(self, recipient_id: str) -> Recipient:
        for recipient in self.recipients:
            if recipient.recipient_id == recipient_id:
                return recipient
        raise KeyError(f"no notification recipient {recipient_id!r}")


def read_settings(raw: Mapping[str, Any]) -> RecipientSettings:
    """The settings as the JSON file holds them, checked whole (``ValueError`` names what
    is wrong): a mistake in the file must fail the deploy's tests, not a delivery."""
    max_attempts = raw.get("max_attempts")
    if not isinstance(max_attempts, int) or not 1 <= max_attempts <= 20:
        raise ValueError("max_attempts: a whole number from 1 to 20")
    backoff = raw.get("backoff_minutes")
    if (
        not isinstance(backoff, list)
        or not backoff
        or not all(isinstance(m, int) and m > 0 for m in backoff)
    ):
        raise ValueError("backoff_minutes: a list of whole minutes, each above 0")
    recipients: list[Recipient] = []
    for index, item in enumerate(raw.get("recipients") or []):
        where = f"recipients[{index}]"
        recipient_id = item.get("id")
        if not isinstance(recipient_id, str) or not recipient_id:
            raise ValueError(f"{where}.id: required")
        channel = item.get("channel")
        if channel not in get_args(Channel):
            raise ValueError(f"{where}.channel: rest or soap")
        auth = item.get("auth")
        if channel == "rest" and auth not in get_args(RestAuth):
            raise ValueError(f"{where}.auth: hmac or api-key for a REST recipient")
        events = tuple(item.get("events") or ())
        unknown = [e for e in events if e not in FACT_KINDS]
        if not events or unknown:
            raise ValueError(f"{where}.events: some of {', '.join(FACT_KINDS)}")
        fields = tuple(item.get("fields") or ())
        unknown = [f for f in fields if f not in PAYLOAD_FIELDS]
        if unknown:
            raise ValueError(f"{where}.fields: unknown {', '.join(unknown)}")
        recipients.append(
            Recipient(
                recipient_id=recipient_id,
                name=str(item.get("name") or recipient_id),
                channel=channel,
                events=events,
                fields=fields,
                auth=auth if channel == "rest" else None,
            )
        )
    if len({r.recipient_id for r in recipients}) != len(recipients):
        raise ValueError("recipients: an id appears twice")
    return RecipientSettings(tuple(recipients), max_attempts, tuple(backoff))


def load_settings(path: Path = RECIPIENTS_FILE) -> RecipientSettings:
    return read_settings(json.loads(path.read_text(encoding="utf-8")))


# ---- facts and notifications ---------------------------------------------------------------


@dataclass(frozen=True)
class SupplyFact:
    """What happened at the customer's meters, as derived from one domain event.

    ``source_key`` names the fact itself (e.g. ``ContractStarted#<contract>#<date>``), so
    the same fact published twice is one fact. ``meters`` holds the device serials it
    concerns; ``(None,)`` when the contract's meter is not known to monosub (a metered
    service without a device of ours)."""

    kind: FactKind
    source_key: str
    customer_number: str
    effective_date: date
    meters: tuple[str | None, ...] = (None,)
    previous_meter: str | None = None  # a device change by replacement: the meter replaced
    contract_id: str | None = None
    contract_number: str | None = None
    expected_consumption: Decimal | None = None
    consumption_unit: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class PlannedNotification:
    notification_id: str
    recipient: Recipient
    meter_serial: str | None
    payload: dict[str, Any] = field(default_factory=dict)


def notification_id(source_key: str, recipient_id: str, meter_serial: str | None) -> str:
    """The one notification of a fact for a recipient and a meter."""
    return ids.derived_id("ntf", f"{source_key}#{recipient_id}#{meter_serial or '-'}")


def plan(fact: SupplyFact, recipients: Iterable[Recipient]) -> list[PlannedNotification]:
    """One notification per recipient that takes ``fact.kind`` and per meter, each with the
    fields that recipient is configured to receive (a field with no value is left out)."""
    planned = []
    for recipient in recipients:
        if fact.kind not in recipient.events:
            continue
        for meter in fact.meters:
            nid = notification_id(fact.source_key, recipient.recipient_id, meter)
            planned.append(
                PlannedNotification(nid, recipient, meter, payload(fact, meter, recipient, nid))
            )
    return planned


def payload(fact: SupplyFact, meter: str | None, recipient: Recipient, nid: str) -> dict[str, Any]:
    """What the recipient is told: JSON values (dates ISO, a quantity as a decimal string)."""
    values: dict[str, Any] = {
        "customer_number": fact.customer_number,
        "contract_number": fact.contract_number,
        "meter_serial": meter,
        "previous_meter_serial": fact.previous_meter,
        "effective_date": fact.effective_date.isoformat(),
        "expected_consumption": (
            str(fact.expected_consumption) if fact.expected_consumption is not None else None
        ),
        "consumption_unit": fact.consumption_unit
        if fact.expected_consumption is not None
        else None,
        "reason": fact.reason,
    }
    sent: dict[str, Any] = {"notification_id": nid, "event": fact.kind}
    for name in recipient.fields:
        if values.get(name) is not None:
            sent[name] = values[name]
    return sent


# ---- consumption ---------------------------------------------------------------------------

CONSUMPTION_MONTHS = 12


def expected_monthly(readings: Mapping[str, Decimal], *, before: str) -> Decimal | None:
    """The expected monthly consumption of a meter: the average of its last
    ``CONSUMPTION_MONTHS`` monthly readings before month ``before`` (``YYYY-MM``), to 0.1;
    None when there is none (a new supply: not known yet). ``readings`` is month → quantity
    summed over the contract's metered products."""
    months = sorted(m for m in readings if m < before)[-CONSUMPTION_MONTHS:]
    if not months:
        return None
    total = sum((readings[m] for m in months), Decimal(0))
    return (total / len(months)).quantize(Decimal("0.1"))


# ---- retries -------------------------------------------------------------------------------

DeliveryOutcome = Literal["delivered", "retry", "undelivered"]


def after_failure(
    attempts: int, *, transient: bool, settings: RecipientSettings, now: datetime
) -> tuple[DeliveryOutcome, datetime | None]:
    """What follows the ``attempts``-th failed attempt: another try at the returned instant,
    or the exceptions queue (a refusal, or ``max_attempts`` reached)."""
    if not transient or attempts >= settings.max_attempts:
        return "undelivered", None
    delays = settings.backoff_minutes
    minutes = delays[min(attempts, len(delays)) - 1]
    return "retry", now + timedelta(minutes=minutes)


def kinds_taken(recipients: Sequence[Recipient]) -> set[str]:
    return {kind for r in recipients for kind in r.events}
