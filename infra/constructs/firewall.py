"""AWS WAF in front of the API stage: the AWS managed common rule set, and rate-based rules
on the two public doors people without an account use (the lead form and the consent page).

Staff routes need a Cognito token and the stage is throttled; what WAF adds is per-client
limits on the public routes, so one noisy client cannot fill the lead list or probe consent
links, and the common exploits (the OWASP-style managed rules) are refused before Lambda.

What WAF refused is logged (``aws-waf-logs-<stack>``): the requests it blocked or counted,
never the ones it let through, and never their Authorization header or cookies.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from infra.settings import StageSettings

# WAF counts requests per client IP over this window (the only choices are 60-600 s).
RATE_WINDOW_SECONDS = 300
MANAGED_COMMON_RULES = "AWSManagedRulesCommonRuleSet"
# WAF refuses a logging destination whose name does not start with this (CloudFormation then
# reports an "invalid ARN").
WAF_LOGS_PREFIX = "aws-waf-logs-"
# Request headers kept out of the logs: a staff bearer token, a customer's session cookie.
REDACTED_HEADERS = ("authorization", "cookie")
# What is logged: requests a rule blocked or counted. Allowed requests are every API call
# (already in the API's access logs); logging them too would bill each request's full WAF
# record (headers included) for ingestion and storage, for nothing ops would read.
LOGGED_ACTIONS = ("BLOCK", "COUNT")


@dataclass(frozen=True)
class RateRule:
    """A rate-based rule: at most ``limit`` requests per IP per window to paths matching
    ``path`` (``ENDS_WITH`` or ``CONTAINS``; the stage name may prefix the path), with
    ``method`` if given."""

    name: str
    path: str
    match: str
    method: str | None
    limit: int


def rate_rules(settings: StageSettings) -> tuple[RateRule, ...]:
    limits = settings.rate_limits
    return (
        RateRule("LeadFormRate", "/leads", "ENDS_WITH", "POST", limits.lead_form),
        RateRule("ConsentPageRate", "/consent/", "CONTAINS", None, limits.consent_page),
    )


class ApiFirewall(Construct):
    """A regional WebACL associated with the API stage."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StageSettings,
        stage: apigw.Stage,
    ) -> None:
        super().__init__(scope, construct_id)
        self.web_acl_name = f"{settings.stack_name}-api"
        self.metric_prefix = f"monosub-{settings.name}"
        self.rate_rules = rate_rules(settings)
        rules = [self._rate_rule(rule, priority) for priority, rule in enumerate(self.rate_rules)]
        rules.append(self._managed_rule(MANAGED_COMMON_RULES, priority=len(rules)))
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            name=self.web_acl_name,
            description="monosub API: managed common rules, rate limits on the public routes",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=self._visibility("WebAcl"),
            rules=rules,
        )
        self.association = wafv2.CfnWebACLAssociation(
            self,
            "StageAssociation",
            resource_arn=stage.stage_arn,
            web_acl_arn=self.web_acl.attr_arn,
        )
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"{WAF_LOGS_PREFIX}{settings.stack_name}",
            retention=settings.log_retention,
            removal_policy=settings.removal_policy,
        )
        self.logging = self._logging()

    @property
    def log_group_arn(self) -> str:
        """The log group's ARN as WAF wants it: ``…:log-group:<name>``, without the ``:*``
        that CloudFormation's ``Arn`` attribute (and so ``LogGroup.log_group_arn``) ends with."""
        return Stack.of(self).format_arn(
            service="logs",
            resource="log-group",
            resource_name=self.log_group.log_group_name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )

    def _logging(self) -> wafv2.CfnLoggingConfiguration:
        """WAF's log delivery (``delivery.logs.amazonaws.com``) may write to this log group
        only, for this account. Declared here rather than left to WAF: on its own WAF would
        add the log group to the account-wide ``AWSWAF-LOGS`` resource policy, which has a
        size limit shared by every web ACL of the account and region."""
        stack = Stack.of(self)
        policy = self.log_group.add_to_resource_policy(
            iam.PolicyStatement(
                sid="WafLogDelivery",
                principals=[iam.ServicePrincipal("delivery.logs.amazonaws.com")],
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[f"{self.log_group_arn}:log-stream:*"],
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {
                        "aws:SourceArn": stack.format_arn(
                            service="logs", resource="*", arn_format=ArnFormat.NO_RESOURCE_NAME
                        )
                    },
                },
            )
        )
        logging = wafv2.CfnLoggingConfiguration(
            self,
            "Logging",
            resource_arn=self.web_acl.attr_arn,
            log_destination_configs=[self.log_group_arn],
            redacted_fields=[
                wafv2.CfnLoggingConfiguration.FieldToMatchProperty(single_header={"Name": header})
                for header in REDACTED_HEADERS
            ],
            # Typed ``Any`` in CDK, so written as CloudFormation spells it (PascalCase): the
            # generated property classes would come out camelCase, which CloudFormation ignores.
            logging_filter={
                "DefaultBehavior": "DROP",
                "Filters": [
                    {
                        "Behavior": "KEEP",
                        "Requirement": "MEETS_ANY",
                        "Conditions": [
                            {"ActionCondition": {"Action": action}} for action in LOGGED_ACTIONS
                        ],
                    }
                ],
            },
        )
        logging.node.add_dependency(self.log_group)
        if policy.policy_dependable is not None:
            logging.node.add_dependency(policy.policy_dependable)
        return logging

    @property
    def rule_names(self) -> list[str]:
        return [rule.name for rule in self.rate_rules] + [MANAGED_COMMON_RULES]

    def metric_name(self, rule: str) -> str:
        return f"{self.metric_prefix}-{rule}"

    def _visibility(self, rule: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
        return wafv2.CfnWebACL.VisibilityConfigProperty(
            cloud_watch_metrics_enabled=True,
            metric_name=self.metric_name(rule),
            sampled_requests_enabled=True,
        )

    def _rate_rule(self, rule: RateRule, priority: int) -> wafv2.CfnWebACL.RuleProperty:
        statements = [
            wafv2.CfnWebACL.StatementProperty(
                byte_match_statement=wafv2.CfnWebACL.ByteMatchStatementProperty(
                    field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(uri_path={}),
                    positional_constraint=rule.match,
                    search_string=rule.path,
                    text_transformations=[
                        wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="LOWERCASE")
                    ],
                )
            )
        ]
        if rule.method:
            statements.append(
                wafv2.CfnWebACL.StatementProperty(
                    byte_match_statement=wafv2.CfnWebACL.ByteMatchStatementProperty(
                        field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(method={}),
                        positional_constraint="EXACTLY",
                        search_string=rule.method,
                        text_transformations=[
                            wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")
                        ],
                    )
                )
            )
        scope_down = (
            statements[0]
            if len(statements) == 1
            else wafv2.CfnWebACL.StatementProperty(
                and_statement=wafv2.CfnWebACL.AndStatementProperty(statements=statements)
            )
        )
        return wafv2.CfnWebACL.RuleProperty(
            name=rule.name,
            priority=priority,
            action=wafv2.CfnWebACL.RuleActionProperty(block={}),
            statement=wafv2.CfnWebACL.StatementProperty(
                rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                    aggregate_key_type="IP",
                    limit=rule.limit,
                    evaluation_window_sec=RATE_WINDOW_SECONDS,
                    scope_down_statement=scope_down,
                )
            ),
            visibility_config=self._visibility(rule.name),
        )

    def _managed_rule(self, name: str, priority: int) -> wafv2.CfnWebACL.RuleProperty:
        return wafv2.CfnWebACL.RuleProperty(
            name=name,
            priority=priority,
            override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
            statement=wafv2.CfnWebACL.StatementProperty(
                managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                    vendor_name="AWS", name=name
                )
            ),
            visibility_config=self._visibility(name),
        )
