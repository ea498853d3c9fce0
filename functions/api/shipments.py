"""Shipments over HTTP (staff), declared in ``functions/manifest.py`` (FULFILMENT_ROUTES).

``GET /shipments?status=`` lists shipments in a status by ship date, ``GET
/shipments/{shipment_id}`` reads one with its shipped devices, ``POST
/shipments/{shipment_id}/installation-complete`` reports an installation done (the contract
starts on that date).
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from functions.api import caller
from monosub.models.fulfilment import InstallationDone, ShipmentStatus
from monosub.services import fulfilment

router = APIGatewayRouter()


@router.get("/shipments")
def list_shipments(
    status: Annotated[ShipmentStatus, Query()] = "requested",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """Shipments in ``status``, soonest ship date first (those the caller may see)."""
    found = fulfilment.list_shipments(status, scope=caller.scope(router), limit=limit)
    return {"status": status, "shipments": [s.model_dump(mode="json") for s in found]}


@router.get("/shipments/<shipment_id>")
def get_shipment(shipment_id: str) -> dict[str, Any]:
    scope = caller.scope(router)
    shipment = fulfilment.get_shipment(shipment_id, scope=scope)
    devices = fulfilment.shipment_devices(shipment_id, scope=scope)
    return {
        **shipment.model_dump(mode="json"),
        "devices": [d.model_dump(mode="json") for d in sorted(devices, key=lambda d: d.serial)],
    }


@router.post("/shipments/<shipment_id>/installation-complete")
def installation_complete(shipment_id: str, done: InstallationDone) -> dict[str, Any]:
    """The shipment becomes ``installed`` and its contract starts on ``installed_on``."""
    shipment = fulfilment.complete_installation(
        shipment_id, done, principal=caller.principal(router)
    )
    return shipment.model_dump(mode="json")
