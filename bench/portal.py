"""Customer-portal figures for ``make bench``: ``GET /me/invoices`` for an account with 36
invoices among many stored invoices, through the API handler on the embedded AWS.

    python -m bench.portal invoices [--stored 20000] [--calls 20]   (``--stored 1000000``: the
    issue's figure; ≈1.5 GiB and a few minutes to write, ≈10 s per call on moto)

Stored invoices are written with BatchWriteItem (25 a call), issued ones only (the index is
sparse: drafts are not in it), spread over 50,000 accounts. Each call is timed in process
(the handler, as the Lambda would run it) and its requests are counted on the shared
clients: it must be one DynamoDB ``Query`` and no ``Scan``, whatever the table holds; the
presigned PDF links are signed locally (no request). moto's query reads the whole table
(``../shared/notes/embedded-aws.md``), so its latency grows with the table where DynamoDB's
does not: the AWS figure is on paper in docs/customer-portal.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from datetime import UTC, date, datetime
from typing import Any

from bench.billing import peak_rss_mib

# 30 November, 19:00 in Tokyo: the last 36 months are December 2023 to November 2026
NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
ACCOUNT = "account_portalbench"
OTHERS = 50_000


def _invoice(account_id: str, closing: date, n: int) -> Any:
    from monosub.models.billing import Invoice, InvoiceLine, TaxAmount

    lines = [
        InvoiceLine(
            contract_id=f"contract_{account_id[8:]}",
            component=f"t1.{i}",
            month=f"{closing:%Y-%m}",
            name=name,
            quantity=1,
            unit_price=amount,
            amount=amount,
        )
        for i, (name, amount) in enumerate((("基本料金", 1100), ("電力量料金 (312kWh)", 9360)))
    ]
    return Invoice(
        invoice_id=f"invoice_{closing:%Y%m%d}{account_id[8:]}",
        account_id=account_id,
        closing_date=closing,
        period_start=closing.replace(day=1),
        period_end=closing,
        due_date=closing,
        status="paid",
        number=f"INV-{closing.year}-{n:07d}",
        series=f"INV-{closing.year}",
        lines=lines,
        taxes=[TaxAmount(rate=10, taxable=10460, tax=1046)],
        subtotal=10460,
        tax_total=1046,
        total=11506,
        amount_paid=11506,
        pdf_key=f"invoices/{closing:%Y/%m}/{account_id}.pdf",
        created_at="2026-01-01T00:00:00Z",
    )


def _closings(count: int) -> list[date]:
    from monosub.domain import billing as engine

    closings = []
    month = "2026-11"
    for _ in range(count):
        closings.append(engine.month_last(month))
        month = engine.add_months(month, -1)
    return closings


def write_invoices(cloud: Any, stored: int) -> tuple[int, float]:
    """``stored`` issued invoices, 36 of them the bench account's (its last 36 closings).
    One item is built per closing and copied with other keys (building 1,000,000 invoices
    through pydantic would take longer than writing them)."""
    from monosub.store import billing as store

    began = time.perf_counter()
    closings = _closings(36)
    templates = [store._invoice_item(_invoice(ACCOUNT, closing, 0)) for closing in closings]
    batch: list[dict[str, Any]] = []
    calls = 0
    with cloud.as_function("api"):
        for n in range(stored):
            account = ACCOUNT if n < 36 else f"account_other{n % OTHERS:06d}"
            index = n if n < 36 else (n // OTHERS) % 36
            item = dict(templates[index])
            closing = closings[index]
            invoice_id = f"invoice_{closing:%Y%m%d}{account[8:]}"
            item.update(
                pk=f"INVOICE#{invoice_id}",
                invoice_id=invoice_id,
                account_id=account,
                number=f"INV-{closing.year}-{n:07d}",
                gsi1pk=f"INVOICES#{account}",
                gsi1sk=f"{closing.isoformat()}#{invoice_id}",
                gsi3pk=f"ISSUED#{account}",
                gsi3sk=f"{closing.isoformat()}#{invoice_id}",
            )
            batch.append(item)
            if len(batch) == 1000:
                calls += _put_straight(store._table.name, batch)
                batch = []
        calls += _put_straight(store._table.name, batch)
    return calls, time.perf_counter() - began


def _put_straight(table_name: str, items: list[dict[str, Any]]) -> int:
    """Items put straight into moto's table (what BatchWriteItem ends in, without the HTTP
    round trip and its serialisation: the bench measures the read, not the fill). Returns the
    BatchWriteItem calls the same items would take on AWS (25 a call)."""
    from moto.dynamodb.models import dynamodb_backends

    from local import provision, runtime
    from monosub.store.dynamo import to_item

    with runtime._DYNAMODB_LOCK:
        table = dynamodb_backends[provision.ACCOUNT][runtime.REGION].get_table(table_name)
        for item in items:
            table.put_item(to_item(item))
    return -(-len(items) // 25)


def invoices_case(stored: int, calls: int) -> dict[str, Any]:
    from functions.api import app
    from local.runtime import EmbeddedAWS
    from monosub import aws, config
    from tests.conftest import FakeContext, proxy_event

    with EmbeddedAWS(business_time=NOW) as cloud:
        write_calls, write_seconds = write_invoices(cloud, stored)
        seen: Counter[str] = Counter()

        def count(model: Any, **_: Any) -> None:
            seen[model.name] += 1

        environment = config.function_environment
        from functions import manifest

        env = manifest.function("api").environment(cloud.names)
        latencies = []
        listed = 0
        with environment(env):
            aws.client("dynamodb").meta.events.register("before-call.dynamodb", count)
            for _ in range(calls):
                event = proxy_event("GET", "/me/invoices", groups="customer", user="bench")
                event["requestContext"]["authorizer"]["claims"]["custom:account_id"] = ACCOUNT
                began = time.perf_counter()
                response = app.handler(event, FakeContext("api"))
                latencies.append(time.perf_counter() - began)
                body = json.loads(response["body"])
                assert response["statusCode"] == 200, body
                listed = len(body["invoices"])
        latencies.sort()
        return {
            "stored_invoices": stored,
            "write_seconds": round(write_seconds, 1),
            "write_requests": write_calls,
            "calls": calls,
            "invoices_listed": listed,
            "with_pdf_links": listed,
            "p50_ms": round(statistics.median(latencies) * 1000, 1),
            "p99_ms": round(
                latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, 1
            ),
            "dynamodb_requests_per_call": {k: v / calls for k, v in sorted(seen.items())},
            "peak_rss_mib": round(peak_rss_mib(), 1),
        }


def cases(results: dict[str, Any], stored: int = 20_000) -> None:
    """The portal case for ``make bench``, in its own process."""
    from bench.billing import run_module_case

    results[f"portal_invoices_among_{stored}"] = run_module_case(
        "bench.portal", "invoices", "--stored", str(stored)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.portal")
    parser.add_argument("case", choices=("invoices",))
    parser.add_argument("--stored", type=int, default=20_000, help="invoices in the table")
    parser.add_argument("--calls", type=int, default=20, help="GET /me/invoices calls timed")
    args = parser.parse_args(argv)
    from local.cli import prepare_process

    prepare_process()
    print(json.dumps(invoices_case(args.stored, args.calls), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
