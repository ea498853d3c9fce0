"""The run ledger over HTTP: ``GET /runs`` and ``GET /runs/{run_id}``."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from monosub.errors import NotFound
from monosub.store import runs

router = APIGatewayRouter()


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
