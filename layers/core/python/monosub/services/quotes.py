"""Quotes: price a deal on a date, revise, approve a discount, send it for consent, and act
on the customer's answer.

- ``create_quote`` / ``revise_quote`` price the deal's lines with the price book and the
  campaigns of the quote date (``services.pricing``), add the rep's manual discount (above
  the rep's limit the quote waits for a manager), render the 見積書 PDF through the
  document renderer and store the version. A revision withdraws the link sent for the
  version before: that link then says a newer quote exists and changes nothing.
- ``send_quote`` asks the customer to agree on a page with no login
  (``monosub.consent.request_consent``), with exactly the figures of the PDF.
- ``on_consent_answer`` (the ``quote-answers`` function, subscribed to the consent events)
  accepts the quote, wins the deal, makes the contract and publishes ``OrderConfirmed`` for
  fulfilment; or records a decline. Every step is idempotent: the same answer delivered
  twice does each thing once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

from monosub import access, clock, company, events, ids
from monosub.access import Scope
from monosub.auth import Principal
from monosub.consent import service as consent
from monosub.documents import Recipient, storage
from monosub.domain import quotes as rules
from monosub.errors import Conflict, NotFound, ValidationFailed
from monosub.events import EventPublisher
from monosub.models.catalog import Channel, PricedResult, PricingRequest, Segment
from monosub.models.crm import CustomerRecord
from monosub.models.deals import Deal
from monosub.models.quotes import (
    Approval,
    ManualDiscount,
    Quote,
    QuoteRequest,
    QuoteRevision,
    SendQuote,
)
from monosub.observability import count, logger
from monosub.services import contracts, pricing
from monosub.services import deals as deal_service
from monosub.store import quotes as store
from monosub.store import records
from monosub.store.dynamo import TransactionConflict

SOURCE = "monosub.quotes"
SALES_SOURCE = "monosub.sales"
ORDER_CONFIRMED = "OrderConfirmed"
SUBJECT_KIND = "quote"
SYSTEM = "system"


def quote_id_for_deal(deal_id: str) -> str:
    """A deal has one order quote, whose id follows from the deal's."""
    return ids.derived_id("quote", f"order#{deal_id}")


# ---- reading -------------------------------------------------------------------------------


def get_quote(quote_id: str, *, scope: Scope) -> Quote:
    """A quote the caller may see (its customer's segment, or its agency); else 404."""
    quote = store.get(quote_id) if quote_id.startswith("quote_") else None
    if quote is None:
        raise NotFound(f"quote {quote_id} does not exist")
    access.require_visible(
        scope, "quote", quote_id, segment=quote.segment, agency_id=quote.agency_id
    )
    return quote


def get_version(quote_id: str, version: int, *, scope: Scope) -> Quote:
    get_quote(quote_id, scope=scope)
    quote = store.get_version(quote_id, version)
    if quote is None:
        raise NotFound(f"quote {quote_id} has no version {version}")
    return quote


def versions(quote_id: str, *, scope: Scope) -> list[Quote]:
    get_quote(quote_id, scope=scope)
    return list(store.versions(quote_id))


def pdf(quote_id: str, version: int | None = None, *, scope: Scope) -> bytes:
    """The stored PDF of a version (the current one by default)."""
    quote = (
        get_quote(quote_id, scope=scope)
        if version is None
        else get_version(quote_id, version, scope=scope)
    )
    if not quote.pdf_key:
        raise NotFound(f"quote {quote_id} version {quote.version} has no PDF")
    return storage.read_pdf(quote.pdf_key)


# ---- pricing a version ---------------------------------------------------------------------


def create_quote(
    deal_id: str,
    request: QuoteRequest,
    *,
    principal: Principal,
    channel: Channel | None = None,
    publisher: EventPublisher | None = None,
) -> Quote:
    """Version 1 of the deal's quote. 409 when the deal has one already (revise it)."""
    deal = deal_service.get_deal(deal_id, scope=access.scope_for(principal))
    rules_open(deal)
    quote_id = quote_id_for_deal(deal_id)
    existing = store.get(quote_id)
    if existing is not None:
        raise Conflict(
            f"deal {deal_id} has quote {quote_id} already: revise it",
            details={"quote_id": quote_id, "version": existing.version},
        )
    customer = _customer(deal)
    quote_date = _quote_date(request.quote_date)
    number = rules.quote_number(quote_date.year, store.next_number(quote_date.year))
    quote = _priced_version(
        deal,
        customer,
        request,
        quote_id=quote_id,
        number=number,
        version=1,
        quote_date=quote_date,
        channel=channel or ("agency" if deal.agency_id else "direct"),
        principal=principal,
        created_at=clock.now_iso(),
    )
    try:
        store.create(quote)
    except TransactionConflict:
        raise Conflict(f"quote {quote_id} was created at the same time: read it") from None
    _publish(publisher, "QuoteCreated", quote, by=principal.user)
    return quote


def revise_quote(
    quote_id: str,
    revision: QuoteRevision,
    *,
    principal: Principal,
    publisher: EventPublisher | None = None,
) -> Quote:
    """The next version, priced again from the deal's lines as they are now. A link sent
    for the version before stops working."""
    scope = access.scope_for(principal)
    current = get_quote(quote_id, scope=scope)
    rules.check_version(quote_id, revision.version, current.version)
    rules.check_status(
        quote_id, current.status, ("draft", "awaiting_approval", "sent", "declined"), "revised"
    )
    deal = deal_service.get_deal(current.deal_id, scope=scope)
    rules_open(deal)
    quote = _priced_version(
        deal,
        _customer(deal),
        revision,
        quote_id=quote_id,
        number=current.number,
        version=current.version + 1,
        quote_date=_quote_date(revision.quote_date),
        channel=current.channel,
        principal=principal,
        created_at=current.created_at,
    )
    _save(current, quote)
    if current.status == "sent":
        consent.withdraw(
            SUBJECT_KIND,
            quote_id,
            reason=f"quote revised to version {quote.version}",
            by=principal.user,
            publisher=publisher,
        )
    _publish(publisher, "QuoteRevised", quote, by=principal.user)
    return quote


def rules_open(deal: Deal) -> None:
    if deal.stage in ("won", "lost"):
        raise Conflict(
            f"deal {deal.deal_id} is {deal.stage}: a closed deal gets no quote",
            details={"stage": deal.stage},
        )
    if not deal.lines:
        raise ValidationFailed(
            f"deal {deal.deal_id} has no lines to quote",
            details=[{"field": "lines", "message": "add the order's lines to the deal first"}],
        )


def _quote_date(requested: date | None) -> date:
    today = clock.today()
    if requested is not None and requested < today:
        raise ValidationFailed(
            "a quote is not dated in the past",
            details=[{"field": "quote_date", "message": f"today ({today}) or later"}],
        )
    return requested or today


def _customer(deal: Deal) -> CustomerRecord:
    record = records.customer_record(deal.account_id, scope=access.EVERYTHING)  # deal seen
    if record is None:
        raise NotFound(f"account {deal.account_id} does not exist")
    return record


def _segment(record: CustomerRecord) -> Segment:
    segment = getattr(record.account, "segment", None)
    return "residential" if segment == "residential" else "corporate"


def _priced_version(
    deal: Deal,
    customer: CustomerRecord,
    request: QuoteRequest,
    *,
    quote_id: str,
    number: str,
    version: int,
    quote_date: date,
    channel: Channel,
    principal: Principal,
    created_at: str,
) -> Quote:
    segment = _segment(customer)
    new_customer = not any(
        other.stage == "won" for other in customer.deals if other.deal_id != deal.deal_id
    )
    try:
        priced = pricing.preview(
            PricingRequest(
                date=quote_date,
                segment=segment,
                channel=channel,
                new_customer=new_customer,
                term_months=request.term_months,
                lines=rules.pricing_lines(deal.lines),
            )
        )
    except ValidationFailed as error:
        details = [
            {**problem, "field": rules.pricing_field(problem.get("field", ""), deal.lines)}
            for problem in (error.details or [])
        ]
        raise ValidationFailed(
            f"deal {deal.deal_id}'s lines cannot be priced on {quote_date}", details=details
        ) from None
    approval = _approval(request.manual_discount, priced, principal)
    contact = next((c for c in customer.contacts if c.contact_id == deal.contact_id), None)
    recipient = Recipient(
        company=customer.account.name,
        person=contact.person_name if contact else None,
    )
    terms = rules.STANDARD_TERMS + (f"\n{request.terms}" if request.terms else "")
    valid_until = quote_date + timedelta(days=request.valid_days)
    faces = rules.price_document(
        priced,
        request.manual_discount,
        number=number,
        version=version,
        issue_date=quote_date,
        valid_until=valid_until,
        issuer=company.issuer(person=deal.owner),
        recipient=recipient,
        subject=deal.name,
        terms=terms,
        rounding=pricing.TAX_ROUNDING,
    )
    stored = storage.store_pdf("quote", faces.document, storage.quote_pdf_key(quote_id, version))
    now = clock.now_iso()
    return Quote(
        quote_id=quote_id,
        version=version,
        number=number,
        status="awaiting_approval" if approval and approval.needs_manager else "draft",
        deal_id=deal.deal_id,
        account_id=deal.account_id,
        contact_id=deal.contact_id,
        owner=deal.owner,
        agency_id=deal.agency_id,
        segment=segment,
        channel=channel,
        quote_date=quote_date,
        valid_until=valid_until,
        term_months=request.term_months,
        lines=deal.lines,
        priced=priced,
        manual_discount=request.manual_discount,
        approval=approval,
        document=faces.document,
        consent_lines=faces.consent_lines,
        terms=terms,
        pdf_key=stored.key,
        pdf_sha256=stored.sha256,
        created_by=principal.user,
        created_at=created_at,
        updated_at=now,
    )


def _approval(
    discount: ManualDiscount | None, priced: PricedResult, principal: Principal
) -> Approval | None:
    if discount is None:
        return None
    share = rules.discount_share(discount, priced)
    return Approval(
        required_percent=share,
        creator_limit_percent=rules.own_limit(principal.groups),
        needs_manager=rules.needs_approval(share, principal.groups),
    )


# ---- approval and sending ------------------------------------------------------------------


def approve_quote(
    quote_id: str,
    version: int,
    *,
    principal: Principal,
    publisher: EventPublisher | None = None,
) -> Quote:
    """A manager approves the manual discount of the current version."""
    current = get_quote(quote_id, scope=access.scope_for(principal))
    rules.check_version(quote_id, version, current.version)
    rules.check_status(quote_id, current.status, ("awaiting_approval",), "approved")
    assert current.approval is not None
    rules.check_approver(
        current.approval.required_percent,
        principal.groups,
        user=principal.user,
        creator=current.created_by,
    )
    now = clock.now_iso()
    approved = current.model_copy(
        update={
            "status": "draft",
            "approval": current.approval.model_copy(
                update={"approved_by": principal.user, "approved_at": now}
            ),
            "updated_at": now,
        }
    )
    _save(current, approved)
    _publish(publisher, "QuoteApproved", approved, by=principal.user)
    return approved


def send_quote(
    quote_id: str,
    request: SendQuote,
    *,
    principal: Principal,
    link_base: str,
    publisher: EventPublisher | None = None,
) -> Quote:
    """Email the customer a link to agree to this version (a page with no login). Sending
    again sends a new link; the one before stops working."""
    scope = access.scope_for(principal)
    current = get_quote(quote_id, scope=scope)
    rules.check_version(quote_id, request.version, current.version)
    if current.status == "awaiting_approval":
        share = current.approval.required_percent if current.approval else 0
        raise Conflict(
            f"quote {quote_id}'s discount of {share}% waits for a manager's approval",
            details={"status": current.status},
        )
    rules.check_status(quote_id, current.status, ("draft", "sent"), "sent")
    today = clock.today()
    if current.valid_until < today:
        raise Conflict(
            f"quote {quote_id} expired on {current.valid_until}: revise it",
            details={"valid_until": current.valid_until.isoformat()},
        )
    deal = deal_service.get_deal(current.deal_id, scope=scope)
    rules_open(deal)
    gaps = deal_service.order_gaps(deal)
    if gaps:
        raise Conflict(
            f"deal {deal.deal_id}'s order is incomplete: the customer cannot agree to it yet",
            details={"missing": gaps},
        )
    customer = _customer(deal)
    contact = next((c for c in customer.contacts if c.contact_id == deal.contact_id), None)
    if contact is None or not contact.email:
        raise Conflict(
            f"contact {deal.contact_id} has no email address to send the quote to",
            details={"contact_id": deal.contact_id},
        )
    document = rules.consent_document(
        current.document,
        current.consent_lines,
        pdf_key=current.pdf_key,
    )
    expires = min(
        timedelta(days=request.expires_in_days),
        _until_end_of(current.valid_until) - clock.now(),
    )
    requested = consent.request_consent(
        SUBJECT_KIND,
        quote_id,
        current.version,
        contact.email,
        contact.person_name,
        document,
        max(expires, consent.SHORTEST_EXPIRY),
        principal.user,
        link_base=link_base,
        references={"deal_id": deal.deal_id, "account_id": deal.account_id},
        publisher=publisher,
    )
    now = clock.now_iso()
    sent = current.model_copy(
        update={
            "status": "sent",
            "consent_id": requested.consent_id,
            "sent_to": contact.email,
            "sent_at": now,
            "updated_at": now,
        }
    )
    _save(current, sent)
    _publish(publisher, "QuoteSent", sent, by=principal.user, consent_id=requested.consent_id)
    return sent


def _until_end_of(day: date) -> datetime:
    """The end of ``day`` in Asia/Tokyo, as an aware datetime."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=clock.TOKYO)


# ---- the customer's answer -----------------------------------------------------------------


def on_consent_answer(
    detail_type: str,
    detail: Mapping[str, Any],
    *,
    publisher: EventPublisher | None = None,
) -> str:
    """Act on ``ConsentGiven`` / ``ConsentDeclined`` for a quote; returns what was done."""
    if detail.get("subject_kind") != SUBJECT_KIND:
        return "not a quote"
    quote_id = str(detail["subject_id"])
    quote = store.get(quote_id)
    if quote is None:
        logger.warning("answer for an unknown quote", extra={"quote_id": quote_id})
        return "unknown quote"
    if quote.version != detail.get("subject_version") or quote.consent_id != detail.get(
        "consent_id"
    ):
        logger.warning(
            "answer for another version or link of the quote: nothing done",
            extra={"quote_id": quote_id, "version": quote.version, "detail": dict(detail)},
        )
        count("StaleConsentAnswers")
        return "stale"
    evidence = dict(detail.get("evidence") or {})
    if detail_type == consent.DECLINED:
        if quote.status == "sent":
            declined = quote.model_copy(
                update={
                    "status": "declined",
                    "answered_at": evidence.get("answered_at"),
                    "updated_at": clock.now_iso(),
                }
            )
            _save(quote, declined)
            _publish(publisher, "QuoteDeclined", declined, by=SYSTEM)
        return "declined"
    if detail_type != consent.GIVEN:
        return "ignored"
    if quote.status == "sent":
        accepted = quote.model_copy(
            update={
                "status": "accepted",
                "answered_at": evidence.get("answered_at"),
                "updated_at": clock.now_iso(),
            }
        )
        _save(quote, accepted)
        _publish(publisher, "QuoteAccepted", accepted, by=SYSTEM, evidence=evidence)
        quote = accepted
    if quote.status != "accepted":
        return f"quote is {quote.status}"
    contract_id = _make_contract(quote, evidence, publisher)
    if quote.purpose == "renewal":
        if quote.contract_created is None:
            _save(quote, quote.model_copy(update={"contract_created": contract_id}))
        return "renewed"
    deal = deal_service.win_by_acceptance(
        quote.deal_id, quote_id=quote.quote_id, by=SYSTEM, publisher=publisher
    )
    if quote.order_confirmed_at is None:
        _confirm_order(quote, deal, contract_id, evidence, publisher)
    return "accepted"


def _make_contract(
    quote: Quote, evidence: Mapping[str, Any], publisher: EventPublisher | None
) -> str:
    """The contract of an accepted quote (made once; a repeat returns the same one), or the
    next term of the contract a renewal quote was for."""
    agreed_at = str(evidence.get("answered_at") or clock.now_iso())
    sha256 = str(evidence.get("document_sha256") or "")
    make = contracts.renew_from_quote if quote.purpose == "renewal" else contracts.create_from_quote
    contract = make(
        quote,
        agreed_at=agreed_at,
        consent_id=quote.consent_id,
        document_sha256=sha256,
        publisher=publisher,
    )
    return contract.contract_id


def _confirm_order(
    quote: Quote,
    deal: Deal,
    contract_id: str,
    evidence: Mapping[str, Any],
    publisher: EventPublisher | None,
) -> None:
    """``OrderConfirmed``: everything fulfilment needs, then the quote remembers it was
    published (a repeated answer publishes nothing more)."""
    (publisher or events.default_publisher).publish(
        SALES_SOURCE,
        ORDER_CONFIRMED,
        {
            "order_id": quote.quote_id,
            "quote_id": quote.quote_id,
            "quote_number": quote.number,
            "quote_version": quote.version,
            "deal_id": deal.deal_id,
            "account_id": deal.account_id,
            "contract_id": contract_id,
            "device_owner_account_id": deal.device_owner_account_id,
            "billing_account_id": deal.billing_account_id,
            "payment_method": deal.payment_method,
            "installation_needed": deal.installation_needed,
            "requested_delivery_date": deal.requested_delivery_date.isoformat()
            if deal.requested_delivery_date
            else None,
            "ship_to": deal.ship_to.model_dump(mode="json") if deal.ship_to else None,
            "lines": [line.model_dump(mode="json") for line in quote.lines],
            "one_time_total": quote.one_time_total,
            "monthly_total": quote.monthly_total,
            "term_months": quote.term_months,
            "owner": deal.owner,
            "segment": quote.segment,
            "agency_id": quote.agency_id,
            "evidence": {"consent_id": quote.consent_id, **dict(evidence)},
        },
    )
    confirmed = quote.model_copy(
        update={
            "order_confirmed_at": clock.now_iso(),
            "contract_created": contract_id,
            "updated_at": clock.now_iso(),
        }
    )
    _save(quote, confirmed)
    count("OrdersConfirmed")


# ---- helpers -------------------------------------------------------------------------------


def _save(current: Quote, updated: Quote) -> None:
    try:
        store.save(updated, expected_version=current.version, expected_status=current.status)
    except TransactionConflict:
        latest = store.get(current.quote_id)
        raise Conflict(
            f"quote {current.quote_id} was changed meanwhile: read it again",
            details={
                "expected_version": current.version,
                "version": latest.version if latest else None,
                "status": latest.status if latest else None,
            },
        ) from None


def _publish(
    publisher: EventPublisher | None, kind: str, quote: Quote, *, by: str, **extra: Any
) -> None:
    (publisher or events.default_publisher).publish(
        SOURCE,
        kind,
        {
            "quote_id": quote.quote_id,
            "quote_number": quote.number,
            "version": quote.version,
            "status": quote.status,
            "deal_id": quote.deal_id,
            "account_id": quote.account_id,
            "one_time_total": quote.one_time_total,
            "monthly_total": quote.monthly_total,
            "by": by,
            **extra,
        },
    )
