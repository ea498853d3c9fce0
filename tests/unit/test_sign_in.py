"""Every sign-in ends in monosub's roles: the parent company's directory groups (SAML) for
staff, the customer role for Google and Facebook, the pool's own groups otherwise; the
mapping is data, and the Cognito trigger and the local signing key use the same rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monosub.domain import sign_in

EVENTS = Path(__file__).resolve().parents[2] / "events" / "cognito"


def test_the_shipped_mapping_loads_and_names_only_monosub_roles() -> None:
    rules = sign_in.mapping()
    assert rules.saml_attribute == "http://schemas.xmlsoap.org/claims/Group"
    assert rules.roles["GRP-BackOffice"] == frozenset({"ops"})
    assert rules.social_providers == frozenset({"Google", "Facebook"})


def test_directory_groups_map_to_roles_and_unknown_groups_to_none() -> None:
    roles = sign_in.roles_for(directory="[GRP-Sales, GRP-Sales-Corporate-Managers, GRP-X]")
    assert roles == ["corporate-manager", "sales"]
    assert sign_in.roles_for(directory="GRP-AllStaff") == []
    assert sign_in.roles_for(directory=["GRP-Finance", "GRP-BackOffice"]) == ["ops"]


def test_a_social_sign_in_is_a_customer_and_pool_groups_are_kept() -> None:
    assert sign_in.roles_for(provider="Google") == ["customer"]
    assert sign_in.roles_for(provider="Facebook", pool_groups=["customer"]) == ["customer"]
    assert sign_in.roles_for(provider="Directory") == []
    # an agency user made in the pool keeps its group; a group monosub does not know is dropped
    assert sign_in.roles_for(pool_groups=["agency", "beta-testers"]) == ["agency"]


def test_a_mapping_naming_an_unknown_role_is_refused() -> None:
    with pytest.raises(ValueError, match="superuser"):
        sign_in.mapping_from(
            {"saml_attribute": "g", "roles": {"GRP-Root": ["superuser"]}, "social_role": "customer"}
        )


def test_the_provider_is_read_from_cognitos_identities_attribute() -> None:
    identities = json.dumps([{"providerName": "Google", "providerType": "Google"}])
    assert sign_in.provider_of({"identities": identities}) == "Google"
    assert sign_in.provider_of({}) is None
    assert sign_in.provider_of({"identities": "not json"}) is None


def test_the_cognito_trigger_puts_the_roles_in_the_token() -> None:
    from functions.auth.pre_token import handler
    from tests.conftest import FakeContext

    event = json.loads((EVENTS / "pre-token-generation-saml.json").read_text())
    answered = handler(event, FakeContext("sign-in-groups"))
    override = answered["response"]["claimsOverrideDetails"]["groupOverrideDetails"]
    assert override == {"groupsToOverride": ["corporate-manager", "sales"]}


def test_a_local_token_carries_the_same_roles_as_a_directory_sign_in() -> None:
    from local import identity

    key = b"k" * 32
    token = identity.issue_directory("taro.sato", "GRP-Sales,GRP-BackOffice", key=key)
    claims = identity.verify(token, key=key)
    assert claims["cognito:groups"] == ["ops", "sales"]
    assert claims["custom:directory_groups"] == "GRP-Sales,GRP-BackOffice"
