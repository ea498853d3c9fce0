"""Lead rules: duplicate keys, when a submission merges, what converting a lead produces.

Pure: the store reads what the duplicate index holds (``KeyOwners``) and writes what these
functions decide; nothing here touches AWS.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from monosub.access import DEFAULT_SEGMENT, Segment
from monosub.domain.text import company_key, email_key, fold, nfkc, phone_key
from monosub.errors import Conflict
from monosub.models.crm import (
    Account,
    Activity,
    Contact,
    Conversion,
    Deal,
    Lead,
    LeadKeys,
    LeadSubmission,
    PossibleDuplicate,
)

# A lead keeps at most this many activities (its submissions). Past it, a submission is still
# counted (``submission_count``) but not stored: a form posted in a loop cannot grow a lead
# without bound, and converting a lead copies its whole history in one transaction (which
# holds at most 100 writes).
MAX_LEAD_ACTIVITIES = 50

# At most this many possible duplicates are recorded on a new lead.
MAX_POSSIBLE_DUPLICATES = 20

_ID = re.compile(r"[a-z]+_[0-9a-z]{1,64}")


def is_record_id(value: str, prefix: str) -> bool:
    """True for an identifier such as ``lead_7k3m9q2x4p8r`` (what ``monosub.ids`` makes)."""
    return value.startswith(prefix + "_") and _ID.fullmatch(value) is not None


def keys_of(
    email: str | None, phone: str | None, company: str | None, person_name: str | None = None
) -> LeadKeys:
    """The normalized keys under which a lead, or a contact and its account, can be found."""
    return LeadKeys(
        email=email_key(email),
        phone=phone_key(phone),
        company=company_key(company),
        person=person_key(person_name),
    )


def person_key(name: str | None) -> str | None:
    """The matching key of a person's name: NFKC, case folded, no whitespace at all.

    ``大瀧 太郎``, ``大瀧　太郎`` and ``大瀧太郎`` are one name; None when blank.
    """
    if name is None:
        return None
    key = nfkc("".join(fold(name).split()))  # NFKC again: spaces held combining marks apart
    return key or None


class Person(Protocol):
    """Anything naming a person: a submission, a lead, a contact."""

    @property
    def person_name(self) -> str: ...

    @property
    def email(self) -> str | None: ...


def same_person(one: Person, other: Person) -> bool:
    """Plausibly the same person: the same name (``person_key``) and no conflicting emails.

    Emails conflict when both have one and they differ; a missing email conflicts with
    nothing. What decides whether a shared phone (a company's switchboard, 代表番号) means
    the same person.
    """
    name = person_key(one.person_name)
    if name is None or name != person_key(other.person_name):
        return False
    emails = email_key(one.email), email_key(other.email)
    return None in emails or emails[0] == emails[1]


@dataclass(frozen=True)
class ContactRef:
    contact_id: str
    account_id: str


@dataclass(frozen=True)
class PersonLead:
    """An open lead holding a phone for one person only (``LeadKeys.person_phone``)."""

    person: str
    lead_id: str


@dataclass(frozen=True)
class KeyOwners:
    """What the duplicate index holds under one submission's keys."""

    email_lead: str | None = None
    phone_lead: str | None = None
    phone_person_leads: tuple[PersonLead, ...] = ()
    company_account: str | None = None
    company_leads: tuple[str, ...] = ()
    email_contacts: tuple[ContactRef, ...] = ()
    phone_contacts: tuple[ContactRef, ...] = ()


def phone_candidates(owners: KeyOwners, keys: LeadKeys) -> list[str]:
    """Open leads with the submission's phone that may be the same person: read them and
    pass them to ``merge_target``. The phone's owner first, then the lead holding the phone
    for this person's name. Nothing to read when the email already decides."""
    if owners.email_lead is not None:
        return []
    held = [p.lead_id for p in owners.phone_person_leads if keys.person and p.person == keys.person]
    return [lead_id for lead_id in (owners.phone_lead, *held) if lead_id is not None]


def merge_target(
    owners: KeyOwners, submission: LeadSubmission, phone_leads: Sequence[Lead] = ()
) -> str | None:
    """The open lead a submission merges into, or None for a new lead.

    The lead with the same email, whoever it names. Else the first of ``phone_leads`` (the
    ``phone_candidates``, as read) that is ``same_person`` as the submission: a shared phone
    alone does not merge two colleagues who both give their company's switchboard number.
    """
    if owners.email_lead is not None:
        return owners.email_lead
    for lead in phone_leads:
        if lead.status == "open" and same_person(lead, submission):
            return lead.lead_id
    return None


def keys_to_take(keys: LeadKeys, owners: KeyOwners) -> LeadKeys:
    """The index keys a new lead takes: all of ``keys`` when its phone is free.

    When another open lead owns the phone (another person at the same switchboard), the new
    lead keeps the phone for display but not the phone's key: it holds the phone for its
    person only (``person_phone``), unless a lead of the same name holds it already. So a
    later submission with this phone and this name finds it, and two identical submissions
    still race for one key.
    """
    if keys.phone is None or owners.phone_lead is None:
        return keys
    held = any(p.person == keys.person for p in owners.phone_person_leads)
    person_phone = keys.phone if keys.person and not held else None
    return keys.model_copy(update={"phone": None, "person_phone": person_phone})


def possible_duplicates(owners: KeyOwners) -> list[PossibleDuplicate]:
    """Records that may be the same customer as a new lead (a person decides).

    A contact with the same email or phone (a customer coming back), open leads with the same
    phone (not merged: another person at the same number), the account with the same company,
    open leads with the same company. One entry per record, strongest match first.
    """
    found: list[PossibleDuplicate] = []
    for matched_on, contacts in (
        ("email", owners.email_contacts),
        ("phone", owners.phone_contacts),
    ):
        for contact in contacts:
            found.append(
                PossibleDuplicate(
                    kind="contact",
                    id=contact.contact_id,
                    matched_on=matched_on,
                    account_id=contact.account_id,
                )
            )
    for lead_id in (owners.phone_lead, *(p.lead_id for p in owners.phone_person_leads)):
        if lead_id is not None:
            found.append(PossibleDuplicate(kind="lead", id=lead_id, matched_on="phone"))
    if owners.company_account:
        found.append(
            PossibleDuplicate(kind="account", id=owners.company_account, matched_on="company")
        )
    for lead_id in owners.company_leads:
        found.append(PossibleDuplicate(kind="lead", id=lead_id, matched_on="company"))
    unique: dict[tuple[str, str], PossibleDuplicate] = {}
    for duplicate in found:
        unique.setdefault((duplicate.kind, duplicate.id), duplicate)
    return list(unique.values())[:MAX_POSSIBLE_DUPLICATES]


def submission_activity(
    lead_id: str, seq: int, submission: LeadSubmission, now: str, source_ref: str | None
) -> Activity:
    return Activity(
        kind="submission",
        occurred_at=now,
        lead_id=lead_id,
        seq=seq,
        source=submission.source,
        source_ref=source_ref,
        company=submission.company,
        person_name=submission.person_name,
        email=submission.email,
        phone=submission.phone,
        message=submission.message,
    )


def new_lead(
    lead_id: str,
    submission: LeadSubmission,
    keys: LeadKeys,
    duplicates: list[PossibleDuplicate],
    now: str,
) -> Lead:
    return Lead(
        lead_id=lead_id,
        status="open",
        company=submission.company,
        person_name=submission.person_name,
        email=submission.email,
        phone=submission.phone,
        source=submission.source,
        message=submission.message,
        keys=keys,
        possible_duplicates=duplicates,
        created_at=now,
        updated_at=now,
    )


@dataclass(frozen=True)
class Merge:
    """A submission merged into an open lead."""

    lead: Lead  # as it is after the merge
    activity: Activity | None  # None once the lead's history is full
    claimed: LeadKeys  # keys the lead takes now; they were free when read


def plan_merge(
    lead: Lead,
    submission: LeadSubmission,
    owners: KeyOwners,
    now: str,
    source_ref: str | None,
) -> Merge:
    """Merge a submission into ``lead``: one more submission in its history.

    An email or phone the lead lacks is taken from the submission when no other open lead
    owns it, so the next submission with only that phone finds this lead too.
    """
    if lead.status != "open":
        raise ValueError(f"lead {lead.lead_id} is {lead.status}: only open leads take merges")
    keys = keys_of(submission.email, submission.phone, None)
    changes: dict[str, object] = {}
    claimed: dict[str, str] = {}
    if lead.email is None and keys.email and owners.email_lead is None:
        changes["email"] = submission.email
        claimed["email"] = keys.email
    if lead.phone is None and keys.phone and owners.phone_lead is None:
        changes["phone"] = submission.phone
        claimed["phone"] = keys.phone
    activity = None
    activity_count = lead.activity_count
    if lead.activity_count < MAX_LEAD_ACTIVITIES:
        activity_count += 1
        activity = submission_activity(lead.lead_id, activity_count, submission, now, source_ref)
    merged = lead.model_copy(
        update={
            **changes,
            "keys": lead.keys.model_copy(update=claimed),
            "submission_count": lead.submission_count + 1,
            "activity_count": activity_count,
            "version": lead.version + 1,
            "updated_at": now,
        }
    )
    return Merge(lead=merged, activity=activity, claimed=LeadKeys(**claimed))


def ensure_convertible(lead: Lead) -> None:
    """A lead converts once: its history is never copied twice."""
    if lead.status == "converted":
        raise Conflict(
            f"lead {lead.lead_id} was already converted",
            details={
                "account_id": lead.converted_account_id,
                "contact_id": lead.converted_contact_id,
                "deal_id": lead.converted_deal_id,
            },
        )


@dataclass(frozen=True)
class NewIds:
    """Identifiers for what a conversion may create (unused ones are dropped)."""

    account_id: str
    contact_id: str
    deal_id: str


@dataclass(frozen=True)
class ConversionPlan:
    """Everything one conversion writes, decided before anything is written."""

    lead: Lead  # converted
    expected_version: int  # the version read; the write holds only if it is unchanged
    account: Account
    account_created: bool
    contact: Contact
    contact_created: bool
    contact_fill: dict[str, str]  # for a reused contact: fields it lacked, from the lead
    deal: Deal
    conversion: Activity  # the lead's last activity
    history: list[Activity] = field(default_factory=list)  # the lead's history, conversion last

    @property
    def result(self) -> Conversion:
        return Conversion(
            lead_id=self.lead.lead_id,
            account_id=self.account.account_id,
            contact_id=self.contact.contact_id,
            deal_id=self.deal.deal_id,
            account_created=self.account_created,
            contact_created=self.contact_created,
        )


def default_deal_name(lead: Lead) -> str:
    return f"{lead.company}: new deal"


def plan_conversion(
    lead: Lead,
    activities: list[Activity],
    *,
    account: Account | None,
    contact_by_email: Contact | None,
    contact_by_phone: Contact | None,
    new_ids: NewIds,
    deal_name: str | None,
    owner: str,
    now: str,
    segment: Segment = DEFAULT_SEGMENT,
) -> ConversionPlan:
    """Convert ``lead`` (取引開始): company → account, person → contact, plus an empty deal.

    ``account`` is the existing account to merge into (None: create one from the company).
    ``contact_by_email`` / ``contact_by_phone`` are that account's contacts with the lead's
    email / phone: the person is the one with the same email, else the one with the same
    phone if it is ``same_person`` (a colleague at the same switchboard is not), else a new
    contact. A new contact does not take a phone another contact of the account has. A
    reused contact gains the lead's email or phone when it has none and no other contact of
    the account has it. A new account is of ``segment``; the deal is of its account's.
    """
    ensure_convertible(lead)
    same_phone = (
        contact_by_phone if contact_by_phone and same_person(contact_by_phone, lead) else None
    )
    contact = contact_by_email or same_phone
    account_created = account is None
    if account is not None:
        account = account.model_copy(update={"updated_at": now})
    else:
        account = Account(
            account_id=new_ids.account_id,
            name=lead.company,
            name_key=lead.keys.company,
            segment=segment,
            created_at=now,
            updated_at=now,
        )
    contact_created = contact is None
    contact_fill: dict[str, str] = {}
    if contact is None:
        contact = Contact(
            contact_id=new_ids.contact_id,
            account_id=account.account_id,
            person_name=lead.person_name,
            email=lead.email,
            phone=lead.phone,
            email_key=lead.keys.email,
            phone_key=lead.keys.phone if contact_by_phone is None else None,
            created_at=now,
            updated_at=now,
        )
    else:
        if contact.email is None and lead.email and lead.keys.email and contact_by_email is None:
            contact_fill |= {"email": lead.email, "email_key": lead.keys.email}
        if contact.phone is None and lead.phone and lead.keys.phone and contact_by_phone is None:
            contact_fill |= {"phone": lead.phone, "phone_key": lead.keys.phone}
        contact = contact.model_copy(update={**contact_fill, "updated_at": now})
    deal = Deal(
        deal_id=new_ids.deal_id,
        account_id=account.account_id,
        contact_id=contact.contact_id,
        name=deal_name or default_deal_name(lead),
        stage="prospecting",
        owner=owner,
        lead_id=lead.lead_id,
        segment=account.segment,
        created_at=now,
        updated_at=now,
    )
    conversion = Activity(
        kind="conversion",
        occurred_at=now,
        lead_id=lead.lead_id,
        seq=lead.activity_count + 1,
        by=owner,
        account_id=account.account_id,
        contact_id=contact.contact_id,
        deal_id=deal.deal_id,
    )
    converted = lead.model_copy(
        update={
            "status": "converted",
            "activity_count": conversion.seq,
            "version": lead.version + 1,
            "updated_at": now,
            "converted_at": now,
            "converted_by": owner,
            "converted_account_id": account.account_id,
            "converted_contact_id": contact.contact_id,
            "converted_deal_id": deal.deal_id,
        }
    )
    return ConversionPlan(
        lead=converted,
        expected_version=lead.version,
        account=account,
        account_created=account_created,
        contact=contact,
        contact_created=contact_created,
        contact_fill=contact_fill,
        deal=deal,
        conversion=conversion,
        # Only the activities of the lead as read: one recorded since then belongs to a
        # version this plan does not convert (and its write will fail on the version).
        history=[
            *sorted((a for a in activities if a.seq <= lead.activity_count), key=lambda a: a.seq),
            conversion,
        ],
    )
