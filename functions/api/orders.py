"""Web-shop orders over HTTP, declared in ``functions/manifest.py`` (ORDER_ROUTES).

``POST /orders`` is for partner systems only: an access token of the OAuth 2.0 client-
credentials flow with the ``monosub/orders.write`` scope (checked by API Gateway's
authorizer on AWS and again in ``functions/api/app.py``). The order number is the
idempotency key: see ``monosub.services.web_orders``.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from monosub import auth
from monosub.models.web_orders import WebOrder
from monosub.services import web_orders

router = APIGatewayRouter()


@router.post("/orders")
def place_order(order: WebOrder) -> Response[dict[str, Any]]:
    """201: made (account, contact, deal won, quote accepted, contract, ``OrderConfirmed``);
    200: the same order again (``replayed``: nothing done); 202: held for the back office
    (the lines do not price to the amount paid; ``exception_id`` says which case); 409: the
    order number was used with other contents, or the back office rejected the order."""
    client = auth.require_scopes(
        router.current_event.raw_event, (auth.ORDERS_WRITE,), "POST /orders"
    )
    result = web_orders.place_order(order, client_id=client.client_id)
    status = 200 if result.replayed else (202 if result.status == "held" else 201)
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=result.model_dump(mode="json"),
    )
