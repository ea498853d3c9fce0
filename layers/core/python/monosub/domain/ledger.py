"""Giving back to the ledger what a voided invoice billed (docs/billing.md "Voids").

The ledger (``BillingAccount.billed``: ``<contract>|<component>|<YYYY-MM>`` → yen) says what
each month of each component has been billed. A void takes each of the invoice's lines off
its key, in the invoice's order; a key left at zero is dropped, so the next closing bills that
month again as an ordinary line; a key no longer in the ledger (a settled month) stays
settled. The lines are kept as (key, yen) pairs on the account (``GiveBack``), so the same
give-back can be folded into whatever ledger is read later."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from monosub.domain.billing import ledger_key
from monosub.models.billing import Invoice


def lines_of(invoice: Invoice) -> list[tuple[str, int]]:
    """The (ledger key, yen) of each of the invoice's lines, in order."""
    return [
        (ledger_key(line.contract_id, line.component, line.month), line.amount)
        for line in invoice.lines
    ]


def without(billed: Mapping[str, int], lines: Iterable[tuple[str, int]]) -> dict[str, int]:
    """The ledger once ``lines`` are given back (see the module's docstring)."""
    ledger = dict(billed)
    for key, amount in lines:
        if key not in ledger:
            continue
        left = ledger[key] - amount
        if left:
            ledger[key] = left
        else:
            del ledger[key]
    return ledger
