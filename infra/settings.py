"""Where things are, and what differs between the deployment stages."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs

from monosub.domain import sign_in

ROOT = Path(__file__).resolve().parent.parent
STATEMACHINES = ROOT / "statemachines"
CORE_LAYER = ROOT / "layers" / "core"
DEPENDENCIES_LAYER = ROOT / "layers" / "dependencies"

STAGES = ("dev", "stg", "prod")
DEFAULT_STAGE = "dev"

# One runtime and one architecture for every function and both layers. The dependencies layer
# is installed for exactly this pair (see ``infra/constructs/layers.py``). arm64 (Graviton)
# is cheaper per GB-second, and every compiled dependency ships aarch64 wheels.
RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.ARM_64


# Cognito user pool feature plans a stage may choose (context ``cognito_feature_plan``).
ESSENTIALS = "essentials"
PLUS = "plus"
FEATURE_PLANS = (ESSENTIALS, PLUS)


class UnknownStage(ValueError):
    """The ``stage`` context is not one of ``STAGES``."""


@dataclass(frozen=True)
class StageSettings:
    """Everything that differs between dev, stg and prod, decided in one place."""

    name: str
    # An existing stage's first deploy after an index was replaced keeps the old one
    # (``-c keep_retired_indexes=true``): CloudFormation adds or deletes one index per update.
    keep_retired_indexes: bool = False

    def __post_init__(self) -> None:
        if self.name not in STAGES:
            raise UnknownStage(
                f"stage {self.name!r} is not one of {', '.join(STAGES)} (cdk -c stage=...)"
            )

    @property
    def is_production(self) -> bool:
        return self.name == "prod"

    @property
    def stack_name(self) -> str:
        return f"monosub-{self.name}"

    @property
    def removal_policy(self) -> RemovalPolicy:
        """Data and logs survive a stack deletion in prod; test stages clean up after
        themselves."""
        return RemovalPolicy.RETAIN if self.is_production else RemovalPolicy.DESTROY

    @property
    def log_retention(self) -> logs.RetentionDays:
        return logs.RetentionDays.ONE_YEAR if self.is_production else logs.RetentionDays.ONE_MONTH

    @property
    def business_clock_parameter(self) -> str | None:
        """The SSM parameter that can move the business clock: test stages only. In prod
        the clock is the wall clock and functions get no ``CLOCK_PARAMETER``."""
        return None if self.is_production else f"/monosub/{self.name}/business-clock"

    @property
    def log_level(self) -> str:
        return "INFO"

    @property
    def rate_limits(self) -> RateLimits:
        """A person sends the lead form a few times and opens a consent link a few times; a
        company's NAT puts many people behind one IP, hence the margin. Test stages allow
        scripted tests."""
        if self.is_production:
            return RateLimits(lead_form=30, consent_page=100)
        return RateLimits(lead_form=300, consent_page=300)

    @property
    def staff_pool_users(self) -> str:
        """What the sign-in trigger does with a user of the pool itself (no directory sign-in)
        in a sales, manager or ops group: ``refuse`` in prod, where staff sign in through the
        company directory and its MFA (a pool password alone is one factor); ``allow`` in the
        test stages, whose scripted users have no directory (``monosub.domain.sign_in``)."""
        return sign_in.REFUSE if self.is_production else sign_in.ALLOW

    @property
    def cognito_feature_plan(self) -> str:
        """The user pool's feature plan unless the stage's context says otherwise
        (``-c cognito_feature_plan=plus``): Essentials everywhere. Plus (threat protection,
        enforced) bills every monthly active user of the pool, customers included; the
        figures are in docs/infra.md, Decisions."""
        return ESSENTIALS

    @property
    def email_sender(self) -> str:
        """The address customers receive mail from; an SES identity the stack declares.
        Override with ``-c email_sender=...`` (the identity must then be verified in SES)."""
        return f"no-reply+{self.name}@monosub.example.jp"


@dataclass(frozen=True)
class RateLimits:
    """WAF rate-based rules on the public API routes: requests per client IP per five
    minutes (WAF's evaluation window) before that IP is blocked until it slows down."""

    lead_form: int  # POST /leads, the public contact form
    consent_page: int  # GET/POST /consent/{token}, the page a customer's link opens


def pascal(name: str) -> str:
    """``domain-events`` -> ``DomainEvents``: a readable construct id from a declared name."""
    return "".join(part.capitalize() for part in name.replace("_", "-").split("-"))
