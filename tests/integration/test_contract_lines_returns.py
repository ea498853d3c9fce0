"""Rental returns written to the contract's lines, on the embedded AWS: a contract renting two
cameras, one returned, shows one (its lines, the history with the lines before, the monthly
total billed now beside the agreed one, in the contract, its list and the CSV export), once
even when the event is delivered again or the contract's write failed after billing; a
change then a return are laid on the lines in that order, the returned device's line losing
its unit; the old device of a replacement changes nothing."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from local.runtime import EmbeddedAWS, FunctionError
from monosub.documents import pdf_rendering_available
from monosub.services import billing_changes
from tests.integration import test_rentals
from tests.sales_flow import Calls, priced_cloud

pytestmark = pytest.mark.skipif(
    pdf_rendering_available() is not None, reason=str(pdf_rendering_available())
)
OPS = {"groups": "ops", "user": "ops-sato"}
RENT, PLAN, OPTION = test_rentals.RENTAL, "PLAN-30D", "OPT-DOWNLOAD"
FIRST, SECOND = test_rentals.SERIALS


@pytest.fixture
def cloud() -> Iterator[EmbeddedAWS]:
    with priced_cloud(datetime(2026, 11, 24, 1, 0, tzinfo=UTC)) as embedded:
        yield embedded


@pytest.fixture
def call(cloud: EmbeddedAWS) -> Calls:
    return Calls(cloud)


def contract_of(call: Calls, contract_id: str) -> dict[str, Any]:
    contract: dict[str, Any] = call("GET", f"/contracts/{contract_id}").json()
    return contract


def items(lines: list[dict[str, Any]]) -> list[tuple[str | None, str, list[str], int]]:
    return [(x["device_sku"], x["plan_sku"], x["option_skus"], x["quantity"]) for x in lines]


def unit_prices(contract: dict[str, Any]) -> dict[str, int]:
    """SKU → the agreed monthly unit price (the document's lines name their SKU in note)."""
    document = contract["document"]
    assert [d for d in document["discounts"] if d["billing"] == "monthly"] == []
    return {
        line["note"]: line["unit_price"]
        for line in document["lines"]
        if line["billing"] == "monthly"
    }


def with_tax(base: int) -> int:
    return base + base * 10 // 100


def return_device(call: Calls, serial: str, on: str) -> None:
    returned = call(
        "POST", f"/devices/{serial}/return", {"returned_on": on, "condition": "good"}, **OPS
    )
    assert returned.status == 200, returned
    call.cloud.wait_for_executions()


def returned_event(shipment: dict[str, Any], serial: str, on: str) -> dict[str, Any]:
    detail = {
        "serial": serial,
        "contract_id": shipment["contract_id"],
        "line_id": shipment["items"][0]["line_id"],
        "returned_on": on,
        "by": "ops-sato",
    }
    return {"source": "monosub.fulfilment", "detail-type": "DeviceReturned", "detail": detail}


def test_a_return_is_written_to_the_lines_once_and_the_monthly_total_follows(
    cloud: EmbeddedAWS, call: Calls
):
    shipment, _ = test_rentals.shipped_rentals(cloud, call)
    contract_id, account_id = shipment["contract_id"], shipment["account_id"]
    agreed = contract_of(call, contract_id)
    (agreed_line,) = agreed["lines"]
    assert items(agreed["lines"]) == [(RENT, PLAN, [], 2)]
    prices = unit_prices(agreed)
    assert agreed["monthly_total"] == agreed["agreed_monthly_total"]
    assert agreed["monthly_total"] == agreed["document"]["monthly_total"]
    assert agreed["monthly_total"] == with_tax(2 * (prices[RENT] + prices[PLAN]))

    return_device(call, FIRST, "2026-11-25")
    after = contract_of(call, contract_id)
    assert items(after["lines"]) == [(RENT, PLAN, [], 1)]
    assert after["lines"][0]["line_id"] == agreed_line["line_id"]
    assert after["version"] == agreed["version"] + 1
    (entry,) = after["line_changes"]
    assert (entry["kind"], entry["change"], entry["change_id"], entry["serial"]) == (
        "return",
        1,
        "r1",
        FIRST,
    )
    assert entry["effective_date"] == "2026-11-26"
    assert entry["quantities"] == {RENT: 1, PLAN: 1}
    assert entry["previous"] == {RENT: 2, PLAN: 2}
    assert entry["lines_before"] == [agreed_line]
    assert entry["by"] == "ops-sato" and FIRST in entry["reason"]
    assert entry["version"] == after["version"]
    # the agreement stays as it was; what is billed now is one camera and its plan
    assert after["document"] == agreed["document"]
    assert after["agreed_monthly_total"] == agreed["monthly_total"]
    assert after["monthly_total"] == with_tax(prices[RENT] + prices[PLAN])
    billing = call("GET", f"/billing-accounts/{account_id}").json()
    (applied,) = billing["returns"]
    assert applied["quantities"] == {RENT: 1, PLAN: 1} and applied["changes_before"] == 0

    listed = call("GET", "/contracts", query={"account_id": account_id}).json()["contracts"]
    assert [(c["monthly_total"], c["agreed_monthly_total"]) for c in listed] == [
        (after["monthly_total"], agreed["monthly_total"])
    ]
    export = call("GET", "/contracts/export", **OPS)
    assert export.status == 200, export
    rows = list(csv.DictReader(io.StringIO(export.text.removeprefix("\ufeff"), newline="")))
    assert [r["monthly_total_yen"] for r in rows if r["contract_id"] == contract_id] == [
        str(after["monthly_total"])
    ]

    # the same event delivered again writes nothing
    event = returned_event(shipment, FIRST, "2026-11-25")
    assert cloud.invoke("billing-contracts", event) == {"outcome": "already applied"}
    assert contract_of(call, contract_id) == after


def test_a_return_whose_contract_write_failed_is_finished_by_the_event_again(
    cloud: EmbeddedAWS, call: Calls, monkeypatch: pytest.MonkeyPatch
):
    shipment, _ = test_rentals.shipped_rentals(cloud, call)
    contract_id, account_id = shipment["contract_id"], shipment["account_id"]
    agreed = contract_of(call, contract_id)
    event = returned_event(shipment, SECOND, "2026-11-25")

    def crash(contract_id: str, account: Any) -> Any:
        raise RuntimeError("the process died after billing the return")

    monkeypatch.setattr(billing_changes, "write_lines", crash)
    with pytest.raises(FunctionError):
        cloud.invoke("billing-contracts", event)
    assert len(call("GET", f"/billing-accounts/{account_id}").json()["returns"]) == 1
    assert contract_of(call, contract_id) == agreed

    monkeypatch.undo()
    assert cloud.invoke("billing-contracts", event) == {"outcome": "already applied"}
    after = contract_of(call, contract_id)
    assert items(after["lines"]) == [(RENT, PLAN, [], 1)]
    assert [e["change_id"] for e in after["line_changes"]] == ["r1"]
    assert after["monthly_total"] < agreed["monthly_total"]
    assert cloud.invoke("billing-contracts", event) == {"outcome": "already applied"}
    assert contract_of(call, contract_id) == after


def test_a_change_then_a_return_are_laid_on_the_lines_in_that_order(
    cloud: EmbeddedAWS, call: Calls
):
    shipment, _ = test_rentals.shipped_rentals(cloud, call)
    contract_id, account_id = shipment["contract_id"], shipment["account_id"]
    agreed = contract_of(call, contract_id)
    (agreed_line,) = agreed["lines"]
    changed = call(
        "POST",
        f"/contracts/{contract_id}/changes",
        {
            "effective_date": "2026-11-28",
            "changes": [{"sku": OPTION, "quantity": 1}],
            "reason": "1台に映像ダウンロードを追加",
        },
        headers={"Idempotency-Key": "change-1"},
    )
    assert changed.status == 201, changed
    after_change = contract_of(call, contract_id)
    assert items(after_change["lines"]) == [(RENT, PLAN, [], 1), (RENT, PLAN, [OPTION], 1)]
    assert after_change["lines"][0]["line_id"] == agreed_line["line_id"]
    billing = call("GET", f"/billing-accounts/{account_id}").json()
    (option,) = [c for c in billing["components"] if c["sku"] == OPTION]
    prices = {**unit_prices(agreed), OPTION: option["unit_price"]}
    assert after_change["monthly_total"] == with_tax(
        2 * (prices[RENT] + prices[PLAN]) + prices[OPTION]
    )

    # the first camera (of the line as agreed, which kept its id) comes back: that unit goes,
    # the camera with the option stays
    return_device(call, FIRST, "2026-11-25")
    after = contract_of(call, contract_id)
    assert items(after["lines"]) == [(RENT, PLAN, [OPTION], 1)]
    assert after["lines"][0]["line_id"] == after_change["lines"][1]["line_id"]
    assert [(e["kind"], e["change_id"]) for e in after["line_changes"]] == [
        ("change", "c1"),
        ("return", "r1"),
    ]
    assert after["line_changes"][1]["lines_before"] == after_change["lines"]
    assert after["monthly_total"] == with_tax(prices[RENT] + prices[PLAN] + prices[OPTION])
    assert after["agreed_monthly_total"] == agreed["monthly_total"]
    assert after["document"] == agreed["document"]


def test_the_old_device_of_a_replacement_changes_nothing(cloud: EmbeddedAWS, call: Calls):
    shipment, _ = test_rentals.shipped_rentals(cloud, call)
    contract_id, account_id = shipment["contract_id"], shipment["account_id"]
    made = call(
        "POST",
        f"/contracts/{contract_id}/device-replacements",
        {"serial": FIRST, "reason": "broken"},
        headers={"Idempotency-Key": "replace-1"},
    )
    assert made.status == 201, made
    before = contract_of(call, contract_id)

    return_device(call, FIRST, "2026-11-25")  # back before its replacement shipped
    assert call("GET", f"/devices/{FIRST}", **OPS).json()["state"] == "returned"
    assert call("GET", f"/billing-accounts/{account_id}").json()["returns"] == []
    after = contract_of(call, contract_id)
    assert after == before and after["line_changes"] == []
    assert items(after["lines"]) == [(RENT, PLAN, [], 2)]
    assert after["monthly_total"] == after["agreed_monthly_total"]
