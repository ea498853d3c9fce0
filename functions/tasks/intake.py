"""The file-intake state machine's tasks (statemachines/file-intake.asl.json).

Each receives the execution's state and returns what the state machine stores at its
ResultPath. A task that raises records the failure in the run (``failed``, which step, what
error) and raises again: the execution fails at that step, and a re-drive continues there.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.tasks.steps import recording_failures
from monosub.intake import service
from monosub.observability import STEP_FUNCTIONS, entry_point

step = recording_failures(service.record_failure)


@entry_point(STEP_FUNCTIONS)
@step("Inspect")
def inspect_handler(state: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return service.inspect(state)


@entry_point(STEP_FUNCTIONS)
@step("Apply")
def apply_handler(state: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    return service.apply(state)


@entry_point(STEP_FUNCTIONS)
@step("Complete")
def complete_handler(state: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return service.complete(state)


@entry_point(STEP_FUNCTIONS)
@step("Quarantine")
def quarantine_handler(state: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return service.quarantine(state)
