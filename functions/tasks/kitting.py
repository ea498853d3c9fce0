"""The shipping/kitting state machine's tasks (statemachines/shipping-kitting.asl.json).

Each receives its state's input. A task that raises writes the failure into the shipment's
kitting run (``failed``, which step, what error) and raises again: the execution fails at
that step (after its retries), and a re-drive (``POST /runs/{run_id}/retry`` or the console)
continues there without redoing the devices already pushed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools.utilities.typing import LambdaContext

from monosub.observability import STEP_FUNCTIONS, entry_point
from monosub.services import fulfilment
from monosub.store import runs

Result = TypeVar("Result")


def step(name: str) -> Callable[[Callable[..., Result]], Callable[..., Result]]:
    def decorate(handler: Callable[..., Result]) -> Callable[..., Result]:
        @functools.wraps(handler)
        def run(state: dict[str, Any], context: LambdaContext) -> Result:
            try:
                return handler(state, context)
            except Exception as error:
                run_id = str(state.get("run_id") or "")
                if run_id:
                    runs.update(
                        run_id,
                        status="failed",
                        errors=[
                            {
                                "step": name,
                                "serial": state.get("serial"),
                                "error": type(error).__name__,
                                "message": str(error),
                            }
                        ],
                        message=f"{name} failed: {error}",
                    )
                raise

        return run

    return decorate


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
