"""Settlement-file figures: Stripe itemized payout files of 1,000 / 100,000 / 1,000,000 rows
parsed streaming (``monosub.formats.settlement.iter_settlement``), rows per second and memory.

    uv run --frozen python -m bench.formats_settlement [N ...]

Each size is generated to a temporary file (not held in memory), then parsed twice from
the file: once plainly for the speed (one core; tracemalloc slows Python several times), once
under tracemalloc for the peak of what the parse allocates. Each size runs in its own process
so that its peak RSS (VmHWM, as ``bench.billing`` reads it) is its own. Memory is flat when
the peak does not grow with the rows, except for the duplicate-id fingerprints (12 bytes a
slot, table at most half full).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SIZES = (1_000, 100_000, 1_000_000)
ROWS_PER_PAYOUT = 5_000
TARGET_ROWS_PER_SECOND = 50_000


def write_stripe_file(path: Path, rows: int) -> int:
    """A Stripe itemized payout file of ``rows`` rows: per payout of ``ROWS_PER_PAYOUT``
    transactions, charges with a 3.6 % fee, every 20th a refund, every 500th a dispute, and
    its payout row (gross = net = -payout amount). Written line by line; returns its size."""
    from monosub.formats.settlement import STRIPE_COLUMNS, STRIPE_ITEMIZED_PAYOUTS

    mapping = STRIPE_ITEMIZED_PAYOUTS
    header = list(STRIPE_COLUMNS)
    assert set(header) >= {h for headers in mapping.columns.values() for h in headers[-1:]}
    start = datetime(2026, 11, 1, tzinfo=UTC)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(",".join(header) + "\r\n")
        written, payout = 0, 0
        while written < rows:
            payout += 1
            payout_id = f"po_bench{payout:08d}"
            effective = (start + timedelta(days=payout)).strftime("%Y-%m-%d %H:%M:%S")
            in_payout = min(ROWS_PER_PAYOUT, rows - written)
            net_total = 0
            for k in range(in_payout - 1):
                n = written + k
                created = (start + timedelta(seconds=37 * n)).strftime("%Y-%m-%d %H:%M:%S")
                amount = 1_100 + 110 * (n % 50)
                if n % 500 == 499:
                    category, gross, fee = "dispute", -amount, 1_500
                elif n % 20 == 19:
                    category, gross, fee = "refund", -amount, 0
                else:
                    category, gross, fee = "charge", amount, amount * 36 // 1000
                net = gross - fee
                net_total += net
                out.write(
                    f"{payout_id},{effective},txn_bench{n:016d},{created},{effective},jpy,"
                    f"{gross},{fee},{net},{category},請求書 INV-{n:08d},pi_bench{n:016d},"
                    f"ch_bench{n:016d},inv_bench{n:010d},cus_bench{n % 9973:08d}\r\n"
                )
            n = written + in_payout - 1
            out.write(
                f"{payout_id},{effective},txn_bench{n:016d},{effective},{effective},jpy,"
                f"{-net_total},0,{-net_total},payout,STRIPE PAYOUT,,,,\r\n"
            )
            written += in_payout
    return path.stat().st_size


def _parse(path: Path) -> tuple[Counter[str], int]:
    from monosub.formats.settlement import (
        STRIPE_ITEMIZED_PAYOUTS,
        SettlementRow,
        iter_settlement,
        payout_totals,
    )

    counts: Counter[str] = Counter()

    def rows() -> Any:
        with path.open("rb") as stream:
            for item in iter_settlement(stream, STRIPE_ITEMIZED_PAYOUTS):
                if isinstance(item, SettlementRow):
                    counts["rows"] += 1
                    yield item
                else:
                    counts["errors"] += 1

    checks = payout_totals(rows())
    disagreeing = sum(1 for check in checks.values() if not check.agrees)
    return counts, disagreeing


def case(rows: int) -> dict[str, Any]:
    from bench.billing import peak_rss_mib

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "stripe-payouts.csv"
        started = time.perf_counter()
        size = write_stripe_file(path, rows)
        generated = time.perf_counter() - started
        rss_before = peak_rss_mib()

        started = time.perf_counter()
        counts, disagreeing = _parse(path)
        seconds = time.perf_counter() - started
        rss_after = peak_rss_mib()

        tracemalloc.start()
        _parse(path)
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert counts["errors"] == 0 and counts["rows"] == rows, counts
    assert disagreeing == 0
    return {
        "rows": rows,
        "file_mib": round(size / 2**20, 1),
        "generate_s": round(generated, 2),
        "parse_s": round(seconds, 3),
        "rows_per_s": round(rows / seconds),
        "target_rows_per_s": TARGET_ROWS_PER_SECOND,
        "parse_traced_peak_mib": round(traced_peak / 2**20, 2),
        "peak_rss_mib": round(rss_after, 1),
        "peak_rss_before_parse_mib": round(rss_before, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.formats_settlement")
    parser.add_argument("sizes", nargs="*", type=int, default=list(SIZES))
    parser.add_argument("--one", action="store_true", help="measure one size in this process")
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(case(args.sizes[0])))
        return 0
    results = []
    for rows in args.sizes:
        done = subprocess.run(
            [sys.executable, "-m", "bench.formats_settlement", "--one", str(rows)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(done.stdout)
        results.append(result)
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "core" / "python")]
    sys.exit(main())
