"""The catalog: products, effective-dated prices and campaigns, kept as data.

Each change reads, lets ``monosub.domain.pricing`` decide where it goes, writes
conditionally (``monosub.store.catalog``), and publishes its event only after the write
succeeded (source ``monosub.catalog``). A write that loses a race is retried from a fresh
read. Sending the same thing twice changes nothing (``created`` is False the second time);
sending something different for what exists is a ``Conflict``: nothing is edited in place.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping

from monosub import clock, events
from monosub.domain import pricing
from monosub.errors import Conflict, NotFound, ValidationFailed
from monosub.events import EventPublisher
from monosub.models.catalog import (
    SKU_PATTERN,
    Bundle,
    Campaign,
    CampaignDraft,
    PriceDraft,
    PriceVersion,
    Product,
    ProductDraft,
    ProductHistory,
    ProductKind,
    ProductView,
)
from monosub.observability import logger
from monosub.store import catalog as store
from monosub.store.dynamo import TransactionConflict

SOURCE = "monosub.catalog"
ATTEMPTS = 5
_SKU = re.compile(SKU_PATTERN)


# ---- reading --------------------------------------------------------------------------------


def list_products(on: dt.date | None = None, kind: ProductKind | None = None) -> list[ProductView]:
    """Every product (of ``kind``) with its price today; with ``on``, only the products
    offered and priced that day, with that day's price."""
    day = on or clock.today()
    views = []
    for entry in store.price_book(kind):
        version = pricing.price_in_force(entry, day)
        if on is not None and version is None:
            continue
        views.append(ProductView(product=entry.product, price=version))
    return views


def product_history(sku: str, on: dt.date | None = None) -> ProductHistory:
    """A product, its price on ``on`` (default today) and every version, newest first."""
    entry = _entry(sku)
    day = on or clock.today()
    return ProductHistory(
        product=entry.product,
        price=pricing.price_in_force(entry, day),
        on=day,
        prices=list(reversed(entry.prices)),
    )


def price_on(sku: str, day: dt.date) -> PriceVersion | None:
    """The price of ``sku`` in force on ``day``; None when it is not offered or unpriced."""
    entry = store.product_entry(sku) if _SKU.match(sku) else None
    return pricing.price_in_force(entry, day) if entry else None


def _entry(sku: str) -> pricing.CatalogEntry:
    entry = store.product_entry(sku) if _SKU.match(sku) else None
    if entry is None:
        raise NotFound(f"product {sku} does not exist")
    return entry


def unknown_skus(skus: Iterable[str]) -> set[str]:
    wanted = set(skus)
    return wanted - set(store.entries(wanted))


def fits_plans_errors(
    fits_plans: list[str], kinds: Mapping[str, str], field: str = "fits_plans"
) -> list[dict[str, str]]:
    """Each plan an option names must be a plan (``kinds``: SKU → kind of what is known)."""
    errors = []
    for index, sku in enumerate(fits_plans):
        kind = kinds.get(sku)
        if kind is None:
            errors.append({"field": f"{field}[{index}]", "message": f"unknown plan {sku}"})
        elif kind != "plan":
            errors.append({"field": f"{field}[{index}]", "message": f"{sku} is a {kind}"})
    return errors


# ---- products and prices --------------------------------------------------------------------


def create_product(
    draft: ProductDraft,
    *,
    actor: str,
    source: str = "api",
    match_offered_from: bool = True,
    publisher: EventPublisher | None = None,
) -> tuple[ProductHistory, bool]:
    """Add a product (with its first price, if the draft has one); ``created`` is False when
    the same product exists already (and the same first price, if given).

    Refused: an option naming an unknown plan (400); a product with this SKU and other
    attributes, or offered from another day (unless ``match_offered_from`` is False) (409)."""
    if draft.fits_plans:
        known = store.entries(draft.fits_plans)
        errors = fits_plans_errors(
            draft.fits_plans, {sku: e.product.kind for sku, e in known.items()}
        )
        if errors:
            raise ValidationFailed(
                "the option names plans that are not in the catalog", details=errors
            )
    offered_from = draft.valid_from or (draft.price.valid_from if draft.price else clock.today())
    for _ in range(ATTEMPTS):
        existing = store.product_entry(draft.sku)
        if existing is not None:
            return _same_product(existing, draft, match_offered_from), False
        now = clock.now_iso()
        product = Product(
            **draft.attributes(),
            valid_from=offered_from,
            latest_price_from=draft.price.valid_from if draft.price else None,
            created_at=now,
            created_by=actor,
            updated_at=now,
        )
        version = _version(draft.sku, draft.price, actor, source, now) if draft.price else None
        try:
            store.create_product(product, version)
        except TransactionConflict:
            logger.info("product created meanwhile; reading again", extra={"sku": draft.sku})
            continue
        publish = (publisher or events.default_publisher).publish
        publish(
            SOURCE,
            "ProductCreated",
            {"sku": product.sku, "kind": product.kind, "name": product.name, "by": actor},
        )
        if version is not None:
            publish(SOURCE, "PriceVersionAdded", _price_event(version, None, actor))
        day = clock.today()
        entry = pricing.CatalogEntry(product, (version,) if version else ())
        history = ProductHistory(
            product=product,
            price=pricing.price_in_force(entry, day),
            on=day,
            prices=list(entry.prices),
        )
        return history, True
    raise Conflict(f"product {draft.sku} kept changing while it was added; try again")


def _same_product(
    existing: pricing.CatalogEntry, draft: ProductDraft, match_offered_from: bool
) -> ProductHistory:
    product = existing.product
    if product.attributes() != draft.attributes():
        raise Conflict(
            f"product {draft.sku} exists with other attributes; products are never edited "
            "(retire it and add a new SKU)"
        )
    if match_offered_from and draft.valid_from not in (None, product.valid_from):
        raise Conflict(f"product {draft.sku} exists, offered from {product.valid_from}")
    if draft.price is not None:
        plan = pricing.plan_price_version(product, existing.prices, draft.price)
        if not plan.unchanged:
            raise Conflict(
                f"product {draft.sku} exists: add a price with POST "
                f"/catalog/products/{draft.sku}/prices"
            )
    day = clock.today()
    return ProductHistory(
        product=product,
        price=pricing.price_in_force(existing, day),
        on=day,
        prices=list(reversed(existing.prices)),
    )


def add_price(
    sku: str,
    draft: PriceDraft,
    *,
    actor: str,
    source: str = "api",
    publisher: EventPublisher | None = None,
) -> tuple[PriceVersion, bool]:
    """Add a price version to ``sku``: it closes the newest open version on the day before
    it starts. ``created`` is False when this very version exists already.

    Refused: unknown product (404); a version starting on or before the newest one, inside
    one with an explicit end, or for a retired product (409)."""
    for _ in range(ATTEMPTS):
        entry = _entry(sku)
        plan = pricing.plan_price_version(entry.product, entry.prices, draft)
        if plan.unchanged:
            return next(v for v in entry.prices if v.valid_from == draft.valid_from), False
        now = clock.now_iso()
        version = _version(sku, draft, actor, source, now)
        try:
            store.add_price_version(entry.product, version, closes=plan.closes, now=now)
        except TransactionConflict:
            logger.info("price history changed meanwhile; reading again", extra={"sku": sku})
            continue
        (publisher or events.default_publisher).publish(
            SOURCE, "PriceVersionAdded", _price_event(version, plan.closes, actor)
        )
        return version, True
    raise Conflict(f"the prices of {sku} kept changing while a version was added; try again")


def retire_product(
    sku: str, last_day: dt.date, *, actor: str, publisher: EventPublisher | None = None
) -> tuple[Product, bool]:
    """Retire ``sku`` after ``last_day`` (it is never deleted); its newest price ends then.
    ``created`` is False when it was retired on that day already."""
    for _ in range(ATTEMPTS):
        entry = _entry(sku)
        plan = pricing.plan_retirement(entry.product, entry.prices, last_day)
        if plan.unchanged:
            return entry.product, False
        now = clock.now_iso()
        try:
            store.retire_product(entry.product, last_day, shortens=plan.shortens, now=now)
        except TransactionConflict:
            logger.info("product changed meanwhile; reading again", extra={"sku": sku})
            continue
        (publisher or events.default_publisher).publish(
            SOURCE, "ProductRetired", {"sku": sku, "valid_to": last_day.isoformat(), "by": actor}
        )
        return entry.product.model_copy(update={"valid_to": last_day, "updated_at": now}), True
    raise Conflict(f"product {sku} kept changing while it was retired; try again")


def _version(sku: str, draft: PriceDraft, actor: str, source: str, now: str) -> PriceVersion:
    return PriceVersion(
        **draft.model_dump(), sku=sku, created_at=now, created_by=actor, source=source
    )


def _price_event(
    version: PriceVersion, closes: PriceVersion | None, actor: str
) -> dict[str, object]:
    return {
        "sku": version.sku,
        "valid_from": version.valid_from.isoformat(),
        "valid_to": version.valid_to.isoformat() if version.valid_to else None,
        "monthly_yen": version.monthly_yen,
        "one_time_yen": version.one_time_yen,
        "tax": version.tax,
        "usage_unit": version.usage_unit,
        "usage_tiers": (
            [tier.model_dump(mode="json") for tier in version.usage_tiers]
            if version.usage_tiers is not None
            else None
        ),
        "closes": closes.valid_from.isoformat() if closes else None,
        "by": actor,
    }


# ---- campaigns ------------------------------------------------------------------------------


def list_campaigns(on: dt.date | None = None) -> list[Campaign]:
    """Every campaign by start; with ``on``, those in force that day, in the order they
    apply (priority, then code)."""
    if on is None:
        return store.campaigns()
    return pricing.campaigns_in_force(store.campaigns(started_by=on), on)


def campaign_sku_errors(draft: CampaignDraft, known: set[str]) -> list[dict[str, str]]:
    """The SKUs a campaign names that are not in ``known``, with their field paths."""
    field = "effect.skus" if isinstance(draft.effect, Bundle) else "eligibility.skus"
    return [
        {"field": f"{field}[{index}]", "message": f"unknown SKU {sku}"}
        for index, sku in enumerate(draft.target_skus())
        if sku not in known
    ]


def create_campaign(
    draft: CampaignDraft,
    *,
    actor: str,
    source: str = "api",
    publisher: EventPublisher | None = None,
) -> tuple[Campaign, bool]:
    """Add a campaign; ``created`` is False when the same campaign exists already.

    Refused: a SKU that is not in the catalog (400); a campaign with this code and other
    terms (409): campaigns are not edited, a changed offer gets a new code."""
    skus = draft.target_skus()
    errors = campaign_sku_errors(draft, set(skus) - unknown_skus(skus))
    if errors:
        raise ValidationFailed(
            "the campaign names SKUs that are not in the catalog", details=errors
        )
    for _ in range(ATTEMPTS):
        existing = store.get_campaign(draft.code)
        if existing is not None:
            if existing.terms() != draft.terms():
                raise Conflict(
                    f"campaign {draft.code} exists with other terms; campaigns are never "
                    "edited: give the new offer a new code"
                )
            return existing, False
        campaign = Campaign(
            **draft.model_dump(), created_at=clock.now_iso(), created_by=actor, source=source
        )
        if not store.create_campaign(campaign):
            continue
        (publisher or events.default_publisher).publish(
            SOURCE,
            "CampaignCreated",
            {"code": campaign.code, "name": campaign.name, "by": actor, "source": source},
        )
        return campaign, True
    raise Conflict(f"campaign {draft.code} kept changing while it was added; try again")
