"""Overdue follow-up figures for ``make bench``: the daily run over N open invoices, all past
due (the first notice fires for each: an email, a level noted), on the embedded AWS, with
every request counted (``bench.billing``'s meter), its time and peak memory.

``python -m bench.overdue N`` prints one JSON object (its own process: its own peak RSS).
moto's seconds are not AWS's; the requests per invoice carry over.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from typing import Any

from bench.billing import install_meter, peak_rss_mib, run_module_case
from bench.cash import DEBIT_DATE, _invoices, _per

# 09:30 in Tokyo, 2 days after the invoices' due date: the first notice is due for each
RUN_MOMENT = datetime(2026, 12, 30, 0, 30, tzinfo=UTC)


def case(count: int) -> dict[str, Any]:
    from local.runtime import EmbeddedAWS

    with EmbeddedAWS(business_time=datetime(2026, 12, 29, 1, 0, tzinfo=UTC)) as cloud:
        began = time.perf_counter()
        _invoices(cloud, count, "bank-transfer")
        setup = time.perf_counter() - began
        meter = install_meter(cloud)
        meter.reset()
        began = time.perf_counter()
        cloud.set_clock(RUN_MOMENT, only=("overdue-follow-up",), timeout=7200)
        cloud.wait_for_executions(timeout=7200)
        seconds = time.perf_counter() - began
        with cloud.as_function("api"):
            from monosub.store import runs

            [run] = runs.list_runs("overdue-follow-up", limit=1)
        return {
            "open_invoices": count,
            "due_date": DEBIT_DATE.isoformat(),
            "setup_seconds": round(setup, 1),
            "run_status": run.status,
            "run_counts": run.counts,
            "run_seconds": round(seconds, 1),
            "invoices_per_second": round(count / seconds, 1),
            "run": _per(meter, count),
            "peak_rss_mib": round(peak_rss_mib(), 1),
        }


def cases(results: dict[str, Any], count: int) -> None:
    results[f"overdue_daily_run_{count}_invoices"] = run_module_case("bench.overdue", str(count))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.overdue")
    parser.add_argument("count", nargs="?", type=int, default=10_000)
    args = parser.parse_args(argv)
    from local.cli import prepare_process

    prepare_process()
    print(json.dumps(case(args.count), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
