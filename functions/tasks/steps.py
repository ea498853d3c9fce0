"""What every state machine's task does on failure: write it into the run, then raise.

A task that raises fails its state (after the state's retries), so the execution stops at
that step and a re-drive continues there; the run ledger says ``failed``, which step, what
error, before Step Functions even knows.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools.utilities.typing import LambdaContext

Result = TypeVar("Result")
Recorder = Callable[[dict[str, Any], str, BaseException], None]


def recording_failures(
    record: Recorder,
) -> Callable[[str], Callable[[Callable[..., Result]], Callable[..., Result]]]:
    """A ``step(name)`` decorator for one state machine's tasks: ``record(state, name,
    error)`` writes a failure into that machine's run."""

    def step(name: str) -> Callable[[Callable[..., Result]], Callable[..., Result]]:
        def decorate(handler: Callable[..., Result]) -> Callable[..., Result]:
            @functools.wraps(handler)
            def run(state: dict[str, Any], context: LambdaContext) -> Result:
                try:
                    return handler(state, context)
                except Exception as error:
                    record(state, name, error)
                    raise

            return run

        return decorate

    return step
