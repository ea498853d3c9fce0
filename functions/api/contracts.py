"""Contracts over HTTP (staff), declared in ``functions/manifest.py`` (CONTRACTS_ROUTES).

``GET /contracts`` lists an account's contracts or those in a status, ``GET
/contracts/expiring`` is the expiring-contracts dashboard, ``GET /contracts/export`` the CSV
of the contracts the caller may see, ``GET /contracts/{contract_id}``
reads one, ``POST /contracts/{contract_id}/notice`` records the customer's notice (with the
``version`` read: a stale one is 409, as is a notice after the notice date), ``POST
/contracts/{contract_id}/cancel`` calls off a contract that has not started (sales managers
and ops: the manifest's groups).
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from functions.api import caller, downloads
from monosub import access, auth
from monosub.models.contracts import CancelContract, ContractStatus, GiveNotice
from monosub.services import contracts, exports

router = APIGatewayRouter()


def _caller() -> str:
    return auth.require_staff(auth.principal_from_event(router.current_event.raw_event)).user


def _visibility() -> tuple[frozenset[str] | None, str | None]:
    """The segments and agency the caller may see (None: no limit), from its groups
    (``monosub.access``): a corporate manager never gets a residential customer's contract,
    and only a caller who sees everything goes without limits."""
    principal = auth.require_staff(auth.principal_from_event(router.current_event.raw_event))
    return access.segments_and_agency(access.scope_for(principal))


@router.get("/contracts")
def list_contracts(
    account_id: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    status: Annotated[ContractStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    next_token: Annotated[str | None, Query(alias="next", max_length=512)] = None,
) -> dict[str, Any]:
    """An account's contracts (optionally in one status), or the contracts in one status,
    newest first; pass the answer's ``next`` for the next page."""
    segments, agency_id = _visibility()
    page = contracts.list_contracts(
        account_id=account_id,
        status=status,
        limit=limit,
        after=next_token,
        segments=segments,
        agency_id=agency_id,
    )
    return page.model_dump(mode="json")


@router.get("/contracts/expiring")
def list_expiring(
    within_days: Annotated[
        int, Query(ge=0, le=contracts.MAX_EXPIRING_DAYS, description="From today (Asia/Tokyo)")
    ] = contracts.DEFAULT_EXPIRING_DAYS,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    next_token: Annotated[str | None, Query(alias="next", max_length=512)] = None,
) -> dict[str, Any]:
    """Active contracts ending within ``within_days`` days, soonest first: customer, end and
    notice dates, auto-renewal, monthly amount, owner."""
    segments, agency_id = _visibility()
    page = contracts.list_expiring(
        within_days=within_days,
        limit=limit,
        after=next_token,
        segments=segments,
        agency_id=agency_id,
    )
    return page.model_dump(mode="json")


@router.get("/contracts/export")
def export_contracts(
    status: Annotated[ContractStatus | None, Query()] = None,
    format_: Annotated[str, Query(alias="format", pattern="^csv$")] = "csv",
    next_token: Annotated[str | None, Query(alias="next", max_length=1024)] = None,
) -> Response[str]:
    """The contracts the caller may see (in ``status`` only, when given) as CSV (UTF-8 with
    BOM): number, customer, status, dates, monthly total (税込). ``X-Next-Token``: there is
    more, pass it as ``?next=``."""
    export = exports.contracts(scope=caller.scope(router), status=status, after=next_token)
    return downloads.csv_file(export)


@router.get("/contracts/<contract_id>")
def get_contract(contract_id: str) -> dict[str, Any]:
    segments, agency_id = _visibility()
    contract = contracts.get_contract(contract_id, segments=segments, agency_id=agency_id)
    return contract.model_dump(mode="json")


@router.post("/contracts/<contract_id>/notice")
def give_notice(contract_id: str, notice: GiveNotice) -> dict[str, Any]:
    """The contract after the notice: it will not renew. 409 when ``version`` is stale, the
    contract is not active, does not renew anyway, or its notice date has passed."""
    segments, agency_id = _visibility()
    contract = contracts.give_notice(
        contract_id,
        version=notice.version,
        by=_caller(),
        reason=notice.reason,
        segments=segments,
        agency_id=agency_id,
    )
    return contract.model_dump(mode="json")


@router.post("/contracts/<contract_id>/cancel")
def cancel(contract_id: str, cancellation: CancelContract) -> dict[str, Any]:
    """The contract after it was called off before its start (``cancelled``). 409 when
    ``version`` is stale or the contract is not ``pending_start``; 404 when the caller may
    not see it."""
    segments, agency_id = _visibility()
    contract = contracts.cancel(
        contract_id,
        version=cancellation.version,
        by=_caller(),
        reason=cancellation.reason,
        segments=segments,
        agency_id=agency_id,
    )
    return contract.model_dump(mode="json")
