"""Customer documents over HTTP, declared in ``functions/manifest.py`` (DOCUMENT_ROUTES).

``POST /documents`` answers the pending document and a presigned POST (201): the client
uploads the bytes straight to S3, then the ``document-uploaded`` function checks them.
``GET /documents/{id}`` is the document with a presigned GET while it is stored (also a
generated PDF, ``pdf:<kind>:<id>[:<n>]``); ``GET /accounts|deals|contracts/{id}/documents``
list what belongs to the record, with the PDFs monosub generated for it. A record the
caller may not see is 404, as one that does not exist (``monosub.access``).
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from functions.api import caller
from monosub.models.documents import DocumentUpload
from monosub.services import documents

router = APIGatewayRouter()

Limit = Annotated[int, Query(ge=1, le=100)]
Next = Annotated[str | None, Query(min_length=1, max_length=200)]


@router.post("/documents")
def request_upload(upload: DocumentUpload) -> Response[dict[str, Any]]:
    ticket = documents.request_upload(upload, principal=caller.principal(router))
    return Response(
        status_code=201,
        content_type=content_types.APPLICATION_JSON,
        body=ticket.model_dump(mode="json"),
        headers={"Cache-Control": "no-store"},
    )


@router.get("/documents/<document_id>")
def get_document(document_id: str) -> Response[dict[str, Any]]:
    view = documents.get_document(document_id, scope=caller.scope(router))
    return Response(
        status_code=200,
        content_type=content_types.APPLICATION_JSON,
        body=view.model_dump(mode="json", exclude_none=True),
        headers={"Cache-Control": "no-store"},  # the link is a credential for minutes
    )


@router.get("/accounts/<account_id>/documents")
def account_documents(account_id: str, limit: Limit = 50, next: Next = None) -> dict[str, Any]:
    listed = documents.account_documents(
        account_id, scope=caller.scope(router), limit=limit, after=next
    )
    return listed.model_dump(mode="json")


@router.get("/deals/<deal_id>/documents")
def deal_documents(deal_id: str, limit: Limit = 50, next: Next = None) -> dict[str, Any]:
    listed = documents.deal_documents(deal_id, scope=caller.scope(router), limit=limit, after=next)
    return listed.model_dump(mode="json")


@router.get("/contracts/<contract_id>/documents")
def contract_documents(contract_id: str, limit: Limit = 50, next: Next = None) -> dict[str, Any]:
    listed = documents.contract_documents(
        contract_id, scope=caller.scope(router), limit=limit, after=next
    )
    return listed.model_dump(mode="json")
