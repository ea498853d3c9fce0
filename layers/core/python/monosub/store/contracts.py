"""Contracts in table ``records``: the only code that knows their keys.

=================== ================================== ==================================
item                pk / sk                            gsi1pk / gsi1sk
=================== ================================== ==================================
contract            CONTRACT#<id> / CONTRACT
its number          CONTRACT#<id> / NUMBER             (reserved once, before the PDF)
renewal requested   CONTRACT#<id> / RENEWAL#<term end> (the schedule's mark, once a term)
term closed         CONTRACT#<id> / TERMEND#<term end> CONTRACTS#term-events /
                    (ended or renewed automatically)   <term end>#<id> (until published)
listed by account   CONTRACT#<id> / LIST#account       CONTRACTS#account#<acc> /
                                                       <created>#<id>
listed by status    CONTRACT#<id> / LIST#status        CONTRACTS#status#<status> /
                                                       <created>#<id>
listed by end month CONTRACT#<id> / LIST#ends          CONTRACTS#ends#<yyyy-mm> /
                                                       <end date>#<id>
renewal to request  CONTRACT#<id> / LIST#renewal       CONTRACTS#renewal#<yyyy-mm> /
                                                       <notice date>#<id>
term to close       CONTRACT#<id> / LIST#term-end      CONTRACTS#term-end /
                                                       <end date>#<id>
number counter      COUNTER#contract#<yyyy> / COUNTER  (``last``: the last number given)
=================== ================================== ==================================

When the daily run ends a contract or renews it automatically, the ``TERMEND#<term end>``
marker is written (only if absent) in the same transaction, holding the event to publish; it
is listed in ``CONTRACTS#term-events`` (a sparse index) until the event is out, so a run
that died between the write and the publish sends it next time.

A contract lives in its own partition (found by id with one GetItem). Each way of listing is
a small **listing item** (id, account, segment, agency, status, dates) written in the same
transaction as the contract whenever what it is keyed by changes: ``LIST#ends`` exists while
the contract is active (keyed by the month its latest term ends: the expiring-contracts
dashboard reads the months it covers), ``LIST#renewal`` while a renewal quote is still to be
requested for the current term (keyed by the notice date's month: the daily schedule reads
the months that can hold a due renewal), ``LIST#term-end`` while the contract is active (one
partition keyed by the end date: the daily run finds every term that ended before its day
with one query, however many days it missed). Pages read listing items, then the contracts
whole (BatchGetItem, consistent); a contract that no longer matches its listing (the index
lags the table by a moment) is left out.

**Access**: every read takes ``segments`` (the segments the caller may see; None: all) and
``agency_id`` (only that agency's contracts; None: any). Listing queries filter on the
listing item's ``segment`` and ``agency_id`` (a FilterExpression, so a page may come back
short with a ``next`` token), and every contract read whole is checked again.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Literal

from monosub import clock
from monosub.domain import contracts as rules
from monosub.models.contracts import Contract, ContractStatus
from monosub.names import RECORDS
from monosub.store import cursor
from monosub.store.dynamo import Table, from_item, to_item, to_value, transact

_table = Table(RECORDS)

Listing = Literal["account", "status", "ends", "renewal", "term-end"]
LISTINGS: tuple[Listing, ...] = ("account", "status", "ends", "renewal", "term-end")
_TERM_END_PARTITION = "CONTRACTS#term-end"
_TERM_EVENTS_PARTITION = "CONTRACTS#term-events"

# A filtered page reads at most this many listing items per request, and this many requests
# per partition, before it answers (possibly short, with a ``next`` token to go on).
_FILTERED_READ = 100
_FILTERED_REQUESTS = 5
_AFTER_ANY_ID = "~"  # sorts after every contract id (lower-case base32)
_EARLIEST_DAY = "0001-01-01"  # sorts before every ISO date a contract can end on


def _pk(contract_id: str) -> str:
    return f"CONTRACT#{contract_id}"


def _month(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _partition(listing: Listing, key: str) -> str:
    return f"CONTRACTS#{listing}#{key}"


# ---- items ---------------------------------------------------------------------------------


def contract_item(contract: Contract) -> dict[str, Any]:
    values = contract.model_dump(mode="json", exclude={"agreed_monthly_total"})  # the document's
    return {"pk": _pk(contract.contract_id), "sk": "CONTRACT", **values}


def _summary(contract: Contract) -> dict[str, Any]:
    return {
        "contract_id": contract.contract_id,
        "account_id": contract.account_id,
        "segment": contract.segment,
        "agency_id": contract.agency_id,
        "status": contract.status,
        "created_at": contract.created_at,
        "end_date": contract.end_date.isoformat() if contract.end_date else None,
        "notice_date": contract.notice_date.isoformat() if contract.notice_date else None,
    }


def listing_items(contract: Contract) -> dict[Listing, dict[str, Any] | None]:
    """The contract's listing items as they should be now (None: it must not be listed)."""
    summary = _summary(contract)
    created = f"{contract.created_at}#{contract.contract_id}"
    keyed: dict[Listing, tuple[str, str] | None] = {
        "account": (_partition("account", contract.account_id), created),
        "status": (_partition("status", contract.status), created),
        "ends": None,
        "renewal": None,
        "term-end": None,
    }
    if contract.status == "active" and contract.end_date is not None:
        keyed["ends"] = (
            _partition("ends", _month(contract.end_date)),
            f"{contract.end_date.isoformat()}#{contract.contract_id}",
        )
        keyed["term-end"] = (
            _TERM_END_PARTITION,
            f"{contract.end_date.isoformat()}#{contract.contract_id}",
        )
    if _renewal_to_request(contract):
        assert contract.notice_date is not None
        keyed["renewal"] = (
            _partition("renewal", _month(contract.notice_date)),
            f"{contract.notice_date.isoformat()}#{contract.contract_id}",
        )
    items: dict[Listing, dict[str, Any] | None] = {}
    for listing, keys in keyed.items():
        if keys is None:
            items[listing] = None
            continue
        items[listing] = {
            "pk": _pk(contract.contract_id),
            "sk": f"LIST#{listing}",
            "gsi1pk": keys[0],
            "gsi1sk": keys[1],
            **summary,
        }
    return items


def _renewal_to_request(contract: Contract) -> bool:
    """Whether the schedule still has to request a renewal quote for the current term."""
    return (
        contract.status == "active"
        and contract.auto_renew
        and contract.notice is None
        and contract.end_date is not None
        and contract.notice_date is not None
        and contract.renewal_requested_for != contract.end_date
    )


def _listing_operations(contract: Contract) -> list[dict[str, Any]]:
    """Put the listing items the contract has now, delete the others (absent is fine)."""
    operations: list[dict[str, Any]] = []
    for listing, item in listing_items(contract).items():
        if item is not None:
            operations.append(_table.put_operation(item, only_new=False))
        else:
            operations.append(
                {
                    "Delete": {
                        "TableName": _table.name,
                        "Key": to_item({"pk": _pk(contract.contract_id), "sk": f"LIST#{listing}"}),
                    }
                }
            )
    return operations


# ---- numbers -------------------------------------------------------------------------------


def reserved_number(contract_id: str) -> str | None:
    item = _table.get(_pk(contract_id), "NUMBER")
    return str(item["number"]) if item else None


def reserve_number(contract_id: str, year: int) -> str:
    """The contract's number: the one reserved for it before, else the next of the year's
    counter (an atomic ADD), reserved for it. A number taken by a caller that then lost the
    reservation race is skipped: contract numbers are unique, not gapless."""
    existing = reserved_number(contract_id)
    if existing is not None:
        return existing
    response = _table.client.update_item(
        TableName=_table.name,
        Key=to_item({"pk": f"COUNTER#contract#{year:04d}", "sk": "COUNTER"}),
        UpdateExpression="ADD #last :one",
        ExpressionAttributeNames={"#last": "last"},
        ExpressionAttributeValues={":one": to_value(1)},
        ReturnValues="UPDATED_NEW",
    )
    sequence = int(from_item(response["Attributes"])["last"])
    number = rules.contract_number(year, sequence)
    if _table.put_new(
        {"pk": _pk(contract_id), "sk": "NUMBER", "number": number, "at": clock.now_iso()}
    ):
        return number
    again = reserved_number(contract_id)
    assert again is not None
    return again


# ---- writes --------------------------------------------------------------------------------


def create(contract: Contract) -> None:
    """The new contract (only if absent) with its listing items, in one transaction. Raises
    ``TransactionConflict`` when the contract exists already."""
    transact([_table.put_operation(contract_item(contract)), *_listing_operations(contract)])


def save(
    contract: Contract,
    *,
    expected_version: int,
    expected_status: ContractStatus,
    extra: Sequence[dict[str, Any]] = (),
) -> None:
    """Replace the contract if it is still at ``expected_version`` and ``expected_status``,
    in one transaction with its listing items (and ``extra`` operations). Raises
    ``TransactionConflict`` when it changed meanwhile."""
    put = {
        "Put": {
            "TableName": _table.name,
            "Item": to_item(contract_item(contract)),
            "ConditionExpression": "#version = :version AND #status = :status",
            "ExpressionAttributeNames": {"#version": "version", "#status": "status"},
            "ExpressionAttributeValues": {
                ":version": to_value(expected_version),
                ":status": to_value(expected_status),
            },
        }
    }
    transact([put, *_listing_operations(contract), *extra])


def mark_renewal_requested(
    contract: Contract, *, requested_at: str, detail: Mapping[str, Any]
) -> None:
    """Mark the current term's renewal as requested, exactly once: the marker item
    ``RENEWAL#<term end>`` (only if absent) and the contract (only at the version read), in
    one transaction. Raises ``TransactionConflict`` when either condition fails. The
    ``LIST#renewal`` item stays until the event is out (``renewal_published``)."""
    assert contract.end_date is not None
    term_end = contract.end_date.isoformat()
    marker = {
        "pk": _pk(contract.contract_id),
        "sk": f"RENEWAL#{term_end}",
        "contract_id": contract.contract_id,
        "term_end": term_end,
        "requested_at": requested_at,
        "detail": dict(detail),
    }
    update = _table.update_operation(
        _pk(contract.contract_id),
        "CONTRACT",
        set_values={
            "renewal_requested_for": term_end,
            "renewal_requested_at": requested_at,
            "updated_at": requested_at,
            "version": contract.version + 1,
        },
        condition="#version = :read AND #status = :active AND #end_date = :end",
        condition_values={":read": contract.version, ":active": "active", ":end": term_end},
    )
    transact([_table.put_operation(marker), update])


def renewal_marker(contract_id: str, term_end: date) -> dict[str, Any] | None:
    """The marker of that term's renewal request (its ``detail`` as published: numbers are
    whole yen and counts, so DynamoDB's Decimals come back as int)."""
    item = _table.get(_pk(contract_id), f"RENEWAL#{term_end.isoformat()}")
    if item is None:
        return None
    detail = {k: int(v) if isinstance(v, Decimal) else v for k, v in item["detail"].items()}
    return {**item, "detail": detail}


def renewal_published(contract_id: str, term_end: date, *, published_at: str) -> None:
    """The RenewalQuoteDue event of that term is out: note it on the marker and drop the
    ``LIST#renewal`` item if it still lists that term (a renewal meanwhile relists it)."""
    _table.update(
        _pk(contract_id),
        f"RENEWAL#{term_end.isoformat()}",
        set_values={"published_at": published_at},
        condition="attribute_exists(pk)",
    )
    client = _table.client
    with contextlib.suppress(client.exceptions.ConditionalCheckFailedException):
        # not if it lists a later term already (a renewal came in meanwhile)
        client.delete_item(
            TableName=_table.name,
            Key=to_item({"pk": _pk(contract_id), "sk": "LIST#renewal"}),
            ConditionExpression="attribute_not_exists(pk) OR #end_date = :end",
            ExpressionAttributeNames={"#end_date": "end_date"},
            ExpressionAttributeValues={":end": to_value(term_end.isoformat())},
        )


def term_event_operation(
    contract: Contract, term_end: date, *, detail_type: str, detail: Mapping[str, Any], at: str
) -> dict[str, Any]:
    """The ``TERMEND#<term end>`` marker (only if absent), for the transaction that ends the
    contract or renews it automatically: the event to publish, listed in the sparse
    ``CONTRACTS#term-events`` partition until ``term_event_published``. The detail is kept as
    JSON text, so it is published again exactly as it was made (None values included)."""
    return _table.put_operation(
        {
            "pk": _pk(contract.contract_id),
            "sk": f"TERMEND#{term_end.isoformat()}",
            "gsi1pk": _TERM_EVENTS_PARTITION,
            "gsi1sk": f"{term_end.isoformat()}#{contract.contract_id}",
            "contract_id": contract.contract_id,
            "term_end": term_end.isoformat(),
            "closed_at": at,
            "detail_type": detail_type,
            "detail": json.dumps(dict(detail), ensure_ascii=False, sort_keys=True),
        }
    )


def term_events_to_publish() -> list[dict[str, Any]]:
    """The term markers whose event is not out yet (a run died between write and publish),
    oldest term end first: ``contract_id``, ``term_end``, ``detail_type``, ``detail``."""
    found: list[dict[str, Any]] = []
    start: dict[str, Any] | None = None
    while True:
        request = _query_request(
            _TERM_EVENTS_PARTITION,
            between=None,
            newest_first=False,
            filters={},
            limit=_FILTERED_READ,
            start=start,
        )
        response = _table.client.query(**request)
        for raw in response.get("Items", []):
            item = from_item(raw)
            found.append(
                {
                    "contract_id": str(item["contract_id"]),
                    "term_end": date.fromisoformat(str(item["term_end"])),
                    "detail_type": str(item["detail_type"]),
                    "detail": json.loads(str(item["detail"])),
                }
            )
        last = response.get("LastEvaluatedKey")
        if not last:
            return found
        start = from_item(last)


def term_event_published(contract_id: str, term_end: date, *, published_at: str) -> None:
    """The term's event is out: note it on the marker and take it off the sparse listing."""
    _table.client.update_item(
        TableName=_table.name,
        Key=to_item({"pk": _pk(contract_id), "sk": f"TERMEND#{term_end.isoformat()}"}),
        UpdateExpression="SET #published = :at REMOVE #gpk, #gsk",
        ConditionExpression="attribute_exists(pk)",
        ExpressionAttributeNames={"#published": "published_at", "#gpk": "gsi1pk", "#gsk": "gsi1sk"},
        ExpressionAttributeValues={":at": to_value(published_at)},
    )


# ---- reads ---------------------------------------------------------------------------------


def visible(contract: Contract, segments: frozenset[str] | None, agency_id: str | None) -> bool:
    """Whether a caller limited to ``segments`` and ``agency_id`` may see the contract."""
    if segments is not None and contract.segment not in segments:
        return False
    return agency_id is None or contract.agency_id == agency_id


def get(
    contract_id: str,
    *,
    segments: frozenset[str] | None = None,
    agency_id: str | None = None,
) -> Contract | None:
    """The contract (read consistently), or None when it does not exist or the caller may
    not see it (the same answer: a contract's existence is not revealed)."""
    item = _table.get(_pk(contract_id), "CONTRACT")
    if item is None:
        return None
    contract = Contract.model_validate(item)
    return contract if visible(contract, segments, agency_id) else None


def list_by_account(
    account_id: str,
    *,
    status: ContractStatus | None,
    limit: int,
    after: str | None,
    segments: frozenset[str] | None,
    agency_id: str | None,
) -> tuple[list[Contract], str | None]:
    """One page of an account's contracts (optionally in one status), newest first."""
    filters = _access_filters(segments, agency_id)
    if status is not None:
        filters["status"] = [status]
    return _newest_first_page(
        "account", account_id, filters=filters, limit=limit, after=after, expect={"status": status}
    )


def list_by_status(
    status: ContractStatus,
    *,
    limit: int,
    after: str | None,
    segments: frozenset[str] | None,
    agency_id: str | None,
) -> tuple[list[Contract], str | None]:
    """One page of the contracts in ``status``, newest first."""
    return _newest_first_page(
        "status",
        status,
        filters=_access_filters(segments, agency_id),
        limit=limit,
        after=after,
        expect={"status": status},
    )


def list_ending(
    first: date,
    last: date,
    *,
    limit: int,
    after: str | None,
    segments: frozenset[str] | None,
    agency_id: str | None,
) -> tuple[list[Contract], str | None]:
    """One page of the active contracts whose latest term ends from ``first`` to ``last``
    (inclusive), soonest first: one query per end month."""
    filters = _access_filters(segments, agency_id)
    if segments is not None and not segments:
        return [], None
    start_from: str | None = None
    months = rules.months_between(first, last)
    if after is not None:
        start_from = cursor.decode(after, _ENDS_CURSOR)
        months = [m for m in months if m >= start_from[:7]]
    upper = f"{last.isoformat()}#{_AFTER_ANY_ID}"
    found: list[dict[str, Any]] = []
    next_position: str | None = None
    for month in months:
        start = None
        if start_from is not None and start_from.startswith(month):
            start = _start_key("ends", _partition("ends", month), start_from)
        items, resume = _read_partition(
            _partition("ends", month),
            between=(first.isoformat(), upper),
            newest_first=False,
            filters=filters,
            wanted=limit + 1 - len(found),
            start=start,
        )
        found += items
        if len(found) > limit:
            next_position = str(found[limit - 1]["gsi1sk"])
            break
        if resume is not None:  # read as much as one page may: go on from there
            next_position = resume
            break
    page = found[:limit]
    contracts = _contracts_of(page, segments, agency_id)
    matching = [
        c
        for c in contracts
        if c.status == "active" and c.end_date is not None and first <= c.end_date <= last
    ]
    return matching, cursor.encode(next_position) if next_position else None


def renewals_to_request(first_notice: date, last_notice: date) -> Iterator[Contract]:
    """Every contract listed as still needing its renewal quote requested, whose notice date
    is from ``first_notice`` to ``last_notice``: one query per notice month (all pages)."""
    upper = f"{last_notice.isoformat()}#{_AFTER_ANY_ID}"
    for month in rules.months_between(first_notice, last_notice):
        listed: list[dict[str, Any]] = []
        start: dict[str, Any] | None = None
        while True:
            request = _query_request(
                _partition("renewal", month),
                between=(first_notice.isoformat(), upper),
                newest_first=False,
                filters={},
                limit=_FILTERED_READ,
                start=start,
            )
            response = _table.client.query(**request)
            listed += [from_item(item) for item in response.get("Items", [])]
            last = response.get("LastEvaluatedKey")
            if not last:
                break
            start = from_item(last)
        yield from _contracts_of(listed, None, None)


def terms_over(day: date) -> Iterator[Contract]:
    """Every active contract whose current term ended before ``day``, the earliest end
    first: one query of the ``LIST#term-end`` partition (all pages), then the contracts
    read whole. A contract that no longer matches (the index lags) is the caller's to skip."""
    upper = f"{(day - timedelta(days=1)).isoformat()}#{_AFTER_ANY_ID}"
    listed: list[dict[str, Any]] = []
    start: dict[str, Any] | None = None
    while True:
        request = _query_request(
            _TERM_END_PARTITION,
            between=(_EARLIEST_DAY, upper),
            newest_first=False,
            filters={},
            limit=_FILTERED_READ,
            start=start,
        )
        response = _table.client.query(**request)
        listed += [from_item(item) for item in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        if not last:
            break
        start = from_item(last)
    yield from _contracts_of(listed, None, None)


# ---- paging helpers ------------------------------------------------------------------------

_CREATED_CURSOR = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z#contract_[0-9a-z]{1,64}")
_ENDS_CURSOR = re.compile(r"\d{4}-\d{2}-\d{2}#contract_[0-9a-z]{1,64}")


def _access_filters(segments: frozenset[str] | None, agency_id: str | None) -> dict[str, list[str]]:
    filters: dict[str, list[str]] = {}
    if segments is not None:
        filters["segment"] = sorted(segments)
    if agency_id is not None:
        filters["agency_id"] = [agency_id]
    return filters


def _start_key(listing: Listing, partition: str, position: str) -> dict[str, Any]:
    contract_id = position.rsplit("#", 1)[1]
    return {
        "pk": _pk(contract_id),
        "sk": f"LIST#{listing}",
        "gsi1pk": partition,
        "gsi1sk": position,
    }


def _newest_first_page(
    listing: Listing,
    key: str,
    *,
    filters: dict[str, list[str]],
    limit: int,
    after: str | None,
    expect: Mapping[str, str | None],
) -> tuple[list[Contract], str | None]:
    segments = frozenset(filters["segment"]) if "segment" in filters else None
    agency_id = filters["agency_id"][0] if "agency_id" in filters else None
    if segments is not None and not segments:
        return [], None
    partition = _partition(listing, key)
    start = None
    if after is not None:
        start = _start_key(listing, partition, cursor.decode(after, _CREATED_CURSOR))
    found, resume = _read_partition(
        partition, between=None, newest_first=True, filters=filters, wanted=limit + 1, start=start
    )
    page = found[:limit]
    if len(found) > limit:
        next_position: str | None = str(page[-1]["gsi1sk"])
    else:
        next_position = resume
    contracts = _contracts_of(page, segments, agency_id)
    matching = [
        c
        for c in contracts
        if all(value is None or getattr(c, name) == value for name, value in expect.items())
    ]
    return matching, cursor.encode(next_position) if next_position else None


def _read_partition(
    partition: str,
    *,
    between: tuple[str, str] | None,
    newest_first: bool,
    filters: Mapping[str, list[str]],
    wanted: int,
    start: Mapping[str, Any] | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Up to ``wanted`` listing items of one partition; with filters, at most
    ``_FILTERED_REQUESTS`` requests. Returns the items and, when it stopped before the end of
    the partition without ``wanted`` items, the position to go on from."""
    found: list[dict[str, Any]] = []
    for _ in range(_FILTERED_REQUESTS if filters else 1):
        request = _query_request(
            partition,
            between=between,
            newest_first=newest_first,
            filters=filters,
            limit=_FILTERED_READ if filters else wanted,
            start=start,
        )
        response = _table.client.query(**request)
        found += [from_item(item) for item in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        if len(found) >= wanted:
            return found, None
        if not last:
            return found, None
        start = from_item(last)
    assert start is not None
    return found, str(start["gsi1sk"])


def _query_request(
    partition: str,
    *,
    between: tuple[str, str] | None,
    newest_first: bool,
    filters: Mapping[str, list[str]],
    limit: int,
    start: Mapping[str, Any] | None,
) -> dict[str, Any]:
    names = {"#pk": "gsi1pk"}
    values: dict[str, Any] = {":pk": to_value(partition)}
    expression = "#pk = :pk"
    if between is not None:
        names["#sk"] = "gsi1sk"
        values[":from"] = to_value(between[0])
        values[":to"] = to_value(between[1])
        expression += " AND #sk BETWEEN :from AND :to"
    request: dict[str, Any] = {
        "TableName": _table.name,
        "IndexName": "gsi1",
        "KeyConditionExpression": expression,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
        "ScanIndexForward": not newest_first,
        "Limit": max(1, limit),
    }
    conditions = []
    for i, (name, allowed) in enumerate(filters.items()):
        names[f"#f{i}"] = name
        placeholders = []
        for j, value in enumerate(allowed):
            values[f":f{i}_{j}"] = to_value(value)
            placeholders.append(f":f{i}_{j}")
        conditions.append(f"#f{i} IN ({', '.join(placeholders)})")
    if conditions:
        request["FilterExpression"] = " AND ".join(conditions)
    if start is not None:
        request["ExclusiveStartKey"] = to_item(start)
    return request


def _contracts_of(
    listed: Iterable[Mapping[str, Any]], segments: frozenset[str] | None, agency_id: str | None
) -> list[Contract]:
    """The listed contracts, read whole and consistently, in the listing's order; any the
    caller may not see are left out."""
    keys = [(_pk(str(item["contract_id"])), "CONTRACT") for item in listed]
    read = _table.batch_get(keys)
    contracts = [Contract.model_validate(read[key]) for key in keys if key in read]
    return [c for c in contracts if visible(c, segments, agency_id)]


def get_many(contract_ids: Sequence[str]) -> dict[str, Contract]:
    """The contracts of ``contract_ids`` that exist (one batch read per 100; system use)."""
    read = _table.batch_get([(_pk(c), "CONTRACT") for c in contract_ids])
    return {str(item["contract_id"]): Contract.model_validate(item) for item in read.values()}
