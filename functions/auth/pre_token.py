"""Cognito's pre token generation trigger (``sign-in-groups``): every token a user gets
carries monosub's roles in ``cognito:groups``, whether the parent company's directory (SAML),
Google, Facebook or the user pool signed the user in (``monosub.domain.sign_in``).

Where the stage refuses staff that the directory did not sign in (``STAFF_POOL_USERS=refuse``)
such a user gets no token: the trigger raises, and Cognito fails the sign-in with the
trigger's message."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from monosub import config
from monosub.domain import sign_in
from monosub.observability import SIGN_IN, count, entry_point, logger


@entry_point(SIGN_IN)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = event.get("request") or {}
    attributes = request.get("userAttributes") or {}
    pool_groups = (request.get("groupConfiguration") or {}).get("groupsToOverride") or []
    provider = sign_in.provider_of(attributes)
    roles = sign_in.roles_for(
        directory=attributes.get(f"custom:{sign_in.DIRECTORY_ATTRIBUTE}"),
        provider=provider,
        pool_groups=pool_groups,
    )
    policy = config.setting(sign_in.STAFF_POOL_USERS_ENV, sign_in.ALLOW) or sign_in.ALLOW
    try:
        sign_in.refuse_pool_staff(roles, provider, policy)
    except sign_in.StaffSignInRefused:
        count("StaffPoolSignInsRefused")
        logger.warning(
            "a staff sign-in without the directory, refused on this stage",
            extra={"user": event.get("userName"), "provider": provider, "roles": roles},
        )
        raise
    if not roles:
        count("SignInsWithoutRole")
        logger.warning("a sign-in with no monosub role", extra={"user": event.get("userName")})
    event.setdefault("response", {})["claimsOverrideDetails"] = {
        "groupOverrideDetails": {"groupsToOverride": roles}
    }
    return event
