"""The embedded runtime's TransactWriteItems keeps DynamoDB's all-or-nothing semantics."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from local.runtime import EmbeddedAWS


@pytest.fixture
def dynamodb():
    with EmbeddedAWS() as cloud:
        yield cloud.client("dynamodb"), cloud.table("records")


def put(table, pk, condition=True):
    operation = {"Put": {"TableName": table, "Item": {"pk": {"S": pk}, "sk": {"S": "x"}}}}
    if condition:
        operation["Put"]["ConditionExpression"] = "attribute_not_exists(pk)"
    return operation


def keys(client, table):
    return sorted(i["pk"]["S"] for i in client.scan(TableName=table)["Items"])


def test_a_failed_condition_cancels_every_write_with_reasons(dynamodb):
    client, table = dynamodb
    client.transact_write_items(TransactItems=[put(table, "a")])
    with pytest.raises(ClientError) as raised:
        client.transact_write_items(TransactItems=[put(table, "b"), put(table, "a")])
    error = raised.value.response
    assert error["Error"]["Code"] == "TransactionCanceledException"
    assert [r["Code"] for r in error["CancellationReasons"]] == ["None", "ConditionalCheckFailed"]
    assert keys(client, table) == ["a"]


def test_a_write_that_fails_midway_is_rolled_back(dynamodb):
    client, table = dynamodb
    client.put_item(TableName=table, Item={"pk": {"S": "c"}, "sk": {"S": "x"}, "n": {"N": "1"}})
    bad_update = {
        "Update": {
            "TableName": table,
            "Key": {"pk": {"S": "c"}, "sk": {"S": "x"}},
            "UpdateExpression": "SET n = n + :text",  # adding a string to a number fails
            "ExpressionAttributeValues": {":text": {"S": "oops"}},
        }
    }
    with pytest.raises(ClientError):
        client.transact_write_items(TransactItems=[put(table, "d"), bad_update])
    assert keys(client, table) == ["c"]
    item = client.get_item(TableName=table, Key={"pk": {"S": "c"}, "sk": {"S": "x"}})["Item"]
    assert item["n"] == {"N": "1"}


def test_two_operations_on_one_item_are_refused(dynamodb):
    client, table = dynamodb
    with pytest.raises(ClientError) as raised:
        client.transact_write_items(TransactItems=[put(table, "e"), put(table, "e", False)])
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert keys(client, table) == []


# ---- item answers serialized directly (moto_fixes.fast_item_answers) -----------------------


@pytest.fixture
def checked(monkeypatch):
    """Every fast answer compared with moto's generic serializer (a difference raises)."""
    from local import moto_fixes

    monkeypatch.setattr(moto_fixes, "FAST_ANSWER_CHECK", True)
    with EmbeddedAWS() as cloud:
        yield cloud.client("dynamodb"), cloud.table("records")


EVERY_TYPE = {
    "s": {"S": "日本語 text"},
    "n": {"N": "-12.50"},
    "b": {"B": b"\x00\x01packed\xff"},
    "t": {"BOOL": True},
    "z": {"NULL": True},
    "l": {"L": [{"S": "a"}, {"N": "1"}, {"B": b"\x02"}, {"M": {"x": {"BOOL": False}}}]},
    "m": {"M": {"inner": {"L": [{"NULL": True}]}, "bytes": {"B": b"\x03\x04"}}},
    "ss": {"SS": ["b", "a"]},
    "ns": {"NS": ["2", "1.5"]},
    "bs": {"BS": [b"\x05", b"\x06"]},
}


def _put_every_type(client, table, count):
    for n in range(count):
        item = {"pk": {"S": f"p{n % 2}"}, "sk": {"S": f"s{n:03d}"}, **EVERY_TYPE}
        item |= {"gsi1pk": {"S": "all"}, "gsi1sk": {"S": f"{n:03d}"}}
        client.put_item(TableName=table, Item=item)


def test_item_answers_equal_the_generic_serializers(checked):
    client, table = checked
    _put_every_type(client, table, 7)
    key = {"pk": {"S": "p0"}, "sk": {"S": "s000"}}
    got = client.get_item(TableName=table, Key=key)["Item"]
    assert got["b"] == {"B": b"\x00\x01packed\xff"} and got["bs"]["BS"] == [b"\x05", b"\x06"]
    assert got["m"]["M"]["bytes"] == {"B": b"\x03\x04"} and got["n"] == {"N": "-12.50"}
    assert "Item" not in client.get_item(TableName=table, Key={**key, "sk": {"S": "none"}})
    projected = client.get_item(
        TableName=table,
        Key=key,
        ProjectionExpression="#s, m.inner",
        ExpressionAttributeNames={"#s": "s"},
        ReturnConsumedCapacity="TOTAL",
    )
    assert set(projected["Item"]) == {"s", "m"} and projected["ConsumedCapacity"]
    read = client.batch_get_item(
        RequestItems={
            table: {
                "Keys": [key, {"pk": {"S": "p1"}, "sk": {"S": "s001"}}, {**key, "sk": {"S": "x"}}]
            }
        },
        ReturnConsumedCapacity="INDEXES",
    )
    assert len(read["Responses"][table]) == 2 and read["UnprocessedKeys"] == {}
    pages = client.get_paginator("query").paginate(
        TableName=table,
        IndexName="gsi1",
        KeyConditionExpression="gsi1pk = :a",
        ExpressionAttributeValues={":a": {"S": "all"}},
        ScanIndexForward=False,
        PaginationConfig={"PageSize": 3},
    )
    assert [i["gsi1sk"]["S"] for p in pages for i in p["Items"]] == [
        f"{n:03d}" for n in range(6, -1, -1)
    ]
    counted = client.query(
        TableName=table,
        KeyConditionExpression="pk = :p",
        FilterExpression="t = :t",
        ExpressionAttributeValues={":p": {"S": "p0"}, ":t": {"BOOL": True}},
        Select="COUNT",
    )
    assert counted["Count"] == 4 and "Items" not in counted
    scanned = [
        i
        for p in client.get_paginator("scan").paginate(TableName=table, Limit=2)
        for i in p["Items"]
    ]
    assert len(scanned) == 7


def test_a_difference_from_moto_is_caught(checked, monkeypatch):
    """The check can fail: an answer that drops the items differs from moto's."""
    from local import moto_fixes

    client, table = checked
    _put_every_type(client, table, 1)
    monkeypatch.setattr(moto_fixes, "_without_none", lambda value: {})
    with pytest.raises(Exception, match="differs from moto's"):
        client.scan(TableName=table)
