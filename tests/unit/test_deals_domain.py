"""Deal rules without AWS: the pipeline's moves, the order's SKUs and lines, the delivery
address and date, and the request models that use them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from pydantic import ValidationError

from monosub import aws, clock
from monosub.domain import deals as rules
from monosub.errors import Conflict, ValidationFailed
from monosub.models.crm import Deal as DealFromCrm
from monosub.models.deals import Deal, DealChanges, DealDraft, ShipTo, StageChange
from monosub.services import deals as service

STAGES = rules.STAGES

# The pipeline, as a table: every move allowed; every other pair of stages is refused.
ALLOWED = {
    ("prospecting", "qualification"),
    ("prospecting", "lost"),
    ("qualification", "proposal"),
    ("qualification", "prospecting"),
    ("qualification", "lost"),
    ("proposal", "negotiation"),
    ("proposal", "qualification"),
    ("proposal", "lost"),
    ("negotiation", "won"),
    ("negotiation", "proposal"),
    ("negotiation", "lost"),
}


def error_fields(error: ValidationError) -> dict[str, str]:
    return {".".join(str(p) for p in e["loc"]): e["msg"] for e in error.errors()}


# ---- stages --------------------------------------------------------------------------------


def test_the_stages_in_order():
    assert STAGES == ("prospecting", "qualification", "proposal", "negotiation", "won", "lost")
    assert rules.OPEN_STAGES + rules.FINAL_STAGES == STAGES


@pytest.mark.parametrize(
    ("current", "to"), [(a, b) for a in STAGES for b in STAGES], ids=lambda s: s
)
def test_every_move_between_two_stages(current, to):
    if (current, to) in ALLOWED:
        rules.check_transition("deal_x", current, to)
        assert to in rules.allowed_next(current)
        return
    with pytest.raises(Conflict) as refused:
        rules.check_transition("deal_x", current, to)
    assert refused.value.status == 409
    assert refused.value.details == {
        "stage": current,
        "to": to,
        "allowed": list(rules.allowed_next(current)),
    }
    assert to not in rules.allowed_next(current)


@pytest.mark.parametrize(
    ("stage", "allowed"),
    [
        ("prospecting", ("qualification", "lost")),
        ("qualification", ("proposal", "prospecting", "lost")),
        ("proposal", ("negotiation", "qualification", "lost")),
        ("negotiation", ("won", "proposal", "lost")),
        ("won", ()),
        ("lost", ()),
    ],
)
def test_allowed_next_stages_forward_first(stage, allowed):
    assert rules.allowed_next(stage) == allowed
    assert {(stage, to) for to in allowed} == {pair for pair in ALLOWED if pair[0] == stage}


@pytest.mark.parametrize("stage", ["won", "lost"])
def test_closed_deals_are_final_and_read_only(stage):
    with pytest.raises(Conflict, match="does not change stage again"):
        rules.check_transition("deal_x", stage, "prospecting")
    with pytest.raises(Conflict, match="read-only"):
        rules.ensure_open("deal_x", stage)


@pytest.mark.parametrize("stage", rules.OPEN_STAGES)
def test_open_deals_can_be_edited(stage):
    rules.ensure_open("deal_x", stage)


def test_a_stale_version_is_a_conflict():
    rules.ensure_version("deal_x", 3, 3, "proposal")
    with pytest.raises(Conflict) as stale:
        rules.ensure_version("deal_x", 2, 3, "proposal")
    assert stale.value.details == {"expected_version": 2, "version": 3, "stage": "proposal"}


@pytest.mark.parametrize("reason", [None, "", "  ", "\u3000"])
def test_lost_needs_a_reason(reason):
    with pytest.raises(ValidationFailed) as refused:
        rules.require_reason("lost", reason)
    assert refused.value.details == [{"field": "reason", "message": "say why the deal was lost"}]
    rules.require_reason("qualification", reason)  # other moves need none
    rules.require_reason("lost", "予算が合わない")


def test_what_a_won_deal_needs():
    assert rules.missing_for_won(
        line_count=0, has_device=False, payment_method=None, has_ship_to=False
    ) == ["lines", "payment_method"]
    assert rules.missing_for_won(
        line_count=1, has_device=True, payment_method="card", has_ship_to=False
    ) == ["ship_to"]
    # a plan for a camera the customer has already: nothing to ship
    assert (
        rules.missing_for_won(
            line_count=1, has_device=False, payment_method="bank-transfer", has_ship_to=False
        )
        == []
    )


def test_stage_change_message():
    assert rules.stage_change_message("proposal", "negotiation", None) == "proposal → negotiation"
    assert (
        rules.stage_change_message("proposal", "lost", "他社に決定")
        == "proposal → lost: 他社に決定"
    )


# ---- the delivery address ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("150-0002", "150-0002"),
        ("1500002", "150-0002"),
        ("〒150-0002", "150-0002"),
        ("〒 150-0002", "150-0002"),
        ("１５０－０００２", "150-0002"),  # full width
        ("〒１５０ー０００２", "150-0002"),  # long-vowel mark from an IME
        ("150‐0002", "150-0002"),  # hyphen U+2010
        ("150−0002", "150-0002"),  # minus sign
        (" 150 0002 ", "150-0002"),
        ("〶150-0002", "150-0002"),  # circled postal mark
    ],
)
def test_postal_codes_in_every_width_are_one_form(typed, stored):
    assert rules.normalize_postal_code(typed) == stored
    assert rules.normalize_postal_code(stored) == stored


@pytest.mark.parametrize(
    "typed",
    ["", "150-002", "15-00002", "150-00021", "150--0002", "abc-defg", "١٥٠-٠٠٠٢", "T150-0002"],
)
def test_postal_codes_that_are_not_seven_digits_are_refused(typed):
    with pytest.raises(ValueError, match="seven digits"):
        rules.normalize_postal_code(typed)


def test_there_are_47_prefectures():
    assert len(rules.PREFECTURES) == len(set(rules.PREFECTURES)) == 47
    assert rules.PREFECTURES[0] == "北海道" and rules.PREFECTURES[-1] == "沖縄県"


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("東京都", "東京都"),
        ("東京", "東京都"),
        ("大阪", "大阪府"),
        ("京都", "京都府"),
        ("京都府", "京都府"),
        ("神奈川", "神奈川県"),
        ("北海道", "北海道"),
        (" 沖縄県 ", "沖縄県"),
        ("東京　都", "東京都"),  # an ideographic space inside
        ("ｶﾅｶﾞﾜ", None),  # katakana is not how a prefecture is written
        ("北海", None),
        ("東京府", None),
        ("Tokyo", None),
        ("", None),
    ],
)
def test_prefectures(typed, stored):
    if stored is None:
        with pytest.raises(ValueError, match="47 prefectures"):
            rules.normalize_prefecture(typed)
    else:
        assert rules.normalize_prefecture(typed) == stored


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("03-1234-5678", "03-1234-5678"),
        ("０３ー１２３４ー５６７８", "03-1234-5678"),
        ("090 1234 5678", "090 1234 5678"),
        ("+81 90-1234-5678", "09012345678"),
        ("(03)1234-5678", "(03)1234-5678"),
    ],
)
def test_recipient_phones(typed, stored):
    assert rules.normalize_japanese_phone(typed) == stored


@pytest.mark.parametrize("typed", ["1234-5678", "03-1234-567890", "+1 415 555 0100", "03-xxxx"])
def test_recipient_phones_that_are_not_japanese_numbers(typed):
    with pytest.raises(ValueError):
        rules.normalize_japanese_phone(typed)


SHIP_TO = {
    "postal_code": "〒１５０－０００２",
    "prefecture": "東京",
    "city": "渋谷区",
    "address_line1": "渋谷2-24-12",
    "address_line2": "",
    "recipient_name": "大瀧 太郎",
    "recipient_phone": "０３－１２３４－５６７８",
}


def test_a_ship_to_address_is_stored_normalized():
    ship_to = ShipTo.model_validate(SHIP_TO)
    assert ship_to.model_dump() == {
        "postal_code": "150-0002",
        "prefecture": "東京都",
        "city": "渋谷区",
        "address_line1": "渋谷2-24-12",
        "address_line2": None,
        "company_name": None,
        "recipient_name": "大瀧 太郎",
        "recipient_phone": "03-1234-5678",
    }
    assert ShipTo.model_validate(ship_to.model_dump()) == ship_to  # idempotent on read


def test_a_bad_address_is_refused_field_by_field():
    with pytest.raises(ValidationError) as caught:
        ShipTo.model_validate(
            {**SHIP_TO, "postal_code": "150", "prefecture": "東京府", "city": "", "extra": 1}
        )
    assert set(error_fields(caught.value)) == {"postal_code", "prefecture", "city", "extra"}


# ---- the delivery date and the business clock ----------------------------------------------


def test_a_delivery_date_is_today_at_the_earliest():
    today = date(2026, 12, 1)
    rules.check_delivery_date(None, today, "requested_delivery_date")
    rules.check_delivery_date(today, today, "requested_delivery_date")
    rules.check_delivery_date(date(2027, 1, 15), today, "requested_delivery_date")
    with pytest.raises(ValidationFailed) as refused:
        rules.check_delivery_date(date(2026, 11, 30), today, "requested_delivery_date")
    assert refused.value.details == [
        {
            "field": "requested_delivery_date",
            "message": "2026-11-30 is before today (2026-12-01, Asia/Tokyo)",
        }
    ]


@pytest.fixture
def business_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Fix the business clock (as tests/unit/test_clock.py does); no AWS is touched."""

    def refuse(service_name: str) -> Any:
        raise AssertionError(f"an AWS client ({service_name}) was requested")

    monkeypatch.setattr(aws, "client", refuse)

    def set_to(text: str) -> None:
        instant = clock.parse_instant(text)
        monkeypatch.setattr(clock, "_read_override", lambda: instant)
        clock.begin_invocation()

    yield set_to
    clock.begin_invocation()


@pytest.mark.parametrize(
    ("now", "requested", "accepted"),
    [
        # 00:30 on 1 December in Tokyo is still 30 November in UTC: Tokyo's date counts
        ("2026-11-30T15:30:00Z", date(2026, 11, 30), False),
        ("2026-11-30T15:30:00Z", date(2026, 12, 1), True),
        # 23:59 on 30 November in Tokyo: 30 November is still today
        ("2026-11-30T14:59:59Z", date(2026, 11, 30), True),
        ("2026-11-30T14:59:59Z", date(2026, 11, 29), False),
        ("2026-12-31T15:00:00Z", date(2026, 12, 31), False),
        ("2026-12-31T15:00:00Z", date(2027, 1, 1), True),
    ],
)
def test_a_delivery_date_is_checked_against_the_business_clock(
    business_clock, now, requested, accepted
):
    business_clock(now)
    if accepted:
        service.check_requested_delivery_date(requested)
    else:
        with pytest.raises(ValidationFailed, match="in the past"):
            service.check_requested_delivery_date(requested)


# ---- SKUs and lines ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("CAM-ONE", "CAM-ONE"),
        (" PLAN-30D ", "PLAN-30D"),
        ("ＣＡＭ－ＯＮＥ", "CAM-ONE"),
        ("X", "X"),
        ("CAM.ONE_2", "CAM.ONE_2"),
        ("A" * 48, "A" * 48),
    ],
)
def test_skus_in_the_catalog_form(typed, stored):
    assert rules.normalize_sku(typed) == stored


@pytest.mark.parametrize(
    "typed", ["", " ", "cam-one", "CAM ONE", "-CAM", ".CAM", "A" * 49, "カメラ", "CAM/ONE"]
)
def test_skus_out_of_the_catalog_form(typed):
    with pytest.raises(ValueError, match="SKU"):
        rules.normalize_sku(typed)


DRAFT = {"name": "渋谷店 カメラ5台", "contact_id": "contact_abc"}
LINE = {"device_sku": "CAM-ONE", "plan_sku": "PLAN-30D", "option_skus": ["OPT-MIC"], "quantity": 5}


def test_a_draft_needs_a_name_and_a_contact_only():
    draft = DealDraft.model_validate(DRAFT)
    assert draft.lines is None and draft.owner is None and draft.payment_method is None
    with pytest.raises(ValidationError) as caught:
        DealDraft.model_validate({"name": "", "contact_id": "CONTACT#1"})
    assert set(error_fields(caught.value)) == {"name", "contact_id"}


def test_lines_are_checked_field_by_field():
    draft = DealDraft.model_validate(
        {**DRAFT, "lines": [LINE, {**LINE, "device_sku": "", "option_skus": []}]}
    )
    assert draft.lines is not None
    assert [line.device_sku for line in draft.lines] == ["CAM-ONE", None]
    with pytest.raises(ValidationError) as caught:
        DealDraft.model_validate(
            {
                **DRAFT,
                "lines": [
                    {**LINE, "quantity": 0},
                    {**LINE, "quantity": 10_001},
                    {**LINE, "plan_sku": "plan"},
                    {**LINE, "option_skus": ["OPT-MIC", "ＯＰＴ－ＭＩＣ"]},
                    {"device_sku": "CAM-ONE", "quantity": 1},
                    {**LINE, "line_id": "LINE#1"},
                ],
            }
        )
    fields = error_fields(caught.value)
    assert set(fields) == {
        "lines.0.quantity",
        "lines.1.quantity",
        "lines.2.plan_sku",
        "lines.3.option_skus",
        "lines.4.plan_sku",
        "lines.5.line_id",
    }
    assert fields["lines.3.option_skus"] == "Value error, an option is given once per line: OPT-MIC"


def test_a_line_id_is_given_once():
    with pytest.raises(ValidationError) as caught:
        DealChanges.model_validate(
            {"version": 1, "lines": [{**LINE, "line_id": "line_a"}, {**LINE, "line_id": "line_a"}]}
        )
    assert error_fields(caught.value) == {"lines": "Value error, a line id is given once: line_a"}
    assert rules.unknown_line_ids(["line_a", None, "line_z"], ["line_a", "line_b"]) == ["line_z"]


def test_changes_need_a_version_and_cannot_clear_what_a_deal_always_has():
    with pytest.raises(ValidationError) as caught:
        DealChanges.model_validate(
            {"name": None, "owner": None, "lines": None, "billing_account_id": None}
        )
    assert set(error_fields(caught.value)) == {
        "version",
        "name",
        "owner",
        "lines",
        "billing_account_id",
    }
    changes = DealChanges.model_validate(
        {"version": 2, "ship_to": None, "payment_method": None, "requested_delivery_date": None}
    )
    assert changes.changes() == {
        "ship_to": None,
        "payment_method": None,
        "requested_delivery_date": None,
    }
    with pytest.raises(ValidationError) as caught:
        DealChanges.model_validate({"version": 2, "stage": "won", "payment_method": "cash"})
    assert set(error_fields(caught.value)) == {"stage", "payment_method"}


def test_a_stage_change_names_a_stage_and_a_version():
    with pytest.raises(ValidationError) as caught:
        StageChange.model_validate({"to": "closed", "version": 0})
    assert set(error_fields(caught.value)) == {"to", "version"}


def test_a_deal_from_a_conversion_bills_and_owns_devices_through_its_account():
    deal = DealFromCrm(
        deal_id="deal_a",
        account_id="account_a",
        contact_id="contact_a",
        name="x",
        owner="yamada",
        created_at="2026-04-01T00:00:00Z",
        updated_at="2026-04-01T00:00:00Z",
    )
    assert DealFromCrm is Deal
    assert (deal.device_owner_account_id, deal.billing_account_id) == ("account_a", "account_a")
    assert (deal.version, deal.stage, deal.lines, deal.installation_needed) == (
        1,
        "prospecting",
        [],
        False,
    )
    other = Deal.model_validate({**deal.model_dump(), "billing_account_id": "account_b"})
    assert other.billing_account_id == "account_b"
