"""Identifiers: random ones for new records, derived ones where a business key must map to
exactly one record (so a retry or a rerun lands on the same item)."""

from __future__ import annotations

import hashlib
import secrets

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def new_id(prefix: str) -> str:
    """A new random identifier such as ``lead_7k3m9q2x4p8r``: unguessable, URL-safe."""
    return f"{prefix}_{_encode(secrets.token_bytes(10))}"


def derived_id(prefix: str, business_key: str) -> str:
    """The identifier that always belongs to ``business_key``."""
    digest = hashlib.sha256(business_key.encode("utf-8")).digest()[:10]
    return f"{prefix}_{_encode(digest)}"


def _encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    chars = []
    for _ in range(len(data) * 8 // 5):
        number, index = divmod(number, 32)
        chars.append(_ALPHABET[index])
    return "".join(reversed(chars))
