"""Contracts (契約): made from an accepted quote, started by shipping or installation,
cancelled before the start, renewed by an accepted renewal quote, stopped by the customer's
notice; listed for staff and for the expiring-contracts dashboard. A daily run ends the
contracts whose term is over without renewal, renews the others automatically, and requests
the renewal quotes that fall due.

Writes are conditional on the version (and status) read; domain events (source
``monosub.contracts``) are published only after the write succeeded. Every read takes the
caller's visibility (``segments``, ``agency_id``; None: no limit) and applies it in the store:
a contract the caller may not see is "not found".

Events: ``ContractCreated``, ``ContractStarted``, ``ContractCancelled``,
``ContractRenewed``, ``ContractNoticeGiven``, ``ContractEnded``, ``RenewalQuoteDue``
(``docs/contracts.md``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from monosub import access, clock, events, ids
from monosub.documents import storage
from monosub.domain import contracts as rules
from monosub.domain.leads import is_record_id
from monosub.errors import Conflict, NotFound, ValidationFailed
from monosub.events import EventPublisher
from monosub.models.contracts import (
    ConsentReference,
    Contract,
    ContractPage,
    ContractStatus,
    ContractTerm,
    ExpiringContract,
    ExpiringPage,
    Notice,
)
from monosub.models.quotes import ContractDraft, Quote
from monosub.observability import count, logger
from monosub.store import contracts as store
from monosub.store import deals as deal_store
from monosub.store import runs
from monosub.store.dynamo import TransactionConflict

SOURCE = "monosub.contracts"
RUN_KIND = "contract-renewals"
RENEWAL_LEAD_DAYS = rules.RENEWAL_LEAD_DAYS
DEFAULT_EXPIRING_DAYS = 60
MAX_EXPIRING_DAYS = 365
_SYSTEM_ATTEMPTS = 4  # writes without a caller's version re-read and retry on a lost race
_ACCEPTING = ("sent", "accepted")  # a quote is accepted as (or just after) its consent is given


def contract_id_for(quote_id: str, quote_version: int) -> str:
    """The one contract an accepted quote version makes."""
    return ids.derived_id("contract", f"{quote_id}#v{quote_version}")


# ---- reads ---------------------------------------------------------------------------------


def get_contract(
    contract_id: str,
    *,
    segments: frozenset[str] | None = None,
    agency_id: str | None = None,
) -> Contract:
    contract = (
        store.get(contract_id, segments=segments, agency_id=agency_id)
        if is_record_id(contract_id, "contract")
        else None
    )
    if contract is None:
        raise NotFound(f"contract {contract_id} does not exist")
    return contract


def list_contracts(
    *,
    account_id: str | None = None,
    status: ContractStatus | None = None,
    limit: int = 25,
    after: str | None = None,
    segments: frozenset[str] | None = None,
    agency_id: str | None = None,
) -> ContractPage:
    """Contracts of an account (optionally in one status) or in one status, newest first."""
    if account_id is not None:
        contracts, next_token = store.list_by_account(
            account_id,
            status=status,
            limit=limit,
            after=after,
            segments=segments,
            agency_id=agency_id,
        )
    elif status is not None:
        contracts, next_token = store.list_by_status(
            status, limit=limit, after=after, segments=segments, agency_id=agency_id
        )
    else:
        raise ValidationFailed(
            "list contracts by account or status",
            details=[
                {"field": "account_id", "message": "give account_id or status (or both)"},
                {"field": "status", "message": "give account_id or status (or both)"},
            ],
        )
    return ContractPage(contracts=contracts, next=next_token)


def list_expiring(
    *,
    within_days: int = DEFAULT_EXPIRING_DAYS,
    limit: int = 50,
    after: str | None = None,
    segments: frozenset[str] | None = None,
    agency_id: str | None = None,
) -> ExpiringPage:
    """Active contracts whose latest term ends from today to ``within_days`` days from today
    (Asia/Tokyo), soonest first: the expiring-contracts dashboard."""
    if not 0 <= within_days <= MAX_EXPIRING_DAYS:
        raise ValidationFailed(
            "within_days is out of range",
            details=[{"field": "within_days", "message": f"0 to {MAX_EXPIRING_DAYS}"}],
        )
    today = clock.today()
    contracts, next_token = store.list_ending(
        today,
        today + timedelta(days=within_days),
        limit=limit,
        after=after,
        segments=segments,
        agency_id=agency_id,
    )
    return ExpiringPage(
        as_of=today,
        within_days=within_days,
        contracts=[ExpiringContract.of(c, today) for c in contracts],
        next=next_token,
    )


# ---- create --------------------------------------------------------------------------------


def create_from_quote(
    quote: Quote,
    *,
    agreed_at: str | datetime,
    consent_id: str | None,
    document_sha256: str,
    publisher: EventPublisher | None = None,
    auto_renew: bool = True,
    notice_days: int = rules.DEFAULT_NOTICE_DAYS,
) -> Contract:
    """The contract of an accepted quote version (``pending_start``: shipping or installation
    starts it), with its 契約書 PDF rendered into the documents bucket. Publishes
    ``ContractCreated``.

    Idempotent: the contract's id is derived from the quote id and version, so a second
    call returns the contract made by the first and writes nothing (and publishes nothing).
    The contract number is reserved for the contract id before the PDF is rendered, so a
    retry after a failure renders the same document to the same key.
    """
    contract_id = contract_id_for(quote.quote_id, quote.version)
    existing = store.get(contract_id)
    if existing is not None:
        return existing
    _check_quote(quote, purpose="order")
    _check_settings(notice_days)
    agreed = _instant(agreed_at)
    deal = deal_store.get_deal(quote.deal_id, scope=access.EVERYTHING)  # a system act
    payment_method = deal.payment_method if deal else None
    draft = quote.contract_draft
    if draft is not None and draft.contract_id == contract_id:
        # The customer agreed to this very 契約書 (a phone sign-up): keep it as it was.
        number, contract_date = draft.number, draft.contract_date
        stored = storage.StoredDocument(draft.pdf_key, draft.pdf_sha256, draft.pdf_size)
    else:
        contract_date = clock.parse_instant(agreed).astimezone(clock.TOKYO).date()
        number, stored = _render(
            quote,
            contract_id,
            contract_date,
            payment_method,
            auto_renew=auto_renew,
            notice_days=notice_days,
        )
    consent = ConsentReference(
        consent_id=consent_id, document_sha256=document_sha256, agreed_at=agreed
    )
    now = clock.now_iso()
    contract = Contract(
        contract_id=contract_id,
        number=number,
        account_id=quote.account_id,
        deal_id=quote.deal_id,
        contact_id=quote.contact_id,
        quote_id=quote.quote_id,
        quote_version=quote.version,
        owner=quote.owner,
        agency_id=quote.agency_id,
        segment=quote.segment,
        status="pending_start",
        contract_date=contract_date,
        term_months=quote.term_months,
        auto_renew=auto_renew,
        notice_days=notice_days,
        payment_method=payment_method,
        lines=list(quote.lines),
        document=quote.document,
        monthly_total=quote.monthly_total,
        consent=consent,
        terms=[_term(1, quote, consent, stored, start=None, end=None)],
        pdf_key=stored.key,
        pdf_sha256=stored.sha256,
        created_at=now,
        updated_at=now,
    )
    try:
        store.create(contract)
    except TransactionConflict:
        made = store.get(contract_id)
        if made is None:
            raise
        return made  # a concurrent call made it
    count("ContractsCreated")
    _publish(
        publisher,
        "ContractCreated",
        contract,
        {
            "number": contract.number,
            "quote_id": contract.quote_id,
            "quote_version": contract.quote_version,
            "segment": contract.segment,
            "owner": contract.owner,
            "term_months": contract.term_months,
            "auto_renew": contract.auto_renew,
            "one_time_total": contract.one_time_total,
            "monthly_total": contract.monthly_total,
            "pdf_key": contract.pdf_key,
            "pdf_sha256": contract.pdf_sha256,
        },
    )
    return contract


def draft_contract(
    quote: Quote,
    payment_method: str | None,
    *,
    auto_renew: bool = True,
    notice_days: int = rules.DEFAULT_NOTICE_DAYS,
) -> ContractDraft:
    """The 契約書 of a quote version before the customer agreed (phone sign-ups send it for
    consent): the contract's number is reserved for the contract id that version would
    make, dated the quote date, rendered where the contract's PDF goes. Rendering again
    (a retry) gives the same number and document."""
    _check_settings(notice_days)
    contract_id = contract_id_for(quote.quote_id, quote.version)
    number, stored = _render(
        quote,
        contract_id,
        quote.quote_date,
        payment_method,
        auto_renew=auto_renew,
        notice_days=notice_days,
    )
    return ContractDraft(
        contract_id=contract_id,
        number=number,
        contract_date=quote.quote_date,
        pdf_key=stored.key,
        pdf_sha256=stored.sha256,
        pdf_size=stored.size,
    )


def _render(
    quote: Quote,
    contract_id: str,
    contract_date: date,
    payment_method: str | None,
    *,
    auto_renew: bool,
    notice_days: int,
) -> tuple[str, storage.StoredDocument]:
    number = store.reserve_number(contract_id, contract_date.year)
    document = rules.contract_document(
        quote,
        number,
        contract_date,
        rules.standard_articles(auto_renew=auto_renew, notice_days=notice_days),
        payment_method=payment_method,
    )
    return number, storage.store_pdf("contract", document, storage.contract_pdf_key(contract_id))


# ---- start ---------------------------------------------------------------------------------


def start(
    contract_id: str, start_date: date, *, by: str, publisher: EventPublisher | None = None
) -> Contract:
    """Fix the start (利用開始日 = 課金開始日) of a ``pending_start`` contract, and so its end
    and notice dates: it becomes ``active``. Called when the devices are delivered or
    installed. Starting it again on the same date returns it unchanged; another date is a
    409. Publishes ``ContractStarted``."""
    for _ in range(_SYSTEM_ATTEMPTS):
        contract = get_contract(contract_id)
        if contract.status != "pending_start":
            if contract.status == "active" and contract.start_date == start_date:
                return contract
            raise Conflict(
                f"contract {contract_id} is {contract.status}"
                + (f" since {contract.start_date}" if contract.start_date else ""),
                details=_details(status=contract.status, start_date=contract.start_date),
            )
        if start_date < contract.contract_date:
            raise ValidationFailed(
                "a contract starts on or after its contract date",
                details=[
                    {
                        "field": "start_date",
                        "message": f"not before the contract date {contract.contract_date}",
                    }
                ],
            )
        dates = rules.term_dates(start_date, contract.term_months, contract.notice_days)
        terms = list(contract.terms)
        terms[0] = terms[0].model_copy(update={"start_date": dates.start, "end_date": dates.end})
        started = contract.model_copy(
            update={
                "status": "active",
                "start_date": dates.start,
                "term_start": dates.start,
                "end_date": dates.end,
                "notice_date": dates.notice,
                "terms": terms,
                "updated_at": clock.now_iso(),
                "version": contract.version + 1,
            }
        )
        try:
            store.save(started, expected_version=contract.version, expected_status="pending_start")
        except TransactionConflict:
            continue
        _publish(
            publisher,
            "ContractStarted",
            started,
            {
                "start_date": dates.start,
                "end_date": dates.end,
                "notice_date": dates.notice,
                "term_months": started.term_months,
                "by": by,
            },
        )
        return started
    raise Conflict(f"contract {contract_id} kept changing: try again")


# ---- cancel --------------------------------------------------------------------------------


def cancel(
    contract_id: str,
    *,
    version: int,
    by: str,
    reason: str,
    segments: frozenset[str] | None = None,
    agency_id: str | None = None,
    publisher: EventPublisher | None = None,
) -> Contract:
    """Call off a contract before it started (the customer withdrew, the order cannot be
    delivered): ``cancelled``, with who, when and why. Only a ``pending_start`` contract
    (409 otherwise, or when ``version`` is not the current one): a started contract ends
    with its term. Publishes ``ContractCancelled``, on which fulfilment stops the shipment
    (the detail names the order: ``quote_id``, ``quote_version``)."""
    contract = _read_at(contract_id, version, segments=segments, agency_id=agency_id)
    if contract.status != "pending_start":
        raise Conflict(
            f"contract {contract_id} is {contract.status}: only a contract that has not "
            "started is cancelled",
            details={"status": contract.status},
        )
    now = clock.now_iso()
    cancelled = contract.model_copy(
        update={
            "status": "cancelled",
            "cancelled_at": now,
            "cancelled_by": by,
            "cancel_reason": reason,
            "updated_at": now,
            "version": contract.version + 1,
        }
    )
    _save_as_read(cancelled, contract)
    count("ContractsCancelled")
    _publish(
        publisher,
        "ContractCancelled",
        cancelled,
        {
            "number": cancelled.number,
            "quote_id": cancelled.quote_id,
            "quote_version": cancelled.quote_version,
            "cancelled_at": now,
            "reason": reason,
            "by": by,
        },
    )
    return cancelled


# ---- renew ---------------------------------------------------------------------------------


def renew_from_quote(
    renewal_quote: Quote,
    *,
    agreed_at: str | datetime,
    consent_id: str | None,
    document_sha256: str,
    publisher: EventPublisher | None = None,
) -> Contract:
    """Apply an accepted renewal quote (``purpose="renewal"``, ``contract_id`` set) to its
    active contract: the next term starts the day after the current end, for the quote's
    term, with the quote's lines and priced items; the 更新 契約書 PDF is rendered. Publishes
    ``ContractRenewed``.

    Idempotent: a quote version already applied (a term refers to it) returns the contract
    and writes nothing. A contract the customer gave notice on, or not active, is a 409; so
    is a quote that follows another term than the current one (``renews_term_end`` is not
    the contract's end: it renewed meanwhile, automatically or by another quote). A quote
    without ``renews_term_end`` (made before quotes named it) is not checked.
    """
    if renewal_quote.purpose != "renewal" or renewal_quote.contract_id is None:
        raise ValidationFailed(
            "not a renewal quote",
            details=[{"field": "purpose", "message": "a renewal quote names its contract"}],
        )
    contract_id = renewal_quote.contract_id
    agreed = _instant(agreed_at)
    for _ in range(_SYSTEM_ATTEMPTS):
        contract = get_contract(contract_id)
        if _term_of(contract, renewal_quote) is not None:
            return contract
        _check_quote(renewal_quote, purpose="renewal")
        if renewal_quote.account_id != contract.account_id:
            raise Conflict(
                f"quote {renewal_quote.quote_id} is for another account than contract {contract_id}"
            )
        if contract.status != "active" or contract.end_date is None:
            raise Conflict(
                f"contract {contract_id} is {contract.status}: only an active contract renews",
                details={"status": contract.status},
            )
        follows = renewal_quote.renews_term_end
        if follows is not None and follows != contract.end_date:
            raise Conflict(
                f"quote {renewal_quote.quote_id} renews the term ending {follows}, but contract "
                f"{contract_id} renewed meanwhile: its current term ends {contract.end_date}",
                details=_details(renews_term_end=follows, end_date=contract.end_date),
            )
        if contract.notice is not None:
            raise Conflict(
                f"the customer gave notice on contract {contract_id}: it ends on "
                f"{contract.end_date}",
                details={"notice": contract.notice.model_dump(mode="json")},
            )
        dates = rules.next_term(contract.end_date, renewal_quote.term_months, contract.notice_days)
        contract_date = clock.parse_instant(agreed).astimezone(clock.TOKYO).date()
        number = len(contract.terms) + 1
        document = rules.contract_document(
            renewal_quote,
            contract.number,
            contract_date,
            rules.standard_articles(
                auto_renew=contract.auto_renew, notice_days=contract.notice_days
            ),
            payment_method=contract.payment_method,
            service_start=dates.start,
        )
        stored = storage.store_pdf(
            "contract", document, renewal_pdf_key(contract_id, renewal_quote)
        )
        consent = ConsentReference(
            consent_id=consent_id, document_sha256=document_sha256, agreed_at=agreed
        )
        renewed = contract.model_copy(
            update={
                "term_months": dates.months,
                "term_start": dates.start,
                "end_date": dates.end,
                "notice_date": dates.notice,
                "renewal_requested_for": None,
                "renewal_requested_at": None,
                "renewed_count": contract.renewed_count + 1,
                "lines": list(renewal_quote.lines),
                "document": renewal_quote.document,
                "monthly_total": renewal_quote.monthly_total,  # a new agreement
                "terms": [
                    *contract.terms,
                    _term(number, renewal_quote, consent, stored, start=dates.start, end=dates.end),
                ],
                "pdf_key": stored.key,
                "pdf_sha256": stored.sha256,
                "updated_at": clock.now_iso(),
                "version": contract.version + 1,
            }
        )
        try:
            store.save(renewed, expected_version=contract.version, expected_status="active")
        except TransactionConflict:
            continue
        _publish(
            publisher,
            "ContractRenewed",
            renewed,
            {
                "term": number,
                "quote_id": renewal_quote.quote_id,
                "quote_version": renewal_quote.version,
                "previous_end_date": contract.end_date,
                "start_date": dates.start,
                "end_date": dates.end,
                "notice_date": dates.notice,
                "term_months": dates.months,
                "monthly_total": renewed.monthly_total,
                "pdf_key": stored.key,
                "automatic": False,
            },
        )
        return renewed
    raise Conflict(f"contract {contract_id} kept changing: try again")


def renewal_pdf_key(contract_id: str, renewal_quote: Quote) -> str:
    """Where a renewal's 契約書 goes: one object per accepted renewal quote version."""
    quote = f"{renewal_quote.quote_id}-v{renewal_quote.version:03d}"
    return f"contracts/{contract_id}/renewal-{quote}.pdf"


# ---- notice --------------------------------------------------------------------------------


def give_notice(
    contract_id: str,
    *,
    version: int,
    by: str,
    reason: str | None = None,
    segments: frozenset[str] | None = None,
    agency_id: str | None = None,
    publisher: EventPublisher | None = None,
) -> Contract:
    """Record the customer's notice (解約予告): the contract does not renew and ends with its
    current term. Only for an active, auto-renewing contract, up to its notice date (409
    after it, or when ``version`` is not the current one). Publishes
    ``ContractNoticeGiven``."""
    contract = _read_at(contract_id, version, segments=segments, agency_id=agency_id)
    if contract.status != "active":
        raise Conflict(
            f"contract {contract_id} is {contract.status}: notice is given on an active contract",
            details={"status": contract.status},
        )
    if contract.notice is not None or not contract.auto_renew:
        raise Conflict(
            f"contract {contract_id} does not renew: it ends on {contract.end_date}",
            details=_details(auto_renew=contract.auto_renew, end_date=contract.end_date),
        )
    today = clock.today()
    if not rules.notice_still_possible(today, contract.notice_date):
        raise Conflict(
            f"the notice date {contract.notice_date} of contract {contract_id} has passed",
            details=_details(notice_date=contract.notice_date, today=today),
        )
    assert contract.end_date is not None
    now = clock.now_iso()
    noticed = contract.model_copy(
        update={
            "auto_renew": False,
            "notice": Notice(given_at=now, by=by, for_term_end=contract.end_date, reason=reason),
            "updated_at": now,
            "version": contract.version + 1,
        }
    )
    _save_as_read(noticed, contract)
    _publish(
        publisher,
        "ContractNoticeGiven",
        noticed,
        {
            "end_date": contract.end_date,
            "notice_date": contract.notice_date,
            "renewal_requested": contract.renewal_requested_for == contract.end_date,
            "reason": reason,
            "by": by,
        },
    )
    return noticed


# ---- the daily renewal schedule ------------------------------------------------------------


def run_renewals(
    day: date, *, lead_days: int = RENEWAL_LEAD_DAYS, publisher: EventPublisher | None = None
) -> dict[str, Any]:
    """The ``contract-renewals`` run of ``day``, in the run ledger (business key
    ``contract-renewals#<day>``): first the terms that are over (``close_terms``: end or
    renew automatically), then the renewal quotes that fall due (``request_due_renewals``),
    so a contract renewed automatically this morning is requested for its new term when that
    is due. A run that succeeded is not run again; a failed or unfinished one runs again
    (each contract's change is conditional on what was read, so nothing happens twice)."""
    business_key = f"{RUN_KIND}#{day.isoformat()}"
    run, created = runs.open_run(
        RUN_KIND, business_key, {"date": day.isoformat(), "lead_days": lead_days}
    )
    if not created and run.status == "succeeded":
        return {"run_id": run.run_id, "status": run.status, "rerun": True, **run.counts}
    if not created and run.status == "running":
        runs.restart(run.run_id)  # an unfinished run of that day goes on
    elif not created:
        runs.update(run.run_id, status="running")  # a failed one runs again
    closed, closing_errors = close_terms(day, publisher=publisher)
    requested, request_errors = request_due_renewals(day, lead_days=lead_days, publisher=publisher)
    counts = {**closed, **requested}
    errors = closing_errors + request_errors
    status = "failed" if errors else "succeeded"
    runs.update(
        run.run_id,
        status=status,
        counts=counts,
        errors=errors,
        message=f"{counts['ended']} contract(s) ended, {counts['auto_renewed']} term(s) "
        f"renewed automatically; {counts['requested'] + counts['resent']} renewal quote(s) "
        f"requested for notice dates up to {day + timedelta(days=lead_days)}",
    )
    return {"run_id": run.run_id, "status": status, "rerun": False, **counts}


def close_terms(
    day: date, *, publisher: EventPublisher | None = None
) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """For every active contract whose term ended before ``day``: end it (``ContractEnded``:
    notice given, or not renewing automatically) or renew it automatically on the same
    terms (``ContractRenewed`` with ``automatic``), term after term until one lasts into
    ``day`` (the run missed days). First, the events of earlier closings that never went out
    are sent. Returns the counts and the errors (one per contract that failed; the others go
    on)."""
    counts = {"terms_over": 0, "ended": 0, "auto_renewed": 0, "term_events_resent": 0}
    errors: list[dict[str, Any]] = []
    for marker in store.term_events_to_publish():
        try:
            (publisher or events.default_publisher).publish(
                SOURCE, marker["detail_type"], marker["detail"]
            )
            store.term_event_published(
                marker["contract_id"], marker["term_end"], published_at=clock.now_iso()
            )
        except Exception as error:  # one contract's failure does not stop the others
            logger.exception("term event not sent", extra={"contract_id": marker["contract_id"]})
            errors.append({"contract_id": marker["contract_id"], "message": str(error)})
            continue
        counts["term_events_resent"] += 1
    for contract in store.terms_over(day):
        counts["terms_over"] += 1
        try:
            ended, renewed = _close_term(contract, day, publisher)
        except Exception as error:  # one contract's failure does not stop the others
            logger.exception("term not closed", extra={"contract_id": contract.contract_id})
            errors.append({"contract_id": contract.contract_id, "message": str(error)})
            continue
        counts["ended"] += ended
        counts["auto_renewed"] += renewed
    count("ContractsEnded", counts["ended"])
    count("ContractsRenewedAutomatically", counts["auto_renewed"])
    return counts, errors


def _close_term(contract: Contract, day: date, publisher: EventPublisher | None) -> tuple[int, int]:
    """End the contract or renew it automatically, as many terms as are over on ``day``.
    Returns (ended, terms renewed). Every change is a conditional write on the version and
    status read, with the term's marker (only if absent): a rerun, or a concurrent change,
    changes nothing twice (a lost race re-reads and decides again)."""
    ended = renewed = 0
    attempts = 0
    while rules.term_over(contract.renewal_candidate(), day):
        term_end = contract.end_date
        assert term_end is not None
        reason = rules.end_reason(contract.renewal_candidate())
        if reason is not None:
            changed, detail_type, detail = _ended(contract, reason)
        else:
            changed, detail_type, detail = _renewed_automatically(contract)
        now = clock.now_iso()
        full = _event_detail(changed, detail)
        marker = store.term_event_operation(
            contract, term_end, detail_type=detail_type, detail=full, at=now
        )
        try:
            store.save(
                changed, expected_version=contract.version, expected_status="active", extra=[marker]
            )
        except TransactionConflict:
            attempts += 1
            current = store.get(contract.contract_id)
            if current is None or attempts >= _SYSTEM_ATTEMPTS:
                raise RuntimeError(f"contract {contract.contract_id} kept changing") from None
            contract = current
            continue
        (publisher or events.default_publisher).publish(SOURCE, detail_type, full)
        store.term_event_published(contract.contract_id, term_end, published_at=now)
        ended += reason is not None
        renewed += reason is None
        contract = changed
    return ended, renewed


def _ended(contract: Contract, reason: rules.EndReason) -> tuple[Contract, str, dict[str, Any]]:
    """The contract ended with its term (the end date stays), and its ``ContractEnded``."""
    assert contract.end_date is not None
    now = clock.now_iso()
    ended = contract.model_copy(
        update={
            "status": "ended",
            "ended_at": now,
            "end_reason": reason,
            "updated_at": now,
            "version": contract.version + 1,
        }
    )
    return ended, "ContractEnded", {"end_date": contract.end_date.isoformat(), "reason": reason}


def _renewed_automatically(contract: Contract) -> tuple[Contract, str, dict[str, Any]]:
    """The next term on the same terms (months, lines, priced items), as the contract's
    articles provide: no quote, consent or new 契約書 (the one in force goes on), and its
    ``ContractRenewed`` (``automatic``). The renewal request is cleared, so the new term's
    renewal quote is requested when it falls due."""
    assert contract.end_date is not None
    dates = rules.next_term(contract.end_date, contract.term_months, contract.notice_days)
    number = len(contract.terms) + 1
    term = ContractTerm(
        number=number,
        automatic=True,
        term_months=dates.months,
        start_date=dates.start,
        end_date=dates.end,
        one_time_total=0,
        monthly_total=contract.monthly_total,
        pdf_key=contract.pdf_key,
        pdf_sha256=contract.pdf_sha256,
    )
    renewed = contract.model_copy(
        update={
            "term_start": dates.start,
            "end_date": dates.end,
            "notice_date": dates.notice,
            "renewal_requested_for": None,
            "renewal_requested_at": None,
            "renewed_count": contract.renewed_count + 1,
            "terms": [*contract.terms, term],
            "updated_at": clock.now_iso(),
            "version": contract.version + 1,
        }
    )
    detail = {
        "term": number,
        "automatic": True,
        "quote_id": None,
        "quote_version": None,
        "previous_end_date": contract.end_date.isoformat(),
        "start_date": dates.start.isoformat(),
        "end_date": dates.end.isoformat(),
        "notice_date": dates.notice.isoformat(),
        "term_months": dates.months,
        "monthly_total": renewed.monthly_total,
        "pdf_key": renewed.pdf_key,
    }
    return renewed, "ContractRenewed", detail


def request_due_renewals(
    day: date, *, lead_days: int = RENEWAL_LEAD_DAYS, publisher: EventPublisher | None = None
) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """Publish ``RenewalQuoteDue`` for every active auto-renewing contract whose notice date
    is within ``lead_days`` of ``day`` (or passed, while its term lasts), once per term.
    Returns the counts and the errors (one per contract that failed; the others go on)."""
    counts = {"listed": 0, "requested": 0, "resent": 0, "already_requested": 0, "not_due": 0}
    errors: list[dict[str, Any]] = []
    first, last = rules.renewal_notice_window(day, lead_days)
    for contract in store.renewals_to_request(first, last):
        counts["listed"] += 1
        try:
            outcome = _request_renewal(contract, day, lead_days, publisher)
        except Exception as error:  # one contract's failure does not stop the others
            logger.exception("renewal request failed", extra={"contract_id": contract.contract_id})
            errors.append({"contract_id": contract.contract_id, "message": str(error)})
            continue
        counts[outcome] += 1
    count("RenewalQuotesDue", counts["requested"] + counts["resent"])
    return counts, errors


def _request_renewal(
    contract: Contract, day: date, lead_days: int, publisher: EventPublisher | None
) -> str:
    for _ in range(_SYSTEM_ATTEMPTS):
        if contract.end_date is not None and contract.renewal_requested_for == contract.end_date:
            marker = store.renewal_marker(contract.contract_id, contract.end_date)
            outcome = "already_requested"
            if marker is not None and not marker.get("published_at"):
                (publisher or events.default_publisher).publish(
                    SOURCE, "RenewalQuoteDue", dict(marker["detail"])
                )
                outcome = "resent"
            store.renewal_published(
                contract.contract_id, contract.end_date, published_at=clock.now_iso()
            )
            return outcome
        if not rules.renewal_due(contract.renewal_candidate(), day, lead_days):
            return "not_due"
        assert contract.end_date is not None and contract.notice_date is not None
        term_end = contract.end_date
        following = rules.next_term(contract.end_date, contract.term_months, contract.notice_days)
        detail = {
            "renewal_id": ids.derived_id("renewal", f"{contract.contract_id}#{contract.end_date}"),
            "contract_id": contract.contract_id,
            "number": contract.number,
            "account_id": contract.account_id,
            "deal_id": contract.deal_id,
            "owner": contract.owner,
            "segment": contract.segment,
            "agency_id": contract.agency_id,
            "term_end": contract.end_date.isoformat(),
            "notice_date": contract.notice_date.isoformat(),
            "next_term_start": following.start.isoformat(),
            "next_term_end": following.end.isoformat(),
            "term_months": following.months,
            "monthly_total": contract.monthly_total,
        }
        try:
            store.mark_renewal_requested(contract, requested_at=clock.now_iso(), detail=detail)
        except TransactionConflict:
            current = store.get(contract.contract_id)
            if current is None:
                return "not_due"
            contract = current
            continue
        (publisher or events.default_publisher).publish(SOURCE, "RenewalQuoteDue", detail)
        store.renewal_published(contract.contract_id, term_end, published_at=clock.now_iso())
        return "requested"
    raise RuntimeError(f"contract {contract.contract_id} kept changing")


# ---- helpers -------------------------------------------------------------------------------


def _read_at(
    contract_id: str,
    version: int,
    *,
    segments: frozenset[str] | None,
    agency_id: str | None,
) -> Contract:
    """The contract a caller changes, as long as it is still the ``version`` the caller
    read (409 otherwise)."""
    contract = get_contract(contract_id, segments=segments, agency_id=agency_id)
    if contract.version != version:
        raise Conflict(
            f"contract {contract_id} was changed meanwhile: read it again",
            details={"expected_version": version, "version": contract.version},
        )
    return contract


def _save_as_read(updated: Contract, read: Contract) -> None:
    """Save a caller's change, conditional on the version and status read (409 when the
    contract changed in between)."""
    try:
        store.save(updated, expected_version=read.version, expected_status=read.status)
    except TransactionConflict:
        current = store.get(read.contract_id)
        raise Conflict(
            f"contract {read.contract_id} was changed meanwhile: read it again",
            details={
                "expected_version": read.version,
                "version": current.version if current else None,
            },
        ) from None


def _check_quote(quote: Quote, *, purpose: str) -> None:
    if quote.purpose != purpose:
        raise ValidationFailed(
            f"quote {quote.quote_id} is a {quote.purpose} quote",
            details=[{"field": "purpose", "message": f"expected a {purpose} quote"}],
        )
    if quote.status not in _ACCEPTING:
        raise Conflict(
            f"quote {quote.quote_id} v{quote.version} is {quote.status}: only an accepted "
            "quote makes a contract",
            details={"status": quote.status},
        )


def _check_settings(notice_days: int) -> None:
    if not 0 <= notice_days <= rules.MAX_NOTICE_DAYS:
        raise ValidationFailed(
            "notice_days is out of range",
            details=[{"field": "notice_days", "message": f"0 to {rules.MAX_NOTICE_DAYS}"}],
        )


def _details(**values: Any) -> dict[str, Any]:
    """Details of a refusal, as JSON values (dates as ISO strings)."""
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in values.items()}


def _instant(value: str | datetime) -> str:
    return clock.iso(value if isinstance(value, datetime) else clock.parse_instant(value))


def _term(
    number: int,
    quote: Quote,
    consent: ConsentReference,
    stored: storage.StoredDocument,
    *,
    start: date | None,
    end: date | None,
) -> ContractTerm:
    return ContractTerm(
        number=number,
        quote_id=quote.quote_id,
        quote_version=quote.version,
        quote_number=quote.number,
        term_months=quote.term_months,
        start_date=start,
        end_date=end,
        one_time_total=quote.one_time_total,
        monthly_total=quote.monthly_total,
        consent=consent,
        pdf_key=stored.key,
        pdf_sha256=stored.sha256,
    )


def _term_of(contract: Contract, quote: Quote) -> ContractTerm | None:
    return next(
        (
            t
            for t in contract.terms
            if t.quote_id == quote.quote_id and t.quote_version == quote.version
        ),
        None,
    )


def _event_detail(contract: Contract, detail: Mapping[str, Any]) -> dict[str, Any]:
    """What every contract event says (filed under the account and the deal), then its own."""
    return {
        "contract_id": contract.contract_id,
        "account_id": contract.account_id,
        "deal_id": contract.deal_id,
        "version": contract.version,
        **detail,
    }


def _publish(
    publisher: EventPublisher | None,
    detail_type: str,
    contract: Contract,
    detail: Mapping[str, Any],
) -> None:
    (publisher or events.default_publisher).publish(
        SOURCE, detail_type, _event_detail(contract, detail)
    )
