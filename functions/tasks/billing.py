"""The month-end revenue and invoicing state machines' tasks
(statemachines/month-end-revenue.asl.json, statemachines/invoicing.asl.json).

Each receives its state's input. A task that raises writes the failure into its run and
raises again: the execution fails at that step after its retries, and a re-drive continues
there (batches that finished are not run again by Step Functions; one run again writes the
same items).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.tasks.steps import recording_failures
from monosub.observability import STEP_FUNCTIONS, entry_point
from monosub.services import billing, invoice_delivery

step = recording_failures(billing.record_failure)


@entry_point(STEP_FUNCTIONS)
@step("Prepare")
def prepare_month_end_handler(state: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return billing.prepare_month_end(state)


@entry_point(STEP_FUNCTIONS)
@step("RevenueBatch")
def month_end_batch_handler(state: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return billing.month_end_batch(state)


@entry_point(STEP_FUNCTIONS)
@step("Finish")
def finish_month_end_handler(state: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return billing.finish_month_end(state)


@entry_point(STEP_FUNCTIONS)
@step("Prepare")
def prepare_invoicing_handler(state: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return billing.prepare_invoicing(state)


@entry_point(STEP_FUNCTIONS)
@step("InvoiceBatch")
def invoice_batch_handler(state: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return billing.invoicing_batch(state)


@entry_point(STEP_FUNCTIONS)
@step("Finish")
def finish_invoicing_handler(state: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return billing.finish_invoicing(state)


@entry_point(STEP_FUNCTIONS)
@step("DeliverBatch")
def deliver_invoices_handler(state: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return invoice_delivery.deliver_batch(state)
