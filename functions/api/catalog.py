"""The catalog, the price book, campaigns and price previews over HTTP (declared in
``functions/manifest.py``, CATALOG_ROUTES).

Every route is for staff; changing the catalog is for ops and managers only (``ops``,
``regional-manager``, ``corporate-manager``). A POST of something that exists already,
identical, answers 200 with it (nothing written); different, 409: nothing is edited in place.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from monosub import auth
from monosub.errors import Forbidden
from monosub.models.catalog import (
    CampaignDraft,
    PriceDraft,
    PricingRequest,
    ProductDraft,
    ProductKind,
    RetireProduct,
)
from monosub.services import catalog, pricing

router = APIGatewayRouter()

CATALOG_MANAGERS = frozenset({"ops", "regional-manager", "corporate-manager"})


def _catalog_manager() -> str:
    """The caller, if allowed to change the catalog (else 401/403)."""
    principal = auth.require_staff(auth.principal_from_event(router.current_event.raw_event))
    if not principal.groups & CATALOG_MANAGERS:
        raise Forbidden("only ops or a manager changes the catalog and campaigns")
    return principal.user


def _written(body: Any, created: bool) -> Response[dict[str, Any]]:
    return Response(
        status_code=201 if created else 200,
        content_type=content_types.APPLICATION_JSON,
        body=body.model_dump(mode="json"),
    )


OnDay = Annotated[
    dt.date | None, Query(description="Business date YYYY-MM-DD (Asia/Tokyo); default today")
]


@router.get("/catalog/products")
def list_products(
    on: OnDay = None,
    kind: Annotated[ProductKind | None, Query(description="device, plan, option, service")] = None,
) -> dict[str, Any]:
    """Every product with its price today; with ``on``, those offered and priced that day."""
    views = catalog.list_products(on=on, kind=kind)
    return {
        "on": on.isoformat() if on else None,
        "products": [view.model_dump(mode="json") for view in views],
    }


@router.get("/catalog/products/<sku>")
def get_product(sku: str, on: OnDay = None) -> dict[str, Any]:
    """The product, its price on ``on`` (default today) and its price history, newest first."""
    return catalog.product_history(sku, on=on).model_dump(mode="json")


@router.post("/catalog/products")
def create_product(draft: ProductDraft) -> Response[dict[str, Any]]:
    """201 with the new product (and its first price, if given); 409 if the SKU exists."""
    history, created = catalog.create_product(draft, actor=_catalog_manager())
    return _written(history, created)


@router.post("/catalog/products/<sku>/prices")
def add_price(sku: str, draft: PriceDraft) -> Response[dict[str, Any]]:
    """201 with the new version (it closes the open one the day before it starts); 409 if it
    overlaps a version with an explicit end or starts on or before the newest one."""
    version, created = catalog.add_price(sku, draft, actor=_catalog_manager())
    return _written(version, created)


@router.post("/catalog/products/<sku>/retire")
def retire_product(sku: str, request: RetireProduct) -> dict[str, Any]:
    """The product is offered up to ``valid_to`` (inclusive) and never deleted."""
    product, _ = catalog.retire_product(sku, request.valid_to, actor=_catalog_manager())
    return product.model_dump(mode="json")


@router.get("/campaigns")
def list_campaigns(on: OnDay = None) -> dict[str, Any]:
    """Every campaign; with ``on``, those in force that day in the order they apply."""
    found = catalog.list_campaigns(on=on)
    return {
        "on": on.isoformat() if on else None,
        "campaigns": [c.model_dump(mode="json") for c in found],
    }


@router.post("/campaigns")
def create_campaign(draft: CampaignDraft) -> Response[dict[str, Any]]:
    """201 with the campaign; 409 if its code exists with other terms."""
    campaign, created = catalog.create_campaign(draft, actor=_catalog_manager())
    return _written(campaign, created)


@router.post("/prices/preview")
def preview_prices(request: PricingRequest) -> dict[str, Any]:
    """The lines priced on ``date``: list prices, campaigns applied, the monthly schedule,
    and tax per rate, rounded once per rate."""
    return pricing.preview(request).model_dump(mode="json")
