"""The device platform client against the local device-platform server (no AWS): what it
sends, how the platform's answers become results or the two error classes Step Functions
retries or not, and the server's own rules (key, body, versions, idempotency, states)."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from pydantic import ValidationError

from functions import resources
from functions.declarations import secret_env
from local.device_platform import DevicePlatformServer, PlatformRequest
from monosub import names, observability
from monosub.adapters import device_platform
from monosub.adapters.device_platform import (
    DeviceBinding,
    DevicePlatformClient,
    DevicePlatformRejected,
    DevicePlatformUnavailable,
)

SERIAL = "CAM-000123"


@pytest.fixture(scope="module")
def server() -> Iterator[DevicePlatformServer]:
    with DevicePlatformServer() as running:
        yield running


@pytest.fixture
def platform(server: DevicePlatformServer) -> DevicePlatformServer:
    server.reset()
    return server


@pytest.fixture
def client(platform: DevicePlatformServer) -> DevicePlatformClient:
    return DevicePlatformClient(platform.url, platform.api_key, timeout=2.0)


def binding(serial: str = SERIAL, version: int = 1, **changes: Any) -> DeviceBinding:
    values: dict[str, Any] = {
        "serial": serial,
        "model": "CAM-INDOOR-2",
        "owner_account_id": "acc_01J9Z8",
        "plan_sku": "PLAN-CLOUD-30",
        "option_skus": ["OPT-STORAGE-90", "OPT-ALERT"],
        "start_date": date(2026, 12, 1),
        "version": version,
        "contract_id": "con_01J9ZA",
        "shipment_id": "shp_01J9ZB",
    }
    return DeviceBinding(**{**values, **changes})


def last(platform: DevicePlatformServer) -> PlatformRequest:
    return platform.requests[-1]


# ---- what is sent ----------------------------------------------------------------------------


def test_a_binding_is_put_with_its_body_key_and_headers(
    platform: DevicePlatformServer, client: DevicePlatformClient
):
    from monosub.observability import logger

    logger.set_correlation_id(None)  # an earlier test's invocation may have left one
    answer = client.push_binding(binding())

    assert answer["status"] == "active" and answer["version"] == 1
    request = last(platform)
    assert (request.method, request.path, request.status) == (
        "PUT",
        f"/v1/devices/{SERIAL}/binding",
        201,
    )
    assert request.authorized  # Authorization: Bearer <the key>
    assert request.headers["Idempotency-Key"] == f"{SERIAL}:v1"
    assert request.headers["Content-Type"] == "application/json"
    assert "X-Correlation-Id" not in request.headers  # no invocation, no correlation id
    assert request.body == {
        "serial": SERIAL,
        "model": "CAM-INDOOR-2",
        "owner_account_id": "acc_01J9Z8",
        "plan_sku": "PLAN-CLOUD-30",
        "option_skus": ["OPT-STORAGE-90", "OPT-ALERT"],
        "start_date": "2026-12-01",
        "version": 1,
        "contract_id": "con_01J9ZA",
        "shipment_id": "shp_01J9ZB",
    }
    held = platform.bindings()[SERIAL]
    assert held["status"] == "active" and held["binding"]["plan_sku"] == "PLAN-CLOUD-30"


def test_the_invocations_correlation_id_goes_along(
    platform: DevicePlatformServer, client: DevicePlatformClient
):
    observability.logger.set_correlation_id("exec-kitting-42")
    try:
        client.push_binding(binding())
    finally:
        observability.logger.set_correlation_id(None)
    assert last(platform).headers["X-Correlation-Id"] == "exec-kitting-42"


def test_a_serial_is_url_quoted(platform: DevicePlatformServer, client: DevicePlatformClient):
    odd = "LOT 7/CAM#1"
    client.push_binding(binding(serial=odd))
    assert last(platform).path == "/v1/devices/LOT%207%2FCAM%231/binding"
    assert last(platform).serial == odd
    assert platform.bindings()[odd]["serial"] == odd


# ---- idempotency and versions ------------------------------------------------------------------


def test_a_repeated_push_gets_the_stored_answer_and_changes_nothing(
    platform: DevicePlatformServer, client: DevicePlatformClient
):
    first = client.push_binding(binding())
    client.suspend(SERIAL, reason="overdue", key=f"{SERIAL}:suspend:1")
    before = platform.bindings()

    again = client.push_binding(binding())  # a retried task, an ops re-drive

    assert again == first  # the answer given the first time (the device was active then)
    assert last(platform).replayed and last(platform).status == 201
    assert platform.bindings() == before  # still suspended: no second change


def test_the_same_key_for_another_body_is_refused(
    platform: DevicePlatformServer, client: DevicePlatformClient
):
    client.push_binding(binding())
    with pytest.raises(DevicePlatformRejected) as refused:
        client.push_binding(binding(plan_sku="PLAN-CLOUD-7"))  # same serial:v1
    assert refused.value.status == 422
    assert "was used for another request" in refused.value.message
    assert platform.bindings()[SERIAL]["binding"]["plan_sku"] == "PLAN-CLOUD-30"


def test_a_changed_binding_is_the_next_version_and_a_lower_one_is_refused(
    platform: DevicePlatformServer, client: DevicePlatformClient
):
    client.push_binding(binding(version=2))
    changed = client.push_binding(binding(version=3, option_skus=[]))
    assert changed["version"] == 3 and changed["binding"]["option_skus"] == []
    assert platform.bindings()[SERIAL]["binding"]["option_skus"] == []

    with pytest.raises(DevicePlatformRejected) as refused:  # a first attempt arriving late
        client.push_binding(binding(version=1, plan_sku="PLAN-CLOUD-7"))
    assert refused.value.status == 409
    assert refused.value.message == "version 1 is lower than the held version 3"
    assert "409" in str(refused.value) and SERIAL in str(refused.value)
    assert platform.bindings()[SERIAL]["version"] == 3


# ---- errors: which are worth a retry -----------------------------------------------------------


def test_the_error_classes_keep_the_names_step_functions_matches():
    """Retry/Catch ``ErrorEquals`` match the Lambda ``errorType``: the class name, exactly."""
    assert DevicePlatformUnavailable.__name__ == "DevicePlatformUnavailable"
    assert DevicePlatformRejected.__name__ == "DevicePlatformRejected"
    assert not issubclass(DevicePlatformRejected, DevicePlatformUnavailable)
    assert not issubclass(DevicePlatformUnavailable, DevicePlatformRejected)


def test_a_wrong_key_is_rejected(platform: DevicePlatformServer):
    intruder = DevicePlatformClient(platform.url, "not-the-key", timeout=2.0)
    with pytest.raises(DevicePlatformRejected) as refused:
        intruder.push_binding(binding())
    assert refused.value.status == 401
    assert refused.value.message == "missing or wrong API key"
    assert not last(platform).authorized
    assert platform.bindings() == {}


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
def test_a_server_error_or_throttling_is_unavailable_and_a_retry_succeeds(
    platform: DevicePlatformServer, client: DevicePlatformClient, status: int
):
    platform.fail_next(1, status=status)
    with pytest.raises(DevicePlatformUnavailable, match=str(status)):
        client.push_binding(binding())
    assert platform.bindings() == {}  # an injected failure changes nothing

    client.push_binding(binding())  # what the state machine's Retry does

    assert [(r.status, r.injected) for r in platform.requests] == [(status, True), (201, False)]
    assert platform.bindings()[SERIAL]["status"] == "active"


def test_fail_next_counts_requests(platform: DevicePlatformServer, client: DevicePlatformClient):
    platform.fail_next(2)
    for _ in range(2):
        with pytest.raises(DevicePlatformUnavailable):
            client.push_binding(binding())
    client.push_binding(binding())
    assert [r.status for r in platform.requests] == [503, 503, 201]


def test_another_client_error_is_rejected(
    platform: DevicePlatformServer, client: DevicePlatformClient
):
    platform.fail_next(1, status=400)
    with pytest.raises(DevicePlatformRejected) as refused:
        client.push_binding(binding())
    assert refused.value.status == 400 and refused.value.message == "injected failure 400"


def test_a_stall_beyond_the_timeout_is_unavailable_and_the_retry_is_a_replay(
    platform: DevicePlatformServer,
):
    impatient = DevicePlatformClient(platform.url, platform.api_key, timeout=0.2)
    platform.stall_next(1, 0.6)
    started = time.monotonic()
    with pytest.raises(DevicePlatformUnavailable, match="unreachable"):
        impatient.push_binding(binding())
    assert time.monotonic() - started < 0.55  # gave up at its timeout, not at the answer

    stalled = platform.requests[0]
    deadline = time.monotonic() + 5
    while stalled.status == 0 and time.monotonic() < deadline:  # the platform still applies it
        time.sleep(0.02)
    assert (stalled.status, stalled.stalled_seconds) == (201, 0.6)

    impatient.push_binding(binding())
    assert last(platform).replayed
    assert platform.bindings()[SERIAL]["version"] == 1


def test_a_refused_connection_is_unavailable():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    nobody = DevicePlatformClient(f"http://127.0.0.1:{port}", "key", timeout=1.0)
    with pytest.raises(DevicePlatformUnavailable, match="unreachable"):
        nobody.resume(SERIAL, key="k")


def test_a_stopped_server_refuses_connections():
    server = DevicePlatformServer().start()
    client = DevicePlatformClient(server.url, server.api_key, timeout=1.0)
    server.stop()
    with pytest.raises(DevicePlatformUnavailable):
        client.push_binding(binding())


# ---- suspend, resume, unbind -------------------------------------------------------------------


def test_suspend_resume_and_unbind_move_the_device_through_its_states(
    platform: DevicePlatformServer, client: DevicePlatformClient
):
    client.push_binding(binding())

    suspended = client.suspend(SERIAL, reason="overdue 2026-12", key="dun-1:suspend")
    assert (suspended["status"], suspended["suspended_reason"]) == ("suspended", "overdue 2026-12")
    assert last(platform).headers["Idempotency-Key"] == "dun-1:suspend"
    assert last(platform).body == {"reason": "overdue 2026-12"}

    assert client.resume(SERIAL, key="dun-1:resume")["status"] == "active"

    ended = client.unbind(SERIAL, ended_on=date(2027, 3, 31), key="ret-9:unbind")
    assert (ended["status"], ended["ended_on"]) == ("unbound", "2027-03-31")
    assert last(platform).body == {"ended_on": "2027-03-31"}
    assert [r.path.rsplit("/", 1)[1] for r in platform.requests] == [
        "binding",
        "suspend",
        "resume",
        "unbind",
    ]
    assert all(r.method == "POST" for r in platform.requests[1:])

    with pytest.raises(DevicePlatformRejected) as refused:
        client.suspend(SERIAL, reason="overdue", key="dun-2:suspend")
    assert refused.value.status == 409 and "unbound since 2027-03-31" in refused.value.message

    rented_again = client.push_binding(binding(version=2, owner_account_id="acc_NEXT"))
    assert rented_again["status"] == "active" and rented_again["ended_on"] is None


def test_a_rebinding_keeps_a_suspension(
    platform: DevicePlatformServer, client: DevicePlatformClient
):
    client.push_binding(binding())
    client.suspend(SERIAL, reason="overdue", key="s1")
    assert client.push_binding(binding(version=2))["status"] == "suspended"


def test_an_unknown_device_cannot_be_suspended(client: DevicePlatformClient):
    with pytest.raises(DevicePlatformRejected) as refused:
        client.suspend("CAM-NOPE", reason="overdue", key="s1")
    assert refused.value.status == 404


# ---- the server's own checks (requests the client cannot make) ---------------------------------


def raw(
    platform: DevicePlatformServer,
    method: str,
    path: str,
    body: Any,
    *,
    key: str | None = "k-1",
    token: str | None = None,
) -> tuple[int, dict[str, Any]]:
    headers = {
        "Authorization": f"Bearer {token or platform.api_key}",
        "Content-Type": "application/json",
    }
    if key:
        headers["Idempotency-Key"] = key
    request = urllib.request.Request(
        platform.url + path, data=json.dumps(body).encode(), headers=headers, method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


BODY = binding().model_dump(mode="json")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"start_date": "2026-13-01"}, "start_date: not a date (YYYY-MM-DD): '2026-13-01'"),
        ({"start_date": "20261201"}, "start_date: not a date (YYYY-MM-DD): '20261201'"),
        ({"start_date": None}, "start_date: required"),
        ({"plan_sku": None}, "plan_sku: required"),
        ({"version": 0}, "version: an integer of at least 1"),
        ({"version": True}, "version: an integer of at least 1"),
        ({"option_skus": "OPT-ALERT"}, "option_skus: a list of strings"),
        ({"serial": "CAM-OTHER"}, "serial: 'CAM-OTHER' is not 'CAM-000123'"),
        ({"colour": "red"}, "unknown fields: colour"),
    ],
)
def test_a_bad_binding_body_is_400_with_a_message(
    platform: DevicePlatformServer, change: dict[str, Any], message: str
):
    status, answer = raw(platform, "PUT", f"/v1/devices/{SERIAL}/binding", {**BODY, **change})
    assert (status, answer["message"]) == (400, message)
    assert platform.bindings() == {}


def test_a_request_without_an_idempotency_key_is_400(platform: DevicePlatformServer):
    status, answer = raw(platform, "PUT", f"/v1/devices/{SERIAL}/binding", BODY, key=None)
    assert (status, answer["message"]) == (400, "Idempotency-Key header is required")


def test_an_unbind_needs_a_date(platform: DevicePlatformServer, client: DevicePlatformClient):
    client.push_binding(binding())
    status, answer = raw(platform, "POST", f"/v1/devices/{SERIAL}/unbind", {"ended_on": "soon"})
    assert (status, answer["message"]) == (400, "ended_on: not a date (YYYY-MM-DD): 'soon'")
    assert platform.bindings()[SERIAL]["status"] == "active"


def test_unknown_routes_and_methods(platform: DevicePlatformServer):
    assert raw(platform, "POST", f"/v1/devices/{SERIAL}/explode", {})[0] == 404
    assert raw(platform, "POST", f"/v1/devices/{SERIAL}/binding", BODY)[0] == 405
    assert raw(platform, "PUT", "/v2/devices", BODY)[0] == 404


def test_reset_forgets_everything(platform: DevicePlatformServer, client: DevicePlatformClient):
    client.push_binding(binding())
    platform.fail_next(3)
    platform.reset()
    assert platform.requests == [] and platform.bindings() == {}
    assert client.push_binding(binding())["status"] == "active"  # no failure left, no replay
    assert not last(platform).replayed


# ---- the binding and the declaration -----------------------------------------------------------


def test_a_binding_needs_a_version_of_at_least_one_and_names_its_key():
    with pytest.raises(ValidationError):
        binding(version=0)
    with pytest.raises(ValidationError):
        binding(serial="")
    assert binding(version=3).idempotency_key == f"{SERIAL}:v3"


def test_the_secret_reaches_code_under_the_name_code_reads():
    assert device_platform.SECRET == names.DEVICE_PLATFORM == resources.DEVICE_PLATFORM
    assert secret_env(device_platform.SECRET) == device_platform.SECRET_ENV
    (declared,) = [s for s in resources.SECRETS if s.name == names.DEVICE_PLATFORM]
    assert declared.filled_by == "ops"


def test_the_client_never_shows_its_key(platform: DevicePlatformServer):
    client = DevicePlatformClient(platform.url + "/", "s3cr3t-key")
    assert "s3cr3t" not in repr(client) and client.base_url == platform.url


def test_the_same_version_with_other_content_is_a_conflict(
    platform: DevicePlatformServer, client: DevicePlatformClient
):
    client.push_binding(binding())
    changed = {**BODY, "plan_sku": "PLAN-CLOUD-7"}
    status, answer = raw(platform, "PUT", f"/v1/devices/{SERIAL}/binding", changed, key="other")
    assert (status, answer["error"]) == (409, "version_conflict")
    status, _ = raw(platform, "PUT", f"/v1/devices/{SERIAL}/binding", BODY, key="other")
    assert status == 200  # the same content again under another key: nothing to change
