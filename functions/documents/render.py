"""The document renderer (container image): ``{"kind", "key", "document"}`` in, the PDF put
in the documents bucket, ``{"key", "sha256", "size"}`` out. Called synchronously by the
functions that issue documents (``monosub.documents.storage.store_pdf``)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from monosub.documents import storage
from monosub.observability import INVOKED, entry_point


@entry_point(INVOKED)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return storage.render_and_put(event).as_dict()
