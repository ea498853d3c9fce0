"""S3 ObjectCreated under inbox/: open the drop's run and start the file-intake workflow."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from monosub.intake import service
from monosub.observability import S3, entry_point, logger


@entry_point(S3)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    results = []
    for record in event.get("Records", []):
        drop = service.drop_from_s3_record(record)
        outcome = service.start(drop)
        logger.info("file dropped", extra={"key": drop.key, **outcome})
        results.append(outcome)
    return {"drops": results}
