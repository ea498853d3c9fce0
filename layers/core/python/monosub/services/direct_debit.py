"""Direct debit (口座振替) through the collecting bank's 全銀 files (docs/cash.md#direct-debit).

The ``direct-debit`` state machine runs once per **debit date** (the due date of the invoices
paid by direct debit, a bank day): the daily schedule starts it on the day the bank needs the
request by (``request_lead_bank_days`` bank days before the debit date) or, if that day was
missed, on any later day before the debit date.

1. ``Prepare`` collects the open direct-debit invoices due on the debit date (the open-items
   index, a page at a time), their accounts' bank accounts (one batch read per 100), and
   writes the request file (cp932, 120-byte records) to ``outbox/zengin-debit/<date>/`` and
   the map from 顧客番号 (customer number) back to each invoice beside the run's objects. The
   request is then recorded (``DEBIT#<date>``): a rerun finds it and sends the same file; an
   invoice that cannot be requested (no bank account, a name that is not kana) is queued as
   an exception and left to be collected another way.
2. ``Deliver`` sends the file to the bank's SFTP (``monosub.adapters.bank_sftp``: a Transfer
   Family connector on AWS, a local SFTP server here); an outage is retried with back-off,
   and the adapter never sends other content under a name already delivered.
3. The bank's result file is dropped under ``inbox/zengin-debit-result/`` (file kind
   ``zengin-debit-result``, ``monosub.intake.debit_results``): checked against this request
   and applied, each debited invoice paid, each failure kept on its invoice.

The 顧客番号 is the invoice number's digits (``INV-2026-000123`` → ``2026000123``), zero
padded to 20: unique, and readable by ops on the bank's own screens.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from monosub import aws, clock, company, config, events, executions
from monosub.adapters import bank_sftp
from monosub.domain import calendar
from monosub.formats import zengin, zengin_debit
from monosub.models.billing import BillingAccount, Invoice
from monosub.names import DIRECT_DEBIT, EXCHANGE
from monosub.services import exceptions
from monosub.store import billing as billing_store
from monosub.store import cash as store
from monosub.store import runs

SOURCE = "monosub.cash"
METHOD = "direct-debit"
OUTBOX = "outbox/zengin-debit"
RUNS_PREFIX = "runs/direct-debit"
NOT_REQUESTED = "debit-not-requested"


def run_key(debit_date: date) -> str:
    return f"direct-debit#{debit_date.isoformat()}"


def settings() -> dict[str, Any]:
    return dict(company.direct_debit_profile())


def request_day(debit_date: date) -> date:
    """The day the request file is due at the bank: ``request_lead_bank_days`` bank days
    before the debit date."""
    day = debit_date
    for _ in range(int(settings()["request_lead_bank_days"])):
        day = calendar.previous_bank_day(day - timedelta(days=1))
    return day


def start_requests(today: date) -> dict[str, Any]:
    """The daily schedule: a run for each coming debit date whose request is due by today
    (or overdue: a missed day is caught up while the debit date is still ahead) and that has
    open invoices. A date with a run already starts nothing."""
    started, dates = [], []
    for ahead in range(1, int(settings()["window_days"]) + 1):
        debit_date = today + timedelta(days=ahead)
        if request_day(debit_date) > today:
            continue
        if next(billing_store.open_invoices(METHOD, due_on=debit_date, page=1), None) is None:
            continue
        dates.append(debit_date.isoformat())
        subject = {"debit_date": debit_date.isoformat()}
        if executions.open_and_start(DIRECT_DEBIT, run_key(debit_date), subject):
            started.append(debit_date.isoformat())
    return {"debit_dates": dates, "started": started}


def customer_number(invoice: Invoice) -> str:
    digits = re.sub(r"\D", "", invoice.number or "")
    return digits.rjust(20, "0")


def file_name(debit_date: date) -> str:
    code = str(settings()["consignor_code"])
    return f"KOFURI_{code}_{debit_date.strftime('%Y%m%d')}.txt"


def _header(debit_date: date) -> zengin_debit.DebitHeader:
    profile = settings()
    return zengin_debit.DebitHeader(
        consignor_code=str(profile["consignor_code"]),
        consignor_name=str(profile["consignor_name"]),
        debit_date=debit_date,
        bank_code=str(profile["bank_code"]),
        bank_name=str(profile["bank_name"]),
        branch_code=str(profile["branch_code"]),
        branch_name=str(profile["branch_name"]),
        account_type=str(profile["account_type"]),
        account_number=str(profile["account_number"]),
    )


def _record(
    invoice: Invoice, account: BillingAccount | None, line: int
) -> zengin_debit.DebitRecord | str:
    """The data record of one invoice, or why it cannot be requested."""
    bank = account.debit_account if account else None
    if bank is None:
        return "the billing account has no bank account to draw from (口座振替依頼書)"
    try:
        holder = zengin.fit(zengin.to_zengin_kana(bank.holder_name), 30, "預金者名", line=line)
        bank_name = zengin.fit(zengin.to_zengin_kana(bank.bank_name), 15, "引落銀行名")
        branch_name = zengin.fit(zengin.to_zengin_kana(bank.branch_name), 15, "引落支店名")
    except ValueError as error:
        return f"the bank account cannot be written in a 全銀 file: {error}"
    return zengin_debit.DebitRecord(
        line=line,
        bank_code=bank.bank_code,
        bank_name=bank_name,
        branch_code=bank.branch_code,
        branch_name=branch_name,
        account_type=bank.account_type,
        account_number=bank.account_number,
        holder_name=holder,
        amount=invoice.balance,
        new_code="0",
        customer_number=customer_number(invoice),
    )


def prepare(state: Mapping[str, Any]) -> dict[str, Any]:
    """Write the request file of the debit date (or find the one written before)."""
    debit_date = date.fromisoformat(str(state["debit_date"]))
    run_id = str(state["run_id"])
    existing = store.get_debit_request(debit_date)
    if existing is not None:
        return _summary(existing)
    invoices: list[Invoice] = [
        invoice
        for page in billing_store.open_invoices(METHOD, due_on=debit_date)
        for invoice in page
    ]
    accounts = billing_store.get_accounts(sorted({i.account_id for i in invoices}))
    records: list[zengin_debit.DebitRecord] = []
    requested: dict[str, dict[str, Any]] = {}
    skipped: list[dict[str, Any]] = []
    for invoice in invoices:
        made = _record(invoice, accounts.get(invoice.account_id), line=len(records) + 2)
        if isinstance(made, str):
            skipped.append({"invoice_id": invoice.invoice_id, "reason": made})
            _queue_not_requested(invoice, debit_date, made, run_id)
            continue
        records.append(made)
        requested[made.customer_number] = {
            "invoice_id": invoice.invoice_id,
            "account_id": invoice.account_id,
            "number": invoice.number,
            "amount": made.amount,
        }
    content = zengin_debit.write_debit_file(_header(debit_date), records)
    name = file_name(debit_date)
    key = f"{OUTBOX}/{debit_date.isoformat()}/{name}"
    map_key = f"{RUNS_PREFIX}/{debit_date.isoformat()}/request.json"
    s3 = aws.client("s3")
    bucket = config.bucket_name(EXCHANGE)
    s3.put_object(Bucket=bucket, Key=map_key, Body=json.dumps(requested).encode())
    s3.put_object(Bucket=bucket, Key=key, Body=content, ContentType="text/plain")
    values: dict[str, Any] = {
        "debit_date": debit_date.isoformat(),
        "run_id": run_id,
        "bucket": bucket,
        "key": key,
        "file_name": name,
        "map_key": map_key,
        "sha256": _sha256(content),
        "count": len(records),
        "total": sum(r.amount for r in records),
        "skipped": len(skipped),
        "status": "written",
        "written_at": clock.now_iso(),
    }
    if not store.put_debit_request(debit_date, values):  # another attempt wrote it first
        values = store.get_debit_request(debit_date) or values
    runs.update(
        run_id,
        counts={"requested": int(values["count"]), "skipped": len(skipped)},
        message=f"debit {debit_date}: {values['count']} debit(s), ¥{int(values['total']):,}",
    )
    return _summary(values)


def _sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _summary(request: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "debit_date": str(request["debit_date"]),
        "key": str(request["key"]),
        "file_name": str(request["file_name"]),
        "count": int(request["count"]),
        "total": int(request["total"]),
    }


def _queue_not_requested(invoice: Invoice, debit_date: date, reason: str, run_id: str) -> None:
    exceptions.raise_exception(
        kind=NOT_REQUESTED,
        channel=METHOD,
        source=run_id,
        reference=f"{invoice.invoice_id}#{debit_date.isoformat()}",
        reason=f"invoice {invoice.number} is not in the debit of {debit_date}: {reason}",
        original={"invoice_id": invoice.invoice_id, "debit_date": debit_date.isoformat()},
        amount=invoice.balance,
        account_id=invoice.account_id,
        invoice_id=invoice.invoice_id,
    )


def deliver(state: Mapping[str, Any]) -> dict[str, Any]:
    """Send the request file to the bank (once: a delivered request is not sent again)."""
    debit_date = date.fromisoformat(str(state["debit_date"]))
    request = store.get_debit_request(debit_date)
    if request is None:
        raise RuntimeError(f"no request for the debit of {debit_date}: run Prepare first")
    if request.get("status") in ("delivered", "result-applied"):
        return {"status": "already-delivered", "file_name": request["file_name"]}
    body = aws.client("s3").get_object(Bucket=request["bucket"], Key=request["key"])["Body"]
    receipt = bank_sftp.deliver(
        bucket=str(request["bucket"]),
        key=str(request["key"]),
        content=body.read(),
        file_name=str(request["file_name"]),
    )
    store.update_debit_request(
        debit_date,
        {"status": "delivered", "delivered_at": clock.now_iso(), "receipt": receipt.as_dict()},
    )
    events.publish_all(
        None,
        [
            (
                SOURCE,
                "DirectDebitRequested",
                {
                    "run_id": str(state["run_id"]),
                    "debit_date": debit_date.isoformat(),
                    "file_name": request["file_name"],
                    "count": int(request["count"]),
                    "total": int(request["total"]),
                },
            )
        ],
    )
    return {"status": receipt.status, "file_name": receipt.file_name}


def finish(state: Mapping[str, Any]) -> dict[str, Any]:
    debit_date = str(state["debit_date"])
    prepared = state.get("prepared") or {}
    delivered = state.get("delivered") or {}
    runs.update(
        str(state["run_id"]),
        status="succeeded",
        message=(
            f"debit {debit_date}: {prepared.get('count', 0)} debit(s), "
            f"¥{int(prepared.get('total', 0)):,}, file {delivered.get('status', 'not sent')}"
        ),
    )
    return {"debit_date": debit_date, **delivered}


def record_failure(state: Mapping[str, Any], step: str, error: BaseException) -> None:
    runs.record_step_failure(state, step, error)


def requested_invoices(request: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The request's map from 顧客番号 to its invoice (what a result file is checked with)."""
    body = aws.client("s3").get_object(Bucket=request["bucket"], Key=request["map_key"])["Body"]
    data: dict[str, dict[str, Any]] = json.loads(body.read())
    return data


def records_of(request: Mapping[str, Any]) -> Sequence[zengin_debit.DebitRecord]:
    """The data records of the request file as it was sent."""
    body = aws.client("s3").get_object(Bucket=request["bucket"], Key=request["key"])["Body"]
    return zengin_debit.read_debit_file(body.read(), result=False).records
