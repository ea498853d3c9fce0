"""Who is calling. On AWS, API Gateway's Cognito authorizer puts the verified claims in the
request context; the embedded HTTP server puts the same claims there for a local identity.
Handlers never read identity from anything else.

Which records a caller may see follows from the groups and the agency here:
``monosub.access``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from monosub.errors import Forbidden, Unauthorized

# The Cognito user pool groups (infra/constructs/api.py creates exactly these).
SALES = "sales"
REGIONAL_MANAGER = "regional-manager"
CORPORATE_MANAGER = "corporate-manager"
AGENCY = "agency"
OPS = "ops"
CUSTOMER = "customer"

STAFF_GROUPS = frozenset({SALES, REGIONAL_MANAGER, CORPORATE_MANAGER, AGENCY, OPS})
# monosub's own people: every staff group but the resellers (agencies).
INTERNAL_STAFF = STAFF_GROUPS - {AGENCY}
USER_GROUPS = STAFF_GROUPS | {CUSTOMER}

# The Cognito custom attribute naming an agency user's reseller; its claim in the ID token.
AGENCY_ATTRIBUTE = "agency_id"
AGENCY_CLAIM = f"custom:{AGENCY_ATTRIBUTE}"
# A customer's own account (the customer portal: it sees that account only, and never names
# it in a request) and a regional manager's region.
ACCOUNT_ATTRIBUTE = "account_id"
ACCOUNT_CLAIM = f"custom:{ACCOUNT_ATTRIBUTE}"
REGION_ATTRIBUTE = "region"
REGION_CLAIM = f"custom:{REGION_ATTRIBUTE}"


# Machine clients (a partner's system, e.g. the web shop) sign in with OAuth 2.0 client
# credentials against the user pool's resource server and call the routes that name a scope
# with an access token carrying it. The resource server and its scopes (infra/constructs/api.py
# declares exactly these):
RESOURCE_SERVER = "monosub"
ORDERS_WRITE = f"{RESOURCE_SERVER}/orders.write"
MACHINE_SCOPES = frozenset({ORDERS_WRITE})


@dataclass(frozen=True)
class MachineClient:
    """A partner's system calling with an access token of the client-credentials flow."""

    client_id: str
    scopes: frozenset[str]


def machine_client_from_event(event: Mapping[str, Any]) -> MachineClient | None:
    """The machine client of an access token; None for a person's (ID) token or none."""
    claims = ((event.get("requestContext") or {}).get("authorizer") or {}).get("claims") or {}
    client_id = str(claims.get("client_id") or "").strip()
    if claims.get("token_use") != "access" or not client_id:
        return None
    return MachineClient(
        client_id=client_id, scopes=frozenset(str(claims.get("scope") or "").split())
    )


def require_scopes(event: Mapping[str, Any], scopes: Iterable[str], action: str) -> MachineClient:
    """The machine client calling ``action``, if its token carries every one of ``scopes``.
    A person's sign-in is refused: these routes are for partner systems."""
    client = machine_client_from_event(event)
    if client is None:
        if principal_from_event(event) is None:
            raise Unauthorized("sign in with the client-credentials flow first")
        raise Forbidden(f"{action} is for partner systems (an access token with its scope)")
    missing = sorted(set(scopes) - client.scopes)
    if missing:
        raise Forbidden(f"{action} needs the scope {', '.join(missing)}")
    return client


@dataclass(frozen=True)
class Principal:
    user: str
    groups: frozenset[str]
    agency_id: str | None = None
    region: str | None = None  # a regional manager's region (custom:region)
    account_id: str | None = None

    @property
    def is_staff(self) -> bool:
        return bool(self.groups & STAFF_GROUPS)

    @property
    def is_customer(self) -> bool:
        return CUSTOMER in self.groups


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
    agency_id = str(claims.get(AGENCY_CLAIM) or "").strip() or None
    region = str(claims.get(REGION_CLAIM) or "").strip() or None
    account_id = str(claims.get(ACCOUNT_CLAIM) or "").strip() or None
    return Principal(
        user=str(user), groups=groups, agency_id=agency_id, region=region, account_id=account_id
    )


def require_staff(principal: Principal | None) -> Principal:
    """The caller, if staff; an agency user must name its agency (``custom:agency_id``)."""
    if principal is None:
        raise Unauthorized("sign in first")
    if not principal.is_staff:
        raise Forbidden("this is for monosub staff only")
    if AGENCY in principal.groups and principal.agency_id is None:
        raise Forbidden(
            f"an agency user needs the {AGENCY_CLAIM} attribute: ask ops to set it on your user"
        )
    return principal


def require_groups(principal: Principal, allowed: Iterable[str], action: str) -> Principal:
    """The caller, if in one of the ``allowed`` groups; else 403 saying who may."""
    allowed = frozenset(allowed)
    if not principal.groups & allowed:
        raise Forbidden(f"{action} is for {', '.join(sorted(allowed))} only")
    return principal


@dataclass(frozen=True)
class Customer:
    """A signed-in customer user and the one account it acts for (its own)."""

    user: str
    account_id: str


def require_customer(principal: Principal | None) -> Customer:
    """The caller, if a customer user with its account (``custom:account_id``). Staff are
    refused (403) even if they also hold the customer group: the customer portal shows one
    account, the caller's own, and staff have their own routes for any account."""
    if principal is None:
        raise Unauthorized("sign in first")
    if not principal.is_customer or principal.is_staff:
        raise Forbidden("this is for customers only (the customer portal)")
    if principal.account_id is None:
        raise Forbidden(
            f"a customer user needs the {ACCOUNT_CLAIM} attribute: your sign-in is not linked "
            "to a customer account yet, ask support to link it"
        )
    return Customer(user=principal.user, account_id=principal.account_id)
