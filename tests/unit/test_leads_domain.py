"""Lead rules without AWS: the submission, duplicate keys, merging, converting."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from monosub.domain import leads as rules
from monosub.errors import Conflict
from monosub.models.crm import Activity, Contact, LeadKeys, LeadSubmission

NOW = "2026-04-01T00:00:00Z"
LATER = "2026-04-02T00:00:00Z"


def submission(**fields) -> LeadSubmission:
    return LeadSubmission(
        **{"company": "株式会社フライク", "person_name": "大瀧 太郎", "email": "ootaki@example.jp"}
        | fields
    )


def open_lead(**fields):
    sub = submission(**fields)
    keys = rules.keys_of(sub.email, sub.phone, sub.company)
    return rules.new_lead("lead_a1", sub, keys, [], NOW), sub


def error_fields(error: ValidationError) -> dict[str, str]:
    return {".".join(str(p) for p in e["loc"]): e["msg"] for e in error.errors()}


# ---- the submission ------------------------------------------------------------------------


def test_a_submission_needs_company_person_and_a_way_to_reach_them():
    with pytest.raises(ValidationError) as caught:
        LeadSubmission.model_validate({"company": " ", "email": ""})
    fields = error_fields(caught.value)
    assert set(fields) == {"company", "person_name", "email", "phone"}
    assert fields["email"] == "give an email or a phone number"


def test_a_phone_alone_is_enough_and_blank_email_is_absent():
    sub = LeadSubmission.model_validate(
        {
            "company": "Acme",
            "person_name": "Ann",
            "email": "  ",
            "phone": "０９０ー１２３４ー５６７８",
        }
    )
    assert sub.email is None
    assert sub.phone == "０９０ー１２３４ー５６７８"
    assert sub.source == "web-form"


def test_full_width_email_is_accepted_and_stored_half_width():
    sub = submission(email="ｏｏｔａｋｉ＠ｅｘａｍｐｌｅ．ｊｐ")
    assert sub.email == "ootaki@example.jp"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "not-an-address"),
        ("phone", "call me"),
        ("phone", "12-34"),
        ("phone", "+81 90 1234 5678 9999 99"),
        ("message", "あ" * 2001),
        ("source", "spam"),
        ("company", "x" * 201),
    ],
)
def test_bad_fields_are_named(field, value):
    with pytest.raises(ValidationError) as caught:
        submission(
            **{field: value, "phone": "03-1234-5678"} if field != "phone" else {field: value}
        )
    assert list(error_fields(caught.value)) == [field]


# ---- keys and duplicates -------------------------------------------------------------------


def test_keys_of_a_submission():
    keys = rules.keys_of("ＯＯＴＡＫＩ@Example.jp", "+81 92-123-4567", "㈱フライク")
    assert keys == LeadKeys(email="ootaki@example.jp", phone="0921234567", company="フライク")


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("大瀧　太郎", "大瀧 太郎"),
        (" 大瀧太郎 ", "大瀧 太郎"),
        ("ｵｵﾀｷ ﾀﾛｳ", "オオタキ タロウ"),
        ("ＴＡＲＯ　ＯＯＴＡＫＩ", "Taro Ootaki"),
        ("taro\tootaki", "TaroOotaki"),
    ],
)
def test_person_key_ignores_width_case_and_spacing(typed, stored):
    assert rules.person_key(typed) == rules.person_key(stored)
    assert rules.person_key(rules.person_key(typed)) == rules.person_key(typed)


def test_person_keys_of_different_people_differ():
    assert rules.person_key("大瀧 太郎") != rules.person_key("佐藤 花子")
    assert rules.person_key("大瀧 太郎") != rules.person_key("大瀧")
    assert rules.person_key("  ") is None
    assert rules.person_key(None) is None


SWITCHBOARD = "03-1234-5678"


def phone_owner(**fields):
    """An open lead owning the switchboard number, as the index reads it."""
    lead, _ = open_lead(phone=SWITCHBOARD, **fields)
    return lead, rules.KeyOwners(phone_lead=lead.lead_id)


def target_for(sub: LeadSubmission, owners: rules.KeyOwners, *leads) -> str | None:
    keys = rules.keys_of(sub.email, sub.phone, sub.company, sub.person_name)
    by_id = {lead.lead_id: lead for lead in leads}
    read = [by_id[lead_id] for lead_id in rules.phone_candidates(owners, keys)]
    return rules.merge_target(owners, sub, read)


@pytest.mark.parametrize("name", ["大瀧 太郎", "大瀧　太郎", "大瀧太郎", " 大瀧  太郎"])
def test_same_phone_and_same_name_merges(name):
    lead, owners = phone_owner(email=None)
    again = submission(
        person_name=name, email="ootaki@example.jp", phone="０３ー１２３４ー５６７８"
    )
    assert target_for(again, owners, lead) == lead.lead_id


def test_same_phone_same_name_without_an_email_merges():
    lead, owners = phone_owner()  # the lead has an email
    assert lead.email == "ootaki@example.jp"
    assert target_for(submission(email=None, phone=SWITCHBOARD), owners, lead) == lead.lead_id


def test_same_phone_but_another_name_is_a_new_lead():
    """Two colleagues giving the company's switchboard number (代表番号)."""
    lead, owners = phone_owner(email=None)
    colleague = submission(person_name="佐藤 花子", email=None, phone=SWITCHBOARD)
    assert target_for(colleague, owners, lead) is None
    colleague = submission(person_name="佐藤 花子", email="sato@example.jp", phone=SWITCHBOARD)
    assert target_for(colleague, owners, lead) is None


def test_same_phone_same_name_but_conflicting_emails_is_a_new_lead():
    lead, owners = phone_owner()
    namesake = submission(email="ootaki.t@other.example.jp", phone=SWITCHBOARD)
    assert target_for(namesake, owners, lead) is None


def test_the_email_owner_wins_whatever_the_name():
    phone_lead, _ = phone_owner()
    owners = rules.KeyOwners(email_lead="lead_email", phone_lead=phone_lead.lead_id)
    sub = submission(phone=SWITCHBOARD)
    keys = rules.keys_of(sub.email, sub.phone, sub.company, sub.person_name)
    assert rules.phone_candidates(owners, keys) == []  # nothing more to read
    assert rules.merge_target(owners, sub, [phone_lead]) == "lead_email"
    assert rules.merge_target(owners, submission(person_name="誰か"), []) == "lead_email"
    assert rules.merge_target(rules.KeyOwners(company_leads=("lead_c",)), sub, []) is None


def test_a_lead_holding_the_phone_for_this_person_is_the_next_candidate():
    owners = rules.KeyOwners(
        phone_lead="lead_owner",
        phone_person_leads=(
            rules.PersonLead(person="佐藤花子", lead_id="lead_sato"),
            rules.PersonLead(person="田中一郎", lead_id="lead_tanaka"),
        ),
    )
    keys = rules.keys_of(None, SWITCHBOARD, None, "佐藤　花子")
    assert rules.phone_candidates(owners, keys) == ["lead_owner", "lead_sato"]
    owner, _ = phone_owner()
    sato, _ = open_lead(person_name="佐藤 花子", email="sato@example.jp", phone=SWITCHBOARD)
    sato = sato.model_copy(update={"lead_id": "lead_sato"})
    again = submission(person_name="佐藤 花子", email=None, phone=SWITCHBOARD)
    assert rules.merge_target(owners, again, [owner, sato]) == "lead_sato"
    converted = sato.model_copy(update={"status": "converted"})
    assert rules.merge_target(owners, again, [owner, converted]) is None


def test_a_new_lead_takes_a_free_phone():
    keys = rules.keys_of("sato@example.jp", SWITCHBOARD, "フライク", "佐藤 花子")
    assert rules.keys_to_take(keys, rules.KeyOwners()) == keys
    assert keys.phone == "0312345678"


def test_a_new_lead_holds_an_owned_phone_for_its_person_only():
    keys = rules.keys_of("sato@example.jp", SWITCHBOARD, "フライク", "佐藤 花子")
    taken = rules.keys_to_take(keys, rules.KeyOwners(phone_lead="lead_owner"))
    assert taken == LeadKeys(
        email="sato@example.jp",
        phone=None,
        company="フライク",
        person="佐藤花子",
        person_phone="0312345678",
    )
    held = rules.KeyOwners(
        phone_lead="lead_owner", phone_person_leads=(rules.PersonLead("佐藤花子", "lead_sato"),)
    )
    assert rules.keys_to_take(keys, held) == taken.model_copy(update={"person_phone": None})


def test_possible_duplicates_strongest_first_one_per_record():
    owners = rules.KeyOwners(
        company_account="account_1",
        company_leads=("lead_1", "lead_2"),
        email_contacts=(rules.ContactRef("contact_1", "account_1"),),
        phone_contacts=(rules.ContactRef("contact_1", "account_1"),),
    )
    found = [d.model_dump() for d in rules.possible_duplicates(owners)]
    assert found == [
        {"kind": "contact", "id": "contact_1", "matched_on": "email", "account_id": "account_1"},
        {"kind": "account", "id": "account_1", "matched_on": "company", "account_id": None},
        {"kind": "lead", "id": "lead_1", "matched_on": "company", "account_id": None},
        {"kind": "lead", "id": "lead_2", "matched_on": "company", "account_id": None},
    ]


def test_possible_duplicates_name_the_leads_with_the_same_phone_before_company_matches():
    owners = rules.KeyOwners(
        phone_lead="lead_owner",
        phone_person_leads=(rules.PersonLead("佐藤花子", "lead_sato"),),
        company_leads=("lead_owner", "lead_other"),
        phone_contacts=(rules.ContactRef("contact_1", "account_1"),),
    )
    found = [(d.kind, d.id, d.matched_on) for d in rules.possible_duplicates(owners)]
    assert found == [
        ("contact", "contact_1", "phone"),
        ("lead", "lead_owner", "phone"),
        ("lead", "lead_sato", "phone"),
        ("lead", "lead_other", "company"),
    ]


def test_possible_duplicates_are_capped():
    owners = rules.KeyOwners(company_leads=tuple(f"lead_{i}" for i in range(50)))
    assert len(rules.possible_duplicates(owners)) == rules.MAX_POSSIBLE_DUPLICATES


@pytest.mark.parametrize(
    ("value", "prefix", "expected"),
    [
        ("lead_7k3m9q2x4p8r", "lead", True),
        ("account_7k3m", "account", True),
        ("lead_7k3m", "account", False),
        ("lead_ABC", "lead", False),
        ("lead_x#ACT", "lead", False),
        ("lead_", "lead", False),
    ],
)
def test_record_ids(value, prefix, expected):
    assert rules.is_record_id(value, prefix) is expected


# ---- merging -------------------------------------------------------------------------------


def test_a_merge_adds_a_submission_and_takes_a_free_phone():
    lead, _ = open_lead()
    again = submission(phone="092-123-4567", message="また連絡します")
    merge = rules.plan_merge(lead, again, rules.KeyOwners(email_lead=lead.lead_id), LATER, "r#2")
    assert merge.claimed == LeadKeys(phone="0921234567")
    assert merge.lead.phone == "092-123-4567"
    assert merge.lead.keys == LeadKeys(
        email="ootaki@example.jp", phone="0921234567", company="フライク"
    )
    assert (merge.lead.submission_count, merge.lead.activity_count, merge.lead.version) == (2, 2, 2)
    assert merge.lead.updated_at == LATER
    assert merge.activity is not None
    assert (merge.activity.seq, merge.activity.message, merge.activity.source_ref) == (
        2,
        "また連絡します",
        "r#2",
    )


def test_a_merge_leaves_a_phone_another_lead_owns():
    lead, _ = open_lead()
    owners = rules.KeyOwners(email_lead=lead.lead_id, phone_lead="lead_other")
    merge = rules.plan_merge(lead, submission(phone="092-123-4567"), owners, LATER, None)
    assert merge.claimed == LeadKeys()
    assert merge.lead.phone is None


def test_a_full_history_still_counts_submissions():
    lead, sub = open_lead()
    full = lead.model_copy(update={"activity_count": rules.MAX_LEAD_ACTIVITIES})
    merge = rules.plan_merge(full, sub, rules.KeyOwners(email_lead=lead.lead_id), LATER, None)
    assert merge.activity is None
    assert merge.lead.activity_count == rules.MAX_LEAD_ACTIVITIES
    assert merge.lead.submission_count == 2


# ---- converting ----------------------------------------------------------------------------

IDS = rules.NewIds(account_id="account_new", contact_id="contact_new", deal_id="deal_new")


def history(lead, sub) -> list[Activity]:
    return [rules.submission_activity(lead.lead_id, 1, sub, NOW, None)]


def test_converting_creates_account_contact_and_deal_from_the_lead():
    lead, sub = open_lead(phone="092-123-4567")
    plan = rules.plan_conversion(
        lead,
        history(lead, sub),
        account=None,
        contact_by_email=None,
        contact_by_phone=None,
        new_ids=IDS,
        deal_name=None,
        owner="sato",
        now=LATER,
    )
    assert plan.result.model_dump() == {
        "lead_id": "lead_a1",
        "account_id": "account_new",
        "contact_id": "contact_new",
        "deal_id": "deal_new",
        "account_created": True,
        "contact_created": True,
    }
    assert (plan.account.name, plan.account.name_key) == ("株式会社フライク", "フライク")
    assert (plan.contact.person_name, plan.contact.phone_key) == ("大瀧 太郎", "0921234567")
    assert (plan.deal.stage, plan.deal.owner, plan.deal.name) == (
        "prospecting",
        "sato",
        "株式会社フライク: new deal",
    )
    assert plan.lead.status == "converted"
    assert plan.lead.converted_deal_id == "deal_new"
    assert plan.expected_version == 1
    assert [(a.kind, a.seq) for a in plan.history] == [("submission", 1), ("conversion", 2)]
    assert plan.conversion.by == "sato"


def test_converting_reuses_the_contact_with_the_same_email_and_fills_its_phone():
    lead, sub = open_lead(phone="092-123-4567")
    known = Contact(
        contact_id="contact_known",
        account_id="account_known",
        person_name="大瀧",
        email="ootaki@example.jp",
        email_key="ootaki@example.jp",
        created_at=NOW,
        updated_at=NOW,
    )
    plan = rules.plan_conversion(
        lead,
        history(lead, sub),
        account=None,
        contact_by_email=known,
        contact_by_phone=None,
        new_ids=IDS,
        deal_name="Pilot 50 units",
        owner="sato",
        now=LATER,
    )
    assert plan.contact_created is False
    assert plan.contact.contact_id == "contact_known"
    assert plan.contact_fill == {"phone": "092-123-4567", "phone_key": "0921234567"}
    assert plan.deal.name == "Pilot 50 units"
    assert plan.deal.contact_id == "contact_known"


def contact_at_the_switchboard(**fields) -> Contact:
    return Contact(
        **{
            "contact_id": "contact_known",
            "account_id": "account_known",
            "person_name": "大瀧 太郎",
            "phone": SWITCHBOARD,
            "phone_key": "0312345678",
            "created_at": NOW,
            "updated_at": NOW,
        }
        | fields
    )


def convert_with_phone_match(lead, sub, contact):
    return rules.plan_conversion(
        lead,
        history(lead, sub),
        account=None,
        contact_by_email=None,
        contact_by_phone=contact,
        new_ids=IDS,
        deal_name=None,
        owner="sato",
        now=LATER,
    )


def test_converting_reuses_the_contact_with_the_same_phone_and_name():
    lead, sub = open_lead(person_name="大瀧　太郎", phone=SWITCHBOARD)
    plan = convert_with_phone_match(lead, sub, contact_at_the_switchboard())
    assert (plan.contact_created, plan.contact.contact_id) == (False, "contact_known")
    assert plan.contact_fill == {"email": "ootaki@example.jp", "email_key": "ootaki@example.jp"}


@pytest.mark.parametrize(
    "contact",
    [
        {"person_name": "佐藤 花子"},
        {"email": "ootaki.t@other.example.jp", "email_key": "ootaki.t@other.example.jp"},
    ],
    ids=["another-name", "another-email"],
)
def test_a_contact_of_another_person_at_the_same_phone_is_not_reused(contact):
    lead, sub = open_lead(phone=SWITCHBOARD)
    plan = convert_with_phone_match(lead, sub, contact_at_the_switchboard(**contact))
    assert plan.contact_created is True
    assert plan.contact.contact_id == "contact_new"
    assert (plan.contact.person_name, plan.contact.phone) == ("大瀧 太郎", SWITCHBOARD)
    # one contact per phone in an account: the other person keeps the phone's key
    assert (plan.contact.email_key, plan.contact.phone_key) == ("ootaki@example.jp", None)
    assert plan.deal.contact_id == "contact_new"


def test_a_converted_lead_cannot_convert_again():
    lead, sub = open_lead()
    plan = rules.plan_conversion(
        lead,
        history(lead, sub),
        account=None,
        contact_by_email=None,
        contact_by_phone=None,
        new_ids=IDS,
        deal_name=None,
        owner="sato",
        now=LATER,
    )
    with pytest.raises(Conflict) as caught:
        rules.ensure_convertible(plan.lead)
    assert caught.value.status == 409
    assert caught.value.details["deal_id"] == "deal_new"


def test_a_conversion_carries_only_the_history_of_the_lead_it_read():
    lead, sub = open_lead()
    newer = rules.submission_activity(lead.lead_id, 2, sub, LATER, None)  # recorded after the read
    plan = rules.plan_conversion(
        lead,
        [newer, *history(lead, sub)],
        account=None,
        contact_by_email=None,
        contact_by_phone=None,
        new_ids=IDS,
        deal_name=None,
        owner="sato",
        now=LATER,
    )
    assert [(a.kind, a.seq) for a in plan.history] == [("submission", 1), ("conversion", 2)]
