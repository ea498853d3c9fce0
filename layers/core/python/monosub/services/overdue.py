"""Overdue follow-up (docs/overdue.md): the daily ``overdue-follow-up`` run fires the levels
of the follow-up policy (``monosub.domain.overdue``, data in ``follow_up_policy.json``) for
every invoice still owed, once per invoice and level; a payment that clears the customer's
overdue balance resumes what was suspended; ``GET /overdue`` shows the standing of every deal
with money past due and its payment achievement rate (入金達成率).

The run: ``Prepare`` lists the open invoices due by today plus the earliest reminder's lead
(the open-items index, per payment method, in due order: it stops at the first later due
date) in batches in S3; a Distributed Map runs ``FollowUpBatch`` per batch; ``Finish`` sums.
A level is fired by first noting it (a conditional ADD on ``FOLLOWUP#<invoice>``: a rerun or
a re-driven batch finds it noted and does nothing), then its actions: the email (not to a
customer who opted out, unless the level is a legal notice), the task for the rep or their
manager (``monosub.services.tasks``, once per invoice and level), the suspension of the
devices of the invoice's contracts on the device platform (idempotency keys per invoice and
serial). Noting first means an email is sent at most once; a failed action after the note
is in the run's failures and the log, for ops to follow up by hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from monosub import access, clock, company, email, events, executions
from monosub.adapters import device_platform
from monosub.domain import overdue as rules
from monosub.domain.fulfilment import shipment_id_for
from monosub.formats import csv_export
from monosub.models.billing import BillingAccount, Invoice
from monosub.models.contracts import Contract
from monosub.names import OVERDUE_FOLLOW_UP
from monosub.observability import count, logger
from monosub.services import billing
from monosub.store import billing as billing_store
from monosub.store import cash as cash_store
from monosub.store import contracts as contracts_store
from monosub.store import runs
from monosub.store import shipments as shipments_store

SOURCE = "monosub.overdue"
METHODS = ("bank-transfer", "direct-debit", "card")
RUNS_PREFIX = "runs/overdue"


def current_policy() -> rules.FollowUpPolicy:
    """The policy ops loaded last (file kind ``follow-up-policy``), else the shipped one."""
    stored = cash_store.follow_up_policy()
    if stored is not None:
        return rules.policy_from_json(str(stored["policy"]))
    return rules.load_policy()


def run_key(day: date) -> str:
    return f"overdue#{day.isoformat()}"


def start(day: date) -> dict[str, Any]:
    """The daily schedule: today's run (once; a failed batch's run is tried again tomorrow
    as its next attempt, doing only the levels not noted yet)."""
    started = executions.open_and_start(OVERDUE_FOLLOW_UP, run_key(day), {"day": day.isoformat()})
    return {"day": day.isoformat(), "started": started}


def _lead_days() -> int:
    """How many days before its due date an invoice can first be followed up (a reminder)."""
    policy = current_policy()
    earliest = min(
        (level.days for levels in policy.segments.values() for level in levels), default=0
    )
    return max(0, -earliest)


def open_invoices_due_by(day: date) -> Iterable[Invoice]:
    """The invoices still owed that were due by ``day``, every payment method, in pages."""
    for method in METHODS:
        for page in billing_store.open_invoices(method, due_by=day):
            yield from page


def prepare(state: Mapping[str, Any]) -> dict[str, Any]:
    day = date.fromisoformat(str(state["day"]))
    ids = [i.invoice_id for i in open_invoices_due_by(day + timedelta(days=_lead_days()))]
    prepared = billing.write_batches(f"{RUNS_PREFIX}/{day.isoformat()}", ids)
    runs.update(
        str(state["run_id"]),
        counts={"invoices": len(ids), "batches": prepared["batches"]},
        message=f"follow-up of {day}: {len(ids)} open invoice(s)",
    )
    return prepared


def batch(state: Mapping[str, Any]) -> dict[str, Any]:
    day = date.fromisoformat(str(state["day"]))
    invoice_ids = billing.read_batch(str(state["key"]))
    invoices = [i for i in billing_store.get_invoices(invoice_ids).values() if i.balance > 0]
    accounts = billing_store.get_accounts(sorted({i.account_id for i in invoices}))
    contracts = contracts_store.get_many(sorted({c for i in invoices for c in _contracts(i)}))
    fired = cash_store.follow_up_states([i.invoice_id for i in invoices])
    past_due = [i for i in invoices if i.due_date is not None and i.due_date < day]
    counts = {
        "invoices": len(invoices),
        "overdue_invoices": len(past_due),
        "overdue_amount": sum(i.balance for i in past_due),
        "levels_fired": 0,
        "emails": 0,
        "opted_out": 0,
        "tasks": 0,
        "suspensions": 0,
    }
    failures: list[dict[str, str]] = []
    published: list[events.Event] = []  # FollowUpFired of the batch, sent ten to a call
    policy = current_policy()
    for invoice in invoices:
        account = accounts.get(invoice.account_id)
        if account is None or invoice.due_date is None:
            continue
        levels = policy.levels_for(account.segment)
        due = rules.levels_due(
            due_date=invoice.due_date,
            today=day,
            balance=invoice.balance,
            fired=fired.get(invoice.invoice_id, set()),
            levels=levels,
        )
        for level in due:
            if not cash_store.mark_fired(invoice.invoice_id, level.key):
                continue
            try:
                done = fire(
                    invoice,
                    level,
                    account,
                    contracts,
                    day=day,
                    run_id=state["run_id"],
                    published=published,
                )
            except device_platform.DevicePlatformUnavailable:
                # the suspension (a level's first action) did not happen: take the note back
                # and fail the batch, so Step Functions retries it with back-off
                cash_store.unmark_fired(invoice.invoice_id, level.key)
                raise
            except Exception as error:  # the level is noted: report, and go on
                logger.exception("follow-up action failed", extra={"invoice": invoice.invoice_id})
                failures.append(
                    {
                        "invoice_id": invoice.invoice_id,
                        "level": level.key,
                        "error": f"{type(error).__name__}: {error}",
                    }
                )
                continue
            counts["levels_fired"] += 1
            for name, value in done.items():
                counts[name] = counts.get(name, 0) + value
    events.publish_all(None, published)
    count("InvoicesOverdue", counts["overdue_invoices"])
    count("AmountOverdueYen", counts["overdue_amount"])
    count("FollowUpLevelsFired", counts["levels_fired"])
    count("RemindersSent", counts["emails"])
    count("Suspensions", counts["suspensions"])
    result = {"batch": state["batch"], "counts": counts, "failures": failures}
    return billing.put_result(f"{RUNS_PREFIX}/{day.isoformat()}", result)


def _contracts(invoice: Invoice) -> list[str]:
    return sorted({line.contract_id for line in invoice.lines} | set(invoice.contracts))


def fire(
    invoice: Invoice,
    level: rules.FollowUpLevel,
    account: BillingAccount,
    contracts: Mapping[str, Contract],
    *,
    day: date,
    run_id: Any,
    published: list[events.Event],
) -> dict[str, int]:
    """Carry out one level's actions for one invoice (the level already noted); its
    ``FollowUpFired`` goes to ``published`` (the batch sends them together)."""
    done = {"emails": 0, "opted_out": 0, "tasks": 0, "suspensions": 0}
    owned = [contracts[c] for c in _contracts(invoice) if c in contracts]
    suspended: list[str] = []
    if level.suspend:
        suspended = _suspend(invoice, owned, reason=f"overdue {invoice.number}")
        done["suspensions"] = 1 if suspended else 0
    if level.email:
        if account.reminders_opt_out and not level.legal:
            done["opted_out"] = 1
        elif account.email:
            _send(invoice, level, account, day=day, suspended=bool(suspended))
            done["emails"] = 1
    if level.task:
        done["tasks"] = _task(invoice, level, account, owned, day=day)
    published.append(
        (
            SOURCE,
            "FollowUpFired",
            {
                "invoice_id": invoice.invoice_id,
                "account_id": invoice.account_id,
                "level": level.key,
                "run_id": str(run_id),
                "days_past_due": rules.days_past_due(invoice.due_date, day)
                if invoice.due_date
                else 0,
                "balance": invoice.balance,
                **done,
            },
        )
    )
    return done


def _send(
    invoice: Invoice,
    level: rules.FollowUpLevel,
    account: BillingAccount,
    *,
    day: date,
    suspended: bool,
) -> None:
    issuer = company.issuer().name
    subject = (
        f"【{issuer}】お支払期限のご案内（{invoice.number}）"
        if level.days < 0
        else f"【{issuer}】お支払いのお願い（{invoice.number}）"
        if not level.legal
        else f"【{issuer}】【重要】ご利用停止の予告（{invoice.number}）"
    )
    if suspended:
        subject = f"【{issuer}】【重要】サービスご利用停止のお知らせ（{invoice.number}）"
    context = {
        "subject": subject,
        "company": account.name,
        "recipient": account.person or account.name,
        "issuer": issuer,
        "level": level.key,
        "legal": level.legal and not suspended,
        "suspended": suspended,
        "days_past_due": rules.days_past_due(invoice.due_date, day) if invoice.due_date else 0,
        "invoices": [
            {
                "number": invoice.number,
                "due_date": invoice.due_date,
                "balance": invoice.balance,
                "link": company.invoice_link(invoice.invoice_id),
            }
        ],
        "total": invoice.balance,
        "unsubscribe": f"{company.portal_url()}/settings/notifications",
    }
    text, html = email.render(level.email or "follow_up_email", context)
    assert account.email is not None
    attachments: list[email.Attachment] = []
    if level.attach_invoices and invoice.pdf_key:  # the unpaid invoice's 請求書 PDF
        from monosub.documents.storage import read_pdf

        attachments.append(email.Attachment(f"{invoice.number}.pdf", read_pdf(invoice.pdf_key)))
    email.default_mailer.send(
        email.Email(
            to=[account.email], subject=subject, text=text, html=html, attachments=attachments
        )
    )


def _task(
    invoice: Invoice,
    level: rules.FollowUpLevel,
    account: BillingAccount,
    owned: Sequence[Contract],
    *,
    day: date,
) -> int:
    from monosub.services import tasks

    owner = next((c.owner for c in owned if c.owner), None)
    if owner is None:
        return 0
    assignee = tasks.manager_of(owner) if level.task == "manager" else owner
    if assignee is None:
        assignee = owner
    past = rules.days_past_due(invoice.due_date, day) if invoice.due_date else 0
    _, created = tasks.open_task(
        key=f"{invoice.invoice_id}#{level.key}",
        kind="overdue-follow-up",
        title=f"{account.name}様 未入金のフォロー（{invoice.number}、{past}日超過）",
        detail=(
            f"請求書 {invoice.number}（お支払期限 {invoice.due_date}）の未払い額 "
            f"¥{invoice.balance:,} について、お客様へご連絡ください。"
        ),
        account_id=invoice.account_id,
        deal_id=owned[0].deal_id if owned else None,
        invoice_ids=[invoice.invoice_id],
        assignee=assignee,
        assignee_role="manager" if level.task == "manager" else "rep",
        due_on=day + timedelta(days=3),
        source=f"overdue:{level.key}",
    )
    return 1 if created else 0


def _serials(owned: Sequence[Contract]) -> list[str]:
    serials: list[str] = []
    for contract in owned:
        if contract.quote_id:
            serials.extend(
                d.serial for d in shipments_store.devices(shipment_id_for(contract.quote_id))
            )
    return sorted(set(serials))


def _suspend(invoice: Invoice, owned: Sequence[Contract], *, reason: str) -> list[str]:
    """Suspend the devices of the invoice's contracts (not the customer's other deals')."""
    serials = _serials(owned)
    if not serials:
        return []
    client = device_platform.default_client()
    for serial in serials:
        client.suspend(serial, reason=reason, key=f"suspend:{invoice.invoice_id}:{serial}")
    if cash_store.put_suspension(
        invoice.account_id,
        invoice.invoice_id,
        {"serials": serials, "reason": reason, "suspended_at": clock.now_iso()},
    ):
        events.publish_all(
            None,
            [
                (
                    SOURCE,
                    "DevicesSuspended",
                    {
                        "account_id": invoice.account_id,
                        "invoice_id": invoice.invoice_id,
                        "serials": serials,
                        "reason": reason,
                    },
                )
            ],
        )
    return serials


def on_invoice_paid(detail: Mapping[str, Any]) -> dict[str, Any]:
    """``InvoicePaid``: when the customer owes nothing past due any more, resume every
    suspension of the account (once each)."""
    account_id = str(detail.get("account_id") or "")
    active = [s for s in cash_store.suspensions(account_id) if s.get("status") == "active"]
    if not active:
        return {"resumed": 0}
    today = clock.today()
    still = [
        i
        for i in billing_store.account_invoices(account_id, limit=100)
        if i.balance > 0 and i.due_date is not None and i.due_date < today
    ]
    if still:
        return {"resumed": 0, "still_overdue": len(still)}
    client = device_platform.default_client()
    resumed = 0
    for suspension in active:
        for serial in suspension.get("serials", []):
            client.resume(serial, key=f"resume:{suspension['invoice_id']}:{serial}")
        if cash_store.end_suspension(
            account_id, str(suspension["invoice_id"]), {"resumed_at": clock.now_iso()}
        ):
            resumed += 1
            events.publish_all(
                None,
                [
                    (
                        SOURCE,
                        "DevicesResumed",
                        {
                            "account_id": account_id,
                            "invoice_id": suspension["invoice_id"],
                            "serials": suspension.get("serials", []),
                        },
                    )
                ],
            )
    return {"resumed": resumed}


def finish(state: Mapping[str, Any]) -> dict[str, Any]:
    day = str(state["day"])
    results = billing.read_results(f"{RUNS_PREFIX}/{day}", state)
    totals: dict[str, int] = {}
    for result in results:
        for name, value in result.get("counts", {}).items():
            totals[name] = totals.get(name, 0) + int(value)
    failures = [f for r in results for f in r.get("failures", [])]
    runs.update(
        str(state["run_id"]),
        status="failed" if failures else "succeeded",
        counts=totals,
        errors=failures or None,
        message=(
            f"follow-up of {day}: {totals.get('levels_fired', 0)} level(s) fired, "
            f"{totals.get('emails', 0)} email(s), {totals.get('tasks', 0)} task(s), "
            f"{totals.get('suspensions', 0)} suspension(s)"
            + (f"; {len(failures)} action(s) failed" if failures else "")
        ),
    )
    return totals


def record_failure(state: Mapping[str, Any], step: str, error: BaseException) -> None:
    runs.record_step_failure(state, step, error, batch=state.get("batch"))


# ---- the overdue list ----------------------------------------------------------------------


def standings(
    *,
    scope: access.Scope,
    rep: str | None = None,
    segment: str | None = None,
    min_days: int = 1,
    min_amount: int = 0,
    today: date | None = None,
    by: str = "deal",
) -> list[dict[str, Any]]:
    """Every deal with money past due (the open-items index up to yesterday, in pages), its
    expected, paid and outstanding amounts over all its invoices, the oldest due date unpaid,
    days past due and achievement rate; filtered, most days past due first."""
    day = today or clock.today()
    overdue = open_invoices_due_by(day - timedelta(days=1))
    accounts = {
        account.account_id: account
        for account in billing_store.get_accounts(sorted({i.account_id for i in overdue})).values()
        if access.visible(scope, segment=account.segment, agency_id=None)
    }
    # every invoice of the accounts the caller sees (the rate counts the paid ones too)
    invoices = [
        invoice
        for account_id in sorted(accounts)
        for invoice in billing_store.account_invoices(account_id, limit=100)
        if invoice.kind == "invoice" and invoice.status in ("finalized", "paid")
    ]
    contract_ids = {c for i in invoices for c in _contracts(i)}
    contracts = contracts_store.get_many(sorted(contract_ids))
    deal_of = {c.contract_id: c.deal_id for c in contracts.values()}
    owner_of = {c.deal_id: c.owner for c in contracts.values()}
    for contract_id in contract_ids - set(contracts):
        # billed without a contract record (a manual charge): its own line, no rep
        deal_of[contract_id] = f"contract:{contract_id}"
        owner_of[f"contract:{contract_id}"] = ""
    shares = [
        share
        for invoice in invoices
        for share in rules.shares_of(
            invoice, deal_of, owner_of, accounts[invoice.account_id].segment
        )
    ]
    listed = []
    names = {a.account_id: a.name for a in accounts.values()}
    rows: Sequence[Any] = (
        rules.account_standings(shares, day) if by == "account" else rules.standings(shares, day)
    )
    for standing in rows:
        if standing.days_past_due < min_days or standing.outstanding < min_amount:
            continue
        owners = getattr(standing, "owners", None) or (getattr(standing, "owner", ""),)
        if rep and rep not in owners:
            continue
        if segment and standing.segment != segment:
            continue
        listed.append({**_plain(standing), "account_name": names.get(standing.account_id, "")})
    return listed  # the rules' order: most days past due first, then most outstanding


def _plain(standing: Any) -> dict[str, Any]:
    values = dict(standing.__dict__) if hasattr(standing, "__dict__") else dict(standing)
    return {
        k: (
            v.isoformat()
            if isinstance(v, date)
            else str(v)
            if k == "achievement_rate"
            else list(v)
            if isinstance(v, tuple)
            else v
        )
        for k, v in values.items()
    }


CSV_COLUMNS = (
    ("deal_id", "取引ID"),
    ("account_name", "取引先"),
    ("owner", "担当者"),
    ("earliest_unpaid_due_date", "支払期日"),
    ("days_past_due", "超過日数"),
    ("achievement_rate", "入金達成率(%)"),
    ("expected", "入金予定額"),
    ("paid", "入金済額"),
    ("outstanding", "未入金額"),
)


def as_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """The list as CSV (cells a spreadsheet would take for formulas guarded)."""
    lines = [csv_export.line([label for _, label in CSV_COLUMNS])]
    for row in rows:
        lines.append(csv_export.line([_cell(row.get(name)) for name, _ in CSV_COLUMNS]))
    return "".join(lines)


def _cell(value: Any) -> str | int | None:
    return value if value is None or isinstance(value, int | str) else str(value)


def page(rows: Sequence[Mapping[str, Any]]) -> str:
    """The list as an HTML page (ops and sales in a browser): the rate as a bar."""
    from jinja2 import Environment, FileSystemLoader

    environment = Environment(loader=FileSystemLoader(email.TEMPLATES), autoescape=True)
    template = environment.get_template("overdue_page.html.j2")
    total = sum(int(r["outstanding"]) for r in rows)
    return template.render(
        rows=rows, as_of=clock.today().isoformat(), total=total, columns=CSV_COLUMNS
    )
