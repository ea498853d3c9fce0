"""Thin DynamoDB helpers over the low-level client. Only ``monosub.store`` imports this.

Items are plain dicts of Python values; numbers come back as ``Decimal`` (money stays exact).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from monosub import aws, config

BATCH_WRITE_LIMIT = 25
BATCH_GET_LIMIT = 100  # keys per BatchGetItem
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    """Serialize a dict for DynamoDB; ``None`` values are left out, floats refused."""
    return {k: _serializer.serialize(_plain(v)) for k, v in values.items() if v is not None}


def to_value(value: Any) -> dict[str, Any]:
    serialized: dict[str, Any] = dict(_serializer.serialize(_plain(value)))
    return serialized


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        raise TypeError("floats are not stored: use Decimal or int")
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


class Table:
    """One declared table, by its logical name from ``functions/resources.py``."""

    def __init__(self, logical_name: str) -> None:
        self.logical_name = logical_name

    @property
    def name(self) -> str:
        return config.table_name(self.logical_name)

    @property
    def client(self) -> Any:
        return aws.client("dynamodb")

    def get(
        self, pk: str, sk: str | None = None, *, consistent: bool = True
    ) -> dict[str, Any] | None:
        key = {"pk": pk} if sk is None else {"pk": pk, "sk": sk}
        response = self.client.get_item(
            TableName=self.name, Key=to_item(key), ConsistentRead=consistent
        )
        item = response.get("Item")
        return from_item(item) if item else None

    def query(
        self,
        pk_value: str,
        *,
        index: str | None = None,
        sk_prefix: str | None = None,
        newest_first: bool = False,
        limit: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Items of one partition, paged, optionally under a sort-key prefix."""
        pk_attr, sk_attr = ("pk", "sk") if index is None else (f"{index}pk", f"{index}sk")
        expression = "#pk = :pk"
        names = {"#pk": pk_attr}
        values: dict[str, Any] = {":pk": to_value(pk_value)}
        if sk_prefix is not None:
            expression += " AND begins_with(#sk, :sk)"
            names["#sk"] = sk_attr
            values[":sk"] = to_value(sk_prefix)
        request: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": not newest_first,
        }
        if index is not None:
            request["IndexName"] = index
        returned = 0
        while True:
            if limit is not None:
                request["Limit"] = limit - returned
            response = self.client.query(**request)
            for item in response.get("Items", []):
                returned += 1
                yield from_item(item)
            last = response.get("LastEvaluatedKey")
            if not last or (limit is not None and returned >= limit):
                return
            request["ExclusiveStartKey"] = last

    def put_new(self, item: Mapping[str, Any]) -> bool:
        """Put an item only if its key is free; False when it already exists."""
        try:
            self.client.put_item(
                TableName=self.name,
                Item=to_item(item),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def batch_get(
        self, keys: Sequence[tuple[str, str]], *, attempts: int = 6
    ) -> dict[tuple[str, str], dict[str, Any]]:
        """The items of ``keys`` (pk, sk) that exist, read consistently, 100 keys a call;
        unprocessed keys are asked again with a short back-off."""
        read: dict[tuple[str, str], dict[str, Any]] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), BATCH_GET_LIMIT):
            request: dict[str, Any] = {
                self.name: {
                    "Keys": [
                        to_item({"pk": pk, "sk": sk})
                        for pk, sk in unique[start : start + BATCH_GET_LIMIT]
                    ],
                    "ConsistentRead": True,
                }
            }
            for attempt in range(attempts):
                response = self.client.batch_get_item(RequestItems=request)
                for raw in response.get("Responses", {}).get(self.name, []):
                    item = from_item(raw)
                    read[(str(item["pk"]), str(item["sk"]))] = item
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(0.01 * 2**attempt)
            else:
                raise RuntimeError(f"table {self.logical_name} kept throttling a batch read")
        return read

    def batch_put(self, items: Sequence[Mapping[str, Any]], *, attempts: int = 8) -> int:
        """Put ``items`` (overwriting), 25 a call, unprocessed ones sent again with a short
        back-off; returns the number of calls (what a run's request count needs)."""
        calls = 0
        for start in range(0, len(items), BATCH_WRITE_LIMIT):
            request: dict[str, Any] = {
                self.name: [
                    {"PutRequest": {"Item": to_item(item)}}
                    for item in items[start : start + BATCH_WRITE_LIMIT]
                ]
            }
            for attempt in range(attempts):
                calls += 1
                response = self.client.batch_write_item(RequestItems=request)
                request = response.get("UnprocessedItems") or {}
                if not request:
                    break
                time.sleep(0.01 * 2**attempt)
            else:
                raise RuntimeError(f"table {self.logical_name} kept throttling a batch write")
        return calls

    def put(self, item: Mapping[str, Any]) -> None:
        self.client.put_item(TableName=self.name, Item=to_item(item))

    def put_operation(
        self,
        item: Mapping[str, Any],
        *,
        only_new: bool = True,
        condition: str | None = None,
        condition_values: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A ``Put`` for ``transact``: only a new item, or (``condition``) only over an item
        the condition holds for."""
        put: dict[str, Any] = {"TableName": self.name, "Item": to_item(item)}
        if condition:
            put["ConditionExpression"] = condition
            put["ExpressionAttributeValues"] = {
                name: to_value(value) for name, value in (condition_values or {}).items()
            }
        elif only_new:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        return {"Put": put}

    def update_operation(
        self,
        pk: str,
        sk: str,
        *,
        set_values: Mapping[str, Any],
        condition: str | None = None,
        condition_values: Mapping[str, Any] | None = None,
        add_values: Mapping[str, Any] | None = None,
        remove: Sequence[str] = (),
        delete_values: Mapping[str, set[str]] | None = None,
    ) -> dict[str, Any]:
        """An ``Update`` for ``transact`` (or ``update``): SET, ADD (a number, or a set of
        strings to add to a string set), REMOVE, and DELETE (strings taken out of a string
        set), with a condition."""
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        sets = []
        for i, (name, value) in enumerate(set_values.items()):
            names[f"#s{i}"] = name
            values[f":s{i}"] = to_value(value)
            sets.append(f"#s{i} = :s{i}")
        adds = []
        for i, (name, value) in enumerate((add_values or {}).items()):
            names[f"#a{i}"] = name
            values[f":a{i}"] = to_value(value)
            adds.append(f"#a{i} :a{i}")
        removes = []
        for i, name in enumerate(remove):
            names[f"#r{i}"] = name
            removes.append(f"#r{i}")
        deletes = []
        for i, (name, value) in enumerate((delete_values or {}).items()):
            names[f"#d{i}"] = name
            values[f":d{i}"] = to_value(value)
            deletes.append(f"#d{i} :d{i}")
        expression = ""
        if sets:
            expression += "SET " + ", ".join(sets)
        if adds:
            expression += " ADD " + ", ".join(adds)
        if removes:
            expression += " REMOVE " + ", ".join(removes)
        if deletes:
            expression += " DELETE " + ", ".join(deletes)
        update: dict[str, Any] = {
            "TableName": self.name,
            "Key": to_item({"pk": pk, "sk": sk}),
            "UpdateExpression": expression.strip(),
            "ExpressionAttributeNames": names,
        }
        if condition:
            update["ConditionExpression"] = condition
            for name, value in (condition_values or {}).items():
                values[name] = to_value(value)
            for token in re.findall(r"#[A-Za-z0-9_]+", condition):
                names.setdefault(token, token[1:])
        if values:
            update["ExpressionAttributeValues"] = values
        return {"Update": update}

    def update(self, pk: str, sk: str, **kwargs: Any) -> bool:
        """Apply ``update_operation``; False when its condition does not hold."""
        request = self.update_operation(pk, sk, **kwargs)["Update"]
        try:
            self.client.update_item(**request)
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True


class TransactionConflict(Exception):
    """A transaction was cancelled because one of its conditions failed."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__(f"transaction cancelled: {reasons}")
        self.reasons = reasons


def transact(operations: list[dict[str, Any]]) -> None:
    """All or nothing (up to 100 operations)."""
    client = aws.client("dynamodb")
    try:
        client.transact_write_items(TransactItems=operations)
    except client.exceptions.TransactionCanceledException as error:
        reasons = [r.get("Code", "") for r in error.response.get("CancellationReasons", [])]
        raise TransactionConflict(reasons) from error
