"""Quotes in table ``records``: the only code that knows their keys.

=====================  ===========================  =====================================
item                   pk / sk                      gsi1pk / gsi1sk
=====================  ===========================  =====================================
current version        QUOTE#<quote> / QUOTE        DEALQUOTES#<deal> / <created>#<quote>
every version          QUOTE#<quote> / V#<nnnn>
quote numbers          COUNTER#quote#<yyyy> / COUNTER   (atomic ADD: Q<yyyy>-<nnnnnn>)
=====================  ===========================  =====================================

A change writes the current item (condition: the version and status read) and the
version's item in one transaction, so the history never disagrees with the quote. A version's
item is written whole each time its status changes; a new version leaves the older ones as
they were last shown.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from monosub.models.quotes import Quote
from monosub.names import RECORDS
from monosub.store.dynamo import Table, to_item, to_value, transact

_table = Table(RECORDS)


def _pk(quote_id: str) -> str:
    return f"QUOTE#{quote_id}"


def _version_sk(version: int) -> str:
    return f"V#{version:04d}"


def _items(quote: Quote) -> tuple[dict[str, Any], dict[str, Any]]:
    body = quote.model_dump(mode="json")
    current = {
        "pk": _pk(quote.quote_id),
        "sk": "QUOTE",
        "gsi1pk": f"DEALQUOTES#{quote.deal_id}",
        "gsi1sk": f"{quote.created_at}#{quote.quote_id}",
        **body,
    }
    version = {"pk": _pk(quote.quote_id), "sk": _version_sk(quote.version), **body}
    return current, version


def get(quote_id: str) -> Quote | None:
    item = _table.get(_pk(quote_id), "QUOTE")
    return Quote.model_validate(item) if item else None


def get_version(quote_id: str, version: int) -> Quote | None:
    item = _table.get(_pk(quote_id), _version_sk(version))
    return Quote.model_validate(item) if item else None


def versions(quote_id: str) -> Iterator[Quote]:
    """Every version, newest first."""
    for item in _table.query(_pk(quote_id), sk_prefix="V#", newest_first=True):
        yield Quote.model_validate(item)


def for_deal(deal_id: str) -> Iterator[Quote]:
    """The deal's quotes (the order quote and any renewal quotes), newest first."""
    for item in _table.query(f"DEALQUOTES#{deal_id}", index="gsi1", newest_first=True):
        yield Quote.model_validate(item)


def next_number(year: int) -> int:
    """The next quote sequence of ``year`` (1, 2, …); gaps are possible, repeats are not."""
    response = _table.client.update_item(
        TableName=_table.name,
        Key=to_item({"pk": f"COUNTER#quote#{year}", "sk": "COUNTER"}),
        UpdateExpression="ADD #seq :one",
        ExpressionAttributeNames={"#seq": "seq"},
        ExpressionAttributeValues={":one": to_value(1)},
        ReturnValues="UPDATED_NEW",
    )
    return int(response["Attributes"]["seq"]["N"])


def create(quote: Quote) -> None:
    """The first version. ``TransactionConflict`` when the quote exists already."""
    current, version = _items(quote)
    transact([_table.put_operation(current), _table.put_operation(version)])


def save(quote: Quote, *, expected_version: int, expected_status: str) -> None:
    """Replace the current version (and write ``quote.version``'s item) if the quote is
    still at ``expected_version`` in ``expected_status``; ``TransactionConflict`` if not."""
    current, version = _items(quote)
    put = _table.put_operation(current, only_new=False)["Put"]
    put["ConditionExpression"] = "#version = :version AND #status = :status"
    put["ExpressionAttributeNames"] = {"#version": "version", "#status": "status"}
    put["ExpressionAttributeValues"] = {
        ":version": to_value(expected_version),
        ":status": to_value(expected_status),
    }
    transact([{"Put": put}, _table.put_operation(version, only_new=False)])
