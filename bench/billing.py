"""Billing figures for ``make bench``: the pure engine, the month-end and invoicing runs on the
embedded AWS with every request counted, PDFs per second.

Each case runs in its own process (``python -m bench.billing <case> …`` prints one JSON
object) so that its peak RSS is its own and not the largest of everything run before it.

**Counting.** moto's seconds are not AWS's; the requests are. The counters hook botocore's
``before-call``/``after-call`` events on the shared clients (``monosub.aws.client``), so no
production code changes to be measured. DynamoDB units follow the on-demand rules: a write
is 1 unit per started KB of the item (×2 inside ``TransactWriteItems``), an ``UpdateItem``
costs the item's full size after the update (read from moto's table, not by a request); a
read is 1 unit per started 4 KB strongly consistent (0.5 eventually), ``BatchGetItem`` per
item, ``Query`` on the sum of the items it returns. Item sizes are computed the way DynamoDB
documents them (names + values, 3 bytes per map/list and 1 per element).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NOW = "2026-11-30T17:00:00Z"
STARTED = date(2026, 10, 15)
CLOSING = date(2026, 11, 30)
# 02:00 on 1 December in Tokyo: both runs' schedules have fired for the November closing.
RUN_MOMENT = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)


def peak_rss_mib() -> float:
    """This process's peak RSS: VmHWM, which starts again at exec (``ru_maxrss`` keeps the
    parent's peak across fork and exec, so every case would report ``make bench``'s)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---- accounts ------------------------------------------------------------------------------


def components(contract_id: str, lines: int, start: date) -> list[Any]:
    """``lines`` monthly components of one contract: plans and options, and among them a few
    discounts (none on a 1-line account, 2 on 10 lines, 5 on 100): a campaign of 3 free
    months on the first plan, the others open-ended."""
    from monosub.domain.contracts import term_end
    from monosub.models.billing import Component

    discounts = 0 if lines < 10 else 2 if lines < 100 else 5
    result = []
    for n in range(1, lines - discounts + 1):
        price = 980 + 110 * (n % 17)
        result.append(
            Component(
                contract_id=contract_id,
                key=f"t1.{n:02d}",
                name=f"録画プラン オプション{n}",
                sku=f"OPT-{n:03d}",
                kind="monthly",
                quantity=1 + n % 3,
                unit="台",
                unit_price=price,
                amount=price * (1 + n % 3),
                starts=start,
            )
        )
    for d in range(discounts):
        base = result[d]
        campaign = d == 0
        result.append(
            Component(
                contract_id=contract_id,
                key=f"t1.{lines - discounts + d + 1:02d}",
                name=f"{'3ヶ月無料' if campaign else '長期割引'}（{base.name}）",
                kind="monthly",
                quantity=1,
                unit_price=-base.amount if campaign else -100,
                amount=-base.amount if campaign else -100,
                starts=start,
                ends=term_end(start, 3) if campaign else None,
                discount=True,
            )
        )
    return result


def billing_account(n: int, lines: int, start: date = STARTED) -> Any:
    from monosub.models.billing import BillingAccount

    account_id = f"account_bench{n:07d}"
    return BillingAccount(
        account_id=account_id,
        name=f"株式会社ベンチ{n}",
        person=f"担当 {n}",
        postal_code="105-0022",
        address="東京都港区海岸1-2-3",
        email=f"billing{n}@bench.example.jp",
        customer_number=f"BENCH{n:07d}",
        closing_day=31,
        components=components(f"contract_bench{n:07d}", lines, start),
        contracts=[f"contract_bench{n:07d}"],
        created_at=NOW,
        updated_at=NOW,
    )


def billed_through_october(account: Any) -> Any:
    """The account as it is after its first (prorated) invoice at the October closing: the
    November invoice then has one line per component, the steady state of a month."""
    from monosub.domain import billing as engine

    draft = engine.draft_invoice(account, date(2026, 10, 31), rounding="floor", created_at=NOW)
    return account.model_copy(update={"billed": draft.ledger, "last_closing": date(2026, 10, 31)})


def billed_for_a_year(account: Any) -> Any:
    """An account started in November 2025 and invoiced at each month end to October 2026:
    its November invoice recomputes 12 months of each component to find adjustments."""
    from monosub.domain import billing as engine

    for month in engine.months_from("2025-11", "2026-10"):
        closing = engine.month_last(month)
        draft = engine.draft_invoice(account, closing, rounding="floor", created_at=NOW)
        account = account.model_copy(update={"billed": draft.ledger, "last_closing": closing})
    return account


# ---- 1. the pure engine --------------------------------------------------------------------


def _drafts_per_second(accounts: list[Any], *, seconds: float = 2.0) -> tuple[float, int]:
    from monosub.domain import billing as engine

    done, started = 0, time.perf_counter()
    lines = 0
    while True:
        for account in accounts:
            draft = engine.draft_invoice(account, CLOSING, rounding="floor", created_at=NOW)
            lines = len(draft.invoice.lines) if draft.invoice else 0
        done += len(accounts)
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return done / elapsed, lines


def engine_case() -> dict[str, Any]:
    """Invoices drafted per second on one core: the November invoice of accounts billed
    through October (one line per component), and the first invoice (October prorated and
    November: two lines per component, as in the local run)."""
    figures: dict[str, Any] = {}
    for lines in (1, 10, 100):
        accounts = [billed_through_october(billing_account(n, lines)) for n in range(200)]
        rate, invoice_lines = _drafts_per_second(accounts)
        figures[f"lines_{lines}"] = {
            "invoices_per_second": round(rate),
            "invoice_lines": invoice_lines,
        }
    old = [billed_for_a_year(billing_account(n, 10, date(2025, 11, 15))) for n in range(200)]
    rate, invoice_lines = _drafts_per_second(old)
    figures["year_old_lines_10"] = {
        "invoices_per_second": round(rate),
        "invoice_lines": invoice_lines,
    }
    first = [billing_account(n, 10) for n in range(200)]
    rate, invoice_lines = _drafts_per_second(first)
    figures["first_invoice_lines_10"] = {
        "invoices_per_second": round(rate),
        "invoice_lines": invoice_lines,
    }
    figures["target_invoices_per_second_at_10_lines"] = 20000
    figures["peak_rss_mib"] = round(peak_rss_mib(), 1)
    return figures


def engine_scale_case(count: int = 100_000, lines: int = 10) -> dict[str, Any]:
    """``count`` accounts drafted by the engine alone (no I/O), in batches of 100 as the
    invoicing run holds them (a batch built, drafted, let go). Holding all 100,000 accounts
    and drafts at once was measured too: 5.1 GB peak RSS and half the speed (the cyclic
    garbage collector walking the heap), which is why this streams."""
    from monosub.domain import billing as engine

    built = drafted = 0.0
    invoices = total = 0
    for first in range(0, count, 100):
        started = time.perf_counter()
        accounts = [billing_account(n, lines) for n in range(first, min(count, first + 100))]
        built += time.perf_counter() - started
        started = time.perf_counter()
        drafts = [
            engine.draft_invoice(account, CLOSING, rounding="floor", created_at=NOW)
            for account in accounts
        ]
        drafted += time.perf_counter() - started
        invoices += sum(1 for d in drafts if d.invoice)
        total += sum(d.invoice.total for d in drafts if d.invoice)
    return {
        "accounts": count,
        "lines_per_account": lines,
        "invoice_lines": 2 * lines,
        "build_accounts_seconds": round(built, 2),
        "draft_seconds": round(drafted, 2),
        "invoices_per_second": round(count / drafted),
        "invoices": invoices,
        "amount_yen": total,
        "peak_rss_mib": round(peak_rss_mib(), 1),
    }


# ---- 2. the local run, counted -------------------------------------------------------------


def item_size(item: dict[str, Any]) -> int:
    """Bytes of a DynamoDB item (typed JSON), as DynamoDB sizes it for capacity units."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        digits = len(str(inner).lstrip("-").replace(".", "").strip("0")) or 1
        return (digits + 1) // 2 + 1
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + _value_size(v) + 1 for k, v in inner.items())
    if kind == "L":
        return 3 + sum(_value_size(v) + 1 for v in inner)
    if kind in ("SS", "NS", "BS"):
        return sum(_value_size({kind[0]: v}) for v in inner)
    raise ValueError(f"unknown DynamoDB type {kind}")


def write_units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / 4096))
    return units if consistent else units / 2


@dataclass
class Meter:
    """Requests and units seen on the shared clients since ``reset``."""

    calls: Counter[str] = field(default_factory=Counter)
    write_units: Counter[str] = field(default_factory=Counter)
    read_units: Counter[str] = field(default_factory=Counter)
    items_written: Counter[str] = field(default_factory=Counter)
    largest_item: dict[str, int] = field(default_factory=dict)
    # Seconds inside each billing task's handler (not waiting for the runtime's lock).
    handler_seconds: Counter[str] = field(default_factory=Counter)
    # What the delivery task (PDF, email, print vendor) asks, counted again apart, so that
    # the invoicing run can be told with and without it (the figure has no PDF).
    delivery: Meter | None = None

    def reset(self) -> None:
        for counter in (
            self.calls,
            self.write_units,
            self.read_units,
            self.items_written,
            self.handler_seconds,
        ):
            counter.clear()
        self.largest_item.clear()
        if self.delivery is not None:
            self.delivery.reset()

    def targets(self) -> list[Meter]:
        """Where a request counts: everywhere, and apart too when the delivery task made it
        (the task running in this thread: the bench's own polling is in another)."""
        if self.delivery is not None and getattr(_running, "function", None) == DELIVERY:
            return [self, self.delivery]
        return [self]

    def summary(self) -> dict[str, Any]:
        return {
            "requests": dict(sorted(self.calls.items())),
            "dynamodb_write_units": dict(self.write_units),
            "dynamodb_read_units": dict(self.read_units),
        }

    def written(
        self, kind: str, size: int, factor: int = 1, *, indexes: Mapping[str, int] | None = None
    ) -> None:
        """An item of ``size`` bytes written (``factor`` 2 in a transaction), and its copy in
        each of ``indexes`` (index → the units of its copy, once, not ×2: ``put_indexes``,
        ``update_indexes``)."""
        self.write_units[kind] += write_units(size) * factor
        for index, units in (indexes or {}).items():
            self.write_units[f"{kind}:{index}"] += units
        self.items_written[kind] += 1
        self.largest_item[kind] = max(self.largest_item.get(kind, 0), size)


# The billing table's indexes as declared (functions/resources.py): the copy of an item in an
# index is its keys where it projects KEYS_ONLY, the keys and the included attributes where
# INCLUDE, the whole item where ALL; DynamoDB adds 100 bytes to each copy.
BILLING_KINDS = frozenset({"invoice", "billing", "series", "revenue"})
INDEX_OVERHEAD = 100
INDEXES = ("gsi1", "gsi2", "gsi3", "gsi4")


def _declared_indexes() -> dict[str, Any]:
    from functions import resources
    from monosub.names import BILLING

    (billing,) = [t for t in resources.TABLES if t.name == BILLING]
    return {index.name: index for index in billing.indexes if not index.retired}


def index_size(kind: str, index: str, item: Mapping[str, Any]) -> int:
    """Bytes of ``item``'s copy in ``index`` (the runs table's gsi1 projects ALL)."""
    declared = _declared_indexes().get(index) if kind in BILLING_KINDS else None
    if declared is None or declared.projection == "ALL":
        return item_size(dict(item))
    kept = {"pk", "sk", f"{index}pk", f"{index}sk", *declared.include}
    return item_size({k: v for k, v in item.items() if k in kept}) + INDEX_OVERHEAD


def put_indexes(item: Mapping[str, Any]) -> dict[str, int]:
    """The indexes a new item is written into (those whose key it has), with their units."""
    kind = _kind(dict(item))
    return {
        index: write_units(index_size(kind, index, item))
        for index in INDEXES
        if f"{index}pk" in item
    }


def update_indexes(kind: str, update: dict[str, Any], stored: dict[str, Any]) -> dict[str, int]:
    """The indexes an update writes, with their units: one whose key it sets or removes;
    one the item is in whose copy holds an attribute the update sets (INCLUDE or ALL)."""
    touched = set(update.get("ExpressionAttributeNames", {}).values())
    written = {}
    for index in INDEXES:
        declared = _declared_indexes().get(index) if kind in BILLING_KINDS else None
        projection = declared.projection if declared is not None else "ALL"
        included = set(declared.include) if declared is not None else set()
        sets_key = f"{index}pk" in touched or f"{index}sk" in touched
        copied = f"{index}pk" in stored and (
            projection == "ALL" or (projection == "INCLUDE" and bool(touched & included))
        )
        if sets_key or copied:
            written[index] = write_units(index_size(kind, index, stored))
    return written


_running = threading.local()  # the billing task running in this thread, for the meter
MONTH_END_REVENUE, INVOICING = "month-end-revenue", "invoicing"  # monosub.names
DELIVERY = "invoicing-deliver"
BILLING_TASKS = (
    "month-end-prepare",
    "month-end-batch",
    "month-end-finish",
    "invoicing-prepare",
    "invoicing-batch",
    DELIVERY,
    "invoicing-finish",
)
READS = {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"}
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


def _kind(item_or_key: dict[str, Any]) -> str:
    """What an item is, from its pk (``INVOICE#…`` → invoice)."""
    pk = item_or_key.get("pk", {}).get("S", "?")
    return pk.split("#", 1)[0].lower() or "?"


def install_meter(cloud: Any) -> Meter:
    from moto.dynamodb.models import dynamodb_backends

    from local import runtime
    from monosub import aws

    meter = Meter(delivery=Meter())
    _time_handlers(cloud, meter)

    def stored_size(table: str, key: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with runtime._DYNAMODB_LOCK:
            backend = dynamodb_backends[runtime.provision.ACCOUNT][runtime.REGION]
            item = backend.get_item(table, key)
            if item is None:
                return 0, {}
            attributes = item.to_json()["Attributes"]
            return item_size(attributes), attributes

    def before(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["bench_params"] = params  # the API's parameters; after-call gets the answer

    def after_dynamodb(
        parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        params = context.get("bench_params", {})
        for target in meter.targets():
            target.calls[f"dynamodb.{model.name}"] += 1
            if model.name in WRITES:
                _count_write(target, model.name, params, stored_size)
            elif model.name in READS:
                _count_read(target, model.name, params, parsed)

    def after_other(model: Any, **_: Any) -> None:
        for target in meter.targets():
            target.calls[f"{model.service_model.endpoint_prefix}.{model.name}"] += 1

    dynamodb = aws.client("dynamodb")
    dynamodb.meta.events.register("before-parameter-build.dynamodb.*", before)
    dynamodb.meta.events.register("after-call.dynamodb.*", after_dynamodb)
    for service in ("s3", "stepfunctions", "lambda", "ssm", "events", "sqs"):
        service_id = aws.client(service).meta.service_model.service_id.hyphenize()
        aws.client(service).meta.events.register(f"after-call.{service_id}.*", after_other)
    return meter


def _time_handlers(cloud: Any, meter: Meter) -> None:
    """Wrap the billing tasks' handlers in the runtime's handler table: the meter knows which
    one runs (one at a time: the runtime's handler lock) and how long it ran."""
    import importlib

    from functions import manifest

    for name in BILLING_TASKS:
        function = manifest.function(name)
        real = getattr(importlib.import_module(function.module), function.attribute)

        def timed(event: Any, context: Any, _real: Any = real, _name: str = name) -> Any:
            previous = getattr(_running, "function", None)
            _running.function = _name
            started = time.perf_counter()
            try:
                return _real(event, context)
            finally:
                meter.handler_seconds[_name] += time.perf_counter() - started
                _running.function = previous

        cloud._handlers[name] = timed


def _count_write(meter: Meter, op: str, params: dict[str, Any], stored_size: Any) -> None:
    """Write units of one write request. A cancelled transaction is counted as if it had
    written (on AWS it consumes capacity too; here it is rare: one finalizer per batch)."""
    if op == "PutItem":
        item = params["Item"]
        meter.written(_kind(item), item_size(item), indexes=put_indexes(item))
    elif op == "UpdateItem":
        size, stored = stored_size(params["TableName"], params["Key"])
        kind = _kind(params["Key"])
        meter.written(kind, size, indexes=update_indexes(kind, params, stored))
    elif op == "BatchWriteItem":
        for requests in params["RequestItems"].values():
            for request in requests:
                if "PutRequest" in request:
                    item = request["PutRequest"]["Item"]
                    meter.written(_kind(item), item_size(item), indexes=put_indexes(item))
                else:
                    meter.written("delete", 1)
    elif op == "TransactWriteItems":
        for operation in params["TransactItems"]:
            if "Put" in operation:
                item = operation["Put"]["Item"]
                meter.written(_kind(item), item_size(item), 2, indexes=put_indexes(item))
            elif "Update" in operation:
                update = operation["Update"]
                size, stored = stored_size(update["TableName"], update["Key"])
                kind = _kind(update["Key"])
                meter.written(kind, size, 2, indexes=update_indexes(kind, update, stored))


def _count_read(meter: Meter, op: str, params: dict[str, Any], parsed: dict[str, Any]) -> None:
    if op == "GetItem":
        item = parsed.get("Item")
        size = item_size(item) if item else 0
        meter.read_units[_kind(params["Key"])] += read_units(
            size, bool(params.get("ConsistentRead"))
        )
    elif op == "BatchGetItem":
        for table, items in parsed.get("Responses", {}).items():
            consistent = bool(params["RequestItems"][table].get("ConsistentRead"))
            for item in items:
                meter.read_units[_kind(item)] += read_units(item_size(item), consistent)
    elif op in ("Query", "Scan"):
        size = sum(item_size(item) for item in parsed.get("Items", []))
        kind = f"{op.lower()}:{params.get('IndexName', 'table')}"
        meter.read_units[kind] += read_units(size, bool(params.get("ConsistentRead")))


def _seed(cloud: Any, accounts: int, lines: int, *, steady: bool = False) -> float:
    """Billing accounts written straight into the billing table (BatchWriteItem), as the
    contract events would have left them: ``lines`` monthly components from 15 October;
    ``steady``: with the ledger of their October invoice."""
    from monosub.names import BILLING
    from monosub.store import billing as store
    from monosub.store.dynamo import Table

    started = time.perf_counter()
    with cloud.as_function("invoicing-batch"):
        table = Table(BILLING)
        for first in range(0, accounts, 1000):
            made = [billing_account(n, lines) for n in range(first, min(accounts, first + 1000))]
            if steady:
                made = [billed_through_october(account) for account in made]
            table.batch_put([store._account_item(a) for a in made])
            table.batch_put([store._ledger_item(a) for a in made])
    return time.perf_counter() - started


def _transitions(cloud: Any, logical: str, invocations: list[Any]) -> dict[str, int]:
    """State transitions billed (Standard workflows: one per state entered) from the
    executions' histories. moto runs a Distributed Map's children without child executions
    or history (only MapRunStarted/Succeeded): each child is one Task state entered per
    attempt, i.e. one per batch invocation, added as ``children_states_entered``."""
    events: Counter[str] = Counter()
    sfn = cloud.sfn
    executions = cloud.executions(logical)
    for execution in executions:
        token = None
        while True:
            request: dict[str, Any] = {
                "executionArn": execution["executionArn"],
                "maxResults": 1000,
            }
            if token:
                request["nextToken"] = token
            page = sfn.get_execution_history(**request)
            events.update(event["type"] for event in page["events"])
            token = page.get("nextToken")
            if not token:
                break
    entered = sum(n for kind, n in events.items() if kind.endswith("StateEntered"))
    children = sum(
        1 for i in invocations if i.function in ("month-end-batch", "invoicing-batch", DELIVERY)
    )
    return {
        "executions": len(executions),
        "parent_states_entered": entered,
        "children_states_entered": children,
        "states_entered": entered + children,
        "map_iterations": events.get("MapIterationStarted", 0),
        "map_runs": events.get("MapRunStarted", 0),
        "history_events": sum(events.values()),
    }


def local_case(
    accounts: int, lines: int = 10, *, pdf: bool = True, steady: bool = False
) -> dict[str, Any]:
    """N accounts seeded, then the November month-end revenue run and the 30 November
    invoicing run through their state machines, each started as its schedule starts it.
    ``pdf=False``: the delivery task (PDF, email, print vendor) does nothing, for the
    issue's "month-end + invoicing (no PDF)" at sizes where rendering would take an hour.
    ``steady``: the accounts were invoiced at the October closing already (a month like most:
    ``lines`` lines each), not all new (their first invoice: October prorated and November,
    twice the lines)."""
    from local.cli import prepare_process

    prepare_process()
    from local.runtime import EmbeddedAWS
    from monosub.services import billing as service
    from monosub.store import billing as store

    figures: dict[str, Any] = {
        "accounts": accounts,
        "components_per_account": lines,
        "month": "steady (invoiced in October)" if steady else "first invoices",
    }
    with EmbeddedAWS(business_time=RUN_MOMENT) as cloud:
        figures["seed_seconds"] = round(_seed(cloud, accounts, lines, steady=steady), 2)
        meter = install_meter(cloud)
        if not pdf:
            cloud._handlers[DELIVERY] = lambda event, context: {"delivered": 0, "skipped": "bench"}
        figures["pdf"] = pdf
        per_run: dict[str, Any] = {}
        for logical, function, start in (
            (MONTH_END_REVENUE, "month-end-revenue", service.start_month_end),
            (INVOICING, "invoicing", service.start_invoicing),
        ):
            meter.reset()
            invocations_before = len(cloud.invocations)
            started = time.perf_counter()
            with cloud.as_function(function):
                begun = start(date(2026, 12, 1))
            _wait(cloud, logical)
            elapsed = time.perf_counter() - started
            ours = sum(meter.calls.pop(call, 0) for call in BENCH_CALLS)
            executions = cloud.executions(logical)
            assert [e["status"] for e in executions] == ["SUCCEEDED"], (begun, executions)
            invocations = cloud.invocations[invocations_before:]
            per_run[logical] = {
                "seconds": round(elapsed, 2),
                "requests": dict(sorted(meter.calls.items())),
                "dynamodb_write_units": dict(meter.write_units),
                "dynamodb_read_units": dict(meter.read_units),
                "items_written": dict(meter.items_written),
                "largest_item_bytes": dict(meter.largest_item),
                "bench_polling_calls_not_counted": ours,
                "handler_seconds": {k: round(v, 2) for k, v in meter.handler_seconds.items()},
                "delivery": meter.delivery.summary() if meter.delivery else {},
                "step_functions": _transitions(cloud, logical, invocations),
                "lambda_invocations": dict(Counter(i.function for i in invocations)),
                "lambda_errors": sum(1 for i in invocations if i.errored),
            }
        with cloud.as_function("invoicing-batch"):
            last = store.last_number(f"INV-{CLOSING.year}")
            sample = store.get_invoice(engine_invoice_id(0))
        figures["last_invoice_number"] = last
        figures["sample_invoice"] = (
            {
                "number": sample.number,
                "lines": len(sample.lines),
                "total": sample.total,
                "status": sample.status,
            }
            if sample
            else None
        )
    figures["runs"] = per_run
    figures["seconds_month_end_plus_invoicing"] = round(
        sum(r["seconds"] for r in per_run.values()), 2
    )
    without = _without_delivery(per_run[INVOICING])
    figures["invoicing_without_delivery"] = {
        k: without[k] for k in ("seconds", "requests", "dynamodb_write_units", "step_functions")
    }
    figures["seconds_month_end_plus_invoicing_without_pdf"] = round(
        per_run[MONTH_END_REVENUE]["seconds"] + without["seconds"], 2
    )
    figures["per_invoice"] = _per_invoice(
        {**per_run, "invoicing_without_delivery": without}, accounts
    )
    figures["peak_rss_mib"] = round(peak_rss_mib(), 1)
    return figures


BENCH_CALLS = ("states.ListExecutions", "states.GetExecutionHistory")


def _wait(cloud: Any, logical: str, timeout: float = 7200) -> None:
    """Until the state machine's executions are done. Polls twice a second: the runtime's
    ``wait_for_executions`` polls every state machine every 20 ms, and on 2 cores that
    polling alone doubled the run's time (measured)."""
    arn = cloud.state_machine_arn(logical)
    deadline = time.monotonic() + timeout
    while cloud.sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{logical} still running after {timeout} s")
        time.sleep(0.5)


def engine_invoice_id(n: int) -> str:
    from monosub.domain import billing as engine

    return engine.invoice_id(f"account_bench{n:07d}", CLOSING)


def _without_delivery(run: dict[str, Any]) -> dict[str, Any]:
    """The invoicing run less its delivery task (PDF rendering, email, print vendor): the
    issue's "month-end + invoicing (no PDF)". Seconds less the delivery handlers' own."""

    def minus(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
        return {k: a[k] - b.get(k, 0) for k in a if a[k] - b.get(k, 0)}

    delivery = run["delivery"]
    steps = dict(run["step_functions"])
    steps["states_entered"] -= run["lambda_invocations"].get(DELIVERY, 0)
    return {
        **run,
        "seconds": round(run["seconds"] - run["handler_seconds"].get(DELIVERY, 0.0), 2),
        "requests": minus(run["requests"], delivery["requests"]),
        "dynamodb_write_units": minus(
            run["dynamodb_write_units"], delivery["dynamodb_write_units"]
        ),
        "dynamodb_read_units": minus(run["dynamodb_read_units"], delivery["dynamodb_read_units"]),
        "lambda_invocations": {
            k: n
            for k, n in run["lambda_invocations"].items()
            if k.startswith("invoicing-") and k != DELIVERY
        },
        "step_functions": steps,
    }


def _per_invoice(per_run: dict[str, Any], invoices: int) -> dict[str, Any]:
    """Both runs' requests over the invoices made (amortized), with and without delivery,
    and the invoicing run alone."""

    def sums(runs: list[dict[str, Any]]) -> dict[str, float]:
        calls: Counter[str] = Counter()
        for run in runs:
            calls.update(run["requests"])
        reads = sum(n for op, n in calls.items() if op.split(".", 1)[1] in READS)
        writes = sum(n for op, n in calls.items() if op.split(".", 1)[1] in WRITES)
        return {
            "dynamodb_read_requests": reads / invoices,
            "dynamodb_read_units": sum(sum(r["dynamodb_read_units"].values()) for r in runs)
            / invoices,
            "dynamodb_write_requests": writes / invoices,
            "dynamodb_write_units": sum(sum(r["dynamodb_write_units"].values()) for r in runs)
            / invoices,
            "step_functions_transitions": sum(r["step_functions"]["states_entered"] for r in runs)
            / invoices,
            "lambda_invocations": sum(sum(r["lambda_invocations"].values()) for r in runs)
            / invoices,
            "s3_put": sum(n for op, n in calls.items() if op == "s3.PutObject") / invoices,
            "s3_get": sum(n for op, n in calls.items() if op == "s3.GetObject") / invoices,
        }

    def rounded(values: dict[str, float]) -> dict[str, float]:
        return {k: round(v, 4) for k, v in values.items()}

    month_end, invoicing = per_run[MONTH_END_REVENUE], per_run[INVOICING]
    without = per_run["invoicing_without_delivery"]
    return {
        "both_runs": rounded(sums([month_end, invoicing])),
        "both_runs_without_pdf": rounded(sums([month_end, without])),
        "month_end_only": rounded(sums([month_end])),
        "invoicing_only": rounded(sums([invoicing])),
        "invoicing_without_pdf": rounded(sums([without])),
        "targets": {"dynamodb_write_units": 5, "dynamodb_read_requests": 1},
    }


# ---- 3. PDFs -------------------------------------------------------------------------------


def pdf_case(count: int = 20) -> dict[str, Any]:
    from monosub.documents import Invoice, pdf_rendering_available, render_invoice

    unavailable = pdf_rendering_available()
    if unavailable:
        return {"skipped": unavailable}
    data = json.loads((ROOT / "tests/data/documents/invoice-camera.json").read_text("utf-8"))
    invoice = Invoice.model_validate(data)
    started = time.perf_counter()
    first = render_invoice(invoice)
    warm = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(count):
        render_invoice(invoice)
    elapsed = time.perf_counter() - started
    return {
        "first_render_seconds": round(warm, 2),
        "pdfs": count,
        "pdfs_per_second": round(count / elapsed, 2),
        "pdf_bytes": len(first.pdf),
        "peak_rss_mib": round(peak_rss_mib(), 1),
    }


# ---- in its own process --------------------------------------------------------------------


def run_case(*args: str, timeout: float = 3600) -> dict[str, Any]:
    """Run ``python -m bench.billing <args>`` and return the JSON it prints."""
    return run_module_case("bench.billing", *args, timeout=timeout)


def run_module_case(module: str, *args: str, timeout: float = 3600) -> dict[str, Any]:
    """Run ``python -m <module> <args>`` (one case, its own process and peak RSS) and return
    the JSON object it prints last."""
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        return {"failed": done.returncode, "stderr": done.stderr[-2000:]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def cases(results: dict[str, Any], local_accounts: tuple[int, ...]) -> None:
    """The billing cases for ``make bench``, each in its own process."""
    results["billing_engine"] = run_case("engine")
    results["billing_engine_100000_accounts"] = run_case("engine-scale", "100000")
    for accounts in local_accounts:
        results[f"billing_local_run_{accounts}_accounts"] = run_case("local", str(accounts))
    # a month like most (the accounts invoiced before), without PDFs: the per-invoice counts
    results["billing_local_run_steady_month"] = run_case(
        "local", str(local_accounts[0]), "--steady", "--no-pdf"
    )
    local = [results.get(f"billing_local_run_{n}_accounts", {}) for n in local_accounts]
    timed = [
        (n, r["seconds_month_end_plus_invoicing"])
        for n, r in zip(local_accounts, local, strict=True)
        if "seconds_month_end_plus_invoicing" in r
    ]
    if len(timed) > 1:
        (n0, s0), (n1, s1) = timed[0], timed[-1]
        results["billing_local_run_growth"] = {
            "accounts": f"{n0} → {n1} (×{n1 / n0:g})",
            "seconds": f"{s0} → {s1} (×{s1 / s0:.2f})",
        }
    results["billing_pdfs"] = run_case("pdf")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.billing")
    parser.add_argument("case", choices=("engine", "engine-scale", "local", "pdf"))
    parser.add_argument("count", nargs="?", type=int)
    parser.add_argument("--lines", type=int, default=10)
    parser.add_argument("--no-pdf", action="store_true", help="local: skip the delivery task")
    parser.add_argument(
        "--steady", action="store_true", help="local: accounts invoiced in October already"
    )
    args = parser.parse_args(argv)
    if args.case == "engine":
        result = engine_case()
    elif args.case == "engine-scale":
        result = engine_scale_case(args.count or 100_000, args.lines)
    elif args.case == "local":
        result = local_case(args.count or 1000, args.lines, pdf=not args.no_pdf, steady=args.steady)
    else:
        result = pdf_case(args.count or 20)
    print(json.dumps(result, ensure_ascii=False, default=_json_default))
    return 0


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(type(value).__name__)


if __name__ == "__main__":
    sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "core" / "python")]
    sys.exit(main())
