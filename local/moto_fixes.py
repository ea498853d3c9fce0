"""Replacements for moto internals that make the embedded AWS wrong or too slow.

``transact_write_items``: moto deep-copies the whole table once per operation of every
transaction to be able to roll back. With a few thousand items that is a second and
hundreds of MB per transaction, growing with the table: a test of moto, not of monosub.
This version keeps DynamoDB's semantics (all conditions checked first; all or nothing;
the same cancellation reasons) by checking every condition before writing anything and, in
case a write itself fails, restoring only the items it touched. It runs under the runtime's
DynamoDB lock, so no other request interleaves.
"""

from __future__ import annotations

import base64
import copy
import inspect
import json
import os
from typing import Any

from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)

_OPERATIONS = {"ConditionCheck", "Put", "Delete", "Update"}


def transact_write_items(backend: Any, transact_items: list[dict[str, Any]]) -> None:
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    seen: set[tuple[str, str]] = set()
    planned: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    errors: list[tuple[Any, Any, Any]] = []
    for entry in transact_items:
        if len(entry) > 1:
            raise TransactWriteSingleOpException
        op_type, op = next(iter(entry.items()))
        if op_type not in _OPERATIONS:
            raise ValueError("Unsupported transaction operation")
        table_name = op["TableName"]
        table = backend.get_table(table_name)
        if op_type == "Put":
            attrs = op["Item"]
            key = {table.hash_key_attr: attrs[table.hash_key_attr]}
            if table.range_key_attr is not None:
                key[table.range_key_attr] = attrs[table.range_key_attr]
        else:
            key = op["Key"]
        identity = (str(table_name), str(dict(sorted(key.items()))))
        if identity in seen:
            raise MultipleTransactionsException()
        seen.add(identity)
        current = backend.get_item(table_name, key)
        condition = op.get("ConditionExpression")
        if condition is not None:
            check = get_filter_expression(
                condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            )
            if not check.expr(current):
                old = None
                if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                    old = current.to_json()["Attributes"]
                failure = ConditionalCheckFailed(item=old)
                errors.append(("ConditionalCheckFailed", str(failure.message), old))
                continue
        errors.append((None, None, None))
        planned.append((op_type, op, key))
    if any(code is not None for code, _, _ in errors):
        raise TransactionCanceledException(errors)
    _apply(backend, planned)


def _apply(backend: Any, planned: list[tuple[str, dict[str, Any], dict[str, Any]]]) -> None:
    """Write every planned operation; if one fails, put back the items already written."""
    originals: list[tuple[str, dict[str, Any], Any]] = []
    try:
        for op_type, op, key in planned:
            table_name = op["TableName"]
            if op_type == "ConditionCheck":
                continue
            originals.append((table_name, key, copy.deepcopy(backend.get_item(table_name, key))))
            names = op.get("ExpressionAttributeNames")
            values = op.get("ExpressionAttributeValues")
            if op_type == "Put":
                backend.put_item(
                    table_name,
                    op["Item"],
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
            elif op_type == "Delete":
                backend.delete_item(
                    table_name,
                    key,
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
            else:
                backend.update_item(
                    table_name,
                    key,
                    update_expression=op["UpdateExpression"],
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
    except Exception:
        for table_name, key, original in reversed(originals):
            if original is None:
                backend.delete_item(table_name, key)
            else:
                backend.put_item(table_name, original.to_json()["Attributes"])
        raise


# ---- DynamoDB answers that carry items, serialized directly ---------------------------------
# moto answers every request through a generic serializer that walks the operation's output
# shape value by value: for each attribute value of each item it tries the ten members of
# AttributeValue with alias lookups. A BatchGetItem of 100 billing accounts (≈30 attributes
# each) took ≈0.3 s, 85% of it in that walk: most of what a month-end batch cost here, and
# nothing AWS spends. The items moto hands over are already in DynamoDB's JSON wire form
# (typed values, binary as base64 text), so for the operations that return items the
# answer is that dict dumped as JSON. The same check the tests run (``FAST_ANSWER_CHECK``):
# with it set, every fast answer is compared with the generic serializer's, parsed, and a
# difference raises.

FAST_ANSWER_OPERATIONS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan"})
# Checks of the fast paths against moto's own code (tests set them; a whole run can too:
# ``MONOSUB_CHECK_MOTO_FIXES=1 pytest tests/integration``).
_CHECK_ALL = os.environ.get("MONOSUB_CHECK_MOTO_FIXES") == "1"
# Without the speed-ups below (moto's own answers and queries), to measure what they save:
# ``MONOSUB_MOTO_AS_IS=1`` (the transaction fix above stays: it is about correctness).
MOTO_AS_IS = os.environ.get("MONOSUB_MOTO_AS_IS") == "1"
FAST_ANSWER_CHECK = _CHECK_ALL


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"not serializable in a DynamoDB answer: {type(value).__name__}")


def fast_item_answers(original: Any) -> Any:
    """``DynamoResult.execute_result`` for the item-returning operations: the result dict as
    JSON, no shape walk. Anything else (errors, other operations) goes to ``original``."""

    def execute_result(result: Any, context: Any) -> tuple[int, dict[str, str], str]:
        operation = context.operation_model.name
        value = result.result
        if operation not in FAST_ANSWER_OPERATIONS or not isinstance(value, dict):
            return original(result, context)
        body = json.dumps(_without_none(value), default=_json_default, separators=(",", ":"))
        answer = (200, {"Content-Type": "application/x-amz-json-1.0"}, body)
        if FAST_ANSWER_CHECK:
            status, _, expected = original(result, context)
            if (status, json.loads(expected)) != (200, json.loads(body)):
                raise AssertionError(
                    f"the fast {operation} answer differs from moto's: {body[:300]} != "
                    f"{str(expected)[:300]}"
                )
        return answer

    return execute_result


def _without_none(value: Any) -> Any:
    """The result without None members (the generic serializer leaves them out)."""
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value


# ---- queries without sorting and scanning the whole table each time ------------------------
# moto answers a Query by listing every item of the table sorted by key (``all_items``), then
# keeping those of the asked partition, then sorting those: at each page of each query. With
# 40,000 items in the billing table that was ≈0.25 s a query, and the month-end run's 29
# closing-day partitions (and each page of the large one) paid it again and again. Here:
#   - the sorted list of all items is kept until the next write to any table (the runtime
#     counts every request that is not a read: ``table_written``);
#   - a base-table query looks at its own partition only (moto keeps items by partition);
#   - an index query looks at the items whose index partition key has the asked value
#     (grouped once per list of all items).
# moto's own code does the rest (conditions, order, pages, filters), on those candidates.
# ``QUERY_CHECK`` (tests) runs every query both ways and raises if the answers differ.

QUERY_CHECK = _CHECK_ALL
_written = [0]  # how many requests that may have changed items: the caches' generation
_all_items_cache: dict[int, tuple[int, Any, list[Any]]] = {}
_groups_cache: dict[tuple[int, str], tuple[int, Any, dict[Any, list[Any]]]] = {}
READ_ACTIONS = frozenset(
    {
        "GetItem",
        "BatchGetItem",
        "Query",
        "Scan",
        "TransactGetItems",
        "DescribeTable",
        "ListTables",
        "DescribeTimeToLive",
        "ListTagsOfResource",
        "DescribeContinuousBackups",
    }
)


def table_written(action: str) -> None:
    """Called for every DynamoDB request: anything but a read may change items."""
    if action not in READ_ACTIONS:
        _written[0] += 1


def cached_all_items(original: Any) -> Any:
    def all_items(table: Any) -> list[Any]:
        candidates = table.__dict__.get("_query_candidates")
        if candidates is not None:
            return candidates
        if table.__dict__.get("_uncached"):
            return original(table)
        cached = _all_items_cache.get(id(table))
        if cached is None or cached[0] != _written[0] or cached[1] is not table:
            cached = (_written[0], table, original(table))
            _all_items_cache[id(table)] = cached
        return cached[2]

    return all_items


def _group_of(table: Any, attribute: str, value: Any) -> list[Any]:
    key = (id(table), attribute)
    cached = _groups_cache.get(key)
    if cached is None or cached[0] != _written[0] or cached[1] is not table:
        groups: dict[Any, list[Any]] = {}
        for item in table.all_items():
            found = item.attrs.get(attribute)
            if found is not None:
                groups.setdefault((found.type, _hashable(found.value)), []).append(item)
        cached = (_written[0], table, groups)
        _groups_cache[key] = cached
    return cached[2].get((value.type, _hashable(value.value)), [])


def _hashable(value: Any) -> Any:
    return value if isinstance(value, str | bytes | int) else repr(value)


def narrowed_query(original: Any) -> Any:
    signature = inspect.signature(original)

    def query(table: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(table, hash_key, *args, **kwargs).arguments
        index_name = bound.get("index_name")
        conditions = bound.get("hash_key_conditions") or []
        if index_name:
            if len(conditions) != 1:
                return original(table, hash_key, *args, **kwargs)
            attribute, value = conditions[0]
            candidates = list(_group_of(table, attribute, value))
        else:
            partition = table.items.get(hash_key) if hash_key is not None else None
            if partition is None:
                candidates = []
            elif table.range_key_attr:
                candidates = list(partition.values())
            else:
                candidates = [partition]
        table._query_candidates = candidates
        try:
            answer = original(table, hash_key, *args, **kwargs)
        finally:
            del table._query_candidates
        if QUERY_CHECK:
            table._uncached = True
            try:
                expected = original(table, hash_key, *args, **kwargs)
            finally:
                del table._uncached
            if _answer_keys(answer) != _answer_keys(expected):
                raise AssertionError(
                    f"the narrowed query of {table.name} ({index_name}) differs from moto's"
                )
        return answer

    return query


def _answer_keys(answer: Any) -> Any:
    items, scanned, last = answer
    return [item.to_json() for item in items], scanned, last
