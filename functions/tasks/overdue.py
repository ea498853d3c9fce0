"""The overdue follow-up state machine's tasks (statemachines/overdue-follow-up.asl.json).

A task that raises writes the failure into its run and raises again: the execution fails at
that step after its retries; a re-drive continues there (levels noted are not fired again).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.tasks.steps import recording_failures
from monosub.observability import STEP_FUNCTIONS, entry_point
from monosub.services import overdue

step = recording_failures(overdue.record_failure)


@entry_point(STEP_FUNCTIONS)
@step("Prepare")
def prepare_handler(state: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return overdue.prepare(state)


@entry_point(STEP_FUNCTIONS)
@step("FollowUpBatch")
def batch_handler(state: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return overdue.batch(state)


@entry_point(STEP_FUNCTIONS)
@step("Finish")
def finish_handler(state: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return overdue.finish(state)
