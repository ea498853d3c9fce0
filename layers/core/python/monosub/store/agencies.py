"""Agencies and their registrations in table ``records``: the only code that knows their keys.

==============  =================================  =========================================
item            pk / sk                            gsi1pk / gsi1sk
==============  =================================  =========================================
agency          AGENCY#<agency> / AGENCY           AGENCIES#region#<region> / <agency>
registration    ACCOUNT#<acc> / REGISTRATION       REGISTRATIONS#<agency> / <at>#<acc>
in its region   ACCOUNT#<acc> / REGISTRATION#REGION  REGISTRATIONS#region#<region> / <at>#<acc>
registered      ACCOUNT#<acc> / ACT#<at>#<deal>#0001   (in the account's history)
==============  =================================  =========================================

An agency with a region is listed in it (the region's agencies: one query); a residential
registration of such an agency has a second listing item in its region, so a regional
manager's list reads its region's partition only (residential customers only: a corporate
registration is never listed there).

A registration writes the customer as lead conversion does (account, company key, contact
and its keys: ``monosub.store.records``; the deal and its listing items:
``monosub.store.deals``), plus the registration item, which lists the agency's customers
newest first (``GET /agency/registrations``) and counts them per month (performance).
"""

from __future__ import annotations

import re
from typing import Any

from monosub.domain.agencies import RegistrationPlan
from monosub.models.agencies import Agency, Registration
from monosub.names import RECORDS
from monosub.store import cursor, deals, listing, records
from monosub.store.dynamo import Table, TransactionConflict, to_item, to_value, transact

_table = Table(RECORDS)


def _agency_pk(agency_id: str) -> str:
    return f"AGENCY#{agency_id}"


def _registrations(agency_id: str) -> str:
    return records.registrations_of(agency_id)  # also an agency's accounts listing


def _region_agencies(region: str) -> str:
    return f"AGENCIES#region#{region}"


def _region_registrations(region: str) -> str:
    return f"REGISTRATIONS#region#{region}"


# ---- agencies ------------------------------------------------------------------------------


def get_agency(agency_id: str) -> Agency | None:
    item = _table.get(_agency_pk(agency_id), "AGENCY")
    return Agency.model_validate(item) if item else None


def put_agency(agency: Agency, *, expected_version: int | None) -> bool:
    """Write the agency if it is still at ``expected_version`` (None: if it does not exist
    yet); False when it changed meanwhile."""
    listed = (
        {"gsi1pk": _region_agencies(agency.region), "gsi1sk": agency.agency_id}
        if agency.region
        else {}
    )
    request: dict[str, Any] = {
        "TableName": _table.name,
        "Item": to_item(
            {"pk": _agency_pk(agency.agency_id), "sk": "AGENCY"}
            | listed
            | agency.model_dump(mode="json")
        ),
    }
    if expected_version is None:
        request["ConditionExpression"] = "attribute_not_exists(pk)"
    else:
        request["ConditionExpression"] = "#version = :version"
        request["ExpressionAttributeNames"] = {"#version": "version"}
        request["ExpressionAttributeValues"] = {":version": to_value(expected_version)}
    try:
        _table.client.put_item(**request)
    except _table.client.exceptions.ConditionalCheckFailedException:
        return False
    return True


# ---- registrations -------------------------------------------------------------------------


def registration_operations(plan: RegistrationPlan) -> list[dict[str, Any]]:
    """The writes of one registration, for one ``transact``: account (+ company key),
    contact (+ its keys), deal (+ listing items), the registration, the history entry;
    every one only if absent."""
    registration = plan.registration
    account_pk = f"ACCOUNT#{plan.account.account_id}"
    activity = plan.activity
    listed = (
        []
        if registration is None
        else [
            _table.put_operation(
                {
                    "pk": account_pk,
                    "sk": sk,
                    "gsi1pk": partition,
                    "gsi1sk": f"{registration.registered_at}#{registration.account_id}",
                    **registration.model_dump(mode="json"),
                }
            )
            for sk, partition in _registration_listings(registration)
        ]
    )
    return [
        *records.new_account_operations(plan.account),
        *records.new_contact_operations(plan.contact),
        *deals.new_deal_operations(plan.deal),
        *listed,
        _table.put_operation(
            {
                "pk": account_pk,
                "sk": f"ACT#{activity.occurred_at}#{plan.deal.deal_id}#{activity.seq:04d}",
                **activity.model_dump(mode="json"),
            }
        ),
    ]


def _registration_listings(registration: Registration) -> list[tuple[str, str]]:
    """(sk, listing partition) of a registration: its agency's, and a residential one's in
    the agency's region."""
    listings = [("REGISTRATION", _registrations(registration.agency_id))]
    if registration.region and registration.segment == "residential":
        listings.append(("REGISTRATION#REGION", _region_registrations(registration.region)))
    return listings


class CompanyTaken(Exception):
    """The registered company is a customer already (one account per company)."""


def save_registration(plan: RegistrationPlan) -> None:
    """All of a registration or nothing: ``CompanyTaken`` when the company is a customer
    already, ``TransactionConflict`` when anything else was taken meanwhile."""
    operations = registration_operations(plan)
    try:
        transact(operations)
    except TransactionConflict as conflict:
        index = records.company_key_operation(operations)
        if (
            index is not None
            and index < len(conflict.reasons)
            and conflict.reasons[index] == "ConditionalCheckFailed"
        ):
            raise CompanyTaken(plan.account.name) from conflict
        raise


def list_registrations(
    agency_id: str, *, limit: int, after: str | None
) -> tuple[list[Registration], str | None]:
    """One page of the agency's registrations, newest first (only its own partition is
    read), and the token of the next page."""
    return _page(_registrations(agency_id), limit=limit, after=after)


def list_region_registrations(
    region: str, *, limit: int, after: str | None
) -> tuple[list[Registration], str | None]:
    """One page of the residential registrations of the region's agencies, newest first
    (only the region's partition is read)."""
    return _page(_region_registrations(region), limit=limit, after=after)


def agencies_in(region: str) -> list[Agency]:
    """The agencies of ``region`` (one query of the region's listing)."""
    return [
        Agency.model_validate(item) for item in _table.query(_region_agencies(region), index="gsi1")
    ]


def _page(
    partition: str, *, limit: int, after: str | None
) -> tuple[list[Registration], str | None]:
    before = None if after is None else cursor.decode(after, _CURSOR)
    page, position = listing.newest_first(
        _table,
        [listing.Source(partition)],
        limit=limit,
        before=before,
        identity="account_id",
    )
    registrations = [Registration.model_validate(item) for item in page]
    return registrations, None if position is None else cursor.encode(position)


def count_registrations(agency_id: str, low: str, high: str) -> int:
    """How many customers the agency registered with ``low <= <at>#<acc> <= high``."""
    return sum(
        int(answer["count"])
        for answer in listing.between(_table, _registrations(agency_id), low, high, count_only=True)
    )


_CURSOR = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z#account_[0-9a-z]{1,64}")
