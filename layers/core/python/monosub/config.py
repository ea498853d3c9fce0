"""Runtime configuration: every setting a handler needs comes from its environment.

On AWS a function's environment is its Lambda environment, built by the CDK app from
``functions/manifest.py``. In the embedded runtime many functions run in one process, so
the invoker installs each function's environment in a context variable for the duration of
one invocation; ``setting()`` reads that first and ``os.environ`` second.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar

_function_environment: ContextVar[Mapping[str, str] | None] = ContextVar(
    "monosub_function_environment", default=None
)


class MissingSetting(RuntimeError):
    """A setting the code needs is not in the function's environment."""


def setting(name: str, default: str | None = None) -> str | None:
    overrides = _function_environment.get()
    if overrides is not None and name in overrides:
        return overrides[name]
    return os.environ.get(name, default)


def require(name: str) -> str:
    value = setting(name)
    if not value:
        raise MissingSetting(
            f"setting {name} is not in this function's environment; "
            "declare the resource in functions/manifest.py"
        )
    return value


@contextmanager
def function_environment(environment: Mapping[str, str]) -> Iterator[None]:
    """Run a block with ``environment`` as the function's environment (embedded runtime)."""
    token = _function_environment.set(dict(environment))
    try:
        yield
    finally:
        _function_environment.reset(token)


def stage() -> str:
    return setting("STAGE", "local") or "local"


def table_name(logical: str) -> str:
    return require(table_env(logical))


def bucket_name(logical: str) -> str:
    return require(bucket_env(logical))


def state_machine_arn(logical: str) -> str:
    return require(state_machine_env(logical))


def table_env(logical: str) -> str:
    return "TABLE_" + _upper(logical)


def bucket_env(logical: str) -> str:
    return "BUCKET_" + _upper(logical)


def state_machine_env(logical: str) -> str:
    return "STATE_MACHINE_" + _upper(logical)


def function_env(logical: str) -> str:
    return "FUNCTION_" + _upper(logical)


def function_name(logical: str) -> str:
    """The physical name of a declared function this one invokes."""
    return require(function_env(logical))


EVENT_BUS_ENV = "EVENT_BUS"
CLOCK_PARAMETER_ENV = "CLOCK_PARAMETER"
EMAIL_FROM_ENV = "EMAIL_FROM"


def _upper(logical: str) -> str:
    return logical.replace("-", "_").upper()
