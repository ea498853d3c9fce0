"""S3 ObjectCreated under ``uploads/`` of the documents bucket: check the bytes a presigned
POST put there and decide the document (stored, or rejected and quarantined), once."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from monosub.observability import S3, entry_point
from monosub.services import documents


@entry_point(S3)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    results = []
    for record in event.get("Records", []):
        key, version_id = documents.upload_event(record)
        results.append(documents.on_uploaded(key, version_id))
    return {"documents": results}
