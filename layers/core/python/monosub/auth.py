"""Who is calling. On AWS, API Gateway's Cognito authorizer puts the verified claims in the
request context; the embedded HTTP server puts the same claims there for a local identity.
Handlers never read identity from anything else."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from monosub.errors import Forbidden, Unauthorized

STAFF_GROUPS = frozenset({"sales", "regional-manager", "corporate-manager", "agency", "ops"})


@dataclass(frozen=True)
class Principal:
    user: str
    groups: frozenset[str]

    @property
    def is_staff(self) -> bool:
        return bool(self.groups & STAFF_GROUPS)


def principal_from_event(event: Mapping[str, Any]) -> Principal | None:
    claims = ((event.get("requestContext") or {}).get("authorizer") or {}).get("claims") or {}
    user = claims.get("cognito:username") or claims.get("sub")
    if not user:
        return None
    raw_groups = claims.get("cognito:groups") or ""
    if isinstance(raw_groups, list):
        groups = frozenset(str(g) for g in raw_groups)
    else:
        # REST API Cognito authorizers send "a,b"; JWT authorizers send "[a b]".
        text = str(raw_groups).strip().removeprefix("[").removesuffix("]")
        groups = frozenset(g for g in text.replace(",", " ").split() if g)
    return Principal(user=str(user), groups=groups)


def require_staff(principal: Principal | None) -> Principal:
    if principal is None:
        raise Unauthorized("sign in first")
    if not principal.is_staff:
        raise Forbidden("this is for monosub staff only")
    return principal
