"""``make bench-peer``: Tryton 8.2 (``../shared/peers/tryton/``) and monosub invoicing the
same month for the same N customers of LINES lines, side by side, with the ratio.

Tryton: its README's scripts in a venv under /tmp (``install.sh --postgresql`` when the venv
or the server is missing; SQLite when PostgreSQL cannot start, said so in the output), the
template database made once by ``setup_db.py``, then ``bench_subscriptions.py N LINES`` with
the steps that make a month's invoices: populate (not timed against monosub), consume,
invoice, post (numbering). monosub: the engine alone, and the month-end revenue and
invoicing runs on the embedded AWS (``bench.billing local``), which draft, finalize and
number the invoices. Comparable pairs: Tryton consume + invoice + post against monosub's two
runs; Tryton invoice against monosub's engine.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PEER = ROOT.parent / "shared" / "peers" / "tryton"
VENV_PYTHON = Path("/tmp/tryton-peer/venv/bin/python")
STEPS = ("populate", "consume", "invoice", "post")


def _postgresql_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


def _run(
    command: list[str], *, timeout: float, cwd: Path = PEER
) -> subprocess.CompletedProcess[str]:
    print("$", " ".join(command), flush=True)
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


def prepare_tryton(backend: str) -> tuple[str, list[str]]:
    """The venv and the template database; returns the backend used and notes."""
    notes: list[str] = []
    if backend in ("auto", "postgresql") and not (VENV_PYTHON.exists() and _postgresql_up()):
        done = _run(["bash", "install.sh", "--postgresql"], timeout=1800)
        if done.returncode != 0:
            notes.append(f"install.sh --postgresql failed: {done.stderr.strip()[-300:]}")
    if not VENV_PYTHON.exists():
        done = _run(["bash", "install.sh"], timeout=1800)
        if done.returncode != 0:
            raise RuntimeError(f"install.sh failed: {done.stderr.strip()[-500:]}")
    if backend == "auto":
        backend = "postgresql" if _postgresql_up() else "sqlite"
        if backend == "sqlite":
            notes.append("PostgreSQL is not reachable on 127.0.0.1:5432: Tryton runs on SQLite")
    done = _run([str(VENV_PYTHON), "setup_db.py", "--backend", backend], timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"setup_db.py failed: {done.stderr.strip()[-500:]}")
    return backend, notes


def run_tryton(accounts: int, lines: int, backend: str, cap: float) -> dict[str, Any]:
    command = [
        str(VENV_PYTHON),
        "bench_subscriptions.py",
        str(accounts),
        str(lines),
        "--backend",
        backend,
        "--cap",
        str(cap),
        "--steps",
        *STEPS,
    ]
    done = _run(command, timeout=cap + 3600)
    steps: dict[str, Any] = {}
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line.removeprefix("RESULT "))
            steps[str(result["step"])] = result
    if done.returncode != 0 or not steps:
        raise RuntimeError(f"bench_subscriptions.py failed: {done.stderr.strip()[-800:]}")
    print("\n".join(done.stdout.splitlines()[-12:]), flush=True)
    return steps


def run_monosub(accounts: int, lines: int) -> dict[str, Any]:
    from bench.billing import run_case

    return {
        "engine": run_case("engine-scale", str(accounts), "--lines", str(lines)),
        "local": run_case("local", str(accounts), "--lines", str(lines), timeout=7200),
    }


def _seconds(step: dict[str, Any] | None) -> float | None:
    return float(step["seconds"]) if step and step.get("seconds") is not None else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.peer")
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--lines", type=int, default=10)
    parser.add_argument("--backend", choices=("auto", "postgresql", "sqlite"), default="auto")
    parser.add_argument("--cap", type=float, default=1200)
    args = parser.parse_args(argv)

    began = time.perf_counter()
    backend, notes = prepare_tryton(args.backend)
    tryton = run_tryton(args.accounts, args.lines, backend, args.cap)
    monosub = run_monosub(args.accounts, args.lines)
    local = monosub["local"]
    if "failed" in local:
        raise RuntimeError(f"monosub's local run failed: {local['stderr']}")

    tryton_month = sum(_seconds(tryton.get(step)) or 0.0 for step in ("consume", "invoice", "post"))
    # Tryton's steps render no report (post_tasks is not run): compare without the PDFs.
    ours = float(local["seconds_month_end_plus_invoicing_without_pdf"])
    invoicing = local["runs"]["invoicing"]
    rows = [
        ("Tryton consume", _seconds(tryton.get("consume"))),
        ("Tryton invoice (draft invoices)", _seconds(tryton.get("invoice"))),
        ("Tryton post (numbered)", _seconds(tryton.get("post"))),
        ("Tryton consume + invoice + post", tryton_month),
        ("monosub engine only (drafts, no I/O)", float(monosub["engine"]["draft_seconds"])),
        ("monosub month-end revenue run", local["runs"]["month-end-revenue"]["seconds"]),
        ("monosub invoicing run (drafts, numbers)", local["invoicing_without_delivery"]["seconds"]),
        ("monosub both runs, no PDF (embedded AWS)", ours),
        (
            "monosub invoicing's PDF and delivery task",
            invoicing["handler_seconds"].get("invoicing-deliver"),
        ),
    ]
    print(f"\nN={args.accounts} customers × {args.lines} lines; Tryton on {backend}")
    for note in notes:
        print(f"note: {note}")
    for label, seconds in rows:
        shown = "(killed or absent)" if seconds is None else f"{seconds:10.2f} s"
        print(f"  {label:<42} {shown}")
    summary = {
        "accounts": args.accounts,
        "lines": args.lines,
        "tryton_backend": backend,
        "notes": notes,
        "tryton_steps": tryton,
        "tryton_month_seconds": round(tryton_month, 2),
        "monosub_local_seconds": ours,
        "monosub_engine_seconds": monosub["engine"]["draft_seconds"],
        "ratio_tryton_over_monosub_local": round(tryton_month / ours, 2) if ours else None,
        "ratio_tryton_invoice_over_monosub_engine": (
            round((_seconds(tryton.get("invoice")) or 0) / monosub["engine"]["draft_seconds"], 1)
            if monosub["engine"]["draft_seconds"]
            else None
        ),
        "monosub_per_invoice": local["per_invoice"],
        "monosub_peak_rss_mib": local["peak_rss_mib"],
        "wall_seconds": round(time.perf_counter() - began, 1),
    }
    print(
        f"  ratio Tryton / monosub (month's invoices, numbered): "
        f"{summary['ratio_tryton_over_monosub_local']}×; "
        f"Tryton invoice / monosub engine: {summary['ratio_tryton_invoice_over_monosub_engine']}×"
    )
    out = ROOT / "out"
    out.mkdir(exist_ok=True)
    (out / "bench-peer.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "core" / "python")]
    sys.exit(main())
