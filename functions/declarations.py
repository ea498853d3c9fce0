"""The vocabulary of ``manifest.py`` and ``resources.py``: plain frozen dataclasses.

Imports neither CDK nor boto3, so the CDK app (``infra/``), the embedded runtime
(``local/``) and the tests all read the same declarations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from monosub import auth as auth_groups
from monosub import config


class Access(StrEnum):
    READ = "read"
    WRITE = "write"
    READ_WRITE = "read_write"


# ---- resources -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Index:
    name: str
    partition_key: str
    sort_key: str | None = None
    # Keys only: an index that only finds items (read then by key) costs no copy of them.
    keys_only: bool = False
    # Only these attributes (and the keys) copied into the index (INCLUDE): what a list
    # shows, without paying a write unit per KB of the rest.
    include: tuple[str, ...] = ()
    # Replaced by another index: still created with ``-c keep_retired_indexes=true`` (an
    # existing stage's first deploy: CloudFormation adds or deletes one index per update),
    # never by the embedded AWS (docs/operations.md "Replacing an index").
    retired: bool = False

    @property
    def projection(self) -> str:
        if self.keys_only:
            return "KEYS_ONLY"
        return "INCLUDE" if self.include else "ALL"


@dataclass(frozen=True)
class Table:
    name: str
    purpose: str
    partition_key: str
    sort_key: str | None = None
    indexes: tuple[Index, ...] = ()
    ttl_attribute: str | None = None
    holds_personal_data: bool = False


@dataclass(frozen=True)
class Bucket:
    name: str
    purpose: str
    prefixes: tuple[str, ...] = ()
    # Objects with names, addresses or bank accounts: SSE-KMS with the personal-data key.
    holds_personal_data: bool = False


@dataclass(frozen=True)
class StateMachine:
    name: str
    purpose: str
    definition: str  # file name under statemachines/
    # A Distributed Map reads its items from this bucket (the execution role may read it and
    # start its own child executions); None: inline Maps only.
    item_bucket: str | None = None


@dataclass(frozen=True)
class EventBus:
    name: str
    purpose: str


@dataclass(frozen=True)
class Secret:
    """A Secrets Manager secret. ``filled_by="deploy"``: the deploy generates a random value
    that only we use (a signing key). ``filled_by="ops"``: credentials an outside party issues
    (a partner's API key); the deploy creates the secret with a random placeholder and ops
    put the real value (docs/operations.md), which later deploys leave alone."""

    name: str
    purpose: str
    filled_by: Literal["deploy", "ops"] = "deploy"


def secret_env(logical: str) -> str:
    """The environment variable holding a declared secret's ARN (its name locally)."""
    return "SECRET_" + logical.replace("-", "_").upper()


# ---- triggers ------------------------------------------------------------------------------

Auth = Literal["public", "staff", "machine"]


@dataclass(frozen=True)
class Route:
    """One API route. A staff route needs a signed-in user in one of ``groups`` (403 for
    anyone else, checked before the route runs); by default monosub's own staff, not
    agencies. What each caller then sees is ``monosub.access``'s to decide."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
    path: str
    auth: Auth = "staff"
    groups: frozenset[str] = auth_groups.INTERNAL_STAFF
    # auth="machine": a partner system's access token (client credentials) with these scopes
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Api:
    """API Gateway REST API routes, all proxied to this one function."""

    routes: tuple[Route, ...]


@dataclass(frozen=True)
class ObjectCreated:
    """S3 ObjectCreated notifications for keys under ``prefix`` in ``bucket``."""

    bucket: str
    prefix: str
    suffix: str = ""


@dataclass(frozen=True)
class Schedule:
    """An EventBridge schedule; ``expression`` is ``cron(...)`` or ``rate(...)``, in UTC."""

    rule: str
    expression: str
    description: str


# EventBridge's default bus, where AWS services (Step Functions among them) put their events.
DEFAULT_BUS = "default"


@dataclass(frozen=True)
class EventRule:
    """An EventBridge rule on ``bus`` (a declared bus, or ``DEFAULT_BUS`` for AWS services'
    events) whose pattern selects the events for this function."""

    rule: str
    bus: str
    source_prefix: str
    description: str
    detail_types: tuple[str, ...] = ()  # none: every detail-type of those sources
    # more of the event's detail to match, in EventBridge's pattern syntax
    detail: dict[str, list[Any]] = field(default_factory=dict)
    # only Step Functions events about this stage's own state machines
    # (detail.stateMachineArn starts with the stage's machine ARN prefix)
    own_state_machines: bool = False

    def pattern(self, state_machine_prefix: str | None = None) -> dict[str, Any]:
        """The rule's event pattern, as EventBridge reads it; ``state_machine_prefix``
        (``arn:…:stateMachine:monosub-<stage>-``) is required with ``own_state_machines``."""
        pattern: dict[str, Any] = {"source": [{"prefix": self.source_prefix}]}
        if self.detail_types:
            pattern["detail-type"] = list(self.detail_types)
        detail: dict[str, Any] = dict(self.detail)
        if self.own_state_machines:
            if state_machine_prefix is None:
                raise ValueError(f"rule {self.rule}: the stage's state machine prefix is needed")
            detail["stateMachineArn"] = [{"prefix": state_machine_prefix}]
        if detail:
            pattern["detail"] = detail
        return pattern


@dataclass(frozen=True)
class StateMachineTask:
    """A Task state of ``state_machine`` calls this function through ``${placeholder}``."""

    state_machine: str
    placeholder: str


@dataclass(frozen=True)
class SignInTrigger:
    """A Cognito user pool trigger: Cognito calls the function while it signs a user in
    (``pre-token-generation``: before it issues tokens, to set the groups they carry)."""

    operation: Literal["pre-token-generation"] = "pre-token-generation"


Trigger = Api | ObjectCreated | Schedule | EventRule | StateMachineTask | SignInTrigger


# ---- functions -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Function:
    name: str
    handler: str  # "package.module.attribute", importable from the repository root
    description: str
    triggers: tuple[Trigger, ...]
    tables: dict[str, Access] = field(default_factory=dict)
    buckets: dict[str, Access] = field(default_factory=dict)
    # bucket -> key prefix it may put objects under, and nothing else of that bucket (a
    # presigned POST carries its signer's rights: the API may let clients upload only there)
    uploads_to: dict[str, str] = field(default_factory=dict)
    starts: tuple[str, ...] = ()  # state machines it starts
    redrives: tuple[str, ...] = ()  # state machines whose failed executions it re-drives
    publishes_to: tuple[str, ...] = ()  # event buses it puts events on
    secrets: tuple[str, ...] = ()  # secrets it reads (GetSecretValue)
    sends_email: bool = False  # through SES, from the stage's sender address
    invokes: tuple[str, ...] = ()  # functions it calls synchronously (lambda:InvokeFunction)
    # A container image (infra/images/<image>/Dockerfile) instead of the zip + layers: for
    # code that needs system libraries (WeasyPrint's Pango for PDFs).
    image: str | None = None
    timeout_seconds: int = 30
    memory_mb: int = 512

    @property
    def module(self) -> str:
        return self.handler.rsplit(".", 1)[0]

    @property
    def attribute(self) -> str:
        return self.handler.rsplit(".", 1)[1]

    def environment(self, names: ResourceNames) -> dict[str, str]:
        """The function's environment, given the physical names of the resources."""
        environment = {
            "STAGE": names.stage,
            "POWERTOOLS_SERVICE_NAME": self.name,
            "POWERTOOLS_METRICS_NAMESPACE": "monosub",
        }
        for table in self.tables:
            environment[config.table_env(table)] = names.tables[table]
        for bucket in self.buckets:
            environment[config.bucket_env(bucket)] = names.buckets[bucket]
        for machine in (*self.starts, *self.redrives):
            environment[config.state_machine_env(machine)] = names.state_machines[machine]
        if self.publishes_to:
            environment[config.EVENT_BUS_ENV] = names.event_buses[self.publishes_to[0]]
        if names.clock_parameter:
            environment[config.CLOCK_PARAMETER_ENV] = names.clock_parameter
        if self.sends_email and names.email_sender:
            environment[config.EMAIL_FROM_ENV] = names.email_sender
        for secret in self.secrets:
            environment[secret_env(secret)] = names.secrets[secret]
        for callee in self.invokes:
            environment[config.function_env(callee)] = names.function(callee)
        return environment


@dataclass(frozen=True)
class ResourceNames:
    """Physical names (or ARNs for state machines) of the declared resources in one stage."""

    stage: str
    tables: dict[str, str]
    buckets: dict[str, str]
    state_machines: dict[str, str]
    event_buses: dict[str, str]
    clock_parameter: str | None
    email_sender: str | None = None
    secrets: dict[str, str] = field(default_factory=dict)  # ARNs (names locally)

    def function(self, name: str) -> str:
        """A declared function's physical name (the same pattern in every stage, so a caller's
        environment can name its callee without a reference cycle in CloudFormation)."""
        return f"monosub-{self.stage}-{name}"
