"""The consent capability as declared: its secret, routes and the functions that use them."""

from __future__ import annotations

from functions import manifest, resources
from functions.declarations import Api, secret_env
from local import provision
from monosub.consent import secret


def test_the_signing_secret_reaches_code_under_the_name_code_reads():
    assert secret_env(secret.SIGNING_SECRET) == secret.SIGNING_SECRET_ENV
    assert resources.CONSENT_SIGNING == secret.SIGNING_SECRET
    assert secret.SIGNING_SECRET in {s.name for s in resources.SECRETS}


def test_every_function_reads_only_declared_secrets():
    declared = {s.name for s in resources.SECRETS}
    for function in manifest.FUNCTIONS:
        assert set(function.secrets) <= declared, function.name


def test_only_the_functions_that_send_links_read_the_signing_key_in_their_environment():
    # the follow-up re-derives the same link for a reminder; intake-apply sends the link of
    # an application form's contract
    names = provision.resource_names()
    readers = [f.name for f in manifest.FUNCTIONS if secret.SIGNING_SECRET in f.secrets]
    assert sorted(readers) == ["api", "consent-follow-up", "intake-apply"]
    for function in manifest.FUNCTIONS:
        environment = function.environment(names)
        if function.name in readers:
            assert environment[secret.SIGNING_SECRET_ENV] == "monosub-local-consent-signing"
        else:
            assert secret.SIGNING_SECRET_ENV not in environment


def test_the_page_is_public_and_the_evidence_is_for_staff():
    [api] = [
        f
        for f in manifest.FUNCTIONS
        if any(
            isinstance(t, Api) and set(manifest.CONSENT_ROUTES) <= set(t.routes) for t in f.triggers
        )
    ]
    assert api.name == "api"  # the consent page is the API function's, not a webhook's
    routes = {(r.method, r.path): r.auth for r in manifest.CONSENT_ROUTES}
    assert routes == {
        ("GET", "/consent/{token}"): "public",
        ("POST", "/consent/{token}"): "public",
        ("GET", "/consents"): "staff",
        ("GET", "/consents/{consent_id}"): "staff",
    }
    assert set(manifest.CONSENT_ROUTES) <= set(manifest.API_ROUTES)
    # the lists are for agencies too (their own customers'); one consent is monosub staff's
    groups = {(r.method, r.path): r.groups for r in manifest.CONSENT_ROUTES}
    assert groups[("GET", "/consents")] == manifest.STAFF
    assert manifest.auth.AGENCY not in groups[("GET", "/consents/{consent_id}")]
