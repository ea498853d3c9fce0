"""The REST API (one resource and method per declared ``Route``) and its Cognito user pool."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from functions import declarations
from infra import nag
from infra.settings import FEATURE_PLANS, PLUS, StageSettings, pascal
from monosub import auth
from monosub.domain import sign_in as sign_in_rules

# The groups are declared by the domain package (staff, and customers in the same pool).
USER_GROUPS: tuple[str, ...] = tuple(sorted(auth.USER_GROUPS))
# Attributes only ops set (admin API) or the sign-in maps: a client may read, never write them.
READ_ONLY_ATTRIBUTES = (
    auth.AGENCY_ATTRIBUTE,
    auth.ACCOUNT_ATTRIBUTE,
    auth.REGION_ATTRIBUTE,
    sign_in_rules.DIRECTORY_ATTRIBUTE,
)
# a custom attribute's mapping key as Cognito names it, with the custom: prefix
DIRECTORY_CLAIM = f"custom:{sign_in_rules.DIRECTORY_ATTRIBUTE}"
# the SAML provider's name (the sign-in page shows it); the sign-in trigger knows it by it
STAFF_DIRECTORY = sign_in_rules.DIRECTORY_PROVIDER
PORTAL_CALLBACK = "https://portal.monosub.example.jp/callback"
STAFF_CALLBACK = "https://backoffice.monosub.example.jp/callback"


class DuplicateRoute(ValueError):
    """Two manifest routes declare the same method and path."""


@dataclass(frozen=True)
class SignIn:
    """Who else signs users in, per stage (CDK context): the parent company's directory for
    staff (SAML metadata URL), Google and Facebook for customers (their public client ids;
    the client secrets are the ops-filled secrets ``google-sign-in`` / ``facebook-sign-in``,
    the whole secret string). A stage that names none has the user pool's own sign-in only."""

    staff_saml_metadata_url: str | None = None
    google_client_id: str | None = None
    facebook_app_id: str | None = None
    portal_callback_urls: tuple[str, ...] = ()
    google_secret: secretsmanager.ISecret | None = None
    facebook_secret: secretsmanager.ISecret | None = None


class Api(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StageSettings,
        sign_in: SignIn | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.user_pool = self._user_pool(settings)
        self.providers = self._identity_providers(sign_in or SignIn())
        self.customer_client = self._customer_client(settings, sign_in or SignIn())
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
            .with_custom_attributes(*READ_ONLY_ATTRIBUTES),
            write_attributes=cognito.ClientAttributes().with_standard_attributes(
                email=True, fullname=True
            ),
            # staff sign in once with the parent company's directory when the stage names it
            # (the hosted sign-in, code flow); the pool's own accounts (SRP) otherwise
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True),
                scopes=[cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL],
                callback_urls=[STAFF_CALLBACK],
                logout_urls=[STAFF_CALLBACK],
            ),
            supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO]
            + [
                cognito.UserPoolClientIdentityProvider.custom(provider.provider_name)
                for name, provider in self.providers.items()
                if name == STAFF_DIRECTORY
            ],
        )
        for provider in self.providers.values():
            self.client.node.add_dependency(provider)
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

    def _feature_plan(self, settings: StageSettings) -> str:
        plan = str(
            self.node.try_get_context("cognito_feature_plan") or settings.cognito_feature_plan
        )
        if plan not in FEATURE_PLANS:
            raise ValueError(
                f"cognito_feature_plan={plan!r}: expected one of {', '.join(FEATURE_PLANS)}"
            )
        return plan

    def _user_pool(self, settings: StageSettings) -> cognito.UserPool:
        self.feature_plan = self._feature_plan(settings)
        plus = self.feature_plan == PLUS
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
            # custom:agency_id: the reseller an agency user acts for (monosub.access);
            # custom:account_id: a customer's own account (the customer portal);
            # custom:region: a regional manager's region; custom:directory_groups: the
            # directory's groups of a staff sign-in (SAML), mapped to roles at each sign-in
            custom_attributes={
                auth.AGENCY_ATTRIBUTE: cognito.StringAttribute(min_len=1, max_len=64, mutable=True),
                auth.ACCOUNT_ATTRIBUTE: cognito.StringAttribute(
                    min_len=1, max_len=64, mutable=True
                ),
                auth.REGION_ATTRIBUTE: cognito.StringAttribute(min_len=1, max_len=64, mutable=True),
                sign_in_rules.DIRECTORY_ATTRIBUTE: cognito.StringAttribute(
                    min_len=0, max_len=2048, mutable=True
                ),
            },
            # Plus: threat protection enforced (risky sign-ins blocked or challenged,
            # compromised passwords refused); Essentials has none (docs/infra.md, Decisions)
            feature_plan=cognito.FeaturePlan.PLUS if plus else cognito.FeaturePlan.ESSENTIALS,
            standard_threat_protection_mode=cognito.StandardThreatProtectionMode.FULL_FUNCTION
            if plus
            else None,
            deletion_protection=settings.is_production,
            removal_policy=settings.removal_policy,
        )
        for group in USER_GROUPS:
            pool.add_group(pascal(group) + "Group", group_name=group)
        nag.acknowledge(
            pool,
            "AwsSolutions-COG2",
            "MFA is optional (TOTP, no SMS) because the pool also holds customer accounts and "
            "Cognito cannot require MFA per group. Staff sign in through the company directory, "
            "whose MFA applies; where the stage refuses staff pool users (prod) the sign-in "
            "trigger gives a staff-group user without the directory no token (docs/infra.md).",
        )
        if not plus:
            nag.acknowledge(
                pool,
                "AwsSolutions-COG8",
                "Essentials tier, decided on cost: threat protection needs Plus, billed for "
                "every monthly active user of the pool, customers included (up to 5 million); "
                "staff get MFA from the directory. A stage turns it on with "
                "-c cognito_feature_plan=plus (docs/infra.md, Decisions).",
            )
        return pool

    def _identity_providers(self, sign_in: SignIn) -> dict[str, cognito.IUserPoolIdentityProvider]:
        """The directory (SAML, staff) and Google/Facebook (customers) when the stage names
        them. Roles come from the ``sign-in-groups`` trigger (monosub.domain.sign_in), never
        from the provider's own claims alone."""
        providers: dict[str, cognito.IUserPoolIdentityProvider] = {}
        rules = sign_in_rules.mapping()
        if sign_in.staff_saml_metadata_url:
            providers[STAFF_DIRECTORY] = cognito.UserPoolIdentityProviderSaml(
                self,
                "StaffDirectory",
                user_pool=self.user_pool,
                name=STAFF_DIRECTORY,
                metadata=cognito.UserPoolIdentityProviderSamlMetadata.url(
                    sign_in.staff_saml_metadata_url
                ),
                attribute_mapping=cognito.AttributeMapping(
                    email=cognito.ProviderAttribute.other(
                        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
                    ),
                    fullname=cognito.ProviderAttribute.other(
                        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
                    ),
                    custom={DIRECTORY_CLAIM: cognito.ProviderAttribute.other(rules.saml_attribute)},
                ),
                request_signing_algorithm=cognito.SigningAlgorithm.RSA_SHA256,
            )
        if sign_in.google_client_id and sign_in.google_secret is not None:
            providers["Google"] = cognito.UserPoolIdentityProviderGoogle(
                self,
                "Google",
                user_pool=self.user_pool,
                client_id=sign_in.google_client_id,
                client_secret_value=sign_in.google_secret.secret_value,
                scopes=["openid", "email", "profile"],
                attribute_mapping=cognito.AttributeMapping(
                    email=cognito.ProviderAttribute.GOOGLE_EMAIL,
                    fullname=cognito.ProviderAttribute.GOOGLE_NAME,
                ),
            )
        if sign_in.facebook_app_id and sign_in.facebook_secret is not None:
            providers["Facebook"] = cognito.UserPoolIdentityProviderFacebook(
                self,
                "Facebook",
                user_pool=self.user_pool,
                client_id=sign_in.facebook_app_id,
                # Facebook's construct takes a string: a dynamic reference to the secret,
                # resolved by CloudFormation at deploy, never the value in the template
                client_secret=sign_in.facebook_secret.secret_value.unsafe_unwrap(),
                scopes=["public_profile", "email"],
                attribute_mapping=cognito.AttributeMapping(
                    email=cognito.ProviderAttribute.FACEBOOK_EMAIL,
                    fullname=cognito.ProviderAttribute.FACEBOOK_NAME,
                ),
            )
        return providers

    def _customer_client(self, settings: StageSettings, sign_in: SignIn) -> cognito.UserPoolClient:
        """The customer portal's client (web and mobile): the hosted sign-in with the user
        pool's own accounts and Google/Facebook, authorization code flow with PKCE."""
        social = [p for name, p in self.providers.items() if name != STAFF_DIRECTORY]
        callbacks = list(sign_in.portal_callback_urls) or [f"{PORTAL_CALLBACK}"]
        client = self.user_pool.add_client(
            "CustomerPortalClient",
            user_pool_client_name=f"{settings.stack_name}-customer-portal",
            generate_secret=False,
            auth_flows=cognito.AuthFlow(user_srp=True),
            prevent_user_existence_errors=True,
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True),
                scopes=[
                    cognito.OAuthScope.OPENID,
                    cognito.OAuthScope.EMAIL,
                    cognito.OAuthScope.PROFILE,
                ],
                callback_urls=callbacks,
                logout_urls=callbacks,
            ),
            supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO]
            + [cognito.UserPoolClientIdentityProvider.custom(p.provider_name) for p in social],
            read_attributes=cognito.ClientAttributes()
            .with_standard_attributes(email=True, email_verified=True, fullname=True)
            .with_custom_attributes(*READ_ONLY_ATTRIBUTES),
            write_attributes=cognito.ClientAttributes().with_standard_attributes(
                email=True, fullname=True
            ),
        )
        for provider in social:
            client.node.add_dependency(provider)
        return client

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
