"""RedriveExecution on the embedded AWS (moto lacks it; ``local/redrive.py`` adds it): the
execution continues from the state that failed with that state's input, as on AWS."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local.redrive import unsuccessful_state
from local.runtime import EmbeddedAWS


def _count(table: str, key: str, **extra: Any) -> dict[str, Any]:
    """A direct DynamoDB task that adds one to item ``key`` (how often the state ran)."""
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::dynamodb:updateItem",
        "Parameters": {
            "TableName": table,
            "Key": {"pk": {"S": key}, "sk": {"S": key}},
            "UpdateExpression": "ADD hits :one",
            "ExpressionAttributeValues": {":one": {"N": "1"}},
            **extra,
        },
        "ResultPath": f"$.{key}",
    }


@pytest.fixture
def cloud():
    with EmbeddedAWS() as embedded:
        yield embedded


@pytest.fixture
def gated(cloud):
    """First (counts) -> Gate (fails while the gate item has no 'open') -> Second (counts)."""
    table = cloud.table("records")
    gate = _count(
        table,
        "gate",
        ConditionExpression="attribute_exists(#open)",
        ExpressionAttributeNames={"#open": "open"},
    )
    definition = {
        "StartAt": "First",
        "States": {
            "First": {**_count(table, "first"), "Next": "Gate"},
            "Gate": {**gate, "Next": "Second"},
            "Second": {**_count(table, "second"), "End": True},
        },
    }
    machine = cloud.sfn.create_state_machine(
        name="gated",
        definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/states",
    )["stateMachineArn"]
    return machine, table


def _finished(cloud, arn: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        described = cloud.sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING" or time.monotonic() > deadline:
            return described
        time.sleep(0.02)


def _hits(cloud, table: str, key: str) -> int:
    item = cloud.client("dynamodb").get_item(
        TableName=table, Key={"pk": {"S": key}, "sk": {"S": key}}
    )
    return int(item.get("Item", {}).get("hits", {}).get("N", 0))


def test_a_failed_execution_continues_from_the_failed_state(cloud, gated):
    machine, table = gated
    arn = cloud.sfn.start_execution(
        stateMachineArn=machine, name=str(uuid.uuid4()), input='{"order": 7}'
    )["executionArn"]
    failed = _finished(cloud, arn)
    assert failed["status"] == "FAILED"
    assert failed["redriveStatus"] == "REDRIVABLE" and failed["redriveCount"] == 0

    cloud.client("dynamodb").put_item(
        TableName=table, Item={"pk": {"S": "gate"}, "sk": {"S": "gate"}, "open": {"BOOL": True}}
    )
    assert "redriveDate" in cloud.sfn.redrive_execution(executionArn=arn)
    done = _finished(cloud, arn)

    assert done["status"] == "SUCCEEDED"
    assert (done["executionArn"], done["startDate"]) == (arn, failed["startDate"])
    assert done["redriveCount"] == 1 and "redriveDate" in done
    assert done["redriveStatus"] == "NOT_REDRIVABLE"
    output = json.loads(done["output"])
    assert output["order"] == 7 and {"first", "gate", "second"} <= set(output)
    assert [_hits(cloud, table, k) for k in ("first", "gate", "second")] == [1, 1, 1]
    events = cloud.sfn.get_execution_history(executionArn=arn)["events"]
    assert [e["id"] for e in events] == list(range(1, len(events) + 1)), "one history"
    kinds = [e["type"] for e in events]
    assert kinds.index("ExecutionFailed") < kinds.index("ExecutionRedriven")
    assert kinds[-1] == "ExecutionSucceeded"
    redriven = events[kinds.index("ExecutionRedriven")]
    assert redriven["executionRedrivenEventDetails"] == {"redriveCount": 1}
    entered = [
        e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e
    ]
    assert entered == ["First", "Gate", "Gate", "Second"]


def test_only_unsuccessful_executions_can_be_redriven(cloud, gated):
    machine, table = gated
    cloud.client("dynamodb").put_item(
        TableName=table, Item={"pk": {"S": "gate"}, "sk": {"S": "gate"}, "open": {"BOOL": True}}
    )
    arn = cloud.sfn.start_execution(stateMachineArn=machine, name=str(uuid.uuid4()))["executionArn"]
    assert _finished(cloud, arn)["status"] == "SUCCEEDED"
    with pytest.raises(ClientError) as refused:
        cloud.sfn.redrive_execution(executionArn=arn)
    assert refused.value.response["Error"]["Code"] == "ExecutionNotRedrivable"
    with pytest.raises(ClientError) as unknown:
        cloud.sfn.redrive_execution(executionArn=arn.rsplit(":", 1)[0] + ":nope")
    assert unknown.value.response["Error"]["Code"] == "ExecutionDoesNotExist"


def _entered(name: str) -> dict[str, Any]:
    return {
        "type": "TaskStateEntered",
        "stateEnteredEventDetails": {"name": name, "input": json.dumps({"at": name})},
    }


def _exited(name: str) -> dict[str, Any]:
    return {"type": "TaskStateExited", "stateExitedEventDetails": {"name": name}}


def test_the_unsuccessful_state_is_the_last_one_entered_and_not_exited():
    states = {"A", "B", "C"}
    history = [_entered("A"), _exited("A"), _entered("B"), {"type": "ExecutionFailed"}]
    assert unsuccessful_state(history, states) == ("B", '{"at": "B"}')
    # after a first re-drive that got further
    history += [{"type": "ExecutionRedriven"}, _entered("B"), _exited("B"), _entered("C")]
    assert unsuccessful_state(history, states) == ("C", '{"at": "C"}')
    # states of a nested Map iteration are not top-level states
    assert unsuccessful_state([_entered("A"), _exited("A"), _entered("Inner")], states) is None
    # a loop: A ran twice, the second time it did not finish
    assert unsuccessful_state([_entered("A"), _exited("A"), _entered("A")], states) == (
        "A",
        '{"at": "A"}',
    )
