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
import json
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
FAST_ANSWER_CHECK = False  # tests/integration set it: each fast answer checked against moto's


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
