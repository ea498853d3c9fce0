"""Render a quote from JSON, or measure rendering.

    python -m monosub.documents quote tests/data/documents/quote-camera.json -o out/quote.pdf
    python -m monosub.documents bench tests/data/documents/quote-camera.json --renders 20

`bench` runs in a fresh process so that its memory figure is the whole process's peak (the
number a Lambda's memory setting has to cover): imports, font loading and the renders.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

from monosub.documents.model import Quote


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _load(path: Path) -> Quote:
    return Quote.model_validate(json.loads(path.read_text(encoding="utf-8")))


def quote_command(args: argparse.Namespace) -> int:
    from monosub.documents.render import render_quote

    rendered = render_quote(_load(args.input))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(rendered.pdf)
    if args.html:
        args.output.with_suffix(".html").write_text(rendered.html, encoding="utf-8")
    print(f"{args.output}  {len(rendered.pdf):,} bytes  sha256 {rendered.pdf_sha256}")
    return 0


def bench_command(args: argparse.Namespace) -> int:
    quote = _load(args.input)
    started = time.perf_counter()
    from monosub.documents.render import pdf_rendering_available, render_quote

    problem = pdf_rendering_available()
    if problem:
        print(problem, file=sys.stderr)
        return 1
    imported = time.perf_counter()
    rss_after_import = _peak_rss_mb()
    first = render_quote(quote)
    first_done = time.perf_counter()
    timings = []
    for _ in range(args.renders):
        begin = time.perf_counter()
        again = render_quote(quote)
        timings.append((time.perf_counter() - begin) * 1000)
        if again.pdf != first.pdf:
            print("renders differ: the PDF is not byte-stable", file=sys.stderr)
            return 1
    print(f"import weasyprint        {(imported - started) * 1000:7.0f} ms")
    print(f"first render (cold)      {(first_done - imported) * 1000:7.0f} ms")
    print(
        f"render, warm ({args.renders}x)      mean {statistics.mean(timings):5.0f} ms"
        f"  median {statistics.median(timings):5.0f} ms  max {max(timings):5.0f} ms"
    )
    print(f"PDF size                 {len(first.pdf):7,} bytes (sha256 {first.pdf_sha256[:16]}…)")
    print(f"peak RSS after import    {rss_after_import:7.0f} MB")
    print(f"peak RSS after renders   {_peak_rss_mb():7.0f} MB")
    print("byte-stable              yes (every render gave the same bytes)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m monosub.documents")
    commands = parser.add_subparsers(dest="command", required=True)
    quote = commands.add_parser("quote", help="render a quote JSON to PDF")
    quote.add_argument("input", type=Path)
    quote.add_argument("-o", "--output", type=Path, default=Path("out/quote.pdf"))
    quote.add_argument("--html", action="store_true", help="also write the HTML beside it")
    quote.set_defaults(run=quote_command)
    bench = commands.add_parser("bench", help="ms per render and peak memory")
    bench.add_argument("input", type=Path)
    bench.add_argument("--renders", type=int, default=20)
    bench.set_defaults(run=bench_command)
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
