"""The one customer record (取引先): a lead converted into account, contact and deal, its
history carried over, and later leads of the same company or person merged into it."""

from __future__ import annotations

from monosub import access, config
from monosub.store import records
from tests.conftest import set_clock

FLYCK = {
    "company": "株式会社フライク",
    "person_name": "大瀧 太郎",
    "email": "ootaki@flyck.example.jp",
    "message": "顧客管理について相談したいです",
}


def submit(api, **fields) -> str:
    response = api("POST", "/leads", {**FLYCK, **fields}, groups=None)
    assert response.status in (200, 201), response
    return str(response.json()["lead_id"])


def convert(api, lead_id, body=None, user="yamada"):
    response = api("POST", f"/leads/{lead_id}/convert", body, user=user)
    assert response.status == 200, response
    return response.json()


def customer(api, account_id):
    response = api("GET", f"/accounts/{account_id}")
    assert response.status == 200, response
    return response.json()


def test_converting_a_lead_makes_one_customer_record_with_its_history(api, aws_storage, published):
    set_clock(aws_storage, "2026-04-01T09:00:00Z")
    lead_id = submit(api)
    set_clock(aws_storage, "2026-04-03T10:00:00Z")
    submit(api, phone="092-555-0123", message="見積もりをお願いします")
    set_clock(aws_storage, "2026-04-05T15:00:00Z")

    result = convert(api, lead_id, {"deal_name": "顧客管理 50ID"}, user="yamada")
    assert result["lead_id"] == lead_id
    assert (result["account_created"], result["contact_created"]) == (True, True)

    record = customer(api, result["account_id"])
    assert record["account"] == {
        "account_id": result["account_id"],
        "name": "株式会社フライク",
        "name_key": "フライク",
        "segment": "corporate",
        "agency_id": None,
        "created_at": "2026-04-05T15:00:00Z",
        "updated_at": "2026-04-05T15:00:00Z",
    }
    [contact] = record["contacts"]
    assert contact["contact_id"] == result["contact_id"]
    assert (contact["person_name"], contact["email"], contact["phone"]) == (
        "大瀧 太郎",
        "ootaki@flyck.example.jp",
        "092-555-0123",
    )
    [deal] = record["deals"]
    assert deal["deal_id"] == result["deal_id"]
    assert (deal["name"], deal["stage"], deal["owner"]) == (
        "顧客管理 50ID",
        "prospecting",
        "yamada",
    )
    assert (deal["account_id"], deal["contact_id"], deal["lead_id"]) == (
        result["account_id"],
        result["contact_id"],
        lead_id,
    )
    assert record["lead_ids"] == [lead_id]
    # the history came along: newest first, the conversion on top
    assert [(a["kind"], a["occurred_at"], a["message"]) for a in record["activities"]] == [
        ("conversion", "2026-04-05T15:00:00Z", None),
        ("submission", "2026-04-03T10:00:00Z", "見積もりをお願いします"),
        ("submission", "2026-04-01T09:00:00Z", "顧客管理について相談したいです"),
    ]
    assert record["activities"][0]["by"] == "yamada"
    assert {a["lead_id"] for a in record["activities"]} == {lead_id}

    lead = api("GET", f"/leads/{lead_id}").json()["lead"]
    assert lead["status"] == "converted"
    assert (
        lead["converted_account_id"],
        lead["converted_contact_id"],
        lead["converted_deal_id"],
    ) == (
        result["account_id"],
        result["contact_id"],
        result["deal_id"],
    )
    assert (lead["converted_by"], lead["converted_at"]) == ("yamada", "2026-04-05T15:00:00Z")
    assert published[-1] == (
        "monosub.leads",
        "LeadConverted",
        {**result, "converted_by": "yamada"},
    )
    with config.function_environment(api.environment):
        found = records.find_deal(result["deal_id"], scope=access.EVERYTHING)
        hidden = records.find_deal(
            result["deal_id"], scope=access.Scope(segments=frozenset({"residential"}))
        )
    assert found is not None
    assert found.account_id == result["account_id"]
    assert hidden is None, "a corporate customer's deal is not found for a residential scope"


def test_without_a_deal_name_the_deal_is_named_after_the_company(api):
    result = convert(api, submit(api))
    assert customer(api, result["account_id"])["deals"][0]["name"] == "株式会社フライク: new deal"


def test_a_new_submission_after_conversion_is_a_new_lead_pointing_at_the_customer(api):
    first = submit(api)
    result = convert(api, first)
    again = submit(api, company="㈱フライク", message="追加で10ID")
    assert again != first
    duplicates = api("GET", f"/leads/{again}").json()["lead"]["possible_duplicates"]
    assert duplicates == [
        {
            "kind": "contact",
            "id": result["contact_id"],
            "matched_on": "email",
            "account_id": result["account_id"],
        },
        {
            "kind": "account",
            "id": result["account_id"],
            "matched_on": "company",
            "account_id": None,
        },
    ]


def test_a_lead_of_the_same_company_merges_into_its_account(api, aws_storage):
    set_clock(aws_storage, "2026-04-01T09:00:00Z")
    first = convert(api, submit(api))
    set_clock(aws_storage, "2026-04-08T09:00:00Z")
    colleague = submit(
        api, company="フライク K.K.", person_name="佐藤 花子", email="sato@flyck.example.jp"
    )
    second = convert(api, colleague, user="suzuki")
    assert second["account_id"] == first["account_id"]
    assert (second["account_created"], second["contact_created"]) == (False, True)

    record = customer(api, first["account_id"])
    assert record["account"]["name"] == "株式会社フライク"
    assert record["account"]["created_at"] == "2026-04-01T09:00:00Z"
    assert record["account"]["updated_at"] == "2026-04-08T09:00:00Z"
    assert sorted(c["person_name"] for c in record["contacts"]) == ["佐藤 花子", "大瀧 太郎"]
    assert sorted(d["owner"] for d in record["deals"]) == ["suzuki", "yamada"]
    assert sorted(record["lead_ids"]) == sorted([first["lead_id"], colleague])
    assert [a["kind"] for a in record["activities"]].count("conversion") == 2


def test_the_same_person_again_reuses_the_contact_and_gains_the_phone(api):
    first = convert(api, submit(api))
    later = submit(api, company="ﾌﾗｲｸ", person_name="大瀧", phone="+81 92-555-0123")
    second = convert(api, later)
    assert (second["account_id"], second["contact_id"]) == (
        first["account_id"],
        first["contact_id"],
    )
    assert (second["account_created"], second["contact_created"]) == (False, False)

    record = customer(api, first["account_id"])
    [contact] = record["contacts"]
    assert (contact["person_name"], contact["phone"], contact["phone_key"]) == (
        "大瀧 太郎",
        "+81 92-555-0123",
        "0925550123",
    )
    assert len(record["deals"]) == 2


def test_converting_into_a_chosen_account(api):
    parent = convert(api, submit(api))
    branch = submit(
        api, company="フライク東京支社", person_name="田中 一郎", phone="03-5555-0101", email=None
    )
    result = convert(api, branch, {"account_id": parent["account_id"], "deal_name": "東京 20ID"})
    assert result["account_id"] == parent["account_id"]
    assert result["account_created"] is False
    record = customer(api, parent["account_id"])
    assert {d["name"] for d in record["deals"]} == {"株式会社フライク: new deal", "東京 20ID"}
    assert len(record["contacts"]) == 2


def test_unknown_accounts_are_404(api):
    response = api("GET", "/accounts/account_doesnotexist")
    assert response.status == 404
    assert response.json() == {
        "error": "not_found",
        "message": "account account_doesnotexist does not exist",
    }
    assert api("GET", "/accounts/lead_notanaccount").status == 404


def test_the_customer_record_is_for_staff_only(api):
    account_id = convert(api, submit(api))["account_id"]
    assert api("GET", f"/accounts/{account_id}", groups=None).status == 401
    assert api("GET", f"/accounts/{account_id}", groups="customer").status == 403
    assert api("GET", f"/accounts/{account_id}", groups="ops").status == 200
