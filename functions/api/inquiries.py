"""Billing inquiries for ops and sales, declared in ``functions/manifest.py``
(INQUIRY_ROUTES): ``GET /inquiries?status=open`` the cases, the earliest answer due first,
each saying whether it is late by the handling rules; ``POST /inquiries/{id}/answer`` answers
one (and closes it unless ``close`` is false), on the version read. Customers send them
through ``/me/inquiries`` (functions/api/me.py).
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from functions.api import caller
from monosub.models.portal import InquiryAnswer, InquiryStatus
from monosub.services import portal

router = APIGatewayRouter()


@router.get("/inquiries")
def list_inquiries(status: Annotated[InquiryStatus, Query()] = "open") -> dict[str, Any]:
    caller.principal(router)
    return {"status": status, "inquiries": portal.inquiries(status)}


@router.post("/inquiries/<inquiry_id>/answer")
def answer_inquiry(inquiry_id: str, request: InquiryAnswer) -> dict[str, Any]:
    """409 when the case changed since ``version`` was read, or is closed."""
    user = caller.principal(router).user
    return portal.answer_inquiry(inquiry_id, request, user=user).model_dump(mode="json")
