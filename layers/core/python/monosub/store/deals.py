"""Deals in table ``records``: the only code that knows their keys.

=====================  ==================================  ======================================
item                   pk / sk                             gsi1pk / gsi1sk
=====================  ==================================  ======================================
deal                   ACCOUNT#<acc> / DEAL#<deal>         DEAL#<deal> / DEAL
listed by owner        DEAL#<deal> / LIST#owner            DEALS#owner#<owner> / <created>#<deal>
listed by stage        DEAL#<deal> / LIST#stage            DEALS#stage#<stage> / <created>#<deal>
listed by both         DEAL#<deal> / LIST#owner-stage      DEALS#owner-stage#<owner>#<stage> / …
listed by account      DEAL#<deal> / LIST#account          DEALS#account#<acc> / <created>#<deal>
stage change           ACCOUNT#<acc> / ACT#<at>#<deal>#<version:04>   (in the account's history)
=====================  ==================================  ======================================

The deal lives in its account's partition, so ``GET /accounts/{id}`` reads the customer with
its deals in one query (``monosub.store.records``); its gsi1 entry finds it by id alone. The
table has one GSI, and a deal's gsi1 entry is taken by that lookup, so each way of listing
deals is a small **listing item** of its own (deal id, account, owner, stage, created_at),
written in the same transaction as the deal whenever the deal is created or its owner or
stage changes: the listing never disagrees with the deal on the table. Each listing
partition is read newest first; the page's deals are then read whole (BatchGetItem,
consistent), and one whose owner or stage no longer matches (the index lags the table by
a moment) is left out. ``LIST#account`` also locates a deal's account by a consistent read.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from monosub.models.crm import Activity
from monosub.models.deals import Deal, DealStage
from monosub.names import RECORDS
from monosub.store import cursor
from monosub.store.dynamo import Table, from_item, to_item, to_value, transact

_table = Table(RECORDS)

Listing = Literal["owner", "stage", "owner-stage", "account"]
LISTINGS: tuple[Listing, ...] = ("owner", "stage", "owner-stage", "account")

# A page of a filtered listing reads at most this many items per request, and this many
# requests, before it answers (possibly short, with a ``next`` token to go on).
_FILTERED_READ = 100
_FILTERED_REQUESTS = 5
_BATCH_GET_ATTEMPTS = 8


def _account_pk(account_id: str) -> str:
    return f"ACCOUNT#{account_id}"


def _deal_sk(deal_id: str) -> str:
    return f"DEAL#{deal_id}"


def _listing_pk(deal_id: str) -> str:
    return f"DEAL#{deal_id}"


def _listing_partition(listing: Listing, deal: Mapping[str, Any]) -> str:
    if listing == "owner":
        return f"DEALS#owner#{deal['owner']}"
    if listing == "stage":
        return f"DEALS#stage#{deal['stage']}"
    if listing == "owner-stage":
        return f"DEALS#owner-stage#{deal['owner']}#{deal['stage']}"
    return f"DEALS#account#{deal['account_id']}"


def _position(created_at: str, deal_id: str) -> str:
    return f"{created_at}#{deal_id}"


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
    """The deal's listing items: one per way of listing deals."""
    summary = {
        "deal_id": deal.deal_id,
        "account_id": deal.account_id,
        "owner": deal.owner,
        "stage": deal.stage,
        "created_at": deal.created_at,
    }
    return [
        {
            "pk": _listing_pk(deal.deal_id),
            "sk": f"LIST#{listing}",
            "gsi1pk": _listing_partition(listing, summary),
            "gsi1sk": _position(deal.created_at, deal.deal_id),
            **summary,
        }
        for listing in LISTINGS
    ]


def new_deal_operations(deal: Deal) -> list[dict[str, Any]]:
    """A new deal and its listing items (all only if absent), for ``transact``; lead
    conversion writes its deal with these too."""
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
    transaction with its listing items (``relist``: its owner or stage changed) and an
    activity in its account's history. Raises ``TransactionConflict`` when the deal changed
    meanwhile.

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
        operations += [_table.put_operation(item, only_new=False) for item in listing_items(deal)]
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


def get_deal(deal_id: str) -> Deal | None:
    """A deal by its id, read consistently (its account from its ``LIST#account`` item; a
    deal without listing items, written before they existed, through gsi1)."""
    pointer = _table.get(_listing_pk(deal_id), "LIST#account")
    if pointer is not None:
        account_id = str(pointer["account_id"])
    else:
        found = next(iter(_table.query(_deal_sk(deal_id), index="gsi1", limit=1)), None)
        if found is None:
            return None
        account_id = str(found["account_id"])
    item = _table.get(_account_pk(account_id), _deal_sk(deal_id))
    return Deal.model_validate(item) if item else None


def account_exists(account_id: str) -> bool:
    return _table.get(_account_pk(account_id), "ACCOUNT") is not None


def contact_exists(account_id: str, contact_id: str) -> bool:
    """True when ``contact_id`` is a contact of that account."""
    return _table.get(_account_pk(account_id), f"CONTACT#{contact_id}") is not None


def list_deals(
    *,
    owner: str | None,
    stage: DealStage | None,
    account_id: str | None,
    limit: int,
    after: str | None,
) -> tuple[list[Deal], str | None]:
    """One page of the deals matching every filter given (at least one), newest first, and
    the token of the next page.

    One listing partition is read: the account's when filtering by account (the owner and
    stage then filter it), else the owner's and stage's, else the owner's or the stage's.
    """
    filters: dict[str, str] = {}
    if account_id is not None:
        filters["account_id"] = account_id
    if owner is not None:
        filters["owner"] = owner
    if stage is not None:
        filters["stage"] = stage
    if not filters:
        raise ValueError("list deals by owner, stage or account")
    listing: Listing
    if account_id is not None:
        listing = "account"
    elif owner is not None and stage is not None:
        listing = "owner-stage"
    elif owner is not None:
        listing = "owner"
    else:
        listing = "stage"
    partition = _listing_partition(listing, filters)
    residual = {
        name: value
        for name, value in filters.items()
        if name in ("owner", "stage") and listing == "account"
    }
    start = None
    if after is not None:
        position = _decode_cursor(after)
        deal_id = position.rsplit("#", 1)[1]
        start = {
            "pk": _listing_pk(deal_id),
            "sk": f"LIST#{listing}",
            "gsi1pk": partition,
            "gsi1sk": position,
        }
    found: list[dict[str, Any]] = []
    last: dict[str, Any] | None = None
    for _ in range(_FILTERED_REQUESTS if residual else 1):
        items, last = _query_listing(
            partition, residual, limit=_FILTERED_READ if residual else limit + 1, start=start
        )
        found += items
        if len(found) > limit or last is None:
            break
        start = last
    page = found[:limit]
    if len(found) > limit:
        next_token: str | None = _encode_cursor(str(page[-1]["gsi1sk"]))
    elif last is not None:  # read as much as one page may: go on from there
        next_token = _encode_cursor(str(last["gsi1sk"]))
    else:
        next_token = None
    deals = _deals_of(page)
    matching = [
        deal for deal in deals if all(str(getattr(deal, k)) == v for k, v in filters.items())
    ]
    return matching, next_token


def _query_listing(
    partition: str, residual: Mapping[str, str], *, limit: int, start: Mapping[str, Any] | None
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """One query of a listing partition, newest first, with the residual filters."""
    request: dict[str, Any] = {
        "TableName": _table.name,
        "IndexName": "gsi1",
        "KeyConditionExpression": "#pk = :pk",
        "ExpressionAttributeNames": {"#pk": "gsi1pk"},
        "ExpressionAttributeValues": {":pk": to_value(partition)},
        "ScanIndexForward": False,
        "Limit": limit,
    }
    if residual:
        conditions = []
        for i, (name, value) in enumerate(residual.items()):
            request["ExpressionAttributeNames"][f"#f{i}"] = name
            request["ExpressionAttributeValues"][f":f{i}"] = to_value(value)
            conditions.append(f"#f{i} = :f{i}")
        request["FilterExpression"] = " AND ".join(conditions)
    if start is not None:
        request["ExclusiveStartKey"] = to_item(start)
    response = _table.client.query(**request)
    last = response.get("LastEvaluatedKey")
    items = [from_item(item) for item in response.get("Items", [])]
    return items, from_item(last) if last else None


def _deals_of(listed: Iterable[Mapping[str, Any]]) -> list[Deal]:
    """The listed deals, read whole and consistently, in the listing's order."""
    keys = [(_account_pk(str(i["account_id"])), _deal_sk(str(i["deal_id"]))) for i in listed]
    if not keys:
        return []
    read: dict[tuple[str, str], dict[str, Any]] = {}
    request: dict[str, Any] = {
        _table.name: {
            "Keys": [to_item({"pk": pk, "sk": sk}) for pk, sk in keys],
            "ConsistentRead": True,
        }
    }
    for attempt in range(_BATCH_GET_ATTEMPTS):
        response = _table.client.batch_get_item(RequestItems=request)
        for raw in response.get("Responses", {}).get(_table.name, []):
            item = from_item(raw)
            read[(str(item["pk"]), str(item["sk"]))] = item
        request = response.get("UnprocessedKeys") or {}
        if not request:
            break
        time.sleep(0.01 * 2**attempt)
    else:
        raise RuntimeError("deals could not be read: the table kept throttling")
    return [Deal.model_validate(read[key]) for key in keys if key in read]


# ---- the next-page token -------------------------------------------------------------------

_CURSOR = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z#deal_[0-9a-z]{1,64}")


def _encode_cursor(position: str) -> str:
    return cursor.encode(position)


def _decode_cursor(token: str) -> str:
    return cursor.decode(token, _CURSOR)
