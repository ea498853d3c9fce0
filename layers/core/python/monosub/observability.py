"""Powertools Logger, Tracer and Metrics, and the one decorator stack every handler wears.

``entry_point`` gives each invocation: the business clock reset, Logger context with a
correlation id (from the API request id, the Step Functions execution, or the S3 object),
Tracer segments, and Metrics flushed at the end.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from monosub import clock, config

logger = Logger(service="monosub")
tracer = Tracer(service="monosub")
metrics = Metrics(namespace="monosub", service="monosub")

Handler = TypeVar("Handler", bound=Callable[..., Any])

API = correlation_paths.API_GATEWAY_REST
STEP_FUNCTIONS = "correlation_id"
S3 = "Records[0].s3.object.key"
EVENTBRIDGE = correlation_paths.EVENT_BRIDGE
INVOKED = "key"  # a direct invocation: the object it works on (document-renderer)
SIGN_IN = "userName"  # a Cognito trigger: the user signing in


def entry_point(correlation_path: str) -> Callable[[Handler], Handler]:
    """Decorate a Lambda handler with the fixed stack: clock, logger, tracer, metrics."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def with_keys(event: Any, context: Any) -> Any:
            logger.append_keys(stage=config.stage(), function=_function_name(context))
            return handler(event, context)

        traced = tracer.capture_lambda_handler(with_keys, capture_response=False)
        logged = logger.inject_lambda_context(
            traced, correlation_id_path=correlation_path, clear_state=True
        )
        measured = metrics.log_metrics(logged)

        @functools.wraps(handler)
        def wrapper(event: Any, context: Any) -> Any:
            clock.begin_invocation()
            return measured(event, context)

        return wrapper  # type: ignore[return-value]

    return decorate


def count(name: str, value: float = 1) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def _function_name(context: Any) -> str:
    return str(getattr(context, "function_name", "unknown"))
