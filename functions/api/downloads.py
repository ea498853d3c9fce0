"""Exports over HTTP: a CSV file as an attachment (``monosub.services.exports``).

``Content-Disposition: attachment`` with the file's name makes a browser save it;
``X-Row-Count`` says how many rows it holds; ``X-Next-Token``, present when there is more,
is passed as ``?next=`` for the next file. Never cached (customers' data).
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response

from monosub.services.exports import Export

CSV = "text/csv; charset=utf-8"
NEXT_HEADER = "X-Next-Token"
ROWS_HEADER = "X-Row-Count"


def csv_file(export: Export) -> Response[str]:
    headers = {
        "Content-Disposition": f'attachment; filename="{export.filename}"',
        "Cache-Control": "no-store",
        ROWS_HEADER: str(export.rows),
    }
    if export.next is not None:
        headers[NEXT_HEADER] = export.next
    return Response(
        status_code=200, content_type=CSV, body=export.text, headers=headers, compress=False
    )
