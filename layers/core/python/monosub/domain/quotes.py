"""Quote rules: what a deal's lines become on a quote, the manual discount and who may give
it, and the two faces of a priced quote (the 見積書 document and the consent page).

Pure: the priced result of the price book and campaigns (``monosub.domain.pricing``) in,
plain values out or a domain error. Nothing here touches AWS.

**Manual discount limits.** A rep may take up to their role's share of the price off (the
share of each billing kind's price after campaigns, rounded up to a whole percent: the
larger of the one-time and the monthly share counts). Above it, the quote waits for a manager
whose limit covers it; above every limit it is refused.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from monosub.consent.models import ConsentDocument, ConsentLine
from monosub.documents.model import (
    Billing,
    Discount,
    Issuer,
    Line,
    Recipient,
    TaxRate,
    TaxSubtotal,
)
from monosub.documents.model import Quote as QuoteDocument
from monosub.domain.pricing import allocate
from monosub.domain.tax import TAX_RATE_PERCENT, Rounding, TaxCategory, tax_on
from monosub.errors import Conflict, Forbidden, ValidationFailed
from monosub.models.catalog import PricedItem, PricedResult, PricingLine
from monosub.models.deals import DealLine
from monosub.models.quotes import ManualDiscount

# The share of the price (percent) a role may take off by itself.
DISCOUNT_LIMITS: dict[str, int] = {
    "agency": 5,
    "sales": 10,
    "regional-manager": 30,
    "corporate-manager": 30,
}
APPROVERS = frozenset({"regional-manager", "corporate-manager"})
HIGHEST_LIMIT = max(DISCOUNT_LIMITS.values())

MANUAL_DISCOUNT_NAME = "特別値引き"
UNITS = {"device": "台", "plan": "件", "option": "件", "service": "式"}
BILLING_NAMES: dict[Billing, str] = {"one_time": "初期費用", "monthly": "月額費用"}
STANDARD_TERMS = (
    "本見積の有効期限までにご同意いただいた場合に有効です。\n"
    "表示金額は税抜です。消費税は税率ごとに合計して計算します。\n"
    "月額費用は機器の出荷日（設置工事を伴う場合は工事完了日）から発生します。\n"
    "契約期間満了の30日前までにお申し出がない場合、同一条件で自動更新されます。"
)


# ---- the deal's lines, as pricing lines ----------------------------------------------------


def pricing_lines(lines: Sequence[DealLine]) -> list[PricingLine]:
    """A deal line is a device (if any) and a plan with its options, each × quantity."""
    priced: list[PricingLine] = []
    for line in lines:
        if line.device_sku:
            priced.append(PricingLine(sku=line.device_sku, quantity=line.quantity))
        priced.append(
            PricingLine(sku=line.plan_sku, quantity=line.quantity, options=line.option_skus)
        )
    return priced


def pricing_field(field: str, lines: Sequence[DealLine]) -> str:
    """A pricing error's field (``lines[3].options[0]`` of the pricing lines) as the
    deal's field (``lines[1].option_skus[0]``)."""
    position = 0
    for index, line in enumerate(lines):
        names = (["device_sku"] if line.device_sku else []) + ["plan_sku"]
        for name in names:
            prefix = f"lines[{position}]"
            if field == prefix or field.startswith(prefix + ".sku"):
                return f"lines[{index}].{name}"
            if field.startswith(prefix + ".options"):
                return f"lines[{index}].option_skus" + field.removeprefix(prefix + ".options")
            if field.startswith(prefix + "."):
                return f"lines[{index}]" + field.removeprefix(prefix)
            position += 1
    return field


# ---- the manual discount and its limit -----------------------------------------------------


def regular_month(priced: PricedResult) -> int:
    """The tax-exclusive charge of a regular month: the last period of the term (limited
    campaigns such as free months are over by then)."""
    return priced.monthly[-1].subtotal_yen if priced.monthly else 0


def discount_share(discount: ManualDiscount, priced: PricedResult) -> int:
    """The larger share (percent, rounded up) of one-time and monthly price the discount
    takes off. ``ValidationFailed`` when it takes off more than there is."""
    problems = []
    shares = [0]
    for field, amount, base in (
        ("manual_discount.one_time_yen", discount.one_time_yen, priced.one_time.subtotal_yen),
        ("manual_discount.monthly_yen", discount.monthly_yen, regular_month(priced)),
    ):
        if amount == 0:
            continue
        if amount > base:
            problems.append({"field": field, "message": f"more than the price ({base} yen)"})
            continue
        shares.append(math.ceil(amount * 100 / base))
    if problems:
        raise ValidationFailed("the manual discount is larger than the price", details=problems)
    return max(shares)


def own_limit(groups: Iterable[str]) -> int:
    return max((DISCOUNT_LIMITS.get(group, 0) for group in groups), default=0)


def needs_approval(share: int, groups: Iterable[str]) -> bool:
    """True when ``share`` is above the creator's own limit. ``ValidationFailed`` when it
    is above every limit (nobody could approve it)."""
    if share > HIGHEST_LIMIT:
        raise ValidationFailed(
            f"a manual discount of {share}% is above the highest limit ({HIGHEST_LIMIT}%)",
            details=[
                {
                    "field": "manual_discount",
                    "message": f"at most {HIGHEST_LIMIT}% of the price after campaigns",
                }
            ],
        )
    return share > own_limit(groups)


def check_approver(share: int, groups: Iterable[str], *, user: str, creator: str) -> None:
    """A manager (not the creator) whose own limit covers ``share``."""
    groups = frozenset(groups)
    if not groups & APPROVERS:
        raise Forbidden("only a regional or corporate manager approves a discount")
    if user == creator:
        raise Forbidden("a discount is approved by someone other than who gave it")
    if own_limit(groups) < share:
        raise Forbidden(f"your limit ({own_limit(groups)}%) does not cover {share}%")


def check_status(quote_id: str, status: str, allowed: Iterable[str], action: str) -> None:
    allowed = tuple(allowed)
    if status not in allowed:
        raise Conflict(
            f"quote {quote_id} is {status}: it cannot be {action}",
            details={"status": status, "allowed_from": list(allowed)},
        )


def check_version(quote_id: str, expected: int, current: int) -> None:
    if expected != current:
        raise Conflict(
            f"quote {quote_id} is at version {current}, not {expected}: read it again",
            details={"expected_version": expected, "version": current},
        )


def quote_number(year: int, sequence: int) -> str:
    return f"Q{year}-{sequence:06d}"


# ---- the document --------------------------------------------------------------------------


@dataclass
class _Row:
    """One printed line with what reduces it."""

    line: Line
    regular_discount: int = 0  # campaigns without a period
    notes: tuple[str, ...] = ()


def _rows_of(item: PricedItem, term: int) -> tuple[list[_Row], list[Discount]]:
    rows: list[_Row] = []
    discounts: list[Discount] = []
    rate = TAX_RATE_PERCENT[item.tax]
    unit = UNITS.get(item.kind, "")
    for billing, unit_price, list_price in (
        ("one_time", item.unit_one_time_yen, item.list_one_time_yen),
        ("monthly", item.unit_monthly_yen, item.list_monthly_yen),
    ):
        if unit_price is None:
            continue
        row = _Row(
            Line(
                name=item.name,
                note=item.sku,
                quantity=item.quantity,
                unit=unit,
                unit_price=unit_price,
                amount=list_price,
                billing=billing,
                tax_rate=rate,
            )
        )
        notes: list[str] = []
        for effect in item.effects:
            if billing == "one_time" and effect.one_time_discount_yen:
                amount = effect.one_time_discount_yen
                discounts.append(
                    _discount(
                        effect.name,
                        applies_to=item.name,
                        billing="one_time",
                        rate=rate,
                        list_price=list_price,
                        amount=amount,
                    )
                )
                row.regular_discount += amount
                notes.append(effect.name)
            if billing == "monthly":
                for period in effect.monthly_discount:
                    months = period.to_month - period.from_month + 1
                    whole_term = period.from_month == 1 and period.to_month >= term
                    discounts.append(
                        _discount(
                            effect.name,
                            applies_to=item.name,
                            billing="monthly",
                            rate=rate,
                            list_price=list_price,
                            amount=period.yen,
                            months=None if whole_term else months,
                        )
                    )
                    if whole_term:
                        row.regular_discount += period.yen
                        notes.append(effect.name)
                    else:
                        notes.append(
                            f"{effect.name}（{_months(period.from_month, period.to_month)}）"
                        )
        row.notes = tuple(notes)
        rows.append(row)
    return rows, discounts


def _months(first: int, last: int) -> str:
    return f"{first}ヶ月目" if first == last else f"{first}〜{last}ヶ月目"


def _discount(
    name: str,
    *,
    applies_to: str,
    billing: Billing,
    rate: int,
    list_price: int,
    amount: int,
    months: int | None = None,
) -> Discount:
    return Discount(
        name=name,
        applies_to=applies_to,
        billing=billing,
        tax_rate=rate,
        list_price=list_price,
        discount=amount,
        discounted_price=list_price - amount,
        months=months,
    )


@dataclass(frozen=True)
class PricedQuote:
    """A quote's two faces: the document and the consent page's lines."""

    document: QuoteDocument
    consent_lines: tuple[ConsentLine, ...]


def price_document(
    priced: PricedResult,
    manual: ManualDiscount | None,
    *,
    number: str,
    version: int,
    issue_date: date,
    valid_until: date,
    issuer: Issuer,
    recipient: Recipient,
    subject: str,
    terms: str,
    rounding: Rounding,
) -> PricedQuote:
    """The 見積書 of a priced result with the manual discount, and the same figures line
    by line for the consent page (each line's list price, its discount: campaigns without a
    period plus its share of the manual discount, and the discounted price)."""
    if manual is not None:
        discount_share(manual, priced)  # refuses a discount larger than the price
    rows: list[_Row] = []
    discounts: list[Discount] = []
    for priced_line in priced.lines:
        for item in (priced_line, *priced_line.options):
            item_rows, item_discounts = _rows_of(item, priced.term_months)
            rows += item_rows
            discounts += item_discounts
    manual_shares: dict[int, int] = {}
    if manual is not None:
        for billing, amount in (("one_time", manual.one_time_yen), ("monthly", manual.monthly_yen)):
            if not amount:
                continue
            weights = {
                f"{index:04d}": row.line.amount - row.regular_discount
                for index, row in enumerate(rows)
                if row.line.billing == billing
            }
            for key, share in allocate(amount, weights).items():
                manual_shares[int(key)] = share
            by_rate: dict[TaxRate, int] = {}  # manual discount per tax rate
            net_by_rate: dict[TaxRate, int] = {}
            for index, row in enumerate(rows):
                if row.line.billing == billing:
                    tax_rate = row.line.tax_rate
                    by_rate[tax_rate] = by_rate.get(tax_rate, 0) + manual_shares.get(index, 0)
                    net = row.line.amount - row.regular_discount
                    net_by_rate[tax_rate] = net_by_rate.get(tax_rate, 0) + net
            for tax_rate, share in sorted(by_rate.items(), reverse=True):
                if share:
                    discounts.append(
                        _discount(
                            MANUAL_DISCOUNT_NAME,
                            applies_to=BILLING_NAMES[billing],  # type: ignore[index]
                            billing=billing,  # type: ignore[arg-type]
                            rate=tax_rate,
                            list_price=net_by_rate[tax_rate],
                            amount=share,
                        )
                    )
    subtotals = _tax_subtotals(rows, manual_shares, rounding)
    document = QuoteDocument(
        number=number,
        version=version,
        issue_date=issue_date,
        valid_until=valid_until,
        issuer=issuer,
        recipient=recipient,
        subject=subject,
        terms=terms,
        lines=tuple(row.line for row in rows),
        discounts=tuple(discounts),
        tax_subtotals=subtotals,
        one_time_total=sum(s.total for s in subtotals if s.billing == "one_time"),
        monthly_total=sum(s.total for s in subtotals if s.billing == "monthly"),
    )
    consent_lines = tuple(
        ConsentLine(
            name=row.line.name,
            quantity=row.line.quantity,
            unit=row.line.unit,
            unit_list_price=row.line.unit_price,
            list_price=row.line.amount,
            discount=row.regular_discount + manual_shares.get(index, 0),
            discounted_price=row.line.amount - row.regular_discount - manual_shares.get(index, 0),
            billing=row.line.billing,
            note="、".join(
                (*row.notes, MANUAL_DISCOUNT_NAME) if manual_shares.get(index) else row.notes
            )[:200]
            or None,
        )
        for index, row in enumerate(rows)
    )
    return PricedQuote(document=document, consent_lines=consent_lines)


_CATEGORY_OF_RATE: dict[int, TaxCategory] = {rate: cat for cat, rate in TAX_RATE_PERCENT.items()}


def _tax_subtotals(
    rows: Sequence[_Row], manual_shares: dict[int, int], rounding: Rounding
) -> tuple[TaxSubtotal, ...]:
    bases: dict[tuple[Billing, TaxRate], int] = {}
    for index, row in enumerate(rows):
        key = (row.line.billing, row.line.tax_rate)
        net = row.line.amount - row.regular_discount - manual_shares.get(index, 0)
        bases[key] = bases.get(key, 0) + net
    return tuple(
        TaxSubtotal(
            billing=billing,
            rate=rate,
            taxable_amount=base,
            tax=tax_on(base, _CATEGORY_OF_RATE[rate], rounding),
        )
        for (billing, rate), base in sorted(
            bases.items(), key=lambda kv: (kv[0][0] != "one_time", -kv[0][1])
        )
    )


def consent_document(
    document: QuoteDocument,
    lines: Sequence[ConsentLine],
    *,
    title: str = "お見積り内容のご確認",
    pdf_key: str | None = None,
    reference: str | None = None,
    terms_after: str | None = None,
) -> ConsentDocument:
    """What the customer sees on the page: the lines with list price, discount and
    discounted price, the tax-inclusive totals and the terms."""
    issuer = document.issuer
    contact = " ".join(p for p in (issuer.department, issuer.person, issuer.phone) if p)
    recipient = document.recipient
    addressed = (
        f"{recipient.company} {recipient.person} 様"
        if recipient.person
        else f"{recipient.company} 御中"
    )
    totals = [f"初期費用 合計（税込）: {document.one_time_total:,}円"]
    if any(line.billing == "monthly" for line in document.lines):
        totals.append(f"月額費用 合計（税込・通常月）: {document.monthly_total:,}円")
    limited = [d for d in document.discounts if d.limited]
    campaign_notes = [
        f"{d.name}: {d.applies_to} {d.months}ヶ月間 月{d.discount:,}円引き" for d in limited
    ]
    terms = "\n".join(
        [
            *totals,
            *campaign_notes,
            f"見積有効期限: {document.valid_until.isoformat()}",
            "",
            document.terms,
            *(["", terms_after] if terms_after else []),
        ]
    )
    return ConsentDocument(
        title=title,
        issuer=issuer.name,
        issuer_contact=contact or None,
        recipient=addressed[:200],
        reference=reference or f"{document.number} 第{document.version}版",
        issued_on=document.issue_date,
        lines=tuple(lines),
        price_basis="tax_excluded",
        terms=terms[:10_000],
        pdf_key=pdf_key,
    )
