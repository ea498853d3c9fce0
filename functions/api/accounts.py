"""Accounts over HTTP (staff): ``GET /accounts/{account_id}``, the one customer record."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from functions.api import caller
from monosub.services import accounts

router = APIGatewayRouter()


@router.get("/accounts/<account_id>")
def get_account(account_id: str) -> dict[str, Any]:
    """The account, its contacts and deals, its activity history (newest first) and the
    leads it was converted from; 404 for an account the caller may not see."""
    record = accounts.customer_record(account_id, scope=caller.scope(router))
    return record.model_dump(mode="json")
