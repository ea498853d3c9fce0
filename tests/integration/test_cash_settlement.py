"""Settlement files on the embedded AWS: Stripe's payout report (made by the fake Stripe from
the payments it took) dropped under inbox/stripe-payouts/ matches each charge, refund and
fee to monosub's payments (gross, fee and net kept), records a payment whose webhook never
came, holds a payout that does not add up, queues rows that match nothing, and feeds the
month's card summary for accounting."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from local.runtime import EmbeddedAWS
from monosub.store import billing as billing_store
from monosub.store import cash as cash_store
from tests.cash_fixtures import a_customer, an_invoice
from tests.sales_flow import Calls


@pytest.fixture
def cloud() -> Iterator[EmbeddedAWS]:
    with EmbeddedAWS(business_time=datetime(2026, 12, 10, 1, 0, tzinfo=UTC)) as embedded:
        yield embedded


@pytest.fixture
def call(cloud: EmbeddedAWS) -> Calls:
    return Calls(cloud)


def pays_by_card(cloud: EmbeddedAWS, call: Calls, account_id: str, total: int) -> str:
    invoice_id = f"inv_{account_id}"
    a_customer(
        cloud,
        account_id,
        "カード払いの顧客",
        [an_invoice(invoice_id, account_id, total, due=date(2026, 12, 31), method="card")],
        payment_method="card",
    )
    link = call("POST", f"/invoices/{invoice_id}/card-payment", groups="ops").json()
    return cloud.stripe.pay_checkout(link["session_id"])


def edited(report: bytes, change) -> bytes:  # type: ignore[no-untyped-def]
    rows = list(csv.DictReader(io.StringIO(report.decode("utf-8"))))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        change(row)
        writer.writerow(row)
    return out.getvalue().encode("utf-8")


def test_a_payout_is_matched_with_its_fees(cloud: EmbeddedAWS, call: Calls):
    first = pays_by_card(cloud, call, "acct_s1", 11000)
    pays_by_card(cloud, call, "acct_s2", 5500)
    cloud.stripe.refund(first, 1000)
    # a payment whose webhook never reached us
    cloud.stripe.on_event = None
    pays_by_card(cloud, call, "acct_s3", 3300)
    cloud.stripe.outbox.clear()
    with cloud.as_function("api"):
        assert billing_store.get_invoice("inv_acct_s3").amount_paid == 0  # type: ignore[union-attr]

    report = cloud.stripe.payout(arrival=date(2026, 12, 14))
    done = cloud.drop("stripe-payouts", "payout-20261214.csv", report)
    assert done["status"] == "succeeded", done
    counts = done["counts"]
    assert (counts["payouts"], counts["matched"], counts["recorded"], counts["unmatched"]) == (
        1,
        3,  # two charges and the refund
        1,  # the charge whose webhook was lost
        0,
    )
    with cloud.as_function("api"):
        [payment] = [p for p in cash_store.account_payments("acct_s1") if p.kind == "payment"]
        assert (payment.fee, payment.net) == (396, 10604)  # 3.6 % of 11,000, floored
        late = billing_store.get_invoice("inv_acct_s3")
        assert late is not None and late.status == "paid"
        [payout_id] = {
            row["automatic_payout_id"] for row in csv.DictReader(io.StringIO(report.decode()))
        }
        matched = cash_store.payout_rows("stripe", payout_id)  # each row kept as matched
    assert sorted(r["status"] for r in matched) == [
        "matched",
        "matched",
        "matched",
        "payout",
        "recorded",
    ]
    summary = call("GET", "/card-payouts", groups="ops", query={"month": "2026-12"}).json()
    [payout] = summary["payouts"]
    assert payout["gross"] == 11000 + 5500 + 3300 - 1000
    assert payout["fee"] == 396 + 198 + 118
    assert payout["net"] == payout["gross"] - payout["fee"]
    key = "outbox/accounting/2026-12/card-payouts-2026-12.csv"
    body = cloud.s3.get_object(Bucket=cloud.names.buckets["exchange"], Key=key)["Body"].read()
    assert f"{payout['net']}".encode() in body

    # the same payout in another file (re-exported, rows in another order): nothing twice
    lines = report.decode().split("\r\n")
    reordered = "\r\n".join([lines[0], *reversed([x for x in lines[1:] if x])]) + "\r\n"
    again = cloud.drop("stripe-payouts", "payout-again.csv", reordered.encode())
    assert again["status"] == "succeeded" and again["counts"]["already"] == 1


def test_a_payout_that_does_not_add_up_is_held_and_bad_rows_quarantine(
    cloud: EmbeddedAWS, call: Calls
):
    pays_by_card(cloud, call, "acct_s4", 22000)
    report = cloud.stripe.payout(arrival=date(2026, 12, 14))

    def short(row: dict[str, str]) -> None:
        if row["reporting_category"] == "payout":
            row["gross"] = row["net"] = str(int(row["net"]) + 100)

    held = cloud.drop("stripe-payouts", "short.csv", edited(report, short))
    assert held["status"] == "succeeded" and held["counts"]["held"] == 1
    [exception] = call(
        "GET", "/exceptions", groups="ops", query={"kind": "payout-mismatch"}
    ).json()["exceptions"]
    assert "held" in exception["reason"]
    with cloud.as_function("api"):
        [payment] = cash_store.account_payments("acct_s4")
    assert payment.fee is None  # nothing of the payout applied

    def broken(row: dict[str, str]) -> None:
        if row["reporting_category"] == "charge":
            row["net"] = str(int(row["net"]) - 1)

    bad = cloud.drop("stripe-payouts", "broken.csv", edited(report, broken))
    assert bad["status"] == "quarantined"
    assert bad["errors"][0]["line"] == 2

    def stranger(row: dict[str, str]) -> None:
        if row["reporting_category"] == "charge":
            row["payment_intent_id"] = "pi_someone_else"
            row["payment_metadata[monosub_invoice_id]"] = ""

    queued = cloud.drop("stripe-payouts", "stranger.csv", edited(report, stranger))
    assert queued["counts"]["unmatched"] == 1
    kinds = [e["kind"] for e in call("GET", "/exceptions", groups="ops").json()["exceptions"]]
    assert sorted(kinds) == ["payment-unmatched", "payout-mismatch"]


def test_another_providers_file_is_mapped_by_data(cloud: EmbeddedAWS):
    """A Japanese PSP's cp932 file (its columns mapped in settlement_providers.json): no
    webhooks from it, so each charge is recorded from the file, against the 注文番号 (our
    invoice id) it echoes."""
    from monosub.formats.settlement import SettlementRow, provider_mappings, write_settlement

    for n, total in ((1, 5500), (2, 3300)):
        a_customer(
            cloud,
            f"acct_psp{n}",
            "コンビニ払いの顧客",
            [an_invoice(f"inv_psp{n}", f"acct_psp{n}", total, due=date(2026, 12, 31))],
        )
    paid_on = date(2026, 12, 15)
    created = datetime(2026, 12, 10, 3, 0, tzinfo=UTC)

    def row(n: int, transaction: str, category: str, gross: int, fee: int, *, ref: str | None):  # type: ignore[no-untyped-def]
        return SettlementRow(
            line=n,
            payout_id="psp:2026-12-15",
            payout_date=paid_on,
            transaction_id=transaction,
            created=created,
            currency="jpy",
            gross=gross,
            fee=fee,
            net=gross - fee,
            category=category,
            invoice_ref=ref,  # type: ignore[arg-type]
        )

    mapping = provider_mappings()["settlement-example-psp"]
    body = write_settlement(
        [
            row(2, "T0001", "charge", 5500, 165, ref="inv_psp1"),
            row(3, "T0002", "charge", 3300, 99, ref="inv_psp2"),
            row(4, "T0003", "payout", -8536, 0, ref=None),
        ],
        mapping,
    )
    body.decode("cp932")  # the provider's encoding
    done = cloud.drop("settlement-example-psp", "nyukin-20261215.csv", body)
    assert done["status"] == "succeeded", done
    assert (done["counts"]["recorded"], done["counts"]["held"]) == (2, 0)
    with cloud.as_function("api"):
        first = billing_store.get_invoice("inv_psp1")
        [payment] = cash_store.account_payments("acct_psp1")
    assert first is not None and first.status == "paid"
    assert (payment.provider, payment.fee, payment.net) == ("example-psp", 165, 5335)
