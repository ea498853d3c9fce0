"""Cognito's pre token generation trigger (``sign-in-groups``): every token a user gets
carries monosub's roles in ``cognito:groups``, whether the parent company's directory (SAML),
Google, Facebook or the user pool signed the user in (``monosub.domain.sign_in``)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from monosub.domain import sign_in
from monosub.observability import SIGN_IN, count, entry_point, logger


@entry_point(SIGN_IN)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = event.get("request") or {}
    attributes = request.get("userAttributes") or {}
    pool_groups = (request.get("groupConfiguration") or {}).get("groupsToOverride") or []
    roles = sign_in.roles_for(
        directory=attributes.get(f"custom:{sign_in.DIRECTORY_ATTRIBUTE}"),
        provider=sign_in.provider_of(attributes),
        pool_groups=pool_groups,
    )
    if not roles:
        count("SignInsWithoutRole")
        logger.warning("a sign-in with no monosub role", extra={"user": event.get("userName")})
    event.setdefault("response", {})["claimsOverrideDetails"] = {
        "groupOverrideDetails": {"groupsToOverride": roles}
    }
    return event
