"""Usage billing's I/O: the usage components a contract gets when billing starts or a term is
renewed (its products' prices read from the catalog), the contract numbers billing knows, and
meter readings checked against the billing accounts and stored on them.

The rules are pure (``monosub.domain.usage_billing``, ``monosub.intake.usage_readings``);
this module reads what they need in batches and writes one account at a time, at the
version read.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from monosub import clock, events
from monosub.domain import billing as engine
from monosub.domain import usage_billing
from monosub.errors import Conflict
from monosub.intake.kinds import Parsed
from monosub.intake.usage_readings import UsageRow, check_usage_rows
from monosub.models.billing import Component, FirstMonth
from monosub.models.contracts import Contract
from monosub.observability import count
from monosub.store import billing as billing_store
from monosub.store import catalog as catalog_store
from monosub.store import usage_readings as store

_ATTEMPTS = 8


def usage_components(
    contract: Contract, *, term: int, start: date, first_month: FirstMonth
) -> list[Component]:
    """The contract's usage components from ``start`` (its start, or a renewal's first day):
    one per product of its lines whose price on ``start`` is a usage price, billed from the
    billing start (``first_month``)."""
    skus = usage_billing.line_skus(contract.lines)
    return usage_billing.usage_components(
        skus,
        catalog_store.entries(skus),
        contract_id=contract.contract_id,
        term=term,
        starts=engine.billing_start(start, first_month),
        priced_on=start,
    )


def remember_contract(contract: Contract) -> None:
    """Billing knows the contract by its number from now on (readings files name it so)."""
    store.remember_contract(contract.number, contract.contract_id, contract.account_id)


def check(parsed: Parsed) -> Parsed:
    """The readings in form against billing: one BatchGetItem for the numbers, one for the
    billing accounts they name."""
    rows: list[UsageRow] = parsed.rows
    contracts = store.contracts_by_number(sorted({row.contract_number for row in rows}))
    accounts = billing_store.get_accounts(sorted({account for _, account in contracts.values()}))
    return check_usage_rows(parsed, contracts, accounts, clock.today())


def store_readings(rows: Sequence[UsageRow], *, run_id: str) -> dict[str, int]:
    """Store the checked readings on their billing accounts, one write per account at the
    version read (read again when a contract event or another file changed it). Idempotent:
    a reading stored already is ``unchanged``. Readings older than the engine's horizon are
    dropped from the account on the way."""
    by_account: dict[str, list[UsageRow]] = {}
    for row in rows:
        by_account.setdefault(row.account_id, []).append(row)
    # a month before the horizon of today: a closing caught up late still finds its readings
    oldest = engine.add_months(engine.horizon(clock.today()), -1)
    totals = {"readings_stored": 0, "readings_replaced": 0, "readings_unchanged": 0}
    for account_id, readings in sorted(by_account.items()):
        counts = _store_account(account_id, readings, oldest)
        for name, value in counts.items():
            totals[f"readings_{name}"] += value
    count("UsageReadingsStored", totals["readings_stored"] + totals["readings_replaced"])
    # the ERP keeps the metering records too (monosub.services.erp takes them from the bus)
    from monosub.services import erp

    events.publish_all(None, erp.reading_events(rows))
    return totals


def _store_account(account_id: str, rows: Sequence[UsageRow], oldest: str) -> dict[str, int]:
    for _ in range(_ATTEMPTS):
        account = billing_store.get_account(account_id)
        if account is None:  # checked moments ago: billing accounts are never deleted
            raise Conflict(f"billing account {account_id} is gone")
        usage, counts = usage_billing.merge_readings(
            account.usage, (row.reading() for row in rows), oldest_month=oldest
        )
        if usage == account.usage or store.save_usage(account, usage):
            return counts
    raise Conflict(f"billing account {account_id} kept changing while readings were stored")
