"""Kinds ``price-book`` (CSV) and ``campaigns`` (JSON): the catalog loaded from files.

``price-book``: one row per price version of a product; the product's attributes repeat on
each of its rows. Columns (UTF-8 with or without BOM, or cp932)::

    sku, name, kind, acquisition, installation_required, fits_plans,
    monthly_yen, one_time_yen, tax, valid_from, valid_to[, usage_unit, usage_tiers]

``kind`` device/plan/option/service; ``acquisition`` sale/rental (devices);
``installation_required`` true/false (devices); ``fits_plans`` the plan SKUs an option fits,
separated by ``|`` or spaces; amounts in whole yen, tax-exclusive (``39800``, ``39,800`` and
``¥39,800`` are read alike; empty: no such charge); ``tax`` standard/reduced; dates
``YYYY-MM-DD`` (or ``YYYY/MM/DD``), ``valid_to`` inclusive and optional. A metered price
gives ``usage_unit`` (``kWh``) and ``usage_tiers`` written ``120:29.80|300:36.40|:40.49``
(up to how many units : yen per unit, up to 2 decimal places; the last tier has no bound);
its ``monthly_yen``, if any, is the base charge (基本料金).

``campaigns``: a JSON array of campaigns, each as ``POST /campaigns`` takes it
(``docs/catalog.md`` says why JSON). Errors name the line where the campaign starts and the
field (``effect.percent``).

Both are validated whole (every row, with its line) and against the catalog: a product that
exists with other attributes, a price version that would rewrite history, a campaign code
taken by other terms, an unknown SKU. Applying is idempotent by the natural keys (SKU,
SKU + valid_from, campaign code): a retried apply finds what it wrote and writes nothing
twice; a new version closes the open one on the day before it starts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from monosub.domain import pricing
from monosub.domain.text import nfkc
from monosub.errors import Conflict
from monosub.formats.csv_rows import decode, read_csv
from monosub.intake.kinds import (
    ApplyContext,
    FileRejected,
    Parsed,
    Processor,
    RowError,
    register,
)
from monosub.models.catalog import (
    CampaignDraft,
    PriceDraft,
    PriceVersion,
    Product,
    ProductAttributes,
    ProductDraft,
)

PRICE_BOOK_REQUIRED = ("sku", "name", "kind", "tax", "valid_from")
PRICE_BOOK_COLUMNS = (
    *PRICE_BOOK_REQUIRED,
    "acquisition",
    "installation_required",
    "fits_plans",
    "monthly_yen",
    "one_time_yen",
    "valid_to",
    "usage_unit",
    "usage_tiers",
)
PROGRESS_EVERY = 50
# Plans are applied first: an option names the plans it fits, which must exist by then.
_APPLY_ORDER = {"plan": 0, "device": 1, "service": 2, "option": 3}
_TRUE = {"true", "yes", "y", "1", "○", "はい"}
_FALSE = {"false", "no", "n", "0", "×", "いいえ", ""}
_YEN = re.compile(r"[0-9]+")
_UNIT_YEN = re.compile(r"[0-9]+(\.[0-9]+)?")

Lookup = Callable[[Iterable[str]], Mapping[str, pricing.CatalogEntry]]


def _catalog_entries(skus: Iterable[str]) -> Mapping[str, pricing.CatalogEntry]:
    from monosub.store import catalog as store

    return store.entries(skus)


# ---- price-book -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PriceBookRow:
    line: int
    product: ProductAttributes
    price: PriceDraft


def read_price_book(data: bytes) -> Parsed:
    """Every row of a price-book file, checked on its own and against the other rows."""
    return _read_price_book(data)[0]


def _read_price_book(data: bytes) -> tuple[Parsed, dict[str, str]]:
    """The parsed rows, and the kind each SKU of the file is given (valid row or not)."""
    parsed = Parsed()
    kinds: dict[str, str] = {}
    for row in read_csv(data, required=PRICE_BOOK_REQUIRED, optional=PRICE_BOOK_COLUMNS):
        if "__error__" in row.values:
            parsed.errors.append(RowError(row.line, row.values["__error__"]))
            continue
        kinds.setdefault(row.values["sku"], row.values["kind"].lower())
        errors: list[RowError] = []
        values = _price_book_values(row.line, row.values, errors)
        product = _validated(ProductAttributes, row.line, values["product"], errors)
        price = _validated(PriceDraft, row.line, values["price"], errors)
        if errors or product is None or price is None:
            parsed.errors += errors
            continue
        parsed.rows.append(PriceBookRow(row.line, product, price))
    _check_rows_agree(parsed)
    return parsed, kinds


def _price_book_values(
    line: int, raw: Mapping[str, str], errors: list[RowError]
) -> dict[str, dict[str, Any]]:
    def yen(column: str) -> int | None:
        text = nfkc(raw.get(column, "")).replace(",", "").replace("¥", "").strip()
        if not text:
            return None
        if not _YEN.fullmatch(text):
            errors.append(RowError(line, "not a whole yen amount", column, raw[column]))
            return 0  # the row is refused already; no second message for a missing amount
        return int(text)

    flag = nfkc(raw.get("installation_required", "")).strip().lower()
    if flag not in _TRUE | _FALSE:
        errors.append(
            RowError(line, "true or false", "installation_required", raw["installation_required"])
        )
    plans = [p for p in re.split(r"[|\s]+", nfkc(raw.get("fits_plans", ""))) if p]
    product = {
        "sku": raw["sku"],
        "name": raw["name"],
        "kind": raw["kind"].lower(),
        "acquisition": raw.get("acquisition", "").lower() or None,
        "installation_required": flag in _TRUE,
        "fits_plans": plans,
    }
    price = {
        "monthly_yen": yen("monthly_yen"),
        "one_time_yen": yen("one_time_yen"),
        "tax": raw["tax"].lower(),
        "valid_from": raw["valid_from"].replace("/", "-"),
        "valid_to": raw.get("valid_to", "").replace("/", "-") or None,
        "usage_unit": nfkc(raw.get("usage_unit", "")).strip() or None,
        "usage_tiers": _usage_tiers(line, raw.get("usage_tiers", ""), errors),
    }
    return {"product": product, "price": price}


def _usage_tiers(line: int, cell: str, errors: list[RowError]) -> list[dict[str, Any]] | None:
    """``120:29.80|300:36.40|:40.49`` -> tiers for the model, which checks their order and
    places; None for an empty cell. Full-width digits and separators are read alike."""
    text = nfkc(cell).strip()
    if not text:
        return None
    tiers: list[dict[str, Any]] = []
    for part in text.split("|"):
        bound, colon, unit_yen = part.partition(":")
        bound = bound.replace(",", "").strip()
        unit_yen = unit_yen.replace(",", "").replace("¥", "").replace("円", "").strip()
        readable = colon and _UNIT_YEN.fullmatch(unit_yen) and (not bound or _YEN.fullmatch(bound))
        if not readable:
            errors.append(
                RowError(
                    line,
                    f"tier {part.strip()!r} is not up_to:unit_yen "
                    "(tiers like 120:29.80|300:36.40|:40.49, the last without up_to)",
                    "usage_tiers",
                    cell,
                )
            )
            return [{"unit_yen": "0"}]  # the row is refused already: no second message
        tiers.append({"up_to": int(bound) if bound else None, "unit_yen": unit_yen})
    return tiers


def _check_rows_agree(parsed: Parsed) -> None:
    """One SKU has one set of attributes and one version per start day in a file."""
    first: dict[str, PriceBookRow] = {}
    starts: dict[tuple[str, dt.date], int] = {}
    kept = []
    for row in parsed.rows:
        sku = row.product.sku
        earlier = first.setdefault(sku, row)
        if earlier is not row and earlier.product != row.product:
            parsed.errors.append(
                RowError(row.line, f"{sku} has other attributes on line {earlier.line}", "sku")
            )
            continue
        start = starts.setdefault((sku, row.price.valid_from), row.line)
        if start != row.line:
            parsed.errors.append(
                RowError(
                    row.line,
                    f"{sku} has a version from {row.price.valid_from} on line {start} already",
                    "valid_from",
                )
            )
            continue
        kept.append(row)
    parsed.rows = kept


def check_price_book(
    parsed: Parsed, lookup: Lookup, file_kinds: Mapping[str, str] | None = None
) -> Parsed:
    """The rows against the catalog as it is: the plans options name, products that exist,
    and each SKU's price history with the file's versions added in order of start.

    ``file_kinds`` (SKU -> kind on every row of the file, invalid rows included) keeps an
    option whose plan is on an invalid row from being reported as naming an unknown plan."""
    rows: list[PriceBookRow] = parsed.rows
    in_file = {row.product.sku: row.product for row in rows}
    named = set(in_file) | {plan for row in rows for plan in row.product.fits_plans}
    catalog = lookup(named)
    kinds: dict[str, str] = {sku: entry.product.kind for sku, entry in catalog.items()}
    kinds |= dict(file_kinds or {})
    kinds |= {sku: product.kind for sku, product in in_file.items()}
    bad_lines = set()
    for row in rows:
        for index, plan in enumerate(row.product.fits_plans):
            kind = kinds.get(plan)
            if kind != "plan":
                problem = "not in the catalog nor the file" if kind is None else f"a {kind}"
                parsed.errors.append(
                    RowError(row.line, f"{plan} is {problem}", f"fits_plans[{index}]", plan)
                )
                bad_lines.add(row.line)
        existing = catalog.get(row.product.sku)
        if existing is not None and existing.product.attributes() != row.product.attributes():
            parsed.errors.append(
                RowError(
                    row.line,
                    f"{row.product.sku} is in the catalog with other attributes; products "
                    "are never edited (retire it and add a new SKU)",
                    "sku",
                )
            )
            bad_lines.add(row.line)
    for sku in in_file:
        sku_rows = sorted((r for r in rows if r.product.sku == sku), key=_start)
        bad_lines |= _simulate_history(sku_rows, catalog.get(sku), parsed.errors)
    parsed.rows = [row for row in rows if row.line not in bad_lines]
    return parsed


def _start(row: PriceBookRow) -> dt.date:
    return row.price.valid_from


def _simulate_history(
    rows: list[PriceBookRow], entry: pricing.CatalogEntry | None, errors: list[RowError]
) -> set[int]:
    """Add the rows' versions to a copy of the history in memory, as apply will."""
    if entry is None:
        attributes = rows[0].product.model_dump()
        product = Product(
            **attributes, valid_from=rows[0].price.valid_from, **_BOOKKEEPING, updated_at=""
        )
        versions: list[PriceVersion] = []
    else:
        product, versions = entry.product, list(entry.prices)
    bad = set()
    for row in rows:
        try:
            plan = pricing.plan_price_version(product, versions, row.price)
        except Conflict as conflict:
            errors.append(RowError(row.line, conflict.message, "valid_from"))
            bad.add(row.line)
            continue
        if plan.unchanged:
            continue
        if plan.closes is not None:
            closed_on = row.price.valid_from - dt.timedelta(days=1)
            versions = [
                v.model_copy(update={"valid_to": closed_on}) if v is plan.closes else v
                for v in versions
            ]
        versions.append(PriceVersion(**row.price.model_dump(), sku=product.sku, **_BOOKKEEPING))
    return bad


_BOOKKEEPING = {"created_at": "", "created_by": ""}


class PriceBookCsv(Processor):
    kind = "price-book"
    description = (
        "CSV of products and price versions: sku, name, kind, acquisition, "
        "installation_required, fits_plans, monthly_yen, one_time_yen, tax, valid_from, "
        "valid_to, usage_unit, usage_tiers"
    )

    def __init__(self, lookup: Lookup = _catalog_entries) -> None:
        self.lookup = lookup

    def parse(self, data: bytes) -> Parsed:
        parsed, file_kinds = _read_price_book(data)
        check_price_book(parsed, self.lookup, file_kinds)
        parsed.errors.sort(key=lambda e: e.line)
        return parsed

    def apply(self, rows: list[Any], context: ApplyContext) -> dict[str, int]:
        from monosub.services import catalog

        actor = f"run:{context.run_id}"
        by_sku: dict[str, list[PriceBookRow]] = {}
        for row in rows:
            by_sku.setdefault(row.product.sku, []).append(row)
        order = sorted(by_sku, key=lambda s: (_APPLY_ORDER[by_sku[s][0].product.kind], s))
        counts = dict.fromkeys(
            ("products_created", "products_unchanged", "prices_added", "prices_unchanged"), 0
        )
        done = 0
        for sku in order:
            sku_rows = sorted(by_sku[sku], key=_start)
            first = sku_rows[0]
            draft = ProductDraft(**first.product.model_dump(), valid_from=first.price.valid_from)
            _, created = catalog.create_product(
                draft, actor=actor, source=_source(context, first.line), match_offered_from=False
            )
            counts["products_created" if created else "products_unchanged"] += 1
            for row in sku_rows:
                _, added = catalog.add_price(
                    sku, row.price, actor=actor, source=_source(context, row.line)
                )
                counts["prices_added" if added else "prices_unchanged"] += 1
                done += 1
                if done % PROGRESS_EVERY == 0:
                    context.progress(counts)
        return counts


def _source(context: ApplyContext, line: int) -> str:
    return f"s3://{context.bucket}/{context.key}#line={line}"


# ---- campaigns ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CampaignRow:
    line: int
    campaign: CampaignDraft


def read_campaigns(data: bytes) -> Parsed:
    """Every campaign of a campaigns file, each checked, with the line where it starts."""
    text = decode(data, ("utf-8-sig",))
    if not text.strip():
        raise FileRejected("empty_file", "the file is empty")
    elements = json_array_elements(text)
    if not elements:
        raise FileRejected("empty_file", "the file lists no campaigns")
    parsed = Parsed()
    seen: dict[str, int] = {}
    for line, value in elements:
        errors: list[RowError] = []
        code = value.get("code") if isinstance(value, dict) else None
        earlier = seen.setdefault(code, line) if isinstance(code, str) else line
        if earlier != line:
            errors.append(RowError(line, f"campaign {code} is on line {earlier} already", "code"))
        campaign = _validated(CampaignDraft, line, value, errors)
        if errors or campaign is None:
            parsed.errors += errors
            continue
        parsed.rows.append(CampaignRow(line, campaign))
    return parsed


def check_campaigns(
    parsed: Parsed, lookup: Lookup, existing: Callable[[str], CampaignDraft | None]
) -> Parsed:
    """The campaigns against the catalog: SKUs that exist, codes not taken by other terms."""
    from monosub.services.catalog import campaign_sku_errors

    rows: list[CampaignRow] = parsed.rows
    known = set(lookup({sku for row in rows for sku in row.campaign.target_skus()}))
    kept = []
    for row in rows:
        problems = [
            RowError(row.line, e["message"], e["field"])
            for e in campaign_sku_errors(row.campaign, known)
        ]
        stored = existing(row.campaign.code)
        if stored is not None and stored.terms() != row.campaign.terms():
            problems.append(
                RowError(
                    row.line,
                    f"campaign {row.campaign.code} exists with other terms; campaigns are "
                    "never edited: give the new offer a new code",
                    "code",
                )
            )
        parsed.errors += problems
        if not problems:
            kept.append(row)
    parsed.rows = kept
    return parsed


def _stored_campaign(code: str) -> CampaignDraft | None:
    from monosub.store import catalog as store

    return store.get_campaign(code)


class CampaignsJson(Processor):
    kind = "campaigns"
    description = "JSON array of campaigns, each as POST /campaigns takes it"

    def __init__(
        self,
        lookup: Lookup = _catalog_entries,
        existing: Callable[[str], CampaignDraft | None] = _stored_campaign,
    ) -> None:
        self.lookup = lookup
        self.existing = existing

    def parse(self, data: bytes) -> Parsed:
        parsed = check_campaigns(read_campaigns(data), self.lookup, self.existing)
        parsed.errors.sort(key=lambda e: e.line)
        return parsed

    def apply(self, rows: list[Any], context: ApplyContext) -> dict[str, int]:
        from monosub.services import catalog

        counts = {"campaigns_created": 0, "campaigns_unchanged": 0}
        for done, row in enumerate(rows, start=1):
            _, created = catalog.create_campaign(
                row.campaign, actor=f"run:{context.run_id}", source=_source(context, row.line)
            )
            counts["campaigns_created" if created else "campaigns_unchanged"] += 1
            if done % PROGRESS_EVERY == 0:
                context.progress(counts)
        return counts


# ---- shared ---------------------------------------------------------------------------------


def json_array_elements(text: str) -> list[tuple[int, Any]]:
    """The elements of a JSON array with the line where each starts."""
    decoder = json.JSONDecoder()
    elements: list[tuple[int, Any]] = []

    def skip(i: int) -> int:
        while i < len(text) and text[i] in " \t\r\n":
            i += 1
        return i

    def rejected(i: int, message: str) -> FileRejected:
        line = text.count("\n", 0, i) + 1
        return FileRejected("malformed_json", f"line {line}: {message}")

    i = skip(0)
    if i >= len(text) or text[i] != "[":
        raise rejected(i, "the file is a JSON array of campaigns: [ {...}, {...} ]")
    i = skip(i + 1)
    if i < len(text) and text[i] == "]":
        i = skip(i + 1)
    else:
        while True:
            try:
                value, end = decoder.raw_decode(text, i)
            except json.JSONDecodeError as error:
                raise FileRejected("malformed_json", f"line {error.lineno}: {error.msg}") from None
            elements.append((text.count("\n", 0, i) + 1, value))
            i = skip(end)
            if i < len(text) and text[i] == ",":
                i = skip(i + 1)
                continue
            if i < len(text) and text[i] == "]":
                i = skip(i + 1)
                break
            raise rejected(i, "expected , or ] after a campaign")
    if i < len(text):
        raise rejected(i, "unexpected text after the array")
    return elements


def _validated(model: Any, line: int, values: Any, errors: list[RowError]) -> Any:
    try:
        return model.model_validate(values)
    except ValidationError as error:
        for problem in error.errors():
            field = _field_path(problem["loc"])
            value = problem.get("input")
            errors.append(
                RowError(
                    line=line,
                    field=field,
                    message=str(problem["msg"]).removeprefix("Value error, "),
                    value=str(value)[:200] if field and not isinstance(value, dict) else None,
                )
            )
        return None


_EFFECT_TYPES = {"percent", "fixed", "free_months", "bundle"}


def _field_path(location: Iterable[Any]) -> str | None:
    """('eligibility', 'skus', 0) -> 'eligibility.skus[0]'; the effect's type tag is left out."""
    parts = list(location)
    if len(parts) > 2 and parts[0] == "effect" and parts[1] in _EFFECT_TYPES:
        del parts[1]
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else ("." if path else "") + str(part)
    return path or None


register(PriceBookCsv())
register(CampaignsJson())
