"""Mid-term changes, rental returns and voids on billing (docs/billing.md).

The rules are pure (``monosub.domain.billing_changes``); this module reads the contract, the
billing account and the price book, and writes the new components together with the record
of what made them, at the account's version (a concurrent change makes it read again).

- A **change** (``POST /contracts/{id}/changes``) is kept on the billing account with who,
  when and why, and published as ``ContractChanged`` for the audit trail. Its request's
  ``Idempotency-Key`` is kept with it: a retry after a failure half-way finds the change
  made and only publishes again.
- The change is also written to the **contract's lines** (``write_lines``: the lines as
  billed now, ``line_changes`` with the lines before, and the contract's ``monthly_total``
  as its components now bill), after the billing account; a retry with the same key writes
  whatever is missing, nothing twice.
- A **return** (``DeviceReturned``) is applied once per serial and return date, and written
  to the contract's lines the same way; the event delivered again (or retried after a
  failure between the two writes) writes whatever is missing.
- A **void** (``POST /invoices/{id}/void``) marks the invoice ``void`` first, then writes its
  credit note, gives back the ledger and numbers the credit note; each step is idempotent,
  so voiding again (or after a failure) finishes what is left and returns the same note.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from monosub import access, clock, events
from monosub.domain import billing_changes as rules
from monosub.domain import ledger
from monosub.errors import Conflict, NotFound, ValidationFailed
from monosub.events import EventPublisher
from monosub.models.billing import BillingAccount, Component, GiveBack, Invoice
from monosub.models.billing_changes import AppliedReturn, ContractChange, ContractChangeRequest
from monosub.models.contracts import Contract, LineChange
from monosub.observability import count, logger
from monosub.services import billing, invoice_delivery, replacements
from monosub.services.pricing import TAX_ROUNDING
from monosub.store import billing as store
from monosub.store import catalog as catalog_store
from monosub.store import contracts as contracts_store
from monosub.store import shipments as shipments_store
from monosub.store.dynamo import TransactionConflict

SOURCE = billing.SOURCE
_ATTEMPTS = 8


# ---- mid-term changes ----------------------------------------------------------------------


def change_contract(
    contract_id: str,
    request: ContractChangeRequest,
    *,
    by: str,
    idempotency_key: str,
    scope: access.Scope,
    publisher: EventPublisher | None = None,
) -> tuple[ContractChange, BillingAccount]:
    """Bill the contract at new quantities from the effective date. 404 when the caller may
    not see the contract, 409 when it is not active (or billing has not started), 400 with
    the fields at fault."""
    segments, agency_id = access.segments_and_agency(scope)
    contract = contracts_store.get(contract_id, segments=segments, agency_id=agency_id)
    if contract is None:
        raise NotFound(f"contract {contract_id} does not exist")
    if contract.status != "active":
        raise Conflict(
            f"contract {contract_id} is {contract.status}: only an active contract is changed",
            details={"status": contract.status},
        )
    for _ in range(_ATTEMPTS):
        account = store.get_account(contract.account_id)
        if account is None:
            raise Conflict(f"billing of contract {contract_id} has not started yet")
        done = next(
            (
                c
                for c in account.changes
                if c.contract_id == contract_id and c.idempotency_key == idempotency_key
            ),
            None,
        )
        if done is not None:  # a retry of a request that failed after saving
            write_lines(contract_id, account)
            _publish_change(publisher, contract, done)
            return done, account
        if request.version is not None and contract.version != request.version:
            raise Conflict(
                f"contract {contract_id} was changed meanwhile: read it again",
                details={"expected_version": request.version, "version": contract.version},
            )
        change, components = _plan_change(contract, account, request, by, idempotency_key)
        _check_lines(contract, change, request)
        changes = [*account.changes, change]
        if store.save_change(account, components, changes=changes):
            count("BillingContractChanged")
            write_lines(
                contract_id,
                account.model_copy(update={"changes": changes, "components": components}),
            )
            _publish_change(publisher, contract, change)
            saved = store.get_account(account.account_id)
            assert saved is not None
            return change, saved
    raise Conflict(f"the billing account of contract {contract_id} kept changing")


def _plan_change(
    contract: Contract,
    account: BillingAccount,
    request: ContractChangeRequest,
    by: str,
    idempotency_key: str,
) -> tuple[ContractChange, list[Component]]:
    effective = request.effective_date
    term = current_term(contract, clock.today())
    mine = [c for c in account.components if c.contract_id == contract.contract_id]
    on_contract = {c.sku for c in mine if c.kind == "monthly" and not c.discount and c.sku}
    asked = [c.sku for c in request.changes]
    before = rules.quantities_before(
        account.components, contract.contract_id, [*on_contract, *asked], effective, term.end
    )
    entries = catalog_store.entries({*asked, *(sku for sku in on_contract if before[sku])})
    plans = frozenset(
        sku for sku in on_contract if before[sku] and _kind(entries.get(sku)) == "plan"
    )
    priced = {
        sku: rules.priced_sku(entries.get(sku), sku, effective) for sku in asked if not before[sku]
    }
    problems = rules.change_problems(
        account.components,
        contract_id=contract.contract_id,
        term=rules.Term(
            start=term.start,
            end=term.end,
            contract_start=contract.start_date or term.start,
            plans=plans,
        ),
        effective=effective,
        today=clock.today(),
        changes=request.changes,
        priced=priced,
    )
    if problems:
        raise ValidationFailed("the change cannot be made", details=problems)
    number = 1 + sum(1 for c in account.changes if c.contract_id == contract.contract_id)
    components = rules.apply_change(
        account.components,
        contract_id=contract.contract_id,
        effective=effective,
        quantities={c.sku: c.quantity for c in request.changes},
        added={sku: p for sku, p in priced.items() if isinstance(p, rules.PricedSku)},
        key_prefix=f"c{number}",
        term_end=term.end,
    )
    prefix = f"c{number}."
    change = ContractChange(
        number=number,
        contract_id=contract.contract_id,
        effective_date=effective,
        changes=list(request.changes),
        previous={sku: before[sku] for sku in asked},
        reason=request.reason,
        by=by,
        at=clock.now_iso(),
        components=[
            c.key
            for c in components
            if c.contract_id == contract.contract_id and c.key.startswith(prefix)
        ],
        idempotency_key=idempotency_key,
    )
    return change, components


def _check_lines(
    contract: Contract, change: ContractChange, request: ContractChangeRequest
) -> None:
    """400 naming the change whose SKU the contract's lines could not take."""
    edit = rules.LineEdit.of_change(change)
    try:
        _with_line_edit(contract, edit, _plans_for(contract, [edit]))
    except rules.LinesRefused as refused:
        index = next((i for i, c in enumerate(request.changes) if c.sku == refused.sku), 0)
        raise ValidationFailed(
            "the change cannot be written to the contract's lines",
            details=[{"field": f"changes[{index}].sku", "message": str(refused)}],
        ) from None


def write_lines(contract_id: str, account: BillingAccount) -> Contract:
    """The contract's lines with every change and return billing made that they do not have
    yet (in billing's order: ``rules.line_edits``; each recorded in ``line_changes`` with
    the lines before it), and its ``monthly_total`` as ``account``'s components bill it, in
    one write at the version read. Idempotent per change and return (``change_id``), so a
    retried request or a replayed event writes nothing twice; a contract changed meanwhile
    (a notice, a renewal) is read again and the edits laid on its lines as they are then."""
    edits = rules.line_edits(account.changes, account.returns, contract_id)
    for _ in range(_ATTEMPTS):
        contract = contracts_store.get(contract_id)
        if contract is None:
            raise NotFound(f"contract {contract_id}")
        written = {entry.change_id for entry in contract.line_changes}
        todo = [edit for edit in edits if edit.change_id not in written]
        if not todo:
            return contract
        plans = _plans_for(contract, todo)
        version = contract.version + 1
        updated = contract
        for edit in todo:
            try:
                updated = _with_line_edit(updated, edit, plans, version=version)
            except rules.LinesRefused as refused:
                raise Conflict(
                    f"{edit.kind} {edit.change_id} is billed but contract {contract_id}'s "
                    f"lines cannot take it: {refused}",
                    details={"sku": refused.sku, "change_id": edit.change_id},
                ) from None
        total = rules.regular_monthly_total(account.components, contract_id, TAX_ROUNDING)
        updated = updated.model_copy(
            update={"monthly_total": total, "updated_at": clock.now_iso(), "version": version}
        )
        try:
            contracts_store.save(
                updated, expected_version=contract.version, expected_status=contract.status
            )
        except TransactionConflict:
            continue
        count("ContractLinesChanged", len(todo))
        return updated
    raise Conflict(
        f"contract {contract_id} kept changing: the change is billed; send the request again "
        "with the same Idempotency-Key (a return: deliver its event again) to write it to the "
        "contract's lines"
    )


def _plans_for(contract: Contract, edits: Sequence[rules.LineEdit]) -> frozenset[str]:
    """The plan SKUs among the contract's lines and the edits' SKUs (the price book says
    what a SKU the lines do not have yet is)."""
    on_lines = {line.plan_sku for line in contract.lines}
    known = on_lines | {
        sku for line in contract.lines for sku in (line.device_sku, *line.option_skus) if sku
    }
    others = {sku for edit in edits for sku in edit.quantities} - known
    entries = catalog_store.entries(others) if others else {}
    return frozenset(on_lines | {sku for sku in others if _kind(entries.get(sku)) == "plan"})


def _with_line_edit(
    contract: Contract, edit: rules.LineEdit, plans: frozenset[str], *, version: int = 0
) -> Contract:
    after = rules.lines_after_change(
        contract.lines,
        edit.quantities,
        plans=plans,
        new_line_id=lambda k: f"line_{edit.change_id}n{k}",
        first_from=edit.line_id,
    )
    entry = LineChange(
        change=edit.number,
        change_id=edit.change_id,
        kind=edit.kind,
        serial=edit.serial,
        effective_date=edit.effective_date,
        quantities=dict(edit.quantities),
        previous=dict(edit.previous),
        unplaced=after.unplaced,
        lines_before=list(contract.lines),
        reason=edit.reason,
        by=edit.by,
        at=edit.at,
        version=version or contract.version + 1,
    )
    return contract.model_copy(
        update={"lines": after.lines, "line_changes": [*contract.line_changes, entry]}
    )


def _kind(entry: Any) -> str | None:
    return str(entry.product.kind) if entry is not None else None


def current_term(contract: Contract, day: date) -> rules.Term:
    """The term in force on ``day`` (the last one started by then, else the first): its
    first and last days. ``plans`` and ``contract_start`` are the caller's to fill in."""
    started = [t for t in contract.terms if t.start_date is not None]
    in_force = [t for t in started if t.start_date is not None and t.start_date <= day]
    term = in_force[-1] if in_force else (started[0] if started else None)
    start = (term.start_date if term else None) or contract.term_start or contract.start_date
    end = term.end_date if term else contract.end_date
    if start is None:
        raise Conflict(f"contract {contract.contract_id} has not started")
    return rules.Term(
        start=start,
        end=end,
        contract_start=contract.start_date or start,
        plans=frozenset(),
    )


def _publish_change(
    publisher: EventPublisher | None, contract: Contract, change: ContractChange
) -> None:
    (publisher or events.default_publisher).publish(
        SOURCE,
        "ContractChanged",
        {
            "contract_id": contract.contract_id,
            "account_id": contract.account_id,
            "deal_id": contract.deal_id,
            "number": change.number,
            "effective_date": change.effective_date.isoformat(),
            "changes": [c.model_dump(mode="json") for c in change.changes],
            "previous": change.previous,
            "components": change.components,
            "reason": change.reason,
            "by": change.by,
            "changed_at": change.at,
        },
    )


# ---- rental returns ------------------------------------------------------------------------


def on_device_returned(detail: Mapping[str, Any]) -> str:
    """``DeviceReturned``: the returned device's rental SKU and its line's plan and options
    billed one fewer from the day after the return, once per serial and return date.
    Returns what happened, for the log."""
    serial = str(detail["serial"])
    contract_id = str(detail.get("contract_id") or "")
    if not detail.get("returned_on") or not contract_id:
        return "not a rental return of a contract"
    if replacements.is_replaced_return(detail):
        return "the old device of a replacement: its line goes on with the new device"
    returned_on = date.fromisoformat(str(detail["returned_on"]))
    device = shipments_store.registered([serial]).get(serial)
    if device is None or device.contract_id != contract_id:
        logger.warning("a returned device not in the registry", extra={"serial": serial})
        return "device not registered under the contract"
    contract = contracts_store.get(contract_id)
    if contract is None:
        raise NotFound(f"contract {contract_id}")
    day = returned_on + timedelta(days=1)
    term = current_term(contract, day)
    skus = [device.device_sku, device.plan_sku, *device.option_skus]
    for _ in range(_ATTEMPTS):
        account = store.get_account(contract.account_id)
        if account is None:
            return "no billing account"
        if any(
            r.serial == serial and r.returned_on == returned_on and r.contract_id == contract_id
            for r in account.returns
        ):
            write_lines(contract_id, account)  # whatever a failure after billing left
            return "already applied"
        quantities = rules.return_quantities(
            account.components, contract_id=contract_id, skus=skus, day=day, term_end=term.end
        )
        number = 1 + sum(1 for r in account.returns if r.contract_id == contract_id)
        components = rules.apply_change(
            account.components,
            contract_id=contract_id,
            effective=day,
            quantities=quantities,
            added={},
            key_prefix=f"r{number}",
            term_end=term.end,
        )
        prefix = f"r{number}."
        applied = AppliedReturn(
            number=number,
            contract_id=contract_id,
            serial=serial,
            returned_on=returned_on,
            line_id=device.line_id,
            skus=list(quantities),
            quantities=quantities,
            changes_before=sum(1 for c in account.changes if c.contract_id == contract_id),
            components=[
                c.key
                for c in components
                if c.contract_id == contract_id and c.key.startswith(prefix)
            ],
            by=str(detail["by"]) if detail.get("by") else None,
            at=clock.now_iso(),
        )
        returns = [*account.returns, applied]
        if store.save_change(account, components, returns=returns):
            count("BillingDeviceReturned")
            write_lines(
                contract_id,
                account.model_copy(update={"returns": returns, "components": components}),
            )
            return f"{', '.join(quantities) or 'nothing'} one fewer from {day}"
    raise Conflict(f"the billing account of contract {contract_id} kept changing")


# ---- void with a credit note ---------------------------------------------------------------


def void_invoice(
    invoice_id: str, *, reason: str, by: str, scope: access.Scope
) -> tuple[Invoice, Invoice]:
    """Void a finalized invoice with a credit note; returns both. Voiding a void invoice
    returns the same credit note (finishing whatever a failed attempt left). 409 for a
    draft, a paid invoice or a credit note."""
    invoice = billing.visible_invoice(invoice_id, scope=scope)
    if invoice.kind != "invoice":
        raise Conflict(f"{invoice_id} is a credit note: it is not voided")
    for _ in range(_ATTEMPTS):
        if invoice.status == "void":
            break
        if invoice.status != "finalized":
            raise Conflict(
                f"invoice {invoice_id} is {invoice.status}: only a finalized invoice that is "
                "not paid is voided",
                details={"status": invoice.status},
            )
        if invoice.amount_paid:
            raise Conflict(
                f"invoice {invoice_id} has ¥{invoice.amount_paid:,} paid on it: refund the "
                "payment (or keep it as the customer's credit) before voiding",
                details={"amount_paid": invoice.amount_paid},
            )
        values = {
            "status": "void",
            "voided_at": clock.now_iso(),
            "voided_by": by,
            "void_reason": reason,
            "credit_note_id": rules.credit_note_id(invoice_id),
        }
        store.update_invoice(invoice, values, remove=store.OPEN_INDEX_ATTRIBUTES)
        invoice = _invoice(invoice_id)
    else:
        raise Conflict(f"invoice {invoice_id} kept changing")
    note_id = invoice.credit_note_id or rules.credit_note_id(invoice_id)
    if store.get_invoice(note_id) is None:
        draft = rules.credit_note_for(invoice, issued_on=clock.today(), created_at=clock.now_iso())
        if store.put_draft(draft):
            count("CreditNotesDrafted")
    _give_back(invoice)
    note = _invoice(note_id)
    if note.status == "draft":
        billing.finalize_all([note])
        note = _invoice(note_id)
    note = invoice_delivery.render_credit_note(note, invoice)
    note = invoice_delivery.send_credit_note(note, invoice)
    return invoice, note


def _give_back(invoice: Invoice) -> None:
    """The account's ledger without what the void invoice billed, once."""
    for _ in range(_ATTEMPTS):
        account = store.get_account(invoice.account_id)
        if account is None or invoice.invoice_id in account.given_back:
            return
        give_back = GiveBack(
            invoice_id=invoice.invoice_id, at=clock.now_iso(), lines=ledger.lines_of(invoice)
        )
        if store.add_give_back(account, give_back):
            return
    raise Conflict(f"the billing account {invoice.account_id} kept changing")


def _invoice(invoice_id: str) -> Invoice:
    invoice = store.get_invoice(invoice_id)
    if invoice is None:
        raise NotFound(f"invoice {invoice_id}")
    return invoice
