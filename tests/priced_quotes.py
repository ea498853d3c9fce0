"""Accepted quotes for tests: a deal's lines priced by the real pricing rules on a small
catalog held in memory, turned into the ``documents.Quote`` the customer saw (every figure
checked by that model), wrapped in a ``models.Quote`` version.

The quote service (which makes quotes from deals in the application) is not needed: this
builds what it would hand to ``services.contracts``.
"""

from __future__ import annotations

import datetime as dt
import json
import zlib
from pathlib import Path
from typing import Any

from monosub import ids
from monosub.documents.model import Issuer, Recipient
from monosub.domain import pricing
from monosub.domain import quotes as quote_rules
from monosub.domain.pricing import CatalogEntry
from monosub.models.catalog import PricedResult, PriceVersion, PricingRequest, Product
from monosub.models.deals import DealLine
from monosub.models.quotes import Quote

SAMPLE = Path(__file__).resolve().parent / "data" / "documents" / "quote-camera.json"
CATALOG_START = dt.date(2020, 1, 1)

# SKU: (name, kind, one-time yen, monthly yen, tax)
PRODUCTS: dict[str, tuple[str, str, int | None, int | None, str]] = {
    "CAM-ONE": ("カメラ本体 MS-CAM2", "device", 39800, None, "standard"),
    "PLAN-30D": ("録画プラン30日", "plan", None, 980, "standard"),
    "PLAN-7D": ("録画プラン7日", "plan", None, 500, "standard"),
    "OPT-MIC": ("マイクオプション", "option", None, 200, "standard"),
}


def catalog() -> dict[str, CatalogEntry]:
    entries = {}
    for sku, (name, kind, one_time, monthly, tax) in PRODUCTS.items():
        product = Product.model_validate(
            {
                "sku": sku,
                "name": name,
                "kind": kind,
                "acquisition": "sale" if kind == "device" else None,
                "fits_plans": ["PLAN-30D", "PLAN-7D"] if kind == "option" else [],
                "valid_from": CATALOG_START,
                "created_at": "2019-12-01T00:00:00Z",
                "created_by": "test",
                "updated_at": "2019-12-01T00:00:00Z",
            }
        )
        price = PriceVersion.model_validate(
            {
                "sku": sku,
                "valid_from": CATALOG_START,
                "one_time_yen": one_time,
                "monthly_yen": monthly,
                "tax": tax,
                "created_at": "2019-12-01T00:00:00Z",
                "created_by": "test",
            }
        )
        entries[sku] = CatalogEntry(product, (price,))
    return entries


def deal_lines(cameras: int = 3, plan: str = "PLAN-30D", mic: bool = True) -> list[DealLine]:
    return [
        DealLine(
            line_id="line_camera",
            device_sku="CAM-ONE",
            plan_sku=plan,
            option_skus=["OPT-MIC"] if mic else [],
            quantity=cameras,
        )
    ]


def price(lines: list[DealLine], day: dt.date, segment: str, term_months: int) -> PricedResult:
    requested: list[dict[str, Any]] = []
    for line in lines:
        if line.device_sku:
            requested.append({"sku": line.device_sku, "quantity": line.quantity})
        requested.append(
            {"sku": line.plan_sku, "quantity": line.quantity, "options": line.option_skus}
        )
    request = PricingRequest.model_validate(
        {
            "date": day,
            "segment": segment,
            "channel": "direct",
            "term_months": term_months,
            "lines": requested,
        }
    )
    return pricing.price(request, catalog(), [])


def quote_faces(
    priced: PricedResult, *, number: str, version: int, company: str, valid_days: int = 30
) -> quote_rules.PricedQuote:
    """The 見積書 of ``priced`` and its consent lines, as the quotes service makes them."""
    sample = json.loads(SAMPLE.read_text(encoding="utf-8"))
    return quote_rules.price_document(
        priced,
        None,
        number=number,
        version=version,
        issue_date=priced.date,
        valid_until=priced.date + dt.timedelta(days=valid_days),
        issuer=Issuer.model_validate(sample["issuer"]),
        recipient=Recipient(company=company, department="総務部", person="山田 太郎"),
        subject="店舗防犯カメラ導入",
        terms=sample["terms"],
        rounding=priced.tax_rounding,
    )


def priced_quote(
    *,
    quote_date: dt.date = dt.date(2026, 11, 2),
    account_id: str = "account_test",
    deal_id: str | None = None,
    contact_id: str = "contact_test",
    segment: str = "corporate",
    owner: str = "suzuki",
    agency_id: str | None = None,
    company: str = "株式会社さくら警備保障",
    term_months: int = 12,
    lines: list[DealLine] | None = None,
    quote_id: str | None = None,
    version: int = 1,
    purpose: str = "order",
    contract_id: str | None = None,
    status: str = "accepted",
) -> Quote:
    """An accepted quote version whose document is priced by the real pricing rules."""
    lines = lines or deal_lines()
    priced = price(lines, quote_date, segment, term_months)
    quote_id = quote_id or ids.new_id("quote")
    number = f"Q{quote_date.year}-{zlib.crc32(quote_id.encode()) % 1_000_000:06d}"
    faces = quote_faces(priced, number=number, version=version, company=company)
    document = faces.document
    return Quote(
        quote_id=quote_id,
        version=version,
        number=number,
        purpose=purpose,  # type: ignore[arg-type]
        status=status,  # type: ignore[arg-type]
        deal_id=deal_id or ids.new_id("deal"),
        account_id=account_id,
        contact_id=contact_id,
        contract_id=contract_id,
        owner=owner,
        agency_id=agency_id,
        segment=segment,  # type: ignore[arg-type]
        channel="direct",
        quote_date=quote_date,
        valid_until=document.valid_until,
        term_months=term_months,
        lines=lines,
        priced=priced,
        document=document,
        consent_lines=faces.consent_lines,
        terms=document.terms,
        created_by=owner,
        created_at=f"{quote_date.isoformat()}T01:00:00Z",
        updated_at=f"{quote_date.isoformat()}T01:00:00Z",
    )


def renewal_of(
    contract: Any, *, quote_date: dt.date, term_months: int = 12, **fields: Any
) -> Quote:
    """An accepted renewal quote for ``contract`` (a ``models.contracts.Contract``)."""
    return priced_quote(
        quote_date=quote_date,
        account_id=contract.account_id,
        deal_id=contract.deal_id,
        segment=contract.segment,
        owner=contract.owner,
        agency_id=contract.agency_id,
        company=contract.customer_name,
        term_months=term_months,
        purpose="renewal",
        contract_id=contract.contract_id,
        **fields,
    )
