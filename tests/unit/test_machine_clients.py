"""Partner systems (the web shop) call with an access token of the client-credentials flow:
a client id and scopes, no user and no groups. Only routes that name a scope take them."""

from __future__ import annotations

import time
from typing import Any

import pytest

from local import identity
from monosub import auth
from monosub.errors import Forbidden, Unauthorized

KEY = b"k" * 32


def event_with(claims: dict[str, str] | None) -> dict[str, Any]:
    return {"requestContext": {"authorizer": {"claims": claims} if claims else {}}}


def machine_claims(*scopes: str) -> dict[str, str]:
    token = identity.issue_machine("shop-client", scopes, key=KEY)
    return identity.authorizer_claims(identity.verify(token, key=KEY))


def test_an_access_token_names_its_client_and_scopes_and_no_user() -> None:
    claims = machine_claims(auth.ORDERS_WRITE)
    assert claims["token_use"] == "access" and "cognito:groups" not in claims
    client = auth.machine_client_from_event(event_with(claims))
    assert client == auth.MachineClient("shop-client", frozenset({auth.ORDERS_WRITE}))
    assert auth.require_scopes(event_with(claims), [auth.ORDERS_WRITE], "POST /orders") == client


def test_a_missing_scope_is_refused_naming_it() -> None:
    with pytest.raises(Forbidden, match=auth.ORDERS_WRITE):
        auth.require_scopes(event_with(machine_claims()), [auth.ORDERS_WRITE], "POST /orders")


def test_a_persons_sign_in_is_not_a_partner_system() -> None:
    person = identity.authorizer_claims(
        identity.verify(identity.issue("tanaka", ["ops"], key=KEY), key=KEY)
    )
    assert auth.machine_client_from_event(event_with(person)) is None
    with pytest.raises(Forbidden, match="partner systems"):
        auth.require_scopes(event_with(person), [auth.ORDERS_WRITE], "POST /orders")
    with pytest.raises(Unauthorized):
        auth.require_scopes(event_with(None), [auth.ORDERS_WRITE], "POST /orders")


def test_a_machine_client_is_no_staff_member() -> None:
    principal = auth.principal_from_event(event_with(machine_claims(auth.ORDERS_WRITE)))
    assert principal is not None and principal.groups == frozenset()
    with pytest.raises(Forbidden):
        auth.require_staff(principal)


def test_an_expired_or_forged_access_token_is_refused() -> None:
    old = identity.issue_machine("c", [auth.ORDERS_WRITE], key=KEY, now=time.time() - 7200)
    with pytest.raises(identity.InvalidToken, match="expired"):
        identity.verify(old, key=KEY)
    forged = identity.issue_machine("c", [auth.ORDERS_WRITE], key=b"x" * 32)
    with pytest.raises(identity.InvalidToken, match="signature"):
        identity.verify(forged, key=KEY)
