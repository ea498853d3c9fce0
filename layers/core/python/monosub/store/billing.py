"""Keys of the billing table (docs/data-model.md#billing): billing accounts, invoices, the
numbering counters and revenue rows.

- billing account: ``BILLING#<account_id>`` / ``ACCOUNT``, gsi1 ``CLOSING#<dd>`` / account id;
  its ledger (billed, last closing, give-backs): ``BILLING#<account_id>`` / ``LEDGER``;
- invoice: ``INVOICE#<invoice_id>`` / ``INVOICE``, gsi4 ``INVOICES#<account_id>`` /
  ``<closing>#<invoice_id>`` (with the fields a list shows: the staff list and the portal);
  while a finalized invoice is owed (issue 7), gsi2 ``OPEN#<payment method>`` /
  ``<due date>#<invoice_id>``: the open items cash matching and direct debit read in pages;
- numbering counter: ``SERIES#<series>`` / ``COUNTER``; a run's claim of a block of numbers:
  ``SERIES#<series>`` / ``CLAIM#<first>``, gsi1 ``CLAIMS#PENDING`` until its invoices are written;
- revenue rows of an account's month: ``REVENUE#<month>#<account_id>`` / ``ROWS`` (packed rows).

Runs read in batches (BatchGetItem of 100 items) and write in batches (BatchWriteItem of 25);
the only transaction of a run is a number claim (the counter and the claim of its block), so
a number is never skipped or given twice; a manual draft is finalized in one transaction with
the counter.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from typing import Any, NamedTuple

from pydantic import ValidationError

from monosub import clock
from monosub.domain import ledger as ledger_rules
from monosub.models.billing import (
    BillingAccount,
    Component,
    GiveBack,
    Invoice,
    InvoiceSummary,
    PendingPaymentMethod,
    RevenueRow,
)
from monosub.models.billing_changes import AppliedReturn, ContractChange
from monosub.names import BILLING
from monosub.store.dynamo import Table, TransactionConflict, from_item, to_value, transact
from monosub.store.packing import pack, unpack

_table = Table(BILLING)
# The counter plus this many invoices make one finalization transaction (at most 100 items).
INVOICES_PER_FINALIZATION = 99


def _account_pk(account_id: str) -> str:
    return f"BILLING#{account_id}"


def _invoice_pk(invoice_id: str) -> str:
    return f"INVOICE#{invoice_id}"


def closing_partition(closing_day: int) -> str:
    return f"CLOSING#{closing_day:02d}"


# ---- packed attributes ---------------------------------------------------------------------
# The bulky parts of a billing account (components, ledger, readings, changes, returns) and
# of an invoice (lines, taxes) are stored as one compressed JSON value each (binary), not as
# nested DynamoDB maps and lists. A write costs a unit per KB of the item, and 20 invoice lines
# are ≈6 KB as maps but ≈1.5 KB packed (Japanese names and repeated keys compress well); and a
# batch read decodes one value per attribute instead of hundreds of typed ones (most of the
# time a batch of 100 accounts took: boto3's deserializer on AWS, moto's serializer locally).
# Nothing queries or conditions on what is inside them; each is still written on its own, so
# invoicing (the ledger) and contract events (the components) never overwrite each other. A
# JSON text value is read too (monosub.store.packing).
ACCOUNT_PACKED = ("components", "billed", "usage", "changes", "returns", "give_backs")
INVOICE_PACKED = ("lines", "taxes")


def _packed(values: dict[str, Any], names: Sequence[str]) -> dict[str, Any]:
    return {k: pack(v) if k in names else v for k, v in values.items()}


def _unpacked(item: Mapping[str, Any], names: Sequence[str]) -> dict[str, Any]:
    """The item with its packed attributes decoded (``ValueError`` or ``zlib.error`` if one
    is not what was packed)."""
    return {
        k: unpack(v) if k in names and not isinstance(v, list | dict) else v
        for k, v in item.items()
    }


# ---- billing accounts ----------------------------------------------------------------------


# What was billed (the ledger) and the last closing invoiced live in a small item of their
# own, ``BILLING#<id>`` / ``LEDGER``: the invoicing run moves them for every account at every
# closing, and updating the whole account (components, addresses, ≈1.2 KB) cost two write
# units where the ledger costs one. The ledger has ONE writer, the invoicing run, which writes
# the ledgers of a batch whole (BatchWriteItem, no condition: 4 requests per 100 accounts, not
# 100 conditional updates). A void never writes it: its give-back (the voided lines) goes on
# the account item (``give_backs``, under the account's version), and reading the account
# with its ledger folds in the give-backs the ledger has not (the ledger records how many it
# has: ``applied``). So a void that lands while a run holds the ledger it read is folded in
# at the next read, never overwritten. Read, the account is the two merged (one
# BatchGetItem of both keys); an account stored before the ledger item existed keeps its own
# attributes until its first ledger write.
LEDGER_FIELDS = ("billed", "last_closing", "given_back", "give_backs_read")
LEDGER_SK = "LEDGER"


def _account_item(account: BillingAccount) -> dict[str, Any]:
    return {
        "pk": _account_pk(account.account_id),
        "sk": "ACCOUNT",
        "gsi1pk": closing_partition(account.closing_day),
        "gsi1sk": account.account_id,
        **_packed(account.model_dump(mode="json", exclude=set(LEDGER_FIELDS)), ACCOUNT_PACKED),
    }


def _ledger_item(account: BillingAccount) -> dict[str, Any]:
    """The account's ledger as read (create_account, the bench's seed)."""
    return ledger_item(
        account.account_id,
        account.billed,
        account.last_closing,
        applied=account.give_backs_read,
        given_back=_legacy_given_back(account),
    )


def ledger_item(
    account_id: str,
    billed: Mapping[str, int],
    last_closing: date | None,
    *,
    applied: int,
    given_back: Sequence[str] = (),
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": _account_pk(account_id),
        "sk": LEDGER_SK,
        "billed": pack(dict(billed)),
        "applied": applied,
    }
    if last_closing is not None:
        item["last_closing"] = last_closing.isoformat()
    if given_back:  # voids given back into the ledger itself, before give-backs existed
        item["given_back"] = list(given_back)
    return item


def _legacy_given_back(account: BillingAccount) -> list[str]:
    kept = {g.invoice_id for g in account.give_backs}
    return [i for i in account.given_back if i not in kept]


def _account(item: Mapping[str, Any], ledger: Mapping[str, Any] | None = None) -> BillingAccount:
    values = _unpacked(item, ACCOUNT_PACKED)
    if ledger is not None:
        values.update(
            {k: v for k, v in _unpacked(ledger, ("billed",)).items() if k in LEDGER_FIELDS}
        )
    give_backs = values.get("give_backs") or []
    if give_backs:
        applied = int(ledger.get("applied", 0)) if ledger is not None else 0
        billed = values.get("billed") or {}
        for entry in give_backs[applied:]:
            billed = ledger_rules.without(billed, entry["lines"])
        values["billed"] = billed
        values["given_back"] = [
            *(values.get("given_back") or []),
            *(entry["invoice_id"] for entry in give_backs),
        ]
    values["give_backs_read"] = len(give_backs)
    return BillingAccount.model_validate(values)


def get_account(account_id: str) -> BillingAccount | None:
    """The account with its ledger (one BatchGetItem of both items)."""
    accounts, broken = read_accounts([account_id])
    if account_id in broken:
        raise ValueError(broken[account_id])
    return accounts.get(account_id)


def get_accounts(account_ids: Sequence[str]) -> dict[str, BillingAccount]:
    """The accounts **without** their ledgers (``billed`` empty, ``last_closing`` None): for
    who reads names, settings and components (cash, delivery, overdue follow-up)."""
    accounts, _ = read_accounts(account_ids, ledger=False)
    return accounts


def read_accounts(
    account_ids: Sequence[str], *, ledger: bool = True
) -> tuple[dict[str, BillingAccount], dict[str, str]]:
    """The billing accounts (one BatchGetItem per 100 items: with ``ledger``, 50 accounts
    and their ledgers), and the ones that could not be read as a billing account with the
    reason: a run reports those and goes on with the rest."""
    keys = [(_account_pk(a), "ACCOUNT") for a in account_ids]
    if ledger:
        keys += [(_account_pk(a), LEDGER_SK) for a in account_ids]
    read = _table.batch_get(keys)
    accounts: dict[str, BillingAccount] = {}
    broken: dict[str, str] = {}
    for (pk, sk), item in read.items():
        if sk != "ACCOUNT":
            continue
        account_id = pk.removeprefix("BILLING#")
        try:
            accounts[account_id] = _account(item, read.get((pk, LEDGER_SK)))
        except (ValidationError, ValueError, zlib.error) as error:
            broken[account_id] = f"the stored billing account is not valid: {error}"
    return accounts, broken


def create_account(account: BillingAccount) -> bool:
    """False when the account has a billing account already. The account and its ledger."""
    if not _table.put_new(_account_item(account)):
        return False
    _table.put(_ledger_item(account))
    return True


def save_components(
    account: BillingAccount, components: Sequence[Component], contracts: Sequence[str]
) -> bool:
    """Replace the components (a contract event applied), only if the account is still at
    the version read; the billed ledger is not touched (invoicing owns it)."""
    return _table.update(
        _account_pk(account.account_id),
        "ACCOUNT",
        set_values={
            "components": pack([c.model_dump(mode="json") for c in components]),
            "contracts": list(contracts),
            "updated_at": clock.now_iso(),
            "version": account.version + 1,
        },
        condition="#version = :version",
        condition_values={":version": account.version},
    )


def save_change(
    account: BillingAccount,
    components: Sequence[Component],
    *,
    changes: Sequence[ContractChange] | None = None,
    returns: Sequence[AppliedReturn] | None = None,
) -> bool:
    """Replace the components together with the record of the change or return that made
    them (the whole list, at the version read: a change is recorded once)."""
    values: dict[str, Any] = {
        "components": pack([c.model_dump(mode="json") for c in components]),
        "updated_at": clock.now_iso(),
        "version": account.version + 1,
    }
    if changes is not None:
        values["changes"] = pack([c.model_dump(mode="json") for c in changes])
    if returns is not None:
        values["returns"] = pack([r.model_dump(mode="json") for r in returns])
    return _table.update(
        _account_pk(account.account_id),
        "ACCOUNT",
        set_values=values,
        condition="#version = :version",
        condition_values={":version": account.version},
    )


def add_give_back(account: BillingAccount, give_back: GiveBack) -> bool:
    """Keep a void's give-back on the account, at the version read (once: the caller checks
    ``given_back`` on what it read). The ledger folds it in when next read."""
    return _table.update(
        _account_pk(account.account_id),
        "ACCOUNT",
        set_values={
            "give_backs": pack(
                [g.model_dump(mode="json") for g in [*account.give_backs, give_back]]
            ),
            "updated_at": clock.now_iso(),
            "version": account.version + 1,
        },
        condition="#version = :version",
        condition_values={":version": account.version},
    )


def save_settings(account: BillingAccount, settings: Mapping[str, Any]) -> bool:
    """Change how the account is billed (closing day, terms, delivery), at the version read."""
    values = {**settings, "updated_at": clock.now_iso(), "version": account.version + 1}
    if "closing_day" in settings:
        values["gsi1pk"] = closing_partition(int(settings["closing_day"]))
    return _table.update(
        _account_pk(account.account_id),
        "ACCOUNT",
        set_values=values,
        condition="#version = :version",
        condition_values={":version": account.version},
    )


class LedgerMove(NamedTuple):
    """An account's ledger after a closing's invoice: what the account read had folded in
    (``account.give_backs_read``) is recorded with it; ``payment``: the pending payment
    method this closing billed with, made the account's in the same write."""

    account: BillingAccount
    billed: Mapping[str, int]
    closing: date
    payment: Mapping[str, Any] | None = None


def move_ledgers(moves: Sequence[LedgerMove]) -> None:
    """Write each ledger whole: in batches (BatchWriteItem) for most, in one transaction
    with the account for the few whose payment method changes at this closing (its fields
    set, None ones removed, the pending change removed). The caller read each account and
    found its ledger before the closing (a rerun finds it moved and writes nothing)."""
    plain: list[dict[str, Any]] = []
    for move in moves:
        item = ledger_item(
            move.account.account_id,
            move.billed,
            move.closing,
            applied=move.account.give_backs_read,
            given_back=_legacy_given_back(move.account),
        )
        if move.payment is None:
            plain.append(item)
            continue
        payment = move.payment
        transact(
            [
                _table.put_operation(item, only_new=False),
                _table.update_operation(
                    _account_pk(move.account.account_id),
                    "ACCOUNT",
                    set_values={k: v for k, v in payment.items() if v is not None},
                    remove=[k for k, v in payment.items() if v is None] + ["pending_payment"],
                    condition="attribute_exists(pk)",
                ),
            ]
        )
    if plain:
        _table.batch_put(plain)


def save_pending_payment(account: BillingAccount, pending: PendingPaymentMethod) -> bool:
    """Keep the payment method chosen for the next closing on the account (replacing one
    chosen before), at the version read: the invoicing run reads it with the account."""
    return _table.update(
        _account_pk(account.account_id),
        "ACCOUNT",
        set_values={
            "pending_payment": pending.model_dump(mode="json"),
            "updated_at": clock.now_iso(),
            "version": account.version + 1,
        },
        condition="#version = :version",
        condition_values={":version": account.version},
    )


def accounts_closing_on(closing_day: int, *, limit: int | None = None) -> Iterator[str]:
    """The ids of the billing accounts with this closing day, paged (one query per 1 MB)."""
    for item in _table.query(closing_partition(closing_day), index="gsi1", limit=limit):
        yield str(item["gsi1sk"])


# ---- invoices ------------------------------------------------------------------------------


def _invoice_item(invoice: Invoice) -> dict[str, Any]:
    values = invoice.model_dump(mode="json")
    # A string set, so applying a payment can ADD its id under a NOT contains condition.
    values["payments"] = set(invoice.payments) or None
    return {
        "pk": _invoice_pk(invoice.invoice_id),
        "sk": "INVOICE",
        **account_invoice_keys(invoice),
        **(open_item_keys(invoice) if invoice.balance > 0 else {}),
        **_packed(values, INVOICE_PACKED),
    }


# An account's invoices (drafts too), with what a list shows (``INVOICE_LIST_FIELDS``,
# INCLUDE): the staff list finds them there and reads them by key; the customer portal
# lists the issued ones from it in one query. It replaced two indexes an invoice was written
# into: gsi1 (keys, the staff list) and gsi3 (whole issued invoices, ≈1.5 KB: two write
# units, for the portal): one unit instead of three.
ACCOUNT_INVOICES_INDEX = "gsi4"
# Attributes of the indexes an invoice is no longer written into (an invoice stored before
# gsi4 has them until the index backfill takes them off: store.portal_index).
RETIRED_INVOICE_KEYS = ("gsi1pk", "gsi1sk", "gsi3pk", "gsi3sk")


def account_invoice_keys(invoice: Invoice) -> dict[str, str]:
    return {
        "gsi4pk": f"INVOICES#{invoice.account_id}",
        "gsi4sk": f"{invoice.closing_date.isoformat()}#{invoice.invoice_id}",
    }


def issued_invoices(account_id: str, *, since: date, limit: int) -> list[InvoiceSummary]:
    """The account's issued invoices (and credit notes) closed on or after ``since``, newest
    first, at most ``limit``: ONE query of the account-invoices index (its summaries of ≈300
    bytes; 36 are one page), drafts filtered out."""
    request: dict[str, Any] = {
        "TableName": _table.name,
        "IndexName": ACCOUNT_INVOICES_INDEX,
        "KeyConditionExpression": "#pk = :pk AND #sk >= :since",
        "FilterExpression": "#status <> :draft",
        "ExpressionAttributeNames": {"#pk": "gsi4pk", "#sk": "gsi4sk", "#status": "status"},
        "ExpressionAttributeValues": {
            ":pk": to_value(f"INVOICES#{account_id}"),
            ":since": to_value(since.isoformat()),
            ":draft": to_value("draft"),
        },
        "ScanIndexForward": False,
        "Limit": limit,
    }
    invoices: list[InvoiceSummary] = []
    while len(invoices) < limit:
        response = _table.client.query(**request)
        invoices += [
            InvoiceSummary.model_validate(from_item(item)) for item in response.get("Items", [])
        ]
        last = response.get("LastEvaluatedKey")
        if not last:
            break
        request["ExclusiveStartKey"] = last
    return invoices[:limit]


OPEN_INDEX_ATTRIBUTES = ("gsi2pk", "gsi2sk")


def open_item_keys(invoice: Invoice) -> dict[str, str]:
    """The open-items index keys of an invoice still owed (removed once it is paid or void)."""
    due = invoice.due_date.isoformat() if invoice.due_date else "0000-00-00"
    return {
        "gsi2pk": f"OPEN#{invoice.payment_method}",
        "gsi2sk": f"{due}#{invoice.invoice_id}",
    }


def _invoice(item: Mapping[str, Any]) -> Invoice:
    return Invoice.model_validate(_unpacked(item, INVOICE_PACKED))


invoice_of_item = _invoice  # an invoice item read elsewhere (the portal index's backfill)


def get_invoice(invoice_id: str) -> Invoice | None:
    item = _table.get(_invoice_pk(invoice_id), "INVOICE")
    return _invoice(item) if item else None


def get_invoices(invoice_ids: Sequence[str]) -> dict[str, Invoice]:
    read = _table.batch_get([(_invoice_pk(i), "INVOICE") for i in invoice_ids])
    return {str(item["invoice_id"]): _invoice(item) for item in read.values()}


def put_drafts(invoices: Sequence[Invoice]) -> int:
    """Write drafts the caller found absent (BatchWriteItem); returns the calls made."""
    return _table.batch_put([_invoice_item(invoice) for invoice in invoices])


def put_draft(invoice: Invoice) -> bool:
    return _table.put_new(_invoice_item(invoice))


def account_invoices(
    account_id: str, *, newest_first: bool = True, limit: int = 50
) -> list[Invoice]:
    """The account's invoices in closing order: the account-invoices index finds them, one
    batch read brings them."""
    keys = [
        (str(item["pk"]), str(item["sk"]))
        for item in _table.query(
            f"INVOICES#{account_id}",
            index=ACCOUNT_INVOICES_INDEX,
            newest_first=newest_first,
            limit=limit,
        )
    ]
    read = _table.batch_get(keys)
    return [_invoice(read[key]) for key in keys if key in read]


def update_invoice(
    invoice: Invoice, values: Mapping[str, Any], *, remove: Sequence[str] = ()
) -> bool:
    """Set ``values`` on the invoice at the version read (and remove ``remove``)."""
    return _table.update(
        _invoice_pk(invoice.invoice_id),
        "INVOICE",
        set_values={**values, "version": invoice.version + 1},
        remove=remove,
        condition="#version = :version",
        condition_values={":version": invoice.version},
    )


def open_invoices(
    payment_method: str,
    *,
    due_on: date | None = None,
    due_by: date | None = None,
    page: int = 100,
) -> Iterator[list[Invoice]]:
    """The finalized invoices still owed that are paid by ``payment_method`` (those due on
    ``due_on`` only, or due by ``due_by``, when given), in due-date order, a page at a time:
    one query page of keys, then one batch read per ``page`` invoices. ``due_by`` stops the
    query at the first later due date (the keys are in due-date order)."""
    keys: list[tuple[str, str]] = []
    prefix = f"{due_on.isoformat()}#" if due_on else None
    last = due_by.isoformat() if due_by else None
    for item in _table.query(f"OPEN#{payment_method}", index="gsi2", sk_prefix=prefix):
        if last is not None and str(item["gsi2sk"])[:10] > last:
            break
        keys.append((str(item["pk"]), str(item["sk"])))
        if len(keys) == page:
            yield _read_open(keys)
            keys = []
    if keys:
        yield _read_open(keys)


def _read_open(keys: Sequence[tuple[str, str]]) -> list[Invoice]:
    read = _table.batch_get(keys)
    invoices = [_invoice(read[key]) for key in keys if key in read]
    return [invoice for invoice in invoices if invoice.balance > 0]


def apply_to_invoice(
    invoice: Invoice, payment_id: str, amount: int, *, at: str, credit: bool = False
) -> bool:
    """Add ``amount`` (negative: money given back) received by ``payment_id`` to the invoice,
    once: only at the version read and only if that payment is not applied yet. A paid
    invoice leaves the open-items index; one owed again (a refund) comes back to it.
    ``credit``: the customer's credit applied (the 請求書 prints it as 前受金充当)."""
    paid = invoice.amount_paid + amount
    owed = paid < invoice.total
    values: dict[str, Any] = {"amount_paid": paid, "version": invoice.version + 1}
    if credit:
        values["credit_applied"] = invoice.credit_applied + amount
    if invoice.status in ("finalized", "paid"):
        values["status"] = "finalized" if owed else "paid"
        values["paid_at"] = None if owed else (invoice.paid_at or at)
    if owed and invoice.status in ("finalized", "paid"):
        values.update(open_item_keys(invoice))
    remove = [name for name, value in values.items() if value is None]
    if not owed or invoice.status not in ("finalized", "paid"):
        remove += OPEN_INDEX_ATTRIBUTES
    return _table.update(
        _invoice_pk(invoice.invoice_id),
        "INVOICE",
        set_values={k: v for k, v in values.items() if v is not None},
        add_values={"payments": {payment_id}},
        remove=remove,
        condition="#version = :version AND NOT contains(#payments, :payment)",
        condition_values={":version": invoice.version, ":payment": payment_id},
    )


def record_payment_failure(invoice: Invoice, failure: Mapping[str, Any]) -> bool:
    """Keep the last failed attempt to collect the invoice (overdue follow-up reads it)."""
    return update_invoice(invoice, {"payment_failure": dict(failure)})


# ---- numbering -----------------------------------------------------------------------------


def last_number(series: str) -> int:
    item = _table.get(f"SERIES#{series}", "COUNTER")
    return int(item["last"]) if item else 0


def finalize(invoices: Sequence[Invoice], series: str, numbers: Sequence[str], last: int) -> None:
    """One transaction: the series' counter from ``last`` to ``last + len(invoices)`` (only
    if it is still ``last``) and each invoice finalized with its number (only if still a
    draft). Raises ``TransactionConflict`` when another finalizer moved the counter first or
    an invoice is no longer a draft: nothing is written, the caller reads again."""
    if not invoices:
        return
    if len(invoices) > INVOICES_PER_FINALIZATION:
        raise ValueError(f"at most {INVOICES_PER_FINALIZATION} invoices per finalization")
    now = clock.now_iso()
    counter = _table.update_operation(
        f"SERIES#{series}",
        "COUNTER",
        set_values={"last": last + len(invoices), "updated_at": now},
        condition="attribute_not_exists(pk)" if last == 0 else "#last = :read",
        condition_values=None if last == 0 else {":read": last},
    )
    operations = [counter]
    for invoice, number in zip(invoices, numbers, strict=True):
        operations.append(
            _table.update_operation(
                _invoice_pk(invoice.invoice_id),
                "INVOICE",
                set_values={
                    "status": "finalized",
                    "number": number,
                    "finalized_at": now,
                    "version": invoice.version + 1,
                    **(open_item_keys(invoice) if invoice.kind == "invoice" else {}),
                    **account_invoice_keys(invoice),  # (a draft stored before gsi4 had none)
                },
                condition="#status = :draft",
                condition_values={":draft": "draft"},
            )
        )
    transact(operations)


# ---- number claims: a run's invoices numbered without a transaction of their own ------------
# A run numbers the invoices it computed by *claiming* a block of the series: one transaction
# of two small items (the counter moved, and a claim naming the block, the invoice ids and
# where the numbered invoices are kept in S3), then the invoices written once, finalized, in
# batches, then the claim closed. In a transaction every item costs twice, and a 20-line
# invoice is two write units: numbering inside it cost four units per invoice plus the draft
# written before; now the invoice is written once (two) and the claim costs ≈0.1 per invoice.
# A claim still pending (the batch died between the claim and the writes) is recovered from
# its S3 copy with the same numbers, before anything numbers those invoices again: numbers are
# still never skipped or given twice.

PENDING_CLAIMS = "CLAIMS#PENDING"


def claim_numbers(
    series: str, invoice_ids: Sequence[str], last: int, payload: str, claimed_at: str
) -> None:
    """Move the counter from ``last`` by ``len(invoice_ids)`` (only if it is still ``last``)
    and record the claim of that block, pending, in one transaction. Raises
    ``TransactionConflict`` when another finalizer moved the counter first."""
    first = last + 1
    counter = _table.update_operation(
        f"SERIES#{series}",
        "COUNTER",
        set_values={"last": last + len(invoice_ids), "updated_at": claimed_at},
        add_values={"pending": {_claim_sk(first)}},
        condition="attribute_not_exists(pk)" if last == 0 else "#last = :read",
        condition_values=None if last == 0 else {":read": last},
    )
    claim = _table.put_operation(
        {
            "pk": f"SERIES#{series}",
            "sk": _claim_sk(first),
            "series": series,
            "first": first,
            "invoice_ids": list(invoice_ids),
            "payload": payload,
            "claimed_at": claimed_at,
            "gsi1pk": PENDING_CLAIMS,
            "gsi1sk": f"{claimed_at}#{series}#{first:09d}",
        }
    )
    transact([counter, claim])


def put_issued(invoices: Sequence[Invoice]) -> int:
    """Write numbered invoices no one has written (BatchWriteItem); returns the calls made."""
    return _table.batch_put([_invoice_item(invoice) for invoice in invoices])


def put_recovered(invoices: Sequence[Invoice]) -> int:
    """Write a recovered claim's invoices, each only if it is not there yet (a recovery never
    overwrites an invoice paid or delivered since); returns how many were written."""
    return sum(_table.put_new(_invoice_item(invoice)) for invoice in invoices)


def _claim_sk(first: int) -> str:
    return f"CLAIM#{first:09d}"


def close_claim(series: str, first: int, closed_at: str) -> None:
    """The claim's invoices are written: it leaves the pending claims (the index, then the
    counter's set: a claim closed but still in the set is only taken out of it)."""
    _table.update(
        f"SERIES#{series}",
        _claim_sk(first),
        set_values={"closed_at": closed_at},
        remove=("gsi1pk", "gsi1sk"),
    )
    _table.update(
        f"SERIES#{series}", "COUNTER", set_values={}, delete_values={"pending": {_claim_sk(first)}}
    )


def pending_claims(*, claimed_before: str | None = None) -> list[dict[str, Any]]:
    """The claims of every series whose invoices may not all be written (normally none: one
    empty query), oldest first; ``claimed_before``: only those claimed before that time."""
    keys = [
        (str(item["pk"]), str(item["sk"]))
        for item in _table.query(PENDING_CLAIMS, index="gsi1")
        if claimed_before is None or str(item["gsi1sk"]) < claimed_before
    ]
    read = _table.batch_get(keys) if keys else {}
    return [read[key] for key in keys if key in read]


def pending_claims_of(series: str) -> list[dict[str, Any]]:
    """The series' pending claims, from the set its counter keeps (the claim transaction
    adds to it, closing takes out): one GetItem, and a batch read only when there are
    some. What a batch checks before it numbers anything, with no index query (a query
    per batch is cheap on AWS, but a scan of the whole table on the embedded one)."""
    counter = _table.get(f"SERIES#{series}", "COUNTER")
    pending = sorted(str(sk) for sk in (counter or {}).get("pending") or ())
    if not pending:
        return []
    read = _table.batch_get([(f"SERIES#{series}", sk) for sk in pending])
    return [
        item
        for key in ((f"SERIES#{series}", sk) for sk in pending)
        if (item := read.get(key)) is not None and "closed_at" not in item
    ]


# ---- revenue -------------------------------------------------------------------------------


def _revenue_pk(month: str, account_id: str) -> str:
    return f"REVENUE#{month}#{account_id}"


def put_revenue(
    month: str,
    rows: Sequence[RevenueRow],
    usage_seen: Mapping[str, Mapping[str, str]] | None = None,
) -> int:
    """Write a month's rows: one item per (month, account) holding its rows, each keyed by
    contract, component and service month inside (packed, like the account's components: one
    write of ≈1 KB instead of one per line), and the readings the revenue files hold once
    this month is recognized (``usage_seen``, per account: the next month's run finds the
    readings that came later). An account with readings and no rows still gets its item.
    Written again they are the same item. Returns the calls made."""
    seen = usage_seen or {}
    by_account: dict[str, list[RevenueRow]] = {account_id: [] for account_id in seen}
    for row in rows:
        if row.month != month:
            raise ValueError(f"a row of {row.month} in the revenue of {month}")
        by_account.setdefault(row.account_id, []).append(row)
    items = []
    for account_id, own in sorted(by_account.items()):
        ordered = sorted(own, key=lambda r: (r.contract_id, r.component, r.service_month or ""))
        item: dict[str, Any] = {
            "pk": _revenue_pk(month, account_id),
            "sk": "ROWS",
            "month": month,
            "account_id": account_id,
            "amount": sum(r.amount for r in ordered),
            "count": len(ordered),
            "rows": pack([r.model_dump(mode="json", exclude_none=True) for r in ordered]),
        }
        if account_id in seen:
            item["usage_seen"] = pack(dict(seen[account_id]))
        items.append(item)
    return _table.batch_put(items)


def usage_seen(month: str, account_ids: Sequence[str]) -> dict[str, dict[str, str] | None]:
    """The readings the revenue files held after ``month``'s run, per account (one batch
    read per 100): {} when the account's item has none; None when the month has no item
    of the account or one written before the readings were kept on it (the caller then
    takes every reading as recognized: nothing is recognized twice)."""
    read = _table.batch_get([(_revenue_pk(month, a), "ROWS") for a in account_ids])
    seen: dict[str, dict[str, str] | None] = {a: None for a in account_ids}
    for item in read.values():
        if "usage_seen" in item:
            seen[str(item["account_id"])] = {
                str(k): str(v) for k, v in unpack(item["usage_seen"]).items()
            }
    return seen


def revenue_of(month: str, account_id: str) -> list[RevenueRow]:
    """An account's revenue rows of a month (by contract and component)."""
    item = _table.get(_revenue_pk(month, account_id), "ROWS")
    if item is None:
        return []
    return [RevenueRow.model_validate(row) for row in unpack(item["rows"])]


__all__ = ["TransactionConflict"]
