"""``make bench``: speed and memory of the foundation on the embedded AWS, as measured.

moto's seconds are not DynamoDB's; the request counts per item carry over to AWS.
Figures go to stdout and to ``out/bench.json``.
"""

from __future__ import annotations

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


def main() -> int:
    from local.cli import prepare_process

    prepare_process()
    began = time.perf_counter()
    from local.runtime import EmbeddedAWS

    imported = time.perf_counter() - began
    results: dict[str, Any] = {"import_seconds": round(imported, 3)}
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
    results["peak_rss_mib"] = round(_peak_rss_mib(), 1)
    out = ROOT / "out"
    out.mkdir(exist_ok=True)
    (out / "bench.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(json.dumps(results, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "core" / "python")]
    sys.exit(main())
