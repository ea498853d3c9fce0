"""``monosub``: the command line of the embedded AWS.

    monosub demo                  the main job: the whole story so far, end to end
    monosub serve [--port P]      embedded AWS + HTTP API on localhost until Ctrl-C
    monosub drop KIND FILE        drop a partner file, run what it triggers, print the run
    monosub clock show|set|advance
    monosub runs [--kind K]       the run ledger
    monosub maintenance backfill-portal-index [--dry-run] [--start PK]
                                  gsi3 on invoices issued before the portal's index existed
    monosub token USER GROUP... [--agency ID] [--account ID]
                                  a signed token for the local API (also --user U --groups G);
                                  an agency user names its agency, a customer its account

``drop``, ``clock`` and ``runs`` talk to a running ``monosub serve`` when there is one
(``.monosub/serve.json``); ``drop`` without one runs on a fresh embedded AWS of its own.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / ".monosub" / "serve.json"


def prepare_process(verbose: bool = False) -> None:
    """Paths, a region and fake credentials for moto, quiet logs: every local entry point."""
    for path in (str(ROOT), str(ROOT / "layers" / "core" / "python")):
        if path not in sys.path:
            sys.path.insert(0, path)
    os.environ.setdefault("AWS_DEFAULT_REGION", "ap-northeast-1")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "embedded")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "embedded")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "INFO" if verbose else "ERROR")
    if not verbose:
        import logging

        logging.getLogger("moto").setLevel(logging.CRITICAL)
        logging.getLogger("aws_lambda_powertools").setLevel(logging.CRITICAL)


class Progress:
    """One line on stderr, rewritten in place while work goes on (only on a terminal)."""

    FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"

    def __init__(self, label: str) -> None:
        self.label = label
        self.started = time.monotonic()
        self.frame = 0
        self.enabled = sys.stderr.isatty()

    def update(self, detail: str = "") -> None:
        if not self.enabled:
            return
        self.frame = (self.frame + 1) % len(self.FRAMES)
        elapsed = time.monotonic() - self.started
        line = f"{self.FRAMES[self.frame]} {self.label} {detail} ({elapsed:.1f}s)"
        sys.stderr.write("\r\033[K" + line[:120])
        sys.stderr.flush()

    def done(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()

    @contextmanager
    def ticking(self, detail: str = "") -> Iterator[None]:
        """Keep the line moving while a blocking call runs."""
        stop = threading.Event()

        def tick() -> None:
            while not stop.wait(0.1):
                self.update(detail)

        ticker = threading.Thread(target=tick, daemon=True)
        ticker.start()
        try:
            yield
        finally:
            stop.set()
            ticker.join()
            self.done()


def _server() -> dict[str, Any] | None:
    if not STATE.exists():
        return None
    state: dict[str, Any] = json.loads(STATE.read_text())
    try:
        urllib.request.urlopen(state["url"] + "/_local/clock", timeout=2).read()
    except (urllib.error.URLError, OSError):
        return None
    return state


def _call(
    url: str, method: str = "GET", payload: Any = None, headers: dict[str, str] | None = None
) -> Any:
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=600) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        raise SystemExit(f"{method} {url} -> {error.code}: {error.read().decode()}") from None


# ---- commands ----------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    from local.http_api import LocalApiServer
    from local.runtime import EmbeddedAWS
    from monosub import clock

    start = clock.parse_instant(args.at) if args.at else None
    with Progress("starting the embedded AWS").ticking():
        cloud = EmbeddedAWS(business_time=start).start()
    server = LocalApiServer(cloud, port=args.port).start()
    STATE.parent.mkdir(exist_ok=True)
    STATE.write_text(json.dumps({"url": server.url, "pid": os.getpid()}))
    print(f"monosub is serving the embedded AWS (up in {cloud.started_seconds:.2f}s)")
    print(f"  API:            {server.url}")
    print(f"  OpenAPI:        {server.url}/openapi.json")
    print(f"  ops page:       {server.url}/ops")
    print(f"  device API:     {cloud.device_platform.url} (the local device platform)")
    print(f"  print vendor:   {cloud.print_vendor.wsdl_url} (the local print vendor's WSDL)")
    print(f"  Stripe API:     {cloud.stripe.url} (a local fake; webhooks go to the API)")
    print(f"  bank SFTP:      sftp://127.0.0.1:{cloud.bank_sftp.port} (direct-debit files)")
    print(f"  business clock: {clock.iso(cloud.now())}")
    print("  sign in:        TOKEN=$(uv run monosub token --user tanaka --groups sales)")
    print(f'  try:            curl -s {server.url}/leads -H "Authorization: Bearer $TOKEN"')
    print("Ctrl-C stops it.", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("\nstopping")
    finally:
        STATE.unlink(missing_ok=True)
        server.stop()
        cloud.stop()
    return 0


def cmd_drop(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise SystemExit(f"no such file: {path}")
    body = path.read_bytes()
    name = args.name or path.name
    server = _server()
    if server:
        run = _call(
            server["url"] + "/_local/drop",
            "POST",
            {"kind": args.kind, "name": name, "content": base64.b64encode(body).decode()},
        )
    else:
        from local.runtime import EmbeddedAWS

        progress = Progress(f"inbox/{args.kind}/{name}")
        with EmbeddedAWS() as cloud:
            run = cloud.drop(
                args.kind,
                name,
                body,
                progress=lambda r: progress.update(
                    f"{r['status']} {json.dumps(r['counts'], ensure_ascii=False)}"
                ),
            )
        progress.done()
    print(json.dumps(_summary(run), ensure_ascii=False, indent=2))
    return 0 if run["status"] == "succeeded" else 1


def _summary(run: dict[str, Any]) -> dict[str, Any]:
    subject = run.get("subject") or {}
    return {
        "run_id": run["run_id"],
        "status": run["status"],
        "file": subject.get("key"),
        "sha256": subject.get("sha256"),
        "counts": run.get("counts"),
        "message": run.get("message"),
        "archived_as": subject.get("archived_as"),
        "quarantined_as": subject.get("quarantined_as"),
        "error_report": subject.get("error_report"),
        "errors": run.get("errors", [])[:20],
        "error_count": run.get("error_count", 0),
    }


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")


def cmd_clock(args: argparse.Namespace) -> int:
    server = _server()
    if server is None:
        raise SystemExit("no running `monosub serve`: the clock belongs to a running embedded AWS")
    url = server["url"] + "/_local/clock"
    if args.action == "show":
        print(_call(url)["now"])
        return 0
    if args.action == "set":
        if not args.value:
            raise SystemExit("clock set needs an instant, e.g. 2026-11-30T09:00+09:00")
        result = _call(url, "POST", {"set": args.value})
    else:
        match = _DURATION.match(args.value or "")
        if not match:
            raise SystemExit("clock advance needs a duration such as 90m, 6h or 3d")
        seconds = float(match.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
        result = _call(url, "POST", {"advance_seconds": seconds})
    print(f"business clock: {result['now']}")
    for fired in result["fired"]:
        print(f"  fired {fired['rule']} at {fired['at']}")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    server = _server()
    if server is None:
        raise SystemExit("no running `monosub serve`: start one, then list its runs")
    query = f"?kind={args.kind}" if args.kind else ""
    from local import identity

    token = identity.issue("ops-cli", ["ops"], key=identity.signing_key(), lifetime_seconds=60)
    headers = {"Authorization": f"Bearer {token}"}
    listed = _call(server["url"] + "/runs" + query, headers=headers)["runs"]
    print(format_runs(listed))
    return 0


def format_runs(listed: list[dict[str, Any]]) -> str:
    lines = [f"{'started (UTC)':<21} {'kind':<13} {'status':<12} {'counts':<34} subject"]
    for run in listed:
        counts = " ".join(f"{k}={v}" for k, v in (run.get("counts") or {}).items())
        subject = (run.get("subject") or {}).get("key") or run["business_key"]
        lines.append(
            f"{run['started_at']:<21} {run['kind']:<13} {run['status']:<12} {counts:<34} {subject}"
        )
    return "\n".join(lines)


def cmd_token(args: argparse.Namespace) -> int:
    from local import identity

    if args.client:
        # A partner system's access token (client credentials), e.g. the web shop's.
        scopes = [s for text in args.scope or ["monosub/orders.write"] for s in text.split(",")]
        print(identity.issue_machine(args.client, scopes, key=identity.signing_key()))
        return 0
    user = args.user or (args.names[0] if args.names else None)
    if user and args.directory_groups:
        # a staff sign-in through the parent company's directory (SAML), as on AWS
        print(identity.issue_directory(user, args.directory_groups, key=identity.signing_key()))
        return 0
    if not user:
        raise SystemExit("monosub token: name the user (monosub token USER GROUP...)")
    named = args.names[1:] if not args.user else args.names
    groups = [g for text in (args.groups or "", *named) for g in text.replace(",", " ").split()]
    groups = groups or ["sales"]
    if "agency" in groups and not args.agency:
        raise SystemExit("monosub token: an agency user needs --agency AGENCY_ID")
    if "customer" in groups and not args.account:
        raise SystemExit("monosub token: a customer user needs --account ACCOUNT_ID")
    token = identity.issue(
        user,
        groups,
        key=identity.signing_key(),
        agency_id=args.agency,
        region=args.region,
        account_id=args.account,
        lifetime_seconds=int(args.hours * 3600),
    )
    print(token)
    return 0


def cmd_backfill_portal_index(args: argparse.Namespace) -> int:
    """Against a running ``monosub serve``, or (none running) the AWS account the environment
    names: ``TABLE_BILLING`` and the usual AWS credentials (ops on a stage)."""
    pk, _, sk = (args.start or "").rpartition("/")
    start = {"pk": pk, "sk": sk} if args.start else None
    mode = "counting (dry run)" if args.dry_run else "writing"
    print(f"backfill of the account-invoices index (gsi4): {mode}")
    server = _server()
    if server is not None:
        url = server["url"] + "/_local/maintenance/backfill-portal-index"
        result = _call(url, "POST", {"dry_run": args.dry_run, "start": start})
        for page in result["pages"]:
            _print_backfill_page(page, page.get("last_key"))
        counts = result["counts"]
    else:
        from monosub.store import portal_index

        counts = portal_index.backfill_account_index(
            dry_run=args.dry_run, start=start, progress=_print_backfill_page
        )
    print(
        f"done: {counts['scanned']} item(s) read in {counts['pages']} page(s), "
        f"{counts['missing']} invoice(s) without the index, {counts['written']} written, "
        f"{counts['skipped']} changed meanwhile (left alone)"
    )
    return 0


def _print_backfill_page(counts: Any, last_key: Any) -> None:
    resume = f"; resume with --start {last_key['pk']}/{last_key['sk']}" if last_key else ""
    print(
        f"  page {counts['pages']}: {counts['scanned']} read, {counts['missing']} missing, "
        f"{counts['written']} written{resume}"
    )


def cmd_demo(args: argparse.Namespace) -> int:
    from local.demo import run as run_demo

    return run_demo(Path(args.out))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="monosub", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--verbose", action="store_true", help="show handler logs")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run the whole story so far on the embedded AWS")
    demo.add_argument("--out", default=str(ROOT / "out" / "demo"), help="where files are written")
    demo.set_defaults(run=cmd_demo)

    serve = commands.add_parser("serve", help="embedded AWS + HTTP API on localhost")
    serve.add_argument("--port", type=int, default=8787)
    serve.add_argument("--at", help="start the business clock at this instant")
    serve.set_defaults(run=cmd_serve)

    drop = commands.add_parser("drop", help="drop a partner file under inbox/KIND/")
    drop.add_argument("kind")
    drop.add_argument("file")
    drop.add_argument("--name", help="file name in the inbox (default: the file's own)")
    drop.set_defaults(run=cmd_drop)

    clock_parser = commands.add_parser("clock", help="show or move the business clock")
    clock_parser.add_argument("action", choices=["show", "set", "advance"])
    clock_parser.add_argument("value", nargs="?")
    clock_parser.set_defaults(run=cmd_clock)

    token = commands.add_parser("token", help="a signed local token (the Cognito stand-in)")
    token.add_argument("names", nargs="*", metavar="USER GROUP", help="USER GROUP... (or flags)")
    token.add_argument("--user")
    token.add_argument("--groups", help="e.g. sales,regional-manager (default sales)")
    token.add_argument("--agency", help="an agency user's agency (custom:agency_id)")
    token.add_argument("--region", help="a regional manager's region (custom:region)")
    token.add_argument("--account", help="a customer user's own account (custom:account_id)")
    token.add_argument("--hours", type=float, default=8)
    token.add_argument("--client", help="a partner system's client id: an access token instead")
    token.add_argument(
        "--directory-groups", help="the directory's groups of a SAML sign-in, e.g. GRP-Sales"
    )
    token.add_argument("--scope", action="append", help="with --client (default orders.write)")
    token.set_defaults(run=cmd_token)

    runs = commands.add_parser("runs", help="the run ledger")
    runs.add_argument("--kind")
    runs.set_defaults(run=cmd_runs)

    maintenance = commands.add_parser("maintenance", help="one-off jobs for ops")
    jobs = maintenance.add_subparsers(dest="job", required=True)
    backfill = jobs.add_parser(
        "backfill-portal-index",
        help="put invoices issued before the portal's index existed into it (idempotent)",
    )
    backfill.add_argument("--dry-run", action="store_true", help="count, write nothing")
    backfill.add_argument("--start", help="continue after this key, PK/SK, as a page printed it")
    backfill.set_defaults(run=cmd_backfill_portal_index)

    args = parser.parse_args(argv)
    prepare_process(args.verbose)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
