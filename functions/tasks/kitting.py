"""The shipping/kitting state machine's tasks (statemachines/shipping-kitting.asl.json).

Each receives its state's input. A task that raises writes the failure into the shipment's
kitting run (``failed``, which step, what error) and raises again: the execution fails at
that step (after its retries), and a re-drive (``POST /runs/{run_id}/retry`` or the console)
continues there without redoing the devices already pushed.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.tasks.steps import recording_failures
from monosub.observability import STEP_FUNCTIONS, entry_point
from monosub.services import fulfilment

step = recording_failures(fulfilment.record_kitting_failure)


@entry_point(STEP_FUNCTIONS)
@step("Prepare")
def prepare_handler(state: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return fulfilment.prepare_kitting(state)


@entry_point(STEP_FUNCTIONS)
@step("KitDevice")
def device_handler(state: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return fulfilment.kit_device(state)


@entry_point(STEP_FUNCTIONS)
@step("CompleteShipment")
def complete_handler(state: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return fulfilment.complete_shipment(state)


@entry_point(STEP_FUNCTIONS)
@step("NotifyCustomer")
def notify_handler(state: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return fulfilment.notify_shipped(state)
