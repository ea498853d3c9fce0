"""``make bench``: speed and memory of the foundation on the embedded AWS, as measured.

moto's seconds are not DynamoDB's; the request counts per item carry over to AWS.
Figures go to stdout and to ``out/bench.json``.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _leads_csv(rows: int, offset: int = 0) -> bytes:
    lines = ["company,name,email,phone,source,message"]
    for i in range(offset, offset + rows):
        lines.append(
            f"株式会社ベンチ{i},担当 {i},person{i}@bench{i}.example.jp,"
            f"03-{i % 10000:04d}-{i % 9999:04d},event,見積依頼 {i}"
        )
    return ("\n".join(lines) + "\n").encode("utf-8")


def _shipments_for_bench(cloud: Any, shipments: int, devices_each: int) -> list[str]:
    """Instructed shipments of ``devices_each`` cameras, written straight to the store (the
    order, quote and contract steps are measured elsewhere). Installation-needed, so the
    kitting run does not need a contract to start."""
    from monosub import clock
    from monosub.models.fulfilment import Shipment, ShipmentItem
    from monosub.store import shipments as store

    ids = []
    with cloud.as_function("fulfilment-orders"):
        for n in range(shipments):
            now = clock.now_iso()
            shipment = Shipment(
                shipment_id=f"shipment_bench{n:04d}",
                order_id=f"quote_bench{n:04d}",
                contract_id=f"contract_bench{n:04d}",
                deal_id=f"deal_bench{n:04d}",
                account_id=f"account_bench{n:04d}",
                contact_id=f"contact_bench{n:04d}",
                device_owner_account_id=f"account_bench{n:04d}",
                owner="bench",
                segment="corporate",
                status="instructed",
                ship_to={
                    "postal_code": "105-0022",
                    "prefecture": "東京都",
                    "city": "港区",
                    "address_line1": "海岸1-2-3",
                    "recipient_name": "ベンチ 太郎",
                    "recipient_phone": "03-1234-5678",
                },
                ship_date=clock.today(),
                installation_needed=True,
                items=[
                    ShipmentItem(
                        line_id=f"line_bench{n:04d}",
                        device_sku="CAM-ONE-SALE",
                        device_name="見守りカメラ ONE",
                        acquisition="sale",
                        quantity=devices_each,
                        plan_sku="PLAN-30D",
                    )
                ],
                created_at=now,
                updated_at=now,
            )
            store.create(shipment)
            ids.append(shipment.shipment_id)
    return ids


def _shipped_csv(shipment_ids: list[str], devices_each: int, day: str) -> bytes:
    lines = ["shipment_id,model,serial,ship_date,carrier,tracking_number"]
    for n, shipment_id in enumerate(shipment_ids):
        for i in range(devices_each):
            lines.append(
                f"{shipment_id},CAM-ONE-SALE,BENCH-{n:03d}-{i:05d},{day},ヤマト運輸,"
                f"4512-{n:04d}-{i:04d}"
            )
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def _kitting(cloud: Any, results: dict[str, Any]) -> None:
    """The warehouse reports 10,000 shipped cameras (10 shipments of 1,000): the file
    validated whole and applied, then one shipping/kitting execution per shipment pushes
    every binding to the local device platform."""
    shipments, devices_each = 10, 1000
    ids = _shipments_for_bench(cloud, shipments, devices_each)
    body = _shipped_csv(ids, devices_each, cloud.now().date().isoformat())
    cloud.dynamodb_requests.clear()
    started = time.perf_counter()
    run = cloud.drop("warehouse-shipments", "bench-shipped.csv", body, timeout=3600)
    applied = time.perf_counter() - started
    assert run["status"] == "succeeded", run
    cloud.wait_for_executions(timeout=3600)
    elapsed = time.perf_counter() - started
    executions = cloud.executions("shipping-kitting")
    assert len(executions) == shipments, executions
    assert all(e["status"] == "SUCCEEDED" for e in executions), executions
    devices = shipments * devices_each
    assert len(cloud.device_platform.bindings()) == devices
    results["warehouse_drop_10000_devices"] = {
        "file_bytes": len(body),
        "validate_and_record_seconds": round(applied, 2),
        "until_every_binding_pushed_seconds": round(elapsed, 2),
        "devices_per_second": round(devices / elapsed, 1),
        "kitting_executions": len(executions),
        "dynamodb_requests_per_device": round(sum(cloud.dynamodb_requests.values()) / devices, 2),
        "dynamodb_by_action": dict(cloud.dynamodb_requests),
        "peak_rss_mib_after": round(_peak_rss_mib(), 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run")
    parser.add_argument(
        "--billing-accounts",
        default="1000",
        help="sizes of the billing local run, comma-separated (e.g. 1000,10000)",
    )
    parser.add_argument("--only-billing", action="store_true", help="skip the other cases")
    parser.add_argument(
        "--cash-rows", type=int, default=2000, help="invoices/rows of the cash apply cases"
    )
    parser.add_argument(
        "--overdue-invoices", type=int, default=10_000, help="open invoices of the overdue run"
    )
    parser.add_argument(
        "--web-orders", type=int, default=50, help="web-shop orders placed (PDFs rendered)"
    )
    args = parser.parse_args(argv)
    billing_sizes = tuple(int(n) for n in args.billing_accounts.split(",") if n)
    from local.cli import prepare_process

    prepare_process()
    began = time.perf_counter()
    import local.runtime  # noqa: F401  (timed: what a cold start of the runtime imports)

    imported = time.perf_counter() - began
    results: dict[str, Any] = {"import_seconds": round(imported, 3)}
    if not args.only_billing:
        _foundation(results)
    # Billing: each case in its own process (bench/billing.py), its peak RSS its own.
    from bench import billing

    billing.cases(results, billing_sizes)
    from bench import cash

    cash.cases(results, args.cash_rows)
    from bench import overdue

    overdue.cases(results, args.overdue_invoices)
    from bench import intake

    intake.cases(results, args.web_orders)
    from bench import portal

    portal.cases(results)
    results["peak_rss_mib"] = round(_peak_rss_mib(), 1)
    out = ROOT / "out"
    out.mkdir(exist_ok=True)
    (out / "bench.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(json.dumps(results, indent=2, ensure_ascii=False))
    return 0


def _foundation(results: dict[str, Any]) -> None:
    """The leads API, file intake and kitting cases on one embedded AWS."""
    from local.runtime import EmbeddedAWS

    with EmbeddedAWS() as cloud:
        results["embedded_aws_start_seconds"] = round(cloud.started_seconds, 3)
        from tests.conftest import proxy_event

        # API: POST /leads, each a distinct lead.
        count = 100
        cloud.dynamodb_requests.clear()
        started = time.perf_counter()
        for i in range(count):
            body = {
                "company": f"株式会社API{i}",
                "person_name": f"顧客 {i}",
                "email": f"api{i}@example.jp",
                "source": "web-form",
            }
            response = cloud.invoke("api", proxy_event("POST", "/leads", body, groups=None))
            assert response["statusCode"] == 201, response
        elapsed = time.perf_counter() - started
        results["api_post_lead"] = {
            "requests": count,
            "ms_per_request": round(elapsed / count * 1000, 1),
            "dynamodb_requests_per_lead": round(sum(cloud.dynamodb_requests.values()) / count, 2),
            "dynamodb_by_action": dict(cloud.dynamodb_requests),
        }
        # File intake: a leads CSV.
        for rows in (100, 500):
            cloud.dynamodb_requests.clear()
            started = time.perf_counter()
            run = cloud.drop(
                "leads", f"bench-{rows}.csv", _leads_csv(rows, offset=rows * 10), timeout=3600
            )
            elapsed = time.perf_counter() - started
            assert run["status"] == "succeeded", run
            results[f"file_intake_{rows}_rows"] = {
                "seconds": round(elapsed, 2),
                "rows_per_second": round(rows / elapsed, 1),
                "dynamodb_requests_per_row": round(sum(cloud.dynamodb_requests.values()) / rows, 2),
                "dynamodb_by_action": dict(cloud.dynamodb_requests),
            }
        # Fulfilment: the warehouse reports 10,000 shipped devices.
        _kitting(cloud, results)


if __name__ == "__main__":
    sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "core" / "python")]
    sys.exit(main())
