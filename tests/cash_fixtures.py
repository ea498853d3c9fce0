"""Finalized invoices to pay, made straight in the stores (billing itself is tested in
test_billing*.py): a customer account, its billing account and invoices with numbers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from local.runtime import EmbeddedAWS
from monosub.models.billing import BillingAccount, Invoice, InvoiceLine, TaxAmount
from monosub.models.crm import Account
from monosub.store import billing as billing_store
from monosub.store import records
from monosub.store.dynamo import transact

CREATED = "2026-11-24T01:00:00Z"


def an_invoice(
    invoice_id: str,
    account_id: str,
    total: int,
    *,
    due: date,
    method: str = "bank-transfer",
    closing: date = date(2026, 11, 30),
) -> Invoice:
    """One line taxed at 10 %: ``total`` is the amount with tax (a multiple of 11)."""
    subtotal = total * 10 // 11
    return Invoice(
        invoice_id=invoice_id,
        account_id=account_id,
        closing_date=closing,
        period_start=closing.replace(day=1),
        period_end=closing,
        due_date=due,
        series=f"INV-{closing.year}",
        payment_method=method,
        lines=[
            InvoiceLine(
                contract_id=f"contract_{account_id}",
                component="t1.01",
                month=closing.isoformat()[:7],
                name="録画プラン 30日",
                quantity=1,
                unit_price=subtotal,
                amount=subtotal,
            )
        ],
        taxes=[TaxAmount(rate=10, taxable=subtotal, tax=total - subtotal)],
        subtotal=subtotal,
        tax_total=total - subtotal,
        total=total,
        created_at=CREATED,
    )


def a_customer(
    cloud: EmbeddedAWS,
    account_id: str,
    name: str,
    invoices: Sequence[Invoice],
    *,
    payment_method: str = "bank-transfer",
    **settings: object,
) -> list[Invoice]:
    """The customer, its billing account and ``invoices`` finalized (numbered in order)."""
    with cloud.as_function("api"):
        account = Account(
            account_id=account_id,
            name=name,
            segment="corporate",
            created_at=CREATED,
            updated_at=CREATED,
        )
        transact(records.new_account_operations(account))
        billing_store.create_account(
            BillingAccount.model_validate(
                {
                    "account_id": account_id,
                    "name": name,
                    "customer_number": account_id.upper(),
                    "email": f"{account_id}@example.jp",
                    "payment_method": payment_method,
                    "created_at": CREATED,
                    "updated_at": CREATED,
                    **settings,
                }
            )
        )
        for invoice in invoices:
            billing_store.put_draft(invoice)
        by_series: dict[str, list[Invoice]] = {}
        for invoice in invoices:
            by_series.setdefault(invoice.series, []).append(invoice)
        for series, drafts in by_series.items():
            last = billing_store.last_number(series)
            numbers = [f"{series}-{last + n:06d}" for n in range(1, len(drafts) + 1)]
            billing_store.finalize(drafts, series, numbers, last)
        read = billing_store.get_invoices([i.invoice_id for i in invoices])
    return [read[i.invoice_id] for i in invoices]
