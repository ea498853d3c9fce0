"""全銀 debit result files: parse + validate speed and memory, streaming.

``uv run --frozen python -m bench.formats_zengin [N ...]`` (default 1,000 100,000 1,000,000):
for each N, a result file of N debit records is written to a temporary file (streamed, never
held whole), then read back with ``iter_debit_records`` (every field parsed, every record
validated, the trailer's sums checked). A file holds 999,999 debits at most (the
trailer's 合計件数 is 6 digits), so the million case measures 999,999. Each N runs in its
own process (``--case N`` prints one JSON object), so its peak RSS is its own and not the
largest of the cases before it.

Figures: records/s of the parse alone (one core, no tracing), tracemalloc's peak during a
second, traced parse (Python allocations of the parse only: flat means the reader holds no
list of records), and the process's peak RSS (VmHWM; ``ru_maxrss`` as the fallback).
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
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from bench.billing import peak_rss_mib

if TYPE_CHECKING:
    from monosub.formats.zengin_debit import DebitRecord

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SIZES = (1_000, 100_000, 1_000_000)
TARGET_PER_SECOND = 50_000
MAX_RECORDS = 999_999  # the trailer's 合計件数 N(6)


def _records(count: int) -> Iterator[DebitRecord]:
    from monosub.formats.zengin_debit import DebitRecord

    names = ("ﾔﾏﾀﾞ ﾀﾛｳ", "ｶ)ﾓﾉｻﾌﾞ", "ｽｽﾞｷ ﾊﾅｺ", "ﾀﾞﾃ ｼﾞﾛｳ")
    codes = "0000000000123489"  # mostly debited, some failed for every reason
    for n in range(count):
        yield DebitRecord(
            line=0,
            bank_code=f"{n % 2000:04d}",
            bank_name="ﾐﾂﾋﾞｼUFJ",
            branch_code=f"{n % 900:03d}",
            branch_name="ｼﾌﾞﾔ",
            account_type="1" if n % 7 else "2",
            account_number=f"{n % 10_000_000:07d}",
            holder_name=names[n % len(names)],
            amount=1_100 + (n % 50_000) * 11,
            new_code="0",
            customer_number=f"INV{n:017d}",
            result_code=codes[n % len(codes)],
        )


def _write(path: Path, count: int) -> None:
    from monosub.formats.zengin_debit import DebitHeader, iter_debit_file_bytes

    header = DebitHeader(
        consignor_code="0000123456",
        consignor_name="ﾓﾉｻﾌﾞ(ｶ",
        debit_date=date(2026, 12, 28),
        bank_code="0001",
        bank_name="ﾐｽﾞﾎ",
        branch_code="001",
        branch_name="ﾎﾝﾃﾝ",
        account_type="1",
        account_number="1234567",
    )
    with path.open("wb") as out:
        out.writelines(iter_debit_file_bytes(header, _records(count), result=True))


def _parse(path: Path) -> tuple[int, int]:
    from monosub.formats.zengin_debit import DebitRecord, iter_debit_records

    records = debited = 0
    with path.open("rb") as stream:
        for item in iter_debit_records(stream, year=2026, result=True):
            if isinstance(item, DebitRecord):
                records += 1
                debited += item.debited
    return records, debited


def run_case(asked: int) -> dict[str, object]:
    # 合計件数 is N(6): one file holds 999,999 debits at most (more go in a second file).
    count = min(asked, MAX_RECORDS)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "result.txt"
        started = time.perf_counter()
        _write(path, count)
        written_s = time.perf_counter() - started
        size_mib = path.stat().st_size / 2**20

        started = time.perf_counter()
        records, debited = _parse(path)
        parse_s = time.perf_counter() - started
        assert records == count

        tracemalloc.start()
        _parse(path)
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return {
        "asked": asked,
        "records": count,
        "file_mib": round(size_mib, 1),
        "write_s": round(written_s, 2),
        "parse_s": round(parse_s, 3),
        "records_per_s": round(count / parse_s),
        "debited": debited,
        "parse_peak_traced_kib": round(traced_peak / 1024, 1),
        "peak_rss_mib": round(peak_rss_mib(), 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=list(DEFAULT_SIZES))
    parser.add_argument("--case", type=int, help="run one size in this process (JSON out)")
    args = parser.parse_args(argv)
    if args.case is not None:
        print(json.dumps(run_case(args.case)))
        return 0
    results = []
    for size in args.sizes:
        done = subprocess.run(
            [sys.executable, "-m", "bench.formats_zengin", "--case", str(size)],
            cwd=ROOT,
            env=os.environ,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode:
            sys.stderr.write(done.stderr)
            return done.returncode
        result = json.loads(done.stdout)
        results.append(result)
        print(
            f"全銀 debit result, {result['records']:>9,} records ({result['file_mib']} MiB): "
            f"{result['records_per_s']:>9,} records/s, parse {result['parse_s']} s, "
            f"traced peak {result['parse_peak_traced_kib']} KiB, "
            f"peak RSS {result['peak_rss_mib']} MiB"
        )
    slowest = min(int(str(r["records_per_s"])) for r in results)
    verdict = "meets" if slowest >= TARGET_PER_SECOND else "MISSES"
    print(f"slowest {slowest:,} records/s: {verdict} the {TARGET_PER_SECOND:,}/s target")
    print(json.dumps({"formats_zengin": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
