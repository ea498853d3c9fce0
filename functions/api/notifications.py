"""Supplier and regulator notifications over HTTP, ops only, declared in
``functions/manifest.py`` (NOTIFICATION_ROUTES).

``GET /notifications?status=&recipient=&event=&meter=&from=&to=&limit=&next=`` searches the
log newest first (``from``/``to``: a business date or a UTC instant); each filter is a key or
a filter on one index partition, never a scan. ``GET /notifications/{id}`` shows one with
its payload and every attempt. An undelivered one is re-sent through the exceptions queue
(``POST /exceptions/{id}/resolve`` with ``retry``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from functions.api import caller
from monosub.services import notifications

router = APIGatewayRouter()


@router.get("/notifications")
def search_notifications(
    *,
    status: Annotated[Literal["pending", "delivered", "undelivered"] | None, Query()] = None,
    recipient: Annotated[str | None, Query(max_length=60)] = None,
    event: Annotated[
        Literal["supply-start", "device-change", "suspension", "supply-end"] | None, Query()
    ] = None,
    meter: Annotated[str | None, Query(max_length=60)] = None,
    from_: Annotated[str | None, Query(alias="from", max_length=30)] = None,
    to: Annotated[str | None, Query(max_length=30)] = None,
    limit: Annotated[int, Query(ge=1, le=notifications.MAX_PAGE)] = 50,
    next: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    page = notifications.search(
        scope=caller.scope(router),
        status=status,
        recipient=recipient,
        event=event,
        meter=meter,
        start=from_,
        end=to,
        limit=limit,
        next_token=next,
    )
    return page.model_dump(mode="json")


@router.get("/notifications/<notification_id>")
def get_notification(notification_id: str) -> dict[str, Any]:
    return notifications.get(notification_id, scope=caller.scope(router)).model_dump(mode="json")
