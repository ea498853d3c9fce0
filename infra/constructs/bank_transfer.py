"""The Transfer Family SFTP connector that sends the direct-debit request file to the bank.

The request file is written to the exchange bucket under an outbox prefix; the function that
delivers it calls ``StartFileTransfer`` on this connector (``monosub.adapters.bank_sftp``,
connector mode), and Transfer reads the object and uploads it to the bank's SFTP server. The
bank's credentials stay in the connector's own secret, read by Transfer only, and the bank's
host key is pinned here (``TrustedHostKeys``): the function never holds either.

Least privilege, because the connector's role is Transfer acting for us:

- the **access role** may read objects under ``<outbox_prefix>`` of the bucket (nothing else
  of it, and no write: a send reads only), read the connector's secret, and decrypt with the
  bucket's KMS key when it has one;
- the **logging role** may write the connector's logs (``/aws/transfer/<connector id>``);
- ``grant_start_transfer`` lets a function start transfers on, and read the results of,
  this connector only.

The secret named here is **Transfer's** format (``{"Username": ..., "Password": ...}`` and/or
``"PrivateKey"``), filled by ops; it is not the ``bank-sftp`` secret the adapter reads (that
one holds ``{"mode": "connector", "connector_id": ..., "remote_directory": ...}``).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import ArnFormat, Stack, Token
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_transfer as transfer
from constructs import Construct

from infra import nag

TRANSFER_SERVICE = "transfer.amazonaws.com"
# Where Transfer writes a connector's logs (one log group per connector id).
LOG_GROUP_PREFIX = "/aws/transfer/"
TRANSFER_ACTIONS = ("transfer:StartFileTransfer", "transfer:ListFileTransferResults")


class BankSftpConnector(Construct):
    """An SFTP connector to ``url`` (``sftp://host[:port]``) trusting only
    ``trusted_host_keys`` (``"<type> <base64>"`` each, as ssh-keyscan prints them)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket: s3.IBucket,
        outbox_prefix: str,
        secret: secretsmanager.ISecret,
        url: str,
        trusted_host_keys: Sequence[str],
        bucket_key: kms.IKey | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        if not url.startswith("sftp://"):
            raise ValueError(f"the bank's SFTP URL must be sftp://host[:port], not {url!r}")
        if not trusted_host_keys or any(len(key.split()) != 2 for key in trusted_host_keys):
            raise ValueError("pin the bank's host key(s) as '<type> <base64>' (no comment)")
        if not outbox_prefix or outbox_prefix.startswith("/") or "*" in outbox_prefix:
            raise ValueError(f"the outbox prefix must be a plain key prefix: {outbox_prefix!r}")
        stack = Stack.of(self)
        self.outbox_prefix = outbox_prefix
        trust = iam.ServicePrincipal(
            TRANSFER_SERVICE,
            # Only Transfer acting for this account may take these roles (confused deputy).
            conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
        )

        self.access_role = iam.Role(
            self,
            "AccessRole",
            assumed_by=trust,
            description="Transfer SFTP connector to the bank: reads the outbox and the secret",
        )
        self.access_role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadOutbox",
                actions=["s3:GetObject", "s3:GetObjectVersion"],
                resources=[bucket.arn_for_objects(f"{outbox_prefix}*")],
            )
        )
        self.access_role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadCredentials",
                actions=["secretsmanager:GetSecretValue"],
                resources=[secret.secret_arn],
            )
        )
        keys = [key for key in (bucket_key or bucket.encryption_key, secret.encryption_key) if key]
        if keys:
            self.access_role.add_to_policy(
                iam.PolicyStatement(
                    sid="DecryptOutboxAndCredentials",
                    actions=["kms:Decrypt"],
                    resources=[key.key_arn for key in keys],
                )
            )

        log_groups = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name=f"{LOG_GROUP_PREFIX}*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.logging_role = iam.Role(
            self,
            "LoggingRole",
            assumed_by=trust,
            description="Transfer SFTP connector to the bank: writes the connector's logs",
        )
        self.logging_role.add_to_policy(
            iam.PolicyStatement(
                sid="ConnectorLogs",
                actions=[
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:DescribeLogStreams",
                    "logs:PutLogEvents",
                ],
                resources=[log_groups],
            )
        )

        self.connector = transfer.CfnConnector(
            self,
            "Connector",
            access_role=self.access_role.role_arn,
            logging_role=self.logging_role.role_arn,
            url=url,
            sftp_config=transfer.CfnConnector.SftpConfigProperty(
                user_secret_id=secret.secret_arn,
                trusted_host_keys=list(trusted_host_keys),
            ),
        )
        self.connector_id: str = self.connector.attr_connector_id
        self.connector_arn: str = self.connector.attr_arn

        self._acknowledge(bucket)

    def grant_start_transfer(self, grantable: iam.IGrantable) -> iam.Grant:
        """Start transfers on this connector and read their results; nothing else."""
        return iam.Grant.add_to_principal(
            grantee=grantable,
            actions=list(TRANSFER_ACTIONS),
            resource_arns=[self.connector_arn],
        )

    def _acknowledge(self, bucket: s3.IBucket) -> None:
        try:
            bucket_arn = nag.arn_of(bucket)
        except TypeError:  # an imported bucket: cdk-nag spells its ARN as given
            bucket_arn = bucket.bucket_arn
        nag.acknowledge(
            self.access_role,
            f"AwsSolutions-IAM5[Resource::{bucket_arn}/{self.outbox_prefix}*]",
            "The connector sends request files the run writes under the outbox prefix; their "
            "names are per debit date, so the prefix is the narrowest fixed scope.",
        )
        stack = Stack.of(self)
        region = "<AWS::Region>" if Token.is_unresolved(stack.region) else stack.region
        account = "<AWS::AccountId>" if Token.is_unresolved(stack.account) else stack.account
        nag.acknowledge(
            self.logging_role,
            f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:{region}:{account}:"
            f"log-group:{LOG_GROUP_PREFIX}*]",
            "Transfer names the connector's log group after the connector id, which exists "
            "only once the connector (which needs this role) is created.",
        )
