"""The key that signs consent links: a Secrets Manager secret declared in
``functions/resources.py`` (``SECRETS``) and read by the functions that declare it.

A function that declares the secret gets ``SECRET_CONSENT_SIGNING`` in its environment: the
secret's ARN on AWS, its name in the embedded AWS. The value is cached for a few minutes per
process and per boto3 client (``monosub.secret_cache``); a key found too short is not cached.
"""

from __future__ import annotations

from monosub import config, secret_cache

SIGNING_SECRET = "consent-signing"  # the logical name in functions/resources.py
# The environment variable a declaring function gets (functions.declarations.secret_env).
SIGNING_SECRET_ENV = "SECRET_CONSENT_SIGNING"
MINIMUM_KEY_BYTES = 32
CACHE_SECONDS = secret_cache.CACHE_SECONDS


class SigningKeyUnusable(RuntimeError):
    """The secret holds no usable key (empty or too short)."""


def signing_key() -> bytes:
    """The HMAC key for consent tokens (at least 32 bytes)."""
    return secret_cache.read(SIGNING_SECRET_ENV, _signing_key)


def _signing_key(secret_string: str) -> bytes:
    value = secret_string.encode("utf-8")
    if len(value) < MINIMUM_KEY_BYTES:
        raise SigningKeyUnusable(
            f"secret {config.setting(SIGNING_SECRET_ENV)} holds {len(value)} bytes; a signing "
            f"key needs at least {MINIMUM_KEY_BYTES}"
        )
    return value


def forget_cached_key() -> None:
    """Read the secret again on next use (after a rotation, or in tests)."""
    secret_cache.forget(SIGNING_SECRET_ENV)
