"""Local sign-in: JWTs signed with a local key, carrying the same claims Cognito would.

On AWS, API Gateway's Cognito authorizer verifies the user's token and hands its claims to
the function. Locally the HTTP server does the same with tokens signed (HS256) by a key kept
in ``.monosub/local-signing-key`` (made on first use, never committed): ``monosub token``
issues one. A token that is missing, malformed, wrongly signed or expired is refused with 401
before any handler runs, as the authorizer would.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ISSUER = "monosub-local"
AGENCY_CLAIM = "custom:agency_id"  # as monosub.auth reads it
REGION_CLAIM = "custom:region"
ACCOUNT_CLAIM = "custom:account_id"  # a customer user's own account, as monosub.auth reads it
KEY_FILE = Path(__file__).resolve().parent.parent / ".monosub" / "local-signing-key"
DEFAULT_LIFETIME_SECONDS = 8 * 3600


class InvalidToken(Exception):
    pass


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def signing_key(path: Path = KEY_FILE) -> bytes:
    """The local key, made on first use."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return bytes.fromhex(path.read_text().strip())


def issue(
    user: str,
    groups: Iterable[str],
    *,
    key: bytes,
    agency_id: str | None = None,
    region: str | None = None,
    account_id: str | None = None,
    lifetime_seconds: int = DEFAULT_LIFETIME_SECONDS,
    now: float | None = None,
) -> str:
    """A signed ID token for ``user`` in ``groups``; an agency user's names its agency
    (``custom:agency_id``), a customer user's its own account (``custom:account_id``), a
    regional manager's its region (``custom:region``): the Cognito custom attributes."""
    claims = _claims(user, groups, lifetime_seconds=lifetime_seconds, now=now)
    if agency_id is not None:
        claims[AGENCY_CLAIM] = agency_id
    if account_id is not None:
        claims[ACCOUNT_CLAIM] = account_id
    if region is not None:
        claims[REGION_CLAIM] = region
    return _signed(claims, key)


def issue_directory(
    user: str,
    directory_groups: str,
    *,
    key: bytes,
    lifetime_seconds: int = DEFAULT_LIFETIME_SECONDS,
) -> str:
    """A staff member's ID token as a sign-in through the parent company's directory gives
    it: the roles its directory groups map to (``monosub.domain.sign_in``, the same rule the
    ``sign-in-groups`` trigger applies on AWS), and the groups themselves."""
    from monosub.domain import sign_in

    roles = sign_in.roles_for(directory=directory_groups)
    claims = _claims(user, roles, lifetime_seconds=lifetime_seconds)
    claims[f"custom:{sign_in.DIRECTORY_ATTRIBUTE}"] = directory_groups
    return _signed(claims, key)


def _claims(
    user: str, groups: Iterable[str], *, lifetime_seconds: int, now: float | None = None
) -> dict[str, Any]:
    """An ID token's claims, as Cognito issues them for a user in ``groups``."""
    issued = int(now if now is not None else time.time())
    return {
        "iss": ISSUER,
        "sub": user,
        "cognito:username": user,
        "cognito:groups": sorted(set(groups)),
        "iat": issued,
        "exp": issued + lifetime_seconds,
        "token_use": "id",
    }


def issue_machine(
    client_id: str,
    scopes: Iterable[str],
    *,
    key: bytes,
    lifetime_seconds: int = 3600,
    now: float | None = None,
) -> str:
    """A signed access token of the client-credentials flow for a partner system
    (``client_id``) with ``scopes``, as Cognito's token endpoint issues one."""
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": client_id,
        "client_id": client_id,
        "token_use": "access",
        "scope": " ".join(sorted(set(scopes))),
        "iat": issued,
        "exp": issued + lifetime_seconds,
    }
    return _signed(claims, key)


def _signed(claims: dict[str, Any], key: bytes) -> str:
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(claims, ensure_ascii=False).encode())
    signature = hmac.new(key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def verify(token: str, *, key: bytes, now: float | None = None) -> dict[str, Any]:
    """The token's claims; ``InvalidToken`` says why not."""
    try:
        header_text, payload_text, signature_text = token.split(".")
        header = json.loads(_unb64(header_text))
        claims: dict[str, Any] = json.loads(_unb64(payload_text))
        signature = _unb64(signature_text)
    except (ValueError, json.JSONDecodeError) as error:
        raise InvalidToken("malformed token") from error
    if header.get("alg") != "HS256":
        raise InvalidToken("unexpected algorithm")
    expected = hmac.new(key, f"{header_text}.{payload_text}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(signature, expected):
        raise InvalidToken("bad signature")
    if claims.get("iss") != ISSUER:
        raise InvalidToken("unknown issuer")
    if float(claims.get("exp", 0)) <= (now if now is not None else time.time()):
        raise InvalidToken("expired")
    return claims


def authorizer_claims(claims: dict[str, Any]) -> dict[str, str]:
    """Claims as a REST API Cognito authorizer hands them on: strings, groups comma-joined.
    An access token (a machine client's) has no user name or groups, but a client and scopes."""
    if claims.get("token_use") == "access":
        return {
            name: str(claims[name])
            for name in ("sub", "client_id", "token_use", "scope", "iss", "exp")
            if name in claims
        }
    groups = claims.get("cognito:groups") or []
    passed = {
        "sub": str(claims["sub"]),
        "cognito:username": str(claims.get("cognito:username", claims["sub"])),
        "cognito:groups": ",".join(groups) if isinstance(groups, list) else str(groups),
        "iss": str(claims["iss"]),
        "exp": str(claims["exp"]),
        "token_use": "id",
    }
    for custom in (AGENCY_CLAIM, ACCOUNT_CLAIM, REGION_CLAIM):
        if claims.get(custom):
            passed[custom] = str(claims[custom])
    return passed
