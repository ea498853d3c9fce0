"""The customer record in table ``records``: the only code that knows its keys.

====================  ===============================  =====================================
item                  pk / sk                          gsi1pk / gsi1sk
====================  ===============================  =====================================
lead                  LEAD#<lead> / LEAD               LEADS#<status> / <created_at>#<lead>
lead activity         LEAD#<lead> / ACT#<seq:04>
receipt               RECEIPT#<lead> / RECEIPT         (idempotent receive with a lead id)
open lead by email    KEY#email#<key> / LEAD           (one open lead per email)
open lead by phone    KEY#phone#<key> / LEAD           (one open lead per phone)
phone, for a person   KEY#phone#<key> / PERSON#<name>  (when another person owns the phone)
open lead by company  KEY#company#<key> / LEAD#<lead>
account by company    KEY#company#<key> / ACCOUNT      (one account per company)
contact by email      KEY#email#<key> / CONTACT#<acc>  (one contact per email in an account)
contact by phone      KEY#phone#<key> / CONTACT#<acc>  (one contact per phone in an account)
account               ACCOUNT#<acc> / ACCOUNT          ACCOUNTS#<segment> / <created_at>#<acc>
contact               ACCOUNT#<acc> / CONTACT#<id>     CONTACT#<id> / CONTACT
deal                  ACCOUNT#<acc> / DEAL#<id>        DEAL#<id> / DEAL  (monosub.store.deals)
originating lead      ACCOUNT#<acc> / LEAD#<lead>
account activity      ACCOUNT#<acc> / ACT#<at>#<lead>#<seq:04>
====================  ===============================  =====================================

An account is listed in its segment's partition (its own gsi1 entry: an account's segment
and creation never change) and, when an agency registered it, in the agency's
``REGISTRATIONS#<agency>`` partition (the registration item, ``monosub.store.agencies``),
at the same position: ``list_accounts`` reads the partitions of what the caller may see.

The ``KEY#`` items are the duplicate index. They are written in the same transaction as the
record they point to, with conditions, so two concurrent submissions of one form cannot both
create a lead, and two conversions cannot create the same account or contact twice.
``docs/data-model.md`` lists the access patterns.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from monosub import access
from monosub.access import Scope
from monosub.domain.leads import ContactRef, ConversionPlan, KeyOwners, Merge, PersonLead
from monosub.models.crm import (
    Account,
    AccountListing,
    Activity,
    Contact,
    CustomerRecord,
    Deal,
    Lead,
    LeadKeys,
    LeadReceipt,
    LeadStatus,
)
from monosub.names import RECORDS
from monosub.store import cursor, deals, listing
from monosub.store.dynamo import Table, from_item, to_item, to_value, transact

_table = Table(RECORDS)

# How many items of a company's index partition are read for possible duplicates.
_COMPANY_MATCHES_READ = 21


def _lead_pk(lead_id: str) -> str:
    return f"LEAD#{lead_id}"


def _account_pk(account_id: str) -> str:
    return f"ACCOUNT#{account_id}"


def _key_pk(kind: str, key: str) -> str:
    return f"KEY#{kind}#{key}"


def _lead_activity_sk(seq: int) -> str:
    return f"ACT#{seq:04d}"


def _account_activity_sk(activity: Activity) -> str:
    return f"ACT#{activity.occurred_at}#{activity.lead_id}#{activity.seq:04d}"


def _leads_by_status(status: str) -> str:
    return f"LEADS#{status}"


def accounts_of_segment(segment: str) -> str:
    """The listing partition of a segment's accounts (the account items themselves)."""
    return f"ACCOUNTS#{segment}"


def registrations_of(agency_id: str) -> str:
    """The listing partition of the accounts an agency registered (registration items)."""
    return f"REGISTRATIONS#{agency_id}"


# ---- leads ---------------------------------------------------------------------------------


def get_lead(lead_id: str) -> Lead | None:
    item = _table.get(_lead_pk(lead_id), "LEAD")
    return Lead.model_validate(item) if item else None


def lead_activities(lead_id: str) -> list[Activity]:
    """A lead's history, oldest first (read consistently: a conversion copies all of it)."""
    items = _query_all(_lead_pk(lead_id), sk_prefix="ACT#")
    return [Activity.model_validate(item) for item in items]


def get_receipt(receipt_key: str) -> LeadReceipt | None:
    item = _table.get(f"RECEIPT#{receipt_key}", "RECEIPT")
    return LeadReceipt.model_validate(item) if item else None


def key_owners(keys: LeadKeys) -> KeyOwners:
    """What the duplicate index holds under ``keys``: one consistent query per key."""
    email_lead, email_contacts, _ = _key_partition("email", keys.email)
    phone_lead, phone_contacts, phone_person_leads = _key_partition("phone", keys.phone)
    company_account, company_leads = None, []
    if keys.company:
        items, _ = _query_page(_key_pk("company", keys.company), limit=_COMPANY_MATCHES_READ)
        for item in items:
            if item["sk"] == "ACCOUNT":
                company_account = str(item["account_id"])
            else:
                company_leads.append(str(item["lead_id"]))
    return KeyOwners(
        email_lead=email_lead,
        phone_lead=phone_lead,
        phone_person_leads=phone_person_leads,
        company_account=company_account,
        company_leads=tuple(company_leads),
        email_contacts=email_contacts,
        phone_contacts=phone_contacts,
    )


def _key_partition(
    kind: str, key: str | None
) -> tuple[str | None, tuple[ContactRef, ...], tuple[PersonLead, ...]]:
    """The open lead owning an email or phone, the contacts with it, and the leads holding
    it for one person."""
    if not key:
        return None, (), ()
    lead_id = None
    contacts = []
    people = []
    for item in _query_all(_key_pk(kind, key)):
        sk = str(item["sk"])
        if sk == "LEAD":
            lead_id = str(item["lead_id"])
        elif sk.startswith("PERSON#"):
            people.append(PersonLead(str(item["person"]), str(item["lead_id"])))
        else:
            contacts.append(ContactRef(str(item["contact_id"]), str(item["account_id"])))
    return lead_id, tuple(contacts), tuple(people)


def create_lead(
    lead: Lead, activity: Activity, receipt: LeadReceipt, *, receipt_key: str | None
) -> None:
    """Write a new lead, its first activity and its index items, all or nothing; with
    ``receipt_key``, also the receipt that makes a repeated call find this one.

    Raises ``TransactionConflict`` when another open lead took its email or phone meanwhile
    (or the same phone for the same person, or the receipt exists): the caller reads again.
    """
    operations = [
        _table.put_operation(_lead_item(lead)),
        _table.put_operation(_lead_activity_item(activity)),
    ]
    for kind in ("email", "phone"):
        key = getattr(lead.keys, kind)
        if key:
            operations.append(_table.put_operation(_open_lead_key_item(kind, key, lead)))
    person_phone = _person_phone_key(lead.keys)
    if person_phone:
        pk, sk = person_phone
        operations.append(
            _table.put_operation(
                {"pk": pk, "sk": sk, "lead_id": lead.lead_id, "person": lead.keys.person}
            )
        )
    if lead.keys.company:
        operations.append(
            _table.put_operation(
                {
                    "pk": _key_pk("company", lead.keys.company),
                    "sk": f"LEAD#{lead.lead_id}",
                    "lead_id": lead.lead_id,
                    "created_at": lead.created_at,
                }
            )
        )
    if receipt_key is not None:
        operations.append(
            _table.put_operation(_receipt_item(receipt_key, receipt, lead.created_at))
        )
    transact(operations)


def merge_into_lead(
    merge: Merge, expected_version: int, receipt: LeadReceipt, *, receipt_key: str | None
) -> None:
    """Record one more submission on an open lead, if it is unchanged since it was read
    (``expected_version``); with ``receipt_key``, also the receipt of this call."""
    lead = merge.lead
    values: dict[str, Any] = {
        "submission_count": lead.submission_count,
        "activity_count": lead.activity_count,
        "version": lead.version,
        "updated_at": lead.updated_at,
        "keys": lead.keys.model_dump(mode="json"),
    }
    if merge.claimed.email:
        values["email"] = lead.email
    if merge.claimed.phone:
        values["phone"] = lead.phone
    operations = [
        _table.update_operation(
            _lead_pk(lead.lead_id),
            "LEAD",
            set_values=values,
            condition="#status = :open AND #version = :version",
            condition_values={":open": "open", ":version": expected_version},
        )
    ]
    if merge.activity is not None:
        operations.append(_table.put_operation(_lead_activity_item(merge.activity)))
    for kind in ("email", "phone"):
        key = getattr(merge.claimed, kind)
        if key:
            operations.append(_table.put_operation(_open_lead_key_item(kind, key, lead)))
    if receipt_key is not None:
        operations.append(
            _table.put_operation(_receipt_item(receipt_key, receipt, lead.updated_at))
        )
    transact(operations)


def list_leads(status: LeadStatus, limit: int, after: str | None) -> tuple[list[Lead], str | None]:
    """One page of leads with ``status``, newest first, and the token of the next page."""
    start = None
    if after is not None:
        position = _decode_cursor(after)
        start = {
            "pk": _lead_pk(position.rsplit("#", 1)[1]),
            "sk": "LEAD",
            "gsi1pk": _leads_by_status(status),
            "gsi1sk": position,
        }
    items, _ = _query_page(
        _leads_by_status(status),
        index="gsi1",
        newest_first=True,
        limit=limit + 1,
        start=start,
    )
    page = items[:limit]
    next_token = _encode_cursor(str(page[-1]["gsi1sk"])) if len(items) > limit else None
    return [Lead.model_validate(item) for item in page], next_token


_CURSOR = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z#lead_[0-9a-z]{1,64}")
_ACCOUNT_CURSOR = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z#account_[0-9a-z]{1,64}")


def _encode_cursor(position: str) -> str:
    return cursor.encode(position)


def _decode_cursor(token: str) -> str:
    return cursor.decode(token, _CURSOR)


# ---- conversion ----------------------------------------------------------------------------


def get_account(account_id: str, *, scope: Scope) -> Account | None:
    """The account, if ``scope`` may see it (else None, as for one that does not exist)."""
    item = _table.get(_account_pk(account_id), "ACCOUNT")
    account = Account.model_validate(item) if item else None
    if account is None or not access.visible(
        scope, segment=account.segment, agency_id=account.agency_id
    ):
        return None
    return account


def account_for_company(company_key: str | None) -> Account | None:
    """The account whose normalized company name is ``company_key``, whoever may see it (the
    caller decides what to do with one it may not see)."""
    if not company_key:
        return None
    pointer = _table.get(_key_pk("company", company_key), "ACCOUNT")
    return get_account(str(pointer["account_id"]), scope=access.EVERYTHING) if pointer else None


def contacts_by_keys(account_id: str, keys: LeadKeys) -> tuple[Contact | None, Contact | None]:
    """The account's contact with this email, and the one with this phone."""
    found: list[Contact | None] = []
    for kind in ("email", "phone"):
        key = getattr(keys, kind)
        pointer = _table.get(_key_pk(kind, key), f"CONTACT#{account_id}") if key else None
        item = (
            _table.get(_account_pk(account_id), f"CONTACT#{pointer['contact_id']}")
            if pointer
            else None
        )
        found.append(Contact.model_validate(item) if item else None)
    return found[0], found[1]


def save_conversion(plan: ConversionPlan) -> None:
    """Write a conversion in one transaction, only if the lead is still open and unchanged.

    The lead leaves the open-lead index; the account, contact and deal are created (or the
    existing ones touched); the lead's history is copied into the account's. Raises
    ``TransactionConflict`` when anything changed meanwhile.
    """
    account_pk = _account_pk(plan.account.account_id)
    transact(
        [
            *_lead_conversion_operations(plan),
            *_account_operations(plan),
            *_contact_operations(plan),
            *deals.new_deal_operations(plan.deal),  # the deal and its listing items
            _table.put_operation(
                {
                    "pk": account_pk,
                    "sk": f"LEAD#{plan.lead.lead_id}",
                    "lead_id": plan.lead.lead_id,
                    "converted_at": plan.lead.converted_at,
                }
            ),
            *(
                _table.put_operation(
                    {"pk": account_pk, "sk": _account_activity_sk(activity)} | _dump(activity)
                )
                for activity in plan.history
            ),
        ]
    )


def _lead_conversion_operations(plan: ConversionPlan) -> list[dict[str, Any]]:
    """The lead becomes converted (if still open and unchanged) and leaves the index."""
    lead = plan.lead
    operations = [
        _table.update_operation(
            _lead_pk(lead.lead_id),
            "LEAD",
            set_values={
                "status": lead.status,
                "gsi1pk": _leads_by_status(lead.status),
                "activity_count": lead.activity_count,
                "version": lead.version,
                "updated_at": lead.updated_at,
                "converted_at": lead.converted_at,
                "converted_by": lead.converted_by,
                "converted_account_id": lead.converted_account_id,
                "converted_contact_id": lead.converted_contact_id,
                "converted_deal_id": lead.converted_deal_id,
            },
            condition="#status = :open AND #version = :version",
            condition_values={":open": "open", ":version": plan.expected_version},
        ),
        _table.put_operation(_lead_activity_item(plan.conversion)),
    ]
    for kind in ("email", "phone"):
        key = getattr(lead.keys, kind)
        if key:
            operations.append(
                _delete_operation(_key_pk(kind, key), "LEAD", owned_by=("lead_id", lead.lead_id))
            )
    person_phone = _person_phone_key(lead.keys)
    if person_phone:
        operations.append(_delete_operation(*person_phone, owned_by=("lead_id", lead.lead_id)))
    if lead.keys.company:
        operations.append(
            _delete_operation(_key_pk("company", lead.keys.company), f"LEAD#{lead.lead_id}")
        )
    return operations


def _account_operations(plan: ConversionPlan) -> list[dict[str, Any]]:
    """A new account and its company key (one account per company), or a touch of the
    existing account (which must still exist)."""
    account = plan.account
    account_pk = _account_pk(account.account_id)
    if not plan.account_created:
        return [
            _table.update_operation(
                account_pk,
                "ACCOUNT",
                set_values={"updated_at": account.updated_at},
                condition="attribute_exists(pk)",
            )
        ]
    return new_account_operations(account)


def new_account_operations(account: Account) -> list[dict[str, Any]]:
    """A new account and its company key (both only if absent: one account per company)."""
    item = {
        "pk": _account_pk(account.account_id),
        "sk": "ACCOUNT",
        "gsi1pk": accounts_of_segment(account.segment),
        "gsi1sk": f"{account.created_at}#{account.account_id}",
    }
    operations = [_table.put_operation(item | _dump(account))]
    if account.name_key:
        key_item = {"pk": _key_pk("company", account.name_key), "sk": "ACCOUNT"}
        operations.append(_table.put_operation(key_item | {"account_id": account.account_id}))
    return operations


def company_key_operation(operations: list[dict[str, Any]]) -> int | None:
    """The index, in ``operations``, of the put of a company key (one account per company):
    a cancelled transaction names the failed operation by its index."""
    for index, operation in enumerate(operations):
        put = operation.get("Put") or {}
        pk = (put.get("Item") or {}).get("pk", {}).get("S", "")
        if pk.startswith("KEY#company#"):
            return index
    return None


def _contact_operations(plan: ConversionPlan) -> list[dict[str, Any]]:
    """A new contact, or the reused one's missing email/phone; with the keys it takes (one
    contact per email and per phone in an account)."""
    contact = plan.contact
    account_pk = _account_pk(contact.account_id)
    contact_sk = f"CONTACT#{contact.contact_id}"
    if plan.contact_created:
        return new_contact_operations(contact)
    fill = plan.contact_fill
    still_missing = "".join(
        f" AND attribute_not_exists(#{name})" for name in ("email", "phone") if name in fill
    )
    update = _table.update_operation(
        account_pk,
        contact_sk,
        set_values={**fill, "updated_at": contact.updated_at},
        condition="attribute_exists(pk)" + still_missing,
    )
    taken = {"email": fill.get("email_key"), "phone": fill.get("phone_key")}
    return [update, *_contact_key_operations(contact, taken)]


def new_contact_operations(contact: Contact) -> list[dict[str, Any]]:
    """A new contact and the email/phone keys it takes (only if absent: one contact per email
    and per phone in an account)."""
    contact_sk = f"CONTACT#{contact.contact_id}"
    item = {
        "pk": _account_pk(contact.account_id),
        "sk": contact_sk,
        "gsi1pk": contact_sk,
        "gsi1sk": "CONTACT",
    }
    taken = {"email": contact.email_key, "phone": contact.phone_key}
    return [_table.put_operation(item | _dump(contact)), *_contact_key_operations(contact, taken)]


def _contact_key_operations(
    contact: Contact, taken: Mapping[str, str | None]
) -> list[dict[str, Any]]:
    operations = []
    for kind, key in taken.items():
        if key:
            key_item = {"pk": _key_pk(kind, key), "sk": f"CONTACT#{contact.account_id}"}
            operations.append(
                _table.put_operation(
                    key_item | {"contact_id": contact.contact_id, "account_id": contact.account_id}
                )
            )
    return operations


# ---- accounts ------------------------------------------------------------------------------


def customer_record(account_id: str, *, scope: Scope) -> CustomerRecord | None:
    """The account with its contacts, deals, originating leads and history (one query), if
    ``scope`` may see the account (else None, as for one that does not exist). A caller who
    sees the account through its agency only sees that agency's deals in it, and the history
    of no other deal."""
    account = None
    contacts, deals, activities, lead_ids = [], [], [], []
    for item in _query_all(_account_pk(account_id)):
        kind = str(item["sk"]).split("#", 1)[0]
        if kind == "ACCOUNT":
            account = Account.model_validate(item)
        elif kind == "CONTACT":
            contacts.append(Contact.model_validate(item))
        elif kind == "DEAL":
            deals.append(Deal.model_validate(item))
        elif kind == "ACT":
            activities.append(Activity.model_validate(item))
        elif kind == "LEAD":
            lead_ids.append(str(item["lead_id"]))
    if account is None or not access.visible(
        scope, segment=account.segment, agency_id=account.agency_id
    ):
        return None
    hidden = {
        deal.deal_id
        for deal in deals
        if not access.visible(scope, segment=deal.segment, agency_id=deal.agency_id)
    }
    return CustomerRecord(
        account=account,
        contacts=sorted(contacts, key=lambda c: c.created_at),
        deals=sorted((d for d in deals if d.deal_id not in hidden), key=lambda d: d.created_at),
        activities=[a for a in reversed(activities) if a.deal_id not in hidden],
        lead_ids=lead_ids,
    )


def list_accounts(
    *, scope: Scope, segment: access.Segment | None, limit: int, after: str | None
) -> tuple[list[AccountListing], str | None]:
    """One page of the accounts ``scope`` may see (of ``segment`` only, when given), newest
    first, and the token of the next page (None: there is none).

    Reads the account partition of each segment the caller sees whole, and the
    registrations of each agency it sees beyond those (filtered by the segment): a caller
    never reads a listing partition of records it may not see. A caller who may see none of
    ``segment`` reads nothing. Every account listed is checked against the scope again."""
    sources = [
        listing.Source(accounts_of_segment(seen))
        for seen in access.full_segments(scope)
        if segment in (None, seen)
    ]
    filters = {} if segment is None else {"segment": segment}
    sources += [
        listing.Source(registrations_of(agency), filters) for agency in access.extra_agencies(scope)
    ]
    if not sources:
        return [], None
    before = None if after is None else cursor.decode(after, _ACCOUNT_CURSOR)
    page, position = listing.newest_first(
        _table, sources, limit=limit, before=before, identity="account_id"
    )
    accounts = [_account_listing(item) for item in page]
    visible = [
        account
        for account in accounts
        if segment in (None, account.segment)
        and access.visible(scope, segment=account.segment, agency_id=account.agency_id)
    ]
    return visible, None if position is None else cursor.encode(position)


def _account_listing(item: Mapping[str, Any]) -> AccountListing:
    """An account item, or an agency's registration item, as a list shows the account."""
    created_at = item["created_at"] if item["sk"] == "ACCOUNT" else item["registered_at"]
    return AccountListing(
        account_id=str(item["account_id"]),
        name=str(item["name"]),
        segment=access.segment_of(item.get("segment")),
        agency_id=None if item.get("agency_id") is None else str(item["agency_id"]),
        created_at=str(created_at),
    )


def find_deal(deal_id: str, *, scope: Scope) -> Deal | None:
    """A deal by its id alone (gsi1), for the capabilities that start from a deal, if
    ``scope`` may see it (``access.EVERYTHING`` for system processes)."""
    for item in _table.query(f"DEAL#{deal_id}", index="gsi1", limit=1):
        deal = Deal.model_validate(item)
        if access.visible(scope, segment=deal.segment, agency_id=deal.agency_id):
            return deal
    return None


# ---- items and requests --------------------------------------------------------------------


def _dump(model: Any) -> dict[str, Any]:
    return dict(model.model_dump(mode="json"))


def _lead_item(lead: Lead) -> dict[str, Any]:
    return {
        "pk": _lead_pk(lead.lead_id),
        "sk": "LEAD",
        "gsi1pk": _leads_by_status(lead.status),
        "gsi1sk": f"{lead.created_at}#{lead.lead_id}",
        **_dump(lead),
    }


def _lead_activity_item(activity: Activity) -> dict[str, Any]:
    return {
        "pk": _lead_pk(activity.lead_id),
        "sk": _lead_activity_sk(activity.seq),
        **_dump(activity),
    }


def _open_lead_key_item(kind: str, key: str, lead: Lead) -> dict[str, Any]:
    return {"pk": _key_pk(kind, key), "sk": "LEAD", "lead_id": lead.lead_id}


def _person_phone_key(keys: LeadKeys) -> tuple[str, str] | None:
    """pk and sk of the phone a lead holds for its person only, if it holds one."""
    if not (keys.person_phone and keys.person):
        return None
    return _key_pk("phone", keys.person_phone), f"PERSON#{keys.person}"


def _receipt_item(receipt_key: str, receipt: LeadReceipt, at: str) -> dict[str, Any]:
    return {"pk": f"RECEIPT#{receipt_key}", "sk": "RECEIPT", "at": at, **_dump(receipt)}


def _delete_operation(
    pk: str, sk: str, *, owned_by: tuple[str, str] | None = None
) -> dict[str, Any]:
    delete: dict[str, Any] = {"TableName": _table.name, "Key": to_item({"pk": pk, "sk": sk})}
    if owned_by is not None:
        attribute, value = owned_by
        delete["ConditionExpression"] = "#owner = :owner"
        delete["ExpressionAttributeNames"] = {"#owner": attribute}
        delete["ExpressionAttributeValues"] = {":owner": to_value(value)}
    return {"Delete": delete}


def _query_page(
    pk: str,
    *,
    sk_prefix: str | None = None,
    index: str | None = None,
    newest_first: bool = False,
    limit: int | None = None,
    start: Mapping[str, Any] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """One Query request: its items and its LastEvaluatedKey (``Table.query`` hides it).
    On the table (not an index) the read is consistent."""
    pk_attribute = "pk" if index is None else f"{index}pk"
    request: dict[str, Any] = {
        "TableName": _table.name,
        "KeyConditionExpression": "#pk = :pk",
        "ExpressionAttributeNames": {"#pk": pk_attribute},
        "ExpressionAttributeValues": {":pk": to_value(pk)},
        "ScanIndexForward": not newest_first,
    }
    if sk_prefix is not None:
        request["KeyConditionExpression"] += " AND begins_with(sk, :sk)"
        request["ExpressionAttributeValues"][":sk"] = to_value(sk_prefix)
    if index is not None:
        request["IndexName"] = index
    else:
        request["ConsistentRead"] = True
    if limit is not None:
        request["Limit"] = limit
    if start is not None:
        request["ExclusiveStartKey"] = to_item(start)
    response = _table.client.query(**request)
    return [from_item(item) for item in response.get("Items", [])], response.get("LastEvaluatedKey")


def _query_all(pk: str, *, sk_prefix: str | None = None) -> list[dict[str, Any]]:
    """Every item of one partition (under ``sk_prefix``), read consistently."""
    items, last = _query_page(pk, sk_prefix=sk_prefix)
    while last is not None:
        more, last = _query_page(pk, sk_prefix=sk_prefix, start=from_item(last))
        items += more
    return items
