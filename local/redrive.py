"""``RedriveExecution`` for moto's Step Functions, which does not implement it (moto 5.2.5
answers ``NotImplementedError``).

What AWS does, and what this does the same way:

- only a FAILED, TIMED_OUT or ABORTED execution can be re-driven; any other status, or an
  execution with no unsuccessful state, is refused with ``ExecutionNotRedrivable``; an
  unknown ARN with ``ExecutionDoesNotExist``;
- the execution continues **from the state that did not succeed, with that state's
  original input**: states that succeeded are not run again and their results stay in the
  data the next states receive;
- it stays the same execution (same ARN, name, input and start date, the same ``$$``
  context object); its history goes on after an ``ExecutionRedriven`` event;
- ``DescribeExecution`` reports ``redriveCount``, ``redriveDate`` and ``redriveStatus``;
- the execution is announced RUNNING again ("Step Functions Execution Status Change" with its
  ``redriveCount``, through ``status_listener``, which the runtime sets), before it goes on.

How: the unsuccessful state is the last top-level state that was entered and never exited,
found in the execution's history; its ``StateEntered`` event holds its input. A new
execution worker parses the same definition, starts it at that state with that input and
appends to the same history.

Where it differs from AWS (documented in ``docs/architecture.md``): inside a failed Map or
Parallel state AWS re-drives only the failed iterations or branches, this re-runs the whole
state; ``Assign`` variables are not restored (monosub's workflows use JSONPath only).
"""

from __future__ import annotations

import datetime
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast

from moto.core.exceptions import AWSError
from moto.core.responses import ActionResult
from moto.stepfunctions.parser.api import (
    ExecutionRedrivenEventDetails,
    ExecutionStatus,
    HistoryEventType,
)
from moto.stepfunctions.parser.asl.component.common.flow.start_at import StartAt
from moto.stepfunctions.parser.asl.component.program.program import Program
from moto.stepfunctions.parser.asl.eval.evaluation_details import EvaluationDetails
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventHistoryContext
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

REDRIVABLE = frozenset({ExecutionStatus.FAILED, ExecutionStatus.TIMED_OUT, ExecutionStatus.ABORTED})

_lock = threading.Lock()

# Called with an execution whose status changed (set by ``local/runtime.py``, which puts
# Step Functions' status-change event on the default bus); None: nobody listens.
status_listener: Callable[[Any], None] | None = None


class ExecutionNotRedrivable(AWSError):
    TYPE = "ExecutionNotRedrivable"


def unsuccessful_state(
    events: Iterable[Mapping[str, Any]], top_level_states: Iterable[str]
) -> tuple[str, str] | None:
    """(name, input as JSON text) of the last top-level state that was entered and never
    exited; None when every entered state was exited."""
    top_level = set(top_level_states)
    exited_later: set[str] = set()
    for event in reversed(list(events)):
        event_type = str(event.get("type", ""))
        if event_type.endswith("StateExited"):
            name = event.get("stateExitedEventDetails", {}).get("name")
            if name in top_level:
                exited_later.add(name)
        elif event_type.endswith("StateEntered"):
            details = event.get("stateEnteredEventDetails", {})
            name = details.get("name")
            if name not in top_level:
                continue
            if name in exited_later:
                exited_later.discard(name)
                continue
            return str(name), str(details.get("input", "{}"))
    return None


class _RedriveWorker(ExecutionWorker):
    """Runs an execution again from ``start_at`` with ``state_input``, continuing the history
    of the previous attempt (the same event list and ids)."""

    def __init__(self, execution: Any, start_at: str, state_input: Any, redrive_count: int) -> None:
        super().__init__(
            evaluation_details=EvaluationDetails(
                aws_execution_details=execution._get_start_aws_execution_details(),
                execution_details=execution.get_start_execution_details(),
                state_machine_details=execution.get_start_state_machine_details(),
            ),
            exec_comm=execution._get_start_execution_worker_comm(),
            cloud_watch_logging_session=execution._cloud_watch_logging_session,
            activity_store=execution._activity_store,
        )
        previous = execution.exec_worker.env
        history = previous.event_manager.get_event_history()
        env = self._get_evaluation_environment()
        env.event_manager = previous.event_manager
        env.event_history_context = EventHistoryContext(  # type: ignore[misc]
            previous_event_id=int(history[-1]["id"]) if history else 0
        )
        env.states.reset(state_input)
        self.env = env
        self._start_at = start_at
        self._redrive_count = redrive_count

    def _execution_logic(self) -> None:
        assert self.env is not None
        program = self._get_evaluation_entrypoint()
        program.start_at = StartAt(self._start_at)  # type: ignore[attr-defined]
        self.env.event_manager.add_event(
            context=self.env.event_history_context,
            event_type=HistoryEventType.ExecutionRedriven,
            # moto's EventDetails does not list this key; the history event is a plain dict.
            event_details=cast(
                EventDetails,
                {
                    "executionRedrivenEventDetails": ExecutionRedrivenEventDetails(
                        redriveCount=self._redrive_count
                    )
                },
            ),
        )
        program.eval(self.env)
        self._execution_communication.terminated()


def redrive(execution: Any) -> datetime.datetime:
    """Re-drive one execution of moto's parser backend; returns the redrive date."""
    with _lock:
        status = execution.exec_status
        if status not in REDRIVABLE:
            raise ExecutionNotRedrivable(
                f"Execution {execution.exec_arn} is {status.value}: only FAILED, TIMED_OUT "
                "or ABORTED executions can be redriven"
            )
        program = cast(
            Program, AmazonStateLanguageParser.parse(execution.state_machine.definition)[0]
        )
        found = unsuccessful_state(
            execution.exec_worker.env.event_manager.get_event_history(),
            program.states.states.keys(),
        )
        if found is None:
            raise ExecutionNotRedrivable(
                f"Execution {execution.exec_arn} has no unsuccessful state to redrive from"
            )
        state_name, state_input = found
        count = int(getattr(execution, "redrive_count", 0)) + 1
        redriven_at = datetime.datetime.now(tz=datetime.UTC)
        worker = _RedriveWorker(execution, state_name, json.loads(state_input), count)
        execution.redrive_count = count
        execution.redrive_date = redriven_at
        execution.exec_worker = worker
        execution.stop_date = None
        execution.error = None
        execution.cause = None
        execution.output = None
        execution.exec_status = ExecutionStatus.RUNNING
        if status_listener is not None:
            status_listener(execution)
        worker.start()
        return redriven_at


# ---- moto's Step Functions responses (patched in by local/runtime.py) ------------------------


def redrive_execution_response(response: Any) -> ActionResult:
    """``StepFunctionResponse.redrive_execution``: the action moto lacks."""
    execution = response.stepfunction_backend.describe_execution(
        response._get_param("executionArn")
    )
    return ActionResult({"redriveDate": redrive(execution)})


def with_redrive_fields(original_describe: Any) -> Any:
    """Wrap ``StepFunctionResponse.describe_execution`` to report the redrive fields."""

    def describe_execution(response: Any) -> ActionResult:
        result = original_describe(response)
        execution = response.stepfunction_backend.describe_execution(
            response._get_param("executionArn")
        )
        body = dict(result.result)
        body["redriveCount"] = int(getattr(execution, "redrive_count", 0))
        if getattr(execution, "redrive_date", None) is not None:
            body["redriveDate"] = execution.redrive_date
        status = execution.exec_status
        if status in REDRIVABLE:
            body["redriveStatus"] = "REDRIVABLE"
        else:
            body["redriveStatus"] = "NOT_REDRIVABLE"
            body["redriveStatusReason"] = f"Execution is {status.value} and cannot be redriven"
        return ActionResult(body)

    return describe_execution
