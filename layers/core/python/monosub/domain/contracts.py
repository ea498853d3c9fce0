"""Contracts (契約) without AWS: the dates of a term, the notice date, which renewals are due
on a day, the next term, what happens when a term is over, and the 契約書 made from an
accepted quote.

**The dates rule** (the rule of 民法第143条 for periods counted in months): a term of ``n``
months that starts on day ``d`` ends on the day before the day numbered ``d`` in the month
``n`` months later; when that month has no such day (the 29th to 31st), the term ends on
that month's last day.

=========================  ==========  =============
start                      term        ends
=========================  ==========  =============
2026-04-01                 12 months   2027-03-31
2026-04-15                 12 months   2027-04-14
2026-01-31                 1 month     2026-02-28   (no 31 February: its last day)
2028-01-31                 1 month     2028-02-29
2026-01-29                 1 month     2026-02-28   (no 29 February 2026)
2028-01-29                 1 month     2028-02-28   (29 February 2028 exists: the day before)
2026-03-31                 1 month     2026-04-30
=========================  ==========  =============

So a term is never shorter than the months it names less the missing days, terms follow each
other without a gap or an overlap (the next starts the day after one ends), and a contract
started on the 1st always ends on a month end. A renewal's term is counted from its own
start (the day after the previous end), never from the first start.

The **notice date** (解約予告期限) is ``notice_days`` before the end: the last day on which the
customer may still stop the automatic renewal. A renewal quote is **due** from
``lead_days`` before the notice date until the term ends (a day the schedule missed is
caught up the next day), once per term.

A term is **over** on the day after its end. An active contract whose term is over either
**ends** (the customer gave notice, or it does not renew automatically) or **renews
automatically** for another term of the same months on the same terms (no renewal quote was
accepted before the end: an accepted one would have moved the end already).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Literal

from monosub.documents.model import Article
from monosub.documents.model import Contract as ContractDocument

if TYPE_CHECKING:
    from monosub.models.quotes import Quote

DEFAULT_NOTICE_DAYS = 30
MAX_NOTICE_DAYS = 180
MAX_TERM_MONTHS = 120
RENEWAL_LEAD_DAYS = 30
SERVICE_NAME = "monosub 見守りカメラサービス"

# Why a contract ended with its term: the customer's notice, or it was not to renew anyway.
EndReason = Literal["notice", "no-auto-renew"]

# 支払方法 as the contract prints it (the deal's payment method).
PAYMENT_METHOD_LABELS: dict[str, str] = {
    "card": "クレジットカード",
    "direct-debit": "口座振替",
    "bank-transfer": "銀行振込",
    "convenience-store": "コンビニエンスストア払い",
}


# ---- dates ---------------------------------------------------------------------------------


def month_offset(year: int, month: int, months: int) -> tuple[int, int]:
    """(year, month) ``months`` later (or earlier, when negative)."""
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def term_end(start: date, months: int) -> date:
    """The last day of a term of ``months`` months starting on ``start`` (see the module)."""
    if months < 1:
        raise ValueError("a term is at least one month")
    year, month = month_offset(start.year, start.month, months)
    last = calendar.monthrange(year, month)[1]
    if start.day > last:
        return date(year, month, last)
    return date(year, month, start.day) - timedelta(days=1)


def notice_date(end: date, notice_days: int) -> date:
    """The last day the customer may give notice (stop the automatic renewal)."""
    if not 0 <= notice_days <= MAX_NOTICE_DAYS:
        raise ValueError(f"notice_days is 0 to {MAX_NOTICE_DAYS}")
    return end - timedelta(days=notice_days)


@dataclass(frozen=True)
class TermDates:
    start: date
    end: date
    notice: date
    months: int


def term_dates(start: date, months: int, notice_days: int) -> TermDates:
    end = term_end(start, months)
    return TermDates(start=start, end=end, notice=notice_date(end, notice_days), months=months)


def next_term(current_end: date, months: int, notice_days: int) -> TermDates:
    """The renewal term: from the day after the current end, for ``months`` months."""
    return term_dates(current_end + timedelta(days=1), months, notice_days)


def months_between(first: date, last: date) -> list[str]:
    """Every month ``YYYY-MM`` from ``first``'s to ``last``'s, in order (empty if reversed)."""
    months = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = month_offset(year, month, 1)
    return months


# ---- renewals and notice -------------------------------------------------------------------


@dataclass(frozen=True)
class RenewalCandidate:
    """What decides whether a contract's renewal quote is due."""

    contract_id: str
    status: str
    auto_renew: bool
    notice_given: bool
    end_date: date | None
    notice_date: date | None
    requested_for: date | None = None  # the term end a renewal quote was requested for


def renewal_due(candidate: RenewalCandidate, day: date, lead_days: int = RENEWAL_LEAD_DAYS) -> bool:
    """True when ``day`` should request the renewal quote of the candidate's current term:
    an active contract that renews automatically, without notice, not requested for this
    term yet, from ``lead_days`` before its notice date until its term ends."""
    if candidate.status != "active" or not candidate.auto_renew or candidate.notice_given:
        return False
    if candidate.end_date is None or candidate.notice_date is None:
        return False
    if candidate.requested_for == candidate.end_date:
        return False
    return candidate.notice_date - timedelta(days=lead_days) <= day <= candidate.end_date


def due_renewals(
    candidates: Iterable[RenewalCandidate], day: date, lead_days: int = RENEWAL_LEAD_DAYS
) -> list[RenewalCandidate]:
    return [c for c in candidates if renewal_due(c, day, lead_days)]


def renewal_notice_window(day: date, lead_days: int = RENEWAL_LEAD_DAYS) -> tuple[date, date]:
    """The notice dates among which ``day`` may find a due renewal: a contract still in its
    term has its notice date at most ``MAX_NOTICE_DAYS`` before its end (so not earlier
    than ``day - MAX_NOTICE_DAYS``), and is due once ``day`` reaches ``lead_days`` before
    its notice date (so not later than ``day + lead_days``)."""
    return day - timedelta(days=MAX_NOTICE_DAYS), day + timedelta(days=lead_days)


def term_over(candidate: RenewalCandidate, day: date) -> bool:
    """True when the active contract's current term ended before ``day``: the daily run of
    ``day`` ends it or renews it automatically (a day the run missed is caught up later,
    since every earlier end is before a later day too)."""
    return (
        candidate.status == "active" and candidate.end_date is not None and candidate.end_date < day
    )


def end_reason(candidate: RenewalCandidate) -> EndReason | None:
    """Why a contract whose term is over ends (None: it renews automatically). Notice comes
    first: a notice also turns automatic renewal off, and the customer's act is the reason."""
    if candidate.notice_given:
        return "notice"
    if not candidate.auto_renew:
        return "no-auto-renew"
    return None


def notice_still_possible(day: date, notice: date | None) -> bool:
    """The customer may give notice up to and including the notice date."""
    return notice is not None and day <= notice


# ---- numbering -----------------------------------------------------------------------------


def contract_number(year: int, sequence: int) -> str:
    """契約番号: ``C2026-000001`` (a counter per year of the contract date)."""
    if sequence < 1:
        raise ValueError("contract numbers start at 1")
    return f"C{year:04d}-{sequence:06d}"


# ---- the 契約書 ----------------------------------------------------------------------------


def standard_articles(*, auto_renew: bool, notice_days: int) -> tuple[Article, ...]:
    """The clauses of the service contract in force (legal owns the wording), with the term
    and renewal clause filled from the contract's own settings."""
    if auto_renew:
        renewal = (
            "1. 本契約の契約期間は、利用開始日から最低利用期間が満了する日までとする。\n"
            f"2. 期間満了日の{notice_days}日前までに甲又は乙から別段の申出がないときは、"
            "本契約は同一期間、乙が提示する更新時の条件により更新されるものとし、以後も同様とする。"
        )
    else:
        renewal = (
            "本契約の契約期間は、利用開始日から最低利用期間が満了する日までとし、"
            "期間満了をもって終了する。"
        )
    return (
        Article(
            title="目的",
            body="乙は、本契約に定める条件に従い、甲に対し本サービスを提供し、"
            "甲はその対価を乙に支払う。",
        ),
        Article(title="契約期間及び更新", body=renewal),
        Article(
            title="利用料金",
            body="1. 甲は、本契約書記載の初期費用及び月額費用（消費税等を含む。）を乙に支払う。\n"
            "2. 月額費用は利用開始日の属する月から発生する。ただし、キャンペーンの適用期間中は、"
            "本契約書記載の割引後の金額とする。\n"
            "3. 月の途中で利用を開始した場合の当月の月額費用は、日割り計算とする。",
        ),
        Article(
            title="支払方法",
            body="甲は、乙が毎月末日に締めて発行する請求書に基づき、"
            "本契約書記載の支払方法により利用料金を支払う。",
        ),
        Article(
            title="最低利用期間",
            body="甲が最低利用期間内に本契約を解約する場合、"
            "甲は残存期間の月額費用の合計額を解約金として乙に支払う。",
        ),
        Article(
            title="個人情報及び映像データ",
            body="乙は、本サービスにより取得した映像データ及び甲の個人情報を、"
            "乙のプライバシーポリシーに従い適切に取り扱い、本サービスの提供以外の目的に利用しない。",
        ),
        Article(
            title="協議",
            body="本契約に定めのない事項又は本契約の解釈に疑義が生じた事項については、"
            "甲乙誠意をもって協議の上解決する。",
        ),
    )


def articles_text(articles: Iterable[Article]) -> str:
    """The articles as plain text, numbered as the 契約書 prints them (第1条（目的） …)."""
    return "\n".join(
        f"第{number}条（{article.title}）\n{article.body}"
        for number, article in enumerate(articles, start=1)
    )


def contract_document(
    quote: Quote,
    number: str,
    contract_date: date,
    articles: Iterable[Article],
    *,
    payment_method: str | None = None,
    service_start: date | None = None,
    service_name: str = SERVICE_NAME,
    issuer_representative: str | None = None,
    electronic: bool = True,
) -> ContractDocument:
    """The 契約書 for an accepted quote: its priced items exactly as the quote showed them,
    the quote's issuer (乙) and recipient (甲), 最低利用期間 = the quote's term, and the
    payment method (a deal's ``PaymentMethod`` or a label) as 支払方法."""
    shown = quote.document
    return ContractDocument(
        number=number,
        contract_date=contract_date,
        service_name=service_name,
        quote_number=shown.number,
        quote_version=quote.version,
        service_start=service_start,
        minimum_term_months=quote.term_months,
        payment_method=PAYMENT_METHOD_LABELS.get(payment_method or "", payment_method),
        issuer=shown.issuer,
        customer=shown.recipient,
        issuer_representative=issuer_representative,
        articles=tuple(articles),
        electronic=electronic,
        lines=shown.lines,
        discounts=shown.discounts,
        tax_subtotals=shown.tax_subtotals,
        one_time_total=shown.one_time_total,
        monthly_total=shown.monthly_total,
    )
