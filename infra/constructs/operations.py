"""What ops sees in the console: one dashboard with a section per workflow, and alarms to an
SNS topic. Built from the declarations: every state machine, function and table gets its
widgets and alarms without being named here."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.constructs.functions import DeclaredFunction
from infra.settings import StageSettings, pascal

NAMESPACE = "monosub"
FIVE_MINUTES = Duration.minutes(5)


class Operations(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StageSettings,
        functions: Mapping[str, DeclaredFunction],
        state_machines: Mapping[str, sfn.StateMachine],
        tables: Mapping[str, dynamodb.Table],
        rest_api: apigw.RestApi | None,
        alarm_email: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        key = kms.Key(self, "AlarmTopicKey", enable_key_rotation=True)
        self.topic = sns.Topic(
            self,
            "Alarms",
            display_name=f"monosub {settings.name} alarms",
            master_key=key,
            enforce_ssl=True,
        )
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        self.alarms: list[cloudwatch.Alarm] = []
        self.dashboard = cloudwatch.Dashboard(
            self, "Dashboard", dashboard_name=f"monosub-{settings.name}"
        )
        for name, machine in state_machines.items():
            self._workflow(name, machine)
        self._files()
        if rest_api is not None:
            self._api(rest_api)
        self._functions(functions)
        self._tables(tables)

    def _alarm(
        self, construct_id: str, metric: cloudwatch.IMetric, description: str, threshold: float = 1
    ) -> None:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(actions.SnsAction(self.topic))
        self.alarms.append(alarm)

    def _workflow(self, name: str, machine: sfn.StateMachine) -> None:
        failed = machine.metric_failed(period=FIVE_MINUTES, statistic="Sum")
        timed_out = machine.metric_timed_out(period=FIVE_MINUTES, statistic="Sum")
        self._alarm(
            f"{pascal(name)}Failed",
            failed,
            f"A {name} execution failed: open it in Step Functions, fix, re-drive.",
        )
        self._alarm(f"{pascal(name)}TimedOut", timed_out, f"A {name} execution timed out.")
        self.dashboard.add_widgets(
            cloudwatch.TextWidget(markdown=f"## {name}", width=24, height=1),
            cloudwatch.GraphWidget(
                title=f"{name}: executions",
                left=[
                    machine.metric_started(period=FIVE_MINUTES, statistic="Sum"),
                    machine.metric_succeeded(period=FIVE_MINUTES, statistic="Sum"),
                    failed,
                    timed_out,
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title=f"{name}: duration (ms)",
                left=[machine.metric_time(period=FIVE_MINUTES, statistic="p90")],
                width=12,
            ),
        )

    def _files(self) -> None:
        def business(metric: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=NAMESPACE,
                metric_name=metric,
                dimensions_map={"service": "monosub"},
                period=FIVE_MINUTES,
                statistic="Sum",
            )

        quarantined = business("FilesQuarantined")
        self._alarm(
            "FileQuarantined",
            quarantined,
            "A dropped file was quarantined: read quarantine/<kind>/<date>/<run>/"
            "<name>.error.json, correct the file and drop it again.",
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="partner files",
                left=[business("FilesDropped"), business("FilesProcessed"), quarantined],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="API requests refused (4xx by the handlers)",
                left=[business("RequestsRefused")],
                width=12,
            ),
        )

    def _api(self, rest_api: apigw.RestApi) -> None:
        server_errors = rest_api.metric_server_error(period=FIVE_MINUTES, statistic="Sum")
        self._alarm("ApiServerErrors", server_errors, "The API answered 5xx.", threshold=5)
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="API: 4xx / 5xx",
                left=[
                    rest_api.metric_client_error(period=FIVE_MINUTES, statistic="Sum"),
                    server_errors,
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="API: latency p90 (ms)",
                left=[rest_api.metric_latency(period=FIVE_MINUTES, statistic="p90")],
                width=12,
            ),
        )

    def _functions(self, functions: Mapping[str, DeclaredFunction]) -> None:
        errors = []
        throttles = []
        for name, declared in functions.items():
            function_errors = declared.function.metric_errors(period=FIVE_MINUTES, statistic="Sum")
            self._alarm(
                f"{pascal(name)}Errors",
                function_errors,
                f"Lambda {name} raised errors: see its log group.",
            )
            errors.append(function_errors)
            throttles.append(
                declared.function.metric_throttles(period=FIVE_MINUTES, statistic="Sum")
            )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Lambda errors", left=errors, width=12),
            cloudwatch.GraphWidget(title="Lambda throttles", left=throttles, width=12),
        )

    def _tables(self, tables: Mapping[str, dynamodb.Table]) -> None:
        # One graph per table: each table's throttle sum is a math expression whose
        # member ids would collide in a shared graph.
        self.dashboard.add_widgets(
            *(
                cloudwatch.GraphWidget(
                    title=f"DynamoDB {name}: throttled requests",
                    left=[table.metric_throttled_requests_for_operations(period=FIVE_MINUTES)],
                    width=6,
                )
                for name, table in tables.items()
            )
        )
