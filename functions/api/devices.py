"""The rental device stock over HTTP, declared in ``functions/manifest.py`` (DEVICES_ROUTES).

``GET /devices?state=&model=`` lists the stock (ops and sales), ``GET /devices/{serial}``
reads one device with its moves and how it shipped. Ops change it: ``POST /devices`` stocks
serials in, ``POST /devices/{serial}/moves`` moves one on the version read,
``POST /devices/{serial}/return`` records a rented device back (unbound on the device
platform; billing ends the contract line on the return date).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from functions.api import caller
from monosub.domain.devices import DeviceState
from monosub.errors import ValidationFailed
from monosub.models.catalog import SKU_PATTERN
from monosub.models.devices import MoveRequest, ReturnRequest, StockIn, model_sku
from monosub.services import devices

router = APIGatewayRouter()
_SKU = re.compile(SKU_PATTERN)


@router.get("/devices")
def list_devices(
    state: Annotated[DeviceState | None, Query()] = None,
    model: Annotated[str | None, Query(max_length=48)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    next_token: Annotated[str | None, Query(alias="next", max_length=512)] = None,
) -> dict[str, Any]:
    """The stock in ``state`` (every state when absent) of ``model`` (any when absent), by
    model and serial; pass the answer's ``next`` for the next page."""
    sku = model_sku(model) if model else None
    if sku is not None and not _SKU.fullmatch(sku):
        raise ValidationFailed(
            "not a model", details=[{"field": "model", "message": "a catalog SKU"}]
        )
    found, token = devices.list_devices(state=state, model=sku, limit=limit, after=next_token)
    return {
        "state": state,
        "model": sku,
        "devices": [item.model_dump(mode="json") for item in found],
        "next": token,
    }


@router.get("/devices/<serial>")
def get_device(serial: str) -> dict[str, Any]:
    """The stock item, its moves newest first, and ``shipped``: the device as the warehouse
    shipped it (shipment, contract line, plan, kitting), or null."""
    return devices.device(serial)


@router.post("/devices")
def stock_in(request: StockIn) -> Response[dict[str, Any]]:
    """201 when any serial entered the stock now, 200 when all were there (same model)."""
    result = devices.stock_in(request, principal=caller.principal(router))
    return Response(
        status_code=201 if result["created"] else 200,
        content_type=content_types.APPLICATION_JSON,
        body=result,
    )


@router.post("/devices/<serial>/moves")
def move_device(serial: str, request: MoveRequest) -> dict[str, Any]:
    """The device moved, as it is now (409: a move the table refuses, or a stale version)."""
    moved = devices.move(serial, request, principal=caller.principal(router))
    return moved.model_dump(mode="json")


@router.post("/devices/<serial>/return")
def return_device(serial: str, request: ReturnRequest) -> dict[str, Any]:
    """The device returned (503 with nothing changed when the device platform is down)."""
    returned = devices.return_device(serial, request, principal=caller.principal(router))
    return returned.model_dump(mode="json")
