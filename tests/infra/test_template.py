"""The synthesized CloudFormation template has everything the declarations promise.

Synthesized once per stage for the module (dev and prod), with bundling skipped through
the standard ``aws:cdk:bundling-stacks`` context, so nothing is installed. A first synth in a
process costs ~10 s (aws-cdk-lib loading in node); later ones well under a second.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Annotations, Match, Template
from cdk_nag import AwsSolutionsChecks

from functions import manifest, resources
from functions.declarations import (
    DEFAULT_BUS,
    Access,
    Api,
    EventRule,
    Function,
    ObjectCreated,
    Schedule,
    StateMachineTask,
    secret_env,
)
from infra import nag
from infra.app import cdk_json_context, create_app
from infra.checks import DeclarationError
from infra.constructs import layers
from infra.constructs.workflows import PlaceholderMismatch, bind_placeholders
from infra.settings import STATEMACHINES, StageSettings, UnknownStage
from infra.stack import MonosubStack
from monosub import config

pytestmark = pytest.mark.infra

SKIP_BUNDLING = {"aws:cdk:bundling-stacks": []}
WRITE_ACTIONS = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
READ_ACTIONS = {"dynamodb:GetItem", "dynamodb:Query"}


@dataclass
class Synthesized:
    stack: MonosubStack
    template: Template
    resources: dict[str, Any]  # the stack's and its monitoring nested stack's
    outdir: Path
    installs: list[Path]
    monitoring: Template  # the alarms, their topic and the dashboard (a nested stack)
    api: Template  # the REST API, its routes, the user pool (a nested stack)

    def logical_id(self, construct: Any) -> str:
        child = construct.node.default_child
        return Stack.of(child).get_logical_id(child)

    def resource(self, construct: Any) -> dict[str, Any]:
        resource: dict[str, Any] = self.resources[self.logical_id(construct)]
        return resource

    def function(self, name: str) -> dict[str, Any]:
        return self.resource(self.stack.functions[name].function)

    def function_arn(self, name: str) -> dict[str, Any]:
        return {"Fn::GetAtt": [self.logical_id(self.stack.functions[name].function), "Arn"]}

    def staged(self, s3_key: str) -> Path:
        """The staged directory of a zipped asset (``<hash>.zip`` -> ``asset.<hash>``)."""
        return self.outdir / f"asset.{s3_key.removesuffix('.zip')}"

    def api_parameter(self, name: str) -> Any:
        """What the parent passes to the API's nested stack as parameter ``name`` (a function
        ARN the routes integrate with)."""
        assert self.stack.api_stack is not None
        nested = self.stack.get_logical_id(self.stack.api_stack.nested_stack_resource)  # type: ignore[arg-type]
        return self.template.to_json()["Resources"][nested]["Properties"]["Parameters"][name]

    def api_output(self, construct: Any) -> dict[str, Any]:
        """How the parent refers to ``construct`` of the API's nested stack (an output)."""
        assert self.stack.api_stack is not None
        nested = self.stack.get_logical_id(self.stack.api_stack.nested_stack_resource)  # type: ignore[arg-type]
        return {"nested": nested, "id": self.logical_id(construct)}

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {key: value for key, value in self.resources.items() if value["Type"] == kind}


def synthesize(stage: str, outdir: Path, **context: Any) -> Synthesized:
    """The real entry point (``create_app``), synthesized; records any dependency install."""
    installs: list[Path] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(layers, "install_dependencies", installs.append)
        app = create_app({"stage": stage, **context}, outdir=str(outdir))
        stack = app.node.find_child(f"monosub-{stage}")
        assert isinstance(stack, MonosubStack)
        template = Template.from_stack(stack)  # synthesizes; cdk-nag errors would raise here
        monitoring = Template.from_stack(stack.operations.monitoring)
        assert stack.api_stack is not None
        api = Template.from_stack(stack.api_stack)
    resources = {
        **template.to_json()["Resources"],
        **monitoring.to_json()["Resources"],
        **api.to_json()["Resources"],
    }
    return Synthesized(stack, template, resources, outdir, installs, monitoring, api)


BANK_SFTP = {
    "bank_sftp_url": "sftp://sftp.bank.example.jp",
    "bank_sftp_host_keys": "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7",
}


SIGN_IN = {
    "staff_saml_metadata_url": "https://login.parent.example.jp/federationmetadata.xml",
    "google_client_id": "1234567890-abc.apps.googleusercontent.com",
    "facebook_app_id": "987654321012345",
    "portal_callback_urls": "https://portal.example.jp/callback",
}


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    # dev names the bank's SFTP server (its connector is built) and the sign-in providers;
    # prod names neither
    return synthesize(
        "dev", tmp_path_factory.mktemp("dev"), **SKIP_BUNDLING, **BANK_SFTP, **SIGN_IN
    )


@pytest.fixture(scope="module")
def prod(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize("prod", tmp_path_factory.mktemp("prod"), **SKIP_BUNDLING)


# ---- functions -----------------------------------------------------------------------------


@pytest.mark.parametrize("declared", manifest.FUNCTIONS, ids=lambda f: f.name)
def test_every_manifest_function_is_deployed_as_declared(dev: Synthesized, declared: Function):
    properties = dev.function(declared.name)["Properties"]
    assert properties["FunctionName"] == f"monosub-dev-{declared.name}"
    if declared.image:
        assert properties["PackageType"] == "Image"
        assert properties["ImageConfig"] == {"Command": [declared.handler]}
        assert "Layers" not in properties
    else:
        assert properties["Handler"] == declared.handler
        assert properties["Runtime"] == "python3.12"
        assert len(properties["Layers"]) == 2
    assert properties["Architectures"] == ["arm64"]
    assert properties["Timeout"] == declared.timeout_seconds
    assert properties["MemorySize"] == declared.memory_mb
    assert properties["TracingConfig"] == {"Mode": "Active"}

    environment = properties["Environment"]["Variables"]
    storage = dev.stack.storage
    for table in declared.tables:
        assert environment[config.table_env(table)] == {
            "Ref": dev.logical_id(storage.tables[table])
        }
    for bucket in declared.buckets:
        assert environment[config.bucket_env(bucket)] == {
            "Ref": dev.logical_id(storage.buckets[bucket])
        }
    for machine in declared.starts:
        arn = json.dumps(environment[config.state_machine_env(machine)])
        assert f":stateMachine:monosub-dev-{machine}" in arn
    if declared.publishes_to:
        bus = storage.event_buses[declared.publishes_to[0]]
        assert environment[config.EVENT_BUS_ENV] == {"Ref": dev.logical_id(bus)}
    assert storage.business_clock is not None
    assert environment[config.CLOCK_PARAMETER_ENV] == {
        "Ref": dev.logical_id(storage.business_clock)
    }
    assert environment["STAGE"] == "dev"
    for callee in declared.invokes:
        assert environment[config.function_env(callee)] == f"monosub-dev-{callee}"
    assert environment["POWERTOOLS_SERVICE_NAME"] == declared.name
    assert environment["POWERTOOLS_LOG_LEVEL"] == "INFO"


def test_no_other_functions_than_the_manifest_and_cdks_notification_handler(dev: Synthesized):
    # + CDK's own handler that configures S3 bucket notifications at deploy time
    dev.template.resource_count_is("AWS::Lambda::Function", len(manifest.FUNCTIONS) + 1)


def test_state_machine_names_in_environments_are_the_real_names(dev: Synthesized):
    for machine in resources.STATE_MACHINES:
        workflow = dev.stack.workflows[machine.name]
        assert dev.resource(workflow.state_machine)["Properties"]["StateMachineName"] == (
            f"monosub-dev-{machine.name}"
        )


def _policy_statements(synthesized: Synthesized, name: str) -> list[dict[str, Any]]:
    role = synthesized.stack.functions[name].function.role
    assert role is not None
    policy = next(
        resource
        for resource in synthesized.of_type("AWS::IAM::Policy").values()
        if {"Ref": synthesized.logical_id(role)} in resource["Properties"]["Roles"]
    )
    statements: list[dict[str, Any]] = policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def _actions_on(statements: list[dict[str, Any]], reference: str) -> set[str]:
    """Actions of the statements whose resources mention ``reference`` (a logical id, or a
    literal part of an ARN)."""
    actions: set[str] = set()
    for statement in statements:
        if reference in json.dumps(statement["Resource"]):
            listed = statement["Action"]
            actions |= {listed} if isinstance(listed, str) else set(listed)
    return actions


@pytest.mark.parametrize("declared", manifest.FUNCTIONS, ids=lambda f: f.name)
def test_grants_are_exactly_the_declared_access(dev: Synthesized, declared: Function):
    statements = _policy_statements(dev, declared.name)
    storage = dev.stack.storage
    for name, table in storage.tables.items():
        actions = _actions_on(statements, dev.logical_id(table))
        access = declared.tables.get(name)
        assert bool(actions & READ_ACTIONS) == (access in (Access.READ, Access.READ_WRITE)), name
        assert bool(actions & WRITE_ACTIONS) == (access in (Access.WRITE, Access.READ_WRITE)), name
    for name, bucket in storage.buckets.items():
        actions = _actions_on(statements, dev.logical_id(bucket))
        access = declared.buckets.get(name)
        assert ("s3:GetObject*" in actions) == (access in (Access.READ, Access.READ_WRITE))
        uploads = name in declared.uploads_to
        assert ("s3:PutObject" in actions) == (
            access in (Access.WRITE, Access.READ_WRITE) or uploads
        )
        assert ("s3:DeleteObject*" in actions) == (access in (Access.WRITE, Access.READ_WRITE))
    for name, prefix in declared.uploads_to.items():
        bucket = dev.logical_id(storage.buckets[name])
        [put] = [
            s
            for s in statements
            if bucket in json.dumps(s["Resource"]) and "s3:PutObject" in _listed(s["Action"])
        ]
        assert f'"/{prefix}*"' in json.dumps(put["Resource"]), put  # that prefix only
    for name, workflow in dev.stack.workflows.items():
        actions = _actions_on(statements, dev.logical_id(workflow.state_machine))
        assert ("states:StartExecution" in actions) == (name in declared.starts)
        following = _actions_on(statements, f":execution:{workflow.name}:*")
        assert ("states:DescribeExecution" in following) == (name in declared.starts)
        assert ("states:RedriveExecution" in following) == (name in declared.redrives)
    for name, bus in storage.event_buses.items():
        actions = _actions_on(statements, dev.logical_id(bus))
        assert ("events:PutEvents" in actions) == (name in declared.publishes_to)


# ---- API -----------------------------------------------------------------------------------


def _api_methods(synthesized: Synthesized) -> dict[tuple[str, str], dict[str, Any]]:
    """(method, path) -> properties of every API Gateway method, paths rebuilt from the
    resource tree."""
    parents: dict[str, tuple[str | None, str]] = {}
    for logical_id, resource in synthesized.of_type("AWS::ApiGateway::Resource").items():
        parent = resource["Properties"]["ParentId"]
        parents[logical_id] = (parent.get("Ref"), resource["Properties"]["PathPart"])

    def path_of(logical_id: str | None) -> str:
        if logical_id is None or logical_id not in parents:
            return ""
        parent, part = parents[logical_id]
        return f"{path_of(parent)}/{part}"

    methods: dict[tuple[str, str], dict[str, Any]] = {}
    for method in synthesized.of_type("AWS::ApiGateway::Method").values():
        properties = method["Properties"]
        path = path_of(properties["ResourceId"].get("Ref")) or "/"
        methods[(properties["HttpMethod"], path)] = properties
    return methods


def _declared_routes() -> list[tuple[Function, Any]]:
    return [
        (function, route)
        for function in manifest.FUNCTIONS
        for trigger in function.triggers
        if isinstance(trigger, Api)
        for route in trigger.routes
    ]


def test_the_api_has_exactly_the_declared_routes(dev: Synthesized):
    declared = {(route.method, route.path) for _, route in _declared_routes()}
    assert set(_api_methods(dev)) == declared


@pytest.mark.parametrize(
    ("function", "route"),
    _declared_routes(),
    ids=[f"{route.method} {route.path}" for _, route in _declared_routes()],
)
def test_every_route_proxies_to_its_function_with_its_authorizer(
    dev: Synthesized, function: Function, route: Any
):
    method = _api_methods(dev)[(route.method, route.path)]
    integration = method["Integration"]
    assert integration["Type"] == "AWS_PROXY"
    uri = json.dumps(integration["Uri"])  # the function's ARN, passed from the parent
    (parameter,) = re.findall(r'"Ref": "(referenceto[^"]+)"', uri)
    assert dev.api_parameter(parameter) == dev.function_arn(function.name)
    if route.auth in ("staff", "machine"):
        assert method["AuthorizationType"] == "COGNITO_USER_POOLS"
        assert dev.stack.api is not None
        assert method["AuthorizerId"] == {"Ref": dev.logical_id(dev.stack.api.staff_authorizer)}
        # A machine route takes only an access token with its scopes; a staff route an ID token.
        assert method.get("AuthorizationScopes", []) == list(route.scopes)
    else:
        assert method["AuthorizationType"] == "NONE"
        assert "AuthorizerId" not in method


def test_api_stage_user_pool_and_groups(dev: Synthesized):
    dev.api.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "StageName": "dev",
            "TracingEnabled": True,
            "AccessLogSetting": {"DestinationArn": Match.any_value(), "Format": Match.any_value()},
        },
    )
    dev.api.has_resource_properties(
        "AWS::Cognito::UserPool",
        {"AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True}},
    )
    groups = {
        group["Properties"]["GroupName"]
        for group in dev.of_type("AWS::Cognito::UserPoolGroup").values()
    }
    assert groups == {"sales", "regional-manager", "corporate-manager", "agency", "ops", "customer"}


def test_an_agency_user_carries_its_agency_and_cannot_change_it(dev: Synthesized):
    [pool] = dev.of_type("AWS::Cognito::UserPool").values()
    custom = [a for a in pool["Properties"]["Schema"] if a["Name"] == "agency_id"]
    assert custom == [
        {
            "AttributeDataType": "String",
            "Mutable": True,
            "Name": "agency_id",
            "StringAttributeConstraints": {"MaxLength": "64", "MinLength": "1"},
        }
    ]
    people = [
        c
        for c in dev.of_type("AWS::Cognito::UserPoolClient").values()
        if not c["Properties"].get("GenerateSecret")
    ]
    assert len(people) == 2  # staff, and the customer portal
    for client in people:
        for attribute in ("agency_id", "account_id", "region", "directory_groups"):
            assert f"custom:{attribute}" in client["Properties"]["ReadAttributes"]
            assert f"custom:{attribute}" not in client["Properties"]["WriteAttributes"]


def _providers(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    return {
        p["Properties"]["ProviderName"]: p["Properties"]
        for p in synthesized.of_type("AWS::Cognito::UserPoolIdentityProvider").values()
    }


def _identity_providers_of(synthesized: Synthesized, client: dict[str, Any]) -> set[str]:
    """A client's providers by name (a provider's is a Ref to it in the template)."""
    names = set()
    for entry in client["SupportedIdentityProviders"]:
        resource = synthesized.resources[entry["Ref"]] if isinstance(entry, dict) else None
        names.add(resource["Properties"]["ProviderName"] if resource else entry)
    return names


def _client_named(synthesized: Synthesized, suffix: str) -> dict[str, Any]:
    [client] = [
        c["Properties"]
        for c in synthesized.of_type("AWS::Cognito::UserPoolClient").values()
        if str(c["Properties"].get("ClientName", "")).endswith(suffix)
    ]
    return client


def test_staff_sign_in_once_with_the_directory_and_customers_with_google_or_facebook(
    dev: Synthesized, prod: Synthesized
):
    providers = _providers(dev)
    assert set(providers) == {"Directory", "Google", "Facebook"}
    directory = providers["Directory"]
    assert directory["ProviderType"] == "SAML"
    assert directory["ProviderDetails"]["MetadataURL"] == SIGN_IN["staff_saml_metadata_url"]
    saml_groups = "http://schemas.xmlsoap.org/claims/Group"
    assert directory["AttributeMapping"]["custom:directory_groups"] == saml_groups
    assert providers["Google"]["ProviderDetails"]["client_id"] == SIGN_IN["google_client_id"]
    # the client secrets are dynamic references to the ops-filled secrets, never values
    assert "resolve:secretsmanager" in json.dumps(providers["Google"]["ProviderDetails"])
    assert "resolve:secretsmanager" in json.dumps(providers["Facebook"]["ProviderDetails"])
    portal = _client_named(dev, "-customer-portal")
    assert portal["AllowedOAuthFlows"] == ["code"]
    assert _identity_providers_of(dev, portal) == {"COGNITO", "Google", "Facebook"}
    assert portal["CallbackURLs"] == ["https://portal.example.jp/callback"]
    staff = [
        c["Properties"]
        for c in dev.of_type("AWS::Cognito::UserPoolClient").values()
        if "ClientName" not in c["Properties"]
    ]
    assert [_identity_providers_of(dev, c) for c in staff] == [{"COGNITO", "Directory"}]
    # a stage that names no provider signs in with the pool only
    assert _providers(prod) == {}
    assert _client_named(prod, "-customer-portal")["SupportedIdentityProviders"] == ["COGNITO"]


def test_every_token_gets_its_roles_from_the_sign_in_groups_trigger(dev: Synthesized):
    [pool] = dev.of_type("AWS::Cognito::UserPool").values()
    trigger = pool["Properties"]["LambdaConfig"]["PreTokenGeneration"]
    (parameter,) = re.findall(r'"Ref": "(referenceto[^"]+)"', json.dumps(trigger))
    assert dev.api_parameter(parameter) == dev.function_arn("sign-in-groups")
    permissions = [
        p["Properties"]
        for p in dev.of_type("AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "cognito-idp.amazonaws.com"
    ]
    [permission] = permissions  # Cognito may invoke that function, and no other
    (parameter,) = re.findall(r'"Ref": "(referenceto[^"]+)"', json.dumps(permission))
    assert dev.api_parameter(parameter) == dev.function_arn("sign-in-groups")


@pytest.mark.parametrize(("stage", "expected"), [("dev", "allow"), ("prod", "refuse")])
def test_the_sign_in_trigger_knows_whether_the_stage_refuses_staff_pool_users(
    dev: Synthesized, prod: Synthesized, stage: str, expected: str
):
    from monosub.domain import sign_in

    synthesized = dev if stage == "dev" else prod
    assert StageSettings(stage).staff_pool_users == expected
    environment = synthesized.function("sign-in-groups")["Properties"]["Environment"]["Variables"]
    assert environment[sign_in.STAFF_POOL_USERS_ENV] == expected
    # only the trigger gets it
    for declared in manifest.FUNCTIONS:
        if declared.name != "sign-in-groups":
            variables = synthesized.function(declared.name)["Properties"]["Environment"]
            assert sign_in.STAFF_POOL_USERS_ENV not in variables["Variables"], declared.name


def _user_pool(synthesized: Synthesized) -> dict[str, Any]:
    (pool,) = synthesized.api.find_resources("AWS::Cognito::UserPool").values()
    properties: dict[str, Any] = pool["Properties"]
    return properties


def test_the_user_pool_is_essentials_without_threat_protection_by_default(
    dev: Synthesized, prod: Synthesized
):
    for synthesized in (dev, prod):
        pool = _user_pool(synthesized)
        assert pool["UserPoolTier"] == "ESSENTIALS"
        assert "UserPoolAddOns" not in pool


def test_a_stage_on_the_plus_plan_enforces_threat_protection(tmp_path: Path):
    plus = synthesize("prod", tmp_path, **SKIP_BUNDLING, cognito_feature_plan="plus")
    pool = _user_pool(plus)
    assert pool["UserPoolTier"] == "PLUS"
    assert pool["UserPoolAddOns"] == {"AdvancedSecurityMode": "ENFORCED"}
    # COG8 is answered, not acknowledged, and nothing else is left unacknowledged
    report = json.loads((tmp_path / "validation-report.json").read_text())
    assert report["pluginReports"] == []


def test_an_unknown_feature_plan_is_refused(tmp_path: Path):
    with pytest.raises(ValueError, match="cognito_feature_plan"):
        synthesize("dev", tmp_path, **SKIP_BUNDLING, cognito_feature_plan="gold")


def test_the_web_shop_signs_in_with_client_credentials_for_its_scope_only(dev: Synthesized):
    [server] = dev.of_type("AWS::Cognito::UserPoolResourceServer").values()
    assert server["Properties"]["Identifier"] == "monosub"
    assert [s["ScopeName"] for s in server["Properties"]["Scopes"]] == ["orders.write"]
    [shop] = [
        c
        for c in dev.of_type("AWS::Cognito::UserPoolClient").values()
        if c["Properties"].get("GenerateSecret")
    ]
    properties = shop["Properties"]
    assert properties["AllowedOAuthFlows"] == ["client_credentials"]
    assert properties["AllowedOAuthFlowsUserPoolClient"] is True
    assert len(properties["AllowedOAuthScopes"]) == 1
    assert "ExplicitAuthFlows" not in properties or properties["ExplicitAuthFlows"] == []
    [domain] = dev.of_type("AWS::Cognito::UserPoolDomain").values()
    assert domain["Properties"]["Domain"] == "monosub-dev-auth"
    machine = [r for _, r in _declared_routes() if r.auth == "machine"]
    assert [(r.method, r.path) for r in machine] == [("POST", "/orders")]


# ---- storage -------------------------------------------------------------------------------


@pytest.mark.parametrize("declared", resources.TABLES, ids=lambda t: t.name)
def test_every_table_as_declared(dev: Synthesized, declared: Any):
    properties = dev.resource(dev.stack.storage.tables[declared.name])["Properties"]
    keys = [{"AttributeName": declared.partition_key, "KeyType": "HASH"}]
    if declared.sort_key:
        keys.append({"AttributeName": declared.sort_key, "KeyType": "RANGE"})
    assert properties["KeySchema"] == keys
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert all(a["AttributeType"] == "S" for a in properties["AttributeDefinitions"])
    indexes = {index["IndexName"]: index for index in properties.get("GlobalSecondaryIndexes", [])}
    kept = [index for index in declared.indexes if not index.retired]
    assert set(indexes) == {index.name for index in kept}
    for index in kept:
        schema = [{"AttributeName": index.partition_key, "KeyType": "HASH"}]
        if index.sort_key:
            schema.append({"AttributeName": index.sort_key, "KeyType": "RANGE"})
        assert indexes[index.name]["KeySchema"] == schema
        projection: dict[str, Any] = {"ProjectionType": index.projection}
        if index.include:
            projection["NonKeyAttributes"] = list(index.include)
        assert indexes[index.name]["Projection"] == projection
    if declared.ttl_attribute:
        assert properties["TimeToLiveSpecification"] == {
            "AttributeName": declared.ttl_attribute,
            "Enabled": True,
        }
    encryption = properties["SSESpecification"]
    assert encryption["SSEEnabled"] is True
    if declared.holds_personal_data:
        assert encryption["SSEType"] == "KMS"
        assert encryption["KMSMasterKeyId"] == {
            "Fn::GetAtt": [dev.logical_id(dev.stack.storage.personal_data_key), "Arn"]
        }
    else:
        assert "KMSMasterKeyId" not in encryption


@pytest.mark.parametrize("declared", resources.BUCKETS, ids=lambda b: b.name)
def test_every_bucket_is_private_encrypted_versioned_and_logged(dev: Synthesized, declared: Any):
    properties = dev.resource(dev.stack.storage.buckets[declared.name])["Properties"]
    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    (rule,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    if declared.holds_personal_data:
        key = {"Fn::GetAtt": [dev.logical_id(dev.stack.storage.personal_data_key), "Arn"]}
        assert rule == {
            "BucketKeyEnabled": True,
            "ServerSideEncryptionByDefault": {"KMSMasterKeyID": key, "SSEAlgorithm": "aws:kms"},
        }
    else:
        assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    assert properties["LoggingConfiguration"]["DestinationBucketName"] == {
        "Ref": dev.logical_id(dev.stack.storage.access_logs)
    }


def test_the_exchange_bucket_holds_personal_data_under_kms():
    assert resources.bucket(resources.EXCHANGE).holds_personal_data


@pytest.mark.parametrize("declared", manifest.FUNCTIONS, ids=lambda f: f.name)
def test_whoever_uses_a_kms_bucket_may_use_its_key_as_far_as_its_access_needs(
    dev: Synthesized, declared: Function
):
    key = dev.logical_id(dev.stack.storage.personal_data_key)
    actions = _actions_on(_policy_statements(dev, declared.name), key)
    personal = {
        access
        for name, access in declared.buckets.items()
        if resources.bucket(name).holds_personal_data
    }
    tables = {
        access
        for name, access in declared.tables.items()
        if resources.table(name).holds_personal_data
    }
    reads = personal | tables
    writes = {a for a in reads if a is not Access.READ}
    assert ("kms:Decrypt" in actions) == bool(reads), declared.name
    assert ("kms:GenerateDataKey*" in actions) == bool(writes), declared.name


def test_the_distributed_maps_and_the_bank_connector_may_decrypt_the_exchange_files(
    dev: Synthesized,
):
    key = {"Fn::GetAtt": [dev.logical_id(dev.stack.storage.personal_data_key), "Arn"]}

    def decrypts(role: Any) -> bool:
        role_ref = {"Ref": dev.stack.get_logical_id(role.node.default_child)}
        return any(
            role_ref in policy["Properties"]["Roles"]
            and any(
                "kms:Decrypt" in _listed(s["Action"]) and s["Resource"] == key
                for s in policy["Properties"]["PolicyDocument"]["Statement"]
            )
            for policy in dev.of_type("AWS::IAM::Policy").values()
        )

    mapped = [m for m in resources.STATE_MACHINES if m.item_bucket == resources.EXCHANGE]
    assert mapped
    for machine in mapped:
        assert decrypts(dev.stack.workflows[machine.name].state_machine.role), machine.name
    connector = dev.stack.bank_sftp
    assert connector is not None
    assert decrypts(connector.access_role)


def test_every_event_bus_exists(dev: Synthesized):
    dev.template.resource_count_is("AWS::Events::EventBus", len(resources.EVENT_BUSES))


# ---- state machines ------------------------------------------------------------------------


@pytest.mark.parametrize("declared", resources.STATE_MACHINES, ids=lambda m: m.name)
def test_every_state_machine_resolves_every_placeholder(dev: Synthesized, declared: Any):
    properties = dev.resource(dev.stack.workflows[declared.name].state_machine)["Properties"]
    # DefinitionBody.from_file ships the ASL as an asset; CloudFormation substitutes
    # DefinitionSubstitutions into it. What Step Functions gets must have no ${...} left.
    definition = (dev.outdir / f"asset.{properties['DefinitionS3Location']['Key']}").read_text()
    substituted = definition
    for placeholder, value in properties["DefinitionSubstitutions"].items():
        assert "Fn::GetAtt" in value
        substituted = substituted.replace("${" + placeholder + "}", "arn:resolved")
    assert "${" not in substituted
    json.loads(substituted)
    assert properties["TracingConfiguration"] == {"Enabled": True}
    assert properties["LoggingConfiguration"]["Level"] == "ALL"


# ---- triggers ------------------------------------------------------------------------------


def _triggers(kind: type) -> list[tuple[Function, Any]]:
    return [(f, t) for f in manifest.FUNCTIONS for t in f.triggers if isinstance(t, kind)]


def _bucket_notifications(dev: Synthesized) -> dict[str, list[dict[str, Any]]]:
    """The Lambda notification configurations of each bucket, by the bucket's logical id
    (one ``Custom::S3BucketNotifications`` per bucket that has any)."""
    return {
        notifications["Properties"]["BucketName"]["Ref"]: notifications["Properties"][
            "NotificationConfiguration"
        ]["LambdaFunctionConfigurations"]
        for notifications in dev.of_type("Custom::S3BucketNotifications").values()
    }


def test_object_created_triggers_are_bucket_notifications(dev: Synthesized):
    by_bucket = _bucket_notifications(dev)
    expected = _triggers(ObjectCreated)
    assert sum(len(configurations) for configurations in by_bucket.values()) == len(expected)
    for function, trigger in expected:
        rules = [{"Name": "prefix", "Value": trigger.prefix}]
        if trigger.suffix:
            rules.append({"Name": "suffix", "Value": trigger.suffix})
        configurations = by_bucket[dev.logical_id(dev.stack.storage.buckets[trigger.bucket])]
        assert {
            "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": rules}},
            "LambdaFunctionArn": dev.function_arn(function.name),
        } in configurations


def test_uploaded_documents_reach_only_their_checker_which_may_do_only_that(dev: Synthesized):
    """Only ``uploads/`` of the documents bucket notifies ``document-uploaded`` (the PDFs
    monosub issues, attached and quarantined files do not); the function reads and moves
    documents and writes records and events, nothing else; the API, which signs the
    presigned POSTs, may put documents (a presigned request has its signer's rights)."""
    documents = dev.logical_id(dev.stack.storage.buckets["documents"])
    assert _bucket_notifications(dev)[documents] == [
        {
            "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "uploads/"}]}},
            "LambdaFunctionArn": dev.function_arn("document-uploaded"),
        }
    ]
    statements = _policy_statements(dev, "document-uploaded")
    on_documents = _actions_on(statements, documents)
    assert {"s3:GetObject*", "s3:PutObject", "s3:DeleteObject*"} <= on_documents
    on_records = _actions_on(statements, dev.logical_id(dev.stack.storage.tables["records"]))
    assert {"dynamodb:GetItem", "dynamodb:PutItem"} <= on_records
    for name, table in dev.stack.storage.tables.items():
        if name != "records":
            assert not _actions_on(statements, dev.logical_id(table)), name
    exchange = dev.logical_id(dev.stack.storage.buckets["exchange"])
    assert not _actions_on(statements, exchange)
    bus = dev.logical_id(dev.stack.storage.event_buses["domain-events"])
    assert _actions_on(statements, bus) == {"events:PutEvents"}
    assert "s3:PutObject" in _actions_on(_policy_statements(dev, "api"), documents)


def _rule_targets(synthesized: Synthesized, function: Function) -> list[dict[str, Any]]:
    arn = synthesized.function_arn(function.name)
    return [
        rule["Properties"]
        for rule in synthesized.of_type("AWS::Events::Rule").values()
        if any(target["Arn"] == arn for target in rule["Properties"]["Targets"])
    ]


def test_schedules_are_rules_on_the_default_bus(dev: Synthesized):
    for function, trigger in _triggers(Schedule):
        # a function may have event rules besides (notifications: facts, and its sweep)
        (rule,) = [r for r in _rule_targets(dev, function) if "ScheduleExpression" in r]
        assert rule["ScheduleExpression"] == trigger.expression
        assert "EventBusName" not in rule


def test_event_rules_select_by_source_prefix_and_detail_type_on_their_bus(dev: Synthesized):
    prefix = dev.stack.resolve(dev.stack.state_machine_prefix)
    for function, trigger in _triggers(EventRule):
        # a function may have several rules (billing-contracts: contracts and returns)
        (rule,) = [
            r
            for r in _rule_targets(dev, function)
            if r.get("EventPattern") == trigger.pattern(prefix)
        ]
        assert rule["EventPattern"]["source"] == [{"prefix": trigger.source_prefix}]
        if trigger.bus == DEFAULT_BUS:
            assert "EventBusName" not in rule
        else:
            assert rule["EventBusName"] == {
                "Ref": dev.logical_id(dev.stack.storage.event_buses[trigger.bus])
            }


def test_console_redrives_of_this_stages_machines_reach_their_recorder(dev: Synthesized):
    (rule,) = _rule_targets(dev, manifest.function("execution-redriven"))
    assert "EventBusName" not in rule  # AWS services' events are on the default bus
    pattern = rule["EventPattern"]
    assert pattern["source"] == [{"prefix": "aws.states"}]
    assert pattern["detail-type"] == ["Step Functions Execution Status Change"]
    assert pattern["detail"]["status"] == ["RUNNING"]
    assert pattern["detail"]["redriveCount"] == [{"numeric": [">", 0]}]
    (machines,) = pattern["detail"]["stateMachineArn"]
    assert json.dumps(machines).endswith(':stateMachine:monosub-dev-"]]}}')
    # it records the re-drive (runs) and announces it (the bus): nothing else
    declared = manifest.function("execution-redriven")
    assert declared.tables == {resources.RUNS: Access.READ_WRITE}
    assert declared.publishes_to == (resources.DOMAIN_EVENTS,) and not declared.redrives


# ---- packaging -----------------------------------------------------------------------------


def test_bundling_was_skipped(dev: Synthesized, prod: Synthesized):
    assert dev.installs == [] and prod.installs == []


def test_bundling_uses_the_local_installer_not_docker(tmp_path: Path):
    """With bundling on, the dependencies layer comes from the local installer (faked here:
    no download) and the synth does not touch Docker."""

    def fake_install(output: Path) -> None:
        (output / "python").mkdir(parents=True)
        (output / "python" / "installed.txt").write_text("ok")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(layers, "install_dependencies", fake_install)
        app = create_app({"stage": "dev", "aws:cdk:bundling-stacks": ["**"]}, outdir=str(tmp_path))
        app.synth()
    assert list(tmp_path.glob("asset.*/python/installed.txt"))


def test_deployed_code_is_the_functions_package_and_every_handler_imports(dev: Synthesized):
    """Import every manifest handler from the staged function asset + core layer only (the
    repository is not on the path), as Lambda would from /var/task and /opt/python."""
    code = dev.staged(dev.function("api")["Properties"]["Code"]["S3Key"])
    core = dev.resource(dev.stack.node.find_child("Layers").node.find_child("Core"))
    core_dir = dev.staged(core["Properties"]["Content"]["S3Key"])
    assert sorted(path.name for path in code.iterdir()) == ["functions"]
    handlers = [function.handler for function in manifest.FUNCTIONS]
    script = (
        "import importlib, sys\n"
        "for handler in sys.argv[1:]:\n"
        "    module, attribute = handler.rsplit('.', 1)\n"
        "    assert callable(getattr(importlib.import_module(module), attribute)), handler\n"
    )
    environment = {
        "PYTHONPATH": f"{code}:{core_dir / 'python'}",
        "AWS_DEFAULT_REGION": "ap-northeast-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    result = subprocess.run(
        [sys.executable, "-c", script, *handlers],
        cwd=code,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


# ---- cdk-nag -------------------------------------------------------------------------------


def test_no_unacknowledged_cdk_nag_findings(dev: Synthesized, prod: Synthesized):
    # cdk-nag 3 reports through CDK's policy validation (not annotations): an unacknowledged
    # error fails the synth itself, and every violation is written to the report.
    for synthesized in (dev, prod):
        report = json.loads((synthesized.outdir / "validation-report.json").read_text())
        assert report["pluginReports"] == []
        assert Annotations.from_stack(synthesized.stack).find_error("*", Match.any_value()) == []
        assert (
            Annotations.from_stack(synthesized.stack).find_error(
                "*", Match.string_like_regexp("AwsSolutions-.*")
            )
            == []
        )


def test_every_acknowledgment_answers_a_real_finding():
    """A suppression whose finding no longer exists is a stale reason: rebuild the tree with
    acknowledgments recorded instead of applied, and compare with what cdk-nag finds."""
    recorded: list[tuple[str, str]] = []

    def record(scope: Any, rule: str, _reason: str) -> None:
        recorded.append((scope.node.path, rule))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(nag, "acknowledge", record)
        app = App(context={**cdk_json_context(), **SKIP_BUNDLING})
        MonosubStack(app, StageSettings("dev"))
        report = AwsSolutionsChecks().validate_scope(app)
    findings = {
        (violation.rule_name, resource.construct_path)
        for violation in report.violations
        for resource in violation.violating_resources
    }

    def covers(scope: str, rule: str, finding: tuple[str, str]) -> bool:
        return finding[0] == rule and (finding[1] + "/").startswith(scope + "/")

    stale = [(s, r) for s, r in recorded if not any(covers(s, r, f) for f in findings)]
    unanswered = [f for f in findings if not any(covers(s, r, f) for s, r in recorded)]
    assert stale == []
    assert unanswered == []


# ---- prod ----------------------------------------------------------------------------------


def test_prod_retains_data_and_has_no_business_clock(prod: Synthesized):
    for table in prod.stack.storage.tables.values():
        resource = prod.resource(table)
        assert resource["DeletionPolicy"] == "Retain"
        assert resource["UpdateReplacePolicy"] == "Retain"
        assert resource["Properties"]["DeletionProtectionEnabled"] is True
    prod.template.resource_count_is("AWS::SSM::Parameter", 0)
    for declared in manifest.FUNCTIONS:
        environment = prod.function(declared.name)["Properties"]["Environment"]["Variables"]
        assert config.CLOCK_PARAMETER_ENV not in environment
        assert environment["STAGE"] == "prod"
    for log_group in prod.of_type("AWS::Logs::LogGroup").values():
        assert log_group["Properties"]["RetentionInDays"] == 365


def test_dev_destroys_data_and_has_the_business_clock(dev: Synthesized):
    for table in dev.stack.storage.tables.values():
        assert dev.resource(table)["DeletionPolicy"] == "Delete"
    dev.template.has_resource_properties(
        "AWS::SSM::Parameter", {"Name": "/monosub/dev/business-clock", "Value": "wall"}
    )
    for log_group in dev.of_type("AWS::Logs::LogGroup").values():
        assert log_group["Properties"]["RetentionInDays"] == 30


def test_outputs(dev: Synthesized):
    outputs = dev.template.to_json()["Outputs"]
    assert {"ApiUrl", "UserPoolId", "ExchangeBucketName"} <= set(outputs)


# ---- refusals (no synth) -------------------------------------------------------------------

FILE_INTAKE = next(m for m in resources.STATE_MACHINES if m.name == resources.FILE_INTAKE)


def _without_binding(placeholder: str) -> tuple[Function, ...]:
    def keep(trigger: Any) -> bool:
        return not (isinstance(trigger, StateMachineTask) and trigger.placeholder == placeholder)

    return tuple(replace(f, triggers=tuple(filter(keep, f.triggers))) for f in manifest.FUNCTIONS)


def test_an_asl_placeholder_no_manifest_entry_binds_fails_the_synth():
    with pytest.raises(PlaceholderMismatch, match=re.escape("${ApplyFunctionArn}")):
        MonosubStack(App(), StageSettings("dev"), functions=_without_binding("ApplyFunctionArn"))


def test_a_manifest_placeholder_the_asl_does_not_use_fails_the_synth():
    extra = replace(
        manifest.function("intake-apply"),
        name="intake-extra",
        triggers=(StateMachineTask(resources.FILE_INTAKE, "ExtraFunctionArn"),),
    )
    with pytest.raises(PlaceholderMismatch, match=re.escape("${ExtraFunctionArn}")):
        bind_placeholders(FILE_INTAKE, (*manifest.FUNCTIONS, extra), STATEMACHINES)


def test_an_asl_file_with_an_unknown_placeholder_fails(tmp_path: Path):
    definition = (STATEMACHINES / FILE_INTAKE.definition).read_text()
    (tmp_path / FILE_INTAKE.definition).write_text(
        definition.replace("${CompleteFunctionArn}", "${CompleteFunctionArnV2}")
    )
    with pytest.raises(PlaceholderMismatch) as refused:
        MonosubStack(App(), StageSettings("dev"), statemachines_dir=tmp_path)
    assert "${CompleteFunctionArnV2}" in str(refused.value)
    assert "${CompleteFunctionArn}" in str(refused.value)


def test_a_function_using_an_undeclared_table_fails():
    broken = replace(manifest.function("api"), tables={"ledger": Access.READ})
    with pytest.raises(DeclarationError, match="ledger"):
        MonosubStack(App(), StageSettings("dev"), functions=(broken,))


def test_an_unknown_stage_is_refused(tmp_path: Path):
    with pytest.raises(UnknownStage):
        create_app({"stage": "qa", **SKIP_BUNDLING}, outdir=str(tmp_path))


def test_functions_that_send_email_may_send_only_from_the_stage_sender(dev: Synthesized):
    """``sends_email`` in the manifest becomes an SES identity, EMAIL_FROM and one grant."""
    senders = [f for f in manifest.FUNCTIONS if f.sends_email]
    assert senders, "the API sends the consent emails"
    dev.template.resource_count_is("AWS::SES::EmailIdentity", 1)
    policies = dev.template.find_resources("AWS::IAM::Policy")
    granted = [
        name
        for name, policy in policies.items()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "ses:SendEmail"
        in (statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
    ]
    assert len(granted) == len(senders)


@pytest.mark.parametrize("declared", resources.SECRETS, ids=lambda s: s.name)
def test_a_declared_secret_has_a_generated_value_read_only_by_its_declaring_functions(
    dev: Synthesized, prod: Synthesized, declared: Any
):
    """``SECRETS`` become Secrets Manager secrets with a generated value (a placeholder, for
    one ops fill); a function that declares one gets its ARN in ``SECRET_<NAME>`` and read
    access, no other function does."""
    secret = dev.stack.storage.secrets[declared.name]
    resource = dev.resource(secret)
    generated = resource["Properties"]["GenerateSecretString"]
    assert generated["PasswordLength"] >= 32 and generated["ExcludePunctuation"] is True
    assert "SecretString" not in resource["Properties"]  # no value in the template
    assert resource["DeletionPolicy"] == "Delete"
    assert prod.resource(prod.stack.storage.secrets[declared.name])["DeletionPolicy"] == "Retain"
    dev.template.resource_count_is("AWS::SecretsManager::Secret", len(resources.SECRETS))
    logical = dev.logical_id(secret)
    readers = [f for f in manifest.FUNCTIONS if declared.name in f.secrets]
    # Ops fill theirs before the first function that reads it is deployed.
    assert readers or declared.filled_by == "ops", f"no function reads {declared.name}"
    for function in manifest.FUNCTIONS:
        environment = dev.function(function.name)["Properties"]["Environment"]["Variables"]
        actions = _actions_on(_policy_statements(dev, function.name), logical)
        if function in readers:
            assert environment[secret_env(declared.name)] == {"Ref": logical}
            assert "secretsmanager:GetSecretValue" in actions
            assert not actions & {"secretsmanager:PutSecretValue", "secretsmanager:UpdateSecret"}
        else:
            assert secret_env(declared.name) not in environment
            assert actions == set()


def test_ops_get_a_dashboard_and_an_alarm_for_every_workflow_and_function(dev: Synthesized):
    dev.monitoring.resource_count_is("AWS::CloudWatch::Dashboard", 1)
    alarms = dev.monitoring.find_resources("AWS::CloudWatch::Alarm")
    descriptions = [a["Properties"].get("AlarmDescription", "") for a in alarms.values()]
    for machine in resources.STATE_MACHINES:
        assert any(d.startswith(f"A {machine.name} execution failed") for d in descriptions)
    for function in manifest.FUNCTIONS:
        assert any(d.startswith(f"Lambda {function.name} raised errors") for d in descriptions)
    assert any("quarantined" in d for d in descriptions)
    topics = dev.monitoring.find_resources("AWS::SNS::Topic")
    assert len(topics) == 1
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"], "every alarm notifies the ops topic"


def test_a_function_may_invoke_only_what_it_declares(dev: Synthesized):
    """lambda:InvokeFunction on exactly the declared callees."""
    for declared in manifest.FUNCTIONS:
        statements = _policy_statements(dev, declared.name)
        for other in manifest.FUNCTIONS:
            target = dev.logical_id(dev.stack.functions[other.name].function)
            granted = "lambda:InvokeFunction" in _actions_on(statements, target)
            assert granted == (other.name in declared.invokes), (declared.name, other.name)


def test_the_document_renderer_image_is_built_from_its_dockerfile(dev: Synthesized):
    images = Path(__file__).resolve().parents[2] / "infra" / "images"
    dockerfile = images / "document-renderer" / "Dockerfile"
    text = dockerfile.read_text()
    assert "pango" in text and "uv export --frozen" in text
    assert 'CMD ["functions.documents.render.handler"]' in text


# ---- least privilege: nothing beyond the declarations ----------------------------------------


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _explained_grants(synthesized: Synthesized, declared: Function) -> list[tuple[str, set[str]]]:
    """(reference in a resource, actions allowed on it) for everything ``declared`` may use:
    its declared tables, buckets, state machines, buses, secrets and email, the stage's clock
    parameter, and X-Ray (Resource '*')."""
    storage = synthesized.stack.storage
    grants: list[tuple[str, set[str]]] = [
        ("*", {"xray:PutTelemetryRecords", "xray:PutTraceSegments"})
    ]
    for name in declared.tables:
        grants.append((synthesized.logical_id(storage.tables[name]), {"dynamodb:*"}))
        if resources.table(name).holds_personal_data:
            grants.append((synthesized.logical_id(storage.personal_data_key), {"kms:*"}))
    for name in declared.buckets:
        grants.append((synthesized.logical_id(storage.buckets[name]), {"s3:*"}))
        if resources.bucket(name).holds_personal_data:
            grants.append((synthesized.logical_id(storage.personal_data_key), {"kms:*"}))
    for name in declared.uploads_to:
        grants.append((synthesized.logical_id(storage.buckets[name]), {"s3:PutObject*"}))
    for name in declared.starts:
        workflow = synthesized.stack.workflows[name]
        grants.append((synthesized.logical_id(workflow.state_machine), {"states:StartExecution"}))
        grants.append((f":execution:{workflow.name}:*", {"states:DescribeExecution"}))
    for name in declared.redrives:
        workflow = synthesized.stack.workflows[name]
        grants.append((f":execution:{workflow.name}:*", {"states:RedriveExecution"}))
    for name in declared.publishes_to:
        grants.append((synthesized.logical_id(storage.event_buses[name]), {"events:PutEvents"}))
    for name in declared.secrets:
        grants.append((synthesized.logical_id(storage.secrets[name]), {"secretsmanager:*"}))
    if _async(declared):  # a failed event goes to the failed-events queue
        grants.append(
            (
                synthesized.stack.get_logical_id(
                    synthesized.stack.failed_events.node.default_child
                ),
                {"sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"},
            )
        )
    connector = synthesized.stack.bank_sftp
    if connector is not None and resources.BANK_SFTP in declared.secrets:
        # who holds the bank-sftp secret sends through the stage's connector, when it has one
        grants.append(
            (
                synthesized.stack.get_logical_id(connector.connector),
                {"transfer:StartFileTransfer", "transfer:ListFileTransferResults"},
            )
        )
    if storage.business_clock:
        grants.append((synthesized.logical_id(storage.business_clock), {"ssm:*"}))
    if declared.sends_email:
        grants.append((":identity/", {"ses:SendEmail", "ses:SendRawEmail"}))
    for callee in declared.invokes:
        target = synthesized.stack.functions[callee].function
        grants.append((synthesized.logical_id(target), {"lambda:InvokeFunction"}))
    return grants


def _allowed(action: str, allowed: set[str]) -> bool:
    return any(a == action or (a.endswith("*") and action.startswith(a[:-1])) for a in allowed)


@pytest.mark.parametrize("declared", manifest.FUNCTIONS, ids=lambda f: f.name)
@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_a_function_role_grants_nothing_its_declaration_does_not_explain(
    dev: Synthesized, prod: Synthesized, stage: str, declared: Function
):
    """Every resource of every statement of the function's policy is one it declares, with
    that resource's service actions only: a grant per declared access and none beyond it."""
    synthesized = dev if stage == "dev" else prod
    grants = _explained_grants(synthesized, declared)
    for statement in _policy_statements(synthesized, declared.name):
        assert statement["Effect"] == "Allow"
        actions = _listed(statement["Action"])
        for resource in _listed(statement["Resource"]):
            text = json.dumps(resource) if not isinstance(resource, str) else resource
            explaining = [
                allowed
                for reference, allowed in grants
                if (reference == "*" and text == "*") or (reference != "*" and reference in text)
            ]
            assert explaining, f"{declared.name}: {text} is not declared"
            for action in actions:
                assert any(_allowed(action, allowed) for allowed in explaining), (
                    f"{declared.name}: {action} on {text} is not explained by its declaration"
                )
    role_id = synthesized.function(declared.name)["Properties"]["Role"]["Fn::GetAtt"][0]
    managed = synthesized.resources[role_id]["Properties"]["ManagedPolicyArns"]
    assert all("AWSLambdaBasicExecutionRole" in json.dumps(arn) for arn in managed), (
        "only the basic execution role (the function's own logs) is attached"
    )


def test_secrets_reach_functions_by_arn_never_in_clear(dev: Synthesized):
    """Every environment variable is a reference to a declared resource or a plain setting;
    a secret's variable holds the Secrets Manager ARN, never its value."""
    plain = {
        "STAGE",
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
        "POWERTOOLS_LOG_LEVEL",
        config.EMAIL_FROM_ENV,
        "STAFF_POOL_USERS",  # allow | refuse: the sign-in trigger
    }
    secrets = {secret_env(s.name): dev.stack.storage.secrets[s.name] for s in resources.SECRETS}
    for declared in manifest.FUNCTIONS:
        environment = dev.function(declared.name)["Properties"]["Environment"]["Variables"]
        for name, value in environment.items():
            if name in secrets:
                assert value == {"Ref": dev.logical_id(secrets[name])}
            elif isinstance(value, str):
                assert name in plain or name.startswith(("STATE_MACHINE_", "FUNCTION_")), (
                    f"{declared.name}: {name} holds a literal value"
                )
            assert not re.search(r"(SECRET|PASSWORD|TOKEN|KEY)", name) or name in secrets, name


# ---- operations: alarms, dashboard, saved queries, WAF ---------------------------------------

OPERATIONS_DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def _async(function: Function) -> bool:
    return any(isinstance(t, ObjectCreated | Schedule | EventRule) for t in function.triggers)


def _expected_alarms() -> dict[str, dict[str, Any]]:
    """Alarm construct id -> what the alarm watches, from the declarations alone."""
    from infra.settings import pascal
    from local import cron

    expected: dict[str, dict[str, Any]] = {}
    for machine in resources.STATE_MACHINES:
        expected[f"{pascal(machine.name)}Failed"] = {"MetricName": "ExecutionsFailed"}
        expected[f"{pascal(machine.name)}TimedOut"] = {"MetricName": "ExecutionsTimedOut"}
    expected["FileQuarantined"] = {"MetricName": "FilesQuarantined"}
    expected["WebhookSignatureFailures"] = {"MetricName": "WebhookRejected", "Threshold": 5}
    expected["FailedEventsQueued"] = {"MetricName": "ApproximateNumberOfMessagesVisible"}
    expected["ExceptionQueued"] = {"MetricName": "ExceptionsRaised"}
    expected["ApiServerErrors"] = {"MetricName": "5XXError", "Threshold": 5}
    for function in manifest.FUNCTIONS:
        expected[f"{pascal(function.name)}Errors"] = {"MetricName": "Errors"}
        if _async(function):
            expected[f"{pascal(function.name)}EventsDropped"] = {"MetricName": "AsyncEventsDropped"}
        for trigger in function.triggers:
            if isinstance(trigger, Schedule | EventRule):
                expected[f"{pascal(trigger.rule)}FailedInvocations"] = {
                    "MetricName": "FailedInvocations",
                    "Namespace": "AWS/Events",
                }
            if isinstance(trigger, Schedule):
                gap = cron.longest_gap(trigger.expression)
                assert gap is not None and gap.total_seconds() <= 7 * 86400, trigger.rule
                expected[f"{pascal(trigger.rule)}Missed"] = {
                    "MetricName": "Invocations",
                    "Namespace": "AWS/Events",
                    "ComparisonOperator": "LessThanThreshold",
                    "TreatMissingData": "breaching",
                    "Threshold": 1,
                    "watches_seconds": gap.total_seconds(),
                }
    return expected


def test_every_alarm_is_declared_by_a_workflow_function_rule_or_schedule(dev: Synthesized):
    alarms = {
        alarm.node.id: dev.resource(alarm)["Properties"] for alarm in dev.stack.operations.alarms
    }
    dev.monitoring.resource_count_is("AWS::CloudWatch::Alarm", len(alarms))
    expected = _expected_alarms()
    assert set(alarms) == set(expected)
    topic = {"Ref": dev.logical_id(dev.stack.operations.topic)}
    for name, watched in expected.items():
        properties = alarms[name]
        watches = watched.pop("watches_seconds", None)
        for key, value in watched.items():
            assert properties[key] == value, (name, key)
        if watches is not None:
            window = properties["Period"] * properties["EvaluationPeriods"]
            assert window >= watches and properties["Period"] <= 86400, name
            assert properties["DatapointsToAlarm"] == properties["EvaluationPeriods"]
        assert properties["AlarmActions"] == [topic], name
        assert "Runbook: docs/operations.md" in properties["AlarmDescription"], name


def test_every_alarm_has_its_runbook_section(dev: Synthesized):
    headings = set(re.findall(r"^### (.+)$", OPERATIONS_DOC.read_text(), flags=re.MULTILINE))
    for alarm in dev.stack.operations.alarms:
        description = dev.resource(alarm)["Properties"]["AlarmDescription"]
        (section,) = re.findall(r"Runbook: docs/operations.md, '([^']+)'", description)
        assert section in headings, f"no runbook section '### {section}'"


def test_no_schedule_is_left_unwatched(dev: Synthesized):
    assert dev.stack.operations.unwatched_schedules == []


def _dashboard_body(synthesized: Synthesized) -> str:
    (dashboard,) = synthesized.of_type("AWS::CloudWatch::Dashboard").values()
    parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]
    return "".join(p if isinstance(p, str) else "<token>" for p in parts)


def test_the_dashboard_has_a_widget_for_every_declared_thing(dev: Synthesized):
    body = _dashboard_body(dev)
    titles = set(re.findall(r'"title":"([^"]+)"', body))
    expected = {
        "partner files",
        "API requests refused (4xx by the handlers)",
        "API: 4xx / 5xx",
        "API: latency p90 (ms)",
        "Lambda errors",
        "Lambda throttles",
        "Lambda events dropped after retries",
        "schedules: runs started",
        "EventBridge rules: failed invocations",
        "WAF: requests blocked per rule",
        "cash: payments and webhooks",
        "cash: amount collected (yen) and exceptions queued",
        "overdue: invoices and amount (yen) past due, per daily run",
        "overdue: reminders sent and suspensions",
        "failed events waiting (dead-letter queue)",
    }
    for machine in resources.STATE_MACHINES:
        expected |= {f"{machine.name}: executions", f"{machine.name}: duration (ms)"}
        assert f"## {machine.name}" in body
    expected |= {f"DynamoDB {table.name}: throttled requests" for table in resources.TABLES}
    assert titles == expected
    for metric in (
        "ExecutionsFailed",
        "ExecutionsTimedOut",
        "FilesQuarantined",
        "AsyncEventsDropped",
        "FailedInvocations",
        "Invocations",
        "BlockedRequests",
    ):
        assert f'"{metric}"' in body, metric
    assert dev.stack.firewall is not None
    for rule in dev.stack.firewall.rule_names:
        assert dev.stack.firewall.metric_name(rule) in body


def test_saved_queries_cover_every_log_group_of_the_stage(dev: Synthesized):
    from infra.constructs.operations import SAVED_QUERIES

    queries = {
        q["Properties"]["Name"]: q["Properties"]
        for q in dev.of_type("AWS::Logs::QueryDefinition").values()
    }
    assert set(queries) == {f"monosub-dev/{q.name}" for q in SAVED_QUERIES} | {
        "monosub-dev/waf-blocks"  # over the WAF log group only (test below)
    }
    assert {"run", "file", "customer", "invoice"} <= {q.name for q in SAVED_QUERIES}
    log_groups = [dev.logical_id(f.log_group) for f in dev.stack.functions.values()]
    log_groups += [dev.logical_id(w.log_group) for w in dev.stack.workflows.values()]
    assert dev.stack.api is not None
    api_logs = dev.api_output(dev.stack.api.access_logs)
    documented = OPERATIONS_DOC.read_text()
    for query in SAVED_QUERIES:
        properties = queries[f"monosub-dev/{query.name}"]
        *own, from_api = properties["LogGroupNames"]
        assert own == [{"Ref": group} for group in log_groups]
        # the API's access logs live in its nested stack: an output of it
        (nested, output) = from_api["Fn::GetAtt"]
        assert nested == api_logs["nested"] and "AccessLogs" in output
        assert f"| filter {query.filter}" in properties["QueryString"]
        if query.placeholder:
            assert query.placeholder in query.filter
        assert f"`monosub-<stage>/{query.name}`" in documented


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_a_waf_web_acl_guards_the_api_stage(dev: Synthesized, prod: Synthesized, stage: str):
    synthesized = dev if stage == "dev" else prod
    limits = StageSettings(stage).rate_limits
    (acl,) = synthesized.of_type("AWS::WAFv2::WebACL").values()
    properties = acl["Properties"]
    assert properties["Scope"] == "REGIONAL" and properties["DefaultAction"] == {"Allow": {}}
    rules = {rule["Name"]: rule for rule in properties["Rules"]}
    assert set(rules) == {"LeadFormRate", "ConsentPageRate", "AWSManagedRulesCommonRuleSet"}

    lead = rules["LeadFormRate"]["Statement"]["RateBasedStatement"]
    assert (lead["AggregateKeyType"], lead["Limit"]) == ("IP", limits.lead_form)
    path, method = lead["ScopeDownStatement"]["AndStatement"]["Statements"]
    assert path["ByteMatchStatement"]["SearchString"] == "/leads"
    assert path["ByteMatchStatement"]["PositionalConstraint"] == "ENDS_WITH"
    assert method["ByteMatchStatement"]["SearchString"] == "POST"
    consent = rules["ConsentPageRate"]["Statement"]["RateBasedStatement"]
    assert consent["Limit"] == limits.consent_page
    assert consent["ScopeDownStatement"]["ByteMatchStatement"]["SearchString"] == "/consent/"
    for rule in ("LeadFormRate", "ConsentPageRate"):
        assert rules[rule]["Action"] == {"Block": {}}
    managed = rules["AWSManagedRulesCommonRuleSet"]
    assert managed["Statement"]["ManagedRuleGroupStatement"]["VendorName"] == "AWS"
    assert managed["OverrideAction"] == {"None": {}}

    # the rate rules scope exactly the declared public routes they protect
    public = {(r.method, r.path) for r in manifest.API_ROUTES if r.auth == "public"}
    assert ("POST", "/leads") in public
    assert {p for m, p in public if p.startswith("/consent/")} == {"/consent/{token}"}

    (association,) = synthesized.of_type("AWS::WAFv2::WebACLAssociation").values()
    assert synthesized.stack.api is not None
    stage_id = synthesized.logical_id(synthesized.stack.api.rest_api.deployment_stage)
    assert stage_id in json.dumps(association["Properties"]["ResourceArn"])
    firewall = synthesized.stack.firewall
    assert firewall is not None
    web_acl = synthesized.stack.get_logical_id(firewall.web_acl)
    assert association["Properties"]["WebACLArn"] == {"Fn::GetAtt": [web_acl, "Arn"]}


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_waf_logs_blocked_and_counted_requests_redacted_to_its_own_log_group(
    dev: Synthesized, prod: Synthesized, stage: str
):
    synthesized = dev if stage == "dev" else prod
    firewall = synthesized.stack.firewall
    assert firewall is not None
    (group,) = [
        g
        for g in synthesized.api.find_resources("AWS::Logs::LogGroup").values()
        if str(g["Properties"].get("LogGroupName", "")).startswith("aws-waf-logs-")
    ]
    assert group["Properties"]["LogGroupName"] == f"aws-waf-logs-monosub-{stage}"
    assert group["Properties"]["RetentionInDays"] == (365 if stage == "prod" else 30)
    assert group["DeletionPolicy"] == ("Retain" if stage == "prod" else "Delete")
    log_group = synthesized.logical_id(firewall.log_group)

    (logging,) = synthesized.api.find_resources("AWS::WAFv2::LoggingConfiguration").values()
    properties = logging["Properties"]
    web_acl = synthesized.stack.get_logical_id(firewall.web_acl)
    assert properties["ResourceArn"] == {"Fn::GetAtt": [web_acl, "Arn"]}
    # the destination is the log group's ARN built without the ":*" of its Arn attribute
    (destination,) = properties["LogDestinationConfigs"]
    parts = destination["Fn::Join"][1]
    assert parts[-2:] == [":log-group:", {"Ref": log_group}]
    assert {h["SingleHeader"]["Name"] for h in properties["RedactedFields"]} == {
        "authorization",
        "cookie",
    }
    assert properties["LoggingFilter"] == {
        "DefaultBehavior": "DROP",
        "Filters": [
            {
                "Behavior": "KEEP",
                "Requirement": "MEETS_ANY",
                "Conditions": [
                    {"ActionCondition": {"Action": "BLOCK"}},
                    {"ActionCondition": {"Action": "COUNT"}},
                ],
            }
        ],
    }

    # log delivery may write to that log group's streams only, for this account only
    (policy_id, policy) = next(
        iter(synthesized.api.find_resources("AWS::Logs::ResourcePolicy").items())
    )
    assert set(logging["DependsOn"]) >= {policy_id, log_group}
    document = json.dumps(policy["Properties"]["PolicyDocument"])
    assert "delivery.logs.amazonaws.com" in document
    assert '\\"logs:CreateLogStream\\",\\"logs:PutLogEvents\\"' in document
    assert f'{{"Ref": "{log_group}"}}, ":log-stream:*' in document
    assert "aws:SourceAccount" in document and "aws:SourceArn" in document

    # the saved query reads the WAF log group and groups by rule, client IP and path
    (query,) = [
        q["Properties"]
        for q in synthesized.of_type("AWS::Logs::QueryDefinition").values()
        if q["Properties"]["Name"] == f"monosub-{stage}/waf-blocks"
    ]
    assert len(query["LogGroupNames"]) == 1
    assert "AWS::Logs::LogGroup" not in json.dumps(query["LogGroupNames"])
    assert "Firewall" in json.dumps(query["LogGroupNames"])
    assert (
        "stats count(*) as requests by action, terminatingRuleId, httpRequest.clientIp, "
        "httpRequest.uri" in query["QueryString"]
    )
    assert "`monosub-<stage>/waf-blocks`" in OPERATIONS_DOC.read_text()


def test_prod_limits_the_public_routes_harder_than_test_stages():
    prod, dev = StageSettings("prod").rate_limits, StageSettings("dev").rate_limits
    assert prod.lead_form < dev.lead_form and prod.consent_page <= dev.consent_page
    assert min(prod.lead_form, prod.consent_page) >= 10  # WAF's minimum rate limit


def test_the_bank_connector_exists_where_the_stage_names_the_bank(
    dev: Synthesized, prod: Synthesized
):
    [connector] = dev.of_type("AWS::Transfer::Connector").values()
    assert connector["Properties"]["Url"] == "sftp://sftp.bank.example.jp"
    assert prod.of_type("AWS::Transfer::Connector") == {}
    role = dev.function("direct-debit-deliver")["Properties"]["Role"]["Fn::GetAtt"][0]
    actions = {
        action
        for policy in dev.of_type("AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        for action in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
    }
    assert "transfer:StartFileTransfer" in actions


def test_every_asynchronous_function_sends_what_it_fails_on_to_the_failed_events_queue(
    dev: Synthesized,
):
    queue = dev.stack.get_logical_id(dev.stack.failed_events.node.default_child)
    configs = {
        json.dumps(c["Properties"]["FunctionName"]): c["Properties"]
        for c in dev.of_type("AWS::Lambda::EventInvokeConfig").values()
    }
    for declared in manifest.FUNCTIONS:
        function = {"Ref": dev.logical_id(dev.stack.functions[declared.name].function)}
        config = configs.get(json.dumps(function))
        if not _async(declared):
            assert config is None, declared.name
            continue
        assert config is not None, declared.name
        assert config["MaximumRetryAttempts"] == 2
        destination = config["DestinationConfig"]["OnFailure"]["Destination"]
        assert destination == {"Fn::GetAtt": [queue, "Arn"]}, declared.name


@pytest.mark.parametrize("keep", [False, True])
def test_a_retired_index_is_kept_only_when_the_context_asks(keep: bool):
    """An existing stage's first deploy after gsi4 replaced gsi3 keeps gsi3 (CloudFormation
    adds or deletes one index per update): ``-c keep_retired_indexes=true``."""
    from infra.constructs.storage import Storage

    stack = Stack(App(), "Indexes")
    Storage(
        stack,
        "Storage",
        settings=StageSettings("dev", keep_retired_indexes=keep),
        tables=[t for t in resources.TABLES if t.name == "billing"],
        buckets=(),
        event_buses=(),
    )
    (table,) = Template.from_stack(stack).find_resources("AWS::DynamoDB::Table").values()
    indexes = {i["IndexName"]: i for i in table["Properties"]["GlobalSecondaryIndexes"]}
    assert set(indexes) == ({"gsi1", "gsi2", "gsi4"} | ({"gsi3"} if keep else set()))
    assert indexes["gsi4"]["Projection"]["ProjectionType"] == "INCLUDE"
    assert "lines" not in indexes["gsi4"]["Projection"]["NonKeyAttributes"]


def test_the_keep_retired_indexes_context_reaches_the_settings(tmp_path: Path):
    app = create_app(
        {"stage": "dev", "keep_retired_indexes": "true", **SKIP_BUNDLING}, outdir=str(tmp_path)
    )
    stack = app.node.find_child("monosub-dev")
    assert isinstance(stack, MonosubStack) and stack.settings.keep_retired_indexes
