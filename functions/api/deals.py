"""Deals over HTTP (staff), declared in ``functions/manifest.py`` (DEALS_ROUTES).

``POST /accounts/{account_id}/deals`` creates a deal for a customer, ``GET /deals`` lists
them (by owner, stage, account), ``GET /deals/{deal_id}`` reads one, ``PATCH
/deals/{deal_id}`` edits an open one and ``POST /deals/{deal_id}/stage`` moves it through
the pipeline. Changes carry the ``version`` read: a stale one is 409.

Agencies use these routes too; every one passes the caller's scope (``monosub.access``), so
a deal or account the caller may not see is 404 and lists hold only what it may see.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from functions.api import caller
from monosub.models.deals import (
    OWNER_MAX_LENGTH,
    DealChanges,
    DealDraft,
    DealStage,
    StageChange,
)
from monosub.services import deals

router = APIGatewayRouter()


@router.post("/accounts/<account_id>/deals")
def create_deal(account_id: str, draft: DealDraft) -> Response[dict[str, Any]]:
    """201 with the new deal (prospecting), owned by ``owner`` or the caller."""
    principal = caller.principal(router)
    deal = deals.create_deal(account_id, draft, by=principal.user, scope=caller.scope(router))
    return Response(
        status_code=201,
        content_type=content_types.APPLICATION_JSON,
        body=deal.model_dump(mode="json"),
    )


@router.get("/deals")
def list_deals(
    owner: Annotated[str | None, Query(min_length=1, max_length=OWNER_MAX_LENGTH)] = None,
    stage: Annotated[DealStage | None, Query()] = None,
    account_id: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    next_token: Annotated[str | None, Query(alias="next", max_length=512)] = None,
) -> dict[str, Any]:
    """Deals matching every filter given, newest first (the caller's when none is given);
    pass the answer's ``next`` for the next page."""
    page = deals.list_deals(
        owner=owner,
        stage=stage,
        account_id=account_id,
        limit=limit,
        after=next_token,
        caller=caller.principal(router).user,
        scope=caller.scope(router),
    )
    return page.model_dump(mode="json")


@router.get("/deals/<deal_id>")
def get_deal(deal_id: str) -> dict[str, Any]:
    return deals.get_deal(deal_id, scope=caller.scope(router)).model_dump(mode="json")


@router.patch("/deals/<deal_id>")
def update_deal(deal_id: str, changes: DealChanges) -> dict[str, Any]:
    """The deal after the change; 409 when ``version`` is stale or the deal is closed."""
    principal = caller.principal(router)
    deal = deals.update_deal(deal_id, changes, by=principal.user, scope=caller.scope(router))
    return deal.model_dump(mode="json")


@router.post("/deals/<deal_id>/stage")
def change_stage(deal_id: str, change: StageChange) -> dict[str, Any]:
    """The deal in its new stage; 409 with the allowed stages for a move the pipeline
    does not allow."""
    principal = caller.principal(router)
    deal = deals.change_stage(deal_id, change, by=principal.user, scope=caller.scope(router))
    return deal.model_dump(mode="json")
