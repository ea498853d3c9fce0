"""The ERP sync (docs/erp.md): customers, contracts and meter readings pushed to the
on-premises ERP over SOAP, and its status of our invoices read back.

**What to push is an outbox.** One function on the bus (``on_event``) turns the domain events
that change a customer or a contract (and stored meter readings) into an outbox item per
(entity, version): the record as the ERP takes it, read when the event arrives. The put is
conditional, so the same event twice is one item; a new version whose record says the same
as the last one (a billing account whose components changed) is not staged at all.

**The daily ``erp-sync`` run** (``statemachines/erp-sync.asl.json``, its run in the ledger
under ``erp-sync#<day>``): ``Prepare`` writes the pending outbox keys in batches to S3 and
puts the invoices issued since the last sync on the watch list; a Distributed Map runs
``PushBatch`` per batch (Retry on ``ErpUnavailable`` with back-off; each retried attempt is
noted in the run); ``PullStatus`` per shard of the watch list stores the ERP's status of each
invoice and raises an ``erp-status-mismatch`` exception once per invoice and rule; ``Finish``
sums and closes the run.

**Idempotent push.** Every record carries our id and version; the ERP applies a version once,
and an item is marked sent only after the ERP answered for it (a conditional write on
``pending``): a retried or re-driven batch skips what was sent and re-sends the rest safely.
A record the ERP refuses as invalid (``ErpRejected`` naming it) is not retried: it leaves the
pending index for the exceptions queue (kind ``erp-rejected``, with the record as sent), and
the rest of the batch goes on; ops correct it there (``retry``) and the next sync sends it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from monosub import access, aws, clock, config, executions
from monosub.adapters import erp as adapter
from monosub.domain import erp as rules
from monosub.models.billing import Invoice
from monosub.models.exceptions import ExceptionAction, ExceptionRecord
from monosub.names import ERP_SYNC, EXCHANGE, INVOICING
from monosub.observability import count, logger
from monosub.services import billing, exceptions
from monosub.store import billing as billing_store
from monosub.store import contracts as contracts_store
from monosub.store import erp as store
from monosub.store import records as records_store
from monosub.store import runs

CHANNEL = "erp"
REJECTED_KIND = "erp-rejected"
MISMATCH_KIND = "erp-status-mismatch"
RUNS_PREFIX = "runs/erp-sync"
CUSTOMER_EVENTS = frozenset({"CustomerSignedUp", "CustomerRegistered", "LeadConverted"})
CONTRACT_EVENTS = frozenset(
    {
        "ContractCreated",
        "ContractStarted",
        "ContractRenewed",
        "ContractEnded",
        "ContractCancelled",
        "ContractChanged",
    }
)
# Not published yet: monosub.services.usage_readings.store_readings is to publish it with
# ``reading_events`` (docs/erp.md).
READINGS_EVENT = "UsageReadingsStored"
INVOICE_EVENTS = frozenset({"InvoicePaid", "InvoiceReopened"})
EVENT_TYPES = CUSTOMER_EVENTS | CONTRACT_EVENTS | INVOICE_EVENTS | {READINGS_EVENT}


# ---- events → the outbox -------------------------------------------------------------------


def on_event(detail_type: str, detail: Mapping[str, Any]) -> dict[str, int]:
    """Stage what ``detail_type`` changed; returns how many outbox items were new."""
    staged = {"customers": 0, "contracts": 0, "readings": 0, "invoices_watched": 0}
    cause = f"{detail_type}"
    if detail_type in CUSTOMER_EVENTS:
        staged["customers"] += stage_customer(str(detail["account_id"]), cause=cause)
    elif detail_type in CONTRACT_EVENTS:
        contract_id = str(detail["contract_id"])
        contract = contracts_store.get(contract_id)
        if contract is None:
            logger.warning("ERP: contract not found", extra={"contract_id": contract_id})
            return staged
        # the customer first: the ERP refuses a contract of a customer it does not know
        staged["customers"] += stage_customer(contract.account_id, cause=cause)
        staged["contracts"] += stage_contract(contract_id, cause=cause)
    elif detail_type == READINGS_EVENT:
        staged["readings"] += stage_readings(detail.get("readings") or [], cause=cause)
    elif detail_type in INVOICE_EVENTS:
        staged["invoices_watched"] += store.watch([str(detail["invoice_id"])], cause=cause)
    return staged


def _stage(
    entity_type: str, entity_id: str, version: int, record: Mapping[str, Any], cause: str
) -> int:
    fingerprint = rules.fingerprint(record)
    latest = store.latest_outbox(entity_type, entity_id)
    if latest is not None and (
        latest.get("fingerprint") == fingerprint or int(latest["version"]) >= version
    ):
        return 0  # nothing new to say, or a newer version is staged already
    return (
        1
        if store.put_outbox(entity_type, entity_id, version, record, fingerprint, cause=cause)
        else 0
    )


def customer_of(account_id: str) -> tuple[int, dict[str, Any]] | None:
    """The customer's version and ERP record: from its billing account once billing knows
    it (name, kana, address as invoiced), else from the customer record."""
    account = billing_store.get_account(account_id)
    if account is not None:
        return account.version, rules.customer_record(
            account_id=account_id,
            version=account.version,
            customer_number=account.customer_number,
            name=account.name,
            segment=account.segment,
            name_kana=account.payer_name,
            postal_code=account.postal_code,
            address=account.address,
        )
    record = records_store.customer_record(account_id, scope=access.EVERYTHING)
    if record is None:
        return None
    to = next((d.ship_to for d in record.deals if d.ship_to is not None), None)
    return 1, rules.customer_record(
        account_id=account_id,
        version=1,
        customer_number=billing.customer_number(account_id),
        name=record.account.name,
        segment=record.account.segment,
        postal_code=to.postal_code if to else None,
        address=" ".join(
            p for p in (to.prefecture + to.city + to.address_line1, to.address_line2) if p
        )
        if to
        else None,
    )


def stage_customer(account_id: str, *, cause: str) -> int:
    found = customer_of(account_id)
    if found is None:
        logger.warning("ERP: customer not found", extra={"account_id": account_id})
        return 0
    version, record = found
    return _stage("customer", account_id, version, record, cause)


def stage_contract(contract_id: str, *, cause: str) -> int:
    contract = contracts_store.get(contract_id)
    if contract is None:
        return 0
    record = rules.contract_record(
        contract_id=contract.contract_id,
        version=contract.version,
        number=contract.number,
        customer_number=billing.customer_number(contract.account_id),
        status=contract.status,
        start_date=contract.start_date,
        end_date=contract.end_date,
        lines=[
            rules.ContractLine(
                name=line.name,
                quantity=line.quantity,
                unit=line.unit,
                unit_price=line.unit_price,
                amount=line.amount,
                billing=line.billing,
            )
            for line in contract.document.lines
        ],
    )
    return _stage("contract", contract.contract_id, contract.version, record, cause)


def stage_readings(readings: Sequence[Mapping[str, Any]], *, cause: str) -> int:
    """Readings as ``reading_events`` puts them in the event; the version is the instant
    they were stored (a corrected reading is a newer one)."""
    staged = 0
    version = int(clock.now().timestamp())
    for reading in readings:
        record = rules.reading_record(
            contract_number=str(reading["contract_number"]),
            sku=str(reading["sku"]),
            month=str(reading["month"]),
            read_on=date.fromisoformat(str(reading["read_on"])),
            value=Decimal(str(reading["quantity"])),
            unit=str(reading.get("unit") or ""),
            version=version,
        )
        staged += _stage("reading", str(record["sourceId"]), version, record, cause)
    return staged


def reading_events(
    rows: Sequence[Any], *, unit: str = "kWh"
) -> list[tuple[str, str, dict[str, Any]]]:
    """The ``UsageReadingsStored`` events for checked usage rows (``UsageRow``), a hundred
    readings to an event (EventBridge takes 256 KB an entry)."""
    readings = [
        {
            "contract_number": row.contract_number,
            "sku": row.sku,
            "month": row.month,
            "quantity": str(row.quantity),
            "read_on": (row.read_on or clock.today()).isoformat(),
            "unit": unit,
        }
        for row in rows
    ]
    return [
        ("monosub.billing", READINGS_EVENT, {"readings": readings[i : i + 100]})
        for i in range(0, len(readings), 100)
    ]


# ---- the run -------------------------------------------------------------------------------


def run_key(day: date) -> str:
    return f"erp-sync#{day.isoformat()}"


def start(day: date) -> dict[str, Any]:
    """The daily schedule: today's run, started once (a failed one waits for its re-drive);
    none on a day with nothing to do (no record waiting, no invoice to check, no invoicing
    run since the last sync): a few reads instead of an execution."""
    if not _work_waiting():
        logger.info("ERP sync: nothing to push or check today", extra={"day": day.isoformat()})
        return {"day": day.isoformat(), "started": False, "idle": True}
    started = executions.open_and_start(ERP_SYNC, run_key(day), {"day": day.isoformat()})
    return {"day": day.isoformat(), "started": started}


def _work_waiting() -> bool:
    if store.pending_keys(limit=1):
        return True
    if any(next(iter(store.watched(shard)), None) for shard in range(store.SHARDS)):
        return True
    since = store.watermark()
    return any(
        run.ended_at is not None and (since is None or run.ended_at > since)
        for run in runs.list_runs(INVOICING, limit=5)
    )


def prepare(state: Mapping[str, Any]) -> dict[str, Any]:
    run_id = str(state["run_id"])
    keys = store.pending_keys()
    prepared = billing.write_batches(f"{RUNS_PREFIX}/{run_id}", [f"{pk}|{sk}" for pk, sk in keys])
    since = store.watermark()
    until = clock.now_iso()
    issued = _issued_since(since)
    watched = store.watch(issued, cause="issued") if issued else 0
    runs.update(
        run_id,
        counts={"pending": len(keys), "batches": prepared["batches"], "invoices_issued": watched},
        message=f"ERP sync: {len(keys)} record(s) to push, {watched} new invoice(s) to check",
    )
    return {**prepared, "shards": list(range(store.SHARDS)), "until": until}


def _issued_since(since: str | None) -> list[str]:
    """Invoices issued by the invoicing runs that ended after ``since`` (their batch results
    in S3 list them); the first sync looks at the runs of the last 40 days."""
    s3 = aws.client("s3")
    bucket = config.bucket_name(EXCHANGE)
    issued: list[str] = []
    for run in runs.list_runs(INVOICING, limit=60):
        if run.ended_at is None or (since is not None and run.ended_at <= since):
            continue
        closing = str(run.subject.get("closing") or "")
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=f"{billing.RUNS_PREFIX}/invoicing/{closing}/result-"
        )
        for page in pages:
            for entry in page.get("Contents", []):
                result = billing.read_run_object(entry["Key"])
                issued.extend(str(i) for i in result.get("invoices", []))
    return issued


def push_batch(state: Mapping[str, Any], client: adapter.ErpClient | None = None) -> dict[str, Any]:
    run_id = str(state["run_id"])
    batch = int(state["batch"])
    keys = [
        tuple(k.rsplit("|", 1)) for k in billing.read_batch(str(state["key"]))
    ]  # ids may hold "|"
    items = [i for i in store.get_outbox(keys) if i.get("status") == store.PENDING]  # type: ignore[arg-type]
    counts = {"pushed": 0, "unchanged": 0, "rejected": 0, "already_sent": len(keys) - len(items)}
    rejected: list[dict[str, Any]] = []
    erp = client or (adapter.default_client() if items else None)
    for entity_type in rules.ENTITY_TYPES:  # customers before the contracts that name them
        todo = sorted(
            (i for i in items if i["entity_type"] == entity_type),
            key=lambda i: (str(i["entity_id"]), int(i["version"])),
        )
        while todo:
            assert erp is not None
            try:
                results = erp.push(
                    entity_type,  # type: ignore[arg-type]
                    f"{run_id}-{batch:05d}-{entity_type}",
                    [i["record"] for i in todo],
                )
            except adapter.ErpRejected as refused:
                bad = next(
                    (i for i in todo if str(i["record"]["sourceId"]) == refused.source_id), None
                )
                if bad is None:
                    raise  # the whole request refused (credentials): a person looks
                rejected.append(_reject(bad, refused, run_id))
                todo = [i for i in todo if i is not bad]
                continue
            for item, pushed in zip(todo, results, strict=True):
                store.mark_sent(item, run_id=run_id, erp_status=pushed.status, erp_id=pushed.erp_id)
                counts["unchanged" if pushed.status == "UNCHANGED" else "pushed"] += 1
            todo = []
    counts["rejected"] = len(rejected)
    count("ErpRecordsPushed", counts["pushed"])
    result = {"batch": batch, "counts": counts, "rejected": rejected}
    return billing.put_result(f"{RUNS_PREFIX}/{run_id}", result)


def _reject(item: Mapping[str, Any], refused: adapter.ErpRejected, run_id: str) -> dict[str, Any]:
    reference = f"{item['entity_type']}:{item['entity_id']}@{item['version']}"
    record, _ = exceptions.raise_exception(
        kind=REJECTED_KIND,
        channel=CHANNEL,
        source=ERP_SYNC,
        reference=reference,
        reason=f"the ERP refused the {item['entity_type']}: {refused.code}: {refused.message}",
        original={
            "entity_type": item["entity_type"],
            "entity_id": item["entity_id"],
            "version": int(item["version"]),
            "record": item["record"],
        },
        details={"code": refused.code, "operation": refused.operation, "run_id": run_id},
        account_id=str(item["entity_id"]) if item["entity_type"] == "customer" else None,
        actions=(exceptions.RETRY,),
    )
    store.mark_rejected(item, run_id=run_id, exception_id=record.exception_id, reason=refused.code)
    return {"record": reference, "code": refused.code, "exception_id": record.exception_id}


def pull_status(
    state: Mapping[str, Any], client: adapter.ErpClient | None = None
) -> dict[str, Any]:
    """One shard of the watch list: the ERP's status of each invoice stored here; a
    disagreement raised to the exceptions queue once per invoice and rule; an invoice both
    sides call settled leaves the list."""
    shard = int(state["shard"])
    counts = {"invoices_checked": 0, "unknown_in_erp": 0, "mismatches": 0, "settled": 0}
    invoice_ids = list(store.watched(shard))
    invoices = billing_store.get_invoices(invoice_ids) if invoice_ids else {}
    numbered = {i.number: i for i in invoices.values() if i.number}
    if not numbered:
        return {"shard": shard, "counts": counts}
    erp = client or adapter.default_client()
    for seen in erp.invoice_statuses(sorted(numbered)):
        invoice = numbered.get(seen.invoice_number)
        if invoice is None:
            continue
        counts["invoices_checked"] += 1
        counts["mismatches"] += _compare(invoice, seen, run_id=str(state["run_id"]))
        if seen.status == "UNKNOWN":
            counts["unknown_in_erp"] += 1
        elif rules.settled(_ours(invoice), seen):
            store.unwatch(invoice.invoice_id)
            counts["settled"] += 1
    return {"shard": shard, "counts": counts}


def _ours(invoice: Invoice) -> rules.OurInvoice:
    return rules.OurInvoice(
        invoice_number=invoice.number or invoice.invoice_id,
        status=invoice.status,
        total=invoice.total,
        balance=invoice.balance,
    )


def _compare(invoice: Invoice, seen: rules.ErpInvoice, *, run_id: str) -> int:
    """Store what the ERP said; raise each mismatch once. Returns the new exceptions."""
    found = rules.mismatches(_ours(invoice), seen)
    store.put_erp_status(
        invoice.invoice_id,
        {
            "invoice_number": seen.invoice_number,
            "erp_status": seen.status,
            "erp_amount": seen.amount,
            "erp_paid_amount": seen.paid_amount,
            "erp_paid_on": seen.paid_on.isoformat() if seen.paid_on else None,
            "our_status": invoice.status,
            "our_total": invoice.total,
            "mismatches": [m.rule for m in found],
            "checked_at": clock.now_iso(),
            "run_id": run_id,
        },
    )
    raised = 0
    for mismatch in found:
        _, new = exceptions.raise_exception(
            kind=MISMATCH_KIND,
            channel=CHANNEL,
            source=ERP_SYNC,
            reference=f"{invoice.invoice_id}:{mismatch.rule}",
            reason=mismatch.message,
            original={
                "invoice_id": invoice.invoice_id,
                "invoice_number": seen.invoice_number,
                "ours": {
                    "status": invoice.status,
                    "total": invoice.total,
                    "balance": invoice.balance,
                },
                "erp": {
                    "status": seen.status,
                    "amount": seen.amount,
                    "paid_amount": seen.paid_amount,
                    "paid_on": seen.paid_on.isoformat() if seen.paid_on else None,
                },
            },
            details={"rule": mismatch.rule, "run_id": run_id},
            amount=invoice.total,
            account_id=invoice.account_id,
            invoice_id=invoice.invoice_id,
        )
        raised += 1 if new else 0
    return raised


def finish(state: Mapping[str, Any]) -> dict[str, Any]:
    run_id = str(state["run_id"])
    _push_missing_batches(state)
    results = billing.read_results(f"{RUNS_PREFIX}/{run_id}", state)
    totals = dict.fromkeys(("pushed", "unchanged", "rejected", "invoices_checked", "mismatches"), 0)
    for result in [*results, *(state.get("pulled") or [])]:
        for name, value in result.get("counts", {}).items():
            totals[name] = totals.get(name, 0) + int(value)
    retried = store.retries(run_id)
    totals["push_retries"] = len(retried)
    rejected = [r for result in results for r in result.get("rejected", [])]
    errors = [{"step": "PushBatch", "retried": True, **r} for r in retried]
    errors += [{"step": "PushBatch", "rejected": True, **r} for r in rejected]
    store.set_watermark(str(state["prepared"]["until"]), run_id)
    runs.update(
        run_id,
        status="succeeded",
        counts={**(runs.require(run_id).counts), **totals},
        errors=errors,
        message=(
            f"ERP sync: {totals.get('pushed', 0)} record(s) pushed, "
            f"{totals.get('unchanged', 0)} unchanged, {totals.get('rejected', 0)} refused, "
            f"{totals['push_retries']} retried attempt(s); "
            f"{totals.get('invoices_checked', 0)} invoice(s) checked, "
            f"{totals.get('mismatches', 0)} new mismatch(es)"
        ),
    )
    return totals


def _push_missing_batches(state: Mapping[str, Any]) -> None:
    """A batch with no result failed all its attempts. On AWS the Map then fails and a
    re-drive runs its failed iterations; the embedded runtime's Map does not fail and its
    re-drive resumes here, so the batch is pushed now (what was sent is skipped), or this
    step fails with the ERP's error and waits for the next re-drive."""
    run_id = str(state["run_id"])
    prefix = f"{RUNS_PREFIX}/{run_id}"
    s3 = aws.client("s3")
    bucket = config.bucket_name(EXCHANGE)
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/result-")
    done = {str(entry["Key"]) for page in pages for entry in page.get("Contents", [])}
    for number in range(1, int(state["prepared"]["batches"]) + 1):
        if f"{prefix}/result-{number:05d}.json" not in done:
            key = f"{prefix}/batch-{number:05d}.json"
            push_batch({"run_id": run_id, "batch": number, "key": key})


def record_failure(state: Mapping[str, Any], step: str, error: BaseException) -> None:
    """A failed step goes into the run; a push the ERP could not take is also noted as a
    retried attempt (Step Functions retries it: Finish counts them)."""
    if isinstance(error, adapter.ErpUnavailable) and state.get("run_id"):
        store.note_retry(str(state["run_id"]), state.get("batch") or state.get("shard"), error)
    runs.record_step_failure(state, step, error, batch=state.get("batch"), shard=state.get("shard"))


# ---- ops correct a refused record ----------------------------------------------------------


def _retry_rejected(record: ExceptionRecord, decision: ExceptionAction) -> Mapping[str, Any]:
    """``retry`` on an ``erp-rejected`` exception: the record with ops' corrections is
    pending again (same version: the ERP never applied it), sent by the next sync."""
    corrected = exceptions.corrected(record, decision)
    entity = corrected["record"] if isinstance(corrected.get("record"), Mapping) else {}
    if not store.back_to_pending(
        str(corrected["entity_type"]),
        str(corrected["entity_id"]),
        int(corrected["version"]),
        entity,
    ):
        from monosub.errors import Conflict

        raise Conflict("the record is not refused any more")
    return {"pending_again": f"{corrected['entity_type']}:{corrected['entity_id']}"}


exceptions.register_action(REJECTED_KIND, exceptions.RETRY, _retry_rejected)
