"""The bank's SFTP connector construct, synthesized alone in a small stack (no bundling, no
manifest): the connector, its two roles and their least-privilege policies, the grant to
start transfers, and no unacknowledged cdk-nag finding."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.assertions import Template

from infra import nag
from infra.constructs.bank_transfer import BankSftpConnector

pytestmark = pytest.mark.infra

HOST_KEY = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7"
URL = "sftp://sftp.bank.example:22"
PREFIX = "outbox/direct-debit/"


def synthesize(
    outdir: Path, *, kms_bucket: bool = False, account: str | None = None
) -> tuple[Template, dict[str, Any], Any]:
    """A stack with the construct; environment-agnostic (as MonosubStack) unless ``account``."""
    app = App(outdir=str(outdir))
    nag.check(app)
    env = {"account": account, "region": "ap-northeast-1"} if account else None
    stack = Stack(app, "BankTransferTest", env=env)
    key = kms.Key(stack, "BucketKey", enable_key_rotation=True) if kms_bucket else None
    bucket = s3.Bucket(
        stack,
        "Exchange",
        encryption=s3.BucketEncryption.KMS if key else s3.BucketEncryption.S3_MANAGED,
        encryption_key=key,
        enforce_ssl=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
    )
    nag.acknowledge(bucket, "AwsSolutions-S1", "a test bucket")
    secret = secretsmanager.Secret(stack, "BankCredentials")
    nag.acknowledge(secret, "AwsSolutions-SMG4", "a test secret")
    caller = iam.Role(stack, "Caller", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    connector = BankSftpConnector(
        stack,
        "Bank",
        bucket=bucket,
        outbox_prefix=PREFIX,
        secret=secret,
        url=URL,
        trusted_host_keys=[HOST_KEY],
    )
    connector.grant_start_transfer(caller)
    template = Template.from_stack(stack)  # synthesizes; an unacknowledged finding raises
    report = json.loads((outdir / "validation-report.json").read_text())
    assert report["pluginReports"] == []
    ids = {
        "bucket": stack.get_logical_id(bucket.node.default_child),
        "secret": stack.get_logical_id(secret.node.default_child),
        "connector": stack.get_logical_id(connector.connector),
        "access": stack.get_logical_id(connector.access_role.node.default_child),
        "logging": stack.get_logical_id(connector.logging_role.node.default_child),
        "caller": stack.get_logical_id(caller.node.default_child),
        "key": stack.get_logical_id(key.node.default_child) if key else None,
    }
    return template, ids, connector


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> tuple[Template, dict[str, Any], Any]:
    return synthesize(tmp_path_factory.mktemp("bank"))


def policies_of(template: Template, role_id: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_the_connector_pins_the_host_key_and_uses_the_secret_and_both_roles(synthesized):
    template, ids, _ = synthesized
    connectors = template.find_resources("AWS::Transfer::Connector")
    assert list(connectors) == [ids["connector"]]
    assert connectors[ids["connector"]]["Properties"] == {
        "AccessRole": {"Fn::GetAtt": [ids["access"], "Arn"]},
        "LoggingRole": {"Fn::GetAtt": [ids["logging"], "Arn"]},
        "Url": URL,
        "SftpConfig": {"UserSecretId": {"Ref": ids["secret"]}, "TrustedHostKeys": [HOST_KEY]},
    }


def test_only_transfer_in_this_account_may_take_the_roles(synthesized):
    template, ids, _ = synthesized
    roles = template.find_resources("AWS::IAM::Role")
    for role in (ids["access"], ids["logging"]):
        properties = roles[role]["Properties"]
        assert properties["AssumeRolePolicyDocument"]["Statement"] == [
            {
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
                "Effect": "Allow",
                "Principal": {"Service": "transfer.amazonaws.com"},
            }
        ]
        assert "ManagedPolicyArns" not in properties


def test_the_access_role_reads_the_outbox_and_the_secret_only(synthesized):
    template, ids, _ = synthesized
    assert policies_of(template, ids["access"]) == [
        {
            "Action": ["s3:GetObject", "s3:GetObjectVersion"],
            "Effect": "Allow",
            "Resource": {"Fn::Join": ["", [{"Fn::GetAtt": [ids["bucket"], "Arn"]}, f"/{PREFIX}*"]]},
            "Sid": "ReadOutbox",
        },
        {
            "Action": "secretsmanager:GetSecretValue",
            "Effect": "Allow",
            "Resource": {"Ref": ids["secret"]},
            "Sid": "ReadCredentials",
        },
    ]


def test_the_logging_role_writes_transfer_logs_only(synthesized):
    template, ids, _ = synthesized
    (statement,) = policies_of(template, ids["logging"])
    assert sorted(statement["Action"]) == [
        "logs:CreateLogGroup",
        "logs:CreateLogStream",
        "logs:DescribeLogStreams",
        "logs:PutLogEvents",
    ]
    resource = json.dumps(statement["Resource"])
    assert ":log-group:/aws/transfer/*" in resource


def test_the_grant_allows_starting_and_reading_transfers_on_this_connector_only(synthesized):
    template, ids, _ = synthesized
    assert policies_of(template, ids["caller"]) == [
        {
            "Action": ["transfer:StartFileTransfer", "transfer:ListFileTransferResults"],
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [ids["connector"], "Arn"]},
        }
    ]


def test_a_kms_bucket_adds_decrypt_with_its_key_only(tmp_path: Path):
    template, ids, _ = synthesize(tmp_path, kms_bucket=True, account="111122223333")
    trust = template.find_resources("AWS::IAM::Role")[ids["access"]]["Properties"]
    condition = trust["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]
    assert condition == {"StringEquals": {"aws:SourceAccount": "111122223333"}}
    decrypt = [s for s in policies_of(template, ids["access"]) if s["Action"] == "kms:Decrypt"]
    assert decrypt == [
        {
            "Action": "kms:Decrypt",
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [ids["key"], "Arn"]},
            "Sid": "DecryptOutboxAndCredentials",
        }
    ]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"url": "https://bank.example"}, "sftp://"),
        ({"trusted_host_keys": []}, "host key"),
        ({"trusted_host_keys": ["ssh-rsa AAAA comment"]}, "host key"),
        ({"outbox_prefix": "/outbox/"}, "prefix"),
        ({"outbox_prefix": ""}, "prefix"),
    ],
)
def test_a_connector_without_a_pinned_key_or_with_a_bad_url_is_refused(
    changes: dict[str, Any], message: str
):
    stack = Stack(App())
    values: dict[str, Any] = {
        "bucket": s3.Bucket(stack, "B"),
        "outbox_prefix": PREFIX,
        "secret": secretsmanager.Secret(stack, "S"),
        "url": URL,
        "trusted_host_keys": [HOST_KEY],
        **changes,
    }
    with pytest.raises(ValueError, match=message):
        BankSftpConnector(stack, "Bank", **values)
