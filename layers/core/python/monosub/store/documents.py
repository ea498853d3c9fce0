"""Customer documents in table ``records``: the only code that knows their keys.

==================  =============================  ===========================================
item                pk / sk                        gsi1pk / gsi1sk
==================  =============================  ===========================================
document            DOCUMENT#<id> / DOCUMENT       DOCUMENTS#account#<account> / <created>#<id>
listed by deal      DOCUMENT#<id> / LIST#deal      DOCUMENTS#deal#<deal> / <created>#<id>
listed by contract  DOCUMENT#<id> / LIST#contract  DOCUMENTS#contract#<contract> / <created>#<id>
==================  =============================  ===========================================

A document has its own partition (so reading an account's record, ``ACCOUNT#<id>``, never
reads its documents); its account listing is the document item's own gsi1 entry, and a
deal or contract listing is a listing item in the document's partition holding a full copy
(gsi1 projects every attribute): "documents of account X / deal Y / contract Z" is one Query
each and no second read. Every write puts the document and its listing items in one
transaction, so a listing never disagrees with the document.
"""

from __future__ import annotations

import re
from typing import Any

from monosub import access
from monosub.access import Scope
from monosub.models.documents import Document
from monosub.names import RECORDS
from monosub.store import cursor
from monosub.store.dynamo import Table, TransactionConflict, from_item, to_value, transact

_table = Table(RECORDS)
_SK = "DOCUMENT"
_CURSOR = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z#document_[0-9a-z]{1,64}")
_HIGHEST = "~"  # sorts after every position


def _pk(document_id: str) -> str:
    return f"DOCUMENT#{document_id}"


def by_account(account_id: str) -> str:
    return f"DOCUMENTS#account#{account_id}"


def by_deal(deal_id: str) -> str:
    return f"DOCUMENTS#deal#{deal_id}"


def by_contract(contract_id: str) -> str:
    return f"DOCUMENTS#contract#{contract_id}"


def _items(document: Document) -> list[dict[str, Any]]:
    body = document.model_dump(mode="json")
    position = f"{document.created_at}#{document.document_id}"
    pk = _pk(document.document_id)
    items = [{"pk": pk, "sk": _SK, "gsi1pk": by_account(document.account_id), **body}]
    if document.deal_id:
        items.append({"pk": pk, "sk": "LIST#deal", "gsi1pk": by_deal(document.deal_id), **body})
    if document.contract_id:
        items.append(
            {"pk": pk, "sk": "LIST#contract", "gsi1pk": by_contract(document.contract_id), **body}
        )
    for item in items:
        item["gsi1sk"] = position
    return items


def get(document_id: str) -> Document | None:
    """The document, read consistently (whoever may see it: the caller checks)."""
    item = _table.get(_pk(document_id), _SK)
    return Document.model_validate(item) if item else None


def create(document: Document) -> bool:
    """The new document with its listing items; False when its id exists already (a
    derived id: the same file attached again)."""
    try:
        transact([_table.put_operation(item) for item in _items(document)])
    except TransactionConflict:
        return False
    return True


def save(document: Document, *, expected_version: int, expected_status: str) -> bool:
    """Replace the document and its listing items if it is still at ``expected_version`` in
    ``expected_status``; False when it changed meanwhile (someone else decided it)."""
    operations = []
    for item in _items(document):
        put = _table.put_operation(item, only_new=False)["Put"]
        if item["sk"] == _SK:
            put["ConditionExpression"] = "#version = :version AND #status = :status"
            put["ExpressionAttributeNames"] = {"#version": "version", "#status": "status"}
            put["ExpressionAttributeValues"] = {
                ":version": to_value(expected_version),
                ":status": to_value(expected_status),
            }
        operations.append({"Put": put})
    try:
        transact(operations)
    except TransactionConflict:
        return False
    return True


def page(
    partition: str, *, scope: Scope, limit: int, after: str | None
) -> tuple[list[Document], str | None]:
    """One page of a listing partition, newest first, and the next page's token. Items the
    caller may not see (another agency's deal's documents inside an account it registered)
    are left out after the read, so a page may be short and still carry ``next``."""
    before = _HIGHEST if after is None else cursor.decode(after, _CURSOR)
    response = _table.client.query(
        TableName=_table.name,
        IndexName="gsi1",
        KeyConditionExpression="#pk = :pk AND #sk < :before",
        ExpressionAttributeNames={"#pk": "gsi1pk", "#sk": "gsi1sk"},
        ExpressionAttributeValues={":pk": to_value(partition), ":before": to_value(before)},
        ScanIndexForward=False,
        Limit=limit + 1,
    )
    items = [from_item(item) for item in response.get("Items", [])]
    read = items[:limit]
    documents = [
        document
        for document in (Document.model_validate(item) for item in read)
        if access.visible(scope, segment=document.segment, agency_id=document.agency_id)
    ]
    more = len(items) > limit
    return documents, cursor.encode(str(read[-1]["gsi1sk"])) if more else None
