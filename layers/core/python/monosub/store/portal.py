"""Keys of the customer portal's own items (docs/customer-portal.md):

- a metered service's meter readings (table ``billing``, beside its billing account):
  ``METER#<account_id>#<contract_id>#<sku>`` / ``READINGS``, the latest readings packed,
  written at the version read (two submissions at once: one wins, the other reads again);
- a billing inquiry (table ``records``): ``INQUIRIES#<account_id>`` / ``INQUIRY#<received>#<id>``
  (the customer's list: one query), gsi1 ``INQUIRY#<status>`` / ``<answer due>#<id>`` (ops'
  list by status, the most urgent first), and a pointer ``INQUIRY#<id>`` / ``INQUIRY``
  naming the case's item (ops answer by id), written with it in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from monosub.domain.portal import MeterReading
from monosub.models.portal import Inquiry, InquiryStatus
from monosub.names import BILLING, RECORDS
from monosub.store.dynamo import Table, to_item, transact
from monosub.store.packing import pack, unpack

_billing = Table(BILLING)
_records = Table(RECORDS)
# The readings kept per meter: two years of monthly readings is plenty of history.
READINGS_KEPT = 24


# ---- meter readings ------------------------------------------------------------------------


def _meter_pk(account_id: str, contract_id: str, sku: str) -> str:
    return f"METER#{account_id}#{contract_id}#{sku}"


def meter_history(account_id: str, contract_id: str, sku: str) -> tuple[list[MeterReading], int]:
    """The service's readings, oldest first, and the version read (0: none yet)."""
    item = _billing.get(_meter_pk(account_id, contract_id, sku), "READINGS")
    if item is None:
        return [], 0
    readings = [
        MeterReading(
            meter=str(r["meter"]),
            read_on=date.fromisoformat(str(r["read_on"])),
            value=Decimal(str(r["value"])),
            replaced=bool(r.get("replaced")),
        )
        for r in unpack(item["readings"])
    ]
    return readings, int(item["version"])


def save_meter_history(
    account_id: str, contract_id: str, sku: str, readings: Sequence[MeterReading], version: int
) -> bool:
    """The readings (the latest ``READINGS_KEPT``), only if still at ``version``."""
    kept = list(readings)[-READINGS_KEPT:]
    item = {
        "pk": _meter_pk(account_id, contract_id, sku),
        "sk": "READINGS",
        "account_id": account_id,
        "contract_id": contract_id,
        "sku": sku,
        "readings": pack(
            [
                {
                    "meter": r.meter,
                    "read_on": r.read_on.isoformat(),
                    "value": str(r.value),
                    "replaced": r.replaced,
                }
                for r in kept
            ]
        ),
        "version": version + 1,
    }
    try:
        _billing.client.put_item(
            TableName=_billing.name,
            Item=to_item(item),
            ConditionExpression="attribute_not_exists(pk)" if version == 0 else "#v = :v",
            **(
                {}
                if version == 0
                else {
                    "ExpressionAttributeNames": {"#v": "version"},
                    "ExpressionAttributeValues": {":v": {"N": str(version)}},
                }
            ),
        )
    except _billing.client.exceptions.ConditionalCheckFailedException:
        return False
    return True


# ---- inquiries -----------------------------------------------------------------------------


def _case_keys(inquiry: Inquiry) -> tuple[str, str]:
    return f"INQUIRIES#{inquiry.account_id}", f"INQUIRY#{inquiry.received_at}#{inquiry.inquiry_id}"


def _case_item(inquiry: Inquiry) -> dict[str, Any]:
    pk, sk = _case_keys(inquiry)
    return {
        "pk": pk,
        "sk": sk,
        "gsi1pk": f"INQUIRY#{inquiry.status}",
        "gsi1sk": f"{inquiry.answer_due.isoformat()}#{inquiry.inquiry_id}",
        **inquiry.model_dump(mode="json"),
    }


def create_inquiry(inquiry: Inquiry) -> None:
    """The case and its pointer, together."""
    pk, sk = _case_keys(inquiry)
    pointer = {"pk": f"INQUIRY#{inquiry.inquiry_id}", "sk": "INQUIRY", "case_pk": pk, "case_sk": sk}
    transact([_records.put_operation(_case_item(inquiry)), _records.put_operation(pointer)])


def get_inquiry(inquiry_id: str) -> Inquiry | None:
    pointer = _records.get(f"INQUIRY#{inquiry_id}", "INQUIRY")
    if pointer is None:
        return None
    item = _records.get(str(pointer["case_pk"]), str(pointer["case_sk"]))
    return Inquiry.model_validate(item) if item else None


def account_inquiries(account_id: str, *, limit: int = 100) -> list[Inquiry]:
    """The account's inquiries, newest first (one query)."""
    return [
        Inquiry.model_validate(item)
        for item in _records.query(
            f"INQUIRIES#{account_id}", sk_prefix="INQUIRY#", newest_first=True, limit=limit
        )
    ]


def inquiries_with_status(status: InquiryStatus, *, limit: int = 200) -> Iterator[Inquiry]:
    """Every inquiry with ``status``, the earliest answer due first (one query per page)."""
    for item in _records.query(f"INQUIRY#{status}", index="gsi1", limit=limit):
        yield Inquiry.model_validate(item)


def save_inquiry(before: Inquiry, after: Inquiry) -> bool:
    """The case as ``after`` (status, answer), only if still at the version read."""
    try:
        _records.client.put_item(
            TableName=_records.name,
            Item=to_item(_case_item(after.model_copy(update={"version": before.version + 1}))),
            ConditionExpression="#v = :v",
            ExpressionAttributeNames={"#v": "version"},
            ExpressionAttributeValues={":v": {"N": str(before.version)}},
        )
    except _records.client.exceptions.ConditionalCheckFailedException:
        return False
    return True
