"""Consents as staff see them (``GET /consents/{consent_id}``, ``GET /consents?status=``):
only those about a customer record the caller may see.

A consent is generic (``monosub.consent``): it names its subject (``quote`` and the quote
id) and carries ``references`` (the deal and account it concerns). Who may see it follows
from the record it is about, by the rules of ``monosub.access``: a quote's consent goes with
the quote (its segment and agency, as ``GET /quotes/{id}`` decides); a consent about
anything else goes with the deal it references, else the account. A consent whose record
cannot be found is seen only by those who see everything. One the caller may not see is
"not found", word for word as one that does not exist.

The lists of pending and expired consents are read from listing partitions per segment and
agency (``monosub.store.consents``), decided when consent is requested by the same rule
(``listed_as``), so a caller reads only what it may see; each row shows the consent's age in
days and its next follow-up (``monosub.consent.follow_up``).
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any, Literal

from monosub import access, clock
from monosub.access import Scope
from monosub.consent import follow_up, service
from monosub.consent.models import Consent, ListedAs, ListedConsent
from monosub.store import consents as store
from monosub.store import quotes, records

QUOTE = "quote"


def staff_view(consent_id: str, *, scope: Scope) -> dict[str, Any]:
    """Status, document and evidence of a consent the caller may see (else ``NotFound``)."""
    return service.staff_view(consent_id, visible=partial(sees, scope))


def sees(scope: Scope, consent: Consent) -> bool:
    """May a caller with ``scope`` see ``consent``? Decided by the record it is about."""
    if scope.everything:
        return True  # no need to read the record
    owner = customer_of(consent)
    if owner is None:
        return False
    segment, agency_id = owner
    return access.visible(scope, segment=segment, agency_id=agency_id)


def customer_of(consent: Consent) -> tuple[str, str | None] | None:
    """The segment and agency of the customer record a consent is about (None: not found)."""
    if consent.subject_kind == QUOTE:
        quote = quotes.get(consent.subject_id)
        return None if quote is None else (quote.segment, quote.agency_id)
    deal_id = consent.references.get("deal_id")
    if deal_id:
        deal = records.find_deal(deal_id, scope=access.EVERYTHING)  # decided here, not there
        return None if deal is None else (deal.segment, deal.agency_id)
    account_id = consent.references.get("account_id")
    if account_id:
        account = records.get_account(account_id, scope=access.EVERYTHING)
        return None if account is None else (account.segment, account.agency_id)
    return None


def listed_as(consent: Consent) -> ListedAs:
    """Who may see ``consent`` in the lists (the segment and agency of the record it is
    about, as ``sees`` decides) and what they show of its subject (the quote's number, the
    customer's name). A record that cannot be found: listed for those who see everything."""
    if consent.subject_kind == QUOTE:
        quote = quotes.get(consent.subject_id)
        if quote is None:
            return ListedAs()
        return ListedAs(
            segment=quote.segment,
            agency_id=quote.agency_id,
            subject_number=quote.number,
            customer_name=quote.document.recipient.company,
        )
    deal_id = consent.references.get("deal_id")
    account_id = consent.references.get("account_id")
    if deal_id:
        deal = records.find_deal(deal_id, scope=access.EVERYTHING)  # decided here, not there
        if deal is None:
            return ListedAs()
        account = records.get_account(deal.account_id, scope=access.EVERYTHING)
        return ListedAs(
            segment=deal.segment,
            agency_id=deal.agency_id,
            customer_name=account.name if account else None,
        )
    if account_id:
        account = records.get_account(account_id, scope=access.EVERYTHING)
        if account is None:
            return ListedAs()
        return ListedAs(
            segment=account.segment, agency_id=account.agency_id, customer_name=account.name
        )
    return ListedAs()


def listed(
    status: Literal["pending", "expired"],
    *,
    scope: Scope,
    limit: int = 25,
    after: str | None = None,
) -> dict[str, Any]:
    """One page of the pending (newest sent first) or expired (newest expiry first)
    consents the caller may see, each with its age in days (Tokyo calendar), reminders sent
    and next follow-up; and the ``next`` token (None: no more)."""
    page, next_token = store.listed(status, scope=scope, limit=limit, after=after)
    policy = follow_up.load_policy()
    now = clock.now()
    return {"consents": [_row(item, policy, now) for item in page], "next": next_token}


def _row(item: ListedConsent, policy: follow_up.FollowUpPolicy, now: datetime) -> dict[str, Any]:
    sent_at = clock.parse_instant(item.requested_at)
    link_expires_at = clock.parse_instant(item.expires_at)
    next_action = (
        follow_up.next_action(
            policy,
            sent_at=sent_at,
            link_expires_at=link_expires_at,
            reminded_days=item.reminded_days,
        ).as_json()
        if item.status == "pending"
        else None
    )
    return {
        "consent_id": item.consent_id,
        "status": item.status,
        "subject": {
            "kind": item.subject_kind,
            "id": item.subject_id,
            "version": item.subject_version,
            "number": item.subject_number,
            "deal_id": item.references.get("deal_id"),
            "account_id": item.references.get("account_id"),
            "customer_name": item.customer_name,
        },
        "segment": item.segment,
        "agency_id": item.agency_id,
        "recipient": {"name": item.recipient_name, "email": item.recipient_email},
        "sent_at": item.requested_at,
        "expires_at": clock.iso(follow_up.expires_at(policy, sent_at, link_expires_at)),
        "expired_at": item.expired_at,
        "age_days": follow_up.age_in_days(sent_at, now),
        "reminders_sent": item.reminders_sent,
        "last_reminded_at": item.last_reminded_at,
        "next_action": next_action,
    }
