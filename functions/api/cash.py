"""Cash over HTTP, declared in ``functions/manifest.py`` (CASH_ROUTES).

``GET /billing-accounts/{account_id}/payments`` lists an account's payments with how each was
allocated, and its credit (scoped like the account). The exceptions queue is ops' own:
``GET /exceptions?status=open&kind=`` lists it oldest first, ``GET /exceptions/{id}`` shows
one with the input as received, ``POST /exceptions/{id}/resolve`` carries out an action the
exception offers (``apply`` a payment to an invoice or an account; ``reject``) once, on the
version read, with a note kept in the audit trail. ``POST /invoices/{id}/card-payment`` makes
a card payment link for what is still owed.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from functions.api import caller
from monosub.models.exceptions import ExceptionAction
from monosub.services import billing, card_payments, exceptions, settlements
from monosub.store import billing as billing_store
from monosub.store import cash as cash_store

router = APIGatewayRouter()


@router.get("/billing-accounts/<account_id>/payments")
def account_payments(
    account_id: str, limit: Annotated[int, Query(ge=1, le=100)] = 50
) -> dict[str, Any]:
    billing.require_visible_customer(account_id, scope=caller.scope(router))
    payments = cash_store.account_payments(account_id, limit=limit)
    return {
        "account_id": account_id,
        "credit": cash_store.get_credit(account_id).balance,
        "payments": [p.model_dump(mode="json") for p in payments],
    }


@router.get("/card-payouts")
def card_payouts(
    month: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$")],
) -> dict[str, Any]:
    """The month's card payouts with gross, fee and net (ops: what accounting books)."""
    caller.scope(router)
    return settlements.card_summary(month)


@router.get("/exceptions")
def list_exceptions(
    status: Annotated[Literal["open", "resolved", "rejected"], Query()] = "open",
    kind: Annotated[str | None, Query(max_length=60)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
) -> dict[str, Any]:
    listed = exceptions.listed(status=status, kind=kind, limit=limit, scope=caller.scope(router))
    return {"status": status, "exceptions": [e.model_dump(mode="json") for e in listed]}


@router.get("/exceptions/<exception_id>")
def get_exception(exception_id: str) -> dict[str, Any]:
    return exceptions.get(exception_id, scope=caller.scope(router)).model_dump(mode="json")


@router.post("/exceptions/<exception_id>/resolve")
def resolve_exception(exception_id: str, request: ExceptionAction) -> dict[str, Any]:
    principal = caller.principal(router)
    resolved = exceptions.resolve(
        exception_id, request, by=principal.user, scope=caller.scope(router)
    )
    return resolved.model_dump(mode="json")


@router.post("/invoices/<invoice_id>/card-payment")
def card_payment(invoice_id: str) -> dict[str, Any]:
    """A Stripe Checkout link for what the invoice still owes (409 when nothing is)."""
    invoice = billing.visible_invoice(invoice_id, scope=caller.scope(router))
    account = billing_store.get_account(invoice.account_id)
    return card_payments.checkout_link(
        invoice_id, customer_email=account.email if account else None
    )
