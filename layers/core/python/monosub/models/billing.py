"""Billing shapes: what a contract charges (components), a billing account with its settings
and what it was billed, invoices, revenue rows. Rules: ``monosub.domain.billing``; keys:
``monosub.store.billing``; see docs/billing.md.

Money is integer yen (a discount is a negative amount). Dates are Asia/Tokyo business dates.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, Literal, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field

from monosub.documents.model import TaxRate
from monosub.models.billing_changes import AppliedReturn, ContractChange
from monosub.models.cash import PaymentFailure
from monosub.models.catalog import UsageTier

ComponentKind = Literal["monthly", "one_time", "usage"]
FirstMonth = Literal["prorate", "next_month"]
Delivery = Literal["email", "paper"]
_Model = TypeVar("_Model", bound=BaseModel)
_new_object = object.__new__
# A model's state is in BaseModel's four slots: set through their descriptors, a model
# built without validation is what validation stores (``_unvalidated``).
_set_values = BaseModel.__dict__["__dict__"].__set__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__

HolidayRule = Literal["next", "previous", "none"]
InvoiceStatus = Literal["draft", "finalized", "paid", "void"]
InvoiceKind = Literal["invoice", "credit_note"]


class Component(BaseModel):
    """One billable element of a contract over a span of days: a monthly charge (a plan, an
    option, a rental fee, or a discount on one, negative) billed per calendar month and
    prorated by day, or a one-time charge (a device sold, installation) billed once on
    ``starts``, or a usage charge (metered: kWh, GB) billed per month in arrears on the
    month's reading, priced by ``usage_tiers`` (its amounts are 0: the base amount of such a
    price is a monthly component of its own). A change never edits a component: it ends it
    and adds another."""

    model_config = ConfigDict(frozen=True)

    contract_id: str
    key: str = Field(
        description="Stable within the contract: t<term>.<n>, c<change>.<n> or r<return>.<n>"
    )
    name: str = Field(description="品目 as the invoice prints it")
    sku: str | None = None
    kind: ComponentKind
    quantity: int = Field(ge=1)
    unit: str = ""
    unit_price: int = Field(description="Per month (monthly) or once; negative for a discount")
    amount: int = Field(description="quantity × unit_price, or the discount's amount")
    tax_rate: TaxRate = 10
    starts: date = Field(description="First day billed (monthly) or the day charged (one-time)")
    ends: date | None = Field(default=None, description="Last day billed; None: open")
    discount: bool = Field(default=False, description="A campaign or manual discount line")
    usage_unit: str | None = Field(default=None, description="Usage only: kWh, GB …")
    usage_tiers: list[UsageTier] | None = Field(
        default=None, description="Usage only: the progressive tiers a reading is priced by"
    )
    applies_to_sku: str | None = Field(
        default=None, description="A discount's line's SKU: it ends when that SKU is removed"
    )


class DebitAccount(BaseModel):
    """The customer's bank account that direct debit (口座振替) draws from, as the signed
    預金口座振替依頼書 gives it; the holder's name in the half-width kana banks compare."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bank_code: str = Field(pattern=r"^\d{4}$", description="金融機関コード")
    bank_name: str = Field(default="", max_length=15, description="half-width kana, optional")
    branch_code: str = Field(pattern=r"^\d{3}$", description="支店コード")
    branch_name: str = Field(default="", max_length=15)
    account_type: Literal["1", "2"] = Field(default="1", description="1 普通, 2 当座")
    account_number: str = Field(pattern=r"^\d{7}$")
    holder_name: str = Field(min_length=1, max_length=60, description="預金者名 (kana)")


PaymentMethod = Literal["bank-transfer", "direct-debit", "card", "convenience-store"]


class CardOnFile(BaseModel):
    """The card an account pays by: Stripe's references (the card itself never reaches us)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    customer: str = Field(pattern=r"^cus_[A-Za-z0-9]+$", description="Stripe customer id")
    payment_method: str = Field(
        pattern=r"^pm_[A-Za-z0-9]+$", description="Stripe payment method id"
    )
    brand: str | None = Field(default=None, max_length=20)
    last4: str | None = Field(default=None, pattern=r"^\d{4}$")


class PendingPaymentMethod(BaseModel):
    """A payment method the customer chose that takes effect at ``effective_from`` (the next
    closing): the invoicing run of that closing bills with it and makes it the account's.
    Invoices issued before keep the method they were issued with."""

    model_config = ConfigDict(frozen=True)

    payment_method: PaymentMethod
    debit_account: DebitAccount | None = None
    card: CardOnFile | None = None
    effective_from: date = Field(description="The first closing billed with it")
    requested_at: str
    requested_by: str


class GiveBack(BaseModel):
    """What a voided invoice gave back to the ledger: its lines' ledger keys and amounts, in
    the invoice's order (``monosub.domain.ledger``). Kept on the account, folded into the
    ledger whenever the account is read with it."""

    invoice_id: str
    at: str = Field(description="When the void gave it back (UTC)")
    lines: list[tuple[str, int]] = Field(description="(ledger key, yen) of each line")


class BillingAccount(BaseModel):
    """Who is invoiced, how, and what of its contracts was billed already (請求先)."""

    account_id: str
    name: str = Field(description="宛名: the company or the person")
    person: str | None = None
    postal_code: str | None = None
    address: str | None = None
    email: str | None = None
    customer_number: str = Field(description="お客様番号")
    segment: str = "corporate"
    closing_day: int = Field(default=31, description="締め日: 1–28, or 31 for month end")
    months_after: int = Field(default=1, ge=0, le=3, description="支払: months after closing")
    pay_day: int = Field(default=31, description="支払日: 1–28, or 31 for month end")
    holiday_rule: HolidayRule = "next"
    delivery: Delivery = "email"
    payment_method: str = "bank-transfer"
    debit_account: DebitAccount | None = Field(default=None, description="direct debit only")
    card: CardOnFile | None = Field(default=None, description="card payment only")
    pending_payment: PendingPaymentMethod | None = Field(
        default=None, description="A payment method chosen for the next closing onwards"
    )
    payer_name: str | None = Field(
        default=None, description="振込依頼人名 the bank shows for this customer's transfers"
    )
    virtual_account: str | None = Field(
        default=None, description="The 振込専用口座 number given to this customer"
    )
    reminders_opt_out: bool = Field(
        default=False, description="No payment reminders by email (legal notices still go)"
    )
    first_month: FirstMonth = Field(
        default="prorate", description="A start mid-month: prorated by day, or from next month"
    )
    components: list[Component] = Field(default_factory=list)
    billed: dict[str, int] = Field(
        default_factory=dict, description="<contract>|<component>|<YYYY-MM> → yen billed"
    )
    usage: dict[str, str] = Field(
        default_factory=dict,
        description="Meter readings: <contract>|<component>|<YYYY-MM> → quantity (a decimal)",
    )
    last_closing: date | None = None
    contracts: list[str] = Field(default_factory=list, description="Contracts billed here")
    changes: list[ContractChange] = Field(default_factory=list, description="Mid-term changes")
    returns: list[AppliedReturn] = Field(default_factory=list, description="Rental returns")
    given_back: list[str] = Field(
        default_factory=list, description="Voided invoices whose billing the ledger gave back"
    )
    give_backs: list[GiveBack] = Field(
        default_factory=list, description="The voids' give-backs, oldest first (on the account)"
    )
    give_backs_read: int = Field(
        default=0,
        description="How many give-backs ``billed`` has folded in (the ledger written next "
        "records it: later ones are folded at the next read)",
    )
    created_at: str
    updated_at: str
    version: int = 1


class InvoiceLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    contract_id: str
    component: str
    month: str | None = Field(
        default=None, description="YYYY-MM of a monthly charge; None: one-time"
    )
    name: str
    period: str | None = None
    quantity: int
    unit: str = ""
    unit_price: int
    amount: int
    prorated: bool = False
    tax_rate: TaxRate = 10
    adjustment: bool = Field(default=False, description="Corrects a month billed before")

    @classmethod
    def trusted(cls, values: dict[str, Any]) -> InvoiceLine:
        """A line built from values the billing engine typed itself, without validation: the
        hot path of a run (a line of every invoice; ``trusted_line`` for the engine's usual
        lines). Every field must be given: ``model_construct`` would fill defaults, at ten
        times the cost of this."""
        if values.keys() != _LINE_FIELDS:
            raise TypeError(f"an invoice line needs exactly {sorted(_LINE_FIELDS)}")
        return _unvalidated(cls, values, set(_LINE_FIELDS))


_LINE_FIELDS = frozenset(InvoiceLine.model_fields)


def trusted_line(
    *,
    contract_id: str,
    component: str,
    month: str | None,
    name: str,
    period: str | None,
    quantity: int,
    unit: str,
    unit_price: int,
    amount: int,
    prorated: bool,
    tax_rate: TaxRate,
    adjustment: bool,
) -> InvoiceLine:
    """``InvoiceLine.trusted`` for the engine's own lines, every field a parameter: the
    fields are this function's, so there is nothing to check per line (a line of every
    invoice of a run; ``tests/unit/test_billing_fast_paths.py`` compares it with a
    validated line and fails when a field is added to the model and not here)."""
    line = _new_object(InvoiceLine)  # _unvalidated's, inlined: a call is a tenth of a line
    _set_values(
        line,
        {
            "contract_id": contract_id,
            "component": component,
            "month": month,
            "name": name,
            "period": period,
            "quantity": quantity,
            "unit": unit,
            "unit_price": unit_price,
            "amount": amount,
            "prorated": prorated,
            "tax_rate": tax_rate,
            "adjustment": adjustment,
        },
    )
    _set_fields_set(line, set(_LINE_FIELDS))
    _set_extra(line, None)
    _set_private(line, None)
    return line


class TaxAmount(BaseModel):
    model_config = ConfigDict(frozen=True)

    rate: TaxRate
    taxable: int
    tax: int


def trusted_tax(*, rate: TaxRate, taxable: int, tax: int) -> TaxAmount:
    """A tax amount the engine computed (one per rate of every invoice), unvalidated."""
    return _unvalidated(TaxAmount, {"rate": rate, "taxable": taxable, "tax": tax}, set(_TAX_FIELDS))


_TAX_FIELDS = frozenset(TaxAmount.model_fields)


class Invoice(BaseModel):
    """An invoice (or credit note) of one billing account for one closing. Drafts have no
    number; finalizing gives the next number of its series, once."""

    invoice_id: str
    kind: InvoiceKind = "invoice"
    account_id: str
    closing_date: date = Field(description="締め日: the issue date of the 適格請求書")
    period_start: date
    period_end: date
    due_date: date | None = None
    status: InvoiceStatus = "draft"
    number: str | None = None
    series: str = Field(description="Numbering series, e.g. INV-2026")
    lines: list[InvoiceLine]
    taxes: list[TaxAmount]
    subtotal: int
    tax_total: int
    total: int
    delivery: Delivery = "email"
    payment_method: str = "bank-transfer"
    contracts: list[str] = Field(default_factory=list)
    original_invoice_id: str | None = None
    pdf_key: str | None = None
    delivered_at: str | None = None
    delivery_note: str | None = None
    print_batch: str | None = Field(default=None, description="The print vendor's batch")
    print_receipt: str | None = None
    archive_token: str | None = Field(default=None, description="The vendor's archive token")
    archive_url: str | None = None
    run_id: str | None = None
    created_at: str
    finalized_at: str | None = None
    voided_at: str | None = None
    voided_by: str | None = None
    void_reason: str | None = None
    credit_note_id: str | None = Field(default=None, description="A void invoice's credit note")
    amount_paid: int = Field(default=0, description="Received so far (issue 7: cash)")
    credit_applied: int = Field(
        default=0, description="Of amount_paid, the customer's credit (前受金) applied at issue"
    )
    paid_at: str | None = None
    payments: list[str] = Field(default_factory=list, description="Payments applied, by id")
    payment_failure: PaymentFailure | None = None
    version: int = 1

    @property
    def balance(self) -> int:
        """What is still owed on a finalized invoice (nothing on a draft, void or credit note)."""
        return balance_of(self.kind, self.status, self.total, self.amount_paid)

    @classmethod
    def trusted(cls, values: dict[str, Any]) -> Invoice:
        """An invoice from values the billing engine typed itself (its lines and taxes are
        models already), without validation: the fields not given take their defaults, as
        ``Invoice(**values)`` gives them, and the fields given are the fields set. One per
        invoice of a run; validating it was a twentieth of the engine's time."""
        if not _INVOICE_REQUIRED <= values.keys() <= _INVOICE_FIELDS:
            raise TypeError(
                f"an invoice needs {sorted(_INVOICE_REQUIRED)}, and no field but "
                f"{sorted(_INVOICE_FIELDS)}"
            )
        complete = _INVOICE_DEFAULTS.copy()  # in the fields' order, as a validated model
        complete.update(values)
        for name, factory in _INVOICE_FACTORIES:
            if name not in values:
                complete[name] = factory()
        return _unvalidated(cls, complete, set(values))


_INVOICE_FIELDS = frozenset(Invoice.model_fields)
_INVOICE_REQUIRED = frozenset(n for n, f in Invoice.model_fields.items() if f.is_required())
# A default shared by every trusted invoice must be immutable; a list or dict default is a
# factory's, made anew for each.
_INVOICE_DEFAULTS: dict[str, Any] = {
    name: None if field.is_required() or field.default_factory else field.default
    for name, field in Invoice.model_fields.items()
}
_INVOICE_FACTORIES: list[tuple[str, Callable[[], Any]]] = [
    (name, cast("Callable[[], Any]", field.default_factory))
    for name, field in Invoice.model_fields.items()
    if field.default_factory is not None
]
if not all(
    value is None or type(value) in (str, int, bool) for value in _INVOICE_DEFAULTS.values()
):
    raise TypeError("Invoice.trusted shares its defaults: they must be immutable")


def _unvalidated(cls: type[_Model], values: dict[str, Any], fields_set: set[str]) -> _Model:
    """A model with ``values`` as its fields, as pydantic stores a validated one: no
    validation, no defaults filled (the callers give every field)."""
    model = _new_object(cls)
    _set_values(model, values)
    _set_fields_set(model, fields_set)
    _set_extra(model, None)
    _set_private(model, None)
    return model


class RevenueRow(BaseModel):
    """Revenue of one contract component for one month (売上計上), written once."""

    model_config = ConfigDict(frozen=True)

    month: str
    contract_id: str
    component: str
    account_id: str
    name: str
    amount: int
    tax_rate: TaxRate = 10
    days: int | None = Field(default=None, description="Days of service in the month")
    service_month: str | None = Field(
        default=None,
        description="The month the service was used (a late reading's row is recognized in a "
        "later month); None or ``month``: the row's own month",
    )


class BillingSettings(BaseModel):
    """A change of how an account is billed (PATCH): only the fields given change."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, description="The version read; 409 when it changed")
    closing_day: int | None = Field(default=None, description="1–28, or 31 for month end")
    months_after: int | None = Field(default=None, ge=0, le=3)
    pay_day: int | None = Field(default=None, description="1–28, or 31 for month end")
    holiday_rule: HolidayRule | None = None
    delivery: Delivery | None = None
    email: str | None = Field(default=None, max_length=254)
    postal_code: str | None = Field(default=None, pattern=r"^\d{3}-\d{4}$")
    address: str | None = Field(default=None, max_length=300)
    first_month: FirstMonth | None = None
    payment_method: Literal["bank-transfer", "direct-debit", "card"] | None = None
    debit_account: DebitAccount | None = None
    payer_name: str | None = Field(default=None, max_length=48)
    virtual_account: str | None = Field(default=None, pattern=r"^\d{7}$")
    reminders_opt_out: bool | None = None


class InvoiceSummary(BaseModel):
    """What a list of an account's invoices shows (the customer portal's): the fields the
    account-invoices index copies (``INVOICE_LIST_FIELDS``), not the lines."""

    invoice_id: str
    account_id: str
    kind: InvoiceKind = "invoice"
    number: str | None = None
    status: InvoiceStatus = "draft"
    closing_date: date
    period_start: date
    period_end: date
    due_date: date | None = None
    total: int
    amount_paid: int = 0
    delivery: Delivery = "email"
    payment_method: str = "bank-transfer"
    pdf_key: str | None = None
    archive_url: str | None = None

    @property
    def balance(self) -> int:
        """As ``Invoice.balance``."""
        return balance_of(self.kind, self.status, self.total, self.amount_paid)


def balance_of(kind: InvoiceKind, status: InvoiceStatus, total: int, amount_paid: int) -> int:
    """What is still owed: on an invoice that is finalized (or paid: then nothing), never on
    a draft, a void invoice or a credit note."""
    if kind != "invoice" or status not in ("finalized", "paid"):
        return 0
    return total - amount_paid


# Copied into the account-invoices index (INCLUDE): a summary is ≈300 bytes, one write unit,
# where the whole invoice (lines) is often two.
INVOICE_LIST_FIELDS: tuple[str, ...] = tuple(InvoiceSummary.model_fields)
