"""The embedded AWS: moto in process, with what moto lacks added.

- every declared table, bucket, bus, rule, schedule, function and state machine is created
  from the declarations (``local/provision.py``);
- Lambda invocations (direct, from Step Functions tasks, from S3 notifications) run the real
  handler in process, inside that function's own environment;
- EventBridge rules deliver matching events to Lambda targets (moto only knows SQS/logs);
- the business clock lives in the SSM parameter every function reads; moving it fires the
  EventBridge schedules that fall due, in order;
- Step Functions Retry and Wait do not sleep in real time;
- Step Functions announces every execution's status changes (RUNNING, re-driven RUNNING,
  SUCCEEDED, FAILED, TIMED_OUT, ABORTED) on the default bus, as "Step Functions Execution
  Status Change" events from ``aws.states`` (moto announces none), so rules on them fire;
- moto's DynamoDB is serialised with one lock (it is not thread-safe);
- the device platform, an outside service, is played by a local HTTP server
  (``local/device_platform.py``) whose URL and key are in the ``device-platform`` secret;
- the print-and-delivery vendor's SOAP service likewise (``local/print_vendor.py``), its
  endpoint and user in the ``print-vendor`` secret;
- Stripe's API by a fake (``local/fake_stripe.py``, the ``stripe`` secret) whose webhook
  events go to the stripe-webhook function, and the bank's SFTP server by a real one
  (``local/bank_sftp.py``, the ``bank-sftp`` secret);
- presigned S3 URLs (customer documents) work over real HTTP: a local server
  (``local/presigned_s3.py``) checks them as S3 does and serves moto's S3; its endpoint is
  ``MONOSUB_S3_PRESIGN_ENDPOINT`` while the runtime runs.
"""

from __future__ import annotations

import importlib
import json
import os
import threading
import time
import traceback
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3

from functions import manifest
from functions.declarations import ResourceNames
from functions.resources import NOTIFICATION_RECIPIENTS
from local import cron, moto_fixes, provision, redrive
from local.bank_sftp import BankSftpServer
from local.device_platform import DevicePlatformServer
from local.erp_server import ErpServer
from local.fake_stripe import FakeStripeServer
from local.presigned_s3 import PresignedS3Server
from local.print_vendor import PrintVendorServer
from local.supplier_server import NotificationRecipients
from monosub import aws, clock, config
from monosub.names import BANK_SFTP, DEVICE_PLATFORM, ERP, PRINT_VENDOR, STRIPE
from monosub.services.documents import PRESIGN_ENDPOINT_ENV

REGION = provision.REGION


@dataclass
class Invocation:
    function: str
    started: float
    seconds: float
    errored: bool
    error: str | None = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))  # wall clock, when it ended


@dataclass
class LocalContext:
    """What a handler sees as its Lambda context."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    deadline: float = 0.0

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


class EmbeddedAWS:
    """Start with ``with EmbeddedAWS() as cloud:`` (or ``start()``/``stop()``)."""

    def __init__(self, stage: str = "local", business_time: datetime | None = None) -> None:
        self.stage = stage
        self.names: ResourceNames = provision.resource_names(stage)
        self.invocations: list[Invocation] = []
        self.dynamodb_requests: dict[str, int] = {}  # by action: what a run costs on AWS
        self.started_seconds = 0.0
        self._initial_time = business_time
        self._mock: Any = None
        self._patches: list[tuple[Any, str, Any]] = []
        self._handlers: dict[str, Callable[..., Any]] = {}
        self._by_physical = {f"monosub-{stage}-{f.name}": f for f in manifest.FUNCTIONS}
        self._invocation_lock = threading.Lock()
        # One handler runs at a time, as each Lambda invocation has its own process on AWS:
        # the Map states' iterations run in threads here, and module-level state
        # (Powertools' metric set, the logger's correlation id) is not thread-safe.
        # Re-entrant: a handler may invoke another synchronously (the document renderer).
        self._handler_lock = threading.RLock()
        self.device_platform = DevicePlatformServer()
        self.print_vendor = PrintVendorServer()
        # Stripe's API and its webhook deliveries (each event goes to the stripe-webhook
        # function at once; tests set ``stripe.on_event = None`` to deliver from its outbox
        # in an order of their own), and the bank's SFTP server for direct-debit files.
        self.stripe = FakeStripeServer(on_event=self.deliver_stripe_event, now=self.now)
        self.bank_sftp = BankSftpServer()
        self.presigned_s3 = PresignedS3Server()
        self._presign_endpoint: str | None = None
        # the on-premises ERP (SOAP), and the regulator and suppliers told of supply events
        self.erp = ErpServer()
        self.notification_recipients = NotificationRecipients()

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(self) -> EmbeddedAWS:
        begin = time.perf_counter()
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        from moto import mock_aws

        self._mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
        self._mock.start()
        aws.reset_clients()
        self._patch_moto()
        session = boto3.session.Session(region_name=REGION)
        self.device_platform.start()
        self.print_vendor.start()
        self.stripe.start()
        self.bank_sftp.start()
        self.presigned_s3.start()
        self.erp.start()
        self.notification_recipients.start()
        self._presign_endpoint = os.environ.get(PRESIGN_ENDPOINT_ENV)
        os.environ[PRESIGN_ENDPOINT_ENV] = self.presigned_s3.url
        provision.provision_storage(
            session,
            self.names,
            secret_values={
                DEVICE_PLATFORM: self._device_platform_secret(),
                PRINT_VENDOR: self._print_vendor_secret(),
                STRIPE: self.stripe.secret_value(),
                BANK_SFTP: self.bank_sftp.secret_value(),
                ERP: self.erp.secret_value(),
                NOTIFICATION_RECIPIENTS: self.notification_recipients.secret_value(),
            },
        )
        provision.provision_compute(session, self.names)
        assert self.names.clock_parameter
        self.ssm.put_parameter(
            Name=self.names.clock_parameter, Value="wall", Type="String", Overwrite=True
        )
        if self._initial_time is not None:
            self._write_clock(self._initial_time)
        self.started_seconds = time.perf_counter() - begin
        return self

    def stop(self) -> None:
        self.wait_for_executions(timeout=30, raise_on_timeout=False)
        for target, name, original in reversed(self._patches):
            if original is _ABSENT:
                delattr(target, name)
            else:
                setattr(target, name, original)
        self._patches.clear()
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        self.device_platform.stop()
        self.print_vendor.stop()
        self.stripe.stop()
        self.bank_sftp.stop()
        self.presigned_s3.stop()
        self.erp.stop()
        self.notification_recipients.stop()
        if self._presign_endpoint is None:
            os.environ.pop(PRESIGN_ENDPOINT_ENV, None)
        else:
            os.environ[PRESIGN_ENDPOINT_ENV] = self._presign_endpoint
        aws.reset_clients()

    def __enter__(self) -> EmbeddedAWS:
        return self if self._mock is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _device_platform_secret(self) -> str:
        """What ops put in the ``device-platform`` secret, pointing at the local server."""
        return json.dumps(
            {"base_url": self.device_platform.url, "api_key": self.device_platform.api_key}
        )

    def _print_vendor_secret(self) -> str:
        """What ops put in the ``print-vendor`` secret, pointing at the local server."""
        vendor = self.print_vendor
        return json.dumps(
            {"endpoint": vendor.url, "username": vendor.username, "password": vendor.password}
        )

    def deliver_stripe_event(self, payload: bytes, signature: str) -> dict[str, Any]:
        """Stripe delivering a webhook: ``POST /webhooks/stripe`` through API Gateway to the
        stripe-webhook function, the body exactly as signed. Returns the response."""
        event = {
            "resource": "/webhooks/stripe",
            "path": "/webhooks/stripe",
            "httpMethod": "POST",
            "headers": {"Content-Type": "application/json", "Stripe-Signature": signature},
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "stage": self.stage,
                "resourcePath": "/webhooks/stripe",
                "httpMethod": "POST",
                "identity": {"sourceIp": "54.187.174.169"},  # one of Stripe's webhook IPs
            },
            "body": payload.decode("utf-8"),
            "isBase64Encoded": False,
        }
        response: dict[str, Any] = self.invoke("stripe-webhook", event)
        return response

    # ---- clients -----------------------------------------------------------------------------

    def client(self, service: str) -> Any:
        return aws.client(service)

    @property
    def s3(self) -> Any:
        return self.client("s3")

    @property
    def ssm(self) -> Any:
        return self.client("ssm")

    @property
    def sfn(self) -> Any:
        return self.client("stepfunctions")

    def bucket(self, logical: str) -> str:
        return self.names.buckets[logical]

    def table(self, logical: str) -> str:
        return self.names.tables[logical]

    @contextmanager
    def as_function(self, name: str) -> Iterator[None]:
        """Run a block (a test's direct service call) inside a function's environment."""
        with config.function_environment(manifest.function(name).environment(self.names)):
            clock.begin_invocation()
            yield

    # ---- Lambda ------------------------------------------------------------------------------

    def invoke(self, function_name: str, event: Any) -> Any:
        """Invoke a declared function through the Lambda API (as AWS would), return its
        result; a handler error raises ``FunctionError``."""
        response = self.client("lambda").invoke(
            FunctionName=f"monosub-{self.stage}-{function_name}",
            Payload=json.dumps(event).encode(),
        )
        payload = json.loads(response["Payload"].read() or b"null")
        if response.get("FunctionError"):
            raise FunctionError(function_name, payload)
        return payload

    def _run_handler(self, physical_name: str, environment: dict[str, str], event: Any) -> Any:
        function = self._by_physical[physical_name]
        handler = self._handlers.get(function.name)
        if handler is None:
            module = importlib.import_module(function.module)
            handler = getattr(module, function.attribute)
            self._handlers[function.name] = handler
        context = LocalContext(
            function_name=physical_name,
            memory_limit_in_mb=function.memory_mb,
            invoked_function_arn=provision.function_arn(function.name, self.stage),
            deadline=time.monotonic() + function.timeout_seconds,
        )
        with self._handler_lock, config.function_environment(environment):
            return handler(event, context)

    def _invoke_in_process(self, moto_function: Any, event: Any = None) -> tuple[str, bool, str]:
        """Replacement for moto's Docker-based ``LambdaFunction._invoke_lambda``."""
        if isinstance(event, str | bytes):
            event = json.loads(event or "{}")
        environment = dict(moto_function.environment_vars or {})
        started = time.perf_counter()
        try:
            result = self._run_handler(moto_function.function_name, environment, event or {})
            output, errored, error = json.dumps(result, default=str), False, None
        except Exception as exc:  # the Lambda runtime reports any exception this way
            error_type = type(exc).__name__
            output = json.dumps(
                {
                    "errorMessage": str(exc),
                    "errorType": error_type,
                    "stackTrace": traceback.format_exception(exc)[-5:],
                }
            )
            errored, error = True, f"{error_type}: {exc}"
        with self._invocation_lock:
            self.invocations.append(
                Invocation(
                    function=moto_function.function_name.removeprefix(f"monosub-{self.stage}-"),
                    started=started,
                    seconds=time.perf_counter() - started,
                    errored=errored,
                    error=error,
                )
            )
        return output, errored, error or ""

    # ---- EventBridge ---------------------------------------------------------------------------

    def _deliver_to_targets(
        self, rule: Any, event: dict[str, Any], transform_input: bool = True
    ) -> None:
        """Replacement for moto's ``Rule.send_to_targets``: adds Lambda targets. A schedule's
        rule takes no events (moto would match it to every event on its bus: it has no
        pattern)."""
        if getattr(rule, "scheduled_expression", None) or not rule.event_pattern.matches_event(
            event
        ):
            return
        others = []
        for target in rule.targets:
            arn: str = target["Arn"]
            if arn.startswith("arn:aws:lambda:"):
                name = arn.rsplit(":", 1)[-1]
                delivered = dict(event)
                if isinstance(delivered.get("time"), int | float):
                    delivered["time"] = _iso(datetime.fromtimestamp(delivered["time"], UTC))
                self.client("lambda").invoke(
                    FunctionName=name,
                    InvocationType="Event",
                    Payload=json.dumps(delivered, default=str).encode(),
                )
            else:
                others.append(target)
        if others:
            original_targets = rule.targets
            rule.targets = others
            try:
                self._original_send_to_targets(rule, event, transform_input)  # type: ignore[arg-type]
            finally:
                rule.targets = original_targets

    def _execution_status_changed(self, execution: Any) -> None:
        """Put Step Functions' "Execution Status Change" event of ``execution`` on the default
        bus, shaped as AWS sends it (times in epoch milliseconds, input and output as JSON
        text, the redrive fields)."""
        status = execution.exec_status.value
        redrive_count = int(getattr(execution, "redrive_count", 0))
        redrive_date = getattr(execution, "redrive_date", None)
        detail = {
            "executionArn": execution.exec_arn,
            "stateMachineArn": execution.state_machine_arn,
            "name": execution.name,
            "status": status,
            "startDate": _epoch_ms(execution.start_date),
            "stopDate": _epoch_ms(execution.stop_date),
            "input": execution.execution_input,
            "output": None if execution.output is None else json.dumps(execution.output),
            "error": execution.error,
            "cause": execution.cause,
            "redriveCount": redrive_count,
            "redriveDate": _epoch_ms(redrive_date),
            "redriveStatus": "REDRIVABLE" if status in redrive.REDRIVABLE else "NOT_REDRIVABLE",
        }
        self.client("events").put_events(
            Entries=[
                {
                    "Source": "aws.states",
                    "DetailType": "Step Functions Execution Status Change",
                    "Resources": [execution.exec_arn],
                    "Detail": json.dumps(detail, default=str),
                }
            ]
        )

    # ---- business clock ------------------------------------------------------------------------

    def now(self) -> datetime:
        assert self.names.clock_parameter
        value = self.ssm.get_parameter(Name=self.names.clock_parameter)["Parameter"]["Value"]
        return datetime.now(UTC) if value == "wall" else clock.parse_instant(value)

    def _write_clock(self, moment: datetime) -> None:
        assert self.names.clock_parameter
        self.ssm.put_parameter(
            Name=self.names.clock_parameter, Value=_iso(moment), Type="String", Overwrite=True
        )

    def set_clock(
        self,
        moment: datetime,
        *,
        fire: bool = True,
        only: tuple[str, ...] | None = None,
        timeout: float = 120,
    ) -> list[dict[str, str]]:
        """Move the business clock to ``moment``; schedules due on the way fire in order
        (``only``: just the rules whose name contains one of these, e.g. a year of billing
        without the hourly sweep), each one's executions awaited (``timeout`` seconds)."""
        fired: list[dict[str, str]] = []
        current = self.now()
        if fire and moment > current:
            due = sorted(
                (
                    (when, rule)
                    for rule in self._schedule_rules()
                    if only is None or any(part in rule["Name"] for part in only)
                    for when in cron.fire_times(rule["ScheduleExpression"], current, moment)
                ),
                # two rules due at the same instant fire in name order (as a tie on AWS
                # fires in no order at all: nothing may depend on it)
                key=lambda due: (due[0], due[1]["Name"]),
            )
            for when, rule in due:
                self._write_clock(when)
                self._fire(rule, when)
                fired.append({"rule": rule["Name"], "at": _iso(when)})
                self.wait_for_executions(timeout=timeout)
        self._write_clock(moment)
        return fired

    def advance(self, **delta: float) -> list[dict[str, str]]:
        from datetime import timedelta

        return self.set_clock(self.now() + timedelta(**delta))

    def _schedule_rules(self) -> list[dict[str, Any]]:
        rules = self.client("events").list_rules(NamePrefix=f"monosub-{self.stage}-")["Rules"]
        return [r for r in rules if r.get("ScheduleExpression") and r.get("State") == "ENABLED"]

    def _fire(self, rule: dict[str, Any], when: datetime) -> None:
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": provision.ACCOUNT,
            "time": _iso(when),
            "region": REGION,
            "resources": [rule["Arn"]],
            "detail": {},
        }
        targets = self.client("events").list_targets_by_rule(Rule=rule["Name"])["Targets"]
        for target in targets:
            self.client("lambda").invoke(
                FunctionName=target["Arn"].rsplit(":", 1)[-1],
                InvocationType="Event",
                Payload=json.dumps(event).encode(),
            )

    # ---- partners' files -----------------------------------------------------------------------

    def drop(
        self,
        kind: str,
        name: str,
        body: bytes,
        progress: Callable[[dict[str, Any]], None] | None = None,
        timeout: float = 600,
    ) -> dict[str, Any]:
        """Put a file where a partner drops it (``inbox/<kind>/<name>``), run what that
        triggers, and return the run's record."""
        from monosub.intake.service import RUN_KIND, Drop
        from monosub.store import runs

        bucket = self.names.buckets["exchange"]
        key = f"inbox/{kind}/{name}"
        etag = self.s3.put_object(Bucket=bucket, Key=key, Body=body)["ETag"].strip('"')
        run_id = runs.run_id_for(RUN_KIND, Drop(bucket, key, etag, len(body)).business_key)

        def report(_: int) -> None:
            if progress:
                with self.as_function("api"):
                    run = runs.get(run_id)
                if run:
                    progress(run.model_dump(mode="json"))

        self.wait_for_executions(timeout=timeout, progress=report if progress else None)
        with self.as_function("api"):
            run = runs.get(run_id)
        if run is None:
            raise RuntimeError(f"dropping {key} opened no run: is the notification declared?")
        return run.model_dump(mode="json")

    # ---- Step Functions ------------------------------------------------------------------------

    def state_machine_arn(self, logical: str) -> str:
        return self.names.state_machines[logical]

    def wait_for_executions(
        self,
        timeout: float = 120,
        raise_on_timeout: bool = True,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        """Block until no execution of any state machine is RUNNING."""
        deadline = time.monotonic() + timeout
        while True:
            running = sum(
                len(
                    self.sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")[
                        "executions"
                    ]
                )
                for arn in self.names.state_machines.values()
            )
            if progress:
                progress(running)
            if running == 0:
                return
            if time.monotonic() > deadline:
                if raise_on_timeout:
                    raise TimeoutError(f"{running} executions still running after {timeout}s")
                return
            time.sleep(0.02)

    def executions(self, logical: str) -> list[dict[str, Any]]:
        arn = self.state_machine_arn(logical)
        return list(self.sfn.list_executions(stateMachineArn=arn)["executions"])

    def execution_metrics(self, logical: str, since: datetime | None = None) -> dict[str, int]:
        """What CloudWatch's ``AWS/States`` metrics of this state machine would sum to, over
        the executions that started (``ExecutionsStarted``) or ended (the others) at or
        after ``since`` (wall-clock time, as Step Functions stamps them): the figures the
        state machine's alarms compare with their thresholds."""
        ended = {
            "SUCCEEDED": "ExecutionsSucceeded",
            "FAILED": "ExecutionsFailed",
            "TIMED_OUT": "ExecutionsTimedOut",
            "ABORTED": "ExecutionsAborted",
        }
        metrics = dict.fromkeys(("ExecutionsStarted", *ended.values()), 0)
        for execution in self.executions(logical):
            if since is None or execution["startDate"] >= since:
                metrics["ExecutionsStarted"] += 1
            stopped = execution.get("stopDate")
            metric = ended.get(execution["status"])
            if metric and (since is None or (stopped and stopped >= since)):
                metrics[metric] += 1
        return metrics

    # ---- patches -------------------------------------------------------------------------------

    def _patch(self, target: Any, name: str, replacement: Any) -> Any:
        """Replace (or add: moto lacks some actions) ``target.name`` until ``stop``."""
        original = getattr(target, name, _ABSENT)
        self._patches.append((target, name, original))
        setattr(target, name, replacement)
        return original

    def _patch_moto(self) -> None:
        from moto.awslambda.models import LambdaFunction
        from moto.dynamodb.models import DynamoDBBackend
        from moto.dynamodb.responses import DynamoHandler
        from moto.events.models import Rule
        from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
        from moto.stepfunctions.parser.asl.component.state.wait.wait_function import (
            wait_function,
        )
        from moto.stepfunctions.responses import StepFunctionResponse

        runtime = self

        def invoke_lambda(moto_function: Any, event: Any = None) -> tuple[str, bool, str]:
            return runtime._invoke_in_process(moto_function, event)

        self._patch(LambdaFunction, "_invoke_lambda", invoke_lambda)

        self._original_send_to_targets = Rule.send_to_targets

        def send_to_targets(rule: Any, event: Any, transform_input: bool = True) -> None:
            runtime._deliver_to_targets(rule, event, transform_input)

        self._patch(Rule, "send_to_targets", send_to_targets)

        original_call = DynamoHandler.call_action
        lock = _DYNAMODB_LOCK

        def serialised_call_action(handler: Any) -> Any:
            with lock:
                action = handler._get_action()
                runtime.dynamodb_requests[action] = runtime.dynamodb_requests.get(action, 0) + 1
                moto_fixes.table_written(action)
                return original_call(handler)

        self._patch(DynamoHandler, "call_action", serialised_call_action)
        self._patch(DynamoDBBackend, "transact_write_items", moto_fixes.transact_write_items)
        if not moto_fixes.MOTO_AS_IS:
            from moto.dynamodb.models.table import Table as MotoTable
            from moto.dynamodb.responses import DynamoResult

            self._patch(MotoTable, "all_items", moto_fixes.cached_all_items(MotoTable.all_items))
            self._patch(MotoTable, "query", moto_fixes.narrowed_query(MotoTable.query))
            self._patch(
                DynamoResult,
                "execute_result",
                moto_fixes.fast_item_answers(DynamoResult.execute_result),
            )
        self._patch(retrier_decl, "time", _InstantTime())

        def no_wait(_self: Any, env: Any, wait_seconds: int) -> None:
            return None

        self._patch(wait_function.WaitFunction, "_wait_interval", no_wait)

        # Step Functions' status-change events: started, ended, re-driven.
        from moto.stepfunctions.parser.backend.execution import (
            BaseExecutionWorkerCommunication,
            Execution,
        )

        original_start = Execution.start
        original_terminated = BaseExecutionWorkerCommunication.terminated

        def start(execution: Any) -> None:
            original_start(execution)
            runtime._execution_status_changed(execution)

        def terminated(communication: Any) -> None:
            original_terminated(communication)
            runtime._execution_status_changed(communication.execution)

        self._patch(Execution, "start", start)
        self._patch(BaseExecutionWorkerCommunication, "terminated", terminated)
        self._patch(redrive, "status_listener", self._execution_status_changed)

        # RedriveExecution, which moto lacks, and the redrive fields of DescribeExecution.
        self._patch(StepFunctionResponse, "redrive_execution", redrive.redrive_execution_response)
        self._patch(
            StepFunctionResponse,
            "describe_execution",
            redrive.with_redrive_fields(StepFunctionResponse.describe_execution),
        )


class FunctionError(Exception):
    def __init__(self, function: str, payload: Any) -> None:
        message = payload.get("errorMessage") if isinstance(payload, dict) else payload
        super().__init__(f"{function} failed: {message}")
        self.function = function
        self.payload = payload


class _InstantTime:
    """Stands in for the ``time`` module inside moto's retrier: back-off without sleeping."""

    def sleep(self, seconds: float) -> None:
        time.sleep(0)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


_DYNAMODB_LOCK = threading.RLock()
_ABSENT = object()  # what _patch remembers for an attribute it added


def _epoch_ms(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


def _iso(moment: datetime) -> str:
    return clock.iso(moment)
