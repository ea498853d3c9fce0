"""Payments applied to invoices on the embedded AWS: once per provider transaction however
often it is seen, partial and over-payments, refunds reopening an invoice, the open-items
index, customer credit, concurrent appliers, and the exceptions queue through the HTTP API
(an unmatched payment applied by ops, once, audited)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from local.runtime import EmbeddedAWS
from monosub.models.cash import Allocation
from monosub.services import payments
from monosub.services.payments import Received
from monosub.store import billing as billing_store
from monosub.store import cash as cash_store
from tests.cash_fixtures import a_customer, an_invoice
from tests.sales_flow import Calls, trail

DUE = date(2026, 12, 31)


@pytest.fixture
def cloud() -> Iterator[EmbeddedAWS]:
    with EmbeddedAWS(business_time=datetime(2026, 12, 10, 1, 0, tzinfo=UTC)) as embedded:
        yield embedded


@pytest.fixture
def call(cloud: EmbeddedAWS) -> Calls:
    return Calls(cloud)


def transfer(reference: str, amount: int, **values: object) -> Received:
    return Received(
        provider="bank",
        reference=reference,
        method="bank-transfer",
        amount=amount,
        received_on=date(2026, 12, 10),
        source="test",
        **values,  # type: ignore[arg-type]
    )


def open_ids(cloud: EmbeddedAWS, method: str = "bank-transfer") -> list[str]:
    with cloud.as_function("api"):
        return [i.invoice_id for page in billing_store.open_invoices(method) for i in page]


def invoice(cloud: EmbeddedAWS, invoice_id: str):  # type: ignore[no-untyped-def]
    with cloud.as_function("api"):
        return billing_store.get_invoice(invoice_id)


def test_a_payment_is_applied_once_however_often_it_is_seen(cloud: EmbeddedAWS):
    [first, second] = a_customer(
        cloud,
        "acct_a",
        "株式会社エー",
        [
            an_invoice("inv_a1", "acct_a", 11000, due=DUE),
            an_invoice("inv_a2", "acct_a", 5500, due=DUE),
        ],
    )
    assert first.status == "finalized" and first.number == "INV-2026-000001"
    assert open_ids(cloud) == ["inv_a1", "inv_a2"]

    with cloud.as_function("api"):
        [done] = payments.record([transfer("T1", 11000, invoice_id="inv_a1")])
        assert done.new and done.paid == ["inv_a1"]
        for _ in range(3):  # the same transaction seen again: nothing more
            [again] = payments.record([transfer("T1", 11000, invoice_id="inv_a1")])
            assert not again.new and again.paid == []
    paid = invoice(cloud, "inv_a1")
    assert (paid.status, paid.amount_paid, paid.paid_at is not None) == ("paid", 11000, True)
    assert open_ids(cloud) == ["inv_a2"]
    events = [e["type"] for e in trail(cloud, "invoice", "inv_a1")]
    assert events.count("InvoicePaid") == 1

    # partial, then the rest plus more: paid, and the extra kept as credit
    with cloud.as_function("api"):
        payments.record([transfer("T2", 2000, invoice_id="inv_a2")])
        assert invoice(cloud, "inv_a2").status == "finalized"
        assert open_ids(cloud) == ["inv_a2"]
        [over] = payments.record([transfer("T3", 5000, invoice_id="inv_a2")])
        assert over.payment.allocations == [Allocation(invoice_id="inv_a2", amount=3500)]
        assert over.payment.credit == 1500
        assert cash_store.get_credit("acct_a").balance == 1500
        payments.record([transfer("T3", 5000, invoice_id="inv_a2")])
        assert cash_store.get_credit("acct_a").balance == 1500  # once
    assert invoice(cloud, "inv_a2").amount_paid == 5500
    assert open_ids(cloud) == []
    assert second.total == 5500


def test_a_refund_reopens_the_invoice_and_a_void_is_refused_while_paid(
    cloud: EmbeddedAWS, call: Calls
):
    a_customer(cloud, "acct_b", "ビー商店", [an_invoice("inv_b1", "acct_b", 3300, due=DUE)])
    with cloud.as_function("api"):
        payments.record([transfer("P1", 3300, invoice_id="inv_b1")])
    refused = call(
        "POST",
        "/invoices/inv_b1/void",
        {"reason": "誤請求"},
        groups="ops",
        headers={"Idempotency-Key": "v1"},
    )
    assert refused.status == 409, refused
    assert "paid" in refused.json()["message"]

    with cloud.as_function("api"):
        [refund] = payments.record(
            [
                transfer(
                    "R1",
                    -1000,
                    invoice_id="inv_b1",
                    kind="refund",
                    related_payment_id=payments.payment_id("bank", "P1"),
                )
            ]
        )
    assert refund.reopened == ["inv_b1"]
    reopened = invoice(cloud, "inv_b1")
    assert (reopened.status, reopened.amount_paid, reopened.balance) == ("finalized", 2300, 1000)
    assert open_ids(cloud) == ["inv_b1"]
    listed = call("GET", "/billing-accounts/acct_b/payments").json()
    assert [p["amount"] for p in listed["payments"]] == [-1000, 3300] or sorted(
        p["amount"] for p in listed["payments"]
    ) == [-1000, 3300]
    assert listed["credit"] == 0


def test_a_transfer_over_several_invoices_pays_the_oldest_first(cloud: EmbeddedAWS):
    invoices = a_customer(
        cloud,
        "acct_c",
        "シー工業",
        [
            an_invoice("inv_c1", "acct_c", 1100, due=date(2026, 11, 30)),
            an_invoice("inv_c2", "acct_c", 2200, due=date(2026, 12, 31)),
            an_invoice("inv_c3", "acct_c", 3300, due=date(2027, 1, 31)),
        ],
    )
    assert payments.allocate_oldest_first(invoices, 2200) == [
        Allocation(invoice_id="inv_c2", amount=2200)  # an exact match wins
    ]
    allocations = payments.allocate_oldest_first(invoices, 2500)
    assert allocations == [
        Allocation(invoice_id="inv_c1", amount=1100),
        Allocation(invoice_id="inv_c2", amount=1400),
    ]
    with cloud.as_function("api"):
        [done] = payments.record(
            [transfer("M1", 2500, account_id="acct_c", allocations=tuple(allocations))]
        )
    assert done.paid == ["inv_c1"] and done.payment.credit == 0
    assert invoice(cloud, "inv_c2").balance == 800
    assert open_ids(cloud) == ["inv_c2", "inv_c3"]


def test_twenty_appliers_at_once_apply_a_payment_once(cloud: EmbeddedAWS):
    a_customer(cloud, "acct_d", "ディー", [an_invoice("inv_d1", "acct_d", 1100, due=DUE)])
    errors: list[BaseException] = []

    def apply() -> None:
        try:
            with cloud.as_function("api"):
                payments.record([transfer("D1", 1100, invoice_id="inv_d1")])
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=apply) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    paid = invoice(cloud, "inv_d1")
    assert (paid.amount_paid, paid.payments, paid.status) == (
        1100,
        [payments.payment_id("bank", "D1")],
        "paid",
    )


def test_an_unmatched_payment_waits_for_ops_who_apply_it_once(cloud: EmbeddedAWS, call: Calls):
    a_customer(cloud, "acct_e", "イー物産", [an_invoice("inv_e1", "acct_e", 4400, due=DUE)])
    stray = transfer("X1", 4400, payer="ｲ-ﾌﾞｯｻﾝ")
    with cloud.as_function("api"):
        with pytest.raises(payments.UnknownInvoice):
            payments.record([transfer("X0", 10, invoice_id="inv_nope")])
        assert payments.raise_unmatched(stray, reason="no customer pays under this name")
        assert not payments.raise_unmatched(stray, reason="seen again")  # queued once
    from local import ops_page

    assert "no customer pays under this name" in ops_page.render(cloud)  # the local ops page
    assert call("GET", "/exceptions").status == 403  # sales: ops only
    listed = call("GET", "/exceptions", groups="ops").json()["exceptions"]
    [queued] = listed
    assert (queued["kind"], queued["amount"], queued["actions"]) == (
        "payment-unmatched",
        4400,
        ["apply", "reject"],
    )
    path = f"/exceptions/{queued['exception_id']}/resolve"
    wrong = call("POST", path, {"action": "apply", "version": 1, "note": "x"}, groups="ops")
    assert wrong.status == 400 and "invoice" in wrong.json()["message"]
    unknown = call("POST", path, {"action": "refund", "version": 1, "note": "x"}, groups="ops")
    assert unknown.status == 400
    done = call(
        "POST",
        path,
        {"action": "apply", "version": 1, "invoice_id": "inv_e1", "note": "電話で確認"},
        groups="ops",
        user="ops-sato",
    )
    assert done.status == 200, done
    body = done.json()
    assert (body["status"], body["resolved_by"], body["resolution"]["allocated"]) == (
        "resolved",
        "ops-sato",
        4400,
    )
    assert invoice(cloud, "inv_e1").status == "paid"
    again = call(
        "POST",
        path,
        {"action": "apply", "version": 2, "invoice_id": "inv_e1", "note": "again"},
        groups="ops",
    )
    assert again.status == 409
    assert call("GET", "/exceptions", groups="ops").json()["exceptions"] == []
    resolved = call("GET", "/exceptions", groups="ops", query={"status": "resolved"}).json()
    assert len(resolved["exceptions"]) == 1
    kinds = [e["type"] for e in trail(cloud, "exception", queued["exception_id"])]
    assert sorted(kinds) == ["ExceptionRaised", "ExceptionResolved"]  # same business instant


def test_two_payments_of_one_invoice_in_one_batch_both_count(cloud: EmbeddedAWS):
    a_customer(cloud, "acct_f", "エフ", [an_invoice("inv_f1", "acct_f", 3300, due=DUE)])
    with cloud.as_function("api"):
        done = payments.record(
            [transfer("F1", 1000, invoice_id="inv_f1"), transfer("F2", 2300, invoice_id="inv_f1")]
        )
    assert [r.payment.credit for r in done] == [0, 0]
    assert (invoice(cloud, "inv_f1").amount_paid, done[1].paid) == (3300, ["inv_f1"])
