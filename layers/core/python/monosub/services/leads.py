"""Leads: receive a submission (create or merge), read leads, convert a lead to a customer.

Each function reads, lets ``monosub.domain.leads`` decide, writes in one conditional
transaction, and publishes its domain event only after the write succeeded. A write that
loses a race (``TransactionConflict``) is retried from a fresh read.
"""

from __future__ import annotations

import random
import time

from monosub import access, clock, events, ids
from monosub.access import DEFAULT_SEGMENT, Scope, Segment
from monosub.domain import leads as rules
from monosub.errors import Conflict, Forbidden, NotFound, ValidationFailed
from monosub.events import EventPublisher
from monosub.models.crm import (
    Account,
    Conversion,
    ConvertLead,
    Lead,
    LeadHistory,
    LeadKeys,
    LeadPage,
    LeadReceipt,
    LeadStatus,
    LeadSubmission,
)
from monosub.observability import logger
from monosub.store import records
from monosub.store.dynamo import TransactionConflict

SOURCE = "monosub.leads"
# Writes that lose a race are retried from a fresh read, after a short random pause so that
# racers spread out; with n submissions racing for one lead, the last one wins within n rounds.
ATTEMPTS = 8
_PAUSE_SECONDS = 0.005


def receive_lead(
    submission: LeadSubmission,
    *,
    lead_id: str | None = None,
    source_ref: str | None = None,
    publisher: EventPublisher | None = None,
) -> LeadReceipt:
    """Receive one lead submission: merge it into the open lead of the same person, or create
    a new lead.

    The same person is the open lead with the same email, whatever name it gives; else the
    open lead with the same phone if it is plausibly the same person (``rules.same_person``:
    the same name, and no two different emails). A phone alone is not enough: two colleagues
    who both give their company's switchboard number (代表番号) are two leads, and two
    contacts when converted. Matching uses normalized keys (``monosub.domain.text``): width,
    case, spacing, +81 and legal forms do not make two people different.

    A new lead whose phone another person's open lead owns keeps the phone for display and
    holds it for its own name only (``LeadKeys.person_phone``): a later submission with that
    phone and that name merges into it; with that phone and any other name it is compared
    with the phone's owner, never with this lead. The owner keeps the phone when this lead
    converts, and this lead does not take it over when the owner converts.

    A new lead whose company matches an account or an open lead, whose phone matches another
    open lead, or whose email/phone matches a customer's contact records them as
    ``possible_duplicates``. The lead and its index items are written in one transaction, so
    the same form sent twice at once still makes one lead.

    ``lead_id`` makes the call idempotent, for importers that may run a row twice: it is the
    id a created lead gets, and the key of a receipt written with the create or merge. A
    second call with the same ``lead_id`` writes nothing and returns the first call's
    receipt (same ``lead_id``, same ``status``, "merged" included) and publishes no second
    event. Derive it from the row, e.g. ``ids.derived_id("lead", f"{file}#{row}")``.
    Without ``lead_id`` every call is a new submission (a merge adds to the history).

    ``source_ref`` (e.g. ``"leads.csv#row-12"``) is kept on the submission's activity.
    Publishes ``LeadReceived`` or ``LeadMerged`` (source ``monosub.leads``).
    """
    if lead_id is not None and not rules.is_record_id(lead_id, "lead"):
        raise ValueError(f"lead_id must look like lead_<base32>, not {lead_id!r}")
    keys = rules.keys_of(
        submission.email, submission.phone, submission.company, submission.person_name
    )
    for attempt in range(ATTEMPTS):
        if lead_id is not None:
            earlier = records.get_receipt(lead_id)
            if earlier is not None:
                logger.info("lead submission already received", extra={"lead_id": lead_id})
                return earlier
        owners = records.key_owners(keys)
        phone_leads = _open_leads(rules.phone_candidates(owners, keys))
        if phone_leads is None:
            continue  # a lead the index named was converted meanwhile: read again
        target = rules.merge_target(owners, submission, phone_leads)
        receipt: LeadReceipt | None
        try:
            if target is None:
                receipt = _create(submission, keys, owners, lead_id, source_ref)
            else:
                read = {lead.lead_id: lead for lead in phone_leads}
                lead = read.get(target) or records.get_lead(target)
                receipt = _merge(lead, submission, owners, lead_id, source_ref)
        except TransactionConflict as conflict:
            logger.info(
                "lead write lost a race; reading again", extra={"reasons": conflict.reasons}
            )
            _pause(attempt)
            continue
        if receipt is not None:
            _publish_receipt(publisher or events.default_publisher, receipt, submission)
            return receipt
    raise Conflict("the lead kept changing while this submission was received; send it again")


def _open_leads(lead_ids: list[str]) -> list[Lead] | None:
    """These leads, read; None when one of them is no longer an open lead."""
    leads = [records.get_lead(lead_id) for lead_id in lead_ids]
    if any(lead is None or lead.status != "open" for lead in leads):
        return None
    return [lead for lead in leads if lead is not None]


def _create(
    submission: LeadSubmission,
    keys: LeadKeys,
    owners: rules.KeyOwners,
    lead_id: str | None,
    source_ref: str | None,
) -> LeadReceipt:
    now = clock.now_iso()
    new_id = lead_id or ids.new_id("lead")
    duplicates = rules.possible_duplicates(owners)
    lead = rules.new_lead(new_id, submission, rules.keys_to_take(keys, owners), duplicates, now)
    activity = rules.submission_activity(new_id, 1, submission, now, source_ref)
    receipt = LeadReceipt(lead_id=new_id, status="created", possible_duplicates=duplicates)
    records.create_lead(lead, activity, receipt, receipt_key=lead_id)
    return receipt


def _merge(
    lead: Lead | None,
    submission: LeadSubmission,
    owners: rules.KeyOwners,
    lead_id: str | None,
    source_ref: str | None,
) -> LeadReceipt | None:
    """Merge into ``lead`` (as read); None when it is no longer an open lead (read again)."""
    if lead is None or lead.status != "open":
        return None
    merge = rules.plan_merge(lead, submission, owners, clock.now_iso(), source_ref)
    receipt = LeadReceipt(lead_id=lead.lead_id, status="merged")
    records.merge_into_lead(merge, lead.version, receipt, receipt_key=lead_id)
    return receipt


def _publish_receipt(
    publisher: EventPublisher, receipt: LeadReceipt, submission: LeadSubmission
) -> None:
    detail = {"lead_id": receipt.lead_id, "source": submission.source}
    if receipt.status == "created":
        duplicates = [d.model_dump(mode="json") for d in receipt.possible_duplicates]
        publisher.publish(SOURCE, "LeadReceived", {**detail, "possible_duplicates": duplicates})
    else:
        publisher.publish(SOURCE, "LeadMerged", detail)


def list_leads(status: LeadStatus, limit: int, after: str | None, *, scope: Scope) -> LeadPage:
    """Leads are prospects without a segment: internal staff see them, agencies do not."""
    access.require_leads(scope)
    leads, next_token = records.list_leads(status, limit, after)
    return LeadPage(leads=leads, next=next_token)


def lead_history(lead_id: str, *, scope: Scope) -> LeadHistory:
    access.require_leads(scope)
    lead = records.get_lead(lead_id) if rules.is_record_id(lead_id, "lead") else None
    if lead is None:
        raise NotFound(f"lead {lead_id} does not exist")
    activities = records.lead_activities(lead_id)
    return LeadHistory(lead=lead, activities=list(reversed(activities)))


def convert_lead(
    lead_id: str,
    request: ConvertLead,
    *,
    owner: str,
    scope: Scope,
    publisher: EventPublisher | None = None,
) -> Conversion:
    """Convert an open lead (取引開始) into an account, a contact and an empty deal.

    The account is ``request.account_id``, else the account with the lead's normalized
    company, else a new one of ``request.segment`` (corporate unless given); the contact is
    the account's contact with the lead's email, else the one with its phone if it is the
    same person (same name, no other email), else a new one. The deal is owned by ``owner``
    and of its account's segment. The lead's history moves onto the account and the lead
    becomes "converted", all in one transaction that holds only while the lead is open and
    unchanged: a second conversion gets ``Conflict`` (409).

    Who may see what (``monosub.access``): an agency converts no lead (403); an account the
    caller may not see is "not found" when named, and refused (403) when it is the lead's
    company; a new account must be of a segment the caller sees (403); a segment given for
    an existing account must be its own (400). Publishes ``LeadConverted`` (source
    ``monosub.leads``).
    """
    access.require_leads(scope)
    for attempt in range(ATTEMPTS):
        lead = records.get_lead(lead_id) if rules.is_record_id(lead_id, "lead") else None
        if lead is None:
            raise NotFound(f"lead {lead_id} does not exist")
        rules.ensure_convertible(lead)
        if request.account_id is not None:
            account = records.get_account(request.account_id, scope=scope)
            if account is None:
                raise NotFound(f"account {request.account_id} does not exist")
        else:
            account = records.account_for_company(lead.keys.company)
            if account is not None and not access.visible(
                scope, segment=account.segment, agency_id=account.agency_id
            ):
                raise Forbidden(
                    f"the company of lead {lead_id} is a customer you may not see: a manager "
                    "of its segment converts this lead"
                )
        segment = _conversion_segment(request.segment, account, scope)
        by_email, by_phone = (
            records.contacts_by_keys(account.account_id, lead.keys) if account else (None, None)
        )
        plan = rules.plan_conversion(
            lead,
            records.lead_activities(lead_id),
            account=account,
            contact_by_email=by_email,
            contact_by_phone=by_phone,
            new_ids=rules.NewIds(
                account_id=ids.new_id("account"),
                contact_id=ids.new_id("contact"),
                deal_id=ids.new_id("deal"),
            ),
            deal_name=request.deal_name,
            owner=owner,
            now=clock.now_iso(),
            segment=segment,
        )
        try:
            records.save_conversion(plan)
        except TransactionConflict as conflict:
            logger.info(
                "conversion lost a race; reading again", extra={"reasons": conflict.reasons}
            )
            _pause(attempt)
            continue
        conversion = plan.result
        (publisher or events.default_publisher).publish(
            SOURCE, "LeadConverted", {**conversion.model_dump(mode="json"), "converted_by": owner}
        )
        return conversion
    raise Conflict(f"lead {lead_id} kept changing while it was converted; try again")


def _conversion_segment(
    requested: Segment | None, account: Account | None, scope: Scope
) -> Segment:
    """The segment of the conversion's account: an existing account's own (a different one
    requested is refused), else the requested one or the default, if the caller sees it."""
    if account is not None:
        if requested is not None and requested != account.segment:
            raise ValidationFailed(
                "the request is not valid",
                details=[
                    {
                        "field": "segment",
                        "message": f"account {account.account_id} is {account.segment}",
                    }
                ],
            )
        return account.segment
    segment = requested or DEFAULT_SEGMENT
    access.require_creatable(scope, segment=segment, agency_id=None)
    return segment


def _pause(attempt: int) -> None:
    time.sleep(random.uniform(0, _PAUSE_SECONDS * (attempt + 1)))
