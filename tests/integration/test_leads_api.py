"""Leads through the real API handler on the embedded AWS: the web form, duplicates,
listing, reading, converting, and the idempotent ``receive_lead`` used by the importer."""

from __future__ import annotations

import base64
import dataclasses
import json
import threading
from pathlib import Path

import pytest

from monosub import config, events, ids
from monosub.domain.leads import KeyOwners
from monosub.models.crm import LeadKeys, LeadSubmission
from monosub.services import leads
from monosub.store import records
from tests.conftest import FakeContext, set_clock

EVENTS = Path(__file__).resolve().parents[2] / "events" / "api"

FORM = {
    "company": "株式会社フライク",
    "person_name": "大瀧 太郎",
    "email": "ootaki@flyck.example.jp",
    "source": "web-form",
    "message": "顧客管理について相談したいです",
}


def submit(api, **fields):
    return api("POST", "/leads", {**FORM, **fields}, groups=None)


def lead_of(api, lead_id):
    response = api("GET", f"/leads/{lead_id}")
    assert response.status == 200, response
    return response.json()


def open_lead_ids(api):
    return [
        lead["lead_id"] for lead in api("GET", "/leads", query={"limit": "100"}).json()["leads"]
    ]


# ---- the web form --------------------------------------------------------------------------


def test_the_web_form_creates_an_open_lead(api, aws_storage, published):
    set_clock(aws_storage, "2026-04-01T09:30:00Z")
    response = submit(api, phone="092-123-4567")
    assert response.status == 201
    body = response.json()
    assert body == {"lead_id": body["lead_id"], "status": "created"}
    assert body["lead_id"].startswith("lead_")

    record = lead_of(api, body["lead_id"])
    lead = record["lead"]
    assert lead["status"] == "open"
    assert (lead["company"], lead["person_name"]) == ("株式会社フライク", "大瀧 太郎")
    assert (lead["email"], lead["phone"]) == ("ootaki@flyck.example.jp", "092-123-4567")
    assert lead["keys"] == {
        "email": "ootaki@flyck.example.jp",
        "phone": "0921234567",
        "company": "フライク",
        "person": "大瀧太郎",
        "person_phone": None,
    }
    assert lead["created_at"] == "2026-04-01T09:30:00Z"
    assert lead["possible_duplicates"] == []
    assert [(a["kind"], a["seq"], a["message"]) for a in record["activities"]] == [
        ("submission", 1, "顧客管理について相談したいです")
    ]
    assert published == [
        (
            "monosub.leads",
            "LeadReceived",
            {"lead_id": body["lead_id"], "source": "web-form", "possible_duplicates": []},
        )
    ]


def test_a_bad_form_is_refused_field_by_field_and_nothing_is_stored(api, published):
    response = api(
        "POST",
        "/leads",
        {"company": "", "email": "not-an-address", "message": "x" * 2001},
        groups=None,
    )
    assert response.status == 400
    body = response.json()
    assert body["error"] == "validation_failed"
    fields = {d["field"] for d in body["details"]}
    assert fields == {"company", "person_name", "email", "message"}

    response = api("POST", "/leads", {"company": "Acme", "person_name": "Ann"}, groups=None)
    assert response.status == 400
    assert {d["field"]: d["message"] for d in response.json()["details"]} == {
        "email": "give an email or a phone number",
        "phone": "give an email or a phone number",
    }
    assert api("POST", "/leads", "{not json", groups=None).status == 400
    assert open_lead_ids(api) == []
    assert published == []


def test_the_same_form_sent_twice_is_one_lead(api, published):
    first = submit(api)
    second = submit(api)
    assert (first.status, second.status) == (201, 200)
    assert second.json() == {"lead_id": first.json()["lead_id"], "status": "merged"}
    assert open_lead_ids(api) == [first.json()["lead_id"]]
    record = lead_of(api, first.json()["lead_id"])
    assert record["lead"]["submission_count"] == 2
    assert [a["seq"] for a in record["activities"]] == [2, 1]  # newest first
    assert [p[1] for p in published] == ["LeadReceived", "LeadMerged"]
    assert published[1][2] == {"lead_id": first.json()["lead_id"], "source": "web-form"}


def test_a_differently_typed_email_merges(api):
    lead_id = submit(api).json()["lead_id"]
    response = submit(
        api,
        company="フライク",
        person_name="大瀧",
        email="ＯＯＴＡＫＩ＠ＦＬＹＣＫ．ＥＸＡＭＰＬＥ．ＪＰ",
        message="二度目の問い合わせ",
    )
    assert response.status == 200
    assert response.json() == {"lead_id": lead_id, "status": "merged"}
    latest = lead_of(api, lead_id)["activities"][0]
    assert (latest["email"], latest["message"]) == ("OOTAKI@flyck.example.jp", "二度目の問い合わせ")


def test_a_full_width_phone_merges_with_the_plus_81_form(api):
    lead_id = submit(api, email=None, phone="+81 90-1234-5678").json()["lead_id"]
    response = submit(api, email=None, phone="０９０ー１２３４ー５６７８")
    assert response.json() == {"lead_id": lead_id, "status": "merged"}
    assert open_lead_ids(api) == [lead_id]


def test_a_merge_gives_the_lead_the_phone_it_lacked(api):
    lead_id = submit(api).json()["lead_id"]
    submit(api, phone="092-123-4567")
    lead = lead_of(api, lead_id)["lead"]
    assert (lead["phone"], lead["keys"]["phone"]) == ("092-123-4567", "0921234567")
    # now a phone-only submission finds the same lead
    response = submit(api, email=None, phone="092 123 4567")
    assert response.json() == {"lead_id": lead_id, "status": "merged"}


def test_same_company_other_person_is_a_new_lead_with_possible_duplicates(api, published):
    first = submit(api).json()["lead_id"]
    response = submit(
        api, company="フライク K.K.", person_name="佐藤 花子", email="sato@flyck.example.jp"
    )
    assert response.status == 201
    assert set(response.json()) == {"lead_id", "status"}  # the public answer names no others
    second = response.json()["lead_id"]
    assert second != first
    assert lead_of(api, second)["lead"]["possible_duplicates"] == [
        {"kind": "lead", "id": first, "matched_on": "company", "account_id": None}
    ]
    assert published[-1][2]["possible_duplicates"] == [
        {"kind": "lead", "id": first, "matched_on": "company", "account_id": None}
    ]
    assert sorted(open_lead_ids(api)) == sorted([first, second])


# ---- a company's switchboard number (代表番号) ----------------------------------------------

SWITCHBOARD = "03-1234-5678"
COLLEAGUE = {"person_name": "佐藤 花子", "email": "sato@flyck.example.jp", "phone": SWITCHBOARD}


def test_two_colleagues_with_the_switchboard_number_are_two_leads(api, published):
    first = submit(api, phone=SWITCHBOARD)
    second = submit(api, **COLLEAGUE)
    assert (first.status, second.status) == (201, 201)
    owner, colleague = first.json()["lead_id"], second.json()["lead_id"]
    assert owner != colleague
    assert sorted(open_lead_ids(api)) == sorted([owner, colleague])

    lead = lead_of(api, colleague)["lead"]
    assert lead["possible_duplicates"] == [
        {"kind": "lead", "id": owner, "matched_on": "phone", "account_id": None}
    ]
    assert published[-1][2]["possible_duplicates"] == lead["possible_duplicates"]
    assert lead["phone"] == SWITCHBOARD  # kept for display
    assert (lead["keys"]["phone"], lead["keys"]["person_phone"]) == (None, "0312345678")
    assert lead_of(api, owner)["lead"]["submission_count"] == 1


def test_the_same_person_resubmitting_with_only_the_phone_merges(api):
    owner = submit(api, phone=SWITCHBOARD).json()["lead_id"]
    colleague = submit(api, **COLLEAGUE).json()["lead_id"]

    again = submit(api, person_name="大瀧　太郎", email=None, phone="０３ー１２３４ー５６７８")
    assert (again.status, again.json()) == (200, {"lead_id": owner, "status": "merged"})
    again = submit(api, person_name="佐藤花子", email=None, phone=SWITCHBOARD)
    assert (again.status, again.json()) == (200, {"lead_id": colleague, "status": "merged"})
    assert sorted(open_lead_ids(api)) == sorted([owner, colleague])
    assert lead_of(api, colleague)["lead"]["submission_count"] == 2


def test_the_same_name_with_another_email_at_the_switchboard_is_a_new_lead(api):
    owner = submit(api, phone=SWITCHBOARD).json()["lead_id"]
    response = submit(api, email="t.ootaki@other.example.jp", phone=SWITCHBOARD)
    assert response.status == 201
    assert response.json()["lead_id"] != owner
    duplicates = lead_of(api, response.json()["lead_id"])["lead"]["possible_duplicates"]
    assert duplicates[0] == {"kind": "lead", "id": owner, "matched_on": "phone", "account_id": None}


def test_converting_both_colleagues_into_one_account_makes_two_contacts(api):
    owner = submit(api, phone=SWITCHBOARD).json()["lead_id"]
    colleague = submit(api, **COLLEAGUE).json()["lead_id"]
    first = api("POST", f"/leads/{owner}/convert", user="yamada").json()
    second = api("POST", f"/leads/{colleague}/convert", user="suzuki")
    assert second.status == 200, second
    second = second.json()
    assert second["account_id"] == first["account_id"]
    assert (second["account_created"], second["contact_created"]) == (False, True)
    assert second["contact_id"] != first["contact_id"]

    record = api("GET", f"/accounts/{first['account_id']}").json()
    people = {c["person_name"]: (c["phone"], c["phone_key"]) for c in record["contacts"]}
    assert people == {
        "大瀧 太郎": (SWITCHBOARD, "0312345678"),
        "佐藤 花子": (SWITCHBOARD, None),  # one contact per phone in an account: the first
    }
    assert {d["contact_id"] for d in record["deals"]} == {first["contact_id"], second["contact_id"]}


def test_the_colleague_converting_first_leaves_the_owner_its_phone(api):
    owner = submit(api, phone=SWITCHBOARD).json()["lead_id"]
    colleague = submit(api, **COLLEAGUE).json()["lead_id"]
    assert api("POST", f"/leads/{colleague}/convert").status == 200
    # the colleague's hold on the phone is gone with its lead; the owner still has the phone
    assert submit(api, person_name="大瀧太郎", email=None, phone=SWITCHBOARD).json() == {
        "lead_id": owner,
        "status": "merged",
    }
    again = submit(api, person_name="佐藤 花子", email=None, phone=SWITCHBOARD)
    assert again.status == 201
    assert lead_of(api, again.json()["lead_id"])["lead"]["keys"]["person_phone"] == "0312345678"
    assert api("POST", f"/leads/{owner}/convert").status == 200


def test_a_colleague_arriving_after_the_owner_converted_is_another_contact(api):
    owner = submit(api, phone=SWITCHBOARD).json()["lead_id"]
    first = api("POST", f"/leads/{owner}/convert").json()
    colleague = submit(api, **COLLEAGUE).json()["lead_id"]
    duplicates = lead_of(api, colleague)["lead"]["possible_duplicates"]
    assert [(d["kind"], d["id"], d["matched_on"]) for d in duplicates] == [
        ("contact", first["contact_id"], "phone"),
        ("account", first["account_id"], "company"),
    ]
    second = api("POST", f"/leads/{colleague}/convert").json()
    assert second["account_id"] == first["account_id"]
    assert (second["contact_created"], second["contact_id"] != first["contact_id"]) == (True, True)
    record = api("GET", f"/accounts/{first['account_id']}").json()
    assert sorted(c["person_name"] for c in record["contacts"]) == ["佐藤 花子", "大瀧 太郎"]


def test_after_the_owner_converts_the_colleague_still_gets_its_submissions(api):
    owner = submit(api, phone=SWITCHBOARD).json()["lead_id"]
    colleague = submit(api, **COLLEAGUE).json()["lead_id"]
    assert api("POST", f"/leads/{owner}/convert").status == 200
    again = submit(api, person_name="佐藤 花子", email=None, phone=SWITCHBOARD)
    assert again.json() == {"lead_id": colleague, "status": "merged"}
    # the phone is free again: a third person at the number takes it
    third = submit(api, person_name="田中 一郎", email=None, phone=SWITCHBOARD)
    assert third.status == 201
    assert lead_of(api, third.json()["lead_id"])["lead"]["keys"]["phone"] == "0312345678"
    assert api("POST", f"/leads/{colleague}/convert").status == 200


# ---- listing and reading -------------------------------------------------------------------


def test_leads_are_listed_newest_first_page_by_page(api, aws_storage):
    created = []
    for minute in range(5):
        set_clock(aws_storage, f"2026-04-01T09:0{minute}:00Z")
        created.append(submit(api, email=f"person{minute}@example.com").json()["lead_id"])

    seen, token, pages = [], None, 0
    while True:
        query = {"limit": "2"} | ({"next": token} if token else {})
        body = api("GET", "/leads", query=query).json()
        pages += 1
        assert len(body["leads"]) <= 2
        seen += [lead["lead_id"] for lead in body["leads"]]
        token = body["next"]
        if token is None:
            break
    assert pages == 3
    assert seen == list(reversed(created))


def test_listing_by_status_and_refusing_bad_queries(api):
    lead_id = submit(api).json()["lead_id"]
    api("POST", f"/leads/{lead_id}/convert")
    assert open_lead_ids(api) == []
    converted = api("GET", "/leads", query={"status": "converted"}).json()
    assert [lead["lead_id"] for lead in converted["leads"]] == [lead_id]
    assert converted["next"] is None

    assert api("GET", "/leads", query={"status": "lost"}).status == 400
    assert api("GET", "/leads", query={"limit": "0"}).status == 400
    forged = base64.urlsafe_b64encode(b"LEAD#x").decode()
    response = api("GET", "/leads", query={"next": forged})
    assert response.status == 400
    assert response.json()["details"] == [
        {"field": "next", "message": "pass the next token of the previous page"}
    ]


def test_unknown_leads_are_404(api):
    assert api("GET", "/leads/lead_doesnotexist").status == 404
    assert api("GET", "/leads/not-a-lead-id").status == 404
    response = api("POST", "/leads/lead_doesnotexist/convert")
    assert response.status == 404
    assert response.json()["message"] == "lead lead_doesnotexist does not exist"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/leads"),
        ("GET", "/leads/lead_x"),
        ("POST", "/leads/lead_x/convert"),
    ],
)
def test_lead_staff_routes_refuse_anonymous_and_customers(api, method, path):
    assert api(method, path, groups=None).status == 401
    assert api(method, path, groups="customer").status == 403


def test_the_form_is_public_but_still_works_for_staff(api):
    assert submit(api).status == 201
    assert api("POST", "/leads", {**FORM, "email": "x@example.com"}, groups="sales").status == 201


# ---- converting (the customer record itself is tested in test_accounts_api) ---------------


def test_converting_twice_is_409_and_copies_nothing_twice(api, published):
    lead_id = submit(api).json()["lead_id"]
    first = api("POST", f"/leads/{lead_id}/convert", {"deal_name": "50台導入"}, user="sato")
    assert first.status == 200
    second = api("POST", f"/leads/{lead_id}/convert", {"deal_name": "again"}, user="sato")
    assert second.status == 409
    assert second.json()["details"]["deal_id"] == first.json()["deal_id"]

    record = api("GET", f"/accounts/{first.json()['account_id']}").json()
    assert [d["name"] for d in record["deals"]] == ["50台導入"]
    assert [a["kind"] for a in record["activities"]] == ["conversion", "submission"]
    assert [p[1] for p in published].count("LeadConverted") == 1


def test_convert_refuses_unknown_fields_and_unknown_accounts(api):
    lead_id = submit(api).json()["lead_id"]
    response = api("POST", f"/leads/{lead_id}/convert", {"acount_id": "typo"})
    assert response.status == 400
    assert response.json()["details"][0]["field"] == "acount_id"
    response = api("POST", f"/leads/{lead_id}/convert", {"account_id": "account_nothere"})
    assert response.status == 404
    assert response.json()["message"] == "account account_nothere does not exist"
    assert lead_of(api, lead_id)["lead"]["status"] == "open"


# ---- races ---------------------------------------------------------------------------------


def test_a_submission_that_read_before_a_concurrent_create_merges(api, monkeypatch):
    """Two identical forms at once: both read "no lead"; the second write finds the email
    key taken (same transaction as the lead), reads again and merges."""
    lead_id = submit(api).json()["lead_id"]
    real_key_owners = records.key_owners
    stale = iter([KeyOwners()])  # the first read misses the lead that was just created
    monkeypatch.setattr(
        records, "key_owners", lambda keys: next(stale, None) or real_key_owners(keys)
    )
    response = submit(api)
    assert response.json() == {"lead_id": lead_id, "status": "merged"}
    assert open_lead_ids(api) == [lead_id]


def test_a_colleague_submission_that_read_before_a_concurrent_create_merges(api, monkeypatch):
    """The same colleague's phone-only form twice at once: both read the switchboard owned by
    someone else and no lead held for this name; the second write finds the name's hold on
    the phone taken, reads again and merges."""
    submit(api, phone=SWITCHBOARD)
    form = {"person_name": "佐藤 花子", "email": None, "phone": SWITCHBOARD}
    colleague = submit(api, **form).json()["lead_id"]
    real_key_owners = records.key_owners
    reads = []

    def first_read_misses_the_hold(keys):
        owners = real_key_owners(keys)
        reads.append(owners)
        return dataclasses.replace(owners, phone_person_leads=()) if len(reads) == 1 else owners

    monkeypatch.setattr(records, "key_owners", first_read_misses_the_hold)
    response = submit(api, **form)
    assert response.json() == {"lead_id": colleague, "status": "merged"}
    assert len(reads) == 2  # the create was refused and the submission read again
    assert len(open_lead_ids(api)) == 2


def test_a_phone_owner_converted_since_the_index_was_read_is_read_again(api, monkeypatch):
    owner = submit(api, phone=SWITCHBOARD).json()["lead_id"]
    with config.function_environment(api.environment):
        stale = records.key_owners(LeadKeys(phone="0312345678"))
    assert api("POST", f"/leads/{owner}/convert").status == 200
    real_key_owners = records.key_owners
    reads = iter([stale])
    monkeypatch.setattr(
        records, "key_owners", lambda keys: next(reads, None) or real_key_owners(keys)
    )
    response = submit(api, **COLLEAGUE)
    assert response.status == 201
    lead = lead_of(api, response.json()["lead_id"])["lead"]
    assert (lead["keys"]["phone"], lead["keys"]["person_phone"]) == ("0312345678", None)
    # the converted owner is no lead to merge with any more, only its customer record is named
    assert [(d["kind"], d["matched_on"]) for d in lead["possible_duplicates"]] == [
        ("contact", "phone"),
        ("account", "company"),
    ]


@pytest.mark.parametrize(
    "form",
    [{}, {"person_name": "佐藤 花子", "email": None, "phone": SWITCHBOARD}],
    ids=["email", "colleague-at-the-switchboard"],
)
def test_concurrent_identical_forms_make_one_lead(api, monkeypatch, form):
    # moto's DynamoDB is not thread-safe: serialize its requests, as the embedded runtime does
    from moto.dynamodb.responses import DynamoHandler

    lock = threading.RLock()
    call_action = DynamoHandler.call_action

    def serialized(self, *args, **kwargs):
        with lock:
            return call_action(self, *args, **kwargs)

    monkeypatch.setattr(DynamoHandler, "call_action", serialized)
    owner = submit(api, phone=SWITCHBOARD).json()["lead_id"] if form else None
    statuses: list[tuple[int, str]] = []

    def send():
        response = submit(api, **form)
        statuses.append((response.status, response.json().get("lead_id")))

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(s for s, _ in statuses) == [200, 200, 200, 200, 200, 201]
    assert len({lead_id for _, lead_id in statuses}) == 1
    assert statuses[0][1] != owner
    assert sorted(open_lead_ids(api)) == sorted(x for x in (statuses[0][1], owner) if x)
    assert lead_of(api, statuses[0][1])["lead"]["submission_count"] == 6


def test_a_conversion_that_read_before_a_concurrent_one_gets_409(api, monkeypatch):
    lead_id = submit(api).json()["lead_id"]
    with config.function_environment(api.environment):
        snapshot = records.get_lead(lead_id)
    assert api("POST", f"/leads/{lead_id}/convert").status == 200

    real_get_lead = records.get_lead
    stale = iter([snapshot])  # the second conversion read the lead while it was still open
    monkeypatch.setattr(records, "get_lead", lambda i: next(stale, None) or real_get_lead(i))
    response = api("POST", f"/leads/{lead_id}/convert")
    assert response.status == 409
    account_id = lead_of(api, lead_id)["lead"]["converted_account_id"]
    assert len(api("GET", f"/accounts/{account_id}").json()["deals"]) == 1


# ---- receive_lead for the importer ---------------------------------------------------------


def test_receive_lead_with_a_lead_id_creates_once(api):
    row = LeadSubmission(
        company="Acme Co., Ltd.", person_name="Ann Lee", phone="03-1234-5678", source="csv-import"
    )
    lead_id = ids.derived_id("lead", "run_1#2")
    recorder = events.RecordingPublisher()
    with config.function_environment(api.environment):
        first = leads.receive_lead(
            row, lead_id=lead_id, source_ref="leads.csv#line=2", publisher=recorder
        )
        again = leads.receive_lead(
            row, lead_id=lead_id, source_ref="leads.csv#line=2", publisher=recorder
        )
    assert first.status == "created"
    assert first.lead_id == lead_id
    assert again == first
    record = lead_of(api, lead_id)
    assert record["lead"]["submission_count"] == 1
    assert [(a["seq"], a["source_ref"]) for a in record["activities"]] == [(1, "leads.csv#line=2")]
    assert [p[1] for p in recorder.published] == ["LeadReceived"]


def test_receive_lead_with_a_lead_id_merges_once(api):
    existing = submit(api).json()["lead_id"]
    row = LeadSubmission(
        company="フライク", person_name="大瀧", email="ootaki@flyck.example.jp", source="event"
    )
    lead_id = ids.derived_id("lead", "run_1#3")
    recorder = events.RecordingPublisher()
    with config.function_environment(api.environment):
        first = leads.receive_lead(row, lead_id=lead_id, publisher=recorder)
        again = leads.receive_lead(row, lead_id=lead_id, publisher=recorder)
        with pytest.raises(ValueError, match="lead_id must look like"):
            leads.receive_lead(row, lead_id="LEAD#1", publisher=recorder)
    assert first.model_dump() == {
        "lead_id": existing,
        "status": "merged",
        "possible_duplicates": [],
    }
    assert again == first
    assert lead_of(api, existing)["lead"]["submission_count"] == 2
    assert api("GET", f"/leads/{lead_id}").status == 404
    assert [p[1] for p in recorder.published] == ["LeadMerged"]


# ---- the sample events ---------------------------------------------------------------------


def _run_sample(api, name, **replacements):
    text = (EVENTS / name).read_text(encoding="utf-8")
    for old, new in replacements.items():
        text = text.replace(old, new)
    from functions.api import app

    with config.function_environment(api.environment):
        raw = app.handler(json.loads(text), FakeContext("api"))
    return raw["statusCode"], json.loads(raw["body"])


def test_the_sample_events_are_real_requests(api):
    status, body = _run_sample(api, "post-lead.json")
    assert (status, body["status"]) == (201, "created")
    status, body = _run_sample(api, "convert-lead.json", lead_3f9k2m7q8r4t6v1w=body["lead_id"])
    assert status == 200
    deal = api("GET", f"/accounts/{body['account_id']}").json()["deals"][0]
    assert (deal["owner"], deal["name"]) == ("yamada.sales", "フライク 顧客管理 50ID")
