"""What ops sees in the console: one dashboard with a section per workflow, alarms to an SNS
topic, and saved Logs Insights queries. Built from the declarations: every state machine,
function, table, schedule and rule gets its widgets and alarms without being named here.
Each alarm's description names its runbook section in docs/operations.md."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from aws_cdk import Duration, NestedStack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from functions import declarations
from infra.constructs.firewall import ApiFirewall
from infra.constructs.functions import DeclaredFunction
from infra.settings import StageSettings, pascal
from local import cron

NAMESPACE = "monosub"
FIVE_MINUTES = Duration.minutes(5)
RUNBOOK = "docs/operations.md"
# CloudWatch: period x evaluation periods may not exceed 7 days (1 day under 1-hour periods).
LONGEST_WATCH = timedelta(days=7)

# The saved query over WAF's log (blocked and counted requests, by rule / client IP / path).
WAF_BLOCKS_QUERY = "waf-blocks"
WAF_QUERY_FIELDS = (
    "@timestamp",
    "action",
    "terminatingRuleId",
    "httpRequest.clientIp",
    "httpRequest.country",
    "httpRequest.httpMethod",
    "httpRequest.uri",
)

# Triggers through which Lambda is invoked asynchronously (its own retries, then dropped).
ASYNC_TRIGGERS = (declarations.ObjectCreated, declarations.Schedule, declarations.EventRule)


@dataclass(frozen=True)
class SavedQuery:
    """A saved Logs Insights query over every log group of the stage (functions, state
    machines, API access logs). Replace ``placeholder`` in the query before running it."""

    name: str
    about: str
    placeholder: str | None
    filter: str


SAVED_QUERIES: tuple[SavedQuery, ...] = (
    SavedQuery(
        "run",
        "everything about one run: its file's drop, every step, the execution's events",
        "RUN_ID",
        'correlation_id = "RUN_ID" or run_id = "RUN_ID" or @message like "RUN_ID"',
    ),
    SavedQuery(
        "file",
        "everything about one partner file, by (part of) its key or name",
        "FILE_NAME",
        'key like "FILE_NAME" or correlation_id like "FILE_NAME" or @message like "FILE_NAME"',
    ),
    SavedQuery(
        "customer",
        "everything about one customer: a lead, account, contact or deal id",
        "CUSTOMER_ID",
        'lead_id = "CUSTOMER_ID" or account_id = "CUSTOMER_ID" or contact_id = "CUSTOMER_ID" '
        'or deal_id = "CUSTOMER_ID" or @message like "CUSTOMER_ID"',
    ),
    SavedQuery(
        "invoice",
        "everything about one invoice, by its id or number",
        "INVOICE_ID",
        'invoice_id = "INVOICE_ID" or invoice_number = "INVOICE_ID" or @message like "INVOICE_ID"',
    ),
    SavedQuery(
        "request",
        "one API request, by the request id the client got (x-amzn-RequestId)",
        "REQUEST_ID",
        'correlation_id = "REQUEST_ID" or requestId = "REQUEST_ID"',
    ),
    SavedQuery(
        "errors",
        "every error, failed step and failed execution event, newest first",
        None,
        'level = "ERROR" or type like /(Failed|TimedOut|Aborted)$/',
    ),
)
QUERY_FIELDS = ("@timestamp", "@log", "level", "function", "message", "type", "correlation_id")


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
        rules: Sequence[tuple[declarations.Schedule | declarations.EventRule, events.Rule]] = (),
        log_groups: Sequence[logs.ILogGroup] = (),
        firewall: ApiFirewall | None = None,
        failed_events: sqs.IQueue | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        # The alarms, their topic and the dashboard live in a nested stack of their own:
        # CloudFormation allows 500 resources per stack, and an alarm per function, workflow
        # and schedule is a fifth of them. What they watch reaches them as parameters.
        self.monitoring = NestedStack(self, "Monitoring")
        key = kms.Key(self.monitoring, "AlarmTopicKey", enable_key_rotation=True)
        self.topic = sns.Topic(
            self.monitoring,
            "Alarms",
            display_name=f"monosub {settings.name} alarms",
            master_key=key,
            enforce_ssl=True,
        )
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        self.alarms: list[cloudwatch.Alarm] = []
        self.dashboard = cloudwatch.Dashboard(
            self.monitoring, "Dashboard", dashboard_name=f"monosub-{settings.name}"
        )
        for name, machine in state_machines.items():
            self._workflow(name, machine)
        self._files()
        self._cash()
        self._overdue()
        if rest_api is not None:
            self._api(rest_api)
        self._functions(functions)
        if failed_events is not None:
            self._failed_events(failed_events)
        self._tables(tables)
        self.unwatched_schedules: list[str] = []
        self._rules(rules)
        self.queries = [self._saved_query(settings, query, log_groups) for query in SAVED_QUERIES]
        if firewall is not None:
            self._firewall(firewall)
            self.queries.append(self._waf_query(settings, firewall))

    def _alarm(
        self,
        construct_id: str,
        metric: cloudwatch.IMetric,
        description: str,
        threshold: float = 1,
        *,
        runbook: str,
        comparison: cloudwatch.ComparisonOperator = (
            cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
        ),
        missing: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING,
        evaluation_periods: int = 1,
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self.monitoring,
            construct_id,
            metric=metric,
            threshold=threshold,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=evaluation_periods,
            comparison_operator=comparison,
            treat_missing_data=missing,
            alarm_description=f"{description} Runbook: {RUNBOOK}, '{runbook}'.",
        )
        alarm.add_alarm_action(actions.SnsAction(self.topic))
        self.alarms.append(alarm)
        return alarm

    def _workflow(self, name: str, machine: sfn.StateMachine) -> None:
        failed = machine.metric_failed(period=FIVE_MINUTES, statistic="Sum")
        timed_out = machine.metric_timed_out(period=FIVE_MINUTES, statistic="Sum")
        self._alarm(
            f"{pascal(name)}Failed",
            failed,
            f"A {name} execution failed: open it in Step Functions, fix, re-drive.",
            runbook="Alarm: a workflow execution failed",
        )
        self._alarm(
            f"{pascal(name)}TimedOut",
            timed_out,
            f"A {name} execution timed out.",
            runbook="Alarm: a workflow execution timed out",
        )
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
        quarantined = business("FilesQuarantined")
        self._alarm(
            "FileQuarantined",
            quarantined,
            "A dropped file was quarantined: read quarantine/<kind>/<date>/<run>/"
            "<name>.error.json, correct the file and drop it again.",
            runbook="Alarm: a file was quarantined",
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

    def _cash(self) -> None:
        rejected = business("WebhookRejected")
        self._alarm(
            "WebhookSignatureFailures",
            rejected,
            "Webhook deliveries keep failing their signature check: a rotated signing secret "
            "not updated in the stripe secret, or someone forging events.",
            threshold=WEBHOOK_REJECTIONS_ALARMED,
            runbook="Alarm: webhook signatures fail",
        )
        queued = business("ExceptionsRaised")
        self._alarm(
            "ExceptionQueued",
            queued,
            "Input waits in the exceptions queue for a person (a payment matching no invoice, "
            "a payout that does not add up): GET /exceptions, resolve or reject.",
            runbook="Alarm: an exception was queued",
        )
        self.dashboard.add_widgets(
            cloudwatch.TextWidget(markdown="## cash", width=24, height=1),
            cloudwatch.GraphWidget(
                title="cash: payments and webhooks",
                left=[business("PaymentsRecorded"), business("WebhookApplied"), rejected],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="cash: amount collected (yen) and exceptions queued",
                left=[business("AmountCollectedYen")],
                right=[queued],
                width=12,
            ),
        )

    def _overdue(self) -> None:
        self.dashboard.add_widgets(
            cloudwatch.TextWidget(markdown="## overdue", width=24, height=1),
            cloudwatch.GraphWidget(
                title="overdue: invoices and amount (yen) past due, per daily run",
                left=[business("InvoicesOverdue")],
                right=[business("AmountOverdueYen")],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="overdue: reminders sent and suspensions",
                left=[business("RemindersSent"), business("FollowUpLevelsFired")],
                right=[business("Suspensions")],
                width=12,
            ),
        )

    def _api(self, rest_api: apigw.RestApi) -> None:
        server_errors = rest_api.metric_server_error(period=FIVE_MINUTES, statistic="Sum")
        self._alarm(
            "ApiServerErrors",
            server_errors,
            "The API answered 5xx.",
            threshold=5,
            runbook="Alarm: the API answers 5xx",
        )
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
                runbook="Alarm: a function raised errors",
            )
            errors.append(function_errors)
            throttles.append(
                declared.function.metric_throttles(period=FIVE_MINUTES, statistic="Sum")
            )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Lambda errors", left=errors, width=12),
            cloudwatch.GraphWidget(title="Lambda throttles", left=throttles, width=12),
        )
        self._async_events_dropped(functions)

    def _failed_events(self, queue: sqs.IQueue) -> None:
        waiting = queue.metric_approximate_number_of_messages_visible(
            period=FIVE_MINUTES, statistic="Maximum"
        )
        self._alarm(
            "FailedEventsQueued",
            waiting,
            "An event a function kept failing on is in the failed-events queue (its "
            "dead-letter destination): read it, fix the cause, send it again.",
            runbook="Alarm: an event is in the failed-events queue",
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="failed events waiting (dead-letter queue)", left=[waiting], width=12
            )
        )

    def _async_events_dropped(self, functions: Mapping[str, DeclaredFunction]) -> None:
        """An event Lambda gives up on (after its two retries of an asynchronous
        invocation) goes to the failed-events queue; one it could not even put there is
        counted in ``AsyncEventsDropped``."""
        dropped = []
        for name, declared in functions.items():
            if not any(isinstance(t, ASYNC_TRIGGERS) for t in declared.declaration.triggers):
                continue
            metric = declared.function.metric(
                "AsyncEventsDropped", period=FIVE_MINUTES, statistic="Sum"
            )
            self._alarm(
                f"{pascal(name)}EventsDropped",
                metric,
                f"Lambda {name} dropped an event after its retries (not even the "
                "failed-events queue took it).",
                runbook="Alarm: a function dropped events",
            )
            dropped.append(metric)
        if dropped:
            self.dashboard.add_widgets(
                cloudwatch.GraphWidget(
                    title="Lambda events dropped after retries", left=dropped, width=12
                )
            )

    def _rules(
        self, rules: Sequence[tuple[declarations.Schedule | declarations.EventRule, events.Rule]]
    ) -> None:
        invocations = []
        failures = []
        for declared, rule in rules:
            failed = _rule_metric(rule, "FailedInvocations", FIVE_MINUTES)
            self._alarm(
                f"{pascal(declared.rule)}FailedInvocations",
                failed,
                f"EventBridge rule {declared.rule} could not invoke its target.",
                runbook="Alarm: a rule could not invoke its target",
            )
            failures.append(failed)
            if isinstance(declared, declarations.Schedule):
                invocations.append(self._schedule_missed(declared, rule))
        if invocations:
            self.dashboard.add_widgets(
                cloudwatch.GraphWidget(title="schedules: runs started", left=invocations, width=12),
                cloudwatch.GraphWidget(
                    title="EventBridge rules: failed invocations", left=failures, width=12
                ),
            )

    def _schedule_missed(
        self, declared: declarations.Schedule, rule: events.Rule
    ) -> cloudwatch.Metric:
        """An alarm when a schedule's rule invoked nothing over the longest time between two of
        its firings (missing data is breaching: a rule that never fires reports nothing).
        CloudWatch watches at most 7 days; a longer gap (a monthly run) gets no alarm and is
        listed in ``unwatched_schedules``."""
        gap = cron.longest_gap(declared.expression)
        if gap is None or gap > LONGEST_WATCH:
            self.unwatched_schedules.append(declared.rule)
            return _rule_metric(rule, "Invocations", Duration.days(1))
        period_seconds = min(_whole_minutes(gap), 86_400)
        periods = math.ceil(gap.total_seconds() / period_seconds)
        metric = _rule_metric(rule, "Invocations", Duration.seconds(period_seconds))
        self._alarm(
            f"{pascal(declared.rule)}Missed",
            metric,
            f"Schedule {declared.rule} ({declared.expression}) started no run in the time that "
            "must contain one: check the rule is enabled and the function's permission.",
            runbook="Alarm: a scheduled run did not start",
            comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            missing=cloudwatch.TreatMissingData.BREACHING,
            evaluation_periods=periods,
        )
        return metric

    def _firewall(self, firewall: ApiFirewall) -> None:
        def blocked(rule: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace="AWS/WAFV2",
                metric_name="BlockedRequests",
                dimensions_map={
                    "WebACL": firewall.web_acl_name,
                    "Region": self._region,
                    "Rule": firewall.metric_name(rule),
                },
                period=FIVE_MINUTES,
                statistic="Sum",
                label=rule,
            )

        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="WAF: requests blocked per rule",
                left=[blocked(rule) for rule in firewall.rule_names],
                width=12,
            )
        )

    def _waf_query(self, settings: StageSettings, firewall: ApiFirewall) -> logs.QueryDefinition:
        """What WAF refused, grouped: which rule, which client IP, which path, how often. Over
        the WAF log group only (it holds blocked and counted requests, ``firewall.py``)."""
        return logs.QueryDefinition(
            self,
            "WafBlocksQuery",
            query_definition_name=f"monosub-{settings.name}/{WAF_BLOCKS_QUERY}",
            query_string=logs.QueryString(
                fields=list(WAF_QUERY_FIELDS),
                stats_statements=[
                    "count(*) as requests by action, terminatingRuleId, httpRequest.clientIp, "
                    "httpRequest.uri"
                ],
                sort="requests desc",
                limit=1000,
            ),
            log_groups=[firewall.log_group],
        )

    @property
    def _region(self) -> str:
        from aws_cdk import Stack

        return Stack.of(self).region

    def _saved_query(
        self, settings: StageSettings, query: SavedQuery, log_groups: Sequence[logs.ILogGroup]
    ) -> logs.QueryDefinition:
        return logs.QueryDefinition(
            self,
            f"{pascal(query.name)}Query",
            query_definition_name=f"monosub-{settings.name}/{query.name}",
            query_string=logs.QueryString(
                fields=list(QUERY_FIELDS),
                filter_statements=[query.filter],
                sort="@timestamp desc" if query.placeholder is None else "@timestamp asc",
                limit=1000,
            ),
            log_groups=list(log_groups),
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


# Stripe retries a failed delivery for days: a handful of rejections is noise, a run is not.
WEBHOOK_REJECTIONS_ALARMED = 5


def business(metric: str) -> cloudwatch.Metric:
    """A business metric monosub emits (Powertools Metrics), summed per 5 minutes."""
    return cloudwatch.Metric(
        namespace=NAMESPACE,
        metric_name=metric,
        dimensions_map={"service": "monosub"},
        period=FIVE_MINUTES,
        statistic="Sum",
    )


def _rule_metric(rule: events.Rule, name: str, period: Duration) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace="AWS/Events",
        metric_name=name,
        dimensions_map={"RuleName": rule.rule_name},
        period=period,
        statistic="Sum",
    )


def _whole_minutes(gap: timedelta) -> int:
    """``gap`` in seconds, rounded up to a whole minute (alarm periods are multiples of 60)."""
    return math.ceil(gap.total_seconds() / 60) * 60
