"""Mid-term changes and rental returns as components (pure: no I/O; docs/billing.md).

A change sets the quantity of SKUs on a contract from an effective date. Components are never
edited (``monosub.domain.billing``): the SKU's monthly components end the day before, and
one component with the new quantity starts on the effective date, keyed ``c<n>.<m>`` (the
n-th change of the contract; ``r<n>.<m>`` for the n-th return). The unit price stays the
one the customer agreed to; a SKU added is priced from the price book on the effective date.

A campaign discount follows the SKU it was given on (``Component.applies_to_sku``): a SKU
removed ends its discounts with it; a quantity reduced ends them and starts them again in
proportion (floor: never more discount than the units left); a quantity raised keeps them
as they are (the campaign was priced for the units of the contract, not the ones added).
A manual discount (on 月額費用, no SKU) is left alone.

A change that reaches back into months already billed needs nothing of its own: the ledger
bills the difference as adjustment lines (調整) at the next closing.

A rental return reduces by one, from the day after the return, the device's rental SKU and
the plan and options of its line: the same change, computed from the quantities in force.

A change, and a return, is also written to the contract's lines (``lines_after_change``,
taken in billing's order: ``line_edits``), so the contract shows, and its renewal quote
prices, what is billed; and the contract's monthly total is the regular month its
components bill (``regular_monthly_total``), while its document stays as agreed.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from pydantic import ValidationError

from monosub.documents.model import TaxRate
from monosub.domain import ledger
from monosub.domain.billing import tax_amounts
from monosub.domain.pricing import CatalogEntry, price_in_force
from monosub.domain.quotes import UNITS
from monosub.domain.tax import TAX_RATE_PERCENT, Rounding
from monosub.models.billing import Component, Invoice
from monosub.models.billing_changes import AppliedReturn, ContractChange, QuantityChange
from monosub.models.deals import DealLine

MAX_DAYS_AHEAD = 90
ADDABLE_KINDS = ("plan", "option")


@dataclass(frozen=True)
class PricedSku:
    """A SKU to add, as the price book offers it on the effective date."""

    sku: str
    name: str
    kind: str
    unit: str
    unit_price: int
    tax_rate: TaxRate
    fits_plans: tuple[str, ...] = ()


@dataclass(frozen=True)
class Term:
    """The contract's current term and what the change needs to know of the contract."""

    start: date
    end: date | None
    contract_start: date
    plans: frozenset[str]


def priced_sku(entry: CatalogEntry | None, sku: str, day: date) -> PricedSku | str:
    """The price-book facts of a SKU to add on ``day``, or why it cannot be added."""
    if entry is None:
        return f"unknown SKU {sku}"
    product = entry.product
    if product.kind not in ADDABLE_KINDS:
        return f"{sku} is a {product.kind}: only a plan or an option is added"
    version = price_in_force(entry, day)
    if version is None:
        return f"{sku} is not offered on {day}"
    if version.monthly_yen is None:
        return f"{sku} has no monthly price on {day}"
    return PricedSku(
        sku=sku,
        name=product.name,
        kind=product.kind,
        unit=UNITS.get(product.kind, ""),
        unit_price=version.monthly_yen,
        tax_rate=TAX_RATE_PERCENT[version.tax],  # type: ignore[arg-type]
        fits_plans=tuple(product.fits_plans),
    )


# ---- what the contract has -----------------------------------------------------------------


def _charges_of(
    contract_id: str, sku: str, term_end: date | None = None
) -> Callable[[Component], bool]:
    """The SKU's monthly charges (of the term ending ``term_end``: none of a next term)."""

    def selected(c: Component) -> bool:
        return (
            c.contract_id == contract_id
            and c.kind == "monthly"
            and not c.discount
            and c.sku == sku
            and _in_term(c, term_end)
        )

    return selected


def _discounts_of(contract_id: str, sku: str, term_end: date | None) -> Callable[[Component], bool]:
    def selected(c: Component) -> bool:
        return (
            c.contract_id == contract_id
            and c.kind == "monthly"
            and c.discount
            and c.applies_to_sku == sku
            and _in_term(c, term_end)
        )

    return selected


def _covers(component: Component, day: date) -> bool:
    return component.starts <= day and (component.ends is None or component.ends >= day)


def quantity_on(
    components: Iterable[Component],
    contract_id: str,
    sku: str,
    day: date,
    until: date | None = None,
) -> int:
    """How many of ``sku`` the contract is billed for on ``day`` (its monthly charges)."""
    selected = _charges_of(contract_id, sku, until)
    return sum(c.quantity for c in components if selected(c) and _covers(c, day))


def quantity_from(
    components: Sequence[Component], contract_id: str, sku: str, day: date, until: date | None
) -> int:
    """The quantity in force on ``day``, or, if nothing covers it, on the first day after it
    (up to ``until``) that a component of the SKU starts (a start billed from the 1st)."""
    selected = _charges_of(contract_id, sku, until)
    later = sorted(
        c.starts
        for c in components
        if selected(c) and c.starts > day and (until is None or c.starts <= until)
    )
    now = quantity_on(components, contract_id, sku, day, until)
    return now if now or not later else quantity_on(components, contract_id, sku, later[0], until)


# ---- checks --------------------------------------------------------------------------------


def change_problems(
    components: Sequence[Component],
    *,
    contract_id: str,
    term: Term,
    effective: date,
    today: date,
    changes: Sequence[QuantityChange],
    priced: Mapping[str, PricedSku | str],
) -> list[dict[str, str]]:
    """Why a change cannot be made, field by field (empty: it can). ``priced``: the price
    book's answer for each SKU the contract does not have."""
    problems: list[dict[str, str]] = []

    def refuse(field: str, message: str) -> None:
        problems.append({"field": field, "message": message})

    if effective < term.contract_start:
        refuse("effective_date", f"the contract starts on {term.contract_start}")
    elif effective < term.start or (term.end is not None and effective > term.end):
        refuse("effective_date", f"not within the current term {term.start}〜{term.end or ''}")
    latest = today + timedelta(days=MAX_DAYS_AHEAD)
    if effective > latest:
        refuse("effective_date", f"at most {MAX_DAYS_AHEAD} days ahead: {latest} at the latest")
    if not changes:
        refuse("changes", "give at least one change")
    before = quantities_before(
        components, contract_id, [c.sku for c in changes], effective, term.end
    )
    plans = set(term.plans)
    for change in changes:
        found = priced.get(change.sku)
        if not before.get(change.sku) and isinstance(found, PricedSku) and found.kind == "plan":
            plans.add(found.sku)
    plans -= {c.sku for c in changes if c.quantity == 0}
    seen: set[str] = set()
    for index, change in enumerate(changes):
        path = f"changes[{index}]"
        if change.sku in seen:
            refuse(f"{path}.sku", f"{change.sku} is changed twice: give each SKU once")
            continue
        seen.add(change.sku)
        now = before.get(change.sku, 0)
        if now == change.quantity:
            message = f"the contract has {now} of {change.sku} already"
            refuse(f"{path}.quantity" if now else f"{path}.sku", message)
            continue
        if now:
            continue
        found = priced.get(change.sku, f"unknown SKU {change.sku}")
        if isinstance(found, str):
            refuse(f"{path}.sku", found)
        elif found.kind == "option" and not plans & set(found.fits_plans):
            fits = ", ".join(found.fits_plans) or "no plan"
            refuse(f"{path}.sku", f"option {change.sku} fits {fits}, not a plan of the contract")
    return problems


def quantities_before(
    components: Sequence[Component],
    contract_id: str,
    skus: Iterable[str],
    effective: date,
    term_end: date | None,
) -> dict[str, int]:
    """Each SKU's quantity in force from ``effective`` (0: not on the contract then)."""
    return {
        sku: quantity_from(components, contract_id, sku, effective, term_end)
        for sku in dict.fromkeys(skus)
    }


# ---- the change ----------------------------------------------------------------------------


def apply_change(
    components: Sequence[Component],
    *,
    contract_id: str,
    effective: date,
    quantities: Mapping[str, int],
    added: Mapping[str, PricedSku],
    key_prefix: str,
    term_end: date | None = None,
) -> list[Component]:
    """The components once each SKU of ``quantities`` is billed at its new quantity from
    ``effective``. ``added``: the SKUs the contract does not have, priced. ``term_end``:
    components starting after it (a next term already billed) are left alone, and a new
    component ends with the term when there are such."""
    last_day = effective - timedelta(days=1)
    result = list(components)
    number = 0

    def key() -> str:
        nonlocal number
        number += 1
        return f"{key_prefix}.{number:02d}"

    next_term = term_end is not None and any(
        c.contract_id == contract_id and c.starts > term_end for c in components
    )
    for sku, quantity in quantities.items():
        charges = _charges_of(contract_id, sku, term_end)
        current = [c for c in result if charges(c) and _open(c, effective)]
        before = quantity_from(result, contract_id, sku, effective, term_end)
        starts = max(effective, min((c.starts for c in current), default=effective))
        result = end_selected(result, last_day, charges)
        if quantity:
            template = _template(current, effective) if current else None
            result.append(
                _new_charge(
                    contract_id,
                    key(),
                    quantity,
                    template or added[sku],
                    starts=starts,
                    ends=term_end if next_term else None,
                )
            )
        if quantity >= before:
            continue
        discounts = _discounts_of(contract_id, sku, term_end)
        linked = [c for c in result if discounts(c) and _open(c, effective)]
        result = end_selected(result, last_day, discounts)
        for discount in linked if quantity else []:
            amount = -(abs(discount.amount) * quantity // before)
            if amount:
                result.append(
                    discount.model_copy(
                        update={
                            "key": key(),
                            "unit_price": amount,
                            "amount": amount,
                            "starts": max(effective, discount.starts),
                        }
                    )
                )
    return result


def end_selected(
    components: Iterable[Component], last_day: date, selected: Callable[[Component], bool]
) -> list[Component]:
    """``engine.end_components`` for the selected monthly components only (one SKU's, its
    discounts): billed no further than ``last_day``. One that had not started by then is
    kept, ending the day before its start (it charges nothing, and a month billed for it
    is given back by the ledger)."""
    kept = []
    for component in components:
        if not selected(component) or component.kind != "monthly":
            kept.append(component)
        elif component.starts > last_day:
            ends = component.starts - timedelta(days=1)
            kept.append(component.model_copy(update={"ends": ends}))
        elif component.ends is None or component.ends > last_day:
            kept.append(component.model_copy(update={"ends": last_day}))
        else:
            kept.append(component)
    return kept


def return_quantities(
    components: Sequence[Component],
    *,
    contract_id: str,
    skus: Sequence[str],
    day: date,
    term_end: date | None = None,
) -> dict[str, int]:
    """The quantities after a returned device, from ``day`` (the day after the return): each
    of its SKUs the contract is billed for on that day, one less. SKUs it is not billed for
    (a device sold, a line already ended) are left out."""
    quantities = {}
    for sku in dict.fromkeys(skus):
        now = quantity_from(components, contract_id, sku, day, term_end)
        if now:
            quantities[sku] = now - 1
    return quantities


def _in_term(component: Component, term_end: date | None) -> bool:
    return term_end is None or component.starts <= term_end


def _open(component: Component, day: date) -> bool:
    """Billed on ``day`` or after."""
    return component.ends is None or component.ends >= day


def _template(current: Sequence[Component], day: date) -> Component:
    """The component whose price the new quantity keeps: the one in force on ``day``, else
    the first to start after it."""
    return min(current, key=lambda c: (not _covers(c, day), c.starts, c.key))


def _new_charge(
    contract_id: str,
    key: str,
    quantity: int,
    like: Component | PricedSku,
    *,
    starts: date,
    ends: date | None,
) -> Component:
    return Component(
        contract_id=contract_id,
        key=key,
        name=like.name,
        sku=like.sku,
        kind="monthly",
        quantity=quantity,
        unit=like.unit,
        unit_price=like.unit_price,
        amount=quantity * like.unit_price,
        tax_rate=like.tax_rate,
        starts=starts,
        ends=ends,
    )


# ---- void with a credit note ---------------------------------------------------------------


def credit_note_id(invoice_id: str) -> str:
    """The one credit note of an invoice (a retry finds the same)."""
    return f"creditnote_{invoice_id.split('_', 1)[-1]}"


def credit_note_for(invoice: Invoice, *, issued_on: date, created_at: str) -> Invoice:
    """The credit note (適格返還請求書) that reverses ``invoice``: the same lines and taxes,
    positive as on the invoice (its kind says it reverses), issued on ``issued_on`` in that
    year's ``CN-`` series; a draft until it is numbered."""
    return Invoice(
        invoice_id=credit_note_id(invoice.invoice_id),
        kind="credit_note",
        account_id=invoice.account_id,
        closing_date=issued_on,
        period_start=invoice.period_start,
        period_end=invoice.period_end,
        due_date=None,
        series=f"CN-{issued_on.year}",
        lines=list(invoice.lines),
        taxes=list(invoice.taxes),
        subtotal=invoice.subtotal,
        tax_total=invoice.tax_total,
        total=invoice.total,
        delivery=invoice.delivery,
        payment_method=invoice.payment_method,
        contracts=list(invoice.contracts),
        original_invoice_id=invoice.invoice_id,
        created_at=created_at,
    )


def ledger_without(billed: Mapping[str, int], invoice: Invoice) -> dict[str, int]:
    """The ledger once what ``invoice`` billed is given back (``monosub.domain.ledger``)."""
    return ledger.without(billed, ledger.lines_of(invoice))


# ---- the contract's lines after a change ---------------------------------------------------


class LinesRefused(ValueError):
    """The contract's lines cannot take the change (``sku`` names the one at fault)."""

    def __init__(self, sku: str, message: str) -> None:
        super().__init__(message)
        self.sku = sku


@dataclass
class _Unit:
    """One unit of a line: its device, plan and options (a line of quantity n is n units)."""

    line_id: str | None
    device: str | None
    plan: str | None
    options: list[str]

    def has(self, sku: str) -> bool:
        return sku in (self.device, self.plan) or sku in self.options

    def drop(self, sku: str) -> None:
        if self.plan == sku:
            self.plan = None
        elif self.device == sku:
            self.device = None
        else:
            self.options.remove(sku)

    def key(self) -> tuple[str | None, str | None, str | None, tuple[str, ...]]:
        return (self.line_id, self.device, self.plan, tuple(self.options))


@dataclass(frozen=True)
class LinesAfter:
    """The lines after a change, and what is billed that no line can carry (SKU → how
    many: an option kept on more units than have a plan)."""

    lines: list[DealLine]
    unplaced: dict[str, int]


def lines_after_change(
    lines: Sequence[DealLine],
    quantities: Mapping[str, int],
    *,
    plans: Collection[str],
    new_line_id: Callable[[int], str],
    first_from: str | None = None,
) -> LinesAfter:
    """The contract's lines with each SKU of ``quantities`` at its new total (0: gone), so
    the contract shows, and a renewal quote prices, what is billed.

    A line of quantity n is n units (device, plan, options), last line last. Fewer of a SKU
    takes it off the last units that have it (those of line ``first_from`` first, when
    given: a returned device's line loses its unit, not another line). More of a plan adds
    units with that plan alone; more of an option (or a device) puts it on the last units
    with a plan that lack it. A unit left without a plan is dropped: its options move to
    the last planned units that lack them (an option is on a plan), its device (the
    customer's: bought, or a rental returned on its own) goes. An option no planned unit can
    take (billing kept it on more units than have a plan) is ``unplaced``: the lines cannot
    show it. Equal neighbouring units are one line again; a line split in two keeps its id
    on its first part, the other parts get ``new_line_id(k)``, k = 1, 2 … Raises
    ``LinesRefused`` for a line that would not be valid (too many options)."""
    units = [
        _Unit(line.line_id, line.device_sku, line.plan_sku, list(line.option_skus))
        for line in lines
        for _ in range(line.quantity)
    ]
    devices = {line.device_sku for line in lines if line.device_sku}
    unplaced: dict[str, int] = {}
    for sku, target in quantities.items():
        having = [u for u in units if u.has(sku)]
        if first_from is not None:  # stable: the preferred line's units last, taken first
            having.sort(key=lambda u: u.line_id == first_from)
        for unit in having[target:]:
            unit.drop(sku)
        more = target - len(having)
        if more <= 0:
            continue
        if sku in plans:
            units += [_Unit(None, None, sku, []) for _ in range(more)]
            continue
        device = sku in devices
        free = [
            u
            for u in reversed(units)
            if u.plan and not u.has(sku) and (not device or u.device is None)
        ]
        for unit in free[:more]:
            if device:
                unit.device = sku
            else:
                unit.options.append(sku)
        if len(free) < more:
            unplaced[sku] = unplaced.get(sku, 0) + more - len(free)
    planned = [u for u in units if u.plan]
    for orphan in (u for u in units if not u.plan):
        for option in orphan.options:
            home = next((u for u in reversed(planned) if option not in u.options), None)
            if home is None:
                unplaced[option] = unplaced.get(option, 0) + 1
            else:
                home.options.append(option)
    return LinesAfter(_grouped(planned, new_line_id), unplaced)


def _grouped(units: Sequence[_Unit], new_line_id: Callable[[int], str]) -> list[DealLine]:
    groups: list[tuple[_Unit, int]] = []
    for unit in units:
        if groups and groups[-1][0].key() == unit.key():
            groups[-1] = (groups[-1][0], groups[-1][1] + 1)
        else:
            groups.append((unit, 1))
    kept: set[str] = set()
    fresh = 0
    result = []
    for unit, quantity in groups:
        line_id = unit.line_id
        if line_id is None or line_id in kept:
            fresh += 1
            line_id = new_line_id(fresh)
        kept.add(line_id)
        try:
            result.append(
                DealLine(
                    line_id=line_id,
                    device_sku=unit.device,
                    plan_sku=str(unit.plan),
                    option_skus=list(unit.options),
                    quantity=quantity,
                )
            )
        except ValidationError as invalid:
            raise LinesRefused(str(unit.plan), f"the line would not be valid: {invalid}") from None
    return result


# ---- what the contract's lines take: changes and returns, in billing's order ---------------


@dataclass(frozen=True)
class LineEdit:
    """A change or a return billing applied, as the contract's lines take it: each SKU of
    ``quantities`` at the total billing set from ``effective_date``."""

    change_id: str  # c<n> or r<n>: the key prefix of the components it added
    kind: Literal["change", "return"]
    number: int
    effective_date: date
    quantities: dict[str, int]
    previous: dict[str, int]
    reason: str
    by: str
    at: str
    serial: str | None = None
    line_id: str | None = None  # a return: the device's line, whose unit goes first

    @classmethod
    def of_change(cls, change: ContractChange) -> LineEdit:
        return cls(
            change_id=f"c{change.number}",
            kind="change",
            number=change.number,
            effective_date=change.effective_date,
            quantities={c.sku: c.quantity for c in change.changes},
            previous=dict(change.previous),
            reason=change.reason,
            by=change.by,
            at=change.at,
        )

    @classmethod
    def of_return(cls, applied: AppliedReturn) -> LineEdit:
        """A return: one fewer of each SKU from the day after (``previous`` is one more)."""
        return cls(
            change_id=f"r{applied.number}",
            kind="return",
            number=applied.number,
            effective_date=applied.returned_on + timedelta(days=1),
            quantities=dict(applied.quantities),
            previous={sku: quantity + 1 for sku, quantity in applied.quantities.items()},
            reason=f"機器返却 {applied.serial}（返却日 {applied.returned_on.isoformat()}）",
            by=applied.by or "fulfilment",
            at=applied.at,
            serial=applied.serial,
            line_id=applied.line_id,
        )


def line_edits(
    changes: Iterable[ContractChange], returns: Iterable[AppliedReturn], contract_id: str
) -> list[LineEdit]:
    """The contract's changes and returns in the order billing applied them: each sets
    totals billing computed from the ones before, so the lines take them in that order. A
    return comes after the ``changes_before`` changes it counted (one recorded without it:
    after the changes made by its time). A return that reduced nothing (a sold device, a
    line already ended) changes no line and is left out."""
    mine = sorted((c for c in changes if c.contract_id == contract_id), key=lambda c: c.number)
    placed: list[tuple[tuple[int, int, int], LineEdit]] = [
        ((change.number, 0, 0), LineEdit.of_change(change)) for change in mine
    ]
    for applied in returns:
        if applied.contract_id != contract_id or not applied.quantities:
            continue
        after = applied.changes_before
        if after is None:
            after = sum(1 for c in mine if c.at <= applied.at)
        placed.append(((after, 1, applied.number), LineEdit.of_return(applied)))
    return [edit for _, edit in sorted(placed, key=lambda p: p[0])]


# ---- the contract's monthly total as billed --------------------------------------------------


def regular_monthly_total(
    components: Iterable[Component], contract_id: str, rounding: Rounding
) -> int:
    """月額費用合計 (税込, regular month) as billing prices the contract now: its monthly
    components that go on (open-ended: not ended by a change, a return or the contract's
    end, not a campaign limited to some months), summed per tax rate, tax once per rate
    (``engine.tax_amounts``). For the components a contract starts with this is its
    document's ``monthly_total``; a change effective later counts already, as it does on
    the contract's lines."""
    amounts = [
        (c.tax_rate, c.amount)
        for c in components
        if c.contract_id == contract_id and c.kind == "monthly" and c.ends is None
    ]
    return sum(tax.taxable + tax.tax for tax in tax_amounts(amounts, rounding))
