"""Exports for staff: the customers (accounts) and contracts a caller may see, as CSV files a
spreadsheet opens (``monosub.formats.csv_export``: UTF-8 with BOM, no formulas).

Read like the lists, never by a scan: accounts through the listing partitions of the
segments and agencies the caller sees (``monosub.store.records.list_accounts``), contracts
through their per-status listing (``monosub.services.contracts.list_contracts``) with the
caller's limits (``access.segments_and_agency``). Every row is checked against the scope
again here, so an export never carries a record the caller may not see; a filter that names
only what the caller may not see gives a file with the header row only, as a list gives an
empty page.

A file holds whole pages only, up to ``MAX_ROWS`` rows and ``MAX_WIRE_BYTES`` of the Lambda
response (6 MB at most); when there is more, ``next`` is where the next file starts (``?next=``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from monosub import access, clock
from monosub.access import Scope, Segment
from monosub.errors import ValidationFailed
from monosub.formats import csv_export
from monosub.formats.csv_export import Cell
from monosub.models.contracts import CONTRACT_STATUSES, Contract, ContractStatus
from monosub.models.crm import AccountListing
from monosub.services import contracts as contract_service
from monosub.store import records

MAX_ROWS = 50_000
MAX_WIRE_BYTES = 5_000_000  # below Lambda's 6 MB response payload, with room for headers
ACCOUNT_PAGE = 500
CONTRACT_PAGE = 200

ACCOUNT_COLUMNS = ("account_id", "name", "segment", "agency_id", "created_at_tokyo")
CONTRACT_COLUMNS = (
    "number",
    "contract_id",
    "account_id",
    "customer",
    "segment",
    "agency_id",
    "owner",
    "status",
    "contract_date",
    "start_date",
    "end_date",
    "monthly_total_yen",
)

Item = TypeVar("Item")
Page = Callable[[int, str | None], tuple[list[Item], str | None]]


@dataclass(frozen=True)
class Export:
    filename: str
    text: str = ""  # the whole CSV, BOM first
    rows: int = 0
    next: str | None = None  # where the next file starts; None: this is the last


def accounts(*, scope: Scope, segment: Segment | None, after: str | None) -> Export:
    """The accounts the caller may see (of ``segment`` only, when given), newest first."""
    sheet = _sheet(ACCOUNT_COLUMNS)

    def page(limit: int, token: str | None) -> tuple[list[AccountListing], str | None]:
        return records.list_accounts(scope=scope, segment=segment, limit=limit, after=token)

    _, stopped_at = _fill(sheet, page, after, _account_row, ACCOUNT_PAGE)
    return _export(f"accounts-{segment or 'all'}", sheet, stopped_at)


def contracts(*, scope: Scope, status: ContractStatus | None, after: str | None) -> Export:
    """The contracts the caller may see (in ``status`` only, when given): status by status
    in the order of ``CONTRACT_STATUSES``, each newest first."""
    statuses = [status] if status is not None else list(CONTRACT_STATUSES)
    first, token = _contract_position(after, statuses)
    sheet = _sheet(CONTRACT_COLUMNS)
    name = f"contracts-{status or 'all'}"
    for current in statuses[statuses.index(first) :]:
        page = _contracts_in(current, scope)
        finished, stopped_at = _fill(sheet, page, token, _contract_row, CONTRACT_PAGE)
        if not finished:  # the file is full: the next one starts here
            return _export(name, sheet, f"{current}.{stopped_at or ''}")
        token = None
    return _export(name, sheet, None)


def _contracts_in(status: ContractStatus, scope: Scope) -> Page[Contract]:
    """Pages of the contracts in ``status`` the caller may see: the store limited by the
    scope, and every contract checked against the scope again."""
    segments, agency_id = access.segments_and_agency(scope)

    def page(limit: int, token: str | None) -> tuple[list[Contract], str | None]:
        listed = contract_service.list_contracts(
            status=status, limit=limit, after=token, segments=segments, agency_id=agency_id
        )
        seen = [
            contract
            for contract in listed.contracts
            if access.visible(scope, segment=contract.segment, agency_id=contract.agency_id)
        ]
        return seen, listed.next

    return page


# ---- filling a file ------------------------------------------------------------------------


def _sheet(columns: Sequence[str]) -> csv_export.Sheet:
    return csv_export.Sheet(columns, max_rows=MAX_ROWS, max_wire_bytes=MAX_WIRE_BYTES)


def _fill(
    sheet: csv_export.Sheet,
    page: Page[Item],
    token: str | None,
    row: Callable[[Item], Sequence[Cell]],
    page_size: int,
) -> tuple[bool, str | None]:
    """Whole pages into ``sheet`` from ``token`` on: (True, None) when everything was read,
    else (False, the token of the first page left out)."""
    while sheet.room > 0:
        items, following = page(min(page_size, sheet.room), token)
        if not sheet.add_all(row(item) for item in items):
            if sheet.rows == 0:  # a page is a few hundred rows: far below a file's size
                raise RuntimeError("one page of the export does not fit in a file")
            return False, token
        if following is None:
            return True, None
        token = following
    return False, token


def _export(name: str, sheet: csv_export.Sheet, following: str | None) -> Export:
    stamp = clock.now().astimezone(clock.TOKYO).strftime("%Y%m%d-%H%M")
    return Export(
        filename=f"{name}-{stamp}.csv", text=sheet.text(), rows=sheet.rows, next=following
    )


# ---- rows ----------------------------------------------------------------------------------


def _tokyo(instant: str) -> str:
    return clock.parse_instant(instant).astimezone(clock.TOKYO).strftime("%Y-%m-%d %H:%M:%S")


def _account_row(account: AccountListing) -> Sequence[Cell]:
    return (
        account.account_id,
        account.name,
        account.segment,
        account.agency_id,
        _tokyo(account.created_at),
    )


def _contract_row(contract: Contract) -> Sequence[Cell]:
    def day(value: object) -> str | None:
        return None if value is None else str(value)

    return (
        contract.number,
        contract.contract_id,
        contract.account_id,
        contract.customer_name,
        contract.segment,
        contract.agency_id,
        contract.owner,
        contract.status,
        day(contract.contract_date),
        day(contract.start_date),
        day(contract.end_date),
        contract.monthly_total,
    )


# ---- where a contracts export goes on ------------------------------------------------------

_CONTRACT_TOKEN = re.compile(r"(?P<status>[a-z_]{1,20})\.(?P<token>[A-Za-z0-9_-]{0,700})")


def _contract_position(
    after: str | None, statuses: Sequence[ContractStatus]
) -> tuple[ContractStatus, str | None]:
    """The status to start with, and the token within it (``<status>.<token>``)."""
    if after is None:
        return statuses[0], None
    match = _CONTRACT_TOKEN.fullmatch(after)
    status = next((s for s in statuses if match and match["status"] == s), None)
    if match is None or status is None:
        raise ValidationFailed(
            "the next token is not valid",
            details=[{"field": "next", "message": "pass the next token of the previous file"}],
        )
    return status, match["token"] or None
