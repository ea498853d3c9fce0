"""The key that signs consent links: a Secrets Manager secret declared in
``functions/resources.py`` (``SECRETS``) and read by the functions that declare it.

A function that declares the secret gets ``SECRET_CONSENT_SIGNING`` in its environment: the
secret's ARN on AWS, its name in the embedded AWS (moto adds a random suffix to the ARN, so
the name is what is known before it is created; GetSecretValue takes either).

The value is cached for a few minutes per process, as the AWS secrets caching client would.
A cached value belongs to one boto3 client: the embedded runtime replaces its clients when it
starts, so a new embedded AWS (a new test) never sees the key of the previous one.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from monosub import aws, config

SIGNING_SECRET = "consent-signing"  # the logical name in functions/resources.py
# The environment variable a declaring function gets (functions.declarations.secret_env).
SIGNING_SECRET_ENV = "SECRET_CONSENT_SIGNING"
MINIMUM_KEY_BYTES = 32
CACHE_SECONDS = 300.0


class SigningKeyUnusable(RuntimeError):
    """The secret holds no usable key (empty or too short)."""


@dataclass
class _Cached:
    client: Any
    fetched: float
    value: bytes


_lock = threading.Lock()
_cache: dict[str, _Cached] = {}


def signing_key() -> bytes:
    """The HMAC key for consent tokens (at least 32 bytes)."""
    secret_id = config.require(SIGNING_SECRET_ENV)
    client = aws.client("secretsmanager")
    with _lock:
        cached = _cache.get(secret_id)
        if (
            cached is not None
            and cached.client is client
            and time.monotonic() - cached.fetched < CACHE_SECONDS
        ):
            return cached.value
    value = str(client.get_secret_value(SecretId=secret_id)["SecretString"]).encode("utf-8")
    if len(value) < MINIMUM_KEY_BYTES:
        raise SigningKeyUnusable(
            f"secret {secret_id} holds {len(value)} bytes; a signing key needs at least "
            f"{MINIMUM_KEY_BYTES}"
        )
    with _lock:
        _cache[secret_id] = _Cached(client=client, fetched=time.monotonic(), value=value)
    return value


def forget_cached_key() -> None:
    """Read the secret again on next use (after a rotation, or in tests)."""
    with _lock:
        _cache.clear()
