"""Billing over HTTP, declared in ``functions/manifest.py`` (BILLING_ROUTES).

``GET /billing-accounts/{account_id}`` shows how an account is billed (settings, contracts'
components, what was billed); ops and managers change the settings with ``PATCH`` on the
version read (effective from the next closing). ``GET /invoices?account_id=`` lists an
account's invoices, ``GET /invoices/{invoice_id}`` reads one; ops finalize a draft with
``POST /invoices/{invoice_id}/finalize`` (the next number of its series, once). Every route
is scoped like the account: a caller who may not see the customer gets 404.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from functions.api import caller
from monosub.models.billing import BillingSettings
from monosub.services import billing

router = APIGatewayRouter()


@router.get("/billing-accounts/<account_id>")
def get_billing_account(account_id: str) -> dict[str, Any]:
    account = billing.visible_account(account_id, scope=caller.scope(router))
    return account.model_dump(mode="json")


@router.patch("/billing-accounts/<account_id>")
def change_billing_account(account_id: str, request: BillingSettings) -> dict[str, Any]:
    """409 when the account changed since ``version`` was read; 400 naming the field."""
    billing.visible_account(account_id, scope=caller.scope(router))
    settings = request.model_dump(exclude_unset=True, exclude={"version"}, mode="json")
    changed = billing.change_settings(account_id, request.version, settings)
    return changed.model_dump(mode="json")


@router.get("/invoices")
def list_invoices(
    account_id: Annotated[str, Query(min_length=1, max_length=80)],
    limit: Annotated[int, Query(ge=1, le=100)] = 36,
) -> dict[str, Any]:
    """The account's invoices, newest closing first."""
    billing.visible_account(account_id, scope=caller.scope(router))
    invoices = billing.invoices_of(account_id, limit=limit)
    return {"account_id": account_id, "invoices": [i.model_dump(mode="json") for i in invoices]}


@router.get("/invoices/<invoice_id>")
def get_invoice(invoice_id: str) -> dict[str, Any]:
    return billing.visible_invoice(invoice_id, scope=caller.scope(router)).model_dump(mode="json")


@router.post("/invoices/<invoice_id>/finalize")
def finalize_invoice(invoice_id: str) -> dict[str, Any]:
    billing.visible_invoice(invoice_id, scope=caller.scope(router))
    return billing.finalize_invoice(invoice_id).model_dump(mode="json")


@router.get("/invoices/<invoice_id>/pdf")
def invoice_pdf(invoice_id: str):  # type: ignore[no-untyped-def]
    """The 請求書 PDF as issued (404 until it is rendered), base64 on the wire."""
    invoice = billing.visible_invoice(invoice_id, scope=caller.scope(router))
    return Response(
        status_code=200,
        content_type="application/pdf",
        body=billing.invoice_pdf(invoice),
        headers={"Content-Disposition": f'inline; filename="{invoice.number}.pdf"'},
        compress=False,
    )
