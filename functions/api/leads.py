"""Leads over HTTP.

``POST /leads`` is public (the web-to-lead form); the rest is for staff: ``GET /leads``,
``GET /leads/{lead_id}`` and ``POST /leads/{lead_id}/convert`` (取引開始).
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from functions.api import caller
from monosub.models.crm import ConvertLead, LeadStatus, LeadSubmission
from monosub.services import leads

router = APIGatewayRouter()


@router.post("/leads")
def submit_lead(submission: LeadSubmission) -> Response[dict[str, Any]]:
    """201 with a new lead; 200 when merged into the open lead with the same email/phone.

    The public answer names the lead only: possible duplicates are for staff to see."""
    receipt = leads.receive_lead(submission)
    return Response(
        status_code=201 if receipt.status == "created" else 200,
        content_type=content_types.APPLICATION_JSON,
        body={"lead_id": receipt.lead_id, "status": receipt.status},
    )


@router.get("/leads")
def list_leads(
    status: Annotated[LeadStatus, Query()] = "open",
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    next_token: Annotated[str | None, Query(alias="next", max_length=512)] = None,
) -> dict[str, Any]:
    """Leads with ``status``, newest first; pass the answer's ``next`` for the next page."""
    page = leads.list_leads(status, limit, next_token, scope=caller.scope(router))
    return page.model_dump(mode="json")


@router.get("/leads/<lead_id>")
def get_lead(lead_id: str) -> dict[str, Any]:
    """The lead and its history (its submissions, newest first)."""
    return leads.lead_history(lead_id, scope=caller.scope(router)).model_dump(mode="json")


@router.post("/leads/<lead_id>/convert")
def convert_lead(
    lead_id: str, request: Annotated[ConvertLead | None, Body()] = None
) -> dict[str, Any]:
    """Account (of ``segment``, corporate unless given) + contact + empty deal from the lead,
    owned by the caller; 409 if converted."""
    staff = caller.principal(router)
    conversion = leads.convert_lead(
        lead_id, request or ConvertLead(), owner=staff.user, scope=caller.scope(router)
    )
    return conversion.model_dump(mode="json")
