"""The contract's monthly total after a change, for each of its readers (moto, the tables and
the API handler; the 契約書 PDF stubbed): billing set it below the agreed one; the contract,
the expiring dashboard, the renewal request and an automatic renewal (its term and event)
carry what is billed, the agreed total stays beside it; an accepted renewal quote is a new
agreement and its total is billed again."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest

from monosub import clock, config
from monosub.documents import storage
from monosub.models.contracts import Contract
from monosub.services import contracts as service
from monosub.store import contracts as store
from tests.conftest import set_clock
from tests.priced_quotes import deal_lines, priced_quote, renewal_of

AGREED = "2026-11-10T03:00:00Z"


@pytest.fixture
def call(api: Any, aws_storage: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """Run a service function as the API function would; the 契約書 PDF not rendered."""

    def stored_pdf(kind: str, document: Any, key: str) -> storage.StoredDocument:
        body = json.dumps(document.model_dump(mode="json"), sort_keys=True).encode()
        return storage.StoredDocument(key=key, sha256=hashlib.sha256(body).hexdigest(), size=9)

    monkeypatch.setattr(storage, "store_pdf", stored_pdf)
    set_clock(aws_storage, AGREED)

    def run(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with config.function_environment(api.environment):
            clock.begin_invocation()
            return function(*args, **kwargs)

    return run


def changed(call: Callable[..., Any], *, term_months: int) -> tuple[Contract, int]:
    """A contract started on 2026-11-20, then billed less after a change (what
    ``billing_changes.write_lines`` sets): the contract and its agreed total."""
    made = call(
        service.create_from_quote,
        priced_quote(term_months=term_months, lines=deal_lines(cameras=3)),
        agreed_at=AGREED,
        consent_id="consent_test",
        document_sha256="ab" * 32,
    )
    contract = call(service.start, made.contract_id, dt.date(2026, 11, 20), by="shipping")
    agreed = contract.monthly_total
    assert agreed == contract.agreed_monthly_total == contract.document.monthly_total
    billed = contract.model_copy(
        update={"monthly_total": agreed - 1000, "version": contract.version + 1}
    )
    call(store.save, billed, expected_version=contract.version, expected_status="active")
    return billed, agreed


def test_what_is_billed_is_shown_and_renews_automatically(api, call, published):
    contract, agreed = changed(call, term_months=1)  # ends 12-19, notice 11-19
    billed = agreed - 1000
    shown = api("GET", f"/contracts/{contract.contract_id}").json()
    assert (shown["monthly_total"], shown["agreed_monthly_total"]) == (billed, agreed)
    dashboard = api("GET", "/contracts/expiring", query={"within_days": "60"}).json()
    assert [c["monthly_amount"] for c in dashboard["contracts"]] == [billed]

    published.clear()
    call(service.run_renewals, dt.date(2026, 11, 20))
    assert [d["monthly_total"] for _, kind, d in published if kind == "RenewalQuoteDue"] == [billed]
    published.clear()
    call(service.run_renewals, dt.date(2026, 12, 20))  # nobody accepted: it renews by itself
    renewed = call(service.get_contract, contract.contract_id)
    assert (renewed.monthly_total, renewed.agreed_monthly_total) == (billed, agreed)
    assert renewed.terms[1].automatic and renewed.terms[1].monthly_total == billed
    assert [d["monthly_total"] for _, kind, d in published if kind == "ContractRenewed"] == [billed]


def test_an_accepted_renewal_quote_is_billed_as_agreed_again(api, call, published):
    contract, agreed = changed(call, term_months=12)
    quote = renewal_of(
        contract, quote_date=dt.date(2027, 10, 1), lines=deal_lines(cameras=2), version=2
    )
    assert quote.monthly_total not in (agreed, agreed - 1000)
    published.clear()
    renewed = call(
        service.renew_from_quote,
        quote,
        agreed_at="2027-10-05T01:00:00Z",
        consent_id="consent_r",
        document_sha256="ef" * 32,
    )
    assert renewed.monthly_total == renewed.agreed_monthly_total == quote.monthly_total
    assert [d["monthly_total"] for _, kind, d in published if kind == "ContractRenewed"] == [
        quote.monthly_total
    ]
    shown = api("GET", f"/contracts/{contract.contract_id}").json()
    assert shown["monthly_total"] == shown["agreed_monthly_total"] == quote.monthly_total
