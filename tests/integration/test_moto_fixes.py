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
