"""The REST API (one resource and method per declared ``Route``) and its Cognito user pool."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from functions import declarations
from infra import nag
from infra.settings import StageSettings, pascal
from monosub import auth

# The groups are declared by the domain package (staff, and customers in the same pool).
USER_GROUPS: tuple[str, ...] = tuple(sorted(auth.USER_GROUPS))


class DuplicateRoute(ValueError):
    """Two manifest routes declare the same method and path."""


class Api(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, settings: StageSettings) -> None:
        super().__init__(scope, construct_id)
        self.user_pool = self._user_pool(settings)
        # An agency user's agency is set by ops (admin API) and read from the ID token
        # (custom:agency_id); the client may read it but never write it, or a user could
        # make itself another agency.
        self.client = self.user_pool.add_client(
            "StaffClient",
            auth_flows=cognito.AuthFlow(user_srp=True),
            generate_secret=False,
            prevent_user_existence_errors=True,
            read_attributes=cognito.ClientAttributes()
            .with_standard_attributes(email=True, email_verified=True, fullname=True)
            .with_custom_attributes(auth.AGENCY_ATTRIBUTE),
            write_attributes=cognito.ClientAttributes().with_standard_attributes(
                email=True, fullname=True
            ),
        )
        self.partner_scopes = self._partner_clients(settings)
        self.access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=settings.log_retention,
            removal_policy=settings.removal_policy,
        )
        self.rest_api = apigw.RestApi(
            self,
            "RestApi",
            rest_api_name=settings.stack_name,
            description="monosub back office API (routes from functions/manifest.py)",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # Issued PDFs go out as base64 from the function, as bytes to the client.
            binary_media_types=["application/pdf"],
            # Execution logging needs API Gateway's account-level CloudWatch role. It is shared
            # by every stack in the account and region, so deleting a test stage keeps it.
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
            deploy_options=apigw.StageOptions(
                stage_name=settings.name,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,  # request bodies hold personal data
                tracing_enabled=True,
                metrics_enabled=True,
                throttling_rate_limit=50,
                throttling_burst_limit=100,
            ),
        )
        self._staff_authorizer: apigw.CognitoUserPoolsAuthorizer | None = None
        self._routes: set[tuple[str, str]] = set()
        nag.acknowledge(
            self,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AmazonAPIGatewayPushToCloudWatchLogs]",
            "The account-level role API Gateway needs to write execution logs; AWS's managed "
            "policy for exactly that purpose (logs only).",
        )
        nag.acknowledge(
            self,
            "AwsSolutions-APIG2",
            "Requests are validated in the API function (Powertools APIGatewayRestResolver "
            "with enable_validation=True and pydantic models), the one place that knows the "
            "schemas; API Gateway models would be a second copy that drifts.",
        )

    def _user_pool(self, settings: StageSettings) -> cognito.UserPool:
        pool = cognito.UserPool(
            self,
            "UserPool",
            user_pool_name=settings.stack_name,
            self_sign_up_enabled=False,  # staff and customers are invited, never self-registered
            sign_in_aliases=cognito.SignInAliases(email=True),
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=Duration.days(3),
            ),
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            # custom:agency_id: the reseller an agency user acts for (monosub.access)
            custom_attributes={
                auth.AGENCY_ATTRIBUTE: cognito.StringAttribute(min_len=1, max_len=64, mutable=True)
            },
            feature_plan=cognito.FeaturePlan.ESSENTIALS,
            deletion_protection=settings.is_production,
            removal_policy=settings.removal_policy,
        )
        for group in USER_GROUPS:
            pool.add_group(pascal(group) + "Group", group_name=group)
        nag.acknowledge(
            pool,
            "AwsSolutions-COG2",
            "MFA is optional (TOTP, no SMS) because the pool also holds customer accounts; "
            "Cognito cannot require MFA per group. Requiring it for staff is an open decision "
            "(docs/infra.md).",
        )
        nag.acknowledge(
            pool,
            "AwsSolutions-COG8",
            "Essentials tier: threat protection needs the Plus tier, billed per monthly active "
            "user including every customer; an open cost decision (docs/infra.md).",
        )
        return pool

    def _partner_clients(self, settings: StageSettings) -> dict[str, cognito.OAuthScope]:
        """Partner systems (the web shop) sign in with OAuth 2.0 client credentials: a
        resource server with monosub's scopes, an app client per partner with a secret and
        only its scopes, and the pool's domain for the token endpoint. The routes that name
        a scope accept only an access token carrying it (``authorization_scopes``)."""
        server_scopes = {
            scope: cognito.ResourceServerScope(
                scope_name=scope.removeprefix(f"{auth.RESOURCE_SERVER}/"),
                scope_description=f"monosub {scope.removeprefix(auth.RESOURCE_SERVER + '/')}",
            )
            for scope in sorted(auth.MACHINE_SCOPES)
        }
        server = self.user_pool.add_resource_server(
            "PartnerApi",
            identifier=auth.RESOURCE_SERVER,
            user_pool_resource_server_name=f"{settings.stack_name} partner API",
            scopes=list(server_scopes.values()),
        )
        self.partner_server = server
        scopes = {
            name: cognito.OAuthScope.resource_server(server, scope)
            for name, scope in server_scopes.items()
        }
        self.web_shop_client = self.user_pool.add_client(
            "WebShopClient",
            user_pool_client_name=f"{settings.stack_name}-web-shop",
            generate_secret=True,
            auth_flows=cognito.AuthFlow(),  # no user sign-in: client credentials only
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(client_credentials=True),
                scopes=[scopes[auth.ORDERS_WRITE]],
            ),
            access_token_validity=Duration.hours(1),
            prevent_user_existence_errors=True,
        )
        # The token endpoint (https://<prefix>.auth.<region>.amazoncognito.com/oauth2/token).
        # The prefix is global per region: a stage may name its own (context auth_domain).
        prefix = self.node.try_get_context("auth_domain") or f"{settings.stack_name}-auth"
        self.user_pool.add_domain(
            "AuthDomain", cognito_domain=cognito.CognitoDomainOptions(domain_prefix=prefix)
        )
        return scopes

    @property
    def staff_authorizer(self) -> apigw.CognitoUserPoolsAuthorizer:
        # Created on first use: an authorizer no method uses fails the synth.
        if self._staff_authorizer is None:
            self._staff_authorizer = apigw.CognitoUserPoolsAuthorizer(
                self, "StaffAuthorizer", cognito_user_pools=[self.user_pool]
            )
        return self._staff_authorizer

    def add_route(self, route: declarations.Route, handler: lambda_.IFunction) -> apigw.Method:
        if (route.method, route.path) in self._routes:
            raise DuplicateRoute(f"{route.method} {route.path} is declared twice")
        self._routes.add((route.method, route.path))
        resource = self.rest_api.root.resource_for_path(route.path)
        # One invoke permission per function for this API (not one per method and path):
        # CloudFormation allows 500 resources per stack, and 70 routes made 70 permissions.
        # API Gateway can still only invoke a function through the routes declared for it.
        integration = apigw.LambdaIntegration(handler, scope_permission_to_method=False)
        if route.auth == "machine":
            unknown = set(route.scopes) - set(self.partner_scopes)
            if unknown or not route.scopes:
                raise ValueError(f"{route.method} {route.path}: no such scope {sorted(unknown)}")
            machine = resource.add_method(
                route.method,
                integration,
                authorizer=self.staff_authorizer,
                authorization_type=apigw.AuthorizationType.COGNITO,
                authorization_scopes=list(route.scopes),
            )
            machine.node.add_dependency(self.partner_server)
            return machine
        if route.auth == "staff":
            return resource.add_method(
                route.method,
                integration,
                authorizer=self.staff_authorizer,
                authorization_type=apigw.AuthorizationType.COGNITO,
            )
        method = resource.add_method(
            route.method, integration, authorization_type=apigw.AuthorizationType.NONE
        )
        for rule in ("AwsSolutions-APIG4", "AwsSolutions-COG4"):
            nag.acknowledge(
                method,
                rule,
                f"{route.method} {route.path} is declared auth='public' in "
                "functions/manifest.py: it serves people without an account (the lead form, "
                "the OpenAPI document); the function itself guards what it accepts.",
            )
        return method
