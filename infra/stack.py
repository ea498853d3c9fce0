"""The monosub stack of one stage, built entirely from ``functions/resources.py`` and
``functions/manifest.py``: nothing here names a handler, a table or a route."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Duration, NestedStack, Stack
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_ses as ses
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from functions import declarations, manifest, resources
from functions.declarations import Access
from infra import nag
from infra.checks import check_functions
from infra.constructs.api import Api, SignIn
from infra.constructs.bank_transfer import BankSftpConnector
from infra.constructs.firewall import ApiFirewall
from infra.constructs.functions import DeclaredFunction, functions_code
from infra.constructs.layers import Layers
from infra.constructs.operations import ASYNC_TRIGGERS, Operations
from infra.constructs.storage import Storage
from infra.constructs.workflows import (
    Workflow,
    bind_placeholders,
    state_machine_arn,
    state_machine_name,
)
from infra.settings import STATEMACHINES, StageSettings, pascal
from monosub.domain import sign_in

# CDK's singleton Lambda behind S3 bucket notifications (one per stack, created by
# Bucket.add_event_notification); its construct id is fixed by aws-cdk-lib.
BUCKET_NOTIFICATIONS_HANDLER = "BucketNotificationsHandler050a0587b7544547bf325f094a3db834"


class MonosubStack(Stack):
    def __init__(
        self,
        scope: Construct,
        settings: StageSettings,
        *,
        functions: Sequence[declarations.Function] = manifest.FUNCTIONS,
        statemachines_dir: Path = STATEMACHINES,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope,
            settings.stack_name,
            description=f"monosub order-to-cash back office ({settings.name})",
            **kwargs,
        )
        self.settings = settings
        check_functions(functions)
        self.email_sender = str(self.node.try_get_context("email_sender") or settings.email_sender)
        self.sender_identity = ses.EmailIdentity(
            self, "EmailSender", identity=ses.Identity.email(self.email_sender)
        )
        bindings = {
            machine.name: bind_placeholders(machine, functions, statemachines_dir)
            for machine in resources.STATE_MACHINES
        }

        self.storage = Storage(
            self,
            "Storage",
            settings=settings,
            tables=resources.TABLES,
            buckets=resources.BUCKETS,
            event_buses=resources.EVENT_BUSES,
            secrets=resources.SECRETS,
        )
        names = declarations.ResourceNames(
            stage=settings.name,
            tables={name: table.table_name for name, table in self.storage.tables.items()},
            buckets={name: bucket.bucket_name for name, bucket in self.storage.buckets.items()},
            state_machines={
                machine.name: state_machine_arn(self, state_machine_name(settings, machine))
                for machine in resources.STATE_MACHINES
            },
            event_buses={
                name: bus.event_bus_name for name, bus in self.storage.event_buses.items()
            },
            clock_parameter=self.storage.business_clock.parameter_name
            if self.storage.business_clock
            else None,
            email_sender=self.email_sender,
            secrets={name: secret.secret_arn for name, secret in self.storage.secrets.items()},
        )

        layers = Layers(self, "Layers")
        code = functions_code()
        self.functions = {
            declared.name: DeclaredFunction(
                self,
                pascal(declared.name) + "Function",
                declaration=declared,
                code=code,
                layers=layers.all,
                environment=declared.environment(names),
                settings=settings,
            )
            for declared in functions
        }
        self.workflows = {
            machine.name: Workflow(
                self,
                pascal(machine.name) + "Workflow",
                machine=machine,
                definition=statemachines_dir / machine.definition,
                tasks={
                    placeholder: self.functions[function].function
                    for placeholder, function in bindings[machine.name].items()
                },
                settings=settings,
                item_bucket=self.storage.buckets[machine.item_bucket]
                if machine.item_bucket
                else None,
            )
            for machine in resources.STATE_MACHINES
        }
        # The API (its routes, the user pool, the authorizer) is a nested stack of its own:
        # one resource and one method per route would take the parent past CloudFormation's
        # 500 resources (docs/architecture.md, Stack size).
        self.api_stack: NestedStack | None = None
        self.api: Api | None = None
        if any(isinstance(t, declarations.Api) for f in functions for t in f.triggers):
            self.api_stack = NestedStack(self, "HttpApi")
            self.api = Api(self.api_stack, "Api", settings=settings, sign_in=self._sign_in())
        self.firewall = (
            ApiFirewall(
                self.api_stack,
                "Firewall",
                settings=settings,
                stage=self.api.rest_api.deployment_stage,
            )
            if self.api and self.api_stack
            else None
        )
        self.rules: list[tuple[declarations.Schedule | declarations.EventRule, events.Rule]] = []
        for function in self.functions.values():
            self._grant(function)
            self._connect(function)
        self._acknowledge_bucket_notifications_handler()
        self.bank_sftp = self._bank_sftp_connector()
        self.failed_events = self._failed_events_queue()
        self.operations = Operations(
            self,
            "Operations",
            settings=settings,
            functions=self.functions,
            state_machines={name: w.state_machine for name, w in self.workflows.items()},
            tables=self.storage.tables,
            rest_api=self.api.rest_api if self.api else None,
            alarm_email=self.node.try_get_context("alarm_email"),
            rules=self.rules,
            log_groups=self._log_groups(),
            firewall=self.firewall,
            failed_events=self.failed_events,
        )
        self._outputs()

    # ---- least privilege, from the declared access ----------------------------------------

    def _grant(self, declared: DeclaredFunction) -> None:
        function = declared.function
        for name, access in declared.declaration.tables.items():
            table = self.storage.tables[name]
            grant = {
                Access.READ: table.grant_read_data,
                Access.WRITE: table.grant_write_data,
                Access.READ_WRITE: table.grant_read_write_data,
            }[access]
            grant(function)
            self._acknowledge_table_grant(declared, name, table, access)
        for name, access in declared.declaration.buckets.items():
            bucket = self.storage.buckets[name]
            # CDK's write grants include s3:DeleteObject*, which moving a file needs.
            grant_bucket = {
                Access.READ: bucket.grant_read,
                Access.WRITE: bucket.grant_write,
                Access.READ_WRITE: bucket.grant_read_write,
            }[access]
            grant_bucket(function)
            self._acknowledge_bucket_grant(declared, bucket, access)
        for name, prefix in declared.declaration.uploads_to.items():
            bucket = self.storage.buckets[name]
            bucket.grant_put(function, f"{prefix}*")
            nag.acknowledge(
                declared,
                "AwsSolutions-IAM5[Action::s3:Abort*]",
                "CDK's put grant includes aborting its own multipart uploads; scoped to the "
                "declared upload prefix of one bucket.",
            )
            nag.acknowledge(
                declared,
                f"AwsSolutions-IAM5[Resource::{nag.arn_of(bucket)}/{prefix}*]",
                "Clients upload under keys this function signs (presigned POSTs, one key per "
                f"document): puts only, under {prefix} of the declared bucket only.",
            )
        for machine in declared.declaration.starts:
            self.workflows[machine].grant_start(function, acknowledge_on=declared)
        for machine in declared.declaration.redrives:
            self.workflows[machine].grant_redrive(function, acknowledge_on=declared)
        for bus in declared.declaration.publishes_to:
            self.storage.event_buses[bus].grant_put_events_to(function)
        for secret in declared.declaration.secrets:
            self.storage.secrets[secret].grant_read(function)
        for callee in declared.declaration.invokes:
            target = self.functions[callee].function
            target.grant_invoke(function)
            nag.acknowledge(
                declared,
                f"AwsSolutions-IAM5[Resource::{nag.arn_of(target)}:*]",
                f"CDK's invoke grant on {callee!r} covers its versions and aliases "
                "(<arn>:*); that one declared function only.",
            )
        if self.storage.business_clock:
            self.storage.business_clock.grant_read(function)
        if declared.declaration.sends_email:
            function.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["ses:SendEmail", "ses:SendRawEmail"],
                    resources=[
                        self.format_arn(
                            service="ses",
                            resource="identity",
                            resource_name=self.email_sender,
                        )
                    ],
                )
            )

    def _acknowledge_table_grant(
        self, declared: DeclaredFunction, name: str, table: dynamodb.Table, access: Access
    ) -> None:
        if resources.table(name).indexes:
            nag.acknowledge(
                declared,
                f"AwsSolutions-IAM5[Resource::{nag.arn_of(table)}/index/*]",
                f"The {access.value} grant on table {name!r} covers its declared GSIs "
                "(table/index/*), which the function queries; no other table.",
            )
        if resources.table(name).holds_personal_data and access is not Access.READ:
            for action in ("kms:GenerateDataKey*", "kms:ReEncrypt*"):
                nag.acknowledge(
                    declared,
                    f"AwsSolutions-IAM5[Action::{action}]",
                    f"Writing to table {name!r} (personal data) needs its customer-managed "
                    "key's data-key actions; scoped to that one key.",
                )

    def _acknowledge_bucket_grant(
        self, declared: DeclaredFunction, bucket: s3.Bucket, access: Access
    ) -> None:
        actions = (
            ["s3:GetObject*", "s3:GetBucket*", "s3:List*"] if access is not Access.WRITE else []
        )
        if access is not Access.READ:
            actions += ["s3:DeleteObject*", "s3:Abort*"]
        for action in actions:
            nag.acknowledge(
                declared,
                f"AwsSolutions-IAM5[Action::{action}]",
                f"CDK's {access.value} grant on the declared bucket uses this action family "
                "(object versions, tags, multipart); scoped to that one bucket.",
            )
        if bucket.encryption_key is not None and access is not Access.READ:
            for action in ("kms:GenerateDataKey*", "kms:ReEncrypt*"):
                nag.acknowledge(
                    declared,
                    f"AwsSolutions-IAM5[Action::{action}]",
                    "Writing to a bucket of personal data (SSE-KMS) needs its customer-managed "
                    "key's data-key actions; scoped to that one key.",
                )
        nag.acknowledge(
            declared,
            f"AwsSolutions-IAM5[Resource::{nag.arn_of(bucket)}/*]",
            "Files are dropped under partner-chosen keys, so object access is per bucket, "
            f"not per key: the function has {access.value} access to the declared bucket only.",
        )

    def _sign_in(self) -> SignIn:
        """Who else signs users in on this stage (context; docs/sign-in.md)."""
        context = self.node.try_get_context
        callbacks = str(context("portal_callback_urls") or "")
        return SignIn(
            staff_saml_metadata_url=context("staff_saml_metadata_url"),
            google_client_id=context("google_client_id"),
            facebook_app_id=context("facebook_app_id"),
            portal_callback_urls=tuple(u.strip() for u in callbacks.split(",") if u.strip()),
            google_secret=self.storage.secrets[resources.GOOGLE_SIGN_IN],
            facebook_secret=self.storage.secrets[resources.FACEBOOK_SIGN_IN],
        )

    # ---- triggers -------------------------------------------------------------------------

    def _connect(self, declared: DeclaredFunction) -> None:
        function = declared.function
        for trigger in declared.declaration.triggers:
            match trigger:
                case declarations.Api(routes=routes):
                    assert self.api is not None
                    for route in routes:
                        self.api.add_route(route, function)
                case declarations.SignInTrigger():
                    assert self.api is not None
                    self.api.user_pool.add_trigger(
                        cognito.UserPoolOperation.PRE_TOKEN_GENERATION, function
                    )
                    function.add_environment(
                        sign_in.STAFF_POOL_USERS_ENV, self.settings.staff_pool_users
                    )
                case declarations.ObjectCreated(bucket=bucket, prefix=prefix, suffix=suffix):
                    self.storage.buckets[bucket].add_event_notification(
                        s3.EventType.OBJECT_CREATED,
                        s3n.LambdaDestination(function),
                        s3.NotificationKeyFilter(prefix=prefix, suffix=suffix or None),
                    )
                case declarations.Schedule():
                    schedule = events.Rule(
                        self,
                        pascal(trigger.rule) + "Rule",
                        description=trigger.description,
                        schedule=events.Schedule.expression(trigger.expression),
                        targets=[targets.LambdaFunction(function)],
                    )
                    self.rules.append((trigger, schedule))
                case declarations.EventRule():
                    pattern = trigger.pattern(self.state_machine_prefix)
                    rule = events.Rule(
                        self,
                        pascal(trigger.rule) + "Rule",
                        description=trigger.description,
                        # None: the default bus (AWS services' events)
                        event_bus=self.storage.event_buses.get(trigger.bus),
                        event_pattern=events.EventPattern(
                            source=events.Match.prefix(trigger.source_prefix),
                            detail_type=list(trigger.detail_types) or None,
                            detail=pattern.get("detail"),
                        ),
                        targets=[targets.LambdaFunction(function)],
                    )
                    self.rules.append((trigger, rule))
                case declarations.StateMachineTask():
                    pass  # bound into the state machine's definition by its Workflow

    @property
    def state_machine_prefix(self) -> str:
        """``arn:…:stateMachine:monosub-<stage>-``: every state machine of this stage."""
        return state_machine_arn(self, f"{self.settings.stack_name}-")

    def _log_groups(self) -> list[logs.ILogGroup]:
        """Every log group of the stage: functions, state machines, API access logs."""
        groups: list[logs.ILogGroup] = [f.log_group for f in self.functions.values()]
        groups += [w.log_group for w in self.workflows.values()]
        if self.api:
            groups.append(self.api.access_logs)
        return groups

    def _acknowledge_bucket_notifications_handler(self) -> None:
        handler = self.node.try_find_child(BUCKET_NOTIFICATIONS_HANDLER)
        if handler is None:
            return
        nag.acknowledge(
            handler,
            f"AwsSolutions-IAM4[{nag.LAMBDA_BASIC_EXECUTION}]",
            "CDK's bucket-notifications custom resource (configures S3 -> Lambda "
            "notifications at deploy time); managed policy for its own logs only.",
        )

    def _failed_events_queue(self) -> sqs.Queue:
        """Where an event goes that an asynchronously invoked function (an S3 notification,
        a rule, a schedule) still fails on after Lambda's two retries: kept 14 days with its
        error, for ops to read and re-send (docs/operations.md), instead of dropped."""
        queue = sqs.Queue(
            self,
            "FailedEvents",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        nag.acknowledge(
            queue, "AwsSolutions-SQS3", "This queue is the dead-letter destination itself."
        )
        for declared in self.functions.values():
            if any(isinstance(t, ASYNC_TRIGGERS) for t in declared.declaration.triggers):
                declared.function.configure_async_invoke(
                    on_failure=destinations.SqsDestination(queue), retry_attempts=2
                )
        return queue

    def _bank_sftp_connector(self) -> BankSftpConnector | None:
        """The Transfer Family SFTP connector that sends direct-debit request files to the
        bank, when the stage names the bank's server (context ``bank_sftp_url`` and
        ``bank_sftp_host_keys``, comma-separated); the deliver task may start transfers on it.
        Its id then goes into the ``bank-sftp`` secret (docs/bank-sftp.md)."""
        url = self.node.try_get_context("bank_sftp_url")
        if not url:
            return None
        keys = self.node.try_get_context("bank_sftp_host_keys") or ""
        host_keys = keys if isinstance(keys, list) else [k.strip() for k in keys.split(",")]
        connector = BankSftpConnector(
            self,
            "BankSftp",
            bucket=self.storage.buckets[resources.EXCHANGE],
            outbox_prefix="outbox/zengin-debit/",
            secret=self.storage.secrets[resources.BANK_SFTP_LOGIN],
            url=str(url),
            trusted_host_keys=[k for k in host_keys if k],
        )
        for declared in self.functions.values():  # who holds the bank-sftp secret sends
            if resources.BANK_SFTP in declared.declaration.secrets:
                connector.grant_start_transfer(declared.function)
        CfnOutput(self, "BankSftpConnectorId", value=connector.connector_id)
        return connector

    def _outputs(self) -> None:
        if self.api:
            CfnOutput(self, "ApiUrl", value=self.api.rest_api.url)
            CfnOutput(self, "UserPoolId", value=self.api.user_pool.user_pool_id)
            CfnOutput(self, "UserPoolClientId", value=self.api.client.user_pool_client_id)
        for name, bucket in self.storage.buckets.items():
            CfnOutput(self, pascal(name) + "BucketName", value=bucket.bucket_name)
