"""One Lambda function per ``manifest.FUNCTIONS`` entry; grants and triggers: ``infra/stack.py``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from functions import declarations
from infra import nag
from infra.settings import ARCHITECTURE, ROOT, RUNTIME, StageSettings

# The code asset is the repository root filtered down to the ``functions`` package, so a
# manifest handler such as ``functions.api.app.handler`` resolves from /var/task exactly as it
# does from the repository root. Everything else the code imports comes from the layers.
FUNCTIONS_PACKAGE_ONLY = [
    "*",
    ".*",
    "!functions",
    "!functions/**",
    "**/__pycache__",
    "**/*.pyc",
]


def functions_code() -> lambda_.Code:
    return lambda_.Code.from_asset(str(ROOT), exclude=FUNCTIONS_PACKAGE_ONLY)


# What a container image is built from: the repository root filtered down to what its
# Dockerfile copies (the code, the locked dependencies and the image's own folder).
IMAGE_CONTEXT_ONLY = [
    "*",
    ".*",
    "!functions",
    "!functions/**",
    "!layers",
    "!layers/core",
    "!layers/core/**",
    "!pyproject.toml",
    "!uv.lock",
    "!infra",
    "!infra/images",
    "!infra/images/**",
    "**/__pycache__",
    "**/*.pyc",
]


def image_code(declaration: declarations.Function) -> lambda_.DockerImageCode:
    """The function's container image, built by ``cdk deploy`` (Docker needed then, not for
    ``cdk synth``) from ``infra/images/<image>/Dockerfile`` for the project's architecture."""
    return lambda_.DockerImageCode.from_image_asset(
        str(ROOT),
        file=f"infra/images/{declaration.image}/Dockerfile",
        exclude=IMAGE_CONTEXT_ONLY,
        platform=ecr_assets.Platform.LINUX_ARM64
        if ARCHITECTURE == lambda_.Architecture.ARM_64
        else ecr_assets.Platform.LINUX_AMD64,
        cmd=[declaration.handler],
    )


class DeclaredFunction(Construct):
    """A manifest function: its code, layers, limits, tracing, logs and environment."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        declaration: declarations.Function,
        code: lambda_.Code,
        layers: Sequence[lambda_.ILayerVersion],
        environment: dict[str, str],
        settings: StageSettings,
    ) -> None:
        super().__init__(scope, construct_id)
        self.declaration = declaration
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=settings.log_retention,
            removal_policy=settings.removal_policy,
        )
        common: dict[str, Any] = {
            "function_name": f"{settings.stack_name}-{declaration.name}",
            "description": declaration.description,
            "architecture": ARCHITECTURE,
            "timeout": Duration.seconds(declaration.timeout_seconds),
            "memory_size": declaration.memory_mb,
            "tracing": lambda_.Tracing.ACTIVE,
            "environment": {**environment, "POWERTOOLS_LOG_LEVEL": settings.log_level},
            "log_group": self.log_group,
        }
        self.function: lambda_.Function
        if declaration.image:
            self.function = lambda_.DockerImageFunction(
                self, "Function", code=image_code(declaration), **common
            )
        else:
            self.function = lambda_.Function(
                self,
                "Function",
                handler=declaration.handler,
                code=code,
                runtime=RUNTIME,
                layers=list(layers),
                **common,
            )
        nag.acknowledge(
            self,
            f"AwsSolutions-IAM4[{nag.LAMBDA_BASIC_EXECUTION}]",
            "AWSLambdaBasicExecutionRole only allows writing the function's own CloudWatch "
            "logs; it is AWS's maintained minimum for any Lambda function.",
        )
        nag.acknowledge(
            self,
            "AwsSolutions-IAM5[Resource::*]",
            "Tracing ACTIVE adds xray:PutTraceSegments and xray:PutTelemetryRecords, which "
            "support no resource-level permissions; every other statement of this role is "
            "scoped to a declared resource.",
        )
        if declaration.image:
            return  # a container image names no managed runtime (AwsSolutions-L1 is moot)
        nag.acknowledge(
            self,
            "AwsSolutions-L1",
            f"{RUNTIME.name} is the project's chosen runtime (DESIGN.md, section 8) and the "
            "dependencies layer holds wheels built for it; moving up is a deliberate change "
            "of settings.RUNTIME (and a re-test), not a side effect of a CDK upgrade.",
        )
