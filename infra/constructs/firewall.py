"""AWS WAF in front of the API stage: the AWS managed common rule set, and rate-based rules
on the two public doors people without an account use (the lead form and the consent page).

Staff routes need a Cognito token and the stage is throttled; what WAF adds is per-client
limits on the public routes, so one noisy client cannot fill the lead list or probe consent
links, and the common exploits (the OWASP-style managed rules) are refused before Lambda.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from infra.settings import StageSettings

# WAF counts requests per client IP over this window (the only choices are 60-600 s).
RATE_WINDOW_SECONDS = 300
MANAGED_COMMON_RULES = "AWSManagedRulesCommonRuleSet"


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
