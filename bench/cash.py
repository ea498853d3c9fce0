"""Cash figures for ``make bench``: the file parsers alone (100,000 rows, streaming) and each
cash file applied on the embedded AWS with every request counted (``bench.billing``'s meter).

Cases (each in its own process, one JSON object printed):

- ``debit N``: N open direct-debit invoices → the ``direct-debit`` run (request file written
  and sent to the local SFTP server) → the bank's result file (all debited) dropped and
  applied: requests per invoice of each step.
- ``settlement N``: N card payments recorded (as their webhooks would) → Stripe's payout report
  of N charges dropped and matched: requests per row.

moto's seconds are not AWS's; the requests per row carry over.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, date, datetime
from typing import Any

from bench.billing import install_meter, peak_rss_mib, run_module_case

DEBIT_DATE = date(2026, 12, 28)
REQUEST_MOMENT = datetime(2026, 12, 20, 18, 30, tzinfo=UTC)  # 21 Dec 03:30 in Tokyo


def _invoices(cloud: Any, count: int, method: str) -> list[Any]:
    """``count`` finalized invoices (and their billing accounts), written in batches."""
    from monosub.models.billing import BillingAccount, DebitAccount
    from monosub.store import billing as billing_store
    from monosub.store.billing import _account_item, _invoice_item
    from tests.cash_fixtures import CREATED, an_invoice

    invoices = []
    accounts = []
    for n in range(count):
        account_id = f"acct_bench{n:06d}"
        invoice = an_invoice(
            f"inv_bench{n:06d}", account_id, 1100 * (1 + n % 9), due=DEBIT_DATE, method=method
        ).model_copy(update={"status": "finalized", "number": f"INV-2026-{n + 1:06d}"})
        invoices.append(invoice)
        accounts.append(
            BillingAccount(
                account_id=account_id,
                name=f"ベンチ{n}",
                email=f"{account_id}@example.jp",
                customer_number=account_id.upper(),
                payment_method=method,
                debit_account=DebitAccount(
                    bank_code="0009",
                    branch_code="456",
                    account_number=f"{n % 10_000_000:07d}",
                    holder_name="ベンチ タロウ",
                ),
                created_at=CREATED,
                updated_at=CREATED,
            )
        )
    with cloud.as_function("api"):
        table = billing_store._table
        table.batch_put([_account_item(a) for a in accounts])
        table.batch_put([_invoice_item(i) for i in invoices])
    return invoices


def _per(meter: Any, count: int) -> dict[str, Any]:
    # the bench's own polling (ListExecutions) and the runtime's clock reads are left out
    calls = {
        k: v for k, v in meter.calls.items() if not k.startswith(("ssm.", "lambda.", "states."))
    }
    total = sum(v for k, v in calls.items() if k.startswith("dynamodb."))
    audit = meter.items_written.get("subject", 0)  # the event journal's audit items
    return {
        "requests": dict(sorted(calls.items())),
        "items_written_by_kind": dict(sorted(meter.items_written.items())),
        "dynamodb_requests_per_row": round(total / count, 3),
        "dynamodb_requests_per_row_without_audit_trail": round((total - audit) / count, 3),
        "write_units_per_row": round(sum(meter.write_units.values()) / count, 2),
    }


def debit_case(count: int) -> dict[str, Any]:
    from dataclasses import replace

    from local.runtime import EmbeddedAWS
    from monosub.formats import zengin_debit

    with EmbeddedAWS(business_time=datetime(2026, 12, 20, 1, 0, tzinfo=UTC)) as cloud:
        _invoices(cloud, count, "direct-debit")
        meter = install_meter(cloud)
        meter.reset()
        began = time.perf_counter()
        cloud.set_clock(REQUEST_MOMENT, only=("direct-debit",))
        cloud.wait_for_executions(timeout=3600)
        request_seconds = time.perf_counter() - began
        request_figures = _per(meter, count)
        [(_, content)] = cloud.bank_sftp.received().items()
        request = zengin_debit.read_debit_file(content, result=False)
        result = zengin_debit.write_debit_file(
            request.header, [replace(r, result_code="0") for r in request.records], result=True
        )
        meter.reset()
        began = time.perf_counter()
        run = cloud.drop("zengin-debit-result", "result.txt", result, timeout=3600)
        result_seconds = time.perf_counter() - began
        return {
            "invoices": count,
            "request_run_seconds": round(request_seconds, 1),
            "request_run": request_figures,
            "result_file_bytes": len(result),
            "result_status": run["status"],
            "result_apply_seconds": round(result_seconds, 1),
            "result_rows_per_second": round(count / result_seconds, 1),
            "result_apply": _per(meter, count),
            "peak_rss_mib": round(peak_rss_mib(), 1),
        }


def settlement_case(count: int) -> dict[str, Any]:
    from local.runtime import EmbeddedAWS
    from monosub.services import payments

    with EmbeddedAWS(business_time=datetime(2026, 12, 20, 1, 0, tzinfo=UTC)) as cloud:
        invoices = _invoices(cloud, count, "card")
        fake = cloud.stripe
        fake.on_event = None  # the payments below stand for their webhooks
        intents = []
        with fake._lock:
            for invoice in invoices:
                intent = fake._new_intent(
                    amount=invoice.total,
                    currency="jpy",
                    metadata={"monosub_invoice_id": invoice.invoice_id},
                    description=None,
                    customer=None,
                )
                fake._succeed(intent)
                intents.append((invoice, intent["id"]))
        with cloud.as_function("stripe-webhook"):
            for start in range(0, count, 100):
                payments.record(
                    [
                        payments.Received(
                            provider="stripe",
                            reference=intent,
                            method="card",
                            amount=invoice.total,
                            received_on=date(2026, 12, 20),
                            source="bench",
                            invoice_id=invoice.invoice_id,
                        )
                        for invoice, intent in intents[start : start + 100]
                    ]
                )
        report = fake.payout(arrival=date(2026, 12, 24))
        meter = install_meter(cloud)
        meter.reset()
        began = time.perf_counter()
        run = cloud.drop("stripe-payouts", "payout.csv", report, timeout=3600)
        seconds = time.perf_counter() - began
        return {
            "rows": count,
            "file_bytes": len(report),
            "status": run["status"],
            "counts": run["counts"],
            "apply_seconds": round(seconds, 1),
            "rows_per_second": round(count / seconds, 1),
            "apply": _per(meter, count),
            "peak_rss_mib": round(peak_rss_mib(), 1),
        }


def cases(results: dict[str, Any], rows: int) -> None:
    """The cash cases for ``make bench``, each in its own process."""
    results["cash_parse_settlement_100000_rows"] = run_module_case(
        "bench.formats_settlement", "--one", "100000"
    )
    results["cash_parse_debit_result_100000_records"] = run_module_case(
        "bench.formats_zengin", "--case", "100000"
    )
    results[f"cash_debit_{rows}_invoices"] = run_module_case("bench.cash", "debit", str(rows))
    results[f"cash_settlement_{rows}_rows"] = run_module_case("bench.cash", "settlement", str(rows))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cash")
    parser.add_argument("case", choices=("debit", "settlement"))
    parser.add_argument("count", nargs="?", type=int, default=2000)
    args = parser.parse_args(argv)
    from local.cli import prepare_process

    prepare_process()
    result = debit_case(args.count) if args.case == "debit" else settlement_case(args.count)
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
