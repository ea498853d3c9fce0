"""The customer portal over HTTP, declared in ``functions/manifest.py`` (PORTAL_ROUTES):
routes for the ``customer`` group only (staff are refused, 403), always about the caller's
own account, which comes from its sign-in (``custom:account_id``), never from the request.

``GET /me/invoices?months=36`` the invoices of the last months with PDF and archive links;
``GET /me/consumption?months=12`` use per month per metered service for a chart;
``POST /me/invoices/{id}/card-payment`` a card payment link (another account's invoice: 404);
``GET``/``PUT /me/payment-method`` the method, and a change effective from the next invoice;
``POST /me/meter-readings`` a reading checked against the previous one;
``POST``/``GET /me/inquiries`` billing inquiries as cases with their due dates.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from monosub import auth
from monosub.models.portal import InquiryIn, MeterReadingIn, PaymentMethodChange
from monosub.services import portal

router = APIGatewayRouter()


def customer() -> auth.Customer:
    """The signed-in customer calling (401/403 otherwise)."""
    return auth.require_customer(auth.principal_from_event(router.current_event.raw_event))


@router.get("/me/invoices")
def my_invoices(months: Annotated[int, Query(ge=1, le=36)] = 36) -> dict[str, Any]:
    """Newest first; ``pdf.url`` works for 5 minutes."""
    return portal.invoices(customer(), months=months)


@router.get("/me/consumption")
def my_consumption(months: Annotated[int, Query(ge=1, le=12)] = 12) -> dict[str, Any]:
    return portal.consumption(customer(), months=months)


@router.post("/me/invoices/<invoice_id>/card-payment")
def my_card_payment(invoice_id: str) -> dict[str, Any]:
    """A Stripe Checkout link for what the invoice still owes (409 when nothing is)."""
    return portal.card_payment(customer(), invoice_id)


@router.get("/me/payment-method")
def my_payment_method() -> dict[str, Any]:
    return portal.payment_method(customer())


@router.put("/me/payment-method")
def change_my_payment_method(request: PaymentMethodChange) -> dict[str, Any]:
    """Effective from the next invoice (``pending.effective_from``: its closing)."""
    return portal.change_payment_method(customer(), request)


@router.post("/me/meter-readings")
def submit_meter_reading(request: MeterReadingIn) -> tuple[dict[str, Any], int]:
    """400 naming why a reading is not believed (lower than the last, before it, far more
    than the history suggests)."""
    return portal.submit_meter_reading(customer(), request), 201


@router.post("/me/inquiries")
def open_inquiry(request: InquiryIn) -> tuple[dict[str, Any], int]:
    return portal.open_inquiry(customer(), request).model_dump(mode="json"), 201


@router.get("/me/inquiries")
def my_inquiries() -> dict[str, Any]:
    return {"inquiries": [i.model_dump(mode="json") for i in portal.my_inquiries(customer())]}
