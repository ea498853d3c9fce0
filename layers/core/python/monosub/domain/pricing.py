"""Pricing: lines × the price book × the campaigns in force on a date → a priced result.

Pure: no AWS, no clock. The service reads the catalog and the campaigns and passes them in.

The rules (``docs/catalog.md`` explains them with examples):

- **In force.** A price version or a campaign is in force from ``valid_from`` to
  ``valid_to``, *both inclusive*; a product only while it is offered (not before its
  ``valid_from``, not after it was retired).
- **List prices.** Unit price in force on the date × quantity. Options are listed under a plan
  line and priced at the line's quantity (each camera on the plan gets the option).
- **Monthly charges over the term.** A monthly charge is followed month by month over
  ``term_months`` (month 1 is the first billed month), so effects limited to N months show
  as a schedule (months 1–3 ¥0, months 4–12 ¥1,980).
- **Eligibility.** Segment, channel and "new customers only" must match (an empty list means
  any); ``min_quantity`` counts the units of the campaign's SKUs on the whole document,
  lines and options (for a bundle: complete sets).
- **Order and stacking.** Eligible campaigns apply in ascending ``priority`` (then code).
  A non-exclusive campaign applies to every item of its SKUs that no exclusive campaign has
  taken; an exclusive campaign applies only to items nothing has been applied to yet, and
  afterwards nothing else applies to them. So the first campaign to reach an item decides:
  exclusive, it stays alone; otherwise the non-exclusive ones stack and exclusive ones skip.
- **Arithmetic.** Each effect works on the amount left by the previous ones. Percent off:
  ``floor(amount × percent / 100)`` per line (per month for monthly charges), so a fraction
  of a yen is never given away. Fixed off: ``yen_per_unit × quantity``, at most the amount.
  Free months: the month's amount. Bundle: the member prices of one set minus the bundle
  price, shared among the members in proportion to their list prices (largest remainder),
  times the sets; at most the amount left. No amount ever goes below zero or up.
- **Usage** (metered: kWh, GB) is not priced here but billed on actual readings: a usage
  price adds only its monthly base amount (基本料金) to a priced result, and
  ``usage_charge`` prices a month's reading by the price's progressive tiers (段階料金).
- **Tax** once per rate per document (``monosub.domain.tax``): the one-time charges are one
  document; each month's charges are one (each monthly invoice), so each period of the
  schedule has its own tax per rate. The rounding mode is a parameter.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, localcontext

from monosub.domain.tax import Rounding, TaxCategory, round_yen, taxes_by_rate
from monosub.errors import Conflict, ValidationFailed
from monosub.models.catalog import (
    MAX_OPTIONS,
    MAX_QUANTITY,
    SKU_PATTERN,
    AppliedEffect,
    Bundle,
    Campaign,
    ChargeTotal,
    FixedOff,
    FreeMonths,
    MonthlyPeriod,
    MonthlyTotal,
    NotApplied,
    PercentOff,
    PricedItem,
    PricedLine,
    PriceDraft,
    PricedResult,
    PriceVersion,
    PricingRequest,
    Product,
    TaxLine,
    TermTotal,
    UsageTier,
)

_SKU = re.compile(SKU_PATTERN)


@dataclass(frozen=True)
class CatalogEntry:
    """A product and every version of its price."""

    product: Product
    prices: tuple[PriceVersion, ...] = ()


def price_on(prices: Iterable[PriceVersion], day: dt.date) -> PriceVersion | None:
    """The version in force on ``day`` (valid_to inclusive), or None."""
    in_force = [version for version in prices if version.in_force_on(day)]
    return max(in_force, key=lambda version: version.valid_from, default=None)


def price_in_force(entry: CatalogEntry, day: dt.date) -> PriceVersion | None:
    """The price of a product on ``day``; None when it is not offered that day or unpriced."""
    return price_on(entry.prices, day) if entry.product.offered_on(day) else None


def campaigns_in_force(campaigns: Iterable[Campaign], day: dt.date) -> list[Campaign]:
    """The campaigns in force on ``day`` (both ends inclusive), in the order they apply."""
    return sorted((c for c in campaigns if c.in_force_on(day)), key=lambda c: (c.priority, c.code))


# ---- pricing --------------------------------------------------------------------------------


@dataclass
class _Item:
    """A line, or an option on a line, while it is being priced."""

    line: int
    option: int | None
    product: Product
    price: PriceVersion
    quantity: int
    signature: tuple[str, int, tuple[str, ...]]  # its line: SKU, quantity, options
    one_time: int  # the amount left after the effects so far
    monthly: list[int]  # per month of the term, the amount left
    effects: list[AppliedEffect] = field(default_factory=list)
    exclusive_by: str | None = None

    @property
    def sku(self) -> str:
        return self.product.sku

    @property
    def has_monthly(self) -> bool:
        return self.price.monthly_yen is not None

    @property
    def has_one_time(self) -> bool:
        return self.price.one_time_yen is not None

    @property
    def list_monthly(self) -> int:
        return (self.price.monthly_yen or 0) * self.quantity

    @property
    def list_one_time(self) -> int:
        return (self.price.one_time_yen or 0) * self.quantity


def price(
    request: PricingRequest,
    catalog: Mapping[str, CatalogEntry],
    campaigns: Iterable[Campaign],
    *,
    rounding: Rounding = "floor",
) -> PricedResult:
    """Price ``request`` on its date with the ``catalog`` and ``campaigns`` given.

    Raises ``ValidationFailed`` naming every bad field (``lines[2].options[0]``): an unknown
    SKU, a product with no price that day, an option that does not fit the line's plan, a
    quantity below 1."""
    if request.date is None:
        raise ValueError("the pricing date is decided by the caller (today, in Asia/Tokyo)")
    day = request.date
    items = _resolve(request, catalog, day)
    applied, not_applied = _apply_campaigns(request, items, campaigns_in_force(campaigns, day))
    return _result(request, day, items, applied=applied, not_applied=not_applied, rounding=rounding)


# ---- the lines ------------------------------------------------------------------------------


def _resolve(
    request: PricingRequest, catalog: Mapping[str, CatalogEntry], day: dt.date
) -> list[_Item]:
    errors: list[dict[str, str]] = []
    items: list[_Item] = []
    term = request.term_months

    def item(line: int, option: int | None, found: tuple[Product, PriceVersion], qty: int) -> None:
        product, version = found
        items.append(
            _Item(
                line=line,
                option=option,
                product=product,
                price=version,
                quantity=qty,
                signature=(request.lines[line].sku, qty, tuple(request.lines[line].options)),
                one_time=(version.one_time_yen or 0) * qty,
                monthly=[(version.monthly_yen or 0) * qty] * term,
            )
        )

    for i, line in enumerate(request.lines):
        path = f"lines[{i}]"
        quantity_ok = 1 <= line.quantity <= MAX_QUANTITY
        if line.quantity < 1:
            errors.append(_error(f"{path}.quantity", "the quantity must be at least 1"))
        elif line.quantity > MAX_QUANTITY:
            errors.append(_error(f"{path}.quantity", f"at most {MAX_QUANTITY} per line"))
        found = _lookup(line.sku, f"{path}.sku", catalog, day, errors)
        if found is not None and found[0].kind == "option":
            errors.append(
                _error(
                    f"{path}.sku",
                    f"{line.sku} is an option: list it in the options of its plan's line",
                )
            )
            found = None
        if found is not None and quantity_ok:
            item(i, None, found, line.quantity)
        if len(line.options) > MAX_OPTIONS:
            errors.append(_error(f"{path}.options", f"at most {MAX_OPTIONS} options per line"))
            continue
        seen: set[str] = set()
        for j, sku in enumerate(line.options):
            option_path = f"{path}.options[{j}]"
            if sku in seen:
                errors.append(_error(option_path, f"option {sku} is named twice on this line"))
                continue
            seen.add(sku)
            option = _lookup(sku, option_path, catalog, day, errors)
            if option is None:
                continue
            reason = _option_refusal(option[0], found[0] if found else None, line.sku)
            if reason:
                errors.append(_error(option_path, reason))
            elif found is not None and quantity_ok:
                item(i, j, option, line.quantity)
    if errors:
        raise ValidationFailed("the lines cannot be priced", details=errors)
    return items


def _lookup(
    sku: str,
    path: str,
    catalog: Mapping[str, CatalogEntry],
    day: dt.date,
    errors: list[dict[str, str]],
) -> tuple[Product, PriceVersion] | None:
    if not sku:
        errors.append(_error(path, "give a SKU"))
        return None
    entry = catalog.get(sku)
    if entry is None:
        errors.append(_error(path, f"unknown SKU {sku}"))
        return None
    product = entry.product
    if day < product.valid_from:
        errors.append(_error(path, f"{sku} is offered from {product.valid_from}, not on {day}"))
        return None
    if product.valid_to is not None and day > product.valid_to:
        errors.append(_error(path, f"{sku} was retired after {product.valid_to}"))
        return None
    version = price_on(entry.prices, day)
    if version is None:
        errors.append(_error(path, f"{sku} has no price on {day}"))
        return None
    return product, version


def _option_refusal(option: Product, line_product: Product | None, line_sku: str) -> str | None:
    if option.kind != "option":
        return f"{option.sku} is a {option.kind}, not an option"
    if line_product is None:
        return None  # the line itself is refused
    if line_product.kind != "plan":
        return f"options go on a plan's line; {line_sku} is a {line_product.kind}"
    if line_sku not in option.fits_plans:
        plans = ", ".join(option.fits_plans)
        return f"option {option.sku} does not fit plan {line_sku} (it fits {plans})"
    return None


def _error(path: str, message: str) -> dict[str, str]:
    return {"field": path, "message": message}


# ---- campaigns ------------------------------------------------------------------------------


def _apply_campaigns(
    request: PricingRequest, items: list[_Item], ordered: Sequence[Campaign]
) -> tuple[list[str], list[NotApplied]]:
    applied: list[str] = []
    not_applied: list[NotApplied] = []

    def refuse(campaign: Campaign, reason: str) -> None:
        not_applied.append(NotApplied(code=campaign.code, name=campaign.name, reason=reason))

    for campaign in ordered:
        skus = set(campaign.target_skus())
        targets = [it for it in items if it.sku in skus]
        if not targets:
            continue  # not about this document: not worth a word
        reason = _ineligible(campaign, request, items)
        if reason is not None:
            refuse(campaign, reason)
            continue
        if campaign.exclusive:
            usable = [it for it in targets if not it.effects]
        else:
            usable = [it for it in targets if it.exclusive_by is None]
        if isinstance(campaign.effect, Bundle):
            reached = _apply_bundle(campaign, campaign.effect, usable)
        else:
            reached = _apply_per_item(campaign, usable)
        if reached:
            applied.append(campaign.code)
            for it in reached:
                if campaign.exclusive:
                    it.exclusive_by = campaign.code
        else:
            refuse(campaign, _blocked_reason(campaign, targets, usable))
    return applied, not_applied


def _ineligible(campaign: Campaign, request: PricingRequest, items: list[_Item]) -> str | None:
    rules = campaign.eligibility
    if rules.segments and request.segment not in rules.segments:
        return f"for {' or '.join(rules.segments)} customers only"
    if rules.channels and request.channel not in rules.channels:
        return f"for the {' or '.join(rules.channels)} channel only"
    if rules.new_customers_only and not request.new_customer:
        return "for new customers only"
    effect = campaign.effect
    if isinstance(effect, Bundle):
        sets = _complete_sets(effect.skus, items)
        if sets < rules.min_quantity:
            members = " + ".join(effect.skus)
            return (
                f"needs {rules.min_quantity} complete set(s) of {members}; the document has {sets}"
            )
        return None
    units = sum(it.quantity for it in items if it.sku in set(rules.skus))
    if units < rules.min_quantity:
        return (
            f"needs {rules.min_quantity} units of {', '.join(rules.skus)}; the document has {units}"
        )
    return None


def _blocked_reason(campaign: Campaign, targets: list[_Item], usable: list[_Item]) -> str:
    if len(usable) < len(targets):
        if campaign.exclusive:
            codes = sorted({e.code for it in targets for e in it.effects})
            return f"exclusive, and {', '.join(codes)} already applies to its SKUs"
        codes = sorted({it.exclusive_by for it in targets if it.exclusive_by})
        return f"does not stack with the exclusive campaign {', '.join(codes)}"
    effect = campaign.effect
    if isinstance(effect, Bundle):
        return "no complete set is left for the bundle"
    return f"its SKUs have no {_charge_words(effect)} on this document"


def _charge_words(effect: PercentOff | FixedOff | FreeMonths) -> str:
    target = "monthly" if isinstance(effect, FreeMonths) else effect.applies_to
    return {"monthly": "monthly charge", "one_time": "one-time charge"}.get(target, "charge")


def _apply_per_item(campaign: Campaign, usable: list[_Item]) -> list[_Item]:
    effect = campaign.effect
    assert not isinstance(effect, Bundle)
    monthly = isinstance(effect, FreeMonths) or effect.applies_to in ("monthly", "both")
    one_time = not isinstance(effect, FreeMonths) and effect.applies_to in ("one_time", "both")
    reached = []
    for it in usable:
        if not ((monthly and it.has_monthly) or (one_time and it.has_one_time)):
            continue
        term = len(it.monthly)
        one_time_discount = 0
        monthly_discount = [0] * term
        if one_time and it.has_one_time:
            one_time_discount = _discount(effect, it.one_time, it.quantity)
            it.one_time -= one_time_discount
        if monthly and it.has_monthly:
            months = effect.months if effect.months is not None else term
            for m in range(min(months, term)):
                monthly_discount[m] = _discount(effect, it.monthly[m], it.quantity)
                it.monthly[m] -= monthly_discount[m]
        it.effects.append(
            AppliedEffect(
                code=campaign.code,
                name=campaign.name,
                type=effect.type,
                description=_describe(effect),
                one_time_discount_yen=one_time_discount,
                monthly_discount=_periods(monthly_discount, skip_zero=True),
            )
        )
        reached.append(it)
    return reached


def _discount(effect: PercentOff | FixedOff | FreeMonths, amount: int, quantity: int) -> int:
    """What one effect takes off ``amount`` (never more than it, never below zero)."""
    if isinstance(effect, FreeMonths):
        return amount
    if isinstance(effect, FixedOff):
        return min(amount, effect.yen_per_unit * quantity)
    return percent_of(amount, effect.percent)


def percent_of(amount: int, percent: Decimal) -> int:
    """``percent`` % of ``amount``, floored to the yen (a discount never rounds up)."""
    return round_yen(Decimal(amount) * percent / 100, "floor")


def _complete_sets(skus: Sequence[str], items: Iterable[_Item]) -> int:
    units = {sku: 0 for sku in skus}
    for it in items:
        if it.sku in units:
            units[it.sku] += it.quantity
    return min(units.values())


def _apply_bundle(campaign: Campaign, effect: Bundle, usable: list[_Item]) -> list[_Item]:
    # Sets take units from the lines in an order that does not depend on where the lines
    # are on the document (only identical lines tie), so reordering lines changes nothing.
    ordered = sorted(usable, key=lambda it: (it.signature, it.line))
    members = {sku: [it for it in ordered if it.sku == sku] for sku in effect.skus}
    sets = _complete_sets(effect.skus, usable)
    if sets == 0 or sets < campaign.eligibility.min_quantity:
        return []
    unit_price = {sku: members[sku][0].price for sku in effect.skus}
    monthly_share = _bundle_shares(
        effect.monthly_yen, {s: p.monthly_yen or 0 for s, p in unit_price.items()}
    )
    one_time_share = _bundle_shares(
        effect.one_time_yen, {s: p.one_time_yen or 0 for s, p in unit_price.items()}
    )
    reached = []
    for sku in effect.skus:
        left = sets
        for it in members[sku]:
            units = min(it.quantity, left)
            left -= units
            if units == 0:
                continue
            one_time_discount = min(it.one_time, one_time_share[sku] * units)
            it.one_time -= one_time_discount
            monthly_discount = [min(amount, monthly_share[sku] * units) for amount in it.monthly]
            it.monthly = [a - d for a, d in zip(it.monthly, monthly_discount, strict=True)]
            it.effects.append(
                AppliedEffect(
                    code=campaign.code,
                    name=campaign.name,
                    type=effect.type,
                    description=_describe(effect) + f" ({units} of {sets} set(s))",
                    one_time_discount_yen=one_time_discount,
                    monthly_discount=_periods(monthly_discount, skip_zero=True),
                )
            )
            reached.append(it)
    return reached


def _bundle_shares(bundle_price: int | None, unit_prices: Mapping[str, int]) -> dict[str, int]:
    """Per member SKU, its unit's share of one set's discount (list prices − bundle price)."""
    if bundle_price is None:
        return dict.fromkeys(unit_prices, 0)
    return allocate(max(0, sum(unit_prices.values()) - bundle_price), unit_prices)


def allocate(amount: int, weights: Mapping[str, int]) -> dict[str, int]:
    """Split ``amount`` in proportion to ``weights`` in whole yen (largest remainder; ties to
    the SKU first in alphabetical order). The shares add up to ``amount``; when ``amount`` is
    at most the sum of the weights, no share exceeds its weight."""
    total = sum(weights.values())
    if total == 0 or amount == 0:
        return dict.fromkeys(weights, 0)
    shares = {key: amount * weight // total for key, weight in weights.items()}
    left = amount - sum(shares.values())
    by_remainder = sorted(weights, key=lambda key: (-(amount * weights[key] % total), key))
    for key in by_remainder[:left]:
        shares[key] += 1
    return shares


def _describe(effect: PercentOff | FixedOff | FreeMonths | Bundle) -> str:
    if isinstance(effect, FreeMonths):
        return f"{effect.months} month(s) free"
    if isinstance(effect, Bundle):
        prices = []
        if effect.monthly_yen is not None:
            prices.append(f"¥{effect.monthly_yen:,} monthly")
        if effect.one_time_yen is not None:
            prices.append(f"¥{effect.one_time_yen:,} one-time")
        return f"bundle {' + '.join(effect.skus)} for {' and '.join(prices)}"
    if isinstance(effect, PercentOff):
        what = f"{format(effect.percent.normalize(), 'f')}% off"
    else:
        what = f"¥{effect.yen_per_unit:,} off per unit"
    charges = {"monthly": "monthly", "one_time": "one-time", "both": "monthly and one-time"}
    span = (
        ""
        if effect.applies_to == "one_time"
        else (
            f" for {effect.months} month(s)" if effect.months is not None else " for the whole term"
        )
    )
    return f"{what} {charges[effect.applies_to]}{span}"


# ---- the result -----------------------------------------------------------------------------


def _periods(values: Sequence[int], *, skip_zero: bool = False) -> list[MonthlyPeriod]:
    """Consecutive months with the same amount, as periods (1-based months)."""
    periods: list[MonthlyPeriod] = []
    for month, value in enumerate(values, start=1):
        if periods and periods[-1].yen == value and periods[-1].to_month == month - 1:
            periods[-1].to_month = month
        elif not (skip_zero and value == 0):
            periods.append(MonthlyPeriod(from_month=month, to_month=month, yen=value))
    return periods


def _priced_item(it: _Item) -> PricedItem:
    return PricedItem(
        sku=it.sku,
        name=it.product.name,
        kind=it.product.kind,
        quantity=it.quantity,
        tax=it.price.tax,
        unit_monthly_yen=it.price.monthly_yen,
        unit_one_time_yen=it.price.one_time_yen,
        list_monthly_yen=it.list_monthly,
        list_one_time_yen=it.list_one_time,
        effects=it.effects,
        net_one_time_yen=it.one_time,
        net_monthly=_periods(it.monthly) if it.has_monthly else [],
        net_monthly_term_yen=sum(it.monthly),
    )


def _charge_total(
    list_yen: int, amounts: list[tuple[TaxCategory, int]], rounding: Rounding
) -> ChargeTotal:
    taxes = taxes_by_rate(amounts, rounding)
    subtotal = sum(amount for _, amount in amounts)
    tax = sum(t.tax_yen for t in taxes)
    return ChargeTotal(
        list_yen=list_yen,
        discount_yen=list_yen - subtotal,
        subtotal_yen=subtotal,
        taxes=[
            TaxLine(
                tax=t.category, rate_percent=t.rate_percent, base_yen=t.base_yen, tax_yen=t.tax_yen
            )
            for t in taxes
        ],
        tax_yen=tax,
        total_yen=subtotal + tax,
    )


def _result(
    request: PricingRequest,
    day: dt.date,
    items: list[_Item],
    *,
    applied: list[str],
    not_applied: list[NotApplied],
    rounding: Rounding,
) -> PricedResult:
    term = request.term_months
    one_time_items = [it for it in items if it.has_one_time]
    one_time = _charge_total(
        sum(it.list_one_time for it in one_time_items),
        [(it.price.tax, it.one_time) for it in one_time_items],
        rounding,
    )
    monthly_items = [it for it in items if it.has_monthly]
    monthly: list[MonthlyTotal] = []
    list_monthly = sum(it.list_monthly for it in monthly_items)
    for month in range(1, term + 1 if monthly_items else 1):
        amounts = [(it.price.tax, it.monthly[month - 1]) for it in monthly_items]
        total = _charge_total(list_monthly, amounts, rounding)
        if monthly and monthly[-1].model_dump(exclude={"from_month", "to_month"}) == (
            total.model_dump()
        ):
            monthly[-1].to_month = month
        else:
            monthly.append(MonthlyTotal(from_month=month, to_month=month, **total.model_dump()))
    monthly_sum = sum(p.subtotal_yen * (p.to_month - p.from_month + 1) for p in monthly)
    monthly_tax = sum(p.tax_yen * (p.to_month - p.from_month + 1) for p in monthly)
    lines = []
    for index, _ in enumerate(request.lines):
        main = next(it for it in items if it.line == index and it.option is None)
        options = sorted(
            (it for it in items if it.line == index and it.option is not None),
            key=lambda it: it.option or 0,
        )
        lines.append(
            PricedLine(
                index=index,
                options=[_priced_item(it) for it in options],
                **_priced_item(main).model_dump(),
            )
        )
    return PricedResult(
        date=day,
        segment=request.segment,
        channel=request.channel,
        new_customer=request.new_customer,
        term_months=term,
        tax_rounding=rounding,
        lines=lines,
        one_time=one_time,
        monthly=monthly,
        term=TermTotal(
            months=term,
            one_time_yen=one_time.subtotal_yen,
            monthly_yen=monthly_sum,
            subtotal_yen=one_time.subtotal_yen + monthly_sum,
            tax_yen=one_time.tax_yen + monthly_tax,
            total_yen=one_time.subtotal_yen + monthly_sum + one_time.tax_yen + monthly_tax,
        ),
        campaigns_applied=applied,
        campaigns_not_applied=not_applied,
        warnings=_warnings(items),
    )


def _warnings(items: list[_Item]) -> list[str]:
    if any(it.product.kind == "service" for it in items):
        return []
    return [
        f"{it.sku} ({it.product.name}) needs installation (設置工事): "
        "the document has no service line for it"
        for it in items
        if it.product.installation_required and it.option is None
    ]


# ---- usage ----------------------------------------------------------------------------------

USAGE_QUANTITY_PLACES = 3
MAX_USAGE_QUANTITY = Decimal(10) ** 12


@dataclass(frozen=True)
class UsageBand:
    """The part of a reading that falls in one tier: units ``from_qty`` to ``to_qty``
    (``quantity`` of them) at ``unit_yen`` each; ``amount`` is exact (not rounded)."""

    from_qty: Decimal
    to_qty: Decimal
    quantity: Decimal
    unit_yen: Decimal
    amount: Decimal


@dataclass(frozen=True)
class UsageCharge:
    """A reading priced by tiers: the bands it spans and the amount, floored to the yen once."""

    quantity: Decimal
    amount_yen: int
    bands: list[UsageBand]


def usage_charge(tiers: Sequence[UsageTier], quantity: Decimal) -> UsageCharge:
    """Price a month's metered ``quantity`` progressively (段階料金), as Japanese electricity
    is: the units up to the first tier's ``up_to`` at its price, the next units up to the
    second's at the second price, and so on; the open last tier takes the rest.

    The bands' amounts are exact and added up before the yen is floored, **once**: flooring
    each band would lose up to a yen per tier on every bill. A fraction of a yen is never
    charged. Only the tiers the reading reaches are bands (0 units: no band, 0 yen).

    Raises ``ValidationFailed`` (field ``quantity``) for a quantity below zero, with more than
    three decimal places or absurdly large; ``ValueError`` for tiers a price version could
    not hold (none, or a last tier that is not open)."""
    if not tiers or tiers[-1].up_to is not None:
        raise ValueError("usage tiers end with an open tier")
    problem = _usage_quantity_problem(quantity)
    if problem is not None:
        raise ValidationFailed("the usage cannot be priced", details=[_error("quantity", problem)])
    with localcontext() as exact_arithmetic:
        # Room for every digit of quantity × unit price: the bands stay exact.
        exact_arithmetic.prec = 50
        bands = _usage_bands(tiers, quantity)
        exact = sum((band.amount for band in bands), Decimal(0))
    return UsageCharge(quantity=quantity, amount_yen=round_yen(exact, "floor"), bands=bands)


def _usage_bands(tiers: Sequence[UsageTier], quantity: Decimal) -> list[UsageBand]:
    bands: list[UsageBand] = []
    start = Decimal(0)
    for tier in tiers:
        if start >= quantity:
            break
        end = quantity if tier.up_to is None else min(quantity, Decimal(tier.up_to))
        if end > start:
            units = end - start
            bands.append(UsageBand(start, end, units, tier.unit_yen, units * tier.unit_yen))
        if tier.up_to is not None:
            start = max(start, Decimal(tier.up_to))
    return bands


def _usage_quantity_problem(quantity: Decimal) -> str | None:
    if not isinstance(quantity, Decimal) or not quantity.is_finite():
        return "the quantity is a finite decimal number"
    if quantity < 0:
        return "the quantity cannot be negative"
    if quantity > MAX_USAGE_QUANTITY:
        return f"at most {MAX_USAGE_QUANTITY:,} units"
    if quantity != quantity.quantize(Decimal(1).scaleb(-USAGE_QUANTITY_PLACES)):
        return f"at most {USAGE_QUANTITY_PLACES} decimal places"
    return None


# ---- price versions and retirement ----------------------------------------------------------


@dataclass(frozen=True)
class VersionPlan:
    """How a new price version enters the book: ``unchanged`` when the very same version
    exists already (a retried request or file), else the open or overlapping version it
    closes the day before it starts (``closes``, or None)."""

    unchanged: bool = False
    closes: PriceVersion | None = None


def plan_price_version(
    product: Product, versions: Sequence[PriceVersion], draft: PriceDraft
) -> VersionPlan:
    """Where ``draft`` goes in the product's price history, or ``Conflict`` (409).

    Versions are only ever added after the newest one: a new version closes the newest
    open-ended version on the day before it starts; it may not start inside a version with an
    explicit end, nor on or before the newest version's start (history is not rewritten). The
    same version again (same start, same terms) changes nothing. A retired product gets no
    new price, and no price starts before the product is offered."""
    for version in versions:
        if version.valid_from == draft.valid_from:
            same_end = draft.valid_to is None or draft.valid_to == version.valid_to
            if version.same_terms(draft) and same_end:
                return VersionPlan(unchanged=True)
            raise Conflict(
                f"{product.sku} has a price version from {draft.valid_from} with other terms; "
                "versions are never edited: add one from a later day"
            )
    if product.valid_to is not None:
        raise Conflict(f"{product.sku} was retired after {product.valid_to}: no new prices")
    if draft.valid_from < product.valid_from:
        raise Conflict(
            f"{product.sku} is offered from {product.valid_from}; a price cannot start earlier"
        )
    latest = max(versions, key=lambda v: v.valid_from, default=None)
    if latest is None:
        return VersionPlan()
    if draft.valid_from < latest.valid_from:
        raise Conflict(
            f"{product.sku} has a price version from {latest.valid_from}; a new version "
            "starts after the newest one (history is not rewritten)"
        )
    if latest.valid_to is None:
        return VersionPlan(closes=latest)
    if latest.valid_to >= draft.valid_from:
        raise Conflict(
            f"overlaps {product.sku}'s price version from {latest.valid_from} to "
            f"{latest.valid_to}, which has an explicit end"
        )
    return VersionPlan()


@dataclass(frozen=True)
class RetirementPlan:
    unchanged: bool = False
    shortens: PriceVersion | None = None  # the newest version, to end on the last day


def plan_retirement(
    product: Product, versions: Sequence[PriceVersion], last_day: dt.date
) -> RetirementPlan:
    """Retire a product after ``last_day``: its newest price version ends then too. Refused
    (``Conflict``) when it is retired already on another day or a price starts later."""
    if product.valid_to is not None:
        if product.valid_to == last_day:
            return RetirementPlan(unchanged=True)
        raise Conflict(f"{product.sku} was retired after {product.valid_to} already")
    if last_day < product.valid_from:
        raise Conflict(f"{product.sku} is offered from {product.valid_from}, after {last_day}")
    latest = max(versions, key=lambda v: v.valid_from, default=None)
    if latest is None:
        return RetirementPlan()
    if latest.valid_from > last_day:
        raise Conflict(f"{product.sku} has a price from {latest.valid_from}, after {last_day}")
    if latest.valid_to is None or latest.valid_to > last_day:
        return RetirementPlan(shortens=latest)
    return RetirementPlan()


def looks_like_sku(text: str) -> bool:
    """Whether ``text`` could be a SKU (anything else is unknown without a look-up)."""
    return bool(_SKU.match(text))
