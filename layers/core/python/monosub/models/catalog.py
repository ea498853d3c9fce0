"""The catalog as data: products, their effective-dated prices, campaigns; a pricing request
and its priced result.

Money is integer yen, tax-exclusive. Percentages are ``Decimal``. Dates are business dates
in Asia/Tokyo; every ``valid_to`` is **inclusive** (the last day something is in force), so a
price version that a new one replaces from 2026-10-01 ends on 2026-09-30.
A product or price is never edited or deleted: a price changes by a new version, a product
leaves the catalog by being retired (its ``valid_to``). ``docs/catalog.md`` has the rules.
"""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from monosub.domain.tax import Rounding, TaxCategory

SKU_PATTERN = r"^[A-Z0-9][A-Z0-9._-]{0,47}$"
CODE_PATTERN = r"^[A-Z0-9][A-Z0-9._-]{0,47}$"
MAX_YEN = 100_000_000
MAX_QUANTITY = 10_000
MAX_TERM_MONTHS = 120
MAX_LINES = 100
MAX_OPTIONS = 10
MAX_USAGE_TIERS = 10
MAX_USAGE_UNITS = 1_000_000_000  # the highest tier bound (kWh, GB… a month)
MAX_UNIT_YEN = Decimal(1_000_000)

ProductKind = Literal["device", "plan", "option", "service"]
PRODUCT_KINDS: tuple[ProductKind, ...] = ("device", "plan", "option", "service")
Acquisition = Literal["sale", "rental"]
Segment = Literal["residential", "corporate"]
Channel = Literal["direct", "agency", "web", "phone"]
ChargeTarget = Literal["monthly", "one_time", "both"]

Sku = Annotated[str, Field(pattern=SKU_PATTERN, description="e.g. CAM-ONE-SALE")]
Yen = Annotated[int, Field(ge=0, le=MAX_YEN)]


class _Model(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")


# ---- prices ---------------------------------------------------------------------------------


class UsageTier(_Model):
    """One step of a progressive usage price (段階料金): the units above the previous tier's
    ``up_to`` and up to this one's cost ``unit_yen`` each. The last tier is open
    (``up_to`` None). A unit price may have fractions of a yen (29.80 yen per kWh); the amount
    is floored to the yen once per usage line, not per tier."""

    up_to: int | None = Field(
        default=None, ge=1, le=MAX_USAGE_UNITS, description="Upper bound; none: the open last"
    )
    unit_yen: Decimal = Field(ge=0, le=MAX_UNIT_YEN, decimal_places=2, allow_inf_nan=False)


class PriceTerms(_Model):
    """What a product costs: monthly recurring and/or one-time, tax-exclusive, and its rate;
    for a metered product, the unit and tiers its usage is priced by (the monthly amount is
    then its base charge, 基本料金)."""

    monthly_yen: Yen | None = Field(default=None, description="Recurring, per unit per month")
    one_time_yen: Yen | None = Field(default=None, description="Once, per unit")
    tax: TaxCategory = Field(default="standard", description="standard 10 %, reduced 8 %")
    usage_unit: str | None = Field(
        default=None, min_length=1, max_length=10, description="Metered unit, e.g. kWh or GB"
    )
    usage_tiers: list[UsageTier] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_USAGE_TIERS,
        description="Progressive tiers by ascending up_to, the last one open",
    )

    @field_validator("usage_tiers")
    @classmethod
    def tiers_ascend_to_an_open_last(cls, tiers: list[UsageTier] | None) -> list[UsageTier] | None:
        if tiers is None:
            return None
        if tiers[-1].up_to is not None:
            raise ValueError("the last tier is open: leave its up_to empty")
        bounds = [tier.up_to for tier in tiers[:-1] if tier.up_to is not None]
        if len(bounds) < len(tiers) - 1:
            raise ValueError("only the last tier is open; give every other tier its up_to")
        if any(upper <= lower for lower, upper in itertools.pairwise(bounds)):
            raise ValueError("tiers go by ascending up_to, each above the previous")
        return tiers

    @model_validator(mode="after")
    def some_amount(self) -> PriceTerms:
        if (self.usage_unit is None) != (self.usage_tiers is None):
            raise ValueError("a usage price gives both usage_unit and usage_tiers")
        if self.monthly_yen is None and self.one_time_yen is None and self.usage_tiers is None:
            raise ValueError("give monthly_yen, one_time_yen or usage_tiers (one or more)")
        return self

    @property
    def metered(self) -> bool:
        return self.usage_tiers is not None

    def same_terms(self, other: PriceTerms) -> bool:
        return (
            self.monthly_yen,
            self.one_time_yen,
            self.tax,
            self.usage_unit,
            self.usage_tiers,
        ) == (
            other.monthly_yen,
            other.one_time_yen,
            other.tax,
            other.usage_unit,
            other.usage_tiers,
        )


class PriceDraft(PriceTerms):
    """A new price version: in force from ``valid_from`` (to ``valid_to``, inclusive)."""

    valid_from: dt.date
    valid_to: dt.date | None = Field(default=None, description="Last day, inclusive")

    @model_validator(mode="after")
    def ordered(self) -> PriceDraft:
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from")
        return self

    def in_force_on(self, day: dt.date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


class PriceVersion(PriceDraft):
    """One stored version of a SKU's price. Only ``valid_to`` of an open-ended version ever
    changes: a newer version closes it on the day before it starts."""

    model_config = ConfigDict(extra="ignore")

    sku: Sku
    created_at: str
    created_by: str
    source: str | None = Field(default=None, description="api, or the file and line")


# ---- products -------------------------------------------------------------------------------


class ProductAttributes(_Model):
    sku: Sku
    name: str = Field(min_length=1, max_length=200, description="The Japanese name")
    kind: ProductKind
    acquisition: Acquisition | None = Field(
        default=None, description="Devices only: sold (sale) or rented (rental)"
    )
    installation_required: bool = Field(
        default=False, description="Devices only: needs an installation (設置工事)"
    )
    fits_plans: list[Sku] = Field(
        default_factory=list, max_length=50, description="Options only: the plans it fits"
    )

    @model_validator(mode="after")
    def fits_kind(self) -> ProductAttributes:
        if self.kind == "device" and self.acquisition is None:
            raise ValueError("a device is sold or rented: give acquisition")
        if self.kind != "device" and self.acquisition is not None:
            raise ValueError("acquisition is for devices only")
        if self.kind != "device" and self.installation_required:
            raise ValueError("installation_required is for devices only")
        if self.kind == "option" and not self.fits_plans:
            raise ValueError("an option names the plans it fits (fits_plans)")
        if self.kind != "option" and self.fits_plans:
            raise ValueError("fits_plans is for options only")
        if len(set(self.fits_plans)) != len(self.fits_plans):
            raise ValueError("fits_plans names a plan twice")
        return self

    def attributes(self) -> dict[str, Any]:
        """What identifies the product, without its dates and bookkeeping."""
        return self.model_dump(mode="json", include=set(ProductAttributes.model_fields))


class ProductDraft(ProductAttributes):
    """A new product, optionally with its first price."""

    valid_from: dt.date | None = Field(
        default=None, description="First day offered; default: the price's valid_from, or today"
    )
    price: PriceDraft | None = None

    @model_validator(mode="after")
    def price_within(self) -> ProductDraft:
        if (
            self.price is not None
            and self.valid_from is not None
            and self.price.valid_from < self.valid_from
        ):
            raise ValueError("the price starts before the product is offered")
        return self


class Product(ProductAttributes):
    model_config = ConfigDict(extra="ignore")

    valid_from: dt.date
    valid_to: dt.date | None = Field(default=None, description="Retired after this day")
    latest_price_from: dt.date | None = Field(
        default=None, description="valid_from of its newest price version"
    )
    created_at: str
    created_by: str
    updated_at: str

    def offered_on(self, day: dt.date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


class RetireProduct(_Model):
    valid_to: dt.date = Field(description="The last day the product is offered")


class ProductView(BaseModel):
    """A product with the price in force on a day (None: no price that day)."""

    product: Product
    price: PriceVersion | None


class ProductHistory(ProductView):
    """A product, its price on a day, and every price version, newest first."""

    on: dt.date
    prices: list[PriceVersion]


# ---- campaigns ------------------------------------------------------------------------------


class Eligibility(_Model):
    """Who and what a campaign is for. An empty list means "any"."""

    segments: list[Segment] = Field(default_factory=list)
    channels: list[Channel] = Field(default_factory=list)
    skus: list[Sku] = Field(
        default_factory=list,
        max_length=100,
        description="The SKUs it discounts (lines and options); a bundle names its own",
    )
    min_quantity: int = Field(
        default=1,
        ge=1,
        le=MAX_QUANTITY,
        description="Units of its SKUs on the document (for a bundle: complete sets)",
    )
    new_customers_only: bool = False


class PercentOff(_Model):
    type: Literal["percent"]
    percent: Decimal = Field(ge=0, le=100, decimal_places=4)
    applies_to: ChargeTarget = "monthly"
    months: int | None = Field(
        default=None, ge=1, le=MAX_TERM_MONTHS, description="First N months; none: whole term"
    )


class FixedOff(_Model):
    type: Literal["fixed"]
    yen_per_unit: int = Field(ge=1, le=MAX_YEN)
    applies_to: ChargeTarget = "monthly"
    months: int | None = Field(
        default=None, ge=1, le=MAX_TERM_MONTHS, description="First N months; none: whole term"
    )


class FreeMonths(_Model):
    type: Literal["free_months"]
    months: int = Field(ge=1, le=MAX_TERM_MONTHS)


class Bundle(_Model):
    """A set of SKUs (one unit of each) for a fixed monthly and/or one-time price."""

    type: Literal["bundle"]
    skus: list[Sku] = Field(min_length=2, max_length=20)
    monthly_yen: Yen | None = None
    one_time_yen: Yen | None = None

    @model_validator(mode="after")
    def priced(self) -> Bundle:
        if self.monthly_yen is None and self.one_time_yen is None:
            raise ValueError("a bundle has a monthly_yen, a one_time_yen or both")
        if len(set(self.skus)) != len(self.skus):
            raise ValueError("a bundle names each SKU once")
        return self


Effect = Annotated[PercentOff | FixedOff | FreeMonths | Bundle, Field(discriminator="type")]


class CampaignDraft(_Model):
    code: str = Field(pattern=CODE_PATTERN, description="e.g. NEW-OPEN-2026")
    name: str = Field(min_length=1, max_length=200)
    valid_from: dt.date
    valid_to: dt.date | None = Field(default=None, description="Last day, inclusive")
    priority: int = Field(default=100, ge=0, le=10_000, description="Lower applies first")
    exclusive: bool = Field(default=False, description="Does not stack with any other")
    eligibility: Eligibility = Field(default_factory=Eligibility)
    effect: Effect

    @model_validator(mode="after")
    def consistent(self) -> CampaignDraft:
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from")
        effect = self.effect
        if isinstance(effect, Bundle):
            if self.eligibility.skus:
                raise ValueError("a bundle applies to its own skus: leave eligibility.skus empty")
        elif not self.eligibility.skus:
            raise ValueError("name the SKUs the campaign discounts (eligibility.skus)")
        if (
            isinstance(effect, PercentOff | FixedOff)
            and effect.applies_to == "one_time"
            and effect.months is not None
        ):
            raise ValueError("months limits monthly charges: not with applies_to one_time")
        return self

    def target_skus(self) -> list[str]:
        return list(self.effect.skus) if isinstance(self.effect, Bundle) else self.eligibility.skus

    def in_force_on(self, day: dt.date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)

    def terms(self) -> dict[str, Any]:
        """Everything the campaign promises, without its bookkeeping."""
        return self.model_dump(mode="json", include=set(CampaignDraft.model_fields))


class Campaign(CampaignDraft):
    model_config = ConfigDict(extra="ignore")

    created_at: str
    created_by: str
    source: str | None = None


# ---- pricing --------------------------------------------------------------------------------


class PricingLine(BaseModel):
    """One line to price: a SKU, how many, and the options on it (for a plan).

    Deliberately lax: the pricing rules check every value and name the field with its
    position (``lines[2].options[0]``)."""

    model_config = ConfigDict(str_strip_whitespace=True)

    sku: str = Field(max_length=48)
    quantity: int
    options: list[str] = Field(default_factory=list)


class PricingRequest(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    date: dt.date | None = Field(default=None, description="Business date; default today")
    segment: Segment
    channel: Channel
    new_customer: bool = False
    term_months: int = Field(default=12, ge=1, le=MAX_TERM_MONTHS)
    lines: list[PricingLine] = Field(min_length=1, max_length=MAX_LINES)


class MonthlyPeriod(BaseModel):
    """Months ``from_month``..``to_month`` (1-based, inclusive) of the term, each ``yen``."""

    from_month: int
    to_month: int
    yen: int


class AppliedEffect(BaseModel):
    code: str
    name: str
    type: str
    description: str
    one_time_discount_yen: int = 0
    monthly_discount: list[MonthlyPeriod] = Field(
        default_factory=list, description="Discount per month, by period"
    )


class PricedItem(BaseModel):
    sku: str
    name: str
    kind: ProductKind
    quantity: int
    tax: TaxCategory
    unit_monthly_yen: int | None = None
    unit_one_time_yen: int | None = None
    list_monthly_yen: int
    list_one_time_yen: int
    effects: list[AppliedEffect]
    net_one_time_yen: int
    net_monthly: list[MonthlyPeriod] = Field(description="The amount per month, by period")
    net_monthly_term_yen: int = Field(description="Every month of the term added up")


class PricedLine(PricedItem):
    index: int
    options: list[PricedItem]


class TaxLine(BaseModel):
    tax: TaxCategory
    rate_percent: int
    base_yen: int
    tax_yen: int


class ChargeTotal(BaseModel):
    list_yen: int
    discount_yen: int
    subtotal_yen: int = Field(description="Tax-exclusive, after discounts")
    taxes: list[TaxLine] = Field(description="Per rate, each rounded once")
    tax_yen: int
    total_yen: int


class MonthlyTotal(ChargeTotal):
    """One month's charges, the same for every month of the period."""

    from_month: int
    to_month: int


class TermTotal(BaseModel):
    months: int
    one_time_yen: int
    monthly_yen: int = Field(description="Every month of the term, tax-exclusive")
    subtotal_yen: int
    tax_yen: int
    total_yen: int


class NotApplied(BaseModel):
    code: str
    name: str
    reason: str


class PricedResult(BaseModel):
    date: dt.date
    segment: Segment
    channel: Channel
    new_customer: bool
    term_months: int
    tax_rounding: Rounding
    lines: list[PricedLine]
    one_time: ChargeTotal
    monthly: list[MonthlyTotal] = Field(description="Monthly charges by period of the term")
    term: TermTotal
    campaigns_applied: list[str]
    campaigns_not_applied: list[NotApplied]
    warnings: list[str]
