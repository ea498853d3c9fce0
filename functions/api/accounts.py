"""Accounts over HTTP (staff): ``GET /accounts/{account_id}``, the one customer record, and
``GET /accounts/export``, the accounts the caller may see as a CSV file."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from functions.api import caller, downloads
from monosub.access import Segment
from monosub.services import accounts, exports

router = APIGatewayRouter()


@router.get("/accounts/export")
def export_accounts(
    segment: Annotated[Segment | None, Query()] = None,
    format_: Annotated[str, Query(alias="format", pattern="^csv$")] = "csv",
    next_token: Annotated[str | None, Query(alias="next", max_length=512)] = None,
) -> Response[str]:
    """The accounts the caller may see (of ``segment`` only, when given), newest first, as
    CSV (UTF-8 with BOM): account id, name, segment, agency, created (Asia/Tokyo). An
    agency user gets its own registrations' accounts; a segment the caller does not see
    gives the header row only. ``X-Next-Token``: there is more, pass it as ``?next=``."""
    export = exports.accounts(scope=caller.scope(router), segment=segment, after=next_token)
    return downloads.csv_file(export)


@router.get("/accounts/<account_id>")
def get_account(account_id: str) -> dict[str, Any]:
    """The account, its contacts and deals, its activity history (newest first) and the
    leads it was converted from; 404 for an account the caller may not see."""
    record = accounts.customer_record(account_id, scope=caller.scope(router))
    return record.model_dump(mode="json")
