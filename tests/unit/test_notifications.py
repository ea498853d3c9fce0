"""Supply notifications without AWS: which recipient is told what, the ids that make them
exactly-once, retries, the shipped settings, and both adapters against the local
recipients."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from local.regulator_server import RegulatorServer
from local.supplier_server import SupplierServer
from monosub.adapters.notification_delivery import DeliveryFailed
from monosub.adapters.notification_rest import RestNotificationClient
from monosub.adapters.notification_soap import SoapNotificationClient
from monosub.domain import notifications as rules

SETTINGS = rules.load_settings()
FACT = rules.SupplyFact(
    kind="supply-start",
    source_key="ContractStarted#contract_1#2026-06-01",
    customer_number="acct_1",
    effective_date=date(2026, 6, 1),
    meters=("SN-1", "SN-2"),
    contract_id="contract_1",
    contract_number="C2026-000001",
    expected_consumption=Decimal("350.5"),
    consumption_unit="kWh",
)


def test_the_shipped_settings_name_three_recipients_with_their_channels():
    assert {(r.recipient_id, r.channel, r.auth) for r in SETTINGS.recipients} == {
        ("regulator", "rest", "hmac"),
        ("supplier-soap", "soap", None),
        ("supplier-rest", "rest", "api-key"),
    }
    assert rules.kinds_taken(SETTINGS.recipients) == set(rules.FACT_KINDS)


def test_a_fact_is_one_notification_per_recipient_taking_it_and_per_meter():
    planned = rules.plan(FACT, SETTINGS.recipients)
    assert sorted((p.recipient.recipient_id, p.meter_serial) for p in planned) == [
        ("regulator", "SN-1"),
        ("regulator", "SN-2"),
        ("supplier-rest", "SN-1"),
        ("supplier-rest", "SN-2"),
        ("supplier-soap", "SN-1"),
        ("supplier-soap", "SN-2"),
    ]
    suspension = rules.SupplyFact(
        kind="suspension",
        source_key="DevicesSuspended#inv_1",
        customer_number="acct_1",
        effective_date=date(2026, 6, 1),
        meters=("SN-1",),
    )
    assert sorted(
        p.recipient.recipient_id for p in rules.plan(suspension, SETTINGS.recipients)
    ) == [
        "regulator",
        "supplier-rest",
    ]


def test_each_recipient_gets_only_its_configured_fields():
    by_recipient = {
        p.recipient.recipient_id: p.payload
        for p in rules.plan(FACT, SETTINGS.recipients)
        if p.meter_serial == "SN-1"
    }
    regulator = by_recipient["regulator"]
    assert set(regulator) == {
        "notification_id",
        "event",
        "customer_number",
        "meter_serial",
        "effective_date",
    }
    assert by_recipient["supplier-soap"]["expected_consumption"] == "350.5"
    assert by_recipient["supplier-soap"]["consumption_unit"] == "kWh"
    assert by_recipient["supplier-soap"]["contract_number"] == "C2026-000001"
    assert "contract_number" not in by_recipient["supplier-rest"]
    assert regulator["effective_date"] == "2026-06-01"


def test_the_id_is_the_facts_not_the_event_delivery():
    first = rules.notification_id(FACT.source_key, "regulator", "SN-1")
    assert first == rules.notification_id(FACT.source_key, "regulator", "SN-1")
    assert first != rules.notification_id(FACT.source_key, "regulator", "SN-2")
    assert first != rules.notification_id(FACT.source_key, "supplier-rest", "SN-1")
    assert first != rules.notification_id(
        "ContractEnded#contract_1#2027-05-31", "regulator", "SN-1"
    )


def test_a_meter_unknown_to_monosub_is_still_told_without_a_serial():
    fact = rules.SupplyFact(
        kind="supply-end",
        source_key="ContractEnded#c#2027-05-31",
        customer_number="acct_2",
        effective_date=date(2027, 5, 31),
    )
    planned = rules.plan(fact, SETTINGS.recipients)
    assert len(planned) == 3
    assert all("meter_serial" not in p.payload for p in planned)


def test_failures_back_off_then_go_to_ops():
    now = datetime(2026, 6, 1, tzinfo=UTC)
    assert rules.after_failure(1, transient=True, settings=SETTINGS, now=now) == (
        "retry",
        now + timedelta(minutes=5),
    )
    assert rules.after_failure(4, transient=True, settings=SETTINGS, now=now) == (
        "retry",
        now + timedelta(minutes=360),
    )
    assert rules.after_failure(5, transient=True, settings=SETTINGS, now=now) == (
        "undelivered",
        None,
    )
    assert rules.after_failure(1, transient=False, settings=SETTINGS, now=now) == (
        "undelivered",
        None,
    )


def test_expected_consumption_is_the_average_of_the_last_twelve_months():
    readings = {f"2025-{m:02d}": Decimal(100) for m in range(1, 13)}
    readings["2024-12"] = Decimal(10_000)  # thirteen months back: not counted
    readings["2026-01"] = Decimal(400)  # the month itself: not counted
    assert rules.expected_monthly(readings, before="2026-01") == Decimal("100.0")
    assert rules.expected_monthly(
        {"2025-11": Decimal("1"), "2025-12": Decimal("2")}, before="2026-01"
    ) == Decimal("1.5")
    assert rules.expected_monthly({}, before="2026-01") is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"backoff_minutes": []}, "backoff_minutes"),
        ({"recipients": [{"id": "x", "channel": "fax", "events": ["supply-end"]}]}, "channel"),
        ({"recipients": [{"id": "x", "channel": "rest", "events": ["supply-end"]}]}, "auth"),
        ({"recipients": [{"id": "x", "channel": "soap", "events": ["moved"]}]}, "events"),
        (
            {
                "recipients": [
                    {"id": "x", "channel": "soap", "events": ["supply-end"], "fields": ["name"]}
                ]
            },
            "fields",
        ),
    ],
)
def test_a_mistake_in_the_settings_is_refused_with_its_place(change, message):
    raw = json.loads(rules.RECIPIENTS_FILE.read_text(encoding="utf-8"))
    with pytest.raises(ValueError, match=message):
        rules.read_settings({**raw, **change})


# ---- adapters against the local recipients -------------------------------------------------


def test_rest_with_hmac_is_idempotent_by_notification_id():
    with RegulatorServer(auth="hmac") as server:
        client = RestNotificationClient("regulator", server.url, auth="hmac", secret=server.key)
        payload = {"notification_id": "ntf_1", "event": "supply-start", "meter_serial": "SN-1"}
        first = client.send("ntf_1", payload)
        assert client.send("ntf_1", payload) == first
        assert list(server.received()) == ["ntf_1"]
        assert [r.replayed for r in server.requests()] == [False, True]
        wrong = RestNotificationClient("regulator", server.url, auth="hmac", secret="not-the-key")
        with pytest.raises(DeliveryFailed) as refused:
            wrong.send("ntf_2", {**payload, "notification_id": "ntf_2"})
        assert refused.value.transient is False
        server.fail_next(1, status=503)
        with pytest.raises(DeliveryFailed) as busy:
            client.send("ntf_3", {**payload, "notification_id": "ntf_3"})
        assert busy.value.transient is True


def test_rest_with_an_api_key():
    with RegulatorServer(auth="api-key") as server:
        client = RestNotificationClient(
            "supplier-rest", server.url, auth="api-key", secret=server.key
        )
        assert client.send("ntf_1", {"notification_id": "ntf_1", "event": "suspension"})
        assert server.requests()[0].authorized


def test_an_unreachable_recipient_is_transient():
    with RegulatorServer() as server:
        url, key = server.url, server.key
    client = RestNotificationClient("regulator", url, auth="hmac", secret=key, timeout=1.0)
    with pytest.raises(DeliveryFailed) as failed:
        client.send("ntf_1", {"notification_id": "ntf_1", "event": "supply-end"})
    assert failed.value.transient is True


def test_soap_sends_the_wsdls_fields_and_tells_transient_faults_from_refusals():
    with SupplierServer() as server:
        client = SoapNotificationClient(
            "supplier-soap", server.url, server.username, server.password
        )
        payload = rules.plan(FACT, [SETTINGS.recipient("supplier-soap")])[0].payload
        nid = payload["notification_id"]
        receipt = client.send(nid, payload)
        assert client.send(nid, payload) == receipt
        fields = server.received()[nid]
        assert fields["meterSerial"] == "SN-1"
        assert fields["effectiveDate"] == "2026-06-01"
        assert Decimal(fields["expectedConsumption"]) == Decimal("350.5")
        assert fields["contractNumber"] == "C2026-000001"

        server.fault_next("BUSY", "maintenance", transient=True)
        with pytest.raises(DeliveryFailed) as busy:
            client.send("ntf_other", {**payload, "notification_id": "ntf_other"})
        assert busy.value.transient is True and "BUSY" in str(busy.value)
        server.fault_next("UNKNOWN_METER", "no such meter", transient=False)
        with pytest.raises(DeliveryFailed) as refused:
            client.send("ntf_other", {**payload, "notification_id": "ntf_other"})
        assert refused.value.transient is False
        server.fail_next(1, status=502)
        with pytest.raises(DeliveryFailed) as gateway:
            client.send("ntf_other", {**payload, "notification_id": "ntf_other"})
        assert gateway.value.transient is True
        wrong = SoapNotificationClient("supplier-soap", server.url, server.username, "wrong")
        with pytest.raises(DeliveryFailed) as denied:
            wrong.send("ntf_other", {**payload, "notification_id": "ntf_other"})
        assert denied.value.transient is False


# ---- domain events → facts (stores stubbed) ------------------------------------------------


@pytest.fixture
def stores(monkeypatch: pytest.MonkeyPatch):
    from types import SimpleNamespace

    from monosub.services import notifications as service

    line = SimpleNamespace(device_sku="CAM-1", plan_sku="PLAN-1", option_skus=[])
    contract = SimpleNamespace(
        contract_id="contract_1",
        account_id="acct_1",
        number="C2026-000001",
        quote_id="quote_1",
        lines=[line],
    )
    devices: list = []
    replacements: list = []
    monkeypatch.setattr(service.contracts_store, "get", lambda cid: contract if cid else None)
    monkeypatch.setattr(service.shipments_store, "devices", lambda shipment_id: devices)
    monkeypatch.setattr(service.shipments_store, "replacements_of", lambda cid: replacements)
    monkeypatch.setattr(
        service.shipments_store,
        "get_replacement",
        lambda rid: next((r for r in replacements if r.replacement_id == rid), None),
    )
    monkeypatch.setattr(service.catalog_store, "entries", lambda skus: {})
    monkeypatch.setattr(service.billing_store, "get_account", lambda account_id: None)
    return SimpleNamespace(service=service, devices=devices, replacements=replacements)


def test_a_started_contract_with_devices_is_a_supply_start_per_serial(stores):
    from types import SimpleNamespace

    stores.devices.extend([SimpleNamespace(serial="SN-2"), SimpleNamespace(serial="SN-1")])
    fact = stores.service.fact_of(
        "ContractStarted", {"contract_id": "contract_1", "start_date": "2026-06-01"}
    )
    assert fact is not None
    assert (fact.kind, fact.meters, fact.effective_date) == (
        "supply-start",
        ("SN-1", "SN-2"),
        date(2026, 6, 1),
    )
    assert fact.source_key == "ContractStarted#contract_1#2026-06-01"
    assert fact.customer_number == "acct_1"
    ended = stores.service.fact_of(
        "ContractEnded", {"contract_id": "contract_1", "end_date": "2027-05-31", "reason": "notice"}
    )
    assert ended is not None and ended.kind == "supply-end" and ended.reason == "notice"


def test_a_contract_with_neither_devices_nor_a_metered_service_supplies_nothing(stores):
    assert (
        stores.service.fact_of(
            "ContractStarted", {"contract_id": "contract_1", "start_date": "2026-06-01"}
        )
        is None
    )
    assert stores.service.fact_of("ContractRenewed", {"contract_id": "contract_1"}) is None


def _replacement(**values):
    from types import SimpleNamespace

    return SimpleNamespace(
        **{
            "replacement_id": "replacement_1",
            "contract_id": "contract_1",
            "old_serial": "SN-1",
            "new_serial": "SN-3",
            **values,
        }
    )


def test_a_replacement_is_one_device_change_naming_both_meters(stores):
    detail = {
        "replacement_id": "replacement_1",
        "contract_id": "contract_1",
        "account_id": "acct_1",
        "old_serial": "SN-1",
        "new_serial": "SN-3",
        "effective_date": "2026-06-03",
        "reason": "broken",
    }
    fact = stores.service.fact_of("DeviceReplaced", detail)
    assert fact is not None
    assert (fact.kind, fact.meters, fact.previous_meter) == ("device-change", ("SN-3",), "SN-1")
    assert fact.source_key == "DeviceReplaced#replacement_1"
    assert fact.effective_date == date(2026, 6, 3) and fact.reason == "device replaced (broken)"
    planned = rules.plan(fact, rules.load_settings().recipients)
    assert sorted(p.recipient.recipient_id for p in planned) == ["regulator", "supplier-soap"]
    regulator = next(p for p in planned if p.recipient.recipient_id == "regulator")
    assert regulator.payload["meter_serial"] == "SN-3"
    assert regulator.payload["previous_meter_serial"] == "SN-1"
    assert stores.service.fact_of("DeviceReplaced", {**detail, "new_serial": None}) is None


def test_the_return_of_a_replaced_device_is_no_second_device_change(stores):
    returned = {
        "serial": "SN-1",
        "contract_id": "contract_1",
        "account_id": "acct_1",
        "returned_on": "2026-06-05",
        "replacement_id": "replacement_1",
    }
    # the event's word alone is not enough: no such replacement, a device change as before
    assert stores.service.fact_of("DeviceReturned", returned) is not None
    stores.replacements.append(_replacement())
    assert stores.service.fact_of("DeviceReturned", returned) is None
    other = {**returned, "serial": "SN-2"}  # not the replaced device
    assert stores.service.fact_of("DeviceReturned", other) is not None


def test_a_contract_ends_at_its_meters_after_replacements(stores):
    from types import SimpleNamespace

    stores.devices.extend([SimpleNamespace(serial="SN-2"), SimpleNamespace(serial="SN-1")])
    stores.replacements.append(_replacement())
    stores.replacements.append(
        _replacement(replacement_id="r2", old_serial="SN-2", new_serial=None)
    )
    ended = stores.service.fact_of(
        "ContractEnded", {"contract_id": "contract_1", "end_date": "2027-05-31"}
    )
    assert ended is not None and ended.meters == ("SN-2", "SN-3")
