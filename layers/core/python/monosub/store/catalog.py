"""The catalog in table ``catalog``: the only code that knows its keys.

=============  ==============================  =============================================
item           pk / sk                         gsi1pk / gsi1sk
=============  ==============================  =============================================
product        PRODUCT#<sku> / PRODUCT         PRODUCTS / <kind>#<sku>#PRODUCT
price version  PRODUCT#<sku> / PRICE#<from>    PRODUCTS / <kind>#<sku>#PRICE#<from>
campaign       CAMPAIGN#<code> / CAMPAIGN      CAMPAIGNS / <valid_from>#<code>
=============  ==============================  =============================================

A product and its price history are one partition (one consistent Query); the whole price
book, or one kind of it, is one Query on gsi1 (``PRODUCTS``, ``begins_with <kind>#``). The
campaigns that started by a day are one Query on gsi1 (``CAMPAIGNS``, sk <= the day).

Every change is conditional. A price version is written only if its key is free, together
with the product's ``latest_price_from`` moving on from the value read (so two versions added
at once cannot both pass) and the closing of the version it replaces (only if still open).
``docs/catalog.md`` lists the access patterns.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any

from monosub.domain.pricing import CatalogEntry
from monosub.models.catalog import Campaign, PriceVersion, Product
from monosub.names import CATALOG
from monosub.store.dynamo import Table, from_item, to_value, transact

_table = Table(CATALOG)

# Up to this many SKUs are read one partition each (consistent); more, the whole book (gsi1).
SKUS_READ_ONE_BY_ONE = 25


def _product_pk(sku: str) -> str:
    return f"PRODUCT#{sku}"


def _price_sk(valid_from: dt.date) -> str:
    return f"PRICE#{valid_from.isoformat()}"


def _dump(model: Any) -> dict[str, Any]:
    return dict(model.model_dump(mode="json"))


# ---- products and prices --------------------------------------------------------------------


def product_entry(sku: str) -> CatalogEntry | None:
    """A product and its price versions (oldest first): one consistent Query."""
    product = None
    prices = []
    for item in _query(_product_pk(sku), consistent=True):
        if item["sk"] == "PRODUCT":
            product = Product.model_validate(item)
        else:
            prices.append(PriceVersion.model_validate(item))
    if product is None:
        return None
    return CatalogEntry(product, tuple(sorted(prices, key=lambda v: v.valid_from)))


def entries(skus: Iterable[str]) -> dict[str, CatalogEntry]:
    """The products (with prices) among ``skus``; unknown SKUs are left out."""
    wanted = set(skus)
    if len(wanted) > SKUS_READ_ONE_BY_ONE:
        return {e.product.sku: e for e in price_book() if e.product.sku in wanted}
    found = {}
    for sku in sorted(wanted):
        entry = product_entry(sku)
        if entry is not None:
            found[sku] = entry
    return found


def price_book(kind: str | None = None) -> list[CatalogEntry]:
    """Every product (of ``kind``) with its price versions: one Query on gsi1, paged."""
    products: dict[str, Product] = {}
    prices: dict[str, list[PriceVersion]] = {}
    prefix = f"{kind}#" if kind else None
    for item in _query("PRODUCTS", index="gsi1", sk_prefix=prefix):
        if item["sk"] == "PRODUCT":
            product = Product.model_validate(item)
            products[product.sku] = product
        else:
            version = PriceVersion.model_validate(item)
            prices.setdefault(version.sku, []).append(version)
    return [
        CatalogEntry(product, tuple(sorted(prices.get(sku, []), key=lambda v: v.valid_from)))
        for sku, product in sorted(products.items())
    ]


def create_product(product: Product, first_price: PriceVersion | None) -> None:
    """Write a new product (and its first price), only if the SKU is free.

    Raises ``TransactionConflict`` when the SKU exists."""
    operations = [_table.put_operation(_product_item(product))]
    if first_price is not None:
        operations.append(_table.put_operation(_price_item(first_price, product.kind)))
    transact(operations)


def add_price_version(
    product: Product, version: PriceVersion, *, closes: PriceVersion | None, now: str
) -> None:
    """Write a new price version of ``product`` as read, closing ``closes`` the day before.

    All or nothing, and only if the product's newest version and retirement are still what
    was read, the version's key is free and ``closes`` is still open (else
    ``TransactionConflict``: read again)."""
    operations = [
        _table.update_operation(
            _product_pk(product.sku),
            "PRODUCT",
            set_values={"latest_price_from": version.valid_from.isoformat(), "updated_at": now},
            **_product_unchanged(product),
        ),
        _table.put_operation(_price_item(version, product.kind)),
    ]
    if closes is not None:
        operations.append(
            _table.update_operation(
                _product_pk(product.sku),
                _price_sk(closes.valid_from),
                set_values={"valid_to": (version.valid_from - dt.timedelta(days=1)).isoformat()},
                condition="attribute_exists(pk) AND attribute_not_exists(#valid_to)",
            )
        )
    transact(operations)


def retire_product(
    product: Product, last_day: dt.date, *, shortens: PriceVersion | None, now: str
) -> None:
    """Retire ``product`` (as read) after ``last_day``; its newest version ends then too."""
    operations = [
        _table.update_operation(
            _product_pk(product.sku),
            "PRODUCT",
            set_values={"valid_to": last_day.isoformat(), "updated_at": now},
            **_product_unchanged(product),
        )
    ]
    if shortens is not None:
        if shortens.valid_to is None:
            condition, values = "attribute_exists(pk) AND attribute_not_exists(#valid_to)", {}
        else:
            condition = "#valid_to = :read_valid_to"
            values = {":read_valid_to": shortens.valid_to.isoformat()}
        operations.append(
            _table.update_operation(
                _product_pk(product.sku),
                _price_sk(shortens.valid_from),
                set_values={"valid_to": last_day.isoformat()},
                condition=condition,
                condition_values=values,
            )
        )
    transact(operations)


def _product_unchanged(product: Product) -> dict[str, Any]:
    """Condition: the product exists, is not retired and its newest price is as read."""
    condition = "attribute_exists(pk) AND attribute_not_exists(#valid_to)"
    values = {}
    if product.latest_price_from is None:
        condition += " AND attribute_not_exists(#latest_price_from)"
    else:
        condition += " AND #latest_price_from = :read_latest"
        values[":read_latest"] = product.latest_price_from.isoformat()
    return {"condition": condition, "condition_values": values}


def _product_item(product: Product) -> dict[str, Any]:
    return {
        "pk": _product_pk(product.sku),
        "sk": "PRODUCT",
        "gsi1pk": "PRODUCTS",
        "gsi1sk": f"{product.kind}#{product.sku}#PRODUCT",
        **_dump(product),
    }


def _price_item(version: PriceVersion, kind: str) -> dict[str, Any]:
    return {
        "pk": _product_pk(version.sku),
        "sk": _price_sk(version.valid_from),
        "gsi1pk": "PRODUCTS",
        "gsi1sk": f"{kind}#{version.sku}#PRICE#{version.valid_from.isoformat()}",
        **_dump(version),
    }


# ---- campaigns ------------------------------------------------------------------------------


def get_campaign(code: str) -> Campaign | None:
    item = _table.get(f"CAMPAIGN#{code}", "CAMPAIGN")
    return Campaign.model_validate(item) if item else None


def create_campaign(campaign: Campaign) -> bool:
    """Write a new campaign; False when its code is taken."""
    return _table.put_new(
        {
            "pk": f"CAMPAIGN#{campaign.code}",
            "sk": "CAMPAIGN",
            "gsi1pk": "CAMPAIGNS",
            "gsi1sk": f"{campaign.valid_from.isoformat()}#{campaign.code}",
            **_dump(campaign),
        }
    )


def campaigns(started_by: dt.date | None = None) -> list[Campaign]:
    """Every campaign, or those that started on or before ``started_by`` (the ones that can
    be in force that day), by start: one Query on gsi1, paged."""
    upper = f"{started_by.isoformat()}#\uffff" if started_by is not None else None
    return [
        Campaign.model_validate(item)
        for item in _query("CAMPAIGNS", index="gsi1", sk_at_most=upper)
    ]


# ---- requests -------------------------------------------------------------------------------


def _query(
    pk: str,
    *,
    index: str | None = None,
    sk_prefix: str | None = None,
    sk_at_most: str | None = None,
    consistent: bool = False,
) -> Iterator[dict[str, Any]]:
    """Every item of one partition (of the table or an index), page by page."""
    pk_name, sk_name = ("pk", "sk") if index is None else (f"{index}pk", f"{index}sk")
    request: dict[str, Any] = {
        "TableName": _table.name,
        "KeyConditionExpression": "#pk = :pk",
        "ExpressionAttributeNames": {"#pk": pk_name},
        "ExpressionAttributeValues": {":pk": to_value(pk)},
    }
    if sk_prefix is not None:
        request["KeyConditionExpression"] += " AND begins_with(#sk, :sk)"
    elif sk_at_most is not None:
        request["KeyConditionExpression"] += " AND #sk <= :sk"
    if sk_prefix is not None or sk_at_most is not None:
        request["ExpressionAttributeNames"]["#sk"] = sk_name
        request["ExpressionAttributeValues"][":sk"] = to_value(sk_prefix or sk_at_most)
    if index is not None:
        request["IndexName"] = index
    elif consistent:
        request["ConsistentRead"] = True
    while True:
        response = _table.client.query(**request)
        for item in response.get("Items", []):
            yield from_item(item)
        last = response.get("LastEvaluatedKey")
        if not last:
            return
        request["ExclusiveStartKey"] = last
