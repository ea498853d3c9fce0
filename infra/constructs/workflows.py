"""State machines from ``resources.STATE_MACHINES`` and their ASL files.

Each ``${Placeholder}`` of an ASL file must be bound by exactly one manifest
``StateMachineTask``, and every such binding must be used by the file; anything else fails
the synth with a ``PlaceholderMismatch`` naming the file and the placeholders.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from functions import declarations
from infra import nag
from infra.settings import StageSettings

# Where the runs write the item lists their Distributed Maps read (monosub.services.billing).
ITEMS_PREFIX = "runs"
PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")


class PlaceholderMismatch(ValueError):
    """An ASL placeholder and the manifest's ``StateMachineTask`` bindings disagree."""


def placeholders_in(definition: Path) -> set[str]:
    return set(PLACEHOLDER.findall(definition.read_text(encoding="utf-8")))


def bind_placeholders(
    machine: declarations.StateMachine,
    functions: Iterable[declarations.Function],
    statemachines_dir: Path,
) -> dict[str, str]:
    """``placeholder -> function name`` for ``machine``, checked against its ASL file."""
    definition = statemachines_dir / machine.definition
    bound: dict[str, str] = {}
    for function in functions:
        for trigger in function.triggers:
            if not (
                isinstance(trigger, declarations.StateMachineTask)
                and trigger.state_machine == machine.name
            ):
                continue
            if trigger.placeholder in bound:
                raise PlaceholderMismatch(
                    f"${{{trigger.placeholder}}} of state machine {machine.name!r} is bound "
                    f"twice in functions/manifest.py: {bound[trigger.placeholder]!r} and "
                    f"{function.name!r}"
                )
            bound[trigger.placeholder] = function.name
    used = placeholders_in(definition)
    unbound = sorted(used - bound.keys())
    unused = sorted(bound.keys() - used)
    if unbound or unused:
        problems = []
        if unbound:
            problems.append(
                f"{definition.name} uses {_listed(unbound)} but no manifest StateMachineTask "
                f"for {machine.name!r} binds it"
            )
        if unused:
            problems.append(
                f"functions/manifest.py binds {_listed(unused)} for {machine.name!r} but "
                f"{definition.name} never uses it"
            )
        raise PlaceholderMismatch("; ".join(problems))
    return bound


def _listed(placeholders: list[str]) -> str:
    return ", ".join("${" + name + "}" for name in placeholders)


def state_machine_name(settings: StageSettings, machine: declarations.StateMachine) -> str:
    return f"{settings.stack_name}-{machine.name}"


def state_machine_arn(scope: Construct, name: str) -> str:
    """The ARN a state machine named ``name`` gets in ``scope``'s stack. Known before the
    state machine exists, so the functions that start it and the functions it runs can be
    created in any order without a dependency cycle."""
    return Stack.of(scope).format_arn(
        service="states",
        resource="stateMachine",
        resource_name=name,
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )


class Workflow(Construct):
    """A declared state machine: its ASL file with the task functions' ARNs substituted,
    permission to invoke exactly those functions, logs and X-Ray tracing. Named
    ``monosub-<stage>-<name>``, so its ARN is known before it exists."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        machine: declarations.StateMachine,
        definition: Path,
        tasks: Mapping[str, lambda_.IFunction],
        settings: StageSettings,
        item_bucket: s3.IBucket | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.name = state_machine_name(settings, machine)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=settings.log_retention,
            removal_policy=settings.removal_policy,
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=self.name,
            definition_body=sfn.DefinitionBody.from_file(str(definition.resolve())),
            definition_substitutions={
                placeholder: function.function_arn for placeholder, function in tasks.items()
            },
            logs=sfn.LogOptions(
                destination=self.log_group,
                level=sfn.LogLevel.ALL,
                # Inputs and outputs carry business data: logged in test stages only.
                include_execution_data=not settings.is_production,
            ),
            tracing_enabled=True,
            removal_policy=settings.removal_policy,
        )
        for function in tasks.values():
            function.grant_invoke(self.state_machine)
            nag.acknowledge(
                self,
                f"AwsSolutions-IAM5[Resource::{nag.arn_of(function)}:*]",
                "grant_invoke also allows the task function's versions and aliases "
                "(<arn>:*); the state machine invokes only this declared task function.",
            )
        if item_bucket is not None:
            self._allow_distributed_map(item_bucket)
        nag.acknowledge(
            self,
            "AwsSolutions-IAM5[Resource::*]",
            "Step Functions log delivery (logs:CreateLogDelivery and friends) and X-Ray "
            "(xray:PutTraceSegments, GetSamplingRules, ...) support no resource-level "
            "permissions; AWS documents Resource '*' for both.",
        )

    def _allow_distributed_map(self, bucket: s3.IBucket) -> None:
        """A Distributed Map reads its item list from ``bucket`` and runs each item as a
        child execution of this state machine: read the bucket, start, describe and stop its
        own executions."""
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"], resources=[bucket.arn_for_objects(f"{ITEMS_PREFIX}/*")]
            )
        )
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(
                actions=["states:StartExecution"],
                resources=[state_machine_arn(self, self.name)],
            )
        )
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(
                actions=["states:DescribeExecution", "states:StopExecution"],
                resources=[self.executions_arn],
            )
        )
        if bucket.encryption_key is not None:  # SSE-KMS (personal data): read = decrypt
            bucket.encryption_key.grant_decrypt(self.state_machine)
        self._acknowledge_executions(
            self,
            f"The Distributed Map of {self.name} describes and stops its own child "
            "executions, whose names Step Functions chooses at run time.",
        )
        nag.acknowledge(
            self,
            f"AwsSolutions-IAM5[Resource::{nag.arn_of(bucket)}/{ITEMS_PREFIX}/*]",
            "The Distributed Map reads the item lists its run's Prepare step wrote under "
            f"{ITEMS_PREFIX}/ of the exchange bucket; their names are per run.",
        )

    @property
    def executions_arn(self) -> str:
        """Every execution of this state machine (``execution:<name>:*``)."""
        return Stack.of(self).format_arn(
            service="states",
            resource="execution",
            resource_name=f"{self.name}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )

    def grant_start(self, function: lambda_.IFunction, acknowledge_on: Construct) -> None:
        """Start executions, and read the status of executions (``DescribeExecution``): a
        starter that cannot see what became of its start cannot retry or restart safely."""
        self.state_machine.grant_start_execution(function)
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["states:DescribeExecution"], resources=[self.executions_arn]
            )
        )
        self._acknowledge_executions(
            acknowledge_on,
            f"DescribeExecution on the executions of {self.name} only; execution names are "
            "chosen per run at start time, so they cannot be listed in advance.",
        )

    def grant_redrive(self, function: lambda_.IFunction, acknowledge_on: Construct) -> None:
        """Re-drive failed executions (``RedriveExecution``), nothing else: the run ledger
        knows which execution belongs to a run, so no list or describe is needed."""
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["states:RedriveExecution"], resources=[self.executions_arn]
            )
        )
        self._acknowledge_executions(
            acknowledge_on,
            f"RedriveExecution on the executions of {self.name} only; execution names are "
            "chosen per run at start time, so they cannot be listed in advance.",
        )

    def _acknowledge_executions(self, scope: Construct, reason: str) -> None:
        nag.acknowledge(
            scope,
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:"
            f"<AWS::AccountId>:execution:{self.name}:*]",
            reason,
        )
