"""Meter readings in the billing table (docs/billing.md, "Usage"):

- a contract by its number: ``CONTRACTNO#<number>`` / ``CONTRACT`` (contract and account ids),
  written when billing starts, so a readings file naming contracts by 契約番号 finds their
  billing accounts with one BatchGetItem;
- the readings themselves on the billing account item (``usage``), written with the
  account's version: a contract event or another file changing the account meanwhile makes
  the writer read again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from monosub import clock
from monosub.models.billing import BillingAccount
from monosub.names import BILLING
from monosub.store.dynamo import Table
from monosub.store.packing import pack

_table = Table(BILLING)


def _number_pk(number: str) -> str:
    return f"CONTRACTNO#{number}"


def remember_contract(number: str, contract_id: str, account_id: str) -> None:
    """The contract's number → ids (a put: the same item each time)."""
    _table.put(
        {
            "pk": _number_pk(number),
            "sk": "CONTRACT",
            "number": number,
            "contract_id": contract_id,
            "account_id": account_id,
        }
    )


def contracts_by_number(numbers: Iterable[str]) -> dict[str, tuple[str, str]]:
    """number → (contract id, account id), for the numbers billing knows."""
    read = _table.batch_get([(_number_pk(number), "CONTRACT") for number in numbers])
    return {
        str(item["number"]): (str(item["contract_id"]), str(item["account_id"]))
        for item in read.values()
    }


def save_usage(account: BillingAccount, usage: Mapping[str, str]) -> bool:
    """Replace the account's readings, only if it is still at the version read."""
    values: dict[str, Any] = {
        "usage": pack(dict(usage)),
        "updated_at": clock.now_iso(),
        "version": account.version + 1,
    }
    return _table.update(
        f"BILLING#{account.account_id}",
        "ACCOUNT",
        set_values=values,
        condition="#version = :version",
        condition_values={":version": account.version},
    )
