"""The local API Gateway: HTTP request -> REST proxy event (``local.http_api.proxy_event``)."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from functions.manifest import API_ROUTES
from local import identity
from local.http_api import proxy_event

KEY = b"k" * 32


def bearer(user: str, *groups: str, key: bytes = KEY, lifetime: int = 3600) -> dict[str, str]:
    token = identity.issue(user, groups, key=key, lifetime_seconds=lifetime)
    return {"Authorization": f"Bearer {token}"}


STAFF = bearer("tanaka", "sales", "admin")


def event(
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    stage: str = "local",
) -> dict[str, Any]:
    built, refusal = proxy_event(
        method, path, dict(STAFF if headers is None else headers), body, stage, key=KEY
    )
    assert refusal is None, refusal
    assert built is not None
    return built


def refusal(method: str, path: str, headers: dict[str, str] | None = None) -> str | None:
    built, why = proxy_event(
        method, path, dict(STAFF if headers is None else headers), b"", "local", key=KEY
    )
    assert built is None
    return why


def test_the_routes_under_test_are_declared() -> None:
    declared = {(r.method, r.path): r.auth for r in API_ROUTES}
    assert declared[("GET", "/leads/{lead_id}")] == "staff"
    assert declared[("POST", "/leads")] == "public"
    assert declared[("POST", "/leads/{lead_id}/convert")] == "staff"


def test_get_lead_with_query() -> None:
    built = event("GET", "/leads/abc?a=1&a=2&b=")
    assert built["resource"] == "/leads/{lead_id}"
    assert built["path"] == "/leads/abc"
    assert built["httpMethod"] == "GET"
    assert built["pathParameters"] == {"lead_id": "abc"}
    assert built["queryStringParameters"] == {"a": "2", "b": ""}  # last value wins
    assert built["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": [""]}
    assert built["body"] is None
    assert built["isBase64Encoded"] is False
    context = built["requestContext"]
    assert context["resourcePath"] == "/leads/{lead_id}"
    assert context["httpMethod"] == "GET"
    assert context["stage"] == "local"
    assert context["path"] == "/local/leads/abc"


def test_a_literal_path_wins_over_a_path_parameter() -> None:
    """As in API Gateway: ``/accounts/export`` is its own resource, not an account id."""
    from functions.api import app

    for path, resource in (
        ("/accounts/export", "/accounts/export"),
        ("/accounts/account_1", "/accounts/{account_id}"),
        ("/contracts/export", "/contracts/export"),
        ("/contracts/expiring", "/contracts/expiring"),
    ):
        assert event("GET", path)["resource"] == resource
        found = app._route("GET", path)
        assert found is not None and found.path == resource


def test_no_query_and_no_path_parameters() -> None:
    built = event("GET", "/leads")
    assert built["resource"] == "/leads"
    assert built["queryStringParameters"] is None
    assert built["multiValueQueryStringParameters"] is None
    assert built["pathParameters"] is None


def test_nested_path_parameter() -> None:
    built = event("POST", "/leads/lead_123/convert", body=b"{}")
    assert built["resource"] == "/leads/{lead_id}/convert"
    assert built["pathParameters"] == {"lead_id": "lead_123"}
    assert built["body"] == "{}"


def test_staff_route_without_a_valid_token_is_unauthorized() -> None:
    assert refusal("GET", "/leads/abc", {}) == "unauthorized"
    assert refusal("GET", "/leads", {"Authorization": "Basic dXNlcjpwYXNz"}) == "unauthorized"
    assert refusal("GET", "/runs", {"Authorization": "Bearer not.a.token"}) == "unauthorized"
    assert refusal("GET", "/runs", bearer("sato", "ops", key=b"x" * 32)) == "unauthorized"
    assert refusal("GET", "/runs", bearer("sato", "ops", lifetime=-1)) == "unauthorized"


def test_a_tampered_token_is_unauthorized() -> None:
    token = STAFF["Authorization"].split()[1]
    header, payload, signature = token.split(".")
    claims = identity._unb64(payload).replace(b'"sales"', b'"ops"')
    forged = f"{header}.{identity._b64(claims)}.{signature}"
    assert refusal("GET", "/runs", {"Authorization": f"Bearer {forged}"}) == "unauthorized"


def test_token_claims_become_cognito_authorizer_claims() -> None:
    built = event("GET", "/leads/abc", bearer("tanaka", "sales", "ops"))
    claims = built["requestContext"]["authorizer"]["claims"]
    assert claims["cognito:username"] == "tanaka"
    assert claims["cognito:groups"] == "ops,sales"


def test_an_agency_users_token_carries_its_agency_as_cognito_would() -> None:
    from monosub.auth import principal_from_event

    token = identity.issue("a-tanaka", ["agency"], key=KEY, agency_id="agency-a")
    built = event("GET", "/deals", {"Authorization": f"Bearer {token}"})
    claims = built["requestContext"]["authorizer"]["claims"]
    assert claims["custom:agency_id"] == "agency-a"
    principal = principal_from_event(built)
    assert principal is not None and principal.agency_id == "agency-a"
    assert (
        "custom:agency_id" not in event("GET", "/deals")["requestContext"]["authorizer"]["claims"]
    )


def test_monosub_token_names_the_agency(monkeypatch, capsys) -> None:
    from local import cli

    monkeypatch.setattr(identity, "signing_key", lambda: KEY)
    assert cli.main(["token", "a-tanaka", "agency", "--agency", "agency-a"]) == 0
    claims = identity.verify(capsys.readouterr().out.strip(), key=KEY)
    assert (claims["cognito:username"], claims["cognito:groups"], claims["custom:agency_id"]) == (
        "a-tanaka",
        ["agency"],
        "agency-a",
    )
    assert cli.main(["token", "--user", "sato", "--groups", "sales,ops"]) == 0
    claims = identity.verify(capsys.readouterr().out.strip(), key=KEY)
    assert (claims["cognito:groups"], "custom:agency_id" in claims) == (["ops", "sales"], False)
    with pytest.raises(SystemExit, match="needs --agency"):
        cli.main(["token", "x", "agency"])


def test_the_authorization_header_name_is_case_insensitive() -> None:
    built = event("GET", "/runs", {"authorization": bearer("sato", "ops")["Authorization"]})
    assert built["requestContext"]["authorizer"]["claims"]["cognito:username"] == "sato"


def test_user_without_groups_has_empty_groups() -> None:
    built = event("GET", "/runs", bearer("sato"))
    assert built["requestContext"]["authorizer"]["claims"]["cognito:groups"] == ""


def test_a_public_route_with_a_bad_token_is_refused() -> None:
    assert refusal("POST", "/leads", {"Authorization": "Bearer junk"}) == "unauthorized"


def test_public_route_needs_no_identity() -> None:
    built = event("POST", "/leads", {"Content-Type": "application/json"}, b'{"a": 1}')
    assert built["resource"] == "/leads"
    assert built["requestContext"]["authorizer"] == {}
    assert built["body"] == '{"a": 1}'
    spec = event("GET", "/openapi.json", {})
    assert spec["resource"] == "/openapi.json"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nowhere"),
        ("GET", "/"),
        ("GET", ""),
        ("GET", "/leads/abc/def"),
        ("GET", "/leads/abc/convert"),  # POST only
        ("DELETE", "/leads/abc"),
        ("PUT", "/leads"),
        ("POST", "/runs"),
        ("GET", "/accounts"),
        ("GET", "/leadsx"),
        ("GET", "/v1/leads"),
    ],
)
def test_unknown_path_or_method_is_no_route(method: str, path: str) -> None:
    assert refusal(method, path) == "no_route"
    assert refusal(method, path, {}) == "no_route"  # no_route wins over unauthorized


def test_route_literal_characters_are_not_regex() -> None:
    assert refusal("GET", "/openapiXjson", {}) == "no_route"


def test_trailing_slash_is_tolerated() -> None:
    built = event("GET", "/leads/abc/?x=1")
    assert built["resource"] == "/leads/{lead_id}"
    assert built["path"] == "/leads/abc"
    assert built["pathParameters"] == {"lead_id": "abc"}
    assert built["queryStringParameters"] == {"x": "1"}
    assert event("POST", "/leads/", {})["resource"] == "/leads"


def test_utf8_body_is_text() -> None:
    body = '{"company": "株式会社テスト"}'.encode()
    built = event("POST", "/leads", {}, body)
    assert built["body"] == '{"company": "株式会社テスト"}'
    assert built["isBase64Encoded"] is False


@pytest.mark.parametrize("body", [b"\xff\xfe\x00", "株式会社".encode("cp932"), bytes(range(256))])
def test_non_utf8_body_is_base64(body: bytes) -> None:
    built = event("POST", "/leads", {}, body)
    assert built["isBase64Encoded"] is True
    assert base64.b64decode(built["body"]) == body


def test_stage_is_reflected() -> None:
    built = event("GET", "/runs/r1", stage="dev")
    assert built["requestContext"]["stage"] == "dev"
    assert built["requestContext"]["path"] == "/dev/runs/r1"
    assert built["pathParameters"] == {"run_id": "r1"}


def test_request_ids_are_unique() -> None:
    ids = {event("GET", "/runs")["requestContext"]["requestId"] for _ in range(50)}
    assert len(ids) == 50


segment = st.text(
    alphabet=st.characters(whitelist_categories=("Ll", "Lu", "Nd"), whitelist_characters="-_.~"),
    min_size=1,
    max_size=20,
)
query_pairs = st.lists(st.tuples(st.text(min_size=1, max_size=6), st.text(max_size=6)), max_size=6)


@settings(max_examples=100, deadline=None)
@given(value=segment, pairs=query_pairs)
def test_any_path_parameter_and_query(value: str, pairs: list[tuple[str, str]]) -> None:
    query = urlencode(pairs)
    path = f"/accounts/{value}" + (f"?{query}" if query else "")
    built = event("GET", path)
    assert built["resource"] == "/accounts/{account_id}"
    assert built["pathParameters"] == {"account_id": value}
    multi: dict[str, list[str]] = {}
    for key, item in pairs:
        multi.setdefault(key, []).append(item)
    assert built["multiValueQueryStringParameters"] == (multi or None)
    assert built["queryStringParameters"] == ({k: v[-1] for k, v in multi.items()} or None)
