"""Consents as staff see them (``GET /consents/{consent_id}``): only those about a customer
record the caller may see.

A consent is generic (``monosub.consent``): it names its subject (``quote`` and the quote
id) and carries ``references`` (the deal and account it concerns). Who may see it follows
from the record it is about, by the rules of ``monosub.access``: a quote's consent goes with
the quote (its segment and agency, as ``GET /quotes/{id}`` decides); a consent about
anything else goes with the deal it references, else the account. A consent whose record
cannot be found is seen only by those who see everything. One the caller may not see is
"not found", word for word as one that does not exist.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from monosub import access
from monosub.access import Scope
from monosub.consent import service
from monosub.consent.models import Consent
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
