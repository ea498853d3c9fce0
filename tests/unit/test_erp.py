"""The ERP's view of our records (``monosub.domain.erp``) and the adapter's error classes
against the local ERP built from the same WSDL."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from local.erp_server import ErpServer
from monosub.adapters.erp import ErpClient, ErpRejected, ErpUnavailable
from monosub.domain import erp as rules


def a_contract(**changes: object) -> dict[str, object]:
    values: dict[str, object] = {
        "contract_id": "con_1",
        "version": 3,
        "number": "C2026-000001",
        "customer_number": "K0001",
        "status": "active",
        "start_date": date(2026, 4, 1),
        "end_date": date(2027, 3, 31),
        "lines": [
            rules.ContractLine("低圧電力 従量プラン", 1, "式", 0, 0, "monthly"),
            rules.ContractLine("スマートメーター設置", 1, "台", 5_500, 5_500, "one_time"),
        ],
    }
    values.update(changes)
    return rules.contract_record(**values)  # type: ignore[arg-type]


def test_a_customer_maps_to_the_erp_customer():
    record = rules.customer_record(
        account_id="acc_1",
        version=4,
        customer_number="K0001",
        name=" 山田 太郎 ",
        segment="residential",
        name_kana="ﾔﾏﾀﾞ ﾀﾛｳ",
        postal_code="５３００００１",
        address="大阪府大阪市北区梅田1-1-1",
    )
    assert record == {
        "sourceId": "acc_1",
        "sourceVersion": 4,
        "customerNo": "K0001",
        "customerName": "山田 太郎",
        "customerNameKana": "ﾔﾏﾀﾞ ﾀﾛｳ",
        "postalCode": "530-0001",
        "address": "大阪府大阪市北区梅田1-1-1",
        "customerClass": "INDIVIDUAL",
    }


def test_optional_customer_fields_are_left_out_and_a_bad_postal_code_is_dropped():
    record = rules.customer_record(
        account_id="acc_2",
        version=0,
        customer_number="K2",
        name="株式会社 北斗",
        segment="corporate",
        postal_code="53-0001",
    )
    assert record["sourceVersion"] == 1  # before billing knows the customer
    assert record["customerClass"] == "CORPORATE"
    assert (
        "postalCode" not in record and "customerNameKana" not in record and "address" not in record
    )
    with pytest.raises(ValueError):
        rules.customer_record(
            account_id="a", version=1, customer_number="K", name=" ", segment="corporate"
        )


def test_a_contract_maps_with_its_items():
    record = a_contract()
    assert record["status"] == "ACTIVE"
    assert (record["startDate"], record["endDate"]) == ("2026-04-01", "2027-03-31")
    assert [i["chargeType"] for i in record["item"]] == ["MONTHLY", "ONE_TIME"]  # type: ignore[index]
    pending = a_contract(status="pending_start", start_date=None, end_date=None)
    assert pending["status"] == "PENDING" and "startDate" not in pending
    with pytest.raises(ValueError):
        a_contract(lines=[])


def test_a_reading_is_a_decimal_string_never_a_float():
    record = rules.reading_record(
        contract_number="C1",
        sku="E-KWH",
        month="2026-11",
        read_on=date(2026, 11, 30),
        value=Decimal("1234.125"),
        unit="kWh",
        version=7,
    )
    assert record["value"] == "1234.125" and record["meterNo"] == "C1-E-KWH"
    assert record["sourceId"] == rules.reading_id("C1", "E-KWH", "2026-11")
    with pytest.raises(ValueError):
        rules.reading_record(
            contract_number="C1",
            sku="E",
            month="2026-11",
            read_on=date(2026, 11, 30),
            value=Decimal("-1"),
            unit="kWh",
            version=1,
        )


def test_the_fingerprint_ignores_the_version_only():
    assert rules.fingerprint(a_contract(version=3)) == rules.fingerprint(a_contract(version=9))
    assert rules.fingerprint(a_contract()) != rules.fingerprint(a_contract(status="ended"))


OPEN = rules.OurInvoice("INV-1", "finalized", total=11_000, balance=11_000)
PAID = rules.OurInvoice("INV-1", "paid", total=11_000, balance=0)


@pytest.mark.parametrize(
    ("ours", "erp", "expected"),
    [
        (
            OPEN,
            rules.ErpInvoice("INV-1", "PAID", 11_000, 11_000, date(2026, 12, 1)),
            ["paid-in-erp-open-here"],
        ),
        (OPEN, rules.ErpInvoice("INV-1", "ISSUED", 10_000), ["amount-differs"]),
        (
            OPEN,
            rules.ErpInvoice("INV-1", "PAID", 10_000),
            ["paid-in-erp-open-here", "amount-differs"],
        ),
        (OPEN, rules.ErpInvoice("INV-1", "CANCELLED", 11_000), ["cancelled-in-erp-open-here"]),
        (OPEN, rules.ErpInvoice("INV-1", "ISSUED", 11_000), []),
        (PAID, rules.ErpInvoice("INV-1", "ISSUED", 11_000), []),  # the ERP learns of it later
        (OPEN, rules.ErpInvoice("INV-1", "UNKNOWN"), []),
    ],
)
def test_mismatch_rules(ours, erp, expected):
    assert [m.rule for m in rules.mismatches(ours, erp)] == expected


def test_settled_when_both_sides_say_done():
    assert rules.settled(PAID, rules.ErpInvoice("INV-1", "PAID", 11_000))
    assert not rules.settled(PAID, rules.ErpInvoice("INV-1", "PAID", 10_000))
    assert not rules.settled(OPEN, rules.ErpInvoice("INV-1", "PAID", 11_000))


@pytest.fixture(scope="module")
def server():
    with ErpServer() as local_erp:
        yield local_erp


def test_the_adapter_sorts_faults_by_what_a_retry_can_do(server: ErpServer):
    server.reset()
    client = ErpClient(server.url, server.username, server.password, timeout=1.0)
    record = a_contract()
    server.fault_next(1)
    with pytest.raises(ErpUnavailable):
        client.push("contract", "b1", [record])
    server.timeout_next(1, seconds=3)
    with pytest.raises(ErpUnavailable):
        client.push("contract", "b1", [record])
    server.reject_next("INVALID_DATA", "contractNo: unknown customer", source_id="con_1")
    with pytest.raises(ErpRejected) as refused:
        client.push("contract", "b1", [record])
    assert (refused.value.code, refused.value.source_id) == ("INVALID_DATA", "con_1")
    assert server.applied() == []
    (first,) = client.push("contract", "b1", [record])
    (again,) = client.push("contract", "b2", [record])
    assert (first.status, again.status, again.erp_id) == ("CREATED", "UNCHANGED", first.erp_id)
    wrong = ErpClient(server.url, server.username, "not-the-password", timeout=1.0)
    with pytest.raises(ErpRejected):
        wrong.push("contract", "b1", [record])
