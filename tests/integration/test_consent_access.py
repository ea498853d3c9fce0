"""Who may read a consent (``GET /consents/{consent_id}``), through the real API handler: the
caller's scope applied to the record the consent is about. A consent about a customer the
caller may not see is 404, word for word as one that does not exist."""

from __future__ import annotations

from typing import Any

import pytest

from monosub import access, clock, config
from monosub.auth import Principal
from monosub.consent import service
from monosub.consent.models import Consent
from monosub.errors import NotFound
from monosub.services import consents
from monosub.store import consents as consent_store
from monosub.store import quotes as quote_store
from tests.conftest import set_clock
from tests.integration.test_access_api import HOME, customer
from tests.integration.test_agency_api import (
    AGENCY_A,
    CORPORATE,
    OPS,
    REGIONAL,
    SALES,
    register,
    set_up_agency,
)
from tests.priced_quotes import priced_quote
from tests.unit.test_consent_document import document

NOW = "2026-11-02T01:00:00Z"
REGIONAL_AND_AGENCY_A = {
    "groups": "regional-manager,agency",
    "user": "a-kita",
    "agency_id": "agency-a",
}


@pytest.fixture
def env(api: Any, aws_storage: Any, published: Any) -> dict[str, str]:
    set_clock(aws_storage, NOW)
    environment: dict[str, str] = api.environment
    return environment


def in_api(env: dict[str, str], function: Any, *args: Any, **kwargs: Any) -> Any:
    with config.function_environment(env):
        clock.begin_invocation()
        return function(*args, **kwargs)


def ask(env: dict[str, str], subject_kind: str, subject_id: str, **references: str) -> str:
    """Request consent as a feature does; the consent's id."""
    request = in_api(
        env,
        service.request_consent,
        subject_kind,
        subject_id,
        1,
        "hanako@example.jp",
        "山田 花子",
        document(),
        service.DEFAULT_EXPIRY,
        "sato",
        link_base="https://consent.example.jp",
        references=references,
    )
    return str(request.consent_id)


def quote_consent(env: dict[str, str], **quote_fields: Any) -> str:
    """A quote of a customer (segment, agency) stored, and consent asked for it."""
    quote = priced_quote(**quote_fields)
    in_api(env, quote_store.create, quote)
    return ask(env, "quote", quote.quote_id, deal_id=quote.deal_id, account_id=quote.account_id)


@pytest.fixture
def asked(env: dict[str, str]) -> dict[str, str]:
    return {
        "residential": quote_consent(env, segment="residential"),
        "corporate": quote_consent(env, segment="corporate"),
        "agency-a": quote_consent(env, segment="corporate", agency_id="agency-a"),
        "agency-b": quote_consent(env, segment="corporate", agency_id="agency-b"),
    }


def read(api: Any, consent_id: str, who: dict[str, str]) -> Any:
    return api("GET", f"/consents/{consent_id}", **who)


def test_a_corporate_manager_never_reads_a_residential_customers_consent(api, asked):
    hidden = asked["residential"]
    refused = read(api, hidden, CORPORATE)
    unknown_id = "cns_" + "a" * 26
    unknown = read(api, unknown_id, CORPORATE)
    assert (refused.status, unknown.status) == (404, 404)
    assert refused.json() == {
        "error": "not_found",
        "message": f"consent {hidden} does not exist",
    }
    assert unknown.json()["message"] == f"consent {unknown_id} does not exist"
    assert "山田" not in refused.text and "hanako" not in refused.text
    # the other way round too, and each manager reads its own segment's
    assert read(api, asked["corporate"], REGIONAL).status == 404
    assert read(api, asked["corporate"], CORPORATE).json()["consent_id"] == asked["corporate"]
    assert read(api, hidden, REGIONAL).json()["consent_id"] == hidden


def test_ops_and_sales_read_every_consent(api, asked):
    for who in (OPS, SALES):
        for consent_id in asked.values():
            assert read(api, consent_id, who).status == 200, (who, consent_id)


def test_an_agency_never_reads_another_agencys_consent(api, asked, env):
    # A user who is both a regional manager and agency A's: residential customers and
    # agency A's records, never agency B's (nor a direct corporate customer's).
    mixed = REGIONAL_AND_AGENCY_A
    assert read(api, asked["agency-a"], mixed).status == 200
    assert read(api, asked["residential"], mixed).status == 200
    refused = read(api, asked["agency-b"], mixed)
    assert refused.status == 404
    assert refused.json()["message"] == f"consent {asked['agency-b']} does not exist"
    assert read(api, asked["corporate"], mixed).status == 404
    # An agency user alone is refused at the route (consents are for monosub's staff) ...
    for consent_id in (asked["agency-a"], asked["agency-b"]):
        refused = read(api, consent_id, AGENCY_A)
        assert refused.status == 403
        assert refused.json()["message"].startswith("GET /consents/{consent_id} is for ")
    # ... and in the data layer, its scope sees its own agency's consents only.
    scope_a = access.scope_for(Principal("a-tanaka", frozenset({"agency"}), "agency-a"))
    view = in_api(env, consents.staff_view, asked["agency-a"], scope=scope_a)
    assert view["consent_id"] == asked["agency-a"]
    for other in ("agency-b", "corporate", "residential"):
        with pytest.raises(NotFound, match=f"consent {asked[other]} does not exist"):
            in_api(env, consents.staff_view, asked[other], scope=scope_a)


def test_a_consent_about_something_else_goes_with_the_deal_it_references(api, env):
    set_up_agency(api, "agency-a")
    set_up_agency(api, "agency-b")
    home = customer(api, HOME, "residential")
    mine = register(api, AGENCY_A, name="エー顧客", email="a@example.jp")
    about_home = ask(env, "survey", "survey_1", deal_id=home["deal_id"])
    about_a = ask(env, "survey", "survey_2", deal_id=mine["deal_id"])
    account_only = ask(env, "survey", "survey_3", account_id=home["account_id"])
    about_nothing = ask(env, "survey", "survey_4")
    assert read(api, about_home, CORPORATE).status == 404
    assert read(api, about_home, REGIONAL).status == 200
    assert read(api, account_only, CORPORATE).status == 404
    assert read(api, account_only, REGIONAL).status == 200
    scope_b = access.scope_for(Principal("b", frozenset({"agency"}), "agency-b"))
    scope_a = access.scope_for(Principal("a", frozenset({"agency"}), "agency-a"))
    stored = in_api(env, consent_store.get, about_a)
    assert isinstance(stored, Consent)
    assert in_api(env, consents.sees, scope_a, stored)
    assert not in_api(env, consents.sees, scope_b, stored)
    # a consent whose record cannot be found: only those who see everything
    assert read(api, about_nothing, OPS).status == 200
    for who in (CORPORATE, REGIONAL, REGIONAL_AND_AGENCY_A):
        assert read(api, about_nothing, who).status == 404, who
