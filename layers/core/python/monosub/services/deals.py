"""Deals (商談): create one for a customer, edit its order while it is open, move it through
the pipeline, read and list them.

Each change reads the deal, lets ``monosub.domain.deals`` decide, writes with a condition on
the version (and stage) it read, and publishes its domain event (source ``monosub.deals``)
only after the write succeeded. The caller holds the version (``PATCH`` and stage changes
carry it), so a write that loses a race is not retried: it is a 409 for the caller to read
the deal again.

Every function takes the caller's ``scope`` (``monosub.access``): a deal or account it may
not see is "not found", and it cannot make a deal it would not see (another segment's,
another agency's: 403).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from monosub import access, clock, events, ids
from monosub.access import Scope
from monosub.domain import deals as rules
from monosub.domain.leads import is_record_id
from monosub.errors import Conflict, NotFound, ValidationFailed
from monosub.events import EventPublisher
from monosub.models.crm import Activity
from monosub.models.deals import (
    Deal,
    DealChanges,
    DealDraft,
    DealLine,
    DealLineInput,
    DealPage,
    DealStage,
    StageChange,
)
from monosub.observability import logger
from monosub.store import deals as store
from monosub.store import records
from monosub.store.dynamo import TransactionConflict

SOURCE = "monosub.deals"


def get_deal(deal_id: str, *, scope: Scope) -> Deal:
    deal = store.get_deal(deal_id, scope=scope) if is_record_id(deal_id, "deal") else None
    if deal is None:
        raise NotFound(f"deal {deal_id} does not exist")
    return deal


def create_deal(
    account_id: str,
    draft: DealDraft,
    *,
    by: str,
    scope: Scope,
    publisher: EventPublisher | None = None,
) -> Deal:
    """A new deal (prospecting) for an existing account and one of its contacts.

    The owner is ``draft.owner``, else the caller (``by``); the device owner and billing
    accounts are the deal's account unless given (they must exist). The deal is of its
    account's segment; its agency is ``draft.agency_id``, and an agency user's deal is
    always its own agency's (another agency is refused, 403). Publishes ``DealCreated``.
    """
    account = (
        records.get_account(account_id, scope=scope)
        if is_record_id(account_id, "account")
        else None
    )
    if account is None:
        raise NotFound(f"account {account_id} does not exist")
    agency_id = (
        draft.agency_id if "agency_id" in draft.model_fields_set else access.acting_agency(scope)
    )
    access.require_creatable(scope, segment=account.segment, agency_id=agency_id)
    problems = _reference_problems(
        account_id,
        contact_id=draft.contact_id,
        accounts={
            "device_owner_account_id": draft.device_owner_account_id,
            "billing_account_id": draft.billing_account_id,
        },
        scope=scope,
    )
    problems += _line_problems(draft.lines or [], existing=())
    _raise_if(problems)
    check_requested_delivery_date(draft.requested_delivery_date)
    now = clock.now_iso()
    deal = Deal(
        deal_id=ids.new_id("deal"),
        account_id=account_id,
        contact_id=draft.contact_id,
        name=draft.name,
        owner=draft.owner or by,
        agency_id=agency_id,
        segment=account.segment,
        lines=_lines(draft.lines or [], existing=()),
        device_owner_account_id=draft.device_owner_account_id or account_id,
        requested_delivery_date=draft.requested_delivery_date,
        ship_to=draft.ship_to,
        installation_needed=bool(draft.installation_needed),
        billing_account_id=draft.billing_account_id or account_id,
        payment_method=draft.payment_method,
        created_at=now,
        updated_at=now,
    )
    store.create_deal(deal)
    (publisher or events.default_publisher).publish(
        SOURCE,
        "DealCreated",
        {
            "deal_id": deal.deal_id,
            "account_id": deal.account_id,
            "owner": deal.owner,
            "stage": deal.stage,
            "by": by,
        },
    )
    return deal


def update_deal(
    deal_id: str,
    request: DealChanges,
    *,
    by: str,
    scope: Scope,
    publisher: EventPublisher | None = None,
) -> Deal:
    """Change an open deal's fields and lines, if it is still at ``request.version``.

    ``lines`` replaces every line: a line given with its ``line_id`` keeps it, a line without
    one is new. A request that changes nothing writes nothing. The caller cannot hand the
    deal to an agency whose records it may not see (403). Publishes ``DealUpdated`` with the
    names of the changed fields.
    """
    deal = get_deal(deal_id, scope=scope)
    rules.ensure_version(deal_id, request.version, deal.version, deal.stage)
    rules.ensure_open(deal_id, deal.stage)
    values = request.changes()
    if "agency_id" in values:
        access.require_creatable(scope, segment=deal.segment, agency_id=values["agency_id"])
    problems = _reference_problems(
        deal.account_id,
        contact_id=values.get("contact_id"),
        accounts={
            name: values.get(name) for name in ("device_owner_account_id", "billing_account_id")
        },
        scope=scope,
    )
    if "lines" in values:
        problems += _line_problems(values["lines"], existing=[x.line_id for x in deal.lines])
    _raise_if(problems)
    if "requested_delivery_date" in values:
        check_requested_delivery_date(values["requested_delivery_date"])
    if "lines" in values:
        values["lines"] = _lines(values["lines"], existing=[x.line_id for x in deal.lines])
    changed_deal = Deal.model_validate(deal.model_copy(update=values).model_dump())
    changed = rules.changed_fields(
        deal.model_dump(include=set(values)), changed_deal.model_dump(include=set(values))
    )
    if not changed:
        return deal
    now = clock.now_iso()
    updated = changed_deal.model_copy(update={"version": deal.version + 1, "updated_at": now})
    _save(deal, updated, relist=bool({"owner", "agency_id"} & set(changed)))
    (publisher or events.default_publisher).publish(
        SOURCE,
        "DealUpdated",
        {
            "deal_id": deal.deal_id,
            "account_id": deal.account_id,
            "version": updated.version,
            "changed": changed,
            "by": by,
        },
    )
    return updated


def change_stage(
    deal_id: str,
    request: StageChange,
    *,
    by: str,
    scope: Scope,
    publisher: EventPublisher | None = None,
) -> Deal:
    """Move a deal to ``request.to`` if the pipeline allows it and the deal is still at
    ``request.version``; a lost deal says why. Won needs an order that can be shipped and
    billed (lines, a payment method, a ship-to address for devices).

    The change is recorded in the account's history (an activity of kind ``stage-change``)
    in the same transaction, then ``DealStageChanged`` is published.
    """
    rules.require_reason(request.to, request.reason)
    deal = get_deal(deal_id, scope=scope)
    rules.ensure_version(deal_id, request.version, deal.version, deal.stage)
    rules.check_transition(deal_id, deal.stage, request.to)
    return _move(deal, request.to, request.reason, by=by, publisher=publisher)


def win_by_acceptance(
    deal_id: str, *, quote_id: str, by: str, publisher: EventPublisher | None = None
) -> Deal:
    """The customer accepted the deal's quote: the deal is won from whichever open stage it
    is in (the customer's agreement is the decision). A deal already won stays as it is
    (the same acceptance delivered twice); a lost one is a 409."""
    deal = get_deal(deal_id, scope=access.EVERYTHING)  # the customer's answer: a system act
    if deal.stage == "won":
        return deal
    rules.ensure_open(deal_id, deal.stage)
    return _move(deal, "won", f"quote {quote_id} accepted", by=by, publisher=publisher)


def order_gaps(deal: Deal) -> list[str]:
    """What the deal still lacks to be won (an order that can be shipped and billed)."""
    return rules.missing_for_won(
        line_count=len(deal.lines),
        has_device=deal.has_device,
        payment_method=deal.payment_method,
        has_ship_to=deal.ship_to is not None,
    )


def _move(
    deal: Deal,
    to: DealStage,
    given_reason: str | None,
    *,
    by: str,
    publisher: EventPublisher | None,
) -> Deal:
    if to == "won":
        missing = order_gaps(deal)
        if missing:
            raise Conflict(
                f"deal {deal.deal_id} cannot be won yet: its order is incomplete",
                details={"stage": deal.stage, "to": "won", "missing": missing},
            )
    reason = rules.normalize_reason(given_reason)
    now = clock.now_iso()
    updated = deal.model_copy(
        update={
            "stage": to,
            "version": deal.version + 1,
            "updated_at": now,
            "stage_changed_at": now,
            "lost_reason": reason if to == "lost" else None,
        }
    )
    activity = Activity(
        kind="stage-change",
        occurred_at=now,
        # An account's activities name a lead; a stage change belongs to no lead. Its
        # sequence number is the deal's version after the change.
        lead_id="",
        seq=updated.version,
        message=rules.stage_change_message(deal.stage, to, reason),
        by=by,
        account_id=deal.account_id,
        contact_id=deal.contact_id,
        deal_id=deal.deal_id,
    )
    _save(
        deal,
        updated,
        relist=True,
        activity=activity,
        activity_details={"from_stage": deal.stage, "to_stage": to, "reason": reason},
    )
    (publisher or events.default_publisher).publish(
        SOURCE,
        "DealStageChanged",
        {
            "deal_id": deal.deal_id,
            "account_id": deal.account_id,
            "from": deal.stage,
            "to": to,
            "reason": reason,
            "version": updated.version,
            "by": by,
        },
    )
    return updated


def list_deals(
    *,
    owner: str | None,
    stage: DealStage | None,
    account_id: str | None,
    limit: int,
    after: str | None,
    caller: str,
    scope: Scope,
) -> DealPage:
    """Deals the caller may see matching every filter given, newest first; with no filter,
    the caller's own."""
    if owner is None and stage is None and account_id is None:
        owner = caller
    deals, next_token = store.list_deals(
        scope=scope, owner=owner, stage=stage, account_id=account_id, limit=limit, after=after
    )
    return DealPage(deals=deals, next=next_token)


def check_requested_delivery_date(
    requested: date | None, field: str = "requested_delivery_date"
) -> None:
    """Not before today's business date (Asia/Tokyo, from the business clock)."""
    rules.check_delivery_date(requested, clock.today(), field)


# ---- helpers -------------------------------------------------------------------------------


def _save(deal: Deal, updated: Deal, *, relist: bool, **activity: Any) -> None:
    try:
        store.save_deal(
            updated,
            expected_version=deal.version,
            expected_stage=deal.stage,
            relist=relist,
            **activity,
        )
    except TransactionConflict as conflict:
        logger.info("deal write lost a race", extra={"reasons": conflict.reasons})
        current = store.get_deal(deal.deal_id, scope=access.EVERYTHING)
        raise Conflict(
            f"deal {deal.deal_id} was changed meanwhile: read it again",
            details={
                "expected_version": deal.version,
                "version": current.version if current else None,
                "stage": current.stage if current else None,
            },
        ) from None


def _reference_problems(
    account_id: str,
    *,
    contact_id: str | None,
    accounts: dict[str, str | None],
    scope: Scope,
) -> list[dict[str, str]]:
    """Field problems for a contact that is not the account's, or accounts that do not
    exist for the caller (the device owner, the billing account)."""
    problems = []
    if contact_id is not None and not store.contact_exists(account_id, contact_id):
        problems.append(
            {"field": "contact_id", "message": f"{contact_id} is not a contact of {account_id}"}
        )
    for field, other in accounts.items():
        if (
            other is not None
            and other != account_id
            and records.get_account(other, scope=scope) is None
        ):
            problems.append({"field": field, "message": f"account {other} does not exist"})
    return problems


def _line_problems(
    lines: Sequence[DealLineInput], *, existing: Sequence[str]
) -> list[dict[str, str]]:
    unknown = rules.unknown_line_ids((line.line_id for line in lines), existing)
    if not unknown:
        return []
    return [{"field": "lines.line_id", "message": f"the deal has no line {', '.join(unknown)}"}]


def _raise_if(problems: list[dict[str, str]]) -> None:
    if problems:
        raise ValidationFailed("the request is not valid", details=problems)


def _lines(lines: Sequence[DealLineInput], *, existing: Sequence[str]) -> list[DealLine]:
    """The deal's lines from a request: known line ids kept, new lines numbered afresh."""
    known = set(existing)
    return [
        DealLine(
            line_id=line.line_id
            if line.line_id is not None and line.line_id in known
            else ids.new_id("line"),
            device_sku=line.device_sku,
            plan_sku=line.plan_sku,
            option_skus=list(line.option_skus),
            quantity=line.quantity,
        )
        for line in lines
    ]
