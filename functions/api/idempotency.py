"""``Idempotency-Key`` on POST requests, with Powertools idempotency in the declared table.

A client that retries a POST with the same key gets the first response again (with
``Idempotent-Replayed: true``) and nothing is done twice. The same key with a different body
is refused (422); a retry while the first request still runs is refused (409). Keys are
scoped to the caller and the route, and kept for 24 hours.
"""

from __future__ import annotations

import hashlib
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)

from functions.resources import IDEMPOTENCY
from monosub import auth, aws, config
from monosub.errors import Conflict, DomainError, ValidationFailed

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 128


class KeyReused(DomainError):
    status = 422
    code = "idempotency_key_reused"


def middleware(app: APIGatewayRestResolver, next_middleware: Any) -> Response[Any]:
    event = app.current_event
    key = event.headers.get(HEADER) or event.headers.get(HEADER.lower())
    if event.http_method != "POST" or key is None:
        response: Response[Any] = next_middleware(app)
        return response
    if not 0 < len(key) <= MAX_KEY_LENGTH:
        raise ValidationFailed(
            f"{HEADER} must be 1 to {MAX_KEY_LENGTH} characters",
            details=[{"field": HEADER, "message": "bad length"}],
        )
    principal = auth.principal_from_event(event.raw_event)
    request = {
        "key": key,
        "method": event.http_method,
        "path": event.path,
        "user": principal.user if principal else "anonymous",
        "body_sha256": hashlib.sha256((event.body or "").encode("utf-8")).hexdigest(),
    }

    def perform(request: dict[str, Any]) -> dict[str, Any]:
        try:
            result: Response[Any] = next_middleware(app)
        except DomainError as error:  # a refusal is an answer too: replay it
            return {"status": error.status, "body": error.body()}
        if result.status_code >= 500:
            raise RuntimeError("server error: not remembered, a retry runs again")
        return {"status": result.status_code, "body": result.body}

    store = DynamoDBPersistenceLayer(
        table_name=config.table_name(IDEMPOTENCY), boto3_client=aws.client("dynamodb")
    )
    replayed = {"yes": True}

    def run_once(request: dict[str, Any]) -> dict[str, Any]:
        replayed["yes"] = False
        return perform(request)

    settings = IdempotencyConfig(
        event_key_jmespath="[key, method, path, user]",
        payload_validation_jmespath="body_sha256",
        expires_after_seconds=24 * 3600,
    )
    settings.register_lambda_context(app.lambda_context)
    once = idempotent_function(
        run_once, data_keyword_argument="request", persistence_store=store, config=settings
    )
    try:
        outcome = once(request=request)
    except IdempotencyValidationError:
        raise KeyReused(f"this {HEADER} was used with a different request body") from None
    except IdempotencyAlreadyInProgressError:
        raise Conflict(f"a request with this {HEADER} is still in progress") from None
    headers = {"Idempotent-Replayed": "true"} if replayed["yes"] else {}
    return Response(
        status_code=int(outcome["status"]),
        content_type=content_types.APPLICATION_JSON,
        body=outcome["body"],
        headers=headers,
    )
