"""Price a set of lines on a day: the price book and campaigns from the catalog, the rules
from ``monosub.domain.pricing``.

The company's tax rounding is ``TAX_ROUNDING`` (floor, 切り捨て): the same on every
document, as a qualified invoice requires.
"""

from __future__ import annotations

from monosub import clock
from monosub.domain import pricing
from monosub.domain.tax import Rounding
from monosub.models.catalog import PricedResult, PricingRequest
from monosub.store import catalog as store

TAX_ROUNDING: Rounding = "floor"


def preview(request: PricingRequest, *, rounding: Rounding = TAX_ROUNDING) -> PricedResult:
    """The priced result of ``request`` on its date (default: today in Asia/Tokyo).

    Reads the products named by the lines and their options (one consistent Query each, or
    the whole price book at once when there are many) and the campaigns started by that day
    (one Query). Refuses with ``ValidationFailed`` naming each bad field."""
    day = request.date or clock.today()
    skus = {line.sku for line in request.lines}
    skus |= {option for line in request.lines for option in line.options}
    catalog = store.entries(sku for sku in skus if pricing.looks_like_sku(sku))
    campaigns = store.campaigns(started_by=day)
    return pricing.price(
        request.model_copy(update={"date": day}), catalog, campaigns, rounding=rounding
    )
