"""The exceptions queue shared by every channel (docs/cash.md#exceptions): what could not be
applied by itself, why, and the input as received, until ops decide.

A channel raises an exception with a kind, its own reference and the actions it offers; the
id is derived from the kind and the reference, so the same input seen again (a file re-sent,
a rerun) is the same exception, raised once. Ops list the open ones and resolve one with an
action its kind registered (``register_action``: e.g. ``apply`` a payment to an invoice they
name) or reject it with a reason; either is recorded once, on the version read, with who and
why, and published for the audit trail.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from monosub import access, clock, events, ids
from monosub.errors import Conflict, NotFound, ValidationFailed
from monosub.events import EventPublisher
from monosub.models.exceptions import ExceptionAction, ExceptionRecord
from monosub.observability import count
from monosub.store import exceptions as store

SOURCE = "monosub.exceptions"
REJECT = "reject"
# Fix and retry: a channel that can run its input again registers this action; ops send the
# corrected fields (``ExceptionAction.corrected``), merged over the original by ``corrected``.
RETRY = "retry"

# kind → action → handler(record, decision) returning what was done (kept as the resolution)
Handler = Callable[[ExceptionRecord, ExceptionAction], Mapping[str, Any]]
_ACTIONS: dict[str, dict[str, Handler]] = {}


def register_action(kind: str, action: str, handler: Handler) -> None:
    _ACTIONS.setdefault(kind, {})[action] = handler


def _load_actions() -> None:
    # Each channel's module registers its actions on import (as file kinds do).
    import monosub.services.application_forms
    import monosub.services.card_payments
    import monosub.services.consent_follow_up  # resend an expired consent
    import monosub.services.erp  # retry a record the ERP refused
    import monosub.services.invoice_delivery  # print an unprinted credit note again
    import monosub.services.notifications  # retry an undelivered notification
    import monosub.services.payments  # apply a payment
    import monosub.services.web_orders  # noqa: F401  (retry or reject a held web order)


def corrected(record: ExceptionRecord, decision: ExceptionAction) -> dict[str, Any]:
    """The input to run again: the original as received with ops' corrected fields over it
    (a nested object is merged field by field, so a fix names only what it changes)."""
    return _merged(record.original, decision.corrected or {})


def _merged(original: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(original)
    for name, value in changes.items():
        if isinstance(value, Mapping) and isinstance(merged.get(name), Mapping):
            merged[name] = _merged(merged[name], value)
        else:
            merged[name] = value
    return merged


def raise_exception(
    *,
    kind: str,
    channel: str,
    source: str,
    reference: str,
    reason: str,
    original: Mapping[str, Any],
    details: Mapping[str, Any] | None = None,
    amount: int | None = None,
    account_id: str | None = None,
    invoice_id: str | None = None,
    actions: Sequence[str] = (REJECT,),
    publisher: EventPublisher | None = None,
) -> tuple[ExceptionRecord, bool]:
    """Queue an exception (once per kind and reference); returns it and whether it is new."""
    record = ExceptionRecord(
        exception_id=ids.derived_id("exc", f"{kind}#{reference}"),
        kind=kind,
        channel=channel,
        source=source,
        reference=reference,
        reason=reason,
        original=dict(original),
        details=dict(details or {}),
        amount=amount,
        account_id=account_id,
        invoice_id=invoice_id,
        actions=sorted({*actions, REJECT}),
        created_at=clock.now_iso(),
    )
    if not store.put_new(record):
        return store.get(record.exception_id) or record, False
    count("ExceptionsRaised")
    events.publish_all(
        publisher,
        [
            (
                SOURCE,
                "ExceptionRaised",
                {
                    "exception_id": record.exception_id,
                    "kind": kind,
                    "channel": channel,
                    "source": source,
                    "reason": reason,
                    "account_id": account_id,
                    "invoice_id": invoice_id,
                },
            )
        ],
    )
    return record, True


def get(exception_id: str, *, scope: access.Scope) -> ExceptionRecord:
    record = store.get(exception_id)
    if record is None or not scope.everything:
        raise NotFound(f"no exception {exception_id}")
    return record


def listed(
    *, status: str = "open", kind: str | None = None, limit: int = 100, scope: access.Scope
) -> list[ExceptionRecord]:
    if not scope.everything:
        return []
    return list(store.listed(status, kind=kind, limit=limit))


def resolve(
    exception_id: str,
    decision: ExceptionAction,
    *,
    by: str,
    scope: access.Scope,
    publisher: EventPublisher | None = None,
) -> ExceptionRecord:
    """Carry out ops' decision once. 409 when the exception is closed or changed since read;
    400 for an action its kind does not offer."""
    record = get(exception_id, scope=scope)
    if record.status != "open":
        raise Conflict(f"exception {exception_id} is {record.status} already")
    if record.version != decision.version:
        raise Conflict(
            f"exception {exception_id} changed since it was read",
            details={"version": record.version},
        )
    if decision.action not in record.actions:
        raise ValidationFailed(
            f"{decision.action!r} is not an action of a {record.kind} exception",
            details=[{"field": "action", "message": f"one of {', '.join(record.actions)}"}],
        )
    outcome: dict[str, Any] = {"action": decision.action, "note": decision.note}
    _load_actions()
    handler = _ACTIONS.get(record.kind, {}).get(decision.action)
    if decision.action == REJECT:
        # A kind may register what a rejection does besides closing (tell the partner).
        status = "rejected"
    elif handler is None:
        raise ValidationFailed(f"{decision.action!r} cannot be carried out here")
    else:
        status = "resolved"
    if handler is not None:
        outcome.update(handler(record, decision))
    values = {
        "status": status,
        "resolved_at": clock.now_iso(),
        "resolved_by": by,
        "resolution": outcome,
    }
    if not store.close(record, values):
        raise Conflict(f"exception {exception_id} was decided meanwhile")
    closed = record.model_copy(update={**values, "version": record.version + 1})
    events.publish_all(
        publisher,
        [
            (
                SOURCE,
                "ExceptionResolved" if status == "resolved" else "ExceptionRejected",
                {
                    "exception_id": exception_id,
                    "kind": record.kind,
                    "by": by,
                    "account_id": record.account_id,
                    "invoice_id": outcome.get("invoice_id") or record.invoice_id,
                    **outcome,
                },
            )
        ],
    )
    return closed
