"""Supplier and regulator notifications on the embedded AWS: domain events on the bus reach
the ``notifications`` function through its rule, each notification is delivered once to the
local recipients (REST with HMAC, REST with an API key, SOAP), failures are retried by the
hourly sweep and end in the exceptions queue, and ops search the log.

The runtime does not start the local recipients yet: the fixture starts them and puts their
endpoints in the ``notification-recipients`` secret, as the runtime will."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local.runtime import EmbeddedAWS
from local.supplier_server import NotificationRecipients
from monosub import names
from monosub.adapters import notification_delivery
from monosub.domain.notifications import RECIPIENTS_SECRET
from tests.sales_flow import Calls

START = datetime(2026, 6, 1, 1, 0, tzinfo=UTC)  # 10:00 in Tokyo


@pytest.fixture(scope="module")
def local() -> Iterator[tuple[EmbeddedAWS, NotificationRecipients]]:
    with NotificationRecipients() as recipients, EmbeddedAWS(business_time=START) as cloud:
        cloud.client("secretsmanager").put_secret_value(
            SecretId=cloud.names.secrets[RECIPIENTS_SECRET],
            SecretString=recipients.secret_value(),
        )
        notification_delivery.forget_cached_settings()
        yield cloud, recipients
    notification_delivery.forget_cached_settings()


@pytest.fixture
def cloud(local: tuple[EmbeddedAWS, NotificationRecipients]) -> EmbeddedAWS:
    return local[0]


@pytest.fixture
def recipients(local: tuple[EmbeddedAWS, NotificationRecipients]) -> NotificationRecipients:
    local[1].reset()
    return local[1]


@pytest.fixture
def call(cloud: EmbeddedAWS) -> Calls:
    return Calls(cloud)


def publish(cloud: EmbeddedAWS, source: str, detail_type: str, detail: dict[str, Any]) -> None:
    response = cloud.client("events").put_events(
        Entries=[
            {
                "Source": source,
                "DetailType": detail_type,
                "Detail": json.dumps(detail),
                "EventBusName": cloud.names.event_buses[names.DOMAIN_EVENTS],
            }
        ]
    )
    assert response["FailedEntryCount"] == 0


def returned(cloud: EmbeddedAWS, serial: str, day: str = "2026-06-01") -> None:
    publish(
        cloud,
        "monosub.fulfilment",
        "DeviceReturned",
        {"serial": serial, "account_id": "acct_ret", "returned_on": day, "contract_id": "none"},
    )


def search(call: Calls, **query: str) -> list[dict[str, Any]]:
    response = call("GET", "/notifications", groups="ops", query=query)
    assert response.status == 200, response
    notifications: list[dict[str, Any]] = response.json()["notifications"]
    return notifications


def advance(cloud: EmbeddedAWS, hours: float) -> None:
    cloud.set_clock(cloud.now() + timedelta(hours=hours), only=("notifications",))


def test_a_suspension_is_told_once_per_recipient_and_meter_even_when_published_twice(
    cloud: EmbeddedAWS, recipients: NotificationRecipients, call: Calls
):
    detail = {
        "account_id": "acct_susp",
        "invoice_id": "inv_susp_1",
        "serials": ["SN-SUSP-2", "SN-SUSP-1"],
        "reason": "overdue:suspend",
        "occurred_at": "2026-06-01T01:00:00Z",
    }
    publish(cloud, "monosub.overdue", "DevicesSuspended", detail)
    publish(cloud, "monosub.overdue", "DevicesSuspended", detail)  # the same fact again

    # suspension goes to the regulator and the REST supplier, not the SOAP supplier
    told = recipients.regulator.received()
    assert sorted(n["meter_serial"] for n in told.values()) == ["SN-SUSP-1", "SN-SUSP-2"]
    assert {n["event"] for n in told.values()} == {"suspension"}
    assert {n["effective_date"] for n in told.values()} == {"2026-06-01"}
    assert {n["customer_number"] for n in told.values()} == {"acct_susp"}
    assert len(recipients.supplier_rest.received()) == 2
    assert recipients.supplier_soap.received() == {}
    assert all(r.authorized for r in recipients.regulator.requests())  # HMAC from the secret
    assert len(recipients.regulator.requests()) == 2  # the second event sent nothing

    logged = search(call, meter="SN-SUSP-1")
    assert sorted(n["recipient"] for n in logged) == ["regulator", "supplier-rest"]
    assert {n["status"] for n in logged} == {"delivered"}
    assert {n["attempt_count"] for n in logged} == {1}


def test_a_503_is_retried_by_the_sweep_and_then_delivered(
    cloud: EmbeddedAWS, recipients: NotificationRecipients, call: Calls
):
    recipients.regulator.fail_next(1, status=503)
    returned(cloud, "SN-RETRY-1")

    (pending,) = search(call, meter="SN-RETRY-1", recipient="regulator")
    assert pending["status"] == "pending"
    assert pending["attempts"][0]["outcome"] == "failed"
    assert pending["attempts"][0]["transient"] is True
    assert "503" in pending["last_error"]
    (soap,) = search(call, meter="SN-RETRY-1", recipient="supplier-soap")
    assert soap["status"] == "delivered"  # the other recipient is not held up

    advance(cloud, 1)
    shown = call("GET", f"/notifications/{pending['notification_id']}", groups="ops").json()
    assert shown["status"] == "delivered"
    assert [a["outcome"] for a in shown["attempts"]] == ["failed", "delivered"]
    assert [a["by"] for a in shown["attempts"]] == ["event", "sweep"]
    assert list(recipients.regulator.received()) == [pending["notification_id"]]


def test_after_n_failures_the_exception_is_retried_by_ops_and_delivered(
    cloud: EmbeddedAWS, recipients: NotificationRecipients, call: Calls
):
    recipients.supplier_soap.fault_next("BUSY", "system maintenance", transient=True, count=5)
    returned(cloud, "SN-FAIL-1")
    (notification,) = search(call, meter="SN-FAIL-1", recipient="supplier-soap")
    assert notification["status"] == "pending"

    advance(cloud, 12)  # 5 + 60 + 180 + 360 minutes of back-off: every attempt made
    shown = call("GET", f"/notifications/{notification['notification_id']}", groups="ops").json()
    assert shown["status"] == "undelivered"
    assert shown["attempt_count"] == 5
    assert "BUSY" in shown["last_error"]
    assert recipients.supplier_soap.received() == {}

    exception = call("GET", f"/exceptions/{shown['exception_id']}", groups="ops").json()
    assert exception["kind"] == "notification-undelivered"
    assert exception["status"] == "open"
    assert "retry" in exception["actions"]
    undelivered = search(call, status="undelivered", recipient="supplier-soap")
    assert shown["notification_id"] in [n["notification_id"] for n in undelivered]

    resolved = call(
        "POST",
        f"/exceptions/{shown['exception_id']}/resolve",
        {"action": "retry", "version": exception["version"], "note": "supplier is back"},
        groups="ops",
    )
    assert resolved.status == 200, resolved
    assert resolved.json()["status"] == "resolved"
    shown = call("GET", f"/notifications/{notification['notification_id']}", groups="ops").json()
    assert shown["status"] == "delivered"
    assert shown["attempts"][-1]["by"] == "retry"
    assert list(recipients.supplier_soap.received()) == [shown["notification_id"]]


def test_a_refusal_goes_to_the_exceptions_queue_at_once(
    cloud: EmbeddedAWS, recipients: NotificationRecipients, call: Calls
):
    recipients.supplier_soap.fault_next("UNKNOWN_METER", "no such meter", transient=False)
    returned(cloud, "SN-REFUSED-1")
    (notification,) = search(call, meter="SN-REFUSED-1", recipient="supplier-soap")
    assert notification["status"] == "undelivered"
    assert notification["attempt_count"] == 1
    assert notification["exception_id"]


def test_the_search_filters_are_key_conditions(
    cloud: EmbeddedAWS, recipients: NotificationRecipients, call: Calls
):
    returned(cloud, "SN-SEARCH-1", day="2026-06-02")
    by_event = search(call, event="device-change", meter="SN-SEARCH-1")
    assert sorted(n["recipient"] for n in by_event) == ["regulator", "supplier-soap"]
    assert search(call, event="suspension", meter="SN-SEARCH-1") == []
    everything = search(call, event="device-change")
    assert "SN-SEARCH-1" in {n["meter_serial"] for n in everything}  # (others' too)
    assert all(n["event"] == "device-change" for n in everything)
    today = cloud.now().astimezone(UTC).date().isoformat()
    assert search(call, meter="SN-SEARCH-1", to="2026-05-31") == []
    assert len(search(call, meter="SN-SEARCH-1", **{"from": today})) == 2
    # newest first, paged with the cursor
    first = call("GET", "/notifications", groups="ops", query={"limit": "1"}).json()
    assert len(first["notifications"]) == 1 and first["next"]
    second = call(
        "GET", "/notifications", groups="ops", query={"limit": "1", "next": first["next"]}
    ).json()
    assert second["notifications"][0]["created_at"] <= first["notifications"][0]["created_at"]
    assert (
        second["notifications"][0]["notification_id"]
        != first["notifications"][0]["notification_id"]
    )
    assert call("GET", "/notifications", groups="sales").status == 403
    assert call("GET", "/notifications", groups="ops", query={"recipient": "x"}).status == 400


def test_a_recipient_missing_from_the_secret_waits_without_using_up_attempts(
    cloud: EmbeddedAWS, recipients: NotificationRecipients, call: Calls
):
    secret = cloud.names.secrets[RECIPIENTS_SECRET]
    partial = {k: v for k, v in json.loads(recipients.secret_value()).items() if k != "regulator"}
    secrets_manager = cloud.client("secretsmanager")
    secrets_manager.put_secret_value(SecretId=secret, SecretString=json.dumps(partial))
    notification_delivery.forget_cached_settings()
    try:
        returned(cloud, "SN-UNSET-1")
        advance(cloud, 24)
        (waiting,) = search(call, meter="SN-UNSET-1", recipient="regulator")
        assert waiting["status"] == "pending"
        assert waiting["attempt_count"] == 0 and waiting["attempts"] == []
        assert "regulator" in waiting["last_error"]
        assert waiting.get("exception_id") is None
    finally:
        secrets_manager.put_secret_value(SecretId=secret, SecretString=recipients.secret_value())
        notification_delivery.forget_cached_settings()
    advance(cloud, 7)  # the longest back-off: the sweep delivers once ops filled the secret
    (delivered,) = search(call, meter="SN-UNSET-1", recipient="regulator")
    assert delivered["status"] == "delivered"
    assert delivered["attempt_count"] == 1
