"""Billing: billing accounts kept from contract events, the month-end revenue run and the
invoicing run (the state machines' tasks), finalization with gapless numbers.

The engine (``monosub.domain.billing``) computes; this module reads what it needs in batches,
writes in batches, and keeps each run rerunnable: a billing account's invoice for a closing
has an id derived from both (written only if absent), a draft is finalized once, the ledger
of what was billed moves once per closing, revenue rows are keyed by (month, line).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from monosub import access, aws, clock, config, executions
from monosub.domain import billing as engine
from monosub.domain import calendar as bank_days
from monosub.domain import portal as portal_rules
from monosub.errors import Conflict, NotFound, ValidationFailed
from monosub.formats import csv_export, journal, zengin
from monosub.models.billing import BillingAccount, Component, Invoice, RevenueRow
from monosub.models.contracts import Contract
from monosub.names import EXCHANGE, INVOICING, MONTH_END_REVENUE
from monosub.observability import count, logger
from monosub.services import payments
from monosub.services import usage_readings as usage
from monosub.services.pricing import TAX_ROUNDING
from monosub.store import billing as store
from monosub.store import contracts as contracts_store
from monosub.store import records, runs
from monosub.store.dynamo import TransactionConflict

SOURCE = "monosub.billing"
ACCOUNTS_PER_BATCH = 100
_ATTEMPTS = 8
# What the runs write for the Map to read, under the exchange bucket.
RUNS_PREFIX = "runs"


# ---- billing accounts from contract events -------------------------------------------------


def customer_number(account_id: str) -> str:
    """お客様番号: stable, short, printed on invoices and used by the bank files."""
    return account_id.split("_", 1)[-1][:12].upper()


def _new_account(contract: Contract) -> BillingAccount:
    record = records.customer_record(contract.account_id, scope=access.EVERYTHING)
    if record is None:
        raise NotFound(f"account {contract.account_id} of contract {contract.contract_id}")
    deal = next((d for d in record.deals if d.deal_id == contract.deal_id), None)
    contact = next(
        (c for c in record.contacts if c.contact_id == contract.contact_id),
        record.contacts[0] if record.contacts else None,
    )
    address = None
    postal_code = None
    if deal is not None and deal.ship_to is not None:
        to = deal.ship_to
        postal_code = to.postal_code
        address = " ".join(
            part for part in (to.prefecture + to.city + to.address_line1, to.address_line2) if part
        )
    now = clock.now_iso()
    return BillingAccount(
        account_id=contract.account_id,
        name=record.account.name,
        person=contact.person_name if contact else None,
        postal_code=postal_code,
        address=address,
        email=contact.email if contact else None,
        customer_number=customer_number(contract.account_id),
        segment=record.account.segment,
        payment_method=contract.payment_method or "bank-transfer",
        created_at=now,
        updated_at=now,
    )


def account_for(contract: Contract) -> BillingAccount:
    """The contract's billing account, made on its first contract."""
    account = store.get_account(contract.account_id)
    if account is not None:
        return account
    store.create_account(_new_account(contract))
    account = store.get_account(contract.account_id)
    assert account is not None
    return account


def on_contract_event(detail_type: str, detail: Mapping[str, Any]) -> str:
    """Apply a contract event to its billing account's components. Each is idempotent: a
    term's components are added once (their keys say which term), ending is a no-op the
    second time. Returns what happened, for the log."""
    contract_id = str(detail["contract_id"])
    for _ in range(_ATTEMPTS):
        contract = contracts_store.get(contract_id)
        if contract is None:
            raise NotFound(f"contract {contract_id}")
        account = account_for(contract)
        changed = _apply(detail_type, detail, contract, account)
        if changed is None:
            return "unchanged"
        components, outcome = changed
        contract_ids = sorted({*account.contracts, contract_id})
        if store.save_components(account, components, contract_ids):
            count(f"Billing{detail_type}")
            return outcome
    raise Conflict(f"the billing account of contract {contract_id} kept changing")


def _apply(
    detail_type: str, detail: Mapping[str, Any], contract: Contract, account: BillingAccount
) -> tuple[list[Component], str] | None:
    components = list(account.components)
    mine = {c.key for c in components if c.contract_id == contract.contract_id}
    if detail_type == "ContractStarted":
        usage.remember_contract(contract)  # readings files name it by its number
        if any(key.startswith("t1.") for key in mine):
            return None
        start = date.fromisoformat(str(detail["start_date"]))
        added = engine.components_from_document(
            contract.document,
            contract_id=contract.contract_id,
            term=1,
            start=start,
            first_month=account.first_month,
        )
        added += usage.usage_components(
            contract, term=1, start=start, first_month=account.first_month
        )
        return components + added, f"billing from {start}: {len(added)} component(s)"
    if detail_type == "ContractRenewed":
        if detail.get("automatic"):
            return None  # the same components go on
        term = int(detail["term"])
        if any(key.startswith(f"t{term}.") for key in mine):
            return None
        start = date.fromisoformat(str(detail["start_date"]))
        ended = engine.end_components(components, contract.contract_id, start - timedelta(days=1))
        added = engine.components_from_document(
            contract.document,
            contract_id=contract.contract_id,
            term=term,
            start=start,
            first_month="prorate",
            one_time=False,
        )
        added += usage.usage_components(contract, term=term, start=start, first_month="prorate")
        return ended + added, f"term {term} billed from {start}"
    if detail_type == "ContractEnded":
        last = date.fromisoformat(str(detail["end_date"]))
        ended = engine.end_components(components, contract.contract_id, last)
        if ended == components:
            return None
        return ended, f"billing ends on {last}"
    return None


# ---- settings ------------------------------------------------------------------------------


def get_account(account_id: str) -> BillingAccount:
    account = store.get_account(account_id)
    if account is None:
        raise NotFound(f"account {account_id} has no billing account (no contract started)")
    return account


def visible_account(account_id: str, *, scope: access.Scope) -> BillingAccount:
    """The billing account, if the caller may see the customer (404 otherwise, as unknown)."""
    require_visible_customer(account_id, scope=scope)
    return get_account(account_id)


def require_visible_customer(account_id: str, *, scope: access.Scope) -> None:
    """404 (as unknown) unless the caller may see the customer: money can be received before
    its billing account exists (a web-shop checkout pays before the contract starts)."""
    if records.get_account(account_id, scope=scope) is None:
        raise NotFound(f"account {account_id}")


def visible_invoice(invoice_id: str, *, scope: access.Scope) -> Invoice:
    invoice = store.get_invoice(invoice_id)
    if invoice is None or records.get_account(invoice.account_id, scope=scope) is None:
        raise NotFound(f"invoice {invoice_id}")
    return invoice


def invoice_pdf(invoice: Invoice) -> bytes:
    if invoice.pdf_key is None:
        raise NotFound(f"invoice {invoice.invoice_id} has no PDF yet")
    from monosub.documents.storage import read_pdf

    return read_pdf(invoice.pdf_key)


def invoices_of(account_id: str, *, limit: int) -> list[Invoice]:
    return store.account_invoices(account_id, limit=limit)


def change_settings(account_id: str, version: int, settings: Mapping[str, Any]) -> BillingAccount:
    """Closing day, payment terms, delivery, first-month rule: effective from the next
    closing. 409 when the account changed since ``version`` was read."""
    account = get_account(account_id)
    if account.version != version:
        raise Conflict(
            f"billing account {account_id} is at version {account.version}, not {version}"
        )
    merged = BillingAccount.model_validate({**account.model_dump(), **settings})
    problems = _settings_problems(merged)
    if problems:
        raise ValidationFailed("the billing settings are not valid", details=problems)
    if not store.save_settings(account, dict(settings)):
        raise Conflict(f"billing account {account_id} changed meanwhile")
    return get_account(account_id)


def _settings_problems(account: BillingAccount) -> list[dict[str, str]]:
    problems = []
    for name in ("closing_day", "pay_day"):
        value = getattr(account, name)
        if not (1 <= value <= 28 or value == 31):
            problems.append({"field": name, "message": "1–28, or 31 for the month end"})
    if account.delivery == "email" and not account.email:
        problems.append({"field": "delivery", "message": "email delivery needs an email address"})
    if account.delivery == "paper" and not (account.address and account.postal_code):
        problems.append({"field": "delivery", "message": "paper delivery needs a postal address"})
    if account.payment_method == "direct-debit" and account.debit_account is None:
        problems.append(
            {
                "field": "debit_account",
                "message": "direct debit needs the bank account to draw from",
            }
        )
    if account.debit_account is not None:
        try:
            zengin.fit(zengin.to_zengin_kana(account.debit_account.holder_name), 30, "預金者名")
        except ValueError as error:
            problems.append({"field": "debit_account.holder_name", "message": str(error)})
    if account.payer_name:
        try:
            zengin.to_zengin_kana(account.payer_name)
        except ValueError as error:
            problems.append({"field": "payer_name", "message": str(error)})
    return problems


def terms_of(account: BillingAccount) -> bank_days.PaymentTerms:
    return bank_days.PaymentTerms(
        closing_day=account.closing_day,
        months_after=account.months_after,
        pay_day=account.pay_day,
        holiday_rule=account.holiday_rule,
    )


# ---- batches for the Map -------------------------------------------------------------------


def write_batches(prefix: str, account_ids: Sequence[str]) -> dict[str, Any]:
    """The account ids in batches of ``ACCOUNTS_PER_BATCH``, one S3 object each, and a
    manifest listing them: the Map's item source (Distributed Map on AWS)."""
    s3 = aws.client("s3")
    bucket = config.bucket_name(EXCHANGE)
    items = []
    for number, start in enumerate(range(0, len(account_ids), ACCOUNTS_PER_BATCH), start=1):
        key = f"{prefix}/batch-{number:05d}.json"
        body = json.dumps(list(account_ids[start : start + ACCOUNTS_PER_BATCH]))
        s3.put_object(Bucket=bucket, Key=key, Body=body.encode(), ContentType="application/json")
        items.append({"batch": number, "key": key})
    manifest = f"{prefix}/manifest.json"
    s3.put_object(
        Bucket=bucket, Key=manifest, Body=json.dumps(items).encode(), ContentType="application/json"
    )
    return {
        "bucket": bucket,
        "manifest": manifest,
        "batches": len(items),
        "accounts": len(account_ids),
    }


def put_result(prefix: str, result: dict[str, Any]) -> dict[str, Any]:
    """A batch's result, kept in S3 for the run's last step (a Map's results in the state
    would outgrow its 256 KB limit on a large run); the state gets a summary."""
    key = f"{prefix}/result-{int(result['batch']):05d}.json"
    aws.client("s3").put_object(
        Bucket=config.bucket_name(EXCHANGE), Key=key, Body=json.dumps(result).encode()
    )
    return {"batch": result["batch"], "result": key}


def read_results(prefix: str, state: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The batches' results, in order. A batch with no result (it died: on AWS the Map
    fails first and a re-drive runs it again; the embedded runtime's Map goes on) is a
    result with nothing done and one failure naming it, so the run ends failed and its
    next attempt does what is left."""
    results = []
    s3 = aws.client("s3")
    for number in range(1, int(state["prepared"]["batches"]) + 1):
        try:
            results.append(read_run_object(f"{prefix}/result-{number:05d}.json"))
        except s3.exceptions.NoSuchKey:
            why = f"batch {number} did not finish (no result): its accounts wait for a rerun"
            results.append(
                {"batch": number, "missing": True, "failures": [{"batch": number, "error": why}]}
            )
    return results


def read_run_object(key: str) -> Any:
    """A JSON object a run wrote under ``runs/`` of the exchange bucket (a batch of account
    ids, a batch's result)."""
    body = aws.client("s3").get_object(Bucket=config.bucket_name(EXCHANGE), Key=key)["Body"]
    return json.loads(body.read())


def read_batch(key: str) -> list[str]:
    return [str(account_id) for account_id in read_run_object(key)]


# ---- month-end revenue ---------------------------------------------------------------------


def month_end_key(month: str) -> str:
    return f"month-end#{month}"


def start_month_end(day: date) -> dict[str, Any]:
    """The daily schedule (early morning in Tokyo): the months closed since the last run
    (succeeded or not: a failed run is re-driven, not started again), oldest first, up to
    last month, each its own run and execution. A month already run is not run again, so
    on any day but the 1st (or the day after a missed 1st) this starts nothing."""
    last_month = engine.add_months(engine.month_key(day), -1)
    done = _last_done(MONTH_END_REVENUE, month_end_key, last_month)
    if done == last_month or (done is None and day.day != 1):
        # up to date; or nothing ever ran: the first run is on a 1st
        return {"months": [], "started": []}
    months = engine.months_from(engine.add_months(done, 1), last_month) if done else [last_month]
    started = [
        month
        for month in months
        if executions.open_and_start(MONTH_END_REVENUE, month_end_key(month), {"month": month})
    ]
    return {"months": months, "started": started}


def _last_done(kind: str, key_of: Any, latest: str, lookback: int = 12) -> str | None:
    """The newest month up to ``latest`` (looking back ``lookback`` months) that has a run;
    None if none has (then only ``latest`` runs: nothing before billing began)."""
    month = latest
    for _ in range(lookback):
        if runs.get(runs.run_id_for(kind, key_of(month))) is not None:
            return month
        month = engine.add_months(month, -1)
    return None


def prepare_month_end(state: Mapping[str, Any]) -> dict[str, Any]:
    """Every billing account, in batches (the month's revenue is every account's)."""
    month = str(state["month"])
    account_ids = sorted(
        {account_id for day in (*range(1, 29), 31) for account_id in store.accounts_closing_on(day)}
    )
    prepared = write_batches(f"{RUNS_PREFIX}/month-end/{month}", account_ids)
    runs.update(
        str(state["run_id"]),
        counts={"accounts": len(account_ids), "batches": prepared["batches"]},
        message=f"revenue of {month}: {len(account_ids)} account(s)",
    )
    return prepared


def month_end_batch(state: Mapping[str, Any]) -> dict[str, Any]:
    """The month's revenue rows of a batch of accounts, written in batches (a rerun writes
    the same items), and the batch's part of the revenue file. Readings of earlier months
    that no revenue file has yet (read after their month's run, or corrected) are
    recognized now, each row naming its service month: the previous month's revenue items
    say which readings the files hold (one batch read per 100 accounts)."""
    month = str(state["month"])
    # the components and readings: not the ledger (what was billed is not revenue)
    accounts, broken = store.read_accounts(read_batch(str(state["key"])), ledger=False)
    if broken:
        logger.error("billing accounts left out of the revenue", extra={"broken": broken})
    metered = sorted(a for a, account in accounts.items() if _metered(account))
    before = store.usage_seen(engine.add_months(month, -1), metered) if metered else {}
    rows: list[RevenueRow] = []
    seen: dict[str, dict[str, str]] = {}
    for account_id in sorted(accounts):
        account = accounts[account_id]
        rows += engine.revenue_rows(account.components, month, account_id, account.usage)
        if account_id not in before:
            continue
        known = before[account_id]
        if known is None:  # kept before this run's month: take every reading as recognized
            known = engine.readings_through(account.usage, engine.add_months(month, -1))
        rows += engine.late_usage_rows(account.components, month, account_id, account.usage, known)
        seen[account_id] = engine.readings_through(account.usage, month)
    store.put_revenue(month, rows, seen)
    part = f"{RUNS_PREFIX}/month-end/{month}/revenue-{int(state['batch']):05d}.csv"
    aws.client("s3").put_object(
        Bucket=config.bucket_name(EXCHANGE), Key=part, Body=_revenue_csv(rows, header=False)
    )
    result = {"batch": state["batch"], "rows": len(rows), "amount": sum(r.amount for r in rows)}
    return put_result(f"{RUNS_PREFIX}/month-end/{month}", result)


def _metered(account: BillingAccount) -> bool:
    """Billed by readings: its revenue items keep the readings recognized (even none yet,
    so a first reading arriving late is known to be new)."""
    return bool(account.usage) or any(c.kind == "usage" for c in account.components)


REVENUE_HEADER = (
    "month",
    "account_id",
    "contract_id",
    "component",
    "name",
    "amount",
    "tax_rate",
    "days",
    "service_month",
)


def _revenue_csv(rows: Iterable[RevenueRow], *, header: bool) -> bytes:
    text = csv_export.line(REVENUE_HEADER) if header else ""
    for row in rows:
        text += csv_export.line(
            (
                row.month,
                row.account_id,
                row.contract_id,
                row.component,
                row.name,
                row.amount,
                row.tax_rate,
                row.days,
                row.service_month or row.month,
            )
        )
    return text.encode("utf-8")


def finish_month_end(state: Mapping[str, Any]) -> dict[str, Any]:
    """The month's revenue file (the batches' parts in order) and the run's totals."""
    month = str(state["month"])
    results = read_results(f"{RUNS_PREFIX}/month-end/{month}", state)
    missing = [f for r in results if r.get("missing") for f in r["failures"]]
    if missing:  # no file with a batch's rows left out: the next attempt writes it whole
        runs.update(
            str(state["run_id"]),
            status="failed",
            counts=_counts(state),
            errors=missing,
            message=f"revenue of {month}: {len(missing)} batch(es) did not finish; no file",
        )
        return {"file": None, "missing_batches": len(missing)}
    s3 = aws.client("s3")
    bucket = config.bucket_name(EXCHANGE)
    body = _revenue_csv([], header=True)
    for number in range(1, int(state["prepared"]["batches"]) + 1):
        part = f"{RUNS_PREFIX}/month-end/{month}/revenue-{number:05d}.csv"
        body += s3.get_object(Bucket=bucket, Key=part)["Body"].read()
    key = f"outbox/accounting/{month}/revenue-{month.replace('-', '')}.csv"
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="text/csv")
    rows = sum(int(r["rows"]) for r in results)
    amount = sum(int(r["amount"]) for r in results)
    runs.update(
        str(state["run_id"]),
        status="succeeded",
        counts={**_counts(state), "rows": rows, "amount_yen": amount},
        message=f"revenue of {month}: {rows} row(s), ¥{amount:,} → {key}",
        subject={"month": month, "file": key},
    )
    count("RevenueRows", rows)
    return {"file": key, "rows": rows, "amount": amount}


def _counts(state: Mapping[str, Any]) -> dict[str, int]:
    prepared = state.get("prepared") or {}
    return {
        "accounts": int(prepared.get("accounts", 0)),
        "batches": int(prepared.get("batches", 0)),
    }


# ---- invoicing -----------------------------------------------------------------------------


def invoicing_key(closing: date) -> str:
    return f"invoicing#{closing.isoformat()}"


def start_invoicing(day: date) -> dict[str, Any]:
    """The daily schedule (early morning in Tokyo) runs the closings up to yesterday that
    have not run: every closing day of every month between (a missed day is caught up),
    each its own run. Closing dates are those of ``closing_day`` 1–28 and month end."""
    yesterday = day - timedelta(days=1)
    started, closings = [], []
    for back in range(7, -1, -1):
        closing = yesterday - timedelta(days=back)
        if not _anyone_closes(closing):
            continue
        closings.append(closing.isoformat())
        if executions.open_and_start(
            INVOICING, invoicing_key(closing), {"closing": closing.isoformat()}
        ):
            started.append(closing.isoformat())
    return {"closings": closings, "started": started}


def _anyone_closes(closing: date) -> bool:
    """Some billing account closes on this date (a day nobody closes on starts no run)."""
    return any(
        next(store.accounts_closing_on(day, limit=1), None) for day in closing_days_of(closing)
    )


def closing_days_of(closing: date) -> list[int]:
    """The closing days that close on ``closing``: its day, and 31 on a month's last day."""
    days = [closing.day] if closing.day <= 28 else []
    if closing == engine.month_last(engine.month_key(closing)):
        days.append(31)
    return days


def prepare_invoicing(state: Mapping[str, Any]) -> dict[str, Any]:
    closing = date.fromisoformat(str(state["closing"]))
    account_ids = sorted(
        {a for day in closing_days_of(closing) for a in store.accounts_closing_on(day)}
    )
    prepared = write_batches(f"{RUNS_PREFIX}/invoicing/{closing.isoformat()}", account_ids)
    runs.update(
        str(state["run_id"]),
        counts={"accounts": len(account_ids), "batches": prepared["batches"]},
        message=f"closing {closing}: {len(account_ids)} account(s)",
    )
    return prepared


def invoicing_batch(state: Mapping[str, Any]) -> dict[str, Any]:
    """A batch of accounts at a closing: invoices computed (pure), numbered by a claim and
    written once (``issue_all``), the ledgers moved. An account that fails is reported and
    the others go on."""
    closing = date.fromisoformat(str(state["closing"]))
    run_id = str(state.get("run_id") or "")
    account_ids = read_batch(str(state["key"]))
    accounts, broken = store.read_accounts(account_ids)
    invoice_ids = [engine.invoice_id(a, closing) for a in account_ids]
    # numbers claimed by an earlier attempt that died before writing its invoices: written
    # now with those numbers, before anything could number the same invoices again
    recover_claims(set(invoice_ids), series=engine.series_of(closing))
    existing = store.get_invoices(invoice_ids)
    now = clock.now_iso()
    drafts: list[Invoice] = []
    ledgers: dict[str, dict[str, int]] = {}
    # a payment method the customer chose for this closing onwards: billed with now, made
    # the account's by the ledger's write (the account item carries it: no extra read)
    payment_changes: dict[str, dict[str, Any] | None] = {}
    failures: list[dict[str, str]] = []
    already = 0
    # invoices an earlier attempt issued: not issued again, but the closing's journal (which
    # each attempt writes whole) lists them too
    issued_before: list[Invoice] = []
    for account_id in account_ids:
        account = accounts.get(account_id)
        if account is None:
            why = broken.get(account_id, "no billing account")
            failures.append({"account_id": account_id, "error": why[:500]})
            continue
        if account.last_closing is not None and account.last_closing >= closing:
            already += 1
            before = existing.get(engine.invoice_id(account_id, closing))
            if before is not None and before.status != "draft":
                issued_before.append(before)
            continue
        account, payment_changes[account_id] = _with_pending_payment(account, closing)
        try:
            found = existing.get(engine.invoice_id(account_id, closing))
            if found is not None:  # a rerun: the invoice of this closing is written
                drafts.append(found)
                ledgers[account_id] = engine.ledger_after(account.billed, found, closing)
                continue
            draft = engine.draft_invoice(
                account,
                closing,
                rounding=TAX_ROUNDING,
                created_at=now,
                due_date=bank_days.due_date(closing, terms_of(account)),
                run_id=run_id,
            )
            ledgers[account_id] = draft.ledger
            if draft.invoice is not None:
                drafts.append(draft.invoice)
        except Exception as error:  # one account never stops the run
            logger.exception("invoicing an account failed", extra={"account_id": account_id})
            failures.append({"account_id": account_id, "error": f"{type(error).__name__}: {error}"})
    fresh = [d for d in drafts if d.invoice_id not in existing]
    finalized = issue_all(fresh, f"{RUNS_PREFIX}/invoicing/{closing.isoformat()}/claims")
    # a draft found from an attempt before number claims: finalized as manual drafts are
    finalized.update(
        finalize_all([d for d in drafts if d.invoice_id in existing and d.status == "draft"])
    )
    payments.apply_credit(
        [
            d.model_copy(update={"status": "finalized", "number": finalized[d.invoice_id]})
            if d.invoice_id in finalized
            else d
            for d in drafts
        ],
        source=f"invoicing {closing.isoformat()}",
    )
    _move_ledgers(accounts, ledgers, closing, payment_changes)
    issued = drafts
    entries = _journal_entries([*issued, *issued_before], accounts, finalized)
    count("InvoicesIssued", len(finalized))
    count("AmountBilled", sum(d.total for d in issued))
    result = {
        "batch": state["batch"],
        "accounts": len(account_ids),
        "invoices": [d.invoice_id for d in issued],
        "finalized": len(finalized),
        "already": already,
        "nothing_due": len(ledgers) - len(issued),
        "amount": sum(d.total for d in issued),
        "failures": failures,
        "journal": entries,
    }
    return put_result(f"{RUNS_PREFIX}/invoicing/{closing.isoformat()}", result)


def _move_ledgers(
    accounts: Mapping[str, BillingAccount],
    ledgers: Mapping[str, dict[str, int]],
    closing: date,
    payment_changes: Mapping[str, dict[str, Any] | None],
) -> None:
    """Each account's ledger after the closing, written whole in batches (a void meanwhile
    is kept on the account and folded in at the next read: ``store.move_ledgers``)."""
    store.move_ledgers(
        [
            store.LedgerMove(accounts[account_id], ledger, closing, payment_changes.get(account_id))
            for account_id, ledger in ledgers.items()
        ]
    )


def _with_pending_payment(
    account: BillingAccount, closing: date
) -> tuple[BillingAccount, dict[str, Any] | None]:
    """The account as it bills ``closing`` and the payment fields that change at it (a
    pending payment-method change taking effect), None when none does."""
    change = portal_rules.payment_at(account, closing)
    return portal_rules.with_payment(account, change), change


def _journal_entries(
    invoices: Sequence[Invoice], accounts: Mapping[str, BillingAccount], numbers: Mapping[str, str]
) -> list[dict[str, Any]]:
    """The batch's part of the closing's journal (the batch has every figure in hand, so the
    last step never reads the invoices again)."""
    missing = [i.invoice_id for i in invoices if not i.number and i.invoice_id not in numbers]
    if missing:  # finalized by a concurrent finalizer: read their numbers
        numbers = {**numbers, **{k: str(v.number) for k, v in store.get_invoices(missing).items()}}
    entries = []
    for invoice in invoices:
        account = accounts.get(invoice.account_id)
        entries.append(
            {
                "number": invoice.number or numbers[invoice.invoice_id],
                "kind": invoice.kind,
                "issue_date": invoice.closing_date.isoformat(),
                "account_id": invoice.account_id,
                "customer_name": account.name if account else invoice.account_id,
                "customer_code": account.customer_number if account else None,
                "taxes": [[t.rate, t.taxable, t.tax] for t in invoice.taxes],
                "total_yen": invoice.total,
            }
        )
    return entries


def issue_all(drafts: Sequence[Invoice], claims_prefix: str) -> dict[str, str]:
    """Number and write a run's new invoices (no draft item is written): per series, a block
    of numbers claimed in one small transaction with the counter (retried with jitter when
    another finalizer moved the counter first), the numbered invoices kept in S3 under
    ``claims_prefix`` before the claim and written once, finalized, after it; then the claim
    is closed (``store.claim_numbers``). Returns the numbers given (invoice id → number)."""
    numbers: dict[str, str] = {}
    by_series: dict[str, list[Invoice]] = {}
    for draft in drafts:
        by_series.setdefault(draft.series, []).append(draft)
    for series, invoices in sorted(by_series.items()):
        ordered = sorted(invoices, key=lambda i: i.invoice_id)
        for attempt in range(40):
            last = store.last_number(series)
            now = clock.now_iso()
            issued = [
                invoice.model_copy(
                    update={
                        "status": "finalized",
                        "number": engine.invoice_number(series, last + n),
                        "finalized_at": now,
                    }
                )
                for n, invoice in enumerate(ordered, start=1)
            ]
            payload = f"{claims_prefix}/{series}-{last + 1:09d}-{attempt}.json"
            _put_run_object(payload, [i.model_dump(mode="json") for i in issued])
            try:
                store.claim_numbers(series, [i.invoice_id for i in issued], last, payload, now)
                break
            except TransactionConflict:
                time.sleep(random.uniform(0, 0.002 * 2 ** min(attempt, 6)))
        else:
            raise Conflict(f"the numbering series {series} stayed busy")
        store.put_issued(issued)
        store.close_claim(series, last + 1, clock.now_iso())
        numbers.update({i.invoice_id: str(i.number) for i in issued})
    return numbers


# A claim still pending this long after it was made has lost its batch (a Lambda function
# runs 15 minutes at most): anyone may recover it. Younger ones only the batch that numbers
# the same invoices recovers (it is their owner's next attempt).
CLAIM_ORPHANED_AFTER = timedelta(minutes=20)


def recover_claims(invoice_ids: set[str] | None = None, *, series: str = "") -> int:
    """Write the invoices of pending number claims from their S3 copies, each only if it is
    not there yet, and close the claims: those of ``series`` naming any of ``invoice_ids``
    whatever their age (normally none: one GetItem of the series' counter); with None,
    every claim of any series older than ``CLAIM_ORPHANED_AFTER`` (one query). Returns the
    invoices written."""
    if invoice_ids is None:
        cutoff = clock.iso(clock.now() - CLAIM_ORPHANED_AFTER)
        claims = store.pending_claims(claimed_before=cutoff)
    else:
        claims = store.pending_claims_of(series)
    written = 0
    for claim in claims:
        if invoice_ids is not None and not invoice_ids.intersection(claim["invoice_ids"]):
            continue
        invoices = [Invoice.model_validate(i) for i in read_run_object(str(claim["payload"]))]
        written += store.put_recovered(invoices)
        if invoice_ids is None:  # an orphan: no batch of its accounts may come back for it
            _settle_orphans(invoices)
        store.close_claim(str(claim["series"]), int(claim["first"]), clock.now_iso())
        logger.warning(
            "a pending number claim was recovered",
            extra={"series": claim["series"], "first": claim["first"], "written": written},
        )
        count("NumberClaimsRecovered")
    return written


def _settle_orphans(invoices: Sequence[Invoice]) -> None:
    """What the batch would have done after writing an orphaned claim's invoices: the
    customers' credit applied, each ledger moved past the closing (once: an account whose
    ledger is there already is skipped), so no month is billed again; a later attempt counts the
    accounts as invoiced and lists the invoices in the journal."""
    payments.apply_credit(invoices, source="a recovered number claim")
    accounts, _ = store.read_accounts(sorted({i.account_id for i in invoices}))
    moves = []
    for invoice in invoices:
        account = accounts.get(invoice.account_id)
        closing = invoice.closing_date
        if account is None or (account.last_closing and account.last_closing >= closing):
            continue
        moves.append(
            store.LedgerMove(
                account, engine.ledger_after(account.billed, invoice, closing), closing
            )
        )
    store.move_ledgers(moves)


def _put_run_object(key: str, value: Any) -> None:
    aws.client("s3").put_object(
        Bucket=config.bucket_name(EXCHANGE), Key=key, Body=json.dumps(value).encode()
    )


def finalize_all(drafts: Sequence[Invoice]) -> dict[str, str]:
    """Number the drafts, per series, in transactions of at most 99 invoices with the
    counter; a transaction that loses the race to another finalizer reads the counter again
    and retries (with jitter). Returns the numbers given (invoice id → number)."""
    numbers: dict[str, str] = {}
    by_series: dict[str, list[Invoice]] = {}
    for draft in drafts:
        by_series.setdefault(draft.series, []).append(draft)
    for series, invoices in sorted(by_series.items()):
        ordered = sorted(invoices, key=lambda i: i.invoice_id)
        size = store.INVOICES_PER_FINALIZATION
        for start in range(0, len(ordered), size):
            numbers.update(_finalize_chunk(series, ordered[start : start + size]))
    return numbers


def _finalize_chunk(series: str, invoices: list[Invoice]) -> dict[str, str]:
    for attempt in range(40):
        last = store.last_number(series)
        numbers = [engine.invoice_number(series, last + n) for n in range(1, len(invoices) + 1)]
        try:
            store.finalize(invoices, series, numbers, last)
            return {i.invoice_id: n for i, n in zip(invoices, numbers, strict=True)}
        except TransactionConflict:
            current = store.get_invoices([i.invoice_id for i in invoices])
            invoices = [i for i in invoices if current.get(i.invoice_id, i).status == "draft"]
            if not invoices:
                return {}
            time.sleep(random.uniform(0, 0.002 * 2 ** min(attempt, 6)))
    raise Conflict(f"the numbering series {series} stayed busy")


def finalize_invoice(invoice_id: str) -> Invoice:
    """Finalize one draft (a manual invoice or a correction): the next number of its
    series, once. Finalizing a finalized invoice returns it unchanged."""
    invoice = store.get_invoice(invoice_id)
    if invoice is None:
        raise NotFound(f"invoice {invoice_id}")
    if invoice.status == "draft":
        _finalize_chunk(invoice.series, [invoice])
        invoice = store.get_invoice(invoice_id)
        assert invoice is not None
    return invoice


def finish_invoicing(state: Mapping[str, Any]) -> dict[str, Any]:
    closing = str(state["closing"])
    recover_claims()  # any orphaned claim (of any run), so no number stays unwritten
    results = read_results(f"{RUNS_PREFIX}/invoicing/{closing}", state)
    failures = [f for r in results for f in r.get("failures", [])]
    totals = {
        "invoices": sum(len(r.get("invoices", [])) for r in results),
        "finalized": sum(int(r.get("finalized", 0)) for r in results),
        "already_invoiced": sum(int(r.get("already", 0)) for r in results),
        "nothing_due": sum(int(r.get("nothing_due", 0)) for r in results),
        "amount_yen": sum(int(r.get("amount", 0)) for r in results),
        "failed_accounts": sum(len(r.get("failures", [])) for r in results if not r.get("missing")),
        "failed_batches": sum(1 for r in results if r.get("missing")),
    }
    journal_key = write_journal(
        date.fromisoformat(closing), [e for r in results for e in r.get("journal", [])]
    )
    runs.update(
        str(state["run_id"]),
        status="failed" if failures else "succeeded",
        subject={"closing": closing, "journal": journal_key},
        counts={**_counts(state), **totals},
        errors=failures or None,
        message=(
            f"closing {closing}: {totals['invoices']} invoice(s), ¥{totals['amount_yen']:,}"
            + (
                f"; {totals['failed_accounts']} account(s) failed"
                if totals["failed_accounts"]
                else ""
            )
            + (
                f"; {totals['failed_batches']} batch(es) did not finish"
                if totals["failed_batches"]
                else ""
            )
        ),
    )
    return totals


def write_journal(closing: date, entries: Sequence[Mapping[str, Any]]) -> str:
    """The closing's journal file (仕訳) for accounting, from its finalized invoices (the
    batches' entries), under ``outbox/accounting/<yyyy-mm>/``: the same invoices always make
    the same bytes, in any order, so a rerun rewrites an identical file. Returns its key."""
    invoices = [
        journal.JournalInvoice(
            number=str(entry["number"]),
            kind=entry["kind"],
            issue_date=date.fromisoformat(str(entry["issue_date"])),
            account_id=str(entry["account_id"]),
            customer_name=str(entry["customer_name"]),
            customer_code=entry["customer_code"],
            taxes=tuple(
                journal.JournalTax(rate=rate, taxable_yen=taxable, tax_yen=tax)
                for rate, taxable, tax in entry["taxes"]
            ),
            total_yen=int(entry["total_yen"]),
        )
        for entry in entries
    ]
    body = journal.journal_file(invoices, journal.load_settings())
    key = f"outbox/accounting/{engine.month_key(closing)}/journal-{closing:%Y%m%d}.csv"
    aws.client("s3").put_object(
        Bucket=config.bucket_name(EXCHANGE), Key=key, Body=body, ContentType="text/csv"
    )
    return key


def record_failure(state: Mapping[str, Any], step: str, error: BaseException) -> None:
    runs.record_step_failure(state, step, error, batch=state.get("batch"))
