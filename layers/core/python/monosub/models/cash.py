"""Cash shapes: payments (money in, or back out) and how they were allocated to invoices,
customer credit, settlement payouts and direct-debit requests. Rules:
``monosub.services.payments``; keys: ``monosub.store.cash``; see docs/cash.md.

Money is integer yen: a payment is positive, a refund or a dispute negative.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# "credit": the customer's own credit (前受金) applied to an invoice, no money moving.
PaymentMethod = Literal["card", "direct-debit", "bank-transfer", "credit"]
PaymentKind = Literal["payment", "refund", "dispute", "dispute_reversal", "credit_applied"]


class Allocation(BaseModel):
    """The part of a payment that went to one invoice (negative for a refund)."""

    model_config = ConfigDict(frozen=True)

    invoice_id: str
    amount: int


class Payment(BaseModel):
    """Money received (or given back) once, from one provider transaction. Its id is derived
    from the provider and the provider's reference, so a webhook redelivered, a settlement row
    seen again or a statement dropped twice finds the payment already there. Its allocations
    are decided once, when it is first recorded, and then applied to the invoices; whatever
    no invoice took is the customer's credit."""

    payment_id: str
    kind: PaymentKind = "payment"
    method: PaymentMethod
    provider: str = Field(description="stripe, zengin-debit, bank, or a settlement provider")
    reference: str = Field(description="The provider's id: payment intent, refund, 顧客番号 …")
    account_id: str | None = None
    amount: int
    received_on: date
    allocations: list[Allocation] = Field(default_factory=list)
    credit: int = Field(default=0, description="The part kept as customer credit")
    related_payment_id: str | None = Field(default=None, description="A refund's payment")
    payer: str | None = Field(default=None, description="Payer name as the bank sent it")
    fee: int | None = Field(default=None, description="Provider fee, from its settlement")
    net: int | None = None
    payout_id: str | None = None
    source: str = Field(description="What recorded it: a webhook event, a run")
    note: str | None = None
    created_at: str


class CustomerCredit(BaseModel):
    """Over-payments kept for the customer (前受金), per billing account."""

    account_id: str
    balance: int = 0
    sources: list[str] = Field(default_factory=list, description="Payments that added to it")
    updated_at: str | None = None


class PaymentFailure(BaseModel):
    """The last failed attempt to collect an invoice (a declined card, a debit returned)."""

    model_config = ConfigDict(frozen=True)

    method: PaymentMethod
    code: str
    reason: str
    failed_on: date
    reference: str
