"""The pure rules of replacing a device (``monosub.domain.fulfilment``): which serial may be
replaced, what the replacement ships, how the warehouse is told, and the replacement's
status once its new device is bound and its old one back."""

from __future__ import annotations

from datetime import date

import pytest

from monosub.domain import fulfilment as rules
from monosub.models.deals import ShipTo
from monosub.models.fulfilment import DeviceReplacement, Shipment, ShipmentDevice, ShipmentItem

NOW = "2026-11-25T01:00:00Z"


def a_device(**values: object) -> ShipmentDevice:
    return ShipmentDevice.model_validate(
        {
            "serial": "RNT-0001",
            "shipment_id": "shipment_1",
            "device_sku": "CAM-ONE-RENT",
            "line_id": "L2",
            "contract_id": "contract_1",
            "owner_account_id": "acct_1",
            "plan_sku": "PLAN-30D",
            "option_skus": ["OPT-AI"],
            "ship_date": "2026-11-25",
            "carrier": "ヤマト運輸",
            "tracking_number": "4512-3456-0001",
            "file_run_id": "run_1",
            "file_line": 2,
            "recorded_at": NOW,
            **values,
        }
    )


def a_shipment(**values: object) -> Shipment:
    return Shipment.model_validate(
        {
            "shipment_id": "shipment_1",
            "order_id": "quote_1",
            "contract_id": "contract_1",
            "deal_id": "deal_1",
            "account_id": "acct_1",
            "contact_id": "contact_1",
            "device_owner_account_id": "acct_1",
            "owner": "tanaka",
            "segment": "corporate",
            "ship_to": ShipTo(
                postal_code="150-0002",
                prefecture="東京都",
                city="渋谷区",
                address_line1="渋谷2-1-1",
                recipient_name="髙橋 一郎",
                recipient_phone="03-1234-5678",
            ),
            "ship_date": "2026-11-25",
            "items": [
                ShipmentItem(
                    line_id=line,
                    device_sku=sku,
                    device_name=name,
                    acquisition="rental",
                    installation_required=line == "L2",
                    quantity=2,
                    plan_sku="PLAN-30D",
                )
                for line, sku, name in (
                    ("L1", "CAM-MINI", "クラウドカメラ MINI"),
                    ("L2", "CAM-ONE-RENT", "クラウドカメラ ONE（レンタル）"),
                )
            ],
            "created_at": NOW,
            "updated_at": NOW,
            **values,
        }
    )


def a_replacement(**values: object) -> DeviceReplacement:
    return DeviceReplacement.model_validate(
        {
            "replacement_id": "replacement_1",
            "contract_id": "contract_1",
            "account_id": "acct_1",
            "segment": "corporate",
            "old_serial": "RNT-0001",
            "device_sku": "CAM-ONE-RENT",
            "acquisition": "rental",
            "line_id": "L2",
            "reason": "broken",
            "shipment_id": "shipment_2",
            "requested_by": "tanaka",
            "idempotency_key": "k1",
            "created_at": NOW,
            "updated_at": NOW,
            **values,
        }
    )


def test_one_request_is_one_replacement():
    first = rules.replacement_id_for("contract_1", "RNT-0001", "k1")
    assert first == rules.replacement_id_for("contract_1", "RNT-0001", "k1")
    assert first.startswith("replacement_")
    assert first != rules.replacement_id_for("contract_1", "RNT-0001", "k2")
    assert first != rules.replacement_id_for("contract_2", "RNT-0001", "k1")


@pytest.mark.parametrize(
    ("device", "state", "contract", "problem"),
    [
        (None, None, None, "device RNT-0001 is not bound to contract contract_1"),
        (
            a_device(contract_id="contract_9"),
            None,
            None,
            "device RNT-0001 is not bound to contract contract_1",
        ),
        (a_device(replaced_by="replacement_0"), "rented", "contract_1", "replaced already"),
        (a_device(), "returned", "contract_1", "is returned in the rental stock"),
        (a_device(), "rented", "contract_9", "not rented under contract contract_1"),
        (a_device(), "rented", "contract_1", None),
        (a_device(), None, None, None),  # a sold device: not in the stock
    ],
)
def test_only_a_device_bound_to_the_contract_is_replaced(device, state, contract, problem):
    found = rules.replacement_problem(
        "RNT-0001", "contract_1", device, stock_state=state, stock_contract_id=contract
    )
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


def test_the_replacement_ships_the_same_model_line_plan_and_options():
    item = rules.replacement_item(a_shipment(), a_device())
    assert (item.line_id, item.device_sku, item.device_name, item.quantity) == (
        "L2",
        "CAM-ONE-RENT",
        "クラウドカメラ ONE（レンタル）",
        1,
    )
    assert (item.acquisition, item.installation_required) == ("rental", True)
    assert (item.plan_sku, item.option_skus) == ("PLAN-30D", ["OPT-AI"])


def test_the_warehouse_sees_a_replacement_in_the_note():
    assert rules.instruction_note(a_shipment()) == ""
    replacement = a_shipment(kind="replacement", replaces_serial="RNT-0001")
    assert rules.instruction_note(replacement) == "【交換品】機器交換 旧機器 RNT-0001 回収"


def test_a_bound_rental_waits_for_the_old_device_and_is_overdue_after_the_due_day():
    bound = rules.replacement_bound(
        a_replacement(), new_serial="RNT-0002", effective=date(2026, 11, 26), now=NOW
    )
    assert (bound.status, bound.new_serial, bound.version) == ("awaiting_return", "RNT-0002", 2)
    assert bound.return_due_on == date(2026, 12, 10)  # REPLACEMENT_RETURN_DAYS after shipping
    assert not rules.return_overdue(bound, date(2026, 12, 10))
    assert rules.return_overdue(bound, date(2026, 12, 11))
    back = rules.old_device_returned(bound, returned_on=date(2026, 12, 11), now=NOW)
    assert back.status == "completed" and back.old_returned_on == date(2026, 12, 11)
    assert not rules.return_overdue(back, date(2026, 12, 31))


def test_an_old_device_back_first_completes_the_replacement_when_bound():
    back = rules.old_device_returned(a_replacement(), returned_on=date(2026, 11, 25), now=NOW)
    assert back.status == "requested"  # the new device has not shipped yet
    bound = rules.replacement_bound(
        back, new_serial="RNT-0002", effective=date(2026, 11, 26), now=NOW
    )
    assert bound.status == "completed"


def test_a_sold_device_replaced_leaves_nothing_to_wait_for():
    bound = rules.replacement_bound(
        a_replacement(acquisition="sale"),
        new_serial="SN-0002",
        effective=date(2026, 11, 26),
        now=NOW,
    )
    assert (bound.status, bound.return_due_on) == ("completed", None)
    assert not rules.return_overdue(bound, date(2027, 1, 1))
