"""Deals (商談) through the real API handler on the embedded AWS: the order a deal holds,
edits with optimistic concurrency, the pipeline, listing, the account's history, events."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from monosub import access, config
from monosub.errors import Conflict
from monosub.models.deals import Deal, DealChanges
from monosub.names import RECORDS
from monosub.services import deals as service
from monosub.store import deals as store
from monosub.store.dynamo import Table, TransactionConflict
from tests.conftest import FakeContext, set_clock

EVENTS = Path(__file__).resolve().parents[2] / "events" / "api"

LEAD = {
    "company": "株式会社フライク",
    "person_name": "大瀧 太郎",
    "email": "ootaki@flyck.example.jp",
}
SHIP_TO = {
    "postal_code": "〒１５０－０００２",
    "prefecture": "東京",
    "city": "渋谷区",
    "address_line1": "渋谷2-24-12",
    "address_line2": "渋谷ビル 30F",
    "company_name": "株式会社フライク 総務部",
    "recipient_name": "大瀧 太郎",
    "recipient_phone": "03-1234-5678",
}
CAMERA_LINE = {
    "device_sku": "CAM-ONE",
    "plan_sku": "PLAN-30D",
    "option_skus": ["OPT-MIC", "OPT-MOUNT"],
    "quantity": 5,
}
PLAN_ONLY_LINE = {"plan_sku": "PLAN-7D", "quantity": 2}


def customer(api, company="株式会社フライク", email="ootaki@flyck.example.jp"):
    """A converted lead: (account_id, contact_id, deal_id of the conversion's empty deal)."""
    submitted = api("POST", "/leads", {**LEAD, "company": company, "email": email}, groups=None)
    assert submitted.status == 201, submitted
    converted = api("POST", f"/leads/{submitted.json()['lead_id']}/convert", user="yamada")
    assert converted.status == 200, converted
    body = converted.json()
    return body["account_id"], body["contact_id"], body["deal_id"]


def create(api, account_id, contact_id, user="suzuki", **fields):
    response = api(
        "POST",
        f"/accounts/{account_id}/deals",
        {"name": "渋谷店 カメラ5台", "contact_id": contact_id, **fields},
        user=user,
    )
    assert response.status == 201, response
    return response.json()


def read(api, deal_id):
    response = api("GET", f"/deals/{deal_id}")
    assert response.status == 200, response
    return response.json()


def patch(api, deal_id, body, status=200, user="suzuki"):
    response = api("PATCH", f"/deals/{deal_id}", body, user=user)
    assert response.status == status, response
    return response.json()


def move(api, deal_id, to, version, *, status=200, reason=None, user="suzuki"):
    body = {"to": to, "version": version} | ({"reason": reason} if reason is not None else {})
    response = api("POST", f"/deals/{deal_id}/stage", body, user=user)
    assert response.status == status, response
    return response.json()


def fields_of(response):
    return {d["field"]: d["message"] for d in response.json()["details"]}


def ready_to_win(api, account_id, contact_id):
    """A deal whose order is complete, in negotiation."""
    deal = create(
        api,
        account_id,
        contact_id,
        lines=[CAMERA_LINE],
        ship_to=SHIP_TO,
        payment_method="direct-debit",
    )
    for to in ("qualification", "proposal", "negotiation"):
        deal = move(api, deal["deal_id"], to, deal["version"])
    return deal


# ---- create and read -----------------------------------------------------------------------


def test_a_deal_holds_the_order(api, aws_storage, published):
    set_clock(aws_storage, "2026-04-01T00:30:00Z")
    account_id, contact_id, _ = customer(api)
    published.clear()
    deal = create(
        api,
        account_id,
        contact_id,
        lines=[CAMERA_LINE, PLAN_ONLY_LINE],
        requested_delivery_date="2026-04-20",
        ship_to=SHIP_TO,
        installation_needed=True,
        payment_method="direct-debit",
        agency_id="agency-042",
    )
    assert deal["deal_id"].startswith("deal_")
    assert (deal["account_id"], deal["contact_id"], deal["name"]) == (
        account_id,
        contact_id,
        "渋谷店 カメラ5台",
    )
    assert (deal["stage"], deal["version"], deal["owner"]) == ("prospecting", 1, "suzuki")
    assert [
        (x["device_sku"], x["plan_sku"], x["option_skus"], x["quantity"]) for x in deal["lines"]
    ] == [
        ("CAM-ONE", "PLAN-30D", ["OPT-MIC", "OPT-MOUNT"], 5),
        (None, "PLAN-7D", [], 2),
    ]
    assert all(line["line_id"].startswith("line_") for line in deal["lines"])
    assert deal["ship_to"] == {
        **SHIP_TO,
        "postal_code": "150-0002",
        "prefecture": "東京都",
    }
    assert deal["requested_delivery_date"] == "2026-04-20"
    assert deal["installation_needed"] is True
    assert (deal["device_owner_account_id"], deal["billing_account_id"]) == (
        account_id,
        account_id,
    )
    assert (deal["payment_method"], deal["agency_id"], deal["lead_id"]) == (
        "direct-debit",
        "agency-042",
        None,
    )
    assert deal["created_at"] == deal["updated_at"] == "2026-04-01T00:30:00Z"
    assert read(api, deal["deal_id"]) == deal
    assert published == [
        (
            "monosub.deals",
            "DealCreated",
            {
                "deal_id": deal["deal_id"],
                "account_id": account_id,
                "owner": "suzuki",
                "stage": "prospecting",
                "by": "suzuki",
            },
        )
    ]
    record = api("GET", f"/accounts/{account_id}").json()
    assert deal["deal_id"] in [d["deal_id"] for d in record["deals"]]


def test_owner_device_owner_and_billing_account_can_be_others(api):
    account_id, contact_id, _ = customer(api)
    franchisor, _, _ = customer(api, company="本部商事", email="honbu@example.jp")
    deal = create(
        api,
        account_id,
        contact_id,
        owner="tanaka",
        device_owner_account_id=franchisor,
        billing_account_id=franchisor,
        payment_method="bank-transfer",
    )
    assert deal["owner"] == "tanaka"
    assert (deal["device_owner_account_id"], deal["billing_account_id"]) == (
        franchisor,
        franchisor,
    )


def test_a_bad_deal_is_refused_field_by_field_and_nothing_is_stored(api, aws_storage, published):
    set_clock(aws_storage, "2026-04-05T15:30:00Z")  # 6 April in Tokyo
    account_id, contact_id, _ = customer(api)
    published.clear()
    response = api(
        "POST",
        f"/accounts/{account_id}/deals",
        {
            "name": "",
            "contact_id": contact_id,
            "lines": [{**CAMERA_LINE, "quantity": 0, "option_skus": ["OPT-MIC", "OPT-MIC"]}],
            "ship_to": {**SHIP_TO, "postal_code": "150-00", "prefecture": "東京府"},
            "payment_method": "cash",
            "stage": "won",
        },
    )
    assert response.status == 400
    assert response.json()["error"] == "validation_failed"
    assert set(fields_of(response)) == {
        "name",
        "lines[0].quantity",
        "lines[0].option_skus",
        "ship_to.postal_code",
        "ship_to.prefecture",
        "payment_method",
        "stage",
    }
    past = api(
        "POST",
        f"/accounts/{account_id}/deals",
        {"name": "x", "contact_id": contact_id, "requested_delivery_date": "2026-04-05"},
    )
    assert past.status == 400
    assert fields_of(past) == {
        "requested_delivery_date": "2026-04-05 is before today (2026-04-06, Asia/Tokyo)"
    }
    strangers = api(
        "POST",
        f"/accounts/{account_id}/deals",
        {
            "name": "x",
            "contact_id": "contact_nobody",
            "billing_account_id": "account_nobody",
            "device_owner_account_id": "account_gone",
            "lines": [{**PLAN_ONLY_LINE, "line_id": "line_invented"}],
        },
    )
    assert strangers.status == 400
    assert set(fields_of(strangers)) == {
        "contact_id",
        "billing_account_id",
        "device_owner_account_id",
        "lines.line_id",
    }
    other_account, other_contact, _ = customer(api, company="別会社", email="b@example.jp")
    not_theirs = api(
        "POST", f"/accounts/{account_id}/deals", {"name": "x", "contact_id": other_contact}
    )
    assert fields_of(not_theirs) == {
        "contact_id": f"{other_contact} is not a contact of {account_id}"
    }
    assert [p[1] for p in published] == ["LeadReceived", "LeadConverted"]  # the other customer
    assert len(api("GET", f"/accounts/{account_id}").json()["deals"]) == 1  # the conversion's
    assert len(api("GET", "/deals", query={"account_id": other_account}).json()["deals"]) == 1


# ---- edits ---------------------------------------------------------------------------------


def test_edits_carry_the_version_read_and_a_stale_one_is_409(api, aws_storage, published):
    set_clock(aws_storage, "2026-04-01T00:00:00Z")
    account_id, contact_id, _ = customer(api)
    deal = create(api, account_id, contact_id, lines=[CAMERA_LINE])
    published.clear()
    set_clock(aws_storage, "2026-04-02T00:00:00Z")
    [camera] = deal["lines"]
    edited = patch(
        api,
        deal["deal_id"],
        {
            "version": 1,
            "name": "渋谷店 カメラ8台",
            "lines": [{**camera, "quantity": 8}, PLAN_ONLY_LINE],
            "requested_delivery_date": "2026-04-02",
            "ship_to": SHIP_TO,
        },
    )
    assert (edited["version"], edited["name"], edited["updated_at"]) == (
        2,
        "渋谷店 カメラ8台",
        "2026-04-02T00:00:00Z",
    )
    assert edited["created_at"] == "2026-04-01T00:00:00Z"
    assert [x["quantity"] for x in edited["lines"]] == [8, 2]
    assert edited["lines"][0]["line_id"] == camera["line_id"]  # the line kept its id
    assert edited["lines"][1]["line_id"] not in {camera["line_id"], None}
    assert read(api, deal["deal_id"]) == edited
    assert published == [
        (
            "monosub.deals",
            "DealUpdated",
            {
                "deal_id": deal["deal_id"],
                "account_id": account_id,
                "version": 2,
                "changed": ["name", "lines", "requested_delivery_date", "ship_to"],
                "by": "suzuki",
            },
        )
    ]

    stale = api("PATCH", f"/deals/{deal['deal_id']}", {"version": 1, "name": "古い版"})
    assert stale.status == 409
    assert stale.json()["error"] == "conflict"
    assert stale.json()["details"] == {
        "expected_version": 1,
        "version": 2,
        "stage": "prospecting",
    }
    assert read(api, deal["deal_id"])["name"] == "渋谷店 カメラ8台"

    cleared = patch(api, deal["deal_id"], {"version": 2, "ship_to": None, "lines": []})
    assert (cleared["version"], cleared["ship_to"], cleared["lines"]) == (3, None, [])
    # nothing changed, nothing written
    assert patch(api, deal["deal_id"], {"version": 3, "name": "渋谷店 カメラ8台"}) == cleared
    assert [p[1] for p in published] == ["DealUpdated", "DealUpdated"]


def test_edits_are_validated_like_a_new_deal(api, aws_storage):
    set_clock(aws_storage, "2026-04-05T15:30:00Z")
    account_id, contact_id, _ = customer(api)
    deal = create(api, account_id, contact_id)
    deal_id = deal["deal_id"]
    missing_version = api("PATCH", f"/deals/{deal_id}", {"name": "x"})
    assert (missing_version.status, set(fields_of(missing_version))) == (400, {"version"})
    cleared = api("PATCH", f"/deals/{deal_id}", {"version": 1, "name": None, "owner": None})
    assert set(fields_of(cleared)) == {"name", "owner"}
    past = api(
        "PATCH", f"/deals/{deal_id}", {"version": 1, "requested_delivery_date": "2026-04-01"}
    )
    assert set(fields_of(past)) == {"requested_delivery_date"}
    invented = api(
        "PATCH",
        f"/deals/{deal_id}",
        {"version": 1, "lines": [{**CAMERA_LINE, "line_id": "line_x"}]},
    )
    assert fields_of(invented) == {"lines.line_id": "the deal has no line line_x"}
    stage = api("PATCH", f"/deals/{deal_id}", {"version": 1, "stage": "won"})
    assert set(fields_of(stage)) == {"stage"}
    assert read(api, deal_id)["version"] == 1


def test_a_write_that_loses_a_race_is_409(api, monkeypatch):
    """Two editors read version 1; the second write's condition fails even though its read
    was current when it was made."""
    account_id, contact_id, _ = customer(api)
    deal = create(api, account_id, contact_id)
    as_read = Deal.model_validate(deal)
    patch(api, deal["deal_id"], {"version": 1, "name": "先に保存"})
    monkeypatch.setattr(store, "get_deal", lambda deal_id, **_: as_read)
    with config.function_environment(api.environment):
        with pytest.raises(TransactionConflict):
            store.save_deal(
                as_read.model_copy(update={"version": 2}),
                expected_version=1,
                expected_stage="prospecting",
                relist=False,
            )
        with pytest.raises(Conflict, match="changed meanwhile"):
            service.update_deal(
                deal["deal_id"],
                DealChanges(version=1, name="後で保存"),
                by="suzuki",
                scope=access.EVERYTHING,
            )
    monkeypatch.undo()
    assert read(api, deal["deal_id"])["name"] == "先に保存"


# ---- the pipeline --------------------------------------------------------------------------


def test_a_deal_moves_through_the_pipeline_to_won(api, aws_storage, published):
    set_clock(aws_storage, "2026-04-01T00:00:00Z")
    account_id, contact_id, _ = customer(api)
    deal = create(
        api, account_id, contact_id, lines=[CAMERA_LINE], ship_to=SHIP_TO, payment_method="card"
    )
    published.clear()
    path = ["qualification", "proposal", "qualification", "proposal", "negotiation", "won"]
    for day, to in enumerate(path, start=2):
        set_clock(aws_storage, f"2026-04-{day:02d}T01:00:00Z")
        before = deal
        deal = move(api, deal["deal_id"], to, deal["version"], user="sato")
        assert (deal["stage"], deal["version"]) == (to, before["version"] + 1)
        assert deal["stage_changed_at"] == deal["updated_at"] == f"2026-04-{day:02d}T01:00:00Z"
    assert read(api, deal["deal_id"]) == deal
    assert [(p[0], p[1], p[2]["from"], p[2]["to"], p[2]["version"]) for p in published] == [
        ("monosub.deals", "DealStageChanged", a, b, v)
        for a, b, v in zip(["prospecting", *path[:-1]], path, range(2, 8), strict=True)
    ]
    assert published[-1][2] == {
        "deal_id": deal["deal_id"],
        "account_id": account_id,
        "from": "negotiation",
        "to": "won",
        "reason": None,
        "version": 7,
        "by": "sato",
    }

    # won is final, and the deal is read-only
    again = api(
        "POST", f"/deals/{deal['deal_id']}/stage", {"to": "lost", "version": 7, "reason": "x"}
    )
    assert again.status == 409
    assert again.json()["details"] == {"stage": "won", "to": "lost", "allowed": []}
    frozen = api("PATCH", f"/deals/{deal['deal_id']}", {"version": 7, "name": "変更"})
    assert frozen.status == 409
    assert frozen.json()["details"] == {"stage": "won"}

    # every change is in the account's history, newest first
    history = api("GET", f"/accounts/{account_id}").json()["activities"]
    changes = [a for a in history if a["kind"] == "stage-change"]
    assert [a["message"] for a in changes] == [
        "negotiation → won",
        "proposal → negotiation",
        "qualification → proposal",
        "proposal → qualification",
        "qualification → proposal",
        "prospecting → qualification",
    ]
    assert history[0] == {
        "kind": "stage-change",
        "occurred_at": "2026-04-07T01:00:00Z",
        "lead_id": "",
        "seq": 7,
        "source": None,
        "source_ref": None,
        "company": None,
        "person_name": None,
        "email": None,
        "phone": None,
        "message": "negotiation → won",
        "by": "sato",
        "account_id": account_id,
        "contact_id": contact_id,
        "deal_id": deal["deal_id"],
    }
    assert history[-1]["kind"] == "submission"  # the lead's history stays below


def test_a_move_the_pipeline_does_not_allow_is_409_with_the_allowed_stages(api, published):
    account_id, contact_id, _ = customer(api)
    deal = create(api, account_id, contact_id)
    published.clear()
    skipped = api("POST", f"/deals/{deal['deal_id']}/stage", {"to": "proposal", "version": 1})
    assert skipped.status == 409
    assert skipped.json() == {
        "error": "conflict",
        "message": f"deal {deal['deal_id']} cannot move from prospecting to proposal",
        "details": {
            "stage": "prospecting",
            "to": "proposal",
            "allowed": ["qualification", "lost"],
        },
    }
    same = api("POST", f"/deals/{deal['deal_id']}/stage", {"to": "prospecting", "version": 1})
    assert same.status == 409
    stale = api("POST", f"/deals/{deal['deal_id']}/stage", {"to": "qualification", "version": 4})
    assert (stale.status, stale.json()["details"]["version"]) == (409, 1)
    unknown = api("POST", f"/deals/{deal['deal_id']}/stage", {"to": "closed", "version": 1})
    assert (unknown.status, set(fields_of(unknown))) == (400, {"to"})
    assert read(api, deal["deal_id"])["stage"] == "prospecting"
    assert published == []


def test_won_needs_a_complete_order(api):
    account_id, contact_id, _ = customer(api)
    deal = create(api, account_id, contact_id, lines=[CAMERA_LINE])
    for to in ("qualification", "proposal", "negotiation"):
        deal = move(api, deal["deal_id"], to, deal["version"])
    refused = api("POST", f"/deals/{deal['deal_id']}/stage", {"to": "won", "version": 4})
    assert refused.status == 409
    assert refused.json()["details"] == {
        "stage": "negotiation",
        "to": "won",
        "missing": ["payment_method", "ship_to"],
    }
    deal = patch(api, deal["deal_id"], {"version": 4, "payment_method": "card", "ship_to": SHIP_TO})
    assert move(api, deal["deal_id"], "won", 5)["stage"] == "won"


def test_lost_needs_a_reason(api, aws_storage, published):
    set_clock(aws_storage, "2026-04-01T00:00:00Z")
    account_id, contact_id, _ = customer(api)
    deal = create(api, account_id, contact_id)
    deal = move(api, deal["deal_id"], "qualification", 1)
    published.clear()
    set_clock(aws_storage, "2026-04-02T00:00:00Z")
    for body in ({"to": "lost", "version": 2}, {"to": "lost", "version": 2, "reason": "  "}):
        response = api("POST", f"/deals/{deal['deal_id']}/stage", body)
        assert response.status == 400
        assert fields_of(response) == {"reason": "say why the deal was lost"}
    lost = move(api, deal["deal_id"], "lost", 2, reason=" 他社製品に決定 ")
    assert (lost["stage"], lost["lost_reason"], lost["version"]) == ("lost", "他社製品に決定", 3)
    assert published[-1][2]["reason"] == "他社製品に決定"
    history = api("GET", f"/accounts/{account_id}").json()["activities"]
    assert history[0]["message"] == "qualification → lost: 他社製品に決定"
    back = api("POST", f"/deals/{deal['deal_id']}/stage", {"to": "qualification", "version": 3})
    assert (back.status, back.json()["details"]["allowed"]) == (409, [])


def test_a_deal_made_at_conversion_is_edited_and_moved_like_any_other(api, published):
    account_id, _, deal_id = customer(api)
    deal = read(api, deal_id)
    assert (deal["version"], deal["stage"], deal["owner"], deal["lines"]) == (
        1,
        "prospecting",
        "yamada",
        [],
    )
    assert deal["billing_account_id"] == deal["device_owner_account_id"] == account_id
    deal = patch(
        api,
        deal_id,
        {"version": 1, "lines": [PLAN_ONLY_LINE], "payment_method": "convenience-store"},
        user="yamada",
    )
    for to in ("qualification", "proposal", "negotiation", "won"):
        deal = move(api, deal_id, to, deal["version"], user="yamada")
    assert (deal["stage"], deal["version"]) == ("won", 6)
    listed = api("GET", "/deals", query={"owner": "yamada", "stage": "won"}).json()["deals"]
    assert [d["deal_id"] for d in listed] == [deal_id]
    assert [p[1] for p in published][-5:] == ["DealUpdated"] + ["DealStageChanged"] * 4


def test_a_deal_stored_before_deals_had_versions_is_version_1(api):
    """Deals written at conversion before this slice have no version and no listing items."""
    account_id, _, deal_id = customer(api)
    with config.function_environment(api.environment):
        table = Table(RECORDS)
        item = table.get(f"ACCOUNT#{account_id}", f"DEAL#{deal_id}")
        assert item is not None
        del item["version"], item["lines"], item["billing_account_id"]
        table.put(item)
        for listing in store.LISTINGS:
            table.client.delete_item(
                TableName=table.name,
                Key={"pk": {"S": f"DEAL#{deal_id}"}, "sk": {"S": f"LIST#{listing}"}},
            )
    deal = read(api, deal_id)  # found through gsi1
    assert (deal["version"], deal["billing_account_id"]) == (1, account_id)
    assert move(api, deal_id, "qualification", 1)["version"] == 2
    listed = api("GET", "/deals", query={"stage": "qualification"}).json()["deals"]
    assert [d["deal_id"] for d in listed] == [deal_id]  # listed again from its first change


# ---- listing -------------------------------------------------------------------------------


def walk(api, query, limit):
    """Every page of a listing: the deal ids, page by page."""
    pages, token = [], None
    while True:
        response = api(
            "GET",
            "/deals",
            query={**query, "limit": str(limit)} | ({"next": token} if token else {}),
        )
        assert response.status == 200, response
        body = response.json()
        pages.append([d["deal_id"] for d in body["deals"]])
        token = body["next"]
        if token is None:
            return pages


def every(api, query, limit):
    """The deal ids of every page of a listing, in order."""
    return [deal_id for page in walk(api, query, limit) for deal_id in page]


def test_deals_are_listed_by_owner_and_by_stage_newest_first_in_pages(api, aws_storage):
    set_clock(aws_storage, "2026-04-01T00:00:00Z")
    account_id, contact_id, converted = customer(api)  # owned by yamada
    set_clock(aws_storage, "2026-04-01T06:00:00Z")
    other_account, other_contact, other_converted = customer(
        api, company="別会社", email="b@example.jp"
    )
    made = []
    for day in range(2, 8):
        set_clock(aws_storage, f"2026-04-{day:02d}T00:00:00Z")
        user = "suzuki" if day % 2 == 0 else "sato"
        where = (account_id, contact_id) if day < 6 else (other_account, other_contact)
        made.append((create(api, *where, user=user, name=f"deal {day}"), user))
    suzuki = [d["deal_id"] for d, user in reversed(made) if user == "suzuki"]
    sato = [d["deal_id"] for d, user in reversed(made) if user == "sato"]

    assert walk(api, {"owner": "suzuki"}, 2) == [suzuki[:2], suzuki[2:]]
    assert walk(api, {"owner": "sato"}, 1) == [[x] for x in sato]
    everyone = [d["deal_id"] for d, _ in reversed(made)] + [other_converted, converted]
    assert every(api, {"stage": "prospecting"}, 3) == everyone
    assert walk(api, {"stage": "prospecting"}, 4) == [everyone[:4], everyone[4:]]

    # a stage change moves a deal from one stage's list to the other's
    first = made[0][0]
    move(api, first["deal_id"], "qualification", 1)
    assert walk(api, {"stage": "qualification"}, 10) == [[first["deal_id"]]]
    assert first["deal_id"] not in every(api, {"stage": "prospecting"}, 10)
    assert walk(api, {"owner": "suzuki", "stage": "prospecting"}, 10) == [suzuki[:2]]
    assert walk(api, {"owner": "suzuki", "stage": "qualification"}, 10) == [[first["deal_id"]]]

    # by account, alone or with owner and stage
    assert every(api, {"account_id": account_id}, 2) == [
        made[3][0]["deal_id"],
        made[2][0]["deal_id"],
        made[1][0]["deal_id"],
        made[0][0]["deal_id"],
        converted,
    ]
    assert walk(api, {"account_id": account_id, "owner": "suzuki"}, 10) == [
        [made[2][0]["deal_id"], made[0][0]["deal_id"]]
    ]
    assert every(api, {"account_id": account_id, "stage": "prospecting"}, 1) == [
        made[3][0]["deal_id"],
        made[2][0]["deal_id"],
        made[1][0]["deal_id"],
        converted,
    ]

    # a new owner moves the deal to the new owner's list
    patch(api, first["deal_id"], {"version": 2, "owner": "sato"})
    assert first["deal_id"] in every(api, {"owner": "sato"}, 10)
    assert first["deal_id"] not in every(api, {"owner": "suzuki"}, 10)

    # no filter: the caller's own deals
    mine = api("GET", "/deals", user="yamada").json()
    assert [d["deal_id"] for d in mine["deals"]] == [other_converted, converted]
    assert mine["next"] is None
    assert api("GET", "/deals", query={"owner": "nobody"}).json() == {"deals": [], "next": None}


def test_bad_listing_requests_are_400(api):
    for query in (
        {"stage": "closed"},
        {"limit": "0"},
        {"limit": "101"},
        {"next": "not-a-token"},
        {"next": base64.urlsafe_b64encode(b"2026-04-01T00:00:00Z#lead_x").decode()},
    ):
        response = api("GET", "/deals", query=query)
        assert response.status == 400, (query, response)


# ---- not found and not allowed -------------------------------------------------------------


def test_unknown_deals_and_accounts_are_404(api):
    account_id, contact_id, _ = customer(api)
    for deal_id in ("deal_doesnotexist", "account_notadeal", "DEAL#x"):
        assert api("GET", f"/deals/{deal_id}").status == 404
        assert api("PATCH", f"/deals/{deal_id}", {"version": 1, "name": "x"}).status == 404
        moved = api("POST", f"/deals/{deal_id}/stage", {"to": "qualification", "version": 1})
        assert moved.status == 404
    response = api("GET", "/deals/deal_doesnotexist")
    assert response.json() == {
        "error": "not_found",
        "message": "deal deal_doesnotexist does not exist",
    }
    for account in ("account_doesnotexist", contact_id):
        created = api("POST", f"/accounts/{account}/deals", {"name": "x", "contact_id": contact_id})
        assert created.status == 404, created
    assert account_id


def test_deals_are_for_staff_only(api):
    account_id, contact_id, deal_id = customer(api)
    requests = [
        ("POST", f"/accounts/{account_id}/deals", {"name": "x", "contact_id": contact_id}),
        ("GET", "/deals", None),
        ("GET", f"/deals/{deal_id}", None),
        ("PATCH", f"/deals/{deal_id}", {"version": 1, "name": "x"}),
        ("POST", f"/deals/{deal_id}/stage", {"to": "qualification", "version": 1}),
    ]
    for method, path, body in requests:
        assert api(method, path, body, groups=None).status == 401, (method, path)
        assert api(method, path, body, groups="customer").status == 403, (method, path)
    assert read(api, deal_id)["version"] == 1
    assert api("GET", f"/deals/{deal_id}", groups="ops").status == 200


# ---- the sample events ---------------------------------------------------------------------


def _run_sample(api, name, **replacements):
    text = (EVENTS / name).read_text(encoding="utf-8")
    for old, new in replacements.items():
        text = text.replace(old, new)
    from functions.api import app

    with config.function_environment(api.environment):
        raw = app.handler(json.loads(text), FakeContext("api"))
    return raw["statusCode"], json.loads(raw["body"])


def test_the_deal_sample_events_are_real_requests(api, aws_storage):
    set_clock(aws_storage, "2026-04-01T00:00:00Z")
    account_id, contact_id, _ = customer(api)
    status, deal = _run_sample(
        api,
        "deal-create.json",
        account_3f9k2m7q8r4t6v1w=account_id,
        contact_5h2k9m4n7p1q3r6s=contact_id,
    )
    assert status == 201, deal
    assert (deal["owner"], deal["ship_to"]["postal_code"], len(deal["lines"])) == (
        "yamada.sales",
        "150-0002",
        2,
    )
    status, edited = _run_sample(api, "deal-patch.json", deal_7d3e9f124b6a4c8e=deal["deal_id"])
    assert (status, edited["version"], edited["payment_method"]) == (200, 2, "direct-debit")
    status, moved = _run_sample(api, "deal-stage.json", deal_7d3e9f124b6a4c8e=deal["deal_id"])
    assert (status, moved["stage"], moved["version"]) == (200, "qualification", 3)
