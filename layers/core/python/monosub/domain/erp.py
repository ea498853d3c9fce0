"""The ERP's view of our records (docs/erp.md), pure: what a customer, a contract and a meter
reading become in the ERP's types, and when the ERP's status of an invoice disagrees with
ours.

Records are plain dicts in the ERP's field names (``customerNo``, ``contractNo``…): that is
what the outbox keeps (a snapshot of the version the event saw) and what the adapter sends,
so the outbox item shows ops exactly what was pushed. ``sourceId``/``sourceVersion`` are our
id and version: the ERP applies a version once, so re-sending is safe.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Literal, get_args

EntityType = Literal["customer", "contract", "reading"]
ENTITY_TYPES: tuple[str, ...] = get_args(EntityType)
ErpInvoiceStatus = Literal["ISSUED", "PAID", "CANCELLED", "UNKNOWN"]
ERP_INVOICE_STATUSES: tuple[str, ...] = get_args(ErpInvoiceStatus)

CUSTOMER_CLASS = {"residential": "INDIVIDUAL", "corporate": "CORPORATE"}
CONTRACT_STATUS = {
    "pending_start": "PENDING",
    "active": "ACTIVE",
    "ended": "ENDED",
    "cancelled": "CANCELLED",
}
CHARGE_TYPE = {"monthly": "MONTHLY", "one_time": "ONE_TIME"}


def customer_record(
    *,
    account_id: str,
    version: int,
    customer_number: str,
    name: str,
    segment: str,
    name_kana: str | None = None,
    postal_code: str | None = None,
    address: str | None = None,
) -> dict[str, Any]:
    """A customer (顧客) as the ERP takes it. ``version`` is the billing account's (0 before
    billing knows the customer: sent as 1)."""
    if not name.strip():
        raise ValueError("customerName: required")
    record: dict[str, Any] = {
        "sourceId": account_id,
        "sourceVersion": max(1, int(version)),
        "customerNo": customer_number,
        "customerName": name.strip(),
        "customerClass": CUSTOMER_CLASS.get(segment, "CORPORATE"),
    }
    if name_kana and name_kana.strip():
        record["customerNameKana"] = name_kana.strip()
    postal = normal_postal_code(postal_code)
    if postal:
        record["postalCode"] = postal
    if address and address.strip():
        record["address"] = address.strip()
    return record


def normal_postal_code(value: str | None) -> str | None:
    """``5300001``, ``530-0001``, full-width digits → ``530-0001``; anything else None (the
    ERP refuses a malformed one, and an absent one is allowed)."""
    if not value:
        return None
    digits = "".join(c for c in unicodedata.normalize("NFKC", value) if c in "0123456789")
    return f"{digits[:3]}-{digits[3:]}" if len(digits) == 7 else None


@dataclass(frozen=True)
class ContractLine:
    """One priced line of a contract's document, as the mapping needs it."""

    name: str
    quantity: int
    unit: str
    unit_price: int
    amount: int
    billing: str  # monthly | one_time


def contract_record(
    *,
    contract_id: str,
    version: int,
    number: str,
    customer_number: str,
    status: str,
    start_date: date | None,
    end_date: date | None,
    lines: Sequence[ContractLine],
) -> dict[str, Any]:
    """A contract (契約) with its items (契約明細) as the ERP takes it."""
    if not lines:
        raise ValueError(f"contract {number}: at least one item")
    record: dict[str, Any] = {
        "sourceId": contract_id,
        "sourceVersion": int(version),
        "contractNo": number,
        "customerNo": customer_number,
        "status": CONTRACT_STATUS[status],
    }
    if start_date is not None:
        record["startDate"] = start_date.isoformat()
    if end_date is not None:
        record["endDate"] = end_date.isoformat()
    record["item"] = [
        {
            "itemName": line.name,
            "quantity": int(line.quantity),
            **({"unit": line.unit} if line.unit else {}),
            "unitPrice": int(line.unit_price),
            "amount": int(line.amount),
            "chargeType": CHARGE_TYPE[line.billing],
        }
        for line in lines
    ]
    return record


def reading_id(contract_number: str, sku: str, month: str) -> str:
    """Our id of a meter reading: one per contract, metered product and month."""
    return f"{contract_number}|{sku}|{month}"


def reading_record(
    *,
    contract_number: str,
    sku: str,
    month: str,
    read_on: date,
    value: Decimal,
    unit: str,
    version: int,
) -> dict[str, Any]:
    """A meter reading (検針値): the meter is the contract's metered product
    (``<contract number>-<sku>``); ``value`` a decimal, never a float."""
    if value < 0:
        raise ValueError("value: not negative")
    return {
        "sourceId": reading_id(contract_number, sku, month),
        "sourceVersion": int(version),
        "meterNo": f"{contract_number}-{sku}",
        "contractNo": contract_number,
        "readOn": read_on.isoformat(),
        "value": str(value),
        "unit": unit or "kWh",
    }


def fingerprint(record: Mapping[str, Any]) -> str:
    """What a record says, without its version: the same content under a new version (a
    billing account whose components changed) is not pushed again."""
    content = {k: v for k, v in record.items() if k != "sourceVersion"}
    text = json.dumps(content, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


# ---- the ERP's invoice status against ours -------------------------------------------------


@dataclass(frozen=True)
class ErpInvoice:
    """An invoice as the ERP sees it."""

    invoice_number: str
    status: ErpInvoiceStatus
    amount: int | None = None
    paid_amount: int | None = None
    paid_on: date | None = None


@dataclass(frozen=True)
class OurInvoice:
    """The same invoice as billing and cash see it."""

    invoice_number: str
    status: str  # draft | finalized | paid | void
    total: int
    balance: int


@dataclass(frozen=True)
class Mismatch:
    rule: Literal["paid-in-erp-open-here", "amount-differs", "cancelled-in-erp-open-here"]
    message: str


def mismatches(ours: OurInvoice, erp: ErpInvoice) -> list[Mismatch]:
    """Where the ERP and we disagree about an invoice. An invoice the ERP does not know yet
    (``UNKNOWN``) is no mismatch (it takes our records on its own schedule), nor one we have
    seen paid while the ERP still says issued (it learns of payments later than we do)."""
    found: list[Mismatch] = []
    if erp.status == "UNKNOWN":
        return found
    if erp.status == "PAID" and ours.status != "paid" and ours.balance > 0:
        found.append(
            Mismatch(
                "paid-in-erp-open-here",
                f"the ERP says {ours.invoice_number} was paid"
                + (f" on {erp.paid_on.isoformat()}" if erp.paid_on else "")
                + f"; here it is open with ¥{ours.balance:,} owed",
            )
        )
    if erp.status == "CANCELLED" and ours.status not in ("void",):
        found.append(
            Mismatch(
                "cancelled-in-erp-open-here",
                f"the ERP says {ours.invoice_number} was cancelled; here it is {ours.status}",
            )
        )
    if erp.amount is not None and erp.amount != ours.total:
        found.append(
            Mismatch(
                "amount-differs",
                f"{ours.invoice_number}: the ERP bills ¥{erp.amount:,}, we billed ¥{ours.total:,}",
            )
        )
    return found


def settled(ours: OurInvoice, erp: ErpInvoice) -> bool:
    """Both sides agree the invoice is done with (paid, or cancelled and void): it need not
    be asked about again."""
    return (erp.status == "PAID" and ours.status == "paid" and erp.amount == ours.total) or (
        erp.status == "CANCELLED" and ours.status == "void"
    )
