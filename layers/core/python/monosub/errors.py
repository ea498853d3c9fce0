"""Domain exceptions. HTTP status mapping lives here, in one place."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return body


class ValidationFailed(DomainError):
    status = 400
    code = "validation_failed"


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class UpstreamRefused(DomainError):
    """An outside service we depend on refused the request (its 4xx): a person looks."""

    status = 502
    code = "upstream_refused"


class Unavailable(DomainError):
    """An outside service we depend on did not answer: nothing was changed, try again."""

    status = 503
    code = "unavailable"
