"""The API shell: authorization from the manifest, error shapes, the OpenAPI document."""

from __future__ import annotations


def test_staff_route_needs_a_signed_in_user(api):
    assert api("GET", "/runs", groups=None).status == 401


def test_customer_cannot_use_staff_routes(api):
    response = api("GET", "/runs", groups="customer")
    assert response.status == 403
    assert response.json()["error"] == "forbidden"


def test_openapi_document_is_public_and_lists_routes(api):
    response = api("GET", "/openapi.json", groups=None)
    assert response.status == 200
    paths = response.json()["paths"]
    assert "/runs" in paths
    assert "/runs/{run_id}" in paths


def test_unknown_run_is_404(api):
    response = api("GET", "/runs/run_doesnotexist", groups="ops")
    assert response.status == 404
    assert response.json() == {
        "error": "not_found",
        "message": "run run_doesnotexist does not exist",
    }


def test_a_body_that_is_not_json_is_a_field_error_on_body(api):
    response = api("POST", "/leads", "not json", groups=None)
    assert response.status == 400
    assert response.json()["details"] == [{"field": "body", "message": "JSON decode error"}]


def test_a_bad_query_parameter_names_the_parameter(api):
    response = api("GET", "/leads", groups="sales", query={"limit": "many"})
    assert response.status == 400
    assert response.json()["details"][0]["field"] == "query.limit"


def test_a_field_inside_a_list_is_named_with_its_index(api):
    from functions.api.app import _field_name

    assert _field_name(("body", "lines", 2, "quantity")) == "lines[2].quantity"
    assert _field_name(("query", "limit")) == "query.limit"
    assert _field_name(("body", 0)) == "body"
