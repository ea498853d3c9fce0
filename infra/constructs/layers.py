"""The two Lambda layers every function gets.

- **core**: ``layers/core``; its ``python/monosub`` ends up at ``/opt/python/monosub``.
- **dependencies**: the third-party packages of ``[project].dependencies`` at the exact
  versions of ``uv.lock`` (the ones the tests ran against), installed as wheels for the
  Lambda platform (``RUNTIME`` on ``ARCHITECTURE``) by a local bundler, so ``cdk synth``
  never needs Docker. boto3 is kept in the layer: the runtime's own SDK changes under us
  on AWS's schedule, while the layer pins the one we test with (+17 MB zipped of ~34 MB).

Tests and quick synths skip bundling with the standard context
``aws:cdk:bundling-stacks`` (``[]`` skips every stack); nothing is installed then.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.settings import ARCHITECTURE, CORE_LAYER, DEPENDENCIES_LAYER, ROOT, RUNTIME

PYTHON_VERSION = RUNTIME.name.removeprefix("python")  # "3.12"
# The python3.12 runtime is Amazon Linux 2023 (glibc 2.34): any wheel for manylinux <= 2.34.
WHEEL_PLATFORM = {"arm64": "aarch64", "x86_64": "x86_64"}[ARCHITECTURE.name] + "-manylinux_2_34"


class DependencyInstallFailed(RuntimeError):
    """uv could not export or install the locked runtime dependencies."""


def runtime_dependencies() -> list[str]:
    """``[project].dependencies`` of ``pyproject.toml``: what the deployed code imports."""
    with (ROOT / "pyproject.toml").open("rb") as file:
        return list(tomllib.load(file)["project"]["dependencies"])


def dependencies_fingerprint() -> str:
    """The dependencies layer's asset hash: it changes exactly when what would be installed
    changes (declared dependencies, lock file, target platform), without installing anything."""
    digest = hashlib.sha256()
    digest.update(
        json.dumps([runtime_dependencies(), PYTHON_VERSION, WHEEL_PLATFORM]).encode("utf-8")
    )
    digest.update((ROOT / "uv.lock").read_bytes())
    return digest.hexdigest()


def install_dependencies(output_dir: Path) -> None:
    """Install the locked runtime dependencies into ``output_dir/python`` for Lambda."""
    uv = os.environ.get("UV", "uv")  # `uv run` tells its children where uv is
    with tempfile.TemporaryDirectory() as scratch:
        requirements = Path(scratch) / "requirements.txt"
        _run(
            [uv, "export", "--locked", "--no-dev", "--no-hashes", "--no-emit-project",
             "--no-header", "--no-annotate", "--output-file", str(requirements)],
        )  # fmt: skip
        _run(
            [uv, "pip", "install", "--quiet", "--no-deps", "--link-mode=copy",
             "--target", str(output_dir / "python"),
             "--python-platform", WHEEL_PLATFORM, "--python-version", PYTHON_VERSION,
             "--only-binary", ":all:", "--requirements", str(requirements)],
        )  # fmt: skip


def _run(command: list[str]) -> None:
    try:
        subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as error:
        output = getattr(error, "stderr", "") or str(error)
        raise DependencyInstallFailed(
            f"building the dependencies layer failed: {' '.join(command)}\n{output}"
        ) from error


@jsii.implements(ILocalBundling)
class LocalDependencyInstaller:
    """Installs the layer on this machine; returning True means Docker is never used."""

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_options: Any) -> bool:
        install_dependencies(Path(output_dir))
        return True


class Layers(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.core = lambda_.LayerVersion(
            self,
            "Core",
            description="monosub domain package (layers/core)",
            code=lambda_.Code.from_asset(
                str(CORE_LAYER), exclude=["**/__pycache__", "**/*.pyc", "**/.*"]
            ),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
        )
        self.dependencies = lambda_.LayerVersion(
            self,
            "Dependencies",
            description="Third-party runtime dependencies, pinned by uv.lock",
            code=lambda_.Code.from_asset(
                str(DEPENDENCIES_LAYER),
                asset_hash_type=AssetHashType.CUSTOM,
                asset_hash=dependencies_fingerprint(),
                bundling=BundlingOptions(
                    # Required by the API; never pulled: the local installer always succeeds
                    # or fails the synth with uv's error.
                    image=RUNTIME.bundling_image,
                    local=LocalDependencyInstaller(),
                ),
            ),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
        )

    @property
    def all(self) -> list[lambda_.ILayerVersion]:
        return [self.dependencies, self.core]
