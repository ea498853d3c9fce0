"""Mid-term changes written back to the contract's lines, on the embedded AWS through the
HTTP API: a quantity reduced and an option added show on the contract (its lines as billed
now, and the history with the lines as agreed), a replay writes nothing twice, a stale
version is a 409 that bills nothing, a request that failed after billing is finished by its
retry, and the renewal quote made from the contract prices its current lines."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from local.runtime import EmbeddedAWS
from monosub.documents import pdf_rendering_available
from monosub.services import billing_changes
from monosub.services import quotes as quote_service
from tests.integration.test_billing import started_contract
from tests.sales_flow import Calls, priced_cloud

pytestmark = pytest.mark.skipif(
    pdf_rendering_available() is not None, reason=str(pdf_rendering_available())
)
CHANGE = {
    "effective_date": "2026-11-28",
    "changes": [
        {"sku": "PLAN-30D", "quantity": 2},
        {"sku": "OPT-DOWNLOAD", "quantity": 2},
        {"sku": "OPT-AI-COUNT", "quantity": 2},
    ],
    "reason": "1台撤去、AI人数カウントを追加",
}
AGREED = {
    "device_sku": "CAM-ONE-SALE",
    "plan_sku": "PLAN-30D",
    "option_skus": ["OPT-DOWNLOAD"],
    "quantity": 3,
}
CURRENT = {**AGREED, "option_skus": ["OPT-DOWNLOAD", "OPT-AI-COUNT"], "quantity": 2}


@pytest.fixture
def cloud() -> Iterator[EmbeddedAWS]:
    with priced_cloud(datetime(2026, 11, 24, 1, 0, tzinfo=UTC)) as embedded:
        yield embedded


@pytest.fixture
def call(cloud: EmbeddedAWS) -> Calls:
    return Calls(cloud)


def items(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in line.items() if k != "line_id"} for line in lines]


def change(call: Calls, contract_id: str, key: str, **body: Any) -> Any:
    return call(
        "POST",
        f"/contracts/{contract_id}/changes",
        {**CHANGE, **body},
        headers={"Idempotency-Key": key},
    )


def test_a_change_is_written_to_the_lines_and_the_renewal_quote_prices_them(
    cloud: EmbeddedAWS, call: Calls
):
    contract = started_contract(cloud, call)
    contract_id, account_id = contract["contract_id"], contract["account_id"]
    assert items(contract["lines"]) == [AGREED] and contract["line_changes"] == []
    (agreed_line,) = contract["lines"]

    stale = change(call, contract_id, "stale", version=contract["version"] - 1)
    assert stale.status == 409, stale
    assert stale.json()["details"]["version"] == contract["version"]
    assert call("GET", f"/billing-accounts/{account_id}").json()["changes"] == []

    changed = change(call, contract_id, "k1", version=contract["version"])
    assert changed.status == 201, changed
    after = call("GET", f"/contracts/{contract_id}").json()
    assert items(after["lines"]) == [CURRENT]
    assert after["lines"][0]["line_id"] == agreed_line["line_id"]  # the line goes on
    assert after["version"] == contract["version"] + 1
    (history,) = after["line_changes"]
    assert (history["change"], history["change_id"], history["effective_date"]) == (
        1,
        "c1",
        "2026-11-28",
    )
    assert history["quantities"] == {"PLAN-30D": 2, "OPT-DOWNLOAD": 2, "OPT-AI-COUNT": 2}
    assert history["previous"] == {"PLAN-30D": 3, "OPT-DOWNLOAD": 3, "OPT-AI-COUNT": 0}
    assert history["lines_before"] == [agreed_line]  # what was agreed, still readable
    assert (history["by"], history["reason"], history["unplaced"]) == (
        "tanaka",
        CHANGE["reason"],
        {},
    )
    assert history["version"] == after["version"]
    assert after["document"] == contract["document"]  # the priced items as agreed

    replayed = change(call, contract_id, "k1", version=contract["version"])
    assert replayed.status == 201 and replayed.json() == changed.json()
    assert call("GET", f"/contracts/{contract_id}").json() == after

    # the renewal quote starts from the lines as they are now (no devices: the customer has them)
    detail = {
        "renewal_id": "renewal_lines",
        "contract_id": contract_id,
        "term_end": after["end_date"],
        "term_months": after["term_months"],
    }
    with cloud.as_function("renewal-quotes"):
        assert quote_service.on_renewal_due(detail) == "created"
    quote_id = quote_service.renewal_quote_id("renewal_lines")
    renewal = call("GET", f"/quotes/{quote_id}").json()
    assert items(renewal["lines"]) == [{**CURRENT, "device_sku": None}]
    priced = {(line["name"], line["quantity"]) for line in renewal["document"]["lines"]}
    assert {("録画プラン 30日", 2), ("映像ダウンロード", 2)} <= priced, priced
    assert any("AI" in name and quantity == 2 for name, quantity in priced), priced


def test_a_change_that_failed_after_billing_is_finished_by_its_retry(
    cloud: EmbeddedAWS, call: Calls, monkeypatch: pytest.MonkeyPatch
):
    contract = started_contract(cloud, call)
    contract_id, account_id = contract["contract_id"], contract["account_id"]
    write_lines = billing_changes.write_lines

    def crash(contract_id: str, account: Any) -> Any:
        raise RuntimeError("the process died after billing the change")

    monkeypatch.setattr(billing_changes, "write_lines", crash)
    with pytest.raises(RuntimeError):  # the invocation fails (API Gateway answers 502)
        change(call, contract_id, "k2")
    assert len(call("GET", f"/billing-accounts/{account_id}").json()["changes"]) == 1
    assert call("GET", f"/contracts/{contract_id}").json()["line_changes"] == []

    monkeypatch.setattr(billing_changes, "write_lines", write_lines)
    retried = change(call, contract_id, "k2")
    assert retried.status == 201, retried
    assert retried.json()["change"]["number"] == 1
    after = call("GET", f"/contracts/{contract_id}").json()
    assert items(after["lines"]) == [CURRENT] and len(after["line_changes"]) == 1
    assert len(call("GET", f"/billing-accounts/{account_id}").json()["changes"]) == 1
