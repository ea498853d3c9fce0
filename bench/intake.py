"""Intake-channel figures for ``make bench`` (issue 10), each case in its own process:

- ``forms N``: the 申込書 reader alone (openpyxl, no AWS): N filled forms read and checked,
  forms per second and traced memory. The seed's back office handles ~100,000 forms a year.
- ``content``: the upload check (magic bytes, nothing executable) on a 20 MiB PDF and a
  9 MiB workbook: MiB per second.
- ``orders N``: N web-shop orders placed on the embedded AWS through the service the route
  calls (quote and 契約書 PDFs rendered, contract, ``OrderConfirmed``, the checkout's payment),
  then the same N sent again: DynamoDB requests per order and per replay, counted by
  ``bench.billing``'s meter. moto's seconds are not AWS's; the requests carry over.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
import tracemalloc
import zipfile
from datetime import UTC, date, datetime
from typing import Any

from bench.billing import install_meter, peak_rss_mib, run_module_case

SHEET_MAIN = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"


def _form_values(n: int) -> dict[str, Any]:
    return {
        "application_date": date(2026, 11, 24),
        "customer.segment": "corporate",
        "customer.name": f"株式会社ベンチ{n}",
        "customer.kana": "カブシキガイシャ ベンチ",
        "customer.postal_code": "220-0012",
        "customer.prefecture": "神奈川県",
        "customer.city": "横浜市西区",
        "customer.address_line1": "みなとみらい2-2-1",
        "customer.phone": "045-123-4567",
        "customer.email": f"bench{n}@example.jp",
        "customer.contact_person": "高橋 美咲",
        "delivery.requested_date": date(2026, 12, 10),
        "delivery.installation_needed": False,
        "payment_method": "bank-transfer",
        "rep": "tanaka",
        "lines": [
            {"device_sku": "CAM-ONE-SALE", "plan_sku": "PLAN-30D", "quantity": 1 + n % 5},
            {"device_sku": "CAM-OUT-SALE", "plan_sku": "PLAN-365D", "quantity": 1},
        ],
    }


def forms_case(count: int) -> dict[str, Any]:
    from monosub.formats import application_form as forms

    files = [forms.write_example(_form_values(n)) for n in range(min(count, 50))]
    tracemalloc.start()
    began = time.perf_counter()
    valid = 0
    for n in range(count):
        read = forms.read_form(files[n % len(files)])
        valid += read.values is not None
    seconds = time.perf_counter() - began
    _, traced_peak = tracemalloc.get_traced_memory()
    return {
        "forms": count,
        "valid": valid,
        "bytes_per_form": len(files[0]),
        "seconds": round(seconds, 2),
        "forms_per_second": round(count / seconds, 1),
        "ms_per_form": round(1000 * seconds / count, 2),
        "traced_peak_mib": round(traced_peak / 2**20, 1),
        "peak_rss_mib": round(peak_rss_mib(), 1),
    }


def content_case() -> dict[str, Any]:
    from monosub.domain import documents as rules

    pdf = b"%PDF-1.7\n" + b"0 0 obj << /Type /Page >> endobj\n" * (20 * 2**20 // 33)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as workbook:
        workbook.writestr(
            "[Content_Types].xml",
            f'<Types><Default ContentType="{SHEET_MAIN}"/></Types>',
        )
        workbook.writestr("xl/worksheets/sheet1.xml", b"<row/>" * (9 * 2**20 // 6))
    xlsx = buffer.getvalue()
    figures = {}
    for name, data, content_type in (
        ("pdf_20mib", pdf, "application/pdf"),
        ("xlsx_9mib", xlsx, rules.XLSX),
    ):
        began = time.perf_counter()
        reason = rules.refusal(data, content_type)
        seconds = time.perf_counter() - began
        figures[name] = {
            "refused": reason,
            "seconds": round(seconds, 3),
            "mib_per_second": round(len(data) / 2**20 / seconds, 1),
        }
    return figures


def orders_case(count: int) -> dict[str, Any]:
    from bench.cash import _per
    from monosub.services import web_orders
    from tests.sales_flow import priced_cloud

    with priced_cloud(datetime(2026, 11, 24, 1, 0, tzinfo=UTC)) as cloud:
        with cloud.as_function("api"):
            probe = web_orders.place_order(_order("PROBE", 1), client_id="bench")
        price = int(probe.one_time_total or 0)
        orders = [_order(f"WS-{n:06d}", price) for n in range(count)]
        meter = install_meter(cloud)
        meter.reset()
        began = time.perf_counter()
        with cloud.as_function("api"):
            made = [web_orders.place_order(o, client_id="bench") for o in orders]
        seconds = time.perf_counter() - began
        placing = _per(meter, count)
        meter.reset()
        began = time.perf_counter()
        with cloud.as_function("api"):
            again = [web_orders.place_order(o, client_id="bench") for o in orders]
        replay_seconds = time.perf_counter() - began
        cloud.wait_for_executions(timeout=3600)
        return {
            "orders": count,
            "confirmed": sum(r.status == "confirmed" for r in made),
            "replayed": sum(r.replayed for r in again),
            "seconds": round(seconds, 1),
            "orders_per_second": round(count / seconds, 2),
            "place": placing,
            "replay_seconds": round(replay_seconds, 2),
            "replay": _per(meter, count),
            "peak_rss_mib": round(peak_rss_mib(), 1),
        }


def _order(order_id: str, amount: int) -> Any:
    from monosub.models.web_orders import WebOrder

    return WebOrder.model_validate(
        {
            "order_id": order_id,
            "ordered_at": "2026-11-24T10:00:00+09:00",
            "segment": "residential",
            "name": f"ベンチ {order_id}",
            "contact": {"person_name": "ベンチ 太郎", "email": f"{order_id.lower()}@example.jp"},
            "deal": {
                "name": f"Webショップ注文 {order_id}",
                "lines": [{"device_sku": "CAM-ONE-SALE", "plan_sku": "PLAN-30D", "quantity": 1}],
                "ship_to": {
                    "postal_code": "150-0002",
                    "prefecture": "東京都",
                    "city": "渋谷区",
                    "address_line1": "渋谷2-24-12",
                    "recipient_name": "ベンチ 太郎",
                    "recipient_phone": "090-5555-0101",
                },
            },
            "payment": {
                "reference": f"pi_3Bench{order_id[3:]}",
                "status": "paid",
                "amount": amount,
            },
        }
    )


def cases(results: dict[str, Any], orders: int) -> None:
    """The intake cases for ``make bench``, each in its own process."""
    results["intake_forms_1000"] = run_module_case("bench.intake", "forms", "1000")
    results["intake_content_check"] = run_module_case("bench.intake", "content")
    results[f"intake_web_orders_{orders}"] = run_module_case("bench.intake", "orders", str(orders))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.intake")
    parser.add_argument("case", choices=("forms", "content", "orders"))
    parser.add_argument("count", nargs="?", type=int, default=100)
    args = parser.parse_args(argv)
    from local.cli import prepare_process

    prepare_process()
    if args.case == "forms":
        result = forms_case(args.count)
    elif args.case == "content":
        result = content_case()
    else:
        result = orders_case(args.count)
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
