"""Phone sign-ups: the customer, the deal, the quote with its 契約書, and the consent link, in
one request that is safe to retry.

Identifiers are derived from the caller and the request's ``Idempotency-Key``, and every step
first looks for what an earlier attempt made: a retry after a failure half-way (the renderer
down, a timeout) continues from the step that failed and never makes a second customer,
quote or link. (The API's idempotency layer replays a finished answer; this covers an
attempt that did not finish.)
"""

from __future__ import annotations

from monosub import access, clock, events, ids
from monosub.auth import Principal
from monosub.domain import agencies as registration_rules
from monosub.domain import deals as deal_rules
from monosub.errors import Conflict, ValidationFailed
from monosub.events import EventPublisher
from monosub.models.agencies import RegistrationRequest
from monosub.models.catalog import Channel
from monosub.models.quotes import QuoteRequest, SendQuote
from monosub.models.signups import PhoneSignup, PhoneSignupResult
from monosub.services import quotes
from monosub.services.deals import check_requested_delivery_date
from monosub.store import agencies as registration_store
from monosub.store import deals as deal_store
from monosub.store import quotes as quote_store
from monosub.store.dynamo import TransactionConflict

SOURCE = "monosub.sales"


def phone_signup(
    request: PhoneSignup,
    *,
    principal: Principal,
    idempotency_key: str,
    link_base: str,
    publisher: EventPublisher | None = None,
) -> PhoneSignupResult:
    """Record the customer (account, contact, deal owned by the caller, channel ``phone``),
    price its quote with the 契約書 draft, and email the customer the consent link to that
    contract. A discount above the caller's limit stops before sending (the quote waits for
    a manager; sending it afterwards is ``POST /quotes/{id}/send``). The customer's agreement
    then makes the contract and ``OrderConfirmed`` exactly as for any quote."""
    access.require_creatable(access.scope_for(principal), segment=request.segment, agency_id=None)
    check_requested_delivery_date(
        request.deal.requested_delivery_date, "deal.requested_delivery_date"
    )
    check_complete(request)
    base = f"phone#{principal.user}#{idempotency_key}"
    plan = registration_rules.plan_registration(
        request,
        agency_id=None,
        by=principal.user,
        new_ids=registration_ids(base, len(request.deal.lines)),
        now=clock.now_iso(),
        how="電話受付 (phone sign-up)" + (f": {request.call_note}" if request.call_note else ""),
    )
    return sign_up(
        plan,
        request.quote,
        principal=principal,
        channel="phone",
        pricing_channel="phone",
        expires_in_days=request.expires_in_days,
        link_base=link_base,
        publisher=publisher,
    )


def registration_ids(base: str, lines: int) -> registration_rules.RegistrationIds:
    """The ids of a sign-up's records, derived from ``base`` (what makes it the same
    sign-up): a retry finds what an earlier attempt made."""
    return registration_rules.RegistrationIds(
        account_id=ids.derived_id("account", base),
        contact_id=ids.derived_id("contact", base),
        deal_id=ids.derived_id("deal", base),
        line_ids=[ids.derived_id("line", f"{base}#{n}") for n in range(lines)],
    )


def sign_up(
    plan: registration_rules.RegistrationPlan,
    quote_request: QuoteRequest,
    *,
    principal: Principal,
    channel: str,
    pricing_channel: Channel | None,
    expires_in_days: int,
    link_base: str,
    publisher: EventPublisher | None,
) -> PhoneSignupResult:
    """The steps every one-step sign-up shares (phone, application form), each first
    looking for what an earlier attempt made: the customer with its deal (``channel`` in
    ``CustomerSignedUp``), the quote priced for ``pricing_channel`` (None: the deal's own,
    agency or direct) with its 契約書 draft, and the consent link to that contract by email
    (unless the discount waits for a manager). The plan's ids decide what "the same
    sign-up" is."""
    deal_id = plan.deal.deal_id
    deal_channel: Channel = pricing_channel or ("agency" if plan.deal.agency_id else "direct")
    if deal_store.get_deal(deal_id, scope=access.EVERYTHING) is None:
        quotes.check_quotable(plan.deal, quote_request, principal=principal, channel=deal_channel)
        save_customer(plan, publisher, by=principal.user, channel=channel)
    quote = quote_store.get(quotes.quote_id_for_deal(deal_id)) or quotes.create_quote(
        deal_id,
        quote_request,
        principal=principal,
        channel=deal_channel,
        publisher=publisher,
        with_contract_draft=True,
    )
    if quote.status == "draft":
        quote = quotes.send_quote(
            quote.quote_id,
            SendQuote(version=quote.version, expires_in_days=expires_in_days),
            principal=principal,
            link_base=link_base,
            publisher=publisher,
        )
    draft = quote.contract_draft
    return PhoneSignupResult(
        account_id=plan.account.account_id,
        contact_id=plan.contact.contact_id,
        deal_id=deal_id,
        quote_id=quote.quote_id,
        quote_number=quote.number,
        quote_version=quote.version,
        quote_status=quote.status,
        contract_number=draft.number if draft else None,
        contract_pdf_key=draft.pdf_key if draft else None,
        consent_id=quote.consent_id,
        sent_to=quote.sent_to,
        one_time_total=quote.one_time_total,
        monthly_total=quote.monthly_total,
    )


def check_complete(request: RegistrationRequest) -> None:
    """Everything the customer agrees to must be known before the link goes out: an email
    to send it to, and an order that can be shipped and billed."""
    problems = []
    if request.contact.email is None:
        problems.append({"field": "contact.email", "message": "the consent link goes by email"})
    missing = deal_rules.missing_for_won(
        line_count=len(request.deal.lines),
        has_device=any(line.device_sku for line in request.deal.lines),
        payment_method=request.deal.payment_method,
        has_ship_to=request.deal.ship_to is not None,
    )
    problems += [{"field": f"deal.{name}", "message": "required to sign up"} for name in missing]
    if problems:
        raise ValidationFailed("the sign-up is incomplete", details=problems)


def save_customer(
    plan: registration_rules.RegistrationPlan,
    publisher: EventPublisher | None,
    *,
    by: str,
    channel: str,
) -> None:
    """Save a new customer's account, contact and deal together and publish
    ``CustomerSignedUp`` (every channel that signs up a new customer in one step). A company
    that is a customer already is 409; a concurrent retry that saved it first is fine."""
    try:
        registration_store.save_registration(plan)
    except registration_store.CompanyTaken:
        raise Conflict(
            "this company is a customer already: add the deal to its account",
            details=[{"field": "name", "message": "registered already"}],
        ) from None
    except TransactionConflict:
        if deal_store.get_deal(plan.deal.deal_id, scope=access.EVERYTHING) is None:
            raise Conflict("the customer's records changed meanwhile: try again") from None
        return  # a concurrent retry saved it
    (publisher or events.default_publisher).publish(
        SOURCE,
        "CustomerSignedUp",
        {
            "channel": channel,
            "account_id": plan.account.account_id,
            "contact_id": plan.contact.contact_id,
            "deal_id": plan.deal.deal_id,
            "segment": plan.account.segment,
            "name": plan.account.name,
            "by": by,
        },
    )
