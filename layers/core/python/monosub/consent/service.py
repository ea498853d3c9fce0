"""Consent without a login.

For other features (quotes): ``request_consent`` renders the document, stores it with its
hash, supersedes the subject's pending request, emails the link and publishes
``ConsentRequested``. When the customer answers, ``ConsentGiven`` or ``ConsentDeclined`` is
published on the domain-events bus (source ``monosub.consent``); subscribe to those.

For the daily follow-up of unanswered requests (``monosub.services.consent_follow_up``):
``remind`` emails the same link again, once per reminder level, and ``expire`` marks a request
nobody answered in time expired; each publishes ``ConsentReminded`` / ``ConsentExpired``.

For the public page (``functions/api/consent.py``): ``open_consent`` (GET) and
``answer_consent`` (POST) take the token from the URL. The signature is verified before
anything is read; a link that cannot be used changes nothing, is recorded for the audit and
logged, and its visitor gets a page that says why.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import EmailStr, TypeAdapter, ValidationError

from monosub import clock, email, events
from monosub.consent import follow_up, render, secret, tokens
from monosub.consent.models import (
    MAX_REASON_CHARS,
    SUBJECT_ID,
    SUBJECT_KIND,
    Answer,
    Consent,
    ConsentDocument,
    ConsentRequest,
    Decision,
    ListedAs,
    RefusedAttempt,
)
from monosub.errors import Conflict, NotFound, ValidationFailed
from monosub.observability import count, logger
from monosub.store import consents as store

SOURCE = "monosub.consent"
REQUESTED = "ConsentRequested"
GIVEN = "ConsentGiven"
DECLINED = "ConsentDeclined"
WITHDRAWN = "ConsentWithdrawn"
REMINDED = "ConsentReminded"
EXPIRED = "ConsentExpired"
DEFAULT_EXPIRY = timedelta(days=14)
SHORTEST_EXPIRY = timedelta(hours=1)
LONGEST_EXPIRY = timedelta(days=90)
_CREATE_ATTEMPTS = 8
_LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
_EMAIL = TypeAdapter(EmailStr)

# How a visit ended; the page and the HTTP status follow from it (functions/api/consent.py).
Outcome = Literal[
    "show",  # the page that asks
    "agreed",  # this request recorded an agreement
    "declined",  # this request recorded a decline
    "answered",  # answered before: nothing changes
    "expired",
    "superseded",
    "invalid",  # not a token we signed (malformed or tampered)
    "not_found",  # signed, but no such consent
    "changed",  # the page posted another document than the one on record
    "bad_request",  # a valid link, but no usable decision in the form
]


@dataclass(frozen=True)
class Visit:
    """Who is at the page: what the evidence and the audit keep about a request."""

    method: str
    ip: str | None
    user_agent: str | None


@dataclass(frozen=True)
class Visited:
    outcome: Outcome
    consent: Consent | None = None


# ---- asking --------------------------------------------------------------------------------


def request_consent(  # noqa: PLR0917  (the documented positional signature)
    subject_kind: str,
    subject_id: str,
    subject_version: int,
    recipient_email: str,
    recipient_name: str,
    document: ConsentDocument,
    expires_in: timedelta = DEFAULT_EXPIRY,
    requested_by: str = "",
    *,
    link_base: str,
    references: Mapping[str, str] | None = None,
    mailer: email.Mailer | None = None,
    publisher: events.EventPublisher | None = None,
) -> ConsentRequest:
    """Ask ``recipient_email`` to agree to ``document`` (about ``subject_kind``
    ``subject_id`` at ``subject_version``), by email, through a page needing no login.

    ``link_base`` is where the public API is reached (``link_base_from_event`` gives it from
    the current API request); the link is ``<link_base>/consent/<token>``. ``references``
    (e.g. ``{"deal_id": ..., "account_id": ...}``) travel in every event, so the audit trail
    files them under those subjects too. A pending earlier request for the same subject is
    superseded: its link then shows "superseded" and changes nothing.

    The link works for ``expires_in``, but never longer than the follow-up policy's
    ``expire_after_days`` (``monosub.consent.follow_up``): a request nobody answered goes to
    the back office then, and its link must not outlive that.
    """
    _check_subject(subject_kind, subject_id, subject_version)
    recipient_email = _check_email(recipient_email)
    recipient_name = recipient_name.strip()
    if not 0 < len(recipient_name) <= 100:
        raise ValidationFailed("recipient_name must have 1 to 100 characters")
    if not SHORTEST_EXPIRY <= expires_in <= LONGEST_EXPIRY:
        raise ValidationFailed("expires_in must be between 1 hour and 90 days")
    base = _check_link_base(link_base)
    references = dict(references or {})

    now = clock.now().replace(microsecond=0)
    consent_id = tokens.new_consent_id()
    expires_at = now + follow_up.link_lifetime(follow_up.load_policy(), expires_in)
    html = render.document_html(document)
    consent = Consent(
        consent_id=consent_id,
        subject_kind=subject_kind,
        subject_id=subject_id,
        subject_version=subject_version,
        references=references,
        recipient_email=recipient_email,
        recipient_name=recipient_name,
        document=document,
        document_html=html,
        document_sha256=render.sha256_hex(html),
        template_version=render.TEMPLATE_VERSION,
        status="pending",
        requested_at=clock.iso(now),
        requested_by=requested_by,
        expires_at=clock.iso(expires_at),
        link_base=base,
    )
    consent = consent.model_copy(update={"listed": _listed_as(consent)})
    token = tokens.issue(consent_id, expires_at, key=secret.signing_key())
    consent = _store_superseding(consent)

    message = render.email(consent, f"{base}/consent/{token}")
    message_id = (mailer or email.default_mailer).send(message)
    store.set_email_message_id(consent_id, message_id)
    logger.info(
        "consent requested",
        extra={
            "consent_id": consent_id,
            "subject": f"{subject_kind}/{subject_id}/v{subject_version}",
            "supersedes": consent.supersedes,
            "expires_at": consent.expires_at,
        },
    )
    count("ConsentsRequested")
    (publisher or events.default_publisher).publish(
        SOURCE,
        REQUESTED,
        {
            **_subject_detail(consent),
            "supersedes": consent.supersedes,
            "expires_at": consent.expires_at,
            "requested_by": requested_by,
            "document_sha256": consent.document_sha256,
            "document_version": subject_version,
        },
    )
    return ConsentRequest(
        consent_id=consent_id,
        subject_kind=subject_kind,
        subject_id=subject_id,
        subject_version=subject_version,
        recipient_email=recipient_email,
        status="pending",
        requested_at=consent.requested_at,
        expires_at=consent.expires_at,
        document_sha256=consent.document_sha256,
        document_version=subject_version,
        supersedes=consent.supersedes,
        email_message_id=message_id,
    )


def link_base_from_event(event: Mapping[str, Any]) -> str:
    """Where the API was reached for this API Gateway proxy event: ``https://<host>`` plus
    the stage on an execute-api host (``https://<id>.execute-api.<region>.amazonaws.com/dev``).
    Behind a custom domain with a base path, pass ``link_base`` yourself."""
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    host = headers.get("host")
    if not host:
        raise ValidationFailed("the request names no Host: pass link_base")
    scheme = headers.get("x-forwarded-proto", "https").split(",")[0].strip()
    stage = (event.get("requestContext") or {}).get("stage")
    prefix = f"/{stage}" if stage and host.endswith(".amazonaws.com") else ""
    return f"{scheme}://{host}{prefix}"


def consents_for(subject_kind: str, subject_id: str) -> list[Consent]:
    """Every request for a subject, newest first."""
    return list(store.for_subject(subject_kind, subject_id))


def withdraw(
    subject_kind: str,
    subject_id: str,
    *,
    reason: str,
    by: str,
    publisher: events.EventPublisher | None = None,
) -> str | None:
    """The subject changed after its link was sent: the pending link stops working (its
    page says a newer one was sent, or will be). Returns the withdrawn consent's id, or None
    when no link was pending. Publishes ``ConsentWithdrawn``."""
    current = store.current(subject_kind, subject_id)
    if current is None:
        return None
    consent_id = current[0]
    if not store.withdraw(consent_id, clock.now_iso(), reason):
        return None
    logger.info("consent withdrawn", extra={"consent_id": consent_id, "reason": reason})
    (publisher or events.default_publisher).publish(
        SOURCE,
        WITHDRAWN,
        {
            "consent_id": consent_id,
            "subject_kind": subject_kind,
            "subject_id": subject_id,
            f"{subject_kind}_id": subject_id,
            "reason": reason,
            "by": by,
        },
    )
    return consent_id


def _listed_as(consent: Consent) -> ListedAs:
    """Who may see the request in the lists, and what they show of its subject, from the
    record it is about. This package does not know its subjects; the service that does
    (``monosub.services.consents``) says it. Imported here, not above: it imports this."""
    from monosub.services import consents as subjects

    return subjects.listed_as(consent)


def _store_superseding(consent: Consent) -> Consent:
    for _ in range(_CREATE_ATTEMPTS):
        current = store.current(consent.subject_kind, consent.subject_id)
        previous = store.get(current[0]) if current else None
        if current and previous is None:
            raise RuntimeError(f"consent {current[0]} is current but missing")
        candidate = consent.model_copy(
            update={
                "sequence": current[1] + 1 if current else 1,
                "supersedes": previous.consent_id
                if previous is not None and previous.status == "pending"
                else None,
            }
        )
        try:
            store.create(candidate, previous)
        except store.TransactionConflict:
            continue
        return candidate
    raise Conflict("consent for this subject is being requested at the same time; try again")


def _check_subject(kind: str, subject_id: str, version: int) -> None:
    problems = []
    if not re.fullmatch(SUBJECT_KIND, kind):
        problems.append({"field": "subject_kind", "message": "lower-case word, up to 40"})
    if not re.fullmatch(SUBJECT_ID, subject_id):
        problems.append({"field": "subject_id", "message": "letters, digits, _.:- up to 100"})
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        problems.append({"field": "subject_version", "message": "a whole number from 1"})
    if problems:
        raise ValidationFailed("the subject of the consent is not valid", details=problems)


def _check_email(address: str) -> str:
    try:
        return str(_EMAIL.validate_python(address.strip()))
    except ValidationError:
        raise ValidationFailed(
            "recipient_email is not an email address",
            details=[{"field": "recipient_email", "message": "not an email address"}],
        ) from None


def _check_link_base(link_base: str) -> str:
    parts = urlsplit(link_base.strip())
    local = parts.hostname in _LOCAL_HOSTS
    if not parts.hostname or parts.query or parts.fragment:
        raise ValidationFailed(f"link_base {link_base!r} is not a base URL")
    if parts.scheme != "https" and not (local and parts.scheme == "http"):
        raise ValidationFailed("consent links must use https (http only for a local server)")
    return link_base.strip().rstrip("/")


# ---- the follow-up of requests nobody answered ---------------------------------------------

RemindOutcome = Literal["reminded", "not pending", "reminded before", "no link base"]


def remind(
    consent_id: str,
    level_days: int,
    *,
    skipped: tuple[int, ...] = (),
    mailer: email.Mailer | None = None,
    publisher: events.EventPublisher | None = None,
) -> RemindOutcome:
    """Email the recipient of a pending request the same link again (re-derived from the id
    and expiry with the signing key), as the reminder of level ``level_days``; publishes
    ``ConsentReminded``. The level is recorded on the consent before the email goes, on the
    condition that no reminder of it (or a later one) was: a rerun or a concurrent run sends
    nothing twice. An email that cannot be sent takes the record back (the next run tries
    again) and raises."""
    consent = store.get(consent_id)
    if consent is None or consent.status != "pending":
        return "not pending"
    if consent.link_base is None:
        logger.warning("consent has no link base to remind with", extra={"consent_id": consent_id})
        return "no link base"
    if not store.record_reminder(consent, level_days, clock.now_iso()):
        return "reminded before"
    try:
        token = tokens.issue(
            consent_id, clock.parse_instant(consent.expires_at), key=secret.signing_key()
        )
        message = render.reminder_email(consent, f"{consent.link_base}/consent/{token}")
        message_id = (mailer or email.default_mailer).send(message)
    except Exception:
        store.undo_reminder(consent, level_days)
        raise
    logger.info("consent reminded", extra={"consent_id": consent_id, "level_days": level_days})
    count("ConsentsReminded")
    (publisher or events.default_publisher).publish(
        SOURCE,
        REMINDED,
        {
            **_subject_detail(consent),
            "level_days": level_days,
            "skipped_levels": list(skipped),
            "reminders_sent": consent.reminders_sent + 1,
            "requested_at": consent.requested_at,
            "expires_at": consent.expires_at,
            "email_message_id": message_id,
        },
    )
    return "reminded"


def expire(consent: Consent, *, publisher: events.EventPublisher | None = None) -> bool:
    """Mark a pending request nobody answered in time expired (its page says so, an answer
    is refused) and publish ``ConsentExpired``. False when it was not pending any more (an
    answer came first, or another run did it)."""
    at = clock.now_iso()
    if not store.expire(consent, at):
        return False
    logger.info("consent expired", extra={"consent_id": consent.consent_id})
    count("ConsentsExpired")
    (publisher or events.default_publisher).publish(
        SOURCE,
        EXPIRED,
        {
            **_subject_detail(consent),
            "requested_at": consent.requested_at,
            "expires_at": consent.expires_at,
            "expired_at": at,
            "reminders_sent": consent.reminders_sent,
        },
    )
    return True


def get(consent_id: str) -> Consent | None:
    """A consent as stored (for system processes: no access check)."""
    return store.get(consent_id) if tokens.CONSENT_ID.fullmatch(consent_id) else None


# ---- the public page -----------------------------------------------------------------------


def open_consent(token: str, visit: Visit) -> Visited:
    """GET: the page that asks, or why it cannot ask. Changes nothing but the audit."""
    verified, visited = _usable(token, visit)
    if visited is not None:
        return visited
    assert verified is not None
    consent = store.get(verified.consent_id)
    return _pending_or_refusal(token, verified, consent, visit) or Visited("show", consent)


def answer_consent(
    token: str,
    decision: str | None,
    visit: Visit,
    *,
    reason: str | None = None,
    shown_document_sha256: str | None = None,
    publisher: events.EventPublisher | None = None,
) -> Visited:
    """POST: record the first answer to a pending, unexpired consent, with its evidence, and
    publish ``ConsentGiven``/``ConsentDeclined``. Any later answer changes nothing."""
    verified, visited = _usable(token, visit)
    if visited is not None:
        return visited
    assert verified is not None
    consent = store.get(verified.consent_id)
    refused = _pending_or_refusal(token, verified, consent, visit, publisher)
    if refused is not None:
        return refused
    assert consent is not None
    if decision not in ("agree", "decline"):
        logger.info("consent answer without a decision", extra={"consent_id": consent.consent_id})
        count("ConsentAnswersUnreadable")
        return Visited("bad_request", consent)
    if shown_document_sha256 is not None and shown_document_sha256 != consent.document_sha256:
        return _refuse("changed", token, visit, consent=consent)
    _check_integrity(consent)
    text = (reason or "").strip() if decision == "decline" else ""
    answer = Answer(
        decision=_decision(decision),
        answered_at=clock.now_iso(),
        consent_id=consent.consent_id,
        token_sha256=tokens.fingerprint(token),
        document_sha256=consent.document_sha256,
        document_version=consent.subject_version,
        template_version=consent.template_version,
        ip=visit.ip,
        user_agent=(visit.user_agent or "")[:512] or None,
        reason=text[:MAX_REASON_CHARS] or None,
        reason_truncated=len(text) > MAX_REASON_CHARS,
    )
    if not store.record_answer(answer):
        # Someone was faster (a double click, a second tab) or it just expired: read again.
        latest = store.get(consent.consent_id)
        return _pending_or_refusal(token, verified, latest, visit, publisher) or Visited(
            "answered", latest
        )
    recorded = consent.model_copy(
        update={"status": "agreed" if decision == "agree" else "declined", "answer": answer}
    )
    logger.info(
        "consent answered",
        extra={"consent_id": consent.consent_id, "decision": decision, "ip": visit.ip},
    )
    count("ConsentsAgreed" if decision == "agree" else "ConsentsDeclined")
    _publish_answer(recorded, publisher)
    return Visited("agreed" if decision == "agree" else "declined", recorded)


def _decision(value: str) -> Decision:
    return "agree" if value == "agree" else "decline"


def _usable(token: str, visit: Visit) -> tuple[tokens.VerifiedToken | None, Visited | None]:
    """The verified token, or the refusal of a token we did not sign (nothing read)."""
    try:
        return tokens.verify(token, key=secret.signing_key()), None
    except tokens.InvalidToken as invalid:
        return None, _refuse("invalid", token, visit, detail=invalid.reason)


def _pending_or_refusal(
    token: str,
    verified: tokens.VerifiedToken,
    consent: Consent | None,
    visit: Visit,
    publisher: events.EventPublisher | None = None,
) -> Visited | None:
    """None when the consent can be answered; else the refusal (recorded). An answer whose
    event was never published is published now."""
    if consent is None:
        return _refuse("not_found", token, visit, consent_id=verified.consent_id)
    if consent.answer is not None:
        if not consent.answer_published:
            _publish_answer(consent, publisher)
        return _refuse("answered", token, visit, consent=consent)
    if consent.status == "superseded":
        return _refuse("superseded", token, visit, consent=consent)
    now = clock.now()
    if verified.expired(now) or consent.expired(now):
        return _refuse("expired", token, visit, consent=consent)
    return None


def _refuse(
    outcome: Outcome,
    token: str,
    visit: Visit,
    *,
    consent: Consent | None = None,
    consent_id: str | None = None,
    detail: str | None = None,
) -> Visited:
    reason = detail or outcome
    attempt = RefusedAttempt(
        at=clock.now_iso(),
        reason=reason,
        method=visit.method,
        token_sha256=tokens.fingerprint(token),
        consent_id=consent.consent_id if consent else consent_id,
        ip=visit.ip,
        user_agent=(visit.user_agent or "")[:512] or None,
    )
    store.record_refusal(attempt, trusted_consent_id=consent.consent_id if consent else None)
    logger.warning(
        "consent link refused",
        extra={
            "reason": reason,
            "method": visit.method,
            "consent_id": attempt.consent_id,
            "token_sha256": attempt.token_sha256,
            "ip": visit.ip,
        },
    )
    count("ConsentLinksRefused")
    return Visited(outcome, consent)


def _check_integrity(consent: Consent) -> None:
    """The stored HTML is still the HTML that was hashed (the evidence must hold)."""
    if render.sha256_hex(consent.document_html) != consent.document_sha256:
        raise RuntimeError(f"consent {consent.consent_id}: stored document does not match its hash")


def _publish_answer(consent: Consent, publisher: events.EventPublisher | None) -> None:
    """Publish the answer's event, then mark it published. A failure is logged, never shown
    to the customer (the answer is kept): the next visit of the link publishes it again, so
    subscribers must treat a repeated consent_id as one answer."""
    answer = consent.answer
    assert answer is not None
    detail: dict[str, Any] = {
        **_subject_detail(consent),
        "decision": answer.decision,
        "evidence": {
            "document_sha256": answer.document_sha256,
            "document_version": answer.document_version,
            "template_version": answer.template_version,
            "answered_at": answer.answered_at,
            "ip": answer.ip,
            "user_agent": answer.user_agent,
            "token_sha256": answer.token_sha256,
        },
    }
    if answer.decision == "decline":
        detail["reason"] = answer.reason
    try:
        (publisher or events.default_publisher).publish(
            SOURCE, GIVEN if answer.decision == "agree" else DECLINED, detail
        )
        store.mark_answer_published(consent.consent_id)
    except Exception:
        logger.exception("consent answer not published", extra={"consent_id": consent.consent_id})
        count("ConsentEventsUnpublished")


def _subject_detail(consent: Consent) -> dict[str, Any]:
    return {
        **consent.references,
        f"{consent.subject_kind}_id": consent.subject_id,
        "consent_id": consent.consent_id,
        "subject_kind": consent.subject_kind,
        "subject_id": consent.subject_id,
        "subject_version": consent.subject_version,
    }


# ---- staff ---------------------------------------------------------------------------------


def staff_view(consent_id: str, *, visible: Callable[[Consent], bool]) -> dict[str, Any]:
    """A consent for staff: status (``expired`` when pending past its expiry), recipient,
    the document and its exact HTML, the evidence of the answer, refused uses of the link.

    Whether the caller may see it is the asking feature's to say (``visible``: this package
    does not know what its subjects are; ``monosub.services.consents`` does). One it may not
    see is "not found", word for word as one that does not exist."""
    missing = NotFound(f"consent {consent_id} does not exist")
    if not tokens.CONSENT_ID.fullmatch(consent_id):
        raise missing
    consent, refusals = store.get_with_refusals(consent_id)
    if consent is None or not visible(consent):
        raise missing
    view = consent.model_dump(mode="json")
    view["status"] = consent.shown_status(clock.now())
    view["stored_status"] = consent.status
    view["document_version"] = consent.subject_version
    view["totals"] = [total.model_dump(mode="json") for total in consent.document.totals]
    view["refused_attempts"] = [attempt.model_dump(mode="json") for attempt in refusals]
    return view
