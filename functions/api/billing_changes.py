"""Mid-term changes and voids over HTTP, declared in ``functions/manifest.py``
(BILLING_ROUTES).

``POST /contracts/{contract_id}/changes`` (the sales team and ops) bills a contract at new
quantities from an effective date; the ``Idempotency-Key`` header is required (a retry gets
the first answer, and one after a failure half-way finishes it). ``POST
/invoices/{invoice_id}/void`` (ops) voids a finalized invoice with a credit note. Both are
scoped like the contract or the account: a caller who may not see it gets 404.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from functions.api import caller
from functions.api.idempotency import HEADER
from monosub.errors import ValidationFailed
from monosub.models.billing_changes import ContractChangeRequest, VoidInvoice
from monosub.services import billing_changes

router = APIGatewayRouter()


@router.post("/contracts/<contract_id>/changes")
def change_contract(contract_id: str, request: ContractChangeRequest) -> Response[dict[str, Any]]:
    """201 with the change recorded and the contract's components after it. 400 naming the
    fields at fault, 404 for a contract the caller may not see, 409 when it is not active."""
    headers = router.current_event.headers
    key = headers.get(HEADER) or headers.get(HEADER.lower())
    if not key:
        raise ValidationFailed(
            f"a contract change needs an {HEADER} header (a retry sends the same one)",
            details=[{"field": HEADER, "message": "required"}],
        )
    principal = caller.principal(router)
    change, account = billing_changes.change_contract(
        contract_id,
        request,
        by=principal.user,
        idempotency_key=key,
        scope=caller.scope(router),
    )
    components = [c for c in account.components if c.contract_id == contract_id]
    return Response(
        status_code=201,
        content_type=content_types.APPLICATION_JSON,
        body={
            "contract_id": contract_id,
            "account_id": account.account_id,
            "change": change.model_dump(mode="json"),
            "components": [c.model_dump(mode="json") for c in components],
        },
    )


@router.post("/invoices/<invoice_id>/void")
def void_invoice(invoice_id: str, request: VoidInvoice) -> dict[str, Any]:
    """The invoice, now void, and its credit note (finalized, numbered CN-<year>-nnnnnn).
    Voiding again returns the same; 409 for a draft, a paid invoice or a credit note."""
    invoice, credit_note = billing_changes.void_invoice(
        invoice_id,
        reason=request.reason,
        by=caller.principal(router).user,
        scope=caller.scope(router),
    )
    return {
        "invoice": invoice.model_dump(mode="json"),
        "credit_note": credit_note.model_dump(mode="json"),
    }
