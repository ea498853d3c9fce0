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
from monosub.consent.models import ConsentDocument
from monosub.documents import Recipient, storage
from monosub.domain import contracts as rules_contracts
from monosub.domain import quotes as rules
from monosub.errors import Conflict, NotFound, ValidationFailed
from monosub.events import EventPublisher
from monosub.models.catalog import Channel, PricedResult, PricingRequest, Segment
from monosub.models.contracts import Contract
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
from monosub.store import catalog as catalog_store
from monosub.store import deals as deal_store
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


def renewal_quote_id(renewal_id: str) -> str:
    """A contract term has at most one renewal quote, whose id follows from the renewal's
    (``RenewalQuoteDue.renewal_id``: the contract and the end of the term)."""
    return ids.derived_id("quote", f"renewal#{renewal_id}")


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
    with_contract_draft: bool = False,
) -> Quote:
    """Version 1 of the deal's quote. 409 when the deal has one already (revise it).
    ``with_contract_draft``: the customer agrees to the 契約書 itself (a one-step sign-up:
    phone, application form), so the quote carries its draft (a phone quote always does)."""
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
        with_contract_draft=with_contract_draft,
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
    renewal = _renewal_of(current)
    if renewal is None:
        rules_open(deal)
    quote = _priced_version(
        deal if renewal is None else renewal_order(deal, renewal),
        _customer(deal),
        revision,
        quote_id=quote_id,
        number=current.number,
        version=current.version + 1,
        quote_date=_quote_date(revision.quote_date),
        channel=current.channel,
        principal=principal,
        created_at=current.created_at,
        renewal=renewal,
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


def renewal_order(deal: Deal, contract: Contract) -> Deal:
    """What a renewal quote prices: the contract's lines as they are now, without the
    devices the customer bought (they are theirs): plans and options for the next term, and
    the rent of a rented device (it stays the company's: the renewed term bills its rent, as
    billing bills only what the renewal's document prices)."""
    devices = {line.device_sku for line in contract.lines if line.device_sku}
    rented = {
        sku
        for sku, entry in catalog_store.entries(sorted(devices)).items()
        if entry.product.acquisition == "rental"
    }
    return deal.model_copy(
        update={
            "lines": [
                line if line.device_sku in rented else line.model_copy(update={"device_sku": None})
                for line in contract.lines
            ]
        }
    )


def _renewal_of(quote: Quote) -> Contract | None:
    """The contract a renewal quote is for, while that term can still be renewed by it
    (409 otherwise: the contract ended, renewed meanwhile, or the customer gave notice)."""
    if quote.purpose != "renewal" or quote.contract_id is None:
        return None
    contract = contracts.get_contract(quote.contract_id)
    _check_renewable(contract, quote.renews_term_end)
    return contract


def _check_renewable(contract: Contract, term_end: date | None) -> None:
    if contract.status != "active" or contract.notice is not None or not contract.auto_renew:
        raise Conflict(
            f"contract {contract.number} does not renew (status {contract.status}"
            + (", the customer gave notice" if contract.notice is not None else "")
            + ")",
            details={"contract_id": contract.contract_id, "status": contract.status},
        )
    if term_end is not None and contract.end_date != term_end:
        raise Conflict(
            f"contract {contract.number}'s term ending {term_end} is over: it now ends on "
            f"{contract.end_date}",
            details={"contract_id": contract.contract_id},
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
    renewal: Contract | None = None,
    renews_term_end: date | None = None,
    valid_until: date | None = None,
    with_contract_draft: bool = False,
) -> Quote:
    """A priced version of ``deal``'s lines (a renewal: of ``renewal``'s next term), with its
    見積書 PDF rendered; a phone sign-up's version also gets its 契約書 draft."""
    segment = _segment(customer)
    new_customer = renewal is None and not any(
        other.stage == "won" for other in customer.deals if other.deal_id != deal.deal_id
    )
    priced, approval = _price(
        deal,
        request,
        segment=segment,
        channel=channel,
        new_customer=new_customer,
        quote_date=quote_date,
        principal=principal,
    )
    contact = next((c for c in customer.contacts if c.contact_id == deal.contact_id), None)
    recipient = Recipient(
        company=customer.account.name,
        person=contact.person_name if contact else None,
    )
    terms = rules.STANDARD_TERMS + (f"\n{request.terms}" if request.terms else "")
    valid_until = valid_until or quote_date + timedelta(days=request.valid_days)
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
    quote = Quote(
        quote_id=quote_id,
        version=version,
        number=number,
        purpose="order" if renewal is None else "renewal",
        status="awaiting_approval" if approval and approval.needs_manager else "draft",
        deal_id=deal.deal_id,
        account_id=deal.account_id,
        contact_id=deal.contact_id,
        contract_id=None if renewal is None else renewal.contract_id,
        renews_term_end=renews_term_end
        if renews_term_end is not None or renewal is None
        else renewal.end_date,
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
    if (channel == "phone" or with_contract_draft) and renewal is None:
        draft = contracts.draft_contract(quote, deal.payment_method)
        quote = quote.model_copy(update={"contract_draft": draft})
    return quote


def check_quotable(
    deal: Deal, request: QuoteRequest, *, principal: Principal, channel: Channel
) -> PricedResult:
    """Refuse (400, naming ``deal.``'s fields) a new customer's order that would not price,
    or a discount above every limit, before anything of it is written; else its prices."""
    priced, _ = _price(
        deal,
        request,
        segment=deal.segment,
        channel=channel,
        new_customer=True,
        quote_date=_quote_date(request.quote_date),
        principal=principal,
        field_prefix="deal.",
    )
    return priced


def _price(
    deal: Deal,
    request: QuoteRequest,
    *,
    segment: Segment,
    channel: Channel,
    new_customer: bool,
    quote_date: date,
    principal: Principal,
    field_prefix: str = "",
) -> tuple[PricedResult, Approval | None]:
    """The deal's lines priced on ``quote_date`` and the approval its manual discount needs."""
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
            {
                **problem,
                "field": field_prefix + rules.pricing_field(problem.get("field", ""), deal.lines),
            }
            for problem in (error.details or [])
        ]
        raise ValidationFailed(
            f"deal {deal.deal_id}'s lines cannot be priced on {quote_date}", details=details
        ) from None
    return priced, _approval(request.manual_discount, priced, principal)


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


# ---- renewal quotes ------------------------------------------------------------------------


def on_renewal_due(detail: Mapping[str, Any], *, publisher: EventPublisher | None = None) -> str:
    """``RenewalQuoteDue`` (the daily contract-renewals run): the renewal quote of that
    contract term, priced on today's price book and campaigns for the contract's plans and
    options (no devices: the customer has them), for the next term, valid until the term
    ends. It is a draft for the contract's rep to review (a discount, a revision) and send.
    Made once per term: a repeated event finds it; a contract that no longer renews (the
    customer gave notice, it ended or renewed meanwhile) gets none. Returns what was done."""
    renewal_id = str(detail.get("renewal_id") or "")
    contract_id = str(detail.get("contract_id") or "")
    if not renewal_id or not contract_id:
        logger.warning("RenewalQuoteDue without renewal_id/contract_id", extra={"detail": detail})
        return "malformed"
    quote_id = renewal_quote_id(renewal_id)
    if store.get(quote_id) is not None:
        return "exists"
    term_end = date.fromisoformat(str(detail["term_end"]))
    contract = contracts.get_contract(contract_id)
    try:
        _check_renewable(contract, term_end)
    except Conflict as refusal:
        logger.info("no renewal quote", extra={"contract_id": contract_id, "why": str(refusal)})
        return "not renewable"
    deal = deal_store.get_deal(contract.deal_id, scope=access.EVERYTHING)  # a system act
    if deal is None:
        raise NotFound(f"deal {contract.deal_id} of contract {contract.number} does not exist")
    quote_date = clock.today()
    number = rules.quote_number(quote_date.year, store.next_number(quote_date.year))
    system = Principal(user=SYSTEM, groups=frozenset())
    quote = _priced_version(
        renewal_order(deal, contract),
        _customer(deal),
        QuoteRequest(term_months=int(detail.get("term_months") or contract.term_months)),
        quote_id=quote_id,
        number=number,
        version=1,
        quote_date=quote_date,
        channel="agency" if contract.agency_id else "direct",
        principal=system,
        created_at=clock.now_iso(),
        renewal=contract,
        renews_term_end=term_end,
        valid_until=max(quote_date, term_end),
    )
    try:
        store.create(quote)
    except TransactionConflict:
        return "exists"  # the same event, delivered twice at once
    count("RenewalQuotesCreated")
    _publish(
        publisher,
        "QuoteCreated",
        quote,
        by=SYSTEM,
        purpose="renewal",
        contract_id=contract.contract_id,
        renews_term_end=term_end.isoformat(),
        renewal_id=renewal_id,
    )
    return "created"


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
    if _renewal_of(current) is None:
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
    document = _consent_document(current)
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


def _consent_document(quote: Quote) -> ConsentDocument:
    """What the page shows: the quote's lines and terms; for a phone sign-up, the 契約書
    (its number and articles) the customer agrees to; for a renewal, the next term."""
    draft = quote.contract_draft
    if draft is not None:
        articles = rules_contracts.standard_articles(
            auto_renew=True, notice_days=rules_contracts.DEFAULT_NOTICE_DAYS
        )
        return rules.consent_document(
            quote.document,
            quote.consent_lines,
            title="ご契約内容のご確認",
            pdf_key=draft.pdf_key,
            reference=f"契約番号 {draft.number}（見積番号 {quote.number} 第{quote.version}版）",
            terms_after=rules_contracts.articles_text(articles),
        )
    if quote.purpose == "renewal":
        return rules.consent_document(
            quote.document,
            quote.consent_lines,
            title="ご契約更新内容のご確認",
            pdf_key=quote.pdf_key,
        )
    return rules.consent_document(quote.document, quote.consent_lines, pdf_key=quote.pdf_key)


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
    return _conclude(quote, evidence, publisher)


def accept_at_checkout(
    quote_id: str,
    *,
    evidence: Mapping[str, Any],
    by: str,
    publisher: EventPublisher | None = None,
) -> str:
    """A web-shop checkout: the customer agreed (and paid) on the shop's own page, so the
    order's quote is accepted without a consent link, with the checkout as its evidence
    (``evidence["answered_at"]``: when). Then exactly what a consent makes: the contract,
    the won deal and ``OrderConfirmed``. Repeating it changes nothing."""
    quote = store.get(quote_id)
    if quote is None:
        raise NotFound(f"no quote {quote_id}")
    if quote.status == "draft" and quote.purpose == "order":
        accepted = quote.model_copy(
            update={
                "status": "accepted",
                "answered_at": evidence.get("answered_at"),
                "updated_at": clock.now_iso(),
            }
        )
        _save(quote, accepted)
        _publish(publisher, "QuoteAccepted", accepted, by=by, evidence=dict(evidence))
        quote = accepted
    if quote.status != "accepted":
        raise Conflict(f"quote {quote_id} is {quote.status}: a checkout cannot accept it")
    _conclude(quote, evidence, publisher)
    return contracts.contract_id_for(quote.quote_id, quote.version)


def _conclude(quote: Quote, evidence: Mapping[str, Any], publisher: EventPublisher | None) -> str:
    """What an accepted quote makes (each step once): the contract (a renewal's next term),
    the won deal and ``OrderConfirmed``."""
    if quote.purpose == "renewal":
        if quote.contract_created is None:
            try:
                contract_id = _make_contract(quote, evidence, publisher)
            except Conflict as refusal:
                # The term this quote was for renewed (automatically) or ended meanwhile:
                # the agreement cannot be applied; the rep takes it up with the customer.
                logger.warning(
                    "renewal quote too late",
                    extra={"quote_id": quote.quote_id, "why": str(refusal)},
                )
                count("RenewalQuotesTooLate")
                _publish(publisher, "RenewalNotApplied", quote, by=SYSTEM, reason=refusal.message)
                return "renewal not applied"
            _save(quote, quote.model_copy(update={"contract_created": contract_id}))
        return "renewed"
    contract_id = _make_contract(quote, evidence, publisher)
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
            "contact_id": deal.contact_id,
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
