"""Who a sign-in is, in monosub's roles (Cognito groups, docs/access.md), whatever signed the
user in: the parent company's directory (SAML) for staff, Google or Facebook for customers,
or the user pool itself.

Cognito calls the ``sign-in-groups`` function before it issues tokens (pre token generation);
the function asks ``roles_for`` and puts the answer in ``cognito:groups``. The local signing
key (``monosub token --directory-groups``) asks the same function, so a local token carries
the very claims a directory sign-in would. The mapping is data:
``monosub/data/directory_groups.json``.

Staff's second factor is the directory's (docs/sign-in.md): a user created in the pool itself
and put in a staff group would sign in with a password alone. A stage that refuses such users
(``STAFF_POOL_USERS=refuse``, prod) gets them no token at all (``refuse_pool_staff``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from monosub import auth
from monosub.errors import Forbidden

MAPPING = Path(__file__).resolve().parent.parent / "data" / "directory_groups.json"
DIRECTORY_ATTRIBUTE = "directory_groups"  # custom:directory_groups, mapped from SAML
DIRECTORY_PROVIDER = "Directory"  # the SAML identity provider's name in the user pool
# What the sign-in trigger does with an internal-staff user the directory did not sign in
# (set per stage by the CDK app): ``allow`` (test stages: scripted users) or ``refuse``.
STAFF_POOL_USERS_ENV = "STAFF_POOL_USERS"
ALLOW = "allow"
REFUSE = "refuse"
STAFF_POOL_USERS_CHOICES = (ALLOW, REFUSE)


class StaffSignInRefused(Forbidden):
    """An internal-staff user signed in without the directory where the stage refuses that."""


@dataclass(frozen=True)
class DirectoryMapping:
    saml_attribute: str
    roles: Mapping[str, frozenset[str]]
    social_providers: frozenset[str]
    social_role: str


def mapping_from(raw: Mapping[str, Any]) -> DirectoryMapping:
    """The mapping in ``raw``; ``ValueError`` naming what is wrong (an unknown role)."""
    roles = {str(group): frozenset(str(r) for r in named) for group, named in raw["roles"].items()}
    unknown = sorted({r for named in roles.values() for r in named} - auth.USER_GROUPS)
    social_role = str(raw.get("social_role", auth.CUSTOMER))
    if social_role not in auth.USER_GROUPS:
        unknown.append(social_role)
    if unknown:
        raise ValueError(f"unknown role(s) in the directory mapping: {', '.join(unknown)}")
    return DirectoryMapping(
        saml_attribute=str(raw["saml_attribute"]),
        roles=roles,
        social_providers=frozenset(str(p) for p in raw.get("social_providers", ())),
        social_role=social_role,
    )


@cache
def mapping() -> DirectoryMapping:
    return mapping_from(json.loads(MAPPING.read_text(encoding="utf-8")))


def directory_groups(raw: str | Iterable[str] | None) -> list[str]:
    """The directory groups of a SAML attribute as Cognito passes it on: one value, a
    comma-separated list, or a multi-valued attribute written as ``[a, b]``."""
    if raw is None:
        return []
    text = raw if isinstance(raw, str) else ",".join(raw)
    text = text.strip().removeprefix("[").removesuffix("]")
    return [part.strip() for part in text.split(",") if part.strip()]


def roles_for(
    *,
    directory: str | Iterable[str] | None = None,
    provider: str | None = None,
    pool_groups: Iterable[str] = (),
    rules: DirectoryMapping | None = None,
) -> list[str]:
    """The user's roles: what its directory groups map to (staff), the customer role for a
    social sign-in, and the groups ops put it in in the user pool itself (an agency user, a
    local user). Sorted, each once; only monosub's roles."""
    rules = rules or mapping()
    found = set(pool_groups) & auth.USER_GROUPS
    for group in directory_groups(directory):
        found |= rules.roles.get(group, frozenset())
    if provider in rules.social_providers:
        found.add(rules.social_role)
    return sorted(found)


def provider_of(user_attributes: Mapping[str, Any]) -> str | None:
    """The external identity provider a Cognito user signed in with (``identities``), if any."""
    raw = user_attributes.get("identities")
    if not raw:
        return None
    try:
        identities = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError:
        return None
    if isinstance(identities, list) and identities and isinstance(identities[0], dict):
        name = identities[0].get("providerName")
        return str(name) if name else None
    return None


def refuse_pool_staff(roles: Iterable[str], provider: str | None, staff_pool_users: str) -> None:
    """Raise ``StaffSignInRefused`` when the stage refuses internal-staff users that the
    directory did not sign in and this sign-in is one: a user of the pool itself (no
    provider) or of another provider, with a sales, manager or ops role. Agencies
    (``agency``) and customers sign in with the pool's own accounts and are never refused
    here. ``staff_pool_users`` is ``allow`` or ``refuse``; anything else is a deployment
    mistake and refuses (``ValueError``), rather than silently letting staff in."""
    if staff_pool_users not in STAFF_POOL_USERS_CHOICES:
        raise ValueError(
            f"{STAFF_POOL_USERS_ENV}={staff_pool_users!r}: expected one of "
            f"{', '.join(STAFF_POOL_USERS_CHOICES)}"
        )
    if staff_pool_users == ALLOW or provider == DIRECTORY_PROVIDER:
        return
    staff = sorted(set(roles) & auth.INTERNAL_STAFF)
    if staff:
        raise StaffSignInRefused(
            f"staff ({', '.join(staff)}) sign in with the company directory on this stage, "
            "not with a user pool password; ops: remove the user from the pool's staff "
            "groups, the directory's groups give the roles (docs/sign-in.md)"
        )
