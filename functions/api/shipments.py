"""Shipments over HTTP (staff), declared in ``functions/manifest.py`` (FULFILMENT_ROUTES).

``GET /shipments?status=`` lists shipments in a status by ship date, ``GET
/shipments/{shipment_id}`` reads one with its shipped devices, ``POST
/shipments/{shipment_id}/installation-complete`` reports an installation done (the contract
starts on that date).

``POST /contracts/{contract_id}/device-replacements`` (the sales team and ops, with an
``Idempotency-Key``) replaces a device of an active contract by a shipment of kind
``replacement``; ``GET`` lists a contract's replacements or reads one. A contract the caller
may not see is 404.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from functions.api import caller
from functions.api.idempotency import HEADER
from monosub.errors import ValidationFailed
from monosub.models.fulfilment import InstallationDone, ReplacementRequest, ShipmentStatus
from monosub.services import fulfilment, replacements

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


@router.post("/contracts/<contract_id>/device-replacements")
def request_replacement(contract_id: str, request: ReplacementRequest) -> Response[dict[str, Any]]:
    """201 with the replacement (``requested``) and its shipment's id; 200 with the same one
    when this request (its ``Idempotency-Key``) made it before. 404: a contract the caller
    may not see; 409: not active, a serial not bound to it, a replacement open for it."""
    headers = router.current_event.headers
    key = headers.get(HEADER) or headers.get(HEADER.lower())
    if not key:
        raise ValidationFailed(
            f"a device replacement needs an {HEADER} header (a retry sends the same one)",
            details=[{"field": HEADER, "message": "required"}],
        )
    replacement, created = replacements.request_replacement(
        contract_id, request, principal=caller.principal(router), idempotency_key=key
    )
    return Response(
        status_code=201 if created else 200,
        content_type=content_types.APPLICATION_JSON,
        body=replacement.model_dump(mode="json"),
    )


@router.get("/contracts/<contract_id>/device-replacements")
def list_replacements(contract_id: str) -> dict[str, Any]:
    """The contract's replacements, newest first; ``return_overdue``: an old rental device
    not back by ``return_due_on``."""
    found = replacements.list_replacements(contract_id, scope=caller.scope(router))
    return {"contract_id": contract_id, "replacements": [r.model_dump(mode="json") for r in found]}


@router.get("/contracts/<contract_id>/device-replacements/<replacement_id>")
def get_replacement(contract_id: str, replacement_id: str) -> dict[str, Any]:
    replacement = replacements.get_replacement(
        contract_id, replacement_id, scope=caller.scope(router)
    )
    return replacement.model_dump(mode="json")
