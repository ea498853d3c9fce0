"""Deals in table ``records``: the only code that knows their keys.

=================  =============================  ==============================================
item               pk / sk                        gsi1pk / gsi1sk
=================  =============================  ==============================================
deal               ACCOUNT#<acc> / DEAL#<deal>    DEAL#<deal> / DEAL
listed by owner    DEAL#<deal> / LIST#owner       DEALS#<segment>#owner#<owner> / <created>#<deal>
listed by stage    DEAL#<deal> / LIST#stage       DEALS#<segment>#stage#<stage> / <created>#<deal>
listed by both     DEAL#<deal> / LIST#owner-stage DEALS#<segment>#owner-stage#<owner>#<stage> / …
by account         DEAL#<deal> / LIST#account     DEALS#account#<acc> / <created>#<deal>
by agency          DEAL#<deal> / LIST#agency      DEALS#agency#<agency> / <created>#<deal>
won, by agency     DEAL#<deal> / LIST#agency-won  DEALS#agency-won#<agency> / <won_at>#<deal>
stage change       ACCOUNT#<acc> / ACT#<at>#<deal>#<version:04>   (in the account's history)
=================  =============================  ==============================================

The deal lives in its account's partition, so ``GET /accounts/{id}`` reads the customer with
its deals in one query (``monosub.store.records``); its gsi1 entry finds it by id alone. The
table has one GSI, and a deal's gsi1 entry is taken by that lookup, so each way of listing
deals is a small **listing item** of its own (deal id, account, owner, stage, segment, agency,
created_at), written in the same transaction as the deal whenever the deal is created or its
owner, stage or agency changes: the listing never disagrees with the deal on the table.

Who may see what (``monosub.access``) is part of the keys: the owner and stage listings are
per segment, so a manager of one segment reads only that segment's partitions, and a caller
who sees both reads both and merges them (``monosub.store.listing``); an agency reads only
its own partition (``DEALS#agency#…``), filtered by owner, stage or account. The by-agency
listings exist only for deals with an agency (``LIST#agency-won`` once such a deal is won,
with its device and plan units, for the agency's commission). Each listing partition is read
newest first; the page's deals are then read whole (BatchGetItem, consistent), and one that
no longer matches the filters or the caller's scope (the index lags the table by a moment) is
left out. ``LIST#account`` also locates a deal's account by a consistent read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from monosub import access
from monosub.access import Scope
from monosub.domain import agencies as agency_rules
from monosub.models.crm import Activity
from monosub.models.deals import Deal, DealStage
from monosub.names import RECORDS
from monosub.store import cursor, listing
from monosub.store.dynamo import Table, to_item, to_value, transact

_table = Table(RECORDS)

Listing = Literal["owner", "stage", "owner-stage", "account", "agency", "agency-won"]
# Every deal has these; the agency listings only a deal with an agency (won: once won).
LISTINGS: tuple[Listing, ...] = ("owner", "stage", "owner-stage", "account")
AGENCY_LISTINGS: tuple[Listing, ...] = ("agency", "agency-won")


def _account_pk(account_id: str) -> str:
    return f"ACCOUNT#{account_id}"


def _deal_sk(deal_id: str) -> str:
    return f"DEAL#{deal_id}"


def _listing_pk(deal_id: str) -> str:
    return f"DEAL#{deal_id}"


def by_segment(segment: str, *, owner: str | None, stage: str | None) -> str:
    """The listing partition of a segment's deals of an owner, in a stage, or both."""
    if owner is not None and stage is not None:
        return f"DEALS#{segment}#owner-stage#{owner}#{stage}"
    if owner is not None:
        return f"DEALS#{segment}#owner#{owner}"
    if stage is not None:
        return f"DEALS#{segment}#stage#{stage}"
    raise ValueError("a segment's deals are listed by owner, stage or both")


def by_account(account_id: str) -> str:
    return f"DEALS#account#{account_id}"


def by_agency(agency_id: str) -> str:
    return f"DEALS#agency#{agency_id}"


def won_by_agency(agency_id: str) -> str:
    return f"DEALS#agency-won#{agency_id}"


def _position(at: str, deal_id: str) -> str:
    return f"{at}#{deal_id}"


# ---- items ---------------------------------------------------------------------------------


def deal_item(deal: Deal) -> dict[str, Any]:
    """The deal item: in its account's partition, found by id through gsi1."""
    return {
        "pk": _account_pk(deal.account_id),
        "sk": _deal_sk(deal.deal_id),
        "gsi1pk": _deal_sk(deal.deal_id),
        "gsi1sk": "DEAL",
        **deal.model_dump(mode="json"),
    }


def listing_items(deal: Deal) -> list[dict[str, Any]]:
    """The deal's listing items: one per way of listing it."""
    summary: dict[str, Any] = {
        "deal_id": deal.deal_id,
        "account_id": deal.account_id,
        "owner": deal.owner,
        "stage": deal.stage,
        "segment": deal.segment,
        "agency_id": deal.agency_id,
        "created_at": deal.created_at,
    }
    created = _position(deal.created_at, deal.deal_id)
    partitions: dict[Listing, str] = {
        "owner": by_segment(deal.segment, owner=deal.owner, stage=None),
        "stage": by_segment(deal.segment, owner=None, stage=deal.stage),
        "owner-stage": by_segment(deal.segment, owner=deal.owner, stage=deal.stage),
        "account": by_account(deal.account_id),
    }
    if deal.agency_id is not None:
        partitions["agency"] = by_agency(deal.agency_id)
    items = [
        {
            "pk": _listing_pk(deal.deal_id),
            "sk": f"LIST#{name}",
            "gsi1pk": partition,
            "gsi1sk": created,
            **summary,
        }
        for name, partition in partitions.items()
    ]
    if deal.agency_id is not None and deal.stage == "won":
        won_at = deal.stage_changed_at or deal.updated_at
        device_units, plan_units = agency_rules.units(deal.lines)
        items.append(
            {
                "pk": _listing_pk(deal.deal_id),
                "sk": "LIST#agency-won",
                "gsi1pk": won_by_agency(deal.agency_id),
                "gsi1sk": _position(won_at, deal.deal_id),
                **summary,
                "won_at": won_at,
                "device_units": device_units,
                "plan_units": plan_units,
            }
        )
    return items


def new_deal_operations(deal: Deal) -> list[dict[str, Any]]:
    """A new deal and its listing items (all only if absent), for ``transact``; lead
    conversion and agency registrations write their deal with these too."""
    return [_table.put_operation(deal_item(deal))] + [
        _table.put_operation(item) for item in listing_items(deal)
    ]


# ---- writes --------------------------------------------------------------------------------


def create_deal(deal: Deal) -> None:
    """Write a new deal with its listing items, in one transaction."""
    transact(new_deal_operations(deal))


def save_deal(
    deal: Deal,
    *,
    expected_version: int,
    expected_stage: DealStage,
    relist: bool,
    activity: Activity | None = None,
    activity_details: Mapping[str, Any] | None = None,
) -> None:
    """Replace the deal if it is still at ``expected_version`` and ``expected_stage``, in one
    transaction with its listing items (``relist``: its owner, stage or agency changed; an
    agency listing it no longer has is deleted) and an activity in its account's history.
    Raises ``TransactionConflict`` when the deal changed meanwhile.

    A deal written before deals had a version (at lead conversion) counts as version 1.
    """
    version_holds = "#version = :version"
    if expected_version == 1:
        version_holds = f"({version_holds} OR attribute_not_exists(#version))"
    operations: list[dict[str, Any]] = [
        {
            "Put": {
                "TableName": _table.name,
                "Item": to_item(deal_item(deal)),
                "ConditionExpression": f"{version_holds} AND #stage = :stage",
                "ExpressionAttributeNames": {"#version": "version", "#stage": "stage"},
                "ExpressionAttributeValues": {
                    ":version": to_value(expected_version),
                    ":stage": to_value(expected_stage),
                },
            }
        }
    ]
    if relist:
        items = listing_items(deal)
        operations += [_table.put_operation(item, only_new=False) for item in items]
        kept = {str(item["sk"]) for item in items}
        operations += [
            {
                "Delete": {
                    "TableName": _table.name,
                    "Key": to_item({"pk": _listing_pk(deal.deal_id), "sk": f"LIST#{name}"}),
                }
            }
            for name in AGENCY_LISTINGS
            if f"LIST#{name}" not in kept
        ]
    if activity is not None:
        operations.append(
            _table.put_operation(_activity_item(deal, activity) | dict(activity_details or {}))
        )
    transact(operations)


def _activity_item(deal: Deal, activity: Activity) -> dict[str, Any]:
    """A deal's activity in its account's history; the sort key orders it by time among the
    leads' activities (``ACT#<at>#<lead>#<seq>``), the deal and its version make it unique."""
    return {
        "pk": _account_pk(deal.account_id),
        "sk": f"ACT#{activity.occurred_at}#{deal.deal_id}#{activity.seq:04d}",
        **activity.model_dump(mode="json"),
    }


# ---- reads ---------------------------------------------------------------------------------


def _visible(scope: Scope, item: Mapping[str, Any]) -> bool:
    segment, agency_id = item.get("segment"), item.get("agency_id")
    return access.visible(
        scope,
        segment=None if segment is None else str(segment),
        agency_id=None if agency_id is None else str(agency_id),
    )


def get_deal(deal_id: str, *, scope: Scope) -> Deal | None:
    """A deal by its id, read consistently, if ``scope`` may see it (else None, as for a deal
    that does not exist). Its account comes from its ``LIST#account`` item; a deal without
    listing items, written before they existed, is found through gsi1."""
    pointer = _table.get(_listing_pk(deal_id), "LIST#account")
    if pointer is not None:
        if not _visible(scope, pointer):
            return None
        account_id = str(pointer["account_id"])
    else:
        found = next(iter(_table.query(_deal_sk(deal_id), index="gsi1", limit=1)), None)
        if found is None:
            return None
        account_id = str(found["account_id"])
    item = _table.get(_account_pk(account_id), _deal_sk(deal_id))
    if item is None or not _visible(scope, item):
        return None
    return Deal.model_validate(item)


def contact_exists(account_id: str, contact_id: str) -> bool:
    """True when ``contact_id`` is a contact of that account."""
    return _table.get(_account_pk(account_id), f"CONTACT#{contact_id}") is not None


def list_deals(
    *,
    scope: Scope,
    owner: str | None,
    stage: DealStage | None,
    account_id: str | None,
    limit: int,
    after: str | None,
) -> tuple[list[Deal], str | None]:
    """One page of the deals ``scope`` may see that match every filter given (at least
    one), newest first, and the token of the next page.

    By account: the account's partition when the caller sees the account's segment (owner
    and stage filter it), else the caller's agencies' partitions filtered by the account.
    Otherwise: the owner's / stage's / both's partition of each segment the caller sees,
    and the partitions of the agencies it sees beyond those (filtered by owner and stage).
    A caller never reads a listing partition of records it may not see.
    """
    filters: dict[str, str] = {}
    if owner is not None:
        filters["owner"] = owner
    if stage is not None:
        filters["stage"] = stage
    if account_id is None and not filters:
        raise ValueError("list deals by owner, stage or account")
    sources: list[listing.Source] = []
    if account_id is not None:
        account = _table.get(_account_pk(account_id), "ACCOUNT")
        if account is not None and access.segment_of(account.get("segment")) in scope.segments:
            sources.append(listing.Source(by_account(account_id), filters))
        elif account is not None:
            sources += [
                listing.Source(by_agency(agency), {**filters, "account_id": account_id})
                for agency in sorted(scope.agency_ids)
            ]
        filters["account_id"] = account_id
    else:
        sources += [
            listing.Source(by_segment(segment, owner=owner, stage=stage))
            for segment in access.full_segments(scope)
        ]
        sources += [
            listing.Source(by_agency(agency), filters) for agency in access.extra_agencies(scope)
        ]
    if not sources:
        return [], None
    before = None if after is None else _decode_cursor(after)
    page, position = listing.newest_first(
        _table, sources, limit=limit, before=before, identity="deal_id"
    )
    matching = [
        deal
        for deal in _deals_of(page)
        if all(str(getattr(deal, k)) == v for k, v in filters.items())
        and access.visible(scope, segment=deal.segment, agency_id=deal.agency_id)
    ]
    return matching, None if position is None else _encode_cursor(position)


def won_by_agency_between(agency_id: str, low: str, high: str) -> list[dict[str, Any]]:
    """The agency's won deals with ``low <= won_at#deal <= high``: their listing items
    (deal, account, won_at, device and plan units), oldest first."""
    return list(listing.between(_table, won_by_agency(agency_id), low, high))


def deals_by_ids(keys: Iterable[tuple[str, str]], *, scope: Scope) -> list[Deal]:
    """Deals by (account_id, deal_id), read whole and consistently, in the given order,
    those ``scope`` may see."""
    listed = [{"account_id": account, "deal_id": deal} for account, deal in keys]
    return [
        deal
        for deal in _deals_of(listed)
        if access.visible(scope, segment=deal.segment, agency_id=deal.agency_id)
    ]


def _deals_of(listed: Iterable[Mapping[str, Any]]) -> list[Deal]:
    """The listed deals, read whole and consistently, in the listing's order."""
    keys = [(_account_pk(str(i["account_id"])), _deal_sk(str(i["deal_id"]))) for i in listed]
    if not keys:
        return []
    read = _table.batch_get(keys)
    return [Deal.model_validate(read[key]) for key in keys if key in read]


# ---- the next-page token -------------------------------------------------------------------

_CURSOR = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z#deal_[0-9a-z]{1,64}")


def _encode_cursor(position: str) -> str:
    return cursor.encode(position)


def _decode_cursor(token: str) -> str:
    return cursor.decode(token, _CURSOR)
