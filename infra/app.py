"""CDK entry point. ``npx aws-cdk@2 synth -c stage=dev|stg|prod`` (cdk.json runs this file
through uv), or directly ``uv run python infra/app.py`` (writes ./cdk.out, cdk.json's context).

To skip installing the dependencies layer (quick synths, tests), set the standard context
``aws:cdk:bundling-stacks`` to ``[]``: the CLI refuses ``aws:`` keys on ``-c``, so use
``CDK_CONTEXT_JSON='{"aws:cdk:bundling-stacks": []}' uv run python infra/app.py``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aws_cdk import App

ROOT = Path(__file__).resolve().parent.parent


def _put_sources_on_path() -> None:
    """Make ``infra``, ``functions`` and ``monosub`` importable however this file is run, and
    take ``infra/`` itself off the path so ``import constructs`` is the library, not
    ``infra/constructs``."""
    here = Path(__file__).resolve().parent
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != here]
    for path in (ROOT / "layers" / "core" / "python", ROOT):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))


def cdk_json_context() -> dict[str, Any]:
    """cdk.json's context (feature flags): the CLI passes it to the app, a direct run does not."""
    context: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]
    return context


def create_app(context: Mapping[str, Any] | None = None, outdir: str | None = None) -> App:
    """The app with the stack of the stage in context ``stage`` and the cdk-nag checks.
    ``context`` adds to (and overrides) cdk.json's; the CLI's ``-c`` overrides both."""
    _put_sources_on_path()
    from aws_cdk import App

    from infra import nag
    from infra.settings import DEFAULT_STAGE, StageSettings
    from infra.stack import MonosubStack

    app = App(
        context={**cdk_json_context(), **(context or {})},
        outdir=outdir or os.environ.get("CDK_OUTDIR") or str(ROOT / "cdk.out"),
    )
    keep = str(app.node.try_get_context("keep_retired_indexes") or "").lower() == "true"
    stage = str(app.node.try_get_context("stage") or DEFAULT_STAGE)
    MonosubStack(app, StageSettings(stage, keep_retired_indexes=keep))
    nag.check(app)
    return app


def main() -> None:
    create_app().synth()


if __name__ == "__main__":
    main()
