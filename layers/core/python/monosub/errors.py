"""Domain exceptions. HTTP status mapping lives here, in one place."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError


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


def refused(error: ValidationError, what: str) -> ValidationFailed:
    """``ValidationFailed`` for a pydantic ``error``: "<what> is refused: field: why; …" with
    one detail per problem (the dotted field, the message without pydantic's prefix)."""
    details: list[dict[str, str | None]] = []
    problems: list[str] = []
    for problem in error.errors():
        field = ".".join(str(part) for part in problem["loc"]) or None
        message = str(problem["msg"]).removeprefix("Value error, ")
        details.append({"field": field, "message": message})
        problems.append(f"{field}: {message}" if field else message)
    return ValidationFailed(f"{what} is refused: {'; '.join(problems)}", details=details)


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
