"""Create every declared resource on the embedded AWS (moto), from the same declarations
the CDK app reads. Nothing here is re-typed: tables, indexes, buckets, buses, rules, schedules
and state machines all come from ``functions/resources.py`` and ``functions/manifest.py``."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from functions import manifest, resources
from functions.declarations import (
    DEFAULT_BUS,
    EventRule,
    ObjectCreated,
    ResourceNames,
    Schedule,
    StateMachineTask,
    Table,
)

REGION = "ap-northeast-1"
ACCOUNT = "123456789012"
STATEMACHINES = Path(__file__).resolve().parent.parent / "statemachines"
LOCAL_EMAIL_SENDER = "no-reply@monosub.example.jp"


def resource_names(stage: str = "local") -> ResourceNames:
    prefix = f"monosub-{stage}"
    return ResourceNames(
        stage=stage,
        tables={t.name: f"{prefix}-{t.name}" for t in resources.TABLES},
        buckets={b.name: f"{prefix}-{b.name}" for b in resources.BUCKETS},
        state_machines={
            m.name: f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{prefix}-{m.name}"
            for m in resources.STATE_MACHINES
        },
        event_buses={b.name: f"{prefix}-{b.name}" for b in resources.EVENT_BUSES},
        clock_parameter=f"/monosub/{stage}/business-clock",
        email_sender=LOCAL_EMAIL_SENDER,
        secrets={s.name: f"{prefix}-{s.name}" for s in resources.SECRETS},
    )


def function_arn(name: str, stage: str = "local") -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:monosub-{stage}-{name}"


def placeholder_bindings(machine: str, stage: str = "local") -> dict[str, str]:
    """``${Placeholder}`` -> function ARN for one state machine, from the manifest."""
    bindings: dict[str, str] = {}
    for function in manifest.FUNCTIONS:
        for trigger in function.triggers:
            if isinstance(trigger, StateMachineTask) and trigger.state_machine == machine:
                bindings[trigger.placeholder] = function_arn(function.name, stage)
    return bindings


def definition(machine: str, bindings: dict[str, str]) -> str:
    declared = next(m for m in resources.STATE_MACHINES if m.name == machine)
    text = (STATEMACHINES / declared.definition).read_text(encoding="utf-8")
    for placeholder, value in bindings.items():
        text = text.replace("${" + placeholder + "}", value)
    return text


def create_table(dynamodb: Any, table: Table, physical_name: str) -> None:
    attributes = {table.partition_key}
    key_schema = [{"AttributeName": table.partition_key, "KeyType": "HASH"}]
    if table.sort_key:
        attributes.add(table.sort_key)
        key_schema.append({"AttributeName": table.sort_key, "KeyType": "RANGE"})
    indexes = []
    for index in table.indexes:
        if index.retired:
            continue
        attributes.add(index.partition_key)
        schema = [{"AttributeName": index.partition_key, "KeyType": "HASH"}]
        if index.sort_key:
            attributes.add(index.sort_key)
            schema.append({"AttributeName": index.sort_key, "KeyType": "RANGE"})
        indexes.append(
            {
                "IndexName": index.name,
                "KeySchema": schema,
                "Projection": {
                    "ProjectionType": index.projection,
                    **({"NonKeyAttributes": list(index.include)} if index.include else {}),
                },
            }
        )
    request: dict[str, Any] = {
        "TableName": physical_name,
        "KeySchema": key_schema,
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in attributes],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if indexes:
        request["GlobalSecondaryIndexes"] = indexes
    dynamodb.create_table(**request)
    if table.ttl_attribute:
        dynamodb.update_time_to_live(
            TableName=physical_name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
        )


def state_machine_prefix(stage: str) -> str:
    """``arn:…:stateMachine:monosub-<stage>-``: every state machine of the stage."""
    return f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:monosub-{stage}-"


def provision_storage(
    session: Any, names: ResourceNames, secret_values: Mapping[str, str] | None = None
) -> None:
    """Tables, buckets, the clock parameter: enough for handler-level tests.

    A secret gets its value from ``secret_values`` (by logical name) when given there: what
    ops put in an ops-filled secret (the local device platform's URL and key). Any other
    gets a random value, as the deploy generates one."""
    dynamodb = session.client("dynamodb", region_name=REGION)
    for table in resources.TABLES:
        create_table(dynamodb, table, names.tables[table.name])
    s3 = session.client("s3", region_name=REGION)
    for bucket in resources.BUCKETS:
        s3.create_bucket(
            Bucket=names.buckets[bucket.name],
            CreateBucketConfiguration={"LocationConstraint": REGION},
        )
        # versioned, as infra/constructs/storage.py makes every bucket on AWS
        s3.put_bucket_versioning(
            Bucket=names.buckets[bucket.name], VersioningConfiguration={"Status": "Enabled"}
        )
    events = session.client("events", region_name=REGION)
    for bus in resources.EVENT_BUSES:
        events.create_event_bus(Name=names.event_buses[bus.name])
    if names.email_sender:
        session.client("ses", region_name=REGION).verify_email_identity(
            EmailAddress=names.email_sender
        )
    secrets_manager = session.client("secretsmanager", region_name=REGION)
    for secret in resources.SECRETS:
        secrets_manager.create_secret(
            Name=names.secrets[secret.name],
            Description=secret.purpose,
            SecretString=(secret_values or {}).get(secret.name) or secrets.token_urlsafe(48),
        )


def provision_compute(session: Any, names: ResourceNames) -> None:
    """Functions, state machines, notifications, rules and schedules."""
    stage = names.stage
    iam = session.client("iam", region_name=REGION)
    role = iam.create_role(
        RoleName=f"monosub-{stage}-lambda",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    sfn_role = iam.create_role(
        RoleName=f"monosub-{stage}-states",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    lam = session.client("lambda", region_name=REGION)
    for function in manifest.FUNCTIONS:
        lam.create_function(
            FunctionName=f"monosub-{stage}-{function.name}",
            Runtime="python3.12",
            Role=role,
            Handler=function.handler,
            Code={"ZipFile": _EMPTY_ZIP},
            Timeout=function.timeout_seconds,
            MemorySize=function.memory_mb,
            Environment={"Variables": function.environment(names)},
        )
    sfn = session.client("stepfunctions", region_name=REGION)
    for machine in resources.STATE_MACHINES:
        sfn.create_state_machine(
            name=f"monosub-{stage}-{machine.name}",
            definition=definition(machine.name, placeholder_bindings(machine.name, stage)),
            roleArn=sfn_role,
        )
    s3 = session.client("s3", region_name=REGION)
    events = session.client("events", region_name=REGION)
    notifications: dict[str, list[dict[str, Any]]] = {}
    for function in manifest.FUNCTIONS:
        for trigger in function.triggers:
            if isinstance(trigger, ObjectCreated):
                filters = [{"Name": "prefix", "Value": trigger.prefix}]
                if trigger.suffix:
                    filters.append({"Name": "suffix", "Value": trigger.suffix})
                notifications.setdefault(names.buckets[trigger.bucket], []).append(
                    {
                        "Id": function.name,
                        "LambdaFunctionArn": function_arn(function.name, stage),
                        "Events": ["s3:ObjectCreated:*"],
                        "Filter": {"Key": {"FilterRules": filters}},
                    }
                )
            elif isinstance(trigger, Schedule):
                events.put_rule(
                    Name=f"monosub-{stage}-{trigger.rule}",
                    ScheduleExpression=trigger.expression,
                    Description=trigger.description,
                )
                events.put_targets(
                    Rule=f"monosub-{stage}-{trigger.rule}",
                    Targets=[{"Id": function.name, "Arn": function_arn(function.name, stage)}],
                )
            elif isinstance(trigger, EventRule):
                bus = names.event_buses.get(trigger.bus, DEFAULT_BUS)
                events.put_rule(
                    Name=f"monosub-{stage}-{trigger.rule}",
                    EventBusName=bus,
                    EventPattern=json.dumps(trigger.pattern(state_machine_prefix(stage))),
                    Description=trigger.description,
                )
                events.put_targets(
                    Rule=f"monosub-{stage}-{trigger.rule}",
                    EventBusName=bus,
                    Targets=[{"Id": function.name, "Arn": function_arn(function.name, stage)}],
                )
    for bucket, configurations in notifications.items():
        s3.put_bucket_notification_configuration(
            Bucket=bucket,
            NotificationConfiguration={"LambdaFunctionConfigurations": configurations},
        )


def _empty_zip() -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "The embedded runtime runs the handler from the repository.")
    return buffer.getvalue()


_EMPTY_ZIP = _empty_zip()
