"""The ``erp-sync`` state machine's tasks (statemachines/erp-sync.asl.json), one function:
the state's ``step`` says which (one function, not four, keeps the stack small; every step
needs the same tables and the ERP secret anyway).

A step that raises writes the failure into its run and raises again: ``ErpUnavailable`` is
retried by the state machine with back-off (each attempt noted in the run); anything else
fails the execution at that step, and a re-drive continues there (items sent are not sent
again).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from monosub.observability import STEP_FUNCTIONS, entry_point
from monosub.services import erp

STEPS: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "Prepare": erp.prepare,
    "PushBatch": erp.push_batch,
    "PullStatus": erp.pull_status,
    "Finish": erp.finish,
}


@entry_point(STEP_FUNCTIONS)
def handler(state: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    step = str(state.get("step") or "")
    if step not in STEPS:
        raise ValueError(f"unknown ERP sync step {step!r}")
    try:
        return STEPS[step](state)
    except Exception as error:
        erp.record_failure(state, step, error)
        raise
