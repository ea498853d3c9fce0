"""Payment-provider settlement files (入金明細): each payout's balance transactions matched to
our payments and invoices, with gross, fee and net (docs/cash.md#settlement).

Per payout in a file, applied whole or held:

- The payout must add up: the sum of its transactions' net equals the amount paid out (the
  payout's own row), or the whole payout is held as a ``payout-mismatch`` exception and
  nothing of it is applied. A payout seen before with the same rows is skipped; with other
  rows it is held (``payout-conflict``): a provider never changes a paid-out payout.
- A charge is matched to its payment by the payment intent (the webhook recorded it); if the
  webhook never came, the payment is recorded from the row when the row names our invoice
  (metadata), else the row waits in the exceptions queue. Refunds and disputes (negative)
  are matched to the payment they give back from. The provider's fee is recorded on the
  payment (gross, fee, net).
- The payout's rows, as matched, are kept packed with it (``PAYOUT#...``), then its totals;
  the totals are written last, so a payout with totals is applied, and a retried apply
  rewrites the same rows.

Reads: one batch read of the payments per 100 rows (no query per row); writes: a row chunk per
1,000 rows, the totals, and one update per matched charge (its fee).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from monosub import aws, clock, config, events
from monosub.formats import csv_export
from monosub.formats.settlement import PayoutCheck, SettlementRow, payout_totals
from monosub.models.cash import Payment
from monosub.names import EXCHANGE
from monosub.services import exceptions, payments
from monosub.services.payments import Received
from monosub.store import billing as billing_store
from monosub.store import cash as store

SOURCE = "monosub.cash"
MISMATCH = "payout-mismatch"
CONFLICT = "payout-conflict"
MONEY_IN = ("charge",)
MONEY_BACK = ("refund", "dispute", "dispute_reversal")
SUMMARY_PREFIX = "outbox/accounting"


def provider_of(kind: str) -> str:
    """``stripe-payouts`` → ``stripe``; ``settlement-<provider>`` → ``<provider>``."""
    return "stripe" if kind == "stripe-payouts" else kind.removeprefix("settlement-")


def _fingerprint(rows: Sequence[SettlementRow]) -> str:
    text = json.dumps(sorted((r.transaction_id, r.category, r.gross, r.fee, r.net) for r in rows))
    return hashlib.sha256(text.encode()).hexdigest()


def apply(
    rows: Sequence[SettlementRow], *, provider: str, run_id: str, file_key: str
) -> dict[str, int]:
    by_payout: dict[str, list[SettlementRow]] = {}
    for row in rows:
        by_payout.setdefault(row.payout_id, []).append(row)
    checks = payout_totals(rows)
    counts = {
        "payouts": 0,
        "held": 0,
        "already": 0,
        "matched": 0,
        "recorded": 0,
        "unmatched": 0,
        "fees": 0,
    }
    applied_months: set[str] = set()
    applied = store.get_payouts(provider, sorted(by_payout))
    for payout_id, payout_rows in by_payout.items():
        check = checks[payout_id]
        fingerprint = _fingerprint(payout_rows)
        known = applied.get(payout_id)
        if known is not None:
            if known.get("fingerprint") == fingerprint:
                counts["already"] += 1
            else:
                _hold(
                    CONFLICT,
                    provider,
                    payout_id=payout_id,
                    check=check,
                    run_id=run_id,
                    file_key=file_key,
                    reason="the payout was applied before with other transactions",
                )
                counts["held"] += 1
            continue
        if check.agrees is False:
            _hold(
                MISMATCH,
                provider,
                payout_id=payout_id,
                check=check,
                run_id=run_id,
                file_key=file_key,
                reason=f"its transactions settle ¥{check.net:,} but "
                f"¥{check.payout_amount:,} was paid out",
            )
            counts["held"] += 1
            continue
        matched = _match(payout_rows, provider=provider, run_id=run_id)
        for status in ("matched", "recorded", "unmatched", "fees"):
            counts[status] += sum(1 for m in matched if m["status"] == status)
        store.put_payout_rows(provider, payout_id, matched)
        store.put_payout(
            provider,
            payout_id,
            {
                "payout_date": check.payout_date.isoformat(),
                "rows": check.rows,
                "gross": check.gross,
                "fee": check.fee,
                "net": check.net,
                "paid_out": check.payout_amount,
                "fingerprint": fingerprint,
                "run_id": run_id,
                "file": file_key,
                "applied_at": clock.now_iso(),
            },
        )
        counts["payouts"] += 1
        applied_months.add(check.payout_date.isoformat()[:7])
        events.publish_all(
            None,
            [
                (
                    SOURCE,
                    "PayoutSettled",
                    {
                        "run_id": run_id,
                        "provider": provider,
                        "payout_id": payout_id,
                        "gross": check.gross,
                        "fee": check.fee,
                        "net": check.net,
                    },
                )
            ],
        )
    for month in sorted(applied_months):
        write_card_summary(month)
    return counts


def _hold(
    kind: str,
    provider: str,
    *,
    payout_id: str,
    check: PayoutCheck,
    run_id: str,
    file_key: str,
    reason: str,
) -> None:
    exceptions.raise_exception(
        kind=kind,
        channel="card",
        source=run_id,
        reference=f"{provider}:{payout_id}:{file_key}",
        reason=f"payout {payout_id} is held: {reason}",
        original={"file": file_key, "payout_id": payout_id},
        details={
            "rows": check.rows,
            "gross": check.gross,
            "fee": check.fee,
            "net": check.net,
            "paid_out": check.payout_amount,
        },
        amount=check.net,
    )


def _match(rows: Sequence[SettlementRow], *, provider: str, run_id: str) -> list[dict[str, Any]]:
    """Each row with what it was matched to."""
    intents = {r.payment_intent_id for r in rows if r.payment_intent_id}
    ids = {payments.payment_id(provider, intent): intent for intent in sorted(intents)}
    # one batch read per 100 payments (get_payments pages the keys)
    known = {ids[pid]: found for pid, found in store.get_payments(list(ids)).items()}
    missing_invoices = {
        r.invoice_ref
        for r in rows
        if r.category in MONEY_IN and r.payment_intent_id not in known and r.invoice_ref
    }
    invoices = billing_store.get_invoices(sorted(missing_invoices)) if missing_invoices else {}
    to_record: list[Received] = []
    matched: list[dict[str, Any]] = []
    for row in rows:
        entry: dict[str, Any] = {
            "transaction_id": row.transaction_id,
            "category": row.category,
            "gross": row.gross,
            "fee": row.fee,
            "net": row.net,
            "payment_intent_id": row.payment_intent_id,
        }
        payment: Payment | None = known.get(row.payment_intent_id or "")
        if row.category == "payout":
            entry["status"] = "payout"
        elif row.category not in MONEY_IN + MONEY_BACK:
            entry["status"] = "fees"
        elif payment is not None:
            entry.update(
                status="matched", payment_id=payment.payment_id, invoice_id=_invoice_of(payment)
            )
            if row.category in MONEY_IN:
                store.set_settlement(
                    payment.payment_id, fee=row.fee, net=row.net, payout_id=row.payout_id
                )
        elif row.category in MONEY_IN and row.invoice_ref in invoices:
            item = Received(
                provider=provider,
                reference=row.payment_intent_id or row.transaction_id,
                method="card",
                amount=row.gross,
                received_on=row.created.astimezone(clock.TOKYO).date(),
                source=run_id,
                invoice_id=row.invoice_ref,
                fee=row.fee,
                net=row.net,
                payout_id=row.payout_id,
                note="recorded from the settlement file (no webhook received)",
            )
            to_record.append(item)
            entry.update(status="recorded", payment_id=item.payment_id, invoice_id=row.invoice_ref)
        else:
            entry["status"] = "unmatched"
            payments.raise_unmatched(
                Received(
                    provider=provider,
                    reference=row.payment_intent_id or row.transaction_id,
                    method="card",
                    amount=row.gross,
                    received_on=row.created.astimezone(clock.TOKYO).date(),
                    source=run_id,
                    kind="payment" if row.category in MONEY_IN else "refund",
                    fee=row.fee,
                    net=row.net,
                    payout_id=row.payout_id,
                ),
                reason=f"settlement row {row.transaction_id} ({row.category}) matches no "
                "payment or invoice in monosub",
                details={"line": row.line, "invoice_ref": row.invoice_ref},
            )
        matched.append(entry)
    for start in range(0, len(to_record), 100):
        payments.record(to_record[start : start + 100])
    return matched


def _invoice_of(payment: Any) -> str | None:
    return payment.allocations[0].invoice_id if payment.allocations else None


def card_summary(month: str) -> dict[str, Any]:
    """The month's payouts with their gross, fee and net (what accounting books)."""
    payouts = sorted(store.payouts_of_month(month), key=lambda p: (p["payout_date"], p["pk"]))
    rows = [
        {
            "provider": str(p["provider"]),
            "payout_id": str(p["payout_id"]),
            "payout_date": str(p["payout_date"]),
            "transactions": int(p["rows"]),
            "gross": int(p["gross"]),
            "fee": int(p["fee"]),
            "net": int(p["net"]),
        }
        for p in payouts
    ]
    return {
        "month": month,
        "payouts": rows,
        "gross": sum(r["gross"] for r in rows),
        "fee": sum(r["fee"] for r in rows),
        "net": sum(r["net"] for r in rows),
    }


SUMMARY_COLUMNS = (
    ("payout_date", "入金日"),
    ("provider", "決済代行"),
    ("payout_id", "入金ID"),
    ("transactions", "件数"),
    ("gross", "売上金額"),
    ("fee", "決済手数料"),
    ("net", "入金額"),
)


def write_card_summary(month: str) -> str:
    """The month's card summary as CSV for accounting (``outbox/accounting/<month>/``),
    rewritten whole from the stored payouts after each payout: the same payouts always make
    the same bytes. Returns its key."""
    summary = card_summary(month)
    lines = [csv_export.line([label for _, label in SUMMARY_COLUMNS])]
    for row in summary["payouts"]:
        lines.append(csv_export.line([row[name] for name, _ in SUMMARY_COLUMNS]))
    lines.append(
        csv_export.line(
            [
                "合計",
                "",
                "",
                sum(r["transactions"] for r in summary["payouts"]),
                summary["gross"],
                summary["fee"],
                summary["net"],
            ]
        )
    )
    key = f"{SUMMARY_PREFIX}/{month}/card-payouts-{month}.csv"
    aws.client("s3").put_object(
        Bucket=config.bucket_name(EXCHANGE),
        Key=key,
        Body="".join(lines).encode("utf-8-sig"),
        ContentType="text/csv; charset=utf-8",
    )
    return key
