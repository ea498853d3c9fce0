"""The file-intake state machine's tasks (statemachines/file-intake.asl.json).

Each receives the execution's state and returns what the state machine stores at its
ResultPath.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from monosub.intake import service
from monosub.observability import STEP_FUNCTIONS, entry_point


@entry_point(STEP_FUNCTIONS)
def inspect_handler(state: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return service.inspect(state)


@entry_point(STEP_FUNCTIONS)
def apply_handler(state: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    return service.apply(state)


@entry_point(STEP_FUNCTIONS)
def complete_handler(state: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return service.complete(state)


@entry_point(STEP_FUNCTIONS)
def quarantine_handler(state: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return service.quarantine(state)
