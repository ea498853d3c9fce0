"""POST with an Idempotency-Key: a retried request is answered again, never done twice."""

from __future__ import annotations

LEAD = {"company": "株式会社リトライ", "person_name": "再送 太郎", "email": "retry@example.jp"}


def test_a_retried_post_gets_the_first_answer_and_creates_one_lead(api):
    headers = {"Idempotency-Key": "form-123"}
    first = api("POST", "/leads", LEAD, groups=None, headers=headers)
    again = api("POST", "/leads", LEAD, groups=None, headers=headers)
    assert first.status == again.status == 201
    assert first.json() == again.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.headers
    listed = api("GET", "/leads", groups="sales").json()["leads"]
    assert len(listed) == 1


def test_without_a_key_a_resubmission_merges(api):
    api("POST", "/leads", LEAD, groups=None)
    assert api("POST", "/leads", LEAD, groups=None).json()["status"] == "merged"


def test_the_same_key_with_another_body_is_refused(api):
    headers = {"Idempotency-Key": "form-456"}
    api("POST", "/leads", LEAD, groups=None, headers=headers)
    other = api(
        "POST", "/leads", {**LEAD, "email": "other@example.jp"}, groups=None, headers=headers
    )
    assert other.status == 422
    assert other.json()["error"] == "idempotency_key_reused"


def test_a_refusal_is_replayed_too(api):
    headers = {"Idempotency-Key": "convert-1"}
    first = api("POST", "/leads/lead_missing/convert", {}, headers=headers)
    again = api("POST", "/leads/lead_missing/convert", {}, headers=headers)
    assert first.status == again.status == 404
    assert again.headers.get("Idempotent-Replayed") == "true"


def test_keys_are_per_caller(api):
    headers = {"Idempotency-Key": "same"}
    first = api("POST", "/leads/lead_missing/convert", {}, user="a", headers=headers)
    second = api("POST", "/leads/lead_missing/convert", {}, user="b", headers=headers)
    assert first.status == second.status == 404
    assert "Idempotent-Replayed" not in second.headers
