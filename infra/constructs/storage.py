"""Tables, buckets, event buses, secrets and the business-clock parameter
(``functions/resources.py``)."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from functions import declarations
from infra import nag
from infra.settings import StageSettings, pascal

# Why a secret is not rotated automatically, by who fills it (the one generated secret today
# is the consent signing key).
_NO_ROTATION = {
    "deploy": "No automatic rotation: the key signs links already emailed to customers, and a "
    "rotation would make every open link fail. Rotating with a grace period (verify with the "
    "current and the previous value) is an open decision (docs/consent.md).",
    "ops": "No automatic rotation: the value is credentials an outside party issues; ops "
    "rotate them with that party and put the new value (docs/operations.md).",
}


class Storage(Construct):
    """Every declared table, bucket and bus, plus the stage's business-clock parameter."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StageSettings,
        tables: Sequence[declarations.Table],
        buckets: Sequence[declarations.Bucket],
        event_buses: Sequence[declarations.EventBus],
        secrets: Sequence[declarations.Secret] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        self._settings = settings
        self.personal_data_key = kms.Key(
            self,
            "PersonalDataKey",
            description=f"monosub {settings.name}: tables and buckets that hold personal data",
            enable_key_rotation=True,
            removal_policy=settings.removal_policy,
        )
        self.tables = {table.name: self._table(table) for table in tables}
        self.access_logs = self._access_log_bucket()
        self.buckets = {bucket.name: self._bucket(bucket) for bucket in buckets}
        self.event_buses = {
            bus.name: events.EventBus(self, pascal(bus.name) + "Bus", description=bus.purpose)
            for bus in event_buses
        }
        self.secrets = {secret.name: self._secret(secret) for secret in secrets}
        parameter_name = settings.business_clock_parameter
        self.business_clock = (
            ssm.StringParameter(
                self,
                "BusinessClock",
                parameter_name=parameter_name,
                string_value="wall",
                description="The business clock of this test stage: 'wall' or an ISO instant",
            )
            if parameter_name
            else None
        )

    def _table(self, table: declarations.Table) -> dynamodb.Table:
        personal = table.holds_personal_data
        built = dynamodb.Table(
            self,
            pascal(table.name) + "Table",
            partition_key=_string(table.partition_key),
            sort_key=_string(table.sort_key) if table.sort_key else None,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=table.ttl_attribute,
            removal_policy=self._settings.removal_policy,
            deletion_protection=self._settings.is_production,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED
            if personal
            else dynamodb.TableEncryption.AWS_MANAGED,
            encryption_key=self.personal_data_key if personal else None,
        )
        for index in table.indexes:
            if index.retired and not self._settings.keep_retired_indexes:
                continue
            built.add_global_secondary_index(
                index_name=index.name,
                partition_key=_string(index.partition_key),
                sort_key=_string(index.sort_key) if index.sort_key else None,
                projection_type=dynamodb.ProjectionType(index.projection),
                non_key_attributes=list(index.include) or None,
            )
        return built

    def _secret(self, secret: declarations.Secret) -> secretsmanager.Secret:
        # An ops-filled secret gets the same random value, as a placeholder: no value in the
        # template, and CloudFormation generates it only when it creates the secret, so a
        # later deploy never overwrites what ops put (unless these settings change).
        built = secretsmanager.Secret(
            self,
            pascal(secret.name) + "Secret",
            description=secret.purpose,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=64, exclude_punctuation=True, include_space=False
            ),
            removal_policy=self._settings.removal_policy,
        )
        nag.acknowledge(built, "AwsSolutions-SMG4", _NO_ROTATION[secret.filled_by])
        return built

    def _access_log_bucket(self) -> s3.Bucket:
        # cdk-nag's S1 does not ask a server-access-log destination to log its own accesses.
        bucket = s3.Bucket(
            self,
            "AccessLogsBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,  # log delivery supports SSE-S3 only
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            removal_policy=self._settings.removal_policy,
            lifecycle_rules=[
                s3.LifecycleRule(expiration=Duration.days(_days(self._settings))),
            ],
        )
        return bucket

    def _bucket(self, bucket: declarations.Bucket) -> s3.Bucket:
        # Personal data: SSE-KMS with the customer-managed key (who may decrypt is an IAM
        # grant, logged in CloudTrail), with S3 Bucket Keys so S3 asks KMS for a data key per
        # bucket and period, not per object (KMS requests are billed).
        personal = bucket.holds_personal_data
        return s3.Bucket(
            self,
            pascal(bucket.name) + "Bucket",
            encryption=s3.BucketEncryption.KMS if personal else s3.BucketEncryption.S3_MANAGED,
            encryption_key=self.personal_data_key if personal else None,
            bucket_key_enabled=personal,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix=f"{bucket.name}/",
            removal_policy=self._settings.removal_policy,
            lifecycle_rules=[
                # Intake moves files (copy + delete), so every move leaves a noncurrent version.
                s3.LifecycleRule(
                    noncurrent_version_expiration=Duration.days(_days(self._settings)),
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                ),
            ],
        )


def _string(name: str) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=name, type=dynamodb.AttributeType.STRING)


def _days(settings: StageSettings) -> int:
    """How long logs and superseded file versions are kept."""
    return 365 if settings.is_production else 30
