"""Values of declared Secrets Manager secrets, read once and kept a few minutes per process.

A function that declares a secret (``Function.secrets`` in the manifest) gets
``SECRET_<NAME>`` in its environment: the secret's ARN on AWS, its name in the embedded AWS
(moto adds a random suffix to the ARN, so the name is what is known before it is created;
GetSecretValue takes either).

The value is cached for a few minutes per process, as the AWS secrets caching client would,
so a warm Lambda does not call Secrets Manager on every invocation. A cached value belongs to
one boto3 client: the embedded runtime replaces its clients when it starts, so a new embedded
AWS (a new test) never sees the value of the previous one.

Only a value that ``parse`` accepts is cached: a secret found unusable (empty, a placeholder
ops have not filled yet) is read again on the next use, so fixing it takes effect at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from monosub import aws, config

CACHE_SECONDS = 300.0

Parsed = TypeVar("Parsed")


@dataclass
class _Cached:
    client: Any
    fetched: float
    value: Any


_lock = threading.Lock()
_cache: dict[tuple[str, str], _Cached] = {}


def read(env: str, parse: Callable[[str], Parsed]) -> Parsed:
    """The secret named by the setting ``env``, as ``parse`` turns its SecretString into the
    value code uses (``parse`` raises when the secret holds nothing usable)."""
    secret_id = config.require(env)
    client = aws.client("secretsmanager")
    key = (env, secret_id)
    with _lock:
        cached = _cache.get(key)
        if (
            cached is not None
            and cached.client is client
            and time.monotonic() - cached.fetched < CACHE_SECONDS
        ):
            return cached.value
    value = parse(str(client.get_secret_value(SecretId=secret_id)["SecretString"]))
    with _lock:
        _cache[key] = _Cached(client=client, fetched=time.monotonic(), value=value)
    return value


def forget(env: str | None = None) -> None:
    """Read the secret named by ``env`` (every secret when None) again on next use: after a
    rotation, or in tests."""
    with _lock:
        for key in [k for k in _cache if env is None or k[0] == env]:
            del _cache[key]
