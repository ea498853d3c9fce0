"""The direct-debit state machine's tasks (statemachines/direct-debit.asl.json).

Each receives its state's input. A task that raises writes the failure into its run and
raises again: the execution fails at that step after its retries, and a re-drive continues
there (the request written before is found and sent as it was).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.tasks.steps import recording_failures
from monosub.observability import STEP_FUNCTIONS, entry_point
from monosub.services import direct_debit

step = recording_failures(direct_debit.record_failure)


@entry_point(STEP_FUNCTIONS)
@step("Prepare")
def prepare_debit_handler(state: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return direct_debit.prepare(state)


@entry_point(STEP_FUNCTIONS)
@step("Deliver")
def deliver_debit_handler(state: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return direct_debit.deliver(state)


@entry_point(STEP_FUNCTIONS)
@step("Finish")
def finish_debit_handler(state: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return direct_debit.finish(state)
