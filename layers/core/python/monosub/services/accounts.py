"""Accounts: the one customer record, as sales, support and billing all see it."""

from __future__ import annotations

from monosub.access import Scope
from monosub.domain.leads import is_record_id
from monosub.errors import NotFound
from monosub.models.crm import CustomerRecord
from monosub.store import records


def customer_record(account_id: str, *, scope: Scope) -> CustomerRecord:
    """The account with its contacts, deals, originating leads and history (newest first);
    "not found" for an account the caller may not see (``monosub.access``)."""
    record = (
        records.customer_record(account_id, scope=scope)
        if is_record_id(account_id, "account")
        else None
    )
    if record is None:
        raise NotFound(f"account {account_id} does not exist")
    return record
