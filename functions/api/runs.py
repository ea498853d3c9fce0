"""The run ledger over HTTP: ``GET /runs``, ``GET /runs/{run_id}`` and, for ops,
``POST /runs/{run_id}/retry`` (re-drive a failed run's execution)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from monosub import auth, redrive
from monosub.errors import Forbidden, NotFound
from monosub.store import runs

router = APIGatewayRouter()

RETRIERS = frozenset({"ops"})


@router.get("/runs")
def list_runs(
    kind: Annotated[str | None, Query(description="file-intake, intake-sweep, ...")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    return {"runs": [r.model_dump(mode="json") for r in runs.list_runs(kind=kind, limit=limit)]}


@router.get("/runs/<run_id>")
def get_run(run_id: str) -> dict[str, Any]:
    run = runs.get(run_id)
    if run is None:
        raise NotFound(f"run {run_id} does not exist")
    return run.model_dump(mode="json")


@router.post("/runs/<run_id>/retry")
def retry_run(run_id: str) -> Response[dict[str, Any]]:
    """Re-drive a failed run: its execution continues from the step that failed (202; the
    run says ``running`` until the execution ends). Ops only; 409 unless the run failed."""
    principal = auth.require_staff(auth.principal_from_event(router.current_event.raw_event))
    if not principal.groups & RETRIERS:
        raise Forbidden("only ops re-drive runs")
    run = redrive.redrive_run(run_id, by=principal.user)
    return Response(
        status_code=202,
        content_type=content_types.APPLICATION_JSON,
        body=run.model_dump(mode="json"),
    )
