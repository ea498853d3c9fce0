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


# ---- staff who did not come through the directory (STAFF_POOL_USERS) ------------------------


@pytest.mark.parametrize("role", ["sales", "regional-manager", "corporate-manager", "ops"])
@pytest.mark.parametrize("provider", [None, "Google", "Facebook"])
def test_a_stage_that_refuses_pool_staff_refuses_internal_staff_without_the_directory(
    role: str, provider: str | None
) -> None:
    with pytest.raises(sign_in.StaffSignInRefused, match=role) as refused:
        sign_in.refuse_pool_staff([role, "customer"], provider, sign_in.REFUSE)
    assert refused.value.status == 403
    assert "directory" in refused.value.message


def test_directory_staff_agencies_and_customers_are_never_refused() -> None:
    sign_in.refuse_pool_staff(["ops", "sales"], "Directory", sign_in.REFUSE)
    sign_in.refuse_pool_staff(["agency"], None, sign_in.REFUSE)
    sign_in.refuse_pool_staff(["customer"], "Google", sign_in.REFUSE)
    sign_in.refuse_pool_staff([], None, sign_in.REFUSE)


def test_a_stage_that_allows_pool_staff_lets_them_in_and_an_unknown_setting_refuses() -> None:
    sign_in.refuse_pool_staff(["ops"], None, sign_in.ALLOW)
    with pytest.raises(ValueError, match="STAFF_POOL_USERS"):
        sign_in.refuse_pool_staff(["customer"], None, "sometimes")


def _pool_user_event(groups: list[str]) -> dict[str, object]:
    event = json.loads((EVENTS / "pre-token-generation-saml.json").read_text())
    attributes = event["request"]["userAttributes"]
    del attributes["identities"], attributes["custom:directory_groups"]
    event["userName"] = "hanako.suzuki"
    event["request"]["groupConfiguration"]["groupsToOverride"] = groups
    return dict(event)


def test_the_cognito_trigger_gives_no_token_to_pool_staff_where_the_stage_refuses_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from functions.auth.pre_token import handler
    from tests.conftest import FakeContext

    monkeypatch.setenv(sign_in.STAFF_POOL_USERS_ENV, "refuse")
    with pytest.raises(sign_in.StaffSignInRefused, match="company directory"):
        handler(_pool_user_event(["ops"]), FakeContext("sign-in-groups"))
    # an agency user of the pool still signs in, and so does directory staff
    answered = handler(_pool_user_event(["agency"]), FakeContext("sign-in-groups"))
    override = answered["response"]["claimsOverrideDetails"]["groupOverrideDetails"]
    assert override == {"groupsToOverride": ["agency"]}
    saml = json.loads((EVENTS / "pre-token-generation-saml.json").read_text())
    assert handler(saml, FakeContext("sign-in-groups"))["response"]["claimsOverrideDetails"]

    monkeypatch.setenv(sign_in.STAFF_POOL_USERS_ENV, "allow")
    answered = handler(_pool_user_event(["ops"]), FakeContext("sign-in-groups"))
    override = answered["response"]["claimsOverrideDetails"]["groupOverrideDetails"]
    assert override == {"groupsToOverride": ["ops"]}
