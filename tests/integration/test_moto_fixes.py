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


# ---- queries narrowed to their partition (moto_fixes.narrowed_query) -----------------------


@pytest.fixture
def query_checked(monkeypatch):
    """Every query answered both ways (narrowed, and moto's whole-table way); a difference
    raises."""
    from local import moto_fixes

    monkeypatch.setattr(moto_fixes, "QUERY_CHECK", True)
    with EmbeddedAWS() as cloud:
        yield cloud.client("dynamodb"), cloud.table("records")


def _query_all(client, table, **kwargs):
    pages = client.get_paginator("query").paginate(TableName=table, **kwargs)
    return [(i["pk"]["S"], i["sk"]["S"]) for page in pages for i in page["Items"]]


def test_narrowed_queries_follow_every_write(query_checked):
    client, table = query_checked
    for n in range(12):
        client.put_item(
            TableName=table,
            Item={
                "pk": {"S": f"p{n % 3}"},
                "sk": {"S": f"s{n:02d}"},
                "gsi1pk": {"S": f"g{n % 2}"},
                "gsi1sk": {"S": f"{11 - n:02d}"},
            },
        )
    by_index = {
        "IndexName": "gsi1",
        "KeyConditionExpression": "gsi1pk = :g",
        "ExpressionAttributeValues": {":g": {"S": "g0"}},
        "PaginationConfig": {"PageSize": 2},
    }
    assert [sk for _, sk in _query_all(client, table, **by_index)] == [
        "s10",
        "s08",
        "s06",
        "s04",
        "s02",
        "s00",
    ]
    # a write moves an item out of the index partition, another into it, one is deleted
    client.update_item(
        TableName=table,
        Key={"pk": {"S": "p1"}, "sk": {"S": "s10"}},
        UpdateExpression="SET gsi1pk = :g",
        ExpressionAttributeValues={":g": {"S": "g1"}},
    )
    client.update_item(
        TableName=table,
        Key={"pk": {"S": "p0"}, "sk": {"S": "s09"}},
        UpdateExpression="SET gsi1pk = :g",
        ExpressionAttributeValues={":g": {"S": "g0"}},
    )
    client.delete_item(TableName=table, Key={"pk": {"S": "p2"}, "sk": {"S": "s02"}})
    assert [sk for _, sk in _query_all(client, table, **by_index)] == [
        "s09",
        "s08",
        "s06",
        "s04",
        "s00",
    ]
    # the base table: one partition, in order, with a range condition and backwards
    assert _query_all(
        client,
        table,
        KeyConditionExpression="pk = :p AND sk > :s",
        ExpressionAttributeValues={":p": {"S": "p0"}, ":s": {"S": "s03"}},
        ScanIndexForward=False,
        PaginationConfig={"PageSize": 1},
    ) == [("p0", "s09"), ("p0", "s06")]
    assert (
        _query_all(
            client,
            table,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": "nobody"}},
        )
        == []
    )


def test_a_narrowed_query_that_missed_an_item_is_caught(query_checked, monkeypatch):
    from local import moto_fixes

    client, table = query_checked
    client.put_item(TableName=table, Item={"pk": {"S": "a"}, "sk": {"S": "1"}})
    by_index = {
        "TableName": table,
        "IndexName": "gsi1",
        "KeyConditionExpression": "gsi1pk = :x",
        "ExpressionAttributeValues": {":x": {"S": "x"}},
    }
    assert client.query(**by_index)["Items"] == []  # the index's groups are made
    monkeypatch.setattr(moto_fixes, "table_written", lambda action: None)  # forget writes
    client.put_item(
        TableName=table,
        Item={"pk": {"S": "b"}, "sk": {"S": "1"}, "gsi1pk": {"S": "x"}, "gsi1sk": {"S": "1"}},
    )
    with pytest.raises(Exception, match="differs from moto's"):
        client.query(**by_index)
