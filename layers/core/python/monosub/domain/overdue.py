"""Overdue follow-up rules (pure): the follow-up policy held as data, which of its levels are
due for an invoice today, and where each deal and billing account stands (expected, paid,
outstanding, days past due, payment achievement rate 入金達成率). ``docs/overdue-rules.md``
describes them for people.

**The policy** (``monosub/data/follow_up_policy.json``, ``FollowUpPolicy``) lists per customer
segment the follow-up levels, each at a number of days from the due date (negative: before
it): an email, a task for the rep or their manager, service suspension. Changing when
customers are reminded, or what happens to them, is a change of data, not of code; a policy
that does not hold together (a key twice, days out of order, a suspension that is not the
last step) is refused when it is read, not discovered at the 30th day.

**Which levels are due** (``levels_due``): each level fires once per invoice, only while the
invoice is owed (paying stops the sequence; a partial payment does not). A daily run that
did not run for some days fires only the latest level whose day has come, not every level it
missed: the customer gets one email, not three at once. What a person must do (a task) and
what protects the company (a suspension) is not skipped: those fire even when missed.

**Standing** (``shares_of``, ``standings``, ``account_standings``): an invoice can hold the
lines of several deals (its billing account's contracts), so its total and what was paid of it
are split into one share per deal, pro rata to the deal's lines with tax. A deal's achievement
rate is paid ÷ expected over all its shares, in percent, one decimal, rounded down; it shows
100.0 only when every invoice of the deal is paid in full, never because rounding got there.

Pure: no AWS; ``load_policy`` reads the policy file shipped with the code. "Today" is the
caller's business date (``monosub.clock.today()``), given, never read here.
"""

from __future__ import annotations

import functools
import itertools
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from monosub.errors import NotFound, ValidationFailed, refused
from monosub.models.billing import Invoice

POLICY = Path(__file__).resolve().parent.parent / "data" / "follow_up_policy.json"
DEFAULT_SEGMENT = "default"
REQUIRED_SEGMENTS = ("residential", "corporate", DEFAULT_SEGMENT)
FULL_RATE = Decimal("100.0")
# The most a deal or account with an invoice still owed shows: 100.0 means "everything paid".
BELOW_FULL_RATE = Decimal("99.9")

TaskRole = Literal["rep", "manager"]


# ---- the policy -----------------------------------------------------------------------------


class FollowUpLevel(BaseModel):
    """One step of the follow-up: on ``days`` from the due date (-3: three days before it;
    1: the day after), what is done for an invoice still owed."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    key: str = Field(
        pattern=r"^[a-z][a-z0-9-]*$",
        max_length=40,
        description="Names the level for good: the record that it fired is kept under it",
    )
    days: int = Field(ge=-60, le=365, description="Relative to the due date")
    email: str | None = Field(
        default=None,
        pattern=r"^[a-z][a-z0-9_]*$",
        max_length=60,
        description="Template stem (<stem>_html.j2, <stem>_text.j2); None: no email",
    )
    attach_invoices: bool = Field(default=False, description="The unpaid invoices attached")
    task: TaskRole | None = Field(default=None, description="A task for the rep or their manager")
    suspend: bool = Field(default=False, description="Suspend the customer's service")
    legal: bool = Field(
        default=False,
        description="A legal notice: sent even to a customer who opted out of reminders",
    )

    @model_validator(mode="after")
    def does_something(self) -> FollowUpLevel:
        if self.email is None and self.task is None and not self.suspend:
            raise ValueError(f"level {self.key!r} sends no email, makes no task, suspends nothing")
        if self.legal and self.email is None:
            raise ValueError(f"level {self.key!r} is a legal notice without an email")
        if self.attach_invoices and self.email is None:
            raise ValueError(f"level {self.key!r} attaches invoices to no email")
        if self.suspend and self.days <= 0:
            raise ValueError(f"level {self.key!r} suspends service before the due date has passed")
        return self


def check_levels(levels: list[FollowUpLevel]) -> list[FollowUpLevel]:
    """``levels`` if they can be followed one after the other (keys unique, days strictly
    increasing, at most one suspension and nothing after it); ``ValueError`` otherwise."""
    keys = [level.key for level in levels]
    twice = sorted({key for key in keys if keys.count(key) > 1})
    if twice:
        raise ValueError(f"level key(s) {', '.join(twice)} listed twice")
    for before, after in itertools.pairwise(levels):
        if after.days <= before.days:
            raise ValueError(
                f"days must increase: {after.key!r} ({after.days}) comes after "
                f"{before.key!r} ({before.days})"
            )
    suspending = [level.key for level in levels if level.suspend]
    if len(suspending) > 1:
        raise ValueError(f"more than one suspension level ({', '.join(suspending)})")
    if suspending and not levels[-1].suspend:
        raise ValueError(f"the suspension level {suspending[0]!r} must be the last")
    return levels


Levels = Annotated[list[FollowUpLevel], AfterValidator(check_levels)]


class FollowUpPolicy(BaseModel):
    """The follow-up levels per customer segment (``default`` for any other segment)."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    version: int = Field(ge=1, description="Raised on every change of the file")
    comment: str = Field(default="", description="Why the levels are what they are")
    segments: dict[str, Levels]

    @field_validator("segments")
    @classmethod
    def every_segment(
        cls, segments: dict[str, list[FollowUpLevel]]
    ) -> dict[str, list[FollowUpLevel]]:
        missing = [segment for segment in REQUIRED_SEGMENTS if segment not in segments]
        if missing:
            raise ValueError(f"lacks {', '.join(missing)}")
        return segments

    def levels_for(self, segment: str | None) -> list[FollowUpLevel]:
        """The levels of ``segment``, or the ``default`` ones for a segment the policy does not
        name."""
        if segment is not None and segment in self.segments:
            return self.segments[segment]
        return self.segments[DEFAULT_SEGMENT]


def policy_from_json(text: str | bytes) -> FollowUpPolicy:
    """The policy in ``text``; ``ValidationFailed`` (one detail per problem: field and
    message) when it is not JSON or does not hold together."""
    try:
        return FollowUpPolicy.model_validate_json(text)
    except ValidationError as error:
        raise refused(error, "the follow-up policy") from error


@functools.cache
def load_policy(path: Path = POLICY) -> FollowUpPolicy:
    """The follow-up policy in ``path`` (default: the company's, shipped with the code). Read
    once per process: a changed file takes effect with the next deployment."""
    return policy_from_json(path.read_bytes())


# ---- which levels are due -------------------------------------------------------------------


def days_past_due(due_date: date, today: date) -> int:
    """Whole days since the due date; 0 on or before it."""
    return max(0, (today - due_date).days)


def levels_due(
    *,
    due_date: date,
    today: date,
    balance: int,
    fired: Collection[str],
    levels: Sequence[FollowUpLevel],
    paid_late: bool = False,
) -> list[FollowUpLevel]:
    """The levels to fire today for one invoice, in the policy's order (the caller records
    each key in ``fired`` once done, so a rerun fires nothing twice).

    Nothing while nothing is owed (``balance`` ≤ 0): paying stops the sequence; a partial
    payment leaves a balance and the sequence goes on. Otherwise, of the levels whose day
    has come (``today ≥ due_date + days``):

    - the **latest** of them fires, unless it has fired already;
    - an earlier one that has not fired is **superseded** and never fires, unless it makes a
      task or suspends (someone must act on it, or the company stops serving a customer who
      does not pay). On a day-by-day schedule only one level comes due a day, so this matters
      only after runs were missed (or for an invoice first seen late): the customer gets one
      email, the latest, not every notice missed at once.

    ``paid_late``: the invoice owes again after it had been paid (a refund, a dispute, a
    returned debit taking the money back after the due date). The days it spent paid were
    not missed runs, so no level is skipped: the earliest level not fired yet fires, one per
    run, and the customer hears every notice, in order, before a suspension.
    """
    if balance <= 0:
        return []
    come = [level for level in levels if today >= due_date + timedelta(days=level.days)]
    waiting = [level for level in come if level.key not in fired]
    if not waiting:
        return []
    if paid_late:
        return waiting[:1]
    latest = come[-1]
    return [level for level in waiting if level is latest or level.task or level.suspend]


# ---- shares of invoices per deal ------------------------------------------------------------


@dataclass(frozen=True)
class InvoiceShare:
    """What one deal owes of one invoice: the invoice's total and payments split by the
    deal's lines (``shares_of``), or the whole invoice when it bills one deal."""

    invoice_id: str
    number: str
    account_id: str
    deal_id: str
    owner: str
    segment: str
    due_date: date
    expected: int
    paid: int
    settled: bool | None = None
    """Whether the whole invoice is paid; None: judged by this share (paid ≥ expected). A
    deal's share of an invoice still owed may be covered by a partial payment (a 1-yen
    balance split over two deals leaves one share whole): the invoice is not paid, so the
    deal is not at 100 %."""

    @property
    def outstanding(self) -> int:
        return max(0, self.expected - self.paid)

    @property
    def is_settled(self) -> bool:
        return self.paid >= self.expected if self.settled is None else self.settled


def shares_of(
    invoice: Invoice,
    deal_of_contract: Mapping[str, str],
    owner_of_deal: Mapping[str, str],
    segment: str,
) -> list[InvoiceShare]:
    """The invoice split into one share per deal of its lines, sorted by deal id.

    Each deal weighs the sum of its lines with tax (amount × (100 + rate)); the total is split
    pro rata to those weights in whole yen, rounded down, the remainder on the largest share
    (ties: the first deal id), so the shares add up to exactly the total. What was paid is
    split the same way over the shares (the remainder on the largest share that has room), so
    the shares' payments add up to exactly ``amount_paid`` and no share is paid more than it
    owes; a fully paid invoice pays every share in full.

    A deal whose lines net to nothing or to a credit (an adjustment) owes nothing of the
    invoice and has no share: its credit lowers the total the others share. Only a finalized
    or paid invoice (not a credit note) is owed: others have no shares. ``NotFound`` when a
    line's contract has no deal, or a deal no owner; ``ValidationFailed`` when the invoice has
    no number or due date.
    """
    if invoice.kind != "invoice" or invoice.status not in ("finalized", "paid"):
        return []
    if invoice.number is None or invoice.due_date is None:
        raise ValidationFailed(
            f"invoice {invoice.invoice_id} is finalized without a number or due date",
            details=[{"field": "due_date" if invoice.number else "number"}],
        )
    weights: dict[str, int] = defaultdict(int)
    for line in invoice.lines:
        deal = deal_of_contract.get(line.contract_id)
        if deal is None:
            raise NotFound(
                f"invoice {invoice.number}: contract {line.contract_id} belongs to no deal given"
            )
        weights[deal] += line.amount * (100 + line.tax_rate)
    owed = {deal: weight for deal, weight in sorted(weights.items()) if weight > 0}
    if invoice.total <= 0 or not owed:
        return []
    for deal in owed:
        if deal not in owner_of_deal:
            raise NotFound(f"invoice {invoice.number}: deal {deal} has no owner given")
    expected = split_pro_rata(invoice.total, owed)
    paid = split_pro_rata(min(max(invoice.amount_paid, 0), invoice.total), expected, cap=True)
    settled = invoice.amount_paid >= invoice.total
    return [
        InvoiceShare(
            invoice_id=invoice.invoice_id,
            number=invoice.number,
            account_id=invoice.account_id,
            deal_id=deal,
            owner=owner_of_deal[deal],
            segment=segment,
            due_date=invoice.due_date,
            expected=expected[deal],
            paid=paid[deal],
            settled=settled,
        )
        for deal in owed
    ]


def split_pro_rata(amount: int, weights: Mapping[str, int], *, cap: bool = False) -> dict[str, int]:
    """``amount`` (≥ 0) split in proportion to ``weights`` (> 0) in whole yen: each share
    rounded down, the remainder on the largest weight (ties: the first key in order). With
    ``cap`` (the weights are the amounts owed and ``amount`` at most their sum) no share
    exceeds its weight: a remainder the largest has no room for goes to the next largest."""
    total = sum(weights.values())
    shares = {key: amount * weight // total for key, weight in weights.items()}
    left = amount - sum(shares.values())
    for key in sorted(weights, key=lambda key: (-weights[key], key)):
        if left == 0:
            break
        given = min(left, weights[key] - shares[key]) if cap else left
        shares[key] += given
        left -= given
    return shares


# ---- standing per deal and per account ------------------------------------------------------


@dataclass(frozen=True)
class Standing:
    """Where one deal stands across all its invoices (the seed's dashboard row)."""

    deal_id: str
    account_id: str
    owner: str
    segment: str
    invoices: int
    expected: int
    paid: int
    outstanding: int
    earliest_unpaid_due_date: date | None
    days_past_due: int
    achievement_rate: Decimal


@dataclass(frozen=True)
class AccountStanding:
    """Where one billing account stands across all its invoices and deals."""

    account_id: str
    segment: str
    owners: tuple[str, ...]
    deals: int
    invoices: int
    expected: int
    paid: int
    outstanding: int
    earliest_unpaid_due_date: date | None
    days_past_due: int
    achievement_rate: Decimal


def achievement_rate(expected: int, paid: int, *, all_settled: bool) -> Decimal:
    """paid ÷ expected in percent, one decimal, rounded down, within [0, 100]. 100.0 only when
    ``all_settled`` (every invoice paid in full): while one is owed the rate shows at most
    99.9, however little is missing. Nothing expected: 100.0 (nothing is missing)."""
    if expected <= 0:
        rate = FULL_RATE
    else:
        tenths = min(max(paid, 0), expected) * 1000 // expected
        rate = Decimal(tenths).scaleb(-1)
    if not all_settled:
        rate = min(rate, BELOW_FULL_RATE)
    return rate


@dataclass(frozen=True)
class _Totals:
    """The figures a ``Standing`` and an ``AccountStanding`` share, under their names."""

    invoices: int
    expected: int
    paid: int
    outstanding: int
    earliest_unpaid_due_date: date | None
    days_past_due: int
    achievement_rate: Decimal


def _totals(shares: Sequence[InvoiceShare], today: date) -> _Totals:
    expected = sum(share.expected for share in shares)
    paid = sum(share.paid for share in shares)
    unpaid = [share.due_date for share in shares if not share.is_settled]
    earliest = min(unpaid, default=None)
    return _Totals(
        invoices=len({share.invoice_id for share in shares}),
        expected=expected,
        paid=paid,
        outstanding=sum(share.outstanding for share in shares),
        earliest_unpaid_due_date=earliest,
        days_past_due=days_past_due(earliest, today) if earliest else 0,
        achievement_rate=achievement_rate(expected, paid, all_settled=not unpaid),
    )


def _grouped(shares: Iterable[InvoiceShare], key: str) -> dict[str, list[InvoiceShare]]:
    groups: dict[str, list[InvoiceShare]] = defaultdict(list)
    for share in shares:
        groups[getattr(share, key)].append(share)
    return groups


def _most_overdue_first(days: int, outstanding: int, key: str) -> tuple[int, int, str]:
    return (-days, -outstanding, key)


def standings(shares: Iterable[InvoiceShare], today: date) -> list[Standing]:
    """One row per deal of ``shares`` (give every share of the deals: the rate is over all of
    a deal's invoices, paid ones too), most days past due first, then most outstanding.

    A deal's account, owner and segment are those of its earliest-due share (a deal is billed
    to one account as a rule; should it span two, its row names the one owing longest)."""
    rows = []
    for deal_id, group in _grouped(shares, "deal_id").items():
        first = min(group, key=lambda share: (share.due_date, share.invoice_id))
        rows.append(
            Standing(
                deal_id=deal_id,
                account_id=first.account_id,
                owner=first.owner,
                segment=first.segment,
                **vars(_totals(group, today)),
            )
        )
    return sorted(
        rows, key=lambda row: _most_overdue_first(row.days_past_due, row.outstanding, row.deal_id)
    )


def account_standings(shares: Iterable[InvoiceShare], today: date) -> list[AccountStanding]:
    """One row per billing account of ``shares``, over all its deals' shares (an invoice
    split over deals counts once), ordered like ``standings``."""
    rows = []
    for account_id, group in _grouped(shares, "account_id").items():
        first = min(group, key=lambda share: (share.due_date, share.invoice_id))
        rows.append(
            AccountStanding(
                account_id=account_id,
                segment=first.segment,
                owners=tuple(sorted({share.owner for share in group})),
                deals=len({share.deal_id for share in group}),
                **vars(_totals(group, today)),
            )
        )
    return sorted(
        rows,
        key=lambda row: _most_overdue_first(row.days_past_due, row.outstanding, row.account_id),
    )


Row = TypeVar("Row", Standing, AccountStanding)


def overdue_only(rows: Iterable[Row]) -> list[Row]:
    """The rows past their due date (days_past_due > 0), in the order given."""
    return [row for row in rows if row.days_past_due > 0]
