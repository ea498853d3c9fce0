"""Bank transfers (振込入金) matched to open invoices from a bank statement (docs/cash.md#bank).

A deposit is placed on a customer by its **virtual account** (振込専用口座: the statement of
a number given to one customer) or, failing that, by its **payer name** (振込依頼人名, in the
half-width kana banks print) compared with the name the customer pays under (``payer_name``
on the billing account, else its name when that is kana). Among several customers of one
name, the one owing exactly the amount wins; otherwise ops decide.

The customer's open bank-transfer invoices (and direct-debit invoices past due: a debit the
bank returned is paid by transfer) then take the money: the one owing exactly the
amount, else the oldest due first (a partial payment leaves the last one part-owed); anything
over is kept as the customer's credit. Every deposit nothing matches goes to the exceptions
queue with the statement line, for ops to apply to an invoice or an account.

A deposit is one payment per (our account, 照会番号), so a statement dropped twice, or two
statements that overlap, pay nothing twice. The open items are read a page at a time from the
open-items index (never a query per deposit) and the accounts they belong to in batches.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any, Final

from monosub import clock
from monosub.formats import zengin
from monosub.formats.statement import StatementEntry
from monosub.models.billing import BillingAccount, Invoice
from monosub.models.cash import Allocation
from monosub.services import payments
from monosub.services.payments import Received
from monosub.store import billing as billing_store
from monosub.store import cash as store

METHOD: Final = "bank-transfer"
DEBIT: Final = "direct-debit"
PROVIDER = "bank"
_NOT_NAME = re.compile(r"[\s().,\-/]")


def name_key(name: str) -> str | None:
    """A payer name reduced to what a bank keeps of it (half-width kana, no spaces or
    punctuation), for comparing; None when it cannot be written in kana (kanji)."""
    try:
        kana = zengin.to_zengin_kana(name)
    except ValueError:
        return None
    return _NOT_NAME.sub("", kana) or None


def reference_of(entry: StatementEntry, occurrence: int) -> str:
    """The deposit's own id: the bank's 照会番号 on our account; without one, its date,
    amount and payer (and which of identical lines it is)."""
    if entry.reference:
        return f"{entry.account}:{entry.reference}"
    key = f"{entry.transaction_date.isoformat()}:{entry.amount}:{entry.payer_name}"
    return f"{entry.account}:{key}:{occurrence}"


class _OpenItems:
    """The open bank-transfer invoices by account, and the accounts by virtual account and
    by payer name; balances updated as deposits are placed."""

    def __init__(self) -> None:
        self.invoices: dict[str, list[Invoice]] = {}
        for page in billing_store.open_invoices(METHOD):
            for invoice in page:
                self.invoices.setdefault(invoice.account_id, []).append(invoice)
        # a debit the bank returned is paid by transfer: direct-debit invoices past due too
        yesterday = clock.today() - timedelta(days=1)
        for page in billing_store.open_invoices(DEBIT, due_by=yesterday):
            for invoice in page:
                if invoice.due_date is not None:  # one with no due date is not past due
                    self.invoices.setdefault(invoice.account_id, []).append(invoice)
        accounts = billing_store.get_accounts(sorted(self.invoices))
        self.by_virtual: dict[str, str] = {}
        self.by_name: dict[str, list[str]] = {}
        for account in accounts.values():
            if account.virtual_account:
                self.by_virtual[account.virtual_account] = account.account_id
            key = _payer_key(account)
            if key:
                self.by_name.setdefault(key, []).append(account.account_id)

    def owed(self, account_id: str) -> list[Invoice]:
        return [i for i in self.invoices.get(account_id, []) if i.balance > 0]

    def place(self, entry: StatementEntry) -> tuple[str | None, str]:
        """The account a deposit belongs to, or None and why not."""
        if entry.virtual_account and entry.virtual_account in self.by_virtual:
            return self.by_virtual[entry.virtual_account], "virtual account"
        key = name_key(entry.payer_name)
        candidates = self.by_name.get(key or "", [])
        if not candidates:
            return None, f"no customer with an open invoice pays as {entry.payer_name!r}"
        if len(candidates) == 1:
            return candidates[0], "payer name"
        exact = [
            a
            for a in candidates
            if entry.amount in {i.balance for i in self.owed(a)}
            or entry.amount == sum(i.balance for i in self.owed(a))
        ]
        if len(exact) == 1:
            return exact[0], "payer name and amount"
        return None, (
            f"{len(candidates)} customers pay as {entry.payer_name!r} and the amount does not "
            "tell them apart"
        )

    def allocate(self, account_id: str, amount: int) -> list[Allocation]:
        allocations = payments.allocate_oldest_first(self.owed(account_id), amount)
        taken = {a.invoice_id: a.amount for a in allocations}
        self.invoices[account_id] = [
            i.model_copy(update={"amount_paid": i.amount_paid + taken.get(i.invoice_id, 0)})
            for i in self.invoices.get(account_id, [])
        ]
        return allocations


def _payer_key(account: BillingAccount) -> str | None:
    return name_key(account.payer_name) if account.payer_name else name_key(account.name)


def apply(entries: Sequence[StatementEntry], *, run_id: str) -> dict[str, int]:
    deposits = [e for e in entries if e.amount > 0]
    seen: dict[str, int] = {}
    references = []
    for entry in deposits:
        base = reference_of(entry, 0)
        seen[base] = seen.get(base, -1) + 1
        references.append(reference_of(entry, seen[base]))
    recorded = set()
    for start in range(0, len(references), 100):
        ids = [payments.payment_id(PROVIDER, r) for r in references[start : start + 100]]
        recorded |= set(store.get_payments(ids))
    counts = {
        "deposits": len(deposits),
        "withdrawals": len(entries) - len(deposits),
        "already": 0,
        "matched": 0,
        "unmatched": 0,
        "amount_matched": 0,
    }
    items: list[Received] = []
    open_items: _OpenItems | None = None
    for entry, reference in zip(deposits, references, strict=True):
        if payments.payment_id(PROVIDER, reference) in recorded:
            counts["already"] += 1
            continue
        open_items = open_items or _OpenItems()
        account_id, how = open_items.place(entry)
        received = Received(
            provider=PROVIDER,
            reference=reference,
            method=METHOD,
            amount=entry.amount,
            received_on=entry.transaction_date,
            source=run_id,
            account_id=account_id,
            payer=entry.payer_name,
            note=f"matched by {how}" if account_id else None,
        )
        if account_id is None:
            payments.raise_unmatched(received, reason=how, details=_line(entry))
            counts["unmatched"] += 1
            continue
        allocations = open_items.allocate(account_id, entry.amount)
        items.append(_with(received, allocations))
        counts["matched"] += 1
        counts["amount_matched"] += entry.amount
    for start in range(0, len(items), 100):
        payments.record(items[start : start + 100])
    return counts


def _with(received: Received, allocations: list[Allocation]) -> Received:
    return replace(received, allocations=tuple(allocations))


def _line(entry: StatementEntry) -> dict[str, Any]:
    return {
        "line": entry.line,
        "account": entry.account,
        "transaction_date": entry.transaction_date.isoformat(),
        "payer_name": entry.payer_name,
        "reference": entry.reference,
        "description": entry.description,
    }
