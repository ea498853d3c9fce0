"""What a customer-facing document shows: plain data, amounts in int yen, already priced.

These models know nothing about how a quote is priced (price book, campaigns, rounding mode):
the pricing code fills them with its results. They only refuse a document whose figures do not
add up as printed (a line amount that is not quantity × unit price, a total that is not the sum
of its parts, a tax that is no rounding of base × rate), so a wrong document is never rendered.

Amounts on lines and in the per-rate subtotals are before tax (税抜); the totals include tax.
Tax is per rate per document (適格請求書 rules): one subtotal row per billing kind and rate.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from stdnum.jp import cn

Billing = Literal["one_time", "monthly"]
TaxRate = Literal[10, 8]

STANDARD_RATE: TaxRate = 10
REDUCED_RATE: TaxRate = 8
BILLING_LABELS: dict[Billing, str] = {"one_time": "初期費用", "monthly": "月額費用"}

_REGISTRATION_NUMBER = re.compile(r"T\d{13}")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Issuer(_Frozen):
    """The company issuing the document (適格請求書発行事業者)."""

    name: str = Field(min_length=1, max_length=200)
    registration_number: str = Field(description="登録番号: 'T' + 13-digit corporate number")
    postal_code: str | None = Field(default=None, pattern=r"^\d{3}-\d{4}$")
    address: str = Field(min_length=1, max_length=300, description="都道府県 … 番地")
    building: str | None = Field(
        default=None, max_length=200, description="建物名・階: printed on its own line"
    )
    phone: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=254)
    department: str | None = Field(default=None, max_length=100, description="担当部署")
    person: str | None = Field(default=None, max_length=100, description="担当者")

    @field_validator("registration_number")
    @classmethod
    def valid_registration_number(cls, value: str) -> str:
        if not _REGISTRATION_NUMBER.fullmatch(value) or not cn.is_valid(value[1:]):
            raise ValueError("must be 'T' followed by a valid 13-digit corporate number")
        return value


class Recipient(_Frozen):
    """Who the document is addressed to: a company (御中) or a person at it (様)."""

    company: str = Field(min_length=1, max_length=200)
    department: str | None = Field(default=None, max_length=100)
    person: str | None = Field(default=None, max_length=100)


class Line(_Frozen):
    """One priced item. `amount` is quantity × unit price, before tax and before discounts."""

    name: str = Field(min_length=1, max_length=200)
    quantity: int = Field(gt=0)
    unit: str = Field(default="", max_length=10, description="台, 式, 件 … (empty: none)")
    unit_price: int = Field(ge=0)
    amount: int = Field(ge=0)
    billing: Billing
    tax_rate: TaxRate = STANDARD_RATE
    note: str | None = Field(default=None, max_length=200)

    @property
    def reduced_rate(self) -> bool:
        return self.tax_rate == REDUCED_RATE

    @model_validator(mode="after")
    def amount_is_quantity_times_price(self) -> Line:
        if self.amount != self.quantity * self.unit_price:
            raise ValueError(
                f"{self.name}: amount {self.amount} is not "
                f"{self.quantity} × {self.unit_price} = {self.quantity * self.unit_price}"
            )
        return self


class Discount(_Frozen):
    """A campaign or discount, shown as list price → discount → discounted price.

    For a monthly discount, the prices are per month and `months` says for how many months it
    applies (3ヶ月無料: months=3); `months=None` means every month. Only discounts without a
    limited period reduce the regular subtotals and totals; a limited one is shown beside them.
    """

    name: str = Field(min_length=1, max_length=200, description="e.g. 3ヶ月無料キャンペーン")
    applies_to: str = Field(min_length=1, max_length=200, description="the line it reduces")
    billing: Billing
    tax_rate: TaxRate = STANDARD_RATE
    list_price: int = Field(ge=0)
    discount: int = Field(ge=0)
    discounted_price: int = Field(ge=0)
    months: int | None = Field(default=None, gt=0)

    @property
    def limited(self) -> bool:
        return self.months is not None

    @model_validator(mode="after")
    def prices_add_up(self) -> Discount:
        if self.discounted_price != self.list_price - self.discount:
            raise ValueError(
                f"{self.name}: {self.list_price} - {self.discount} is not {self.discounted_price}"
            )
        if self.months is not None and self.billing != "monthly":
            raise ValueError(f"{self.name}: only a monthly discount has a number of months")
        return self


class TaxSubtotal(_Frozen):
    """Per billing kind and tax rate: the base (税抜, after regular discounts) and its tax."""

    billing: Billing
    rate: TaxRate
    taxable_amount: int = Field(ge=0)
    tax: int = Field(ge=0)

    @property
    def total(self) -> int:
        """The base plus its tax (税込)."""
        return self.taxable_amount + self.tax

    @model_validator(mode="after")
    def tax_is_a_rounding(self) -> TaxSubtotal:
        exact_floor, remainder = divmod(self.taxable_amount * self.rate, 100)
        allowed = {exact_floor, exact_floor + (1 if remainder else 0)}
        if self.tax not in allowed:
            raise ValueError(
                f"tax {self.tax} on {self.taxable_amount} at {self.rate}% is not a rounding of "
                f"{self.taxable_amount * self.rate / 100}"
            )
        return self


class PricedItems(_Frozen):
    """The priced part a quote and a contract share (an invoice has its own flat lines).

    Lines, discounts, one tax subtotal per billing kind and rate, and the totals with tax.
    """

    lines: tuple[Line, ...] = Field(min_length=1)
    discounts: tuple[Discount, ...] = ()
    tax_subtotals: tuple[TaxSubtotal, ...]
    one_time_total: int = Field(ge=0, description="初期費用合計 (税込)")
    monthly_total: int = Field(ge=0, description="月額費用合計 (税込, regular month)")

    @model_validator(mode="after")
    def figures_add_up(self) -> Self:
        expected: dict[tuple[Billing, TaxRate], int] = {}
        for line in self.lines:
            key = (line.billing, line.tax_rate)
            expected[key] = expected.get(key, 0) + line.amount
        for discount in self.discounts:
            if not discount.limited:
                key = (discount.billing, discount.tax_rate)
                expected[key] = expected.get(key, 0) - discount.discount
        printed = {(s.billing, s.rate): s.taxable_amount for s in self.tax_subtotals}
        if len(printed) != len(self.tax_subtotals):
            raise ValueError("tax_subtotals has two rows for the same billing and rate")
        if printed != expected:
            raise ValueError(f"tax_subtotals {printed} do not match the lines {expected}")
        for billing, total in (("one_time", self.one_time_total), ("monthly", self.monthly_total)):
            parts = sum(s.total for s in self.tax_subtotals if s.billing == billing)
            if total != parts:
                raise ValueError(f"{billing} total {total} is not the sum of its subtotals {parts}")
        return self

    # Views the templates use (no arithmetic beyond grouping what is printed).

    def lines_for(self, billing: Billing) -> tuple[Line, ...]:
        return tuple(line for line in self.lines if line.billing == billing)

    def subtotals_for(self, billing: Billing) -> tuple[TaxSubtotal, ...]:
        return tuple(
            sorted(
                (s for s in self.tax_subtotals if s.billing == billing),
                key=lambda s: -s.rate,
            )
        )

    def total_for(self, billing: Billing) -> int:
        return self.one_time_total if billing == "one_time" else self.monthly_total

    @property
    def has_reduced_rate(self) -> bool:
        return any(line.reduced_rate for line in self.lines) or any(
            d.tax_rate == REDUCED_RATE for d in self.discounts
        )


class Quote(PricedItems):
    """見積書: everything the quote document prints, already priced."""

    number: str = Field(min_length=1, max_length=40, description="見積番号")
    version: int = Field(default=1, ge=1, description="版: a revised quote is a new version")
    issue_date: date
    valid_until: date
    issuer: Issuer
    recipient: Recipient
    subject: str | None = Field(default=None, max_length=200, description="件名")
    terms: str = Field(default="", max_length=4000, description="備考・取引条件 (plain text)")

    @model_validator(mode="after")
    def valid_after_issue(self) -> Quote:
        if self.valid_until < self.issue_date:
            raise ValueError("valid_until is before issue_date")
        return self

    @property
    def document_date(self) -> date:
        """The date the PDF's metadata carries (so the same quote renders the same bytes)."""
        return self.issue_date


class Article(_Frozen):
    """One clause of a contract: 第n条（title） body. Numbered by its position."""

    title: str = Field(min_length=1, max_length=100)
    body: str = Field(min_length=1, max_length=4000, description="plain text, one item a line")


class Contract(PricedItems):
    """契約書: the service contract the customer agrees to, with the priced items it covers.

    The customer (甲) is the recipient; the issuer is the provider (乙). The clauses come from
    the contract template in force (legal owns their text); this model only carries them.
    """

    title: str = Field(default="サービス利用契約書", min_length=1, max_length=40)
    number: str = Field(min_length=1, max_length=40, description="契約番号")
    contract_date: date = Field(description="契約日 (the day the customer agrees)")
    service_name: str = Field(min_length=1, max_length=100, description="e.g. monosub 見守りカメラ")
    quote_number: str | None = Field(default=None, max_length=40)
    quote_version: int | None = Field(default=None, ge=1)
    service_start: date | None = Field(default=None, description="利用開始日 (課金開始日)")
    minimum_term_months: int | None = Field(default=None, gt=0, description="最低利用期間")
    payment_method: str | None = Field(default=None, max_length=100, description="支払方法")
    issuer: Issuer
    customer: Recipient
    customer_address: str | None = Field(default=None, max_length=300)
    customer_representative: str | None = Field(
        default=None, max_length=100, description="代表者 (役職 氏名)"
    )
    issuer_representative: str | None = Field(
        default=None, max_length=100, description="乙の代表者 (役職 氏名)"
    )
    articles: tuple[Article, ...] = Field(min_length=1)
    electronic: bool = Field(
        default=True, description="agreed on the consent page (no seal): print the clause"
    )

    @property
    def document_date(self) -> date:
        return self.contract_date


InvoiceKind = Literal["invoice", "credit_note"]
INVOICE_TITLES: dict[InvoiceKind, str] = {"invoice": "請求書", "credit_note": "適格返還請求書"}
_NUMBER_PATTERNS: dict[InvoiceKind, re.Pattern[str]] = {
    "invoice": re.compile(r"INV-\d{4}-\d{6}"),
    "credit_note": re.compile(r"CN-\d{4}-\d{6}"),
}


class InvoiceLine(_Frozen):
    """One line of an invoice (before tax): a charge, a discount or an adjustment (negative).

    `amount` is quantity × unit price, except on a prorated line (日割), whose amount the
    billing engine computed by day: then it only has to have the sign of the unit price.
    """

    name: str = Field(min_length=1, max_length=200, description="品目, e.g. 録画プラン 30日")
    period: str | None = Field(
        default=None, max_length=100, description="e.g. 2026年11月分, or the prorated days"
    )
    quantity: int = Field(gt=0)
    unit: str = Field(default="", max_length=10, description="台, 式, 件, kWh … (empty: none)")
    unit_price: int = Field(description="negative on a discount or adjustment line")
    amount: int
    prorated: bool = False
    tax_rate: TaxRate = STANDARD_RATE
    note: str | None = Field(default=None, max_length=200)

    @property
    def reduced_rate(self) -> bool:
        return self.tax_rate == REDUCED_RATE

    @model_validator(mode="after")
    def amount_adds_up(self) -> InvoiceLine:
        if self.prorated:
            if (self.amount > 0 and self.unit_price <= 0) or (
                self.amount < 0 and self.unit_price >= 0
            ):
                raise ValueError(
                    f"{self.name}: prorated amount {self.amount} does not have the sign of "
                    f"the unit price {self.unit_price}"
                )
        elif self.amount != self.quantity * self.unit_price:
            raise ValueError(
                f"{self.name}: amount {self.amount} is not "
                f"{self.quantity} × {self.unit_price} = {self.quantity * self.unit_price}"
            )
        return self


class InvoiceTaxSubtotal(_Frozen):
    """Per tax rate: the sum of the lines at that rate (税抜) and the tax on it, as the billing
    engine rounded it (once per rate per invoice)."""

    rate: TaxRate
    taxable_amount: int
    tax: int

    @property
    def total(self) -> int:
        """The base plus its tax (税込)."""
        return self.taxable_amount + self.tax


class Invoice(_Frozen):
    """請求書 (or 適格返還請求書, a credit note): what the qualified invoice prints, as billed.

    The billing engine computes the lines and rounds the tax (once per rate); this model only
    refuses figures that do not add up as printed: per-rate subtotals that are not the sums of
    their lines, totals that are not the sums of their parts. A credit note shows positive
    amounts (what is returned), names the invoice it corrects and has no due date.
    """

    kind: InvoiceKind = "invoice"
    number: str = Field(description="請求書番号 INV-2026-000123 / CN-2026-000007")
    issue_date: date = Field(description="発行日 (the closing date)")
    period_start: date = Field(description="取引期間: the transactions it covers")
    period_end: date
    due_date: date | None = Field(default=None, description="お支払期限 (None on a credit note)")
    issuer: Issuer
    recipient: Recipient
    recipient_postal_code: str | None = Field(default=None, pattern=r"^\d{3}-\d{4}$")
    recipient_address: str | None = Field(default=None, max_length=300)
    customer_number: str | None = Field(default=None, max_length=40, description="お客様番号")
    lines: tuple[InvoiceLine, ...] = Field(min_length=1)
    tax_subtotals: tuple[InvoiceTaxSubtotal, ...] = Field(
        description="one per rate present, standard rate first"
    )
    subtotal: int = Field(description="小計 (税抜): the sum of the lines")
    tax_total: int = Field(description="消費税: the sum of the per-rate taxes")
    total: int = Field(ge=0, description="ご請求金額 (税込): subtotal + tax_total")
    payment_method: str | None = Field(
        default=None, max_length=100, description="e.g. 口座振替（毎月27日）, 銀行振込"
    )
    bank_account: str | None = Field(
        default=None, max_length=300, description="振込先 (plain text, one item a line)"
    )
    original_number: str | None = Field(
        default=None, description="credit note: the invoice it corrects"
    )
    credit_applied: int = Field(
        default=0, ge=0, description="前受金充当額: the customer's credit that paid part of it"
    )
    archive_url: str | None = Field(default=None, description="not printed")
    notes: str = Field(default="", max_length=4000, description="備考 (plain text)")

    @property
    def title(self) -> str:
        return INVOICE_TITLES[self.kind]

    @property
    def credit_note(self) -> bool:
        return self.kind == "credit_note"

    @property
    def amount_due(self) -> int:
        """差引お支払額: what is left to pay after the credit applied."""
        return self.total - self.credit_applied

    @property
    def document_date(self) -> date:
        """The date the PDF's metadata carries (so the same invoice renders the same bytes)."""
        return self.issue_date

    @property
    def has_reduced_rate(self) -> bool:
        return any(line.reduced_rate for line in self.lines)

    @model_validator(mode="after")
    def figures_add_up(self) -> Invoice:
        expected: dict[TaxRate, int] = {}
        for line in self.lines:
            expected[line.tax_rate] = expected.get(line.tax_rate, 0) + line.amount
        rates = [s.rate for s in self.tax_subtotals]
        if len(set(rates)) != len(rates):
            raise ValueError("tax_subtotals has two rows for the same rate")
        printed = {s.rate: s.taxable_amount for s in self.tax_subtotals}
        if printed != expected:
            raise ValueError(f"tax_subtotals {printed} do not match the lines {expected}")
        if rates != sorted(rates, reverse=True):
            raise ValueError("tax_subtotals must list the standard rate first")
        lines_sum = sum(line.amount for line in self.lines)
        if self.subtotal != lines_sum:
            raise ValueError(f"subtotal {self.subtotal} is not the sum of the lines {lines_sum}")
        taxes = sum(s.tax for s in self.tax_subtotals)
        if self.tax_total != taxes:
            raise ValueError(f"tax_total {self.tax_total} is not the sum of the taxes {taxes}")
        if self.total != self.subtotal + self.tax_total:
            raise ValueError(
                f"total {self.total} is not subtotal {self.subtotal} + tax {self.tax_total}"
            )
        return self

    @model_validator(mode="after")
    def consistent_kind(self) -> Invoice:
        if not _NUMBER_PATTERNS[self.kind].fullmatch(self.number):
            example = "a credit note number looks like CN-2026-000007"
            if not self.credit_note:
                example = "an invoice number looks like INV-2026-000123"
            raise ValueError(f"{example}, not {self.number!r}")
        if self.period_end < self.period_start:
            raise ValueError("period_end is before period_start")
        if self.credit_note:
            if self.original_number is None:
                raise ValueError("a credit note names the invoice it corrects (original_number)")
            if not _NUMBER_PATTERNS["invoice"].fullmatch(self.original_number):
                raise ValueError(f"original_number {self.original_number!r} is no invoice number")
            if self.due_date is not None:
                raise ValueError("a credit note has no due date")
            if any(s.taxable_amount < 0 or s.tax < 0 for s in self.tax_subtotals):
                raise ValueError("a credit note shows positive amounts")
        else:
            if self.original_number is not None:
                raise ValueError("only a credit note has an original_number")
            if self.due_date is not None and self.due_date < self.issue_date:
                raise ValueError("due_date is before issue_date")
        return self
