"""Overdue follow-up over HTTP, declared in ``functions/manifest.py`` (OVERDUE_ROUTES).

``GET /overdue`` lists every deal with money past due (filters: ``rep``, ``segment``,
``min_days``, ``min_amount``), most days past due first, with the columns of the seed's
dashboard: due date, days past due, payment achievement rate (入金達成率), expected, paid and
outstanding; ``?format=csv`` gives the same as a CSV file. ``GET /overdue/page`` renders it
as an HTML page with the rate as a bar. Scoped like the customers: a regional manager sees
residential customers only.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from functions.api import caller, downloads
from monosub import clock
from monosub.services import overdue
from monosub.services.exports import Export

router = APIGatewayRouter()


def _listed(
    rep: str | None, segment: str | None, min_days: int, min_amount: int, by: str = "deal"
) -> list[dict[str, Any]]:
    return overdue.standings(
        scope=caller.scope(router),
        rep=rep,
        segment=segment,
        min_days=min_days,
        min_amount=min_amount,
        by=by,
    )


@router.get("/overdue")
def list_overdue(
    *,
    rep: Annotated[str | None, Query(max_length=80)] = None,
    segment: Annotated[Literal["residential", "corporate"] | None, Query()] = None,
    min_days: Annotated[int, Query(ge=1, le=3650)] = 1,
    min_amount: Annotated[int, Query(ge=0)] = 0,
    format_: Annotated[Literal["json", "csv"], Query(alias="format")] = "json",
    by: Annotated[Literal["deal", "account"], Query()] = "deal",
) -> Any:
    """Per deal (the seed's dashboard), or per billing account with ``?by=account``."""
    listed = _listed(rep, segment, min_days, min_amount, by)
    if by == "account":
        return {"as_of": clock.today().isoformat(), "accounts": listed}
    if format_ == "csv":
        text = "\ufeff" + overdue.as_csv(listed)
        name = f"overdue-{clock.today().isoformat()}.csv"
        return downloads.csv_file(Export(filename=name, text=text, rows=len(listed), next=None))
    return {"as_of": clock.today().isoformat(), "deals": listed}


@router.get("/overdue/page")
def overdue_page(
    rep: Annotated[str | None, Query(max_length=80)] = None,
    segment: Annotated[Literal["residential", "corporate"] | None, Query()] = None,
    min_days: Annotated[int, Query(ge=1, le=3650)] = 1,
    min_amount: Annotated[int, Query(ge=0)] = 0,
) -> Response[str]:
    listed = _listed(rep, segment, min_days, min_amount)
    return Response(
        status_code=200,
        content_type="text/html; charset=utf-8",
        body=overdue.page(listed),
        headers={"Cache-Control": "no-store"},
        compress=False,
    )
