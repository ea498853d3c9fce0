"""The token in a consent link: ``<consent id>.<expiry>.<signature>``.

- consent id: ``cns_`` + 26 base32 characters, 128 random bits (``secrets``); the key of
  the consent record, and nothing else: no email, no amounts, no subject;
- expiry: Unix seconds (UTC), in canonical decimal form;
- signature: HMAC-SHA256 with the signing key over ``monosub-consent/v1``, the id and the
  expiry, base64url without padding (43 characters).

About 85 URL-safe characters (``[a-z0-9_]``, ``.``, ``[A-Za-z0-9_-]``). ``verify`` checks the
shape and the signature (constant-time, over the exact characters received, so no two
spellings of one token exist) before anything reads the store; expiry is the caller's check,
against the business clock, so a link that was answered can still say so after it expired.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

CONSENT_ID_PREFIX = "cns_"
_DOMAIN = b"monosub-consent/v1"
_ID_BYTES = 16  # 128 bits
_SHAPE = re.compile(
    r"(?P<consent_id>cns_[a-z2-7]{26})\.(?P<expires>[1-9][0-9]{0,11})\.(?P<signature>[A-Za-z0-9_-]{43})"
)
MAX_TOKEN_LENGTH = 128  # anything longer is refused before any work
CONSENT_ID = re.compile(r"cns_[a-z2-7]{26}")


class InvalidToken(ValueError):
    """Not a token this system issued: malformed, or its signature does not match."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "malformed" or "tampered"


@dataclass(frozen=True)
class VerifiedToken:
    consent_id: str
    expires_at: datetime

    def expired(self, now: datetime) -> bool:
        """Expired from the expiry instant on (a link valid until 10:00 is refused at 10:00)."""
        return now >= self.expires_at


def new_consent_id() -> str:
    raw = secrets.token_bytes(_ID_BYTES)
    return CONSENT_ID_PREFIX + base64.b32encode(raw).decode("ascii").rstrip("=").lower()


def issue(consent_id: str, expires_at: datetime, *, key: bytes) -> str:
    if not CONSENT_ID.fullmatch(consent_id):
        raise ValueError(f"not a consent id: {consent_id!r}")
    if expires_at.tzinfo is None:
        raise ValueError("expires_at must be timezone-aware")
    expires = str(int(expires_at.timestamp()))
    return f"{consent_id}.{expires}.{_signature(consent_id, expires, key)}"


def verify(token: str, *, key: bytes) -> VerifiedToken:
    """The token's id and expiry if this system signed it; ``InvalidToken`` otherwise."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken("malformed")
    shape = _SHAPE.fullmatch(token)
    if shape is None:
        raise InvalidToken("malformed")
    consent_id, expires = shape["consent_id"], shape["expires"]
    expected = _signature(consent_id, expires, key)
    if not hmac.compare_digest(expected.encode("ascii"), shape["signature"].encode("ascii")):
        raise InvalidToken("tampered")
    try:
        expires_at = datetime.fromtimestamp(int(expires), UTC)
    except (OverflowError, OSError, ValueError):  # signed, but beyond any calendar
        raise InvalidToken("malformed") from None
    return VerifiedToken(consent_id, expires_at)


def fingerprint(token: str) -> str:
    """What is stored and logged instead of a token: its SHA-256 (hex), never the token."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def _signature(consent_id: str, expires: str, key: bytes) -> str:
    if len(key) < 32:
        raise ValueError("the signing key must have at least 32 bytes")
    message = b"\n".join((_DOMAIN, consent_id.encode("ascii"), expires.encode("ascii")))
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")
