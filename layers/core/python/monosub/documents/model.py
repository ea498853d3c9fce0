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
    """The priced part a quote, a contract and (later) an invoice share.

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
