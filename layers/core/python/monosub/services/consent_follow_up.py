"""Unsigned contracts: the daily follow-up of consents nobody answered (the
``consent-follow-up`` function, 08:30 in Tokyo), and what the back office does with those
that expired.

``run`` reads the pending list (``monosub.store.consents.pending``: only what is pending,
never the table) and, by the policy (``monosub.consent.follow_up``):

- sends the reminder level now due, with the same link, once per level
  (``monosub.consent.service.remind``; a run that missed days sends only the latest level);
- expires a consent whose time is up: the deal goes to the exceptions queue first
  (``consent-expired``, raised once per consent: its id is derived from the consent's), then
  the consent is marked expired (its page says so; an answer is refused) and
  ``ConsentExpired`` is published. Raising first means a run that stops in between leaves
  the consent pending, and the next run raises the same exception (once) and marks it.

Every step is conditional, so a rerun, or two runs at once, send and raise nothing twice.

The exception offers two actions (``POST /exceptions/{id}/resolve``):

- ``resend``: a new link for the same version of the subject. A quote is sent again through
  ``services.quotes.send_quote`` (so the quote names the new consent and the customer's
  answer to it is acted on); the new consent is pending, with its own reminders. Refused
  (409, the exception stays open) when the subject changed meanwhile: a revised or expired
  quote, a closed deal. Ops then reject it, and sales revise and send the quote.
- ``reject``: the back office closes the case and nothing else changes: the deal stays as
  it is (open, its quote ``sent`` with an expired link) for its rep to decide (call the
  customer, revise, or mark the deal lost with a reason through ``POST
  /deals/{id}/stage``). Nothing is marked lost automatically: an unanswered email is not a
  customer's "no".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from monosub import access, auth, clock, email
from monosub.consent import follow_up
from monosub.consent import service as consent
from monosub.consent.models import Consent, ListedConsent
from monosub.errors import Conflict, NotFound
from monosub.events import EventPublisher
from monosub.models.exceptions import ExceptionAction, ExceptionRecord
from monosub.observability import count, logger
from monosub.services import exceptions
from monosub.store import consents as store

KIND = "consent-expired"
CHANNEL = "consent"
SOURCE = "consent-follow-up"
RESEND = "resend"
# Who sends again when ops resolve an exception with "resend": the handler is not told who
# resolved it (the exception keeps that), so the request names the back office.
BACK_OFFICE = auth.Principal(user="back-office", groups=frozenset({auth.OPS}))


class FollowUpFailed(RuntimeError):
    """Some consents could not be followed up (logged one by one); the others were. The
    run fails so that it is retried and alarmed; a rerun does nothing twice."""


def run(
    *, mailer: email.Mailer | None = None, publisher: EventPublisher | None = None
) -> dict[str, int]:
    """Today's follow-up of every pending consent: what was done, counted."""
    policy = follow_up.load_policy()
    done: Counter[str] = Counter()
    for listed in store.pending():
        try:
            done[_follow_up(listed, policy, mailer, publisher)] += 1
        except Exception:
            logger.exception("consent follow-up failed", extra={"consent_id": listed.consent_id})
            count("ConsentFollowUpsFailed")
            done["failed"] += 1
    result = dict(sorted(done.items()))
    if done["failed"]:
        raise FollowUpFailed(f"{done['failed']} consent(s) could not be followed up: {result}")
    return result


def _follow_up(
    listed: ListedConsent,
    policy: follow_up.FollowUpPolicy,
    mailer: email.Mailer | None,
    publisher: EventPublisher | None,
) -> str:
    step = follow_up.due(
        policy,
        sent_at=clock.parse_instant(listed.requested_at),
        link_expires_at=clock.parse_instant(listed.expires_at),
        reminded_days=listed.reminded_days,
        now=clock.now(),
    )
    if step.kind == "expire":
        return _expire(listed.consent_id, publisher)
    if step.kind == "remind":
        assert step.level is not None
        return consent.remind(
            listed.consent_id,
            step.level.days,
            skipped=tuple(level.days for level in step.skipped),
            mailer=mailer,
            publisher=publisher,
        )
    return "waiting"


def _expire(consent_id: str, publisher: EventPublisher | None) -> str:
    current = consent.get(consent_id)
    if current is None or current.status != "pending":
        if current is not None and current.status != "expired":
            store.unlist(consent_id)  # the index showed it after it was answered: tidy up
        return "not pending"
    record, new = exceptions.raise_exception(
        kind=KIND,
        channel=CHANNEL,
        source=SOURCE,
        reference=consent_id,
        reason=f"no answer to {current.subject_kind} {current.subject_id} "
        f"(version {current.subject_version}) by {current.expires_at}: the link expired",
        original=_original(current),
        account_id=current.references.get("account_id"),
        actions=(RESEND, exceptions.REJECT),
        publisher=publisher,
    )
    if consent.expire(current, publisher=publisher):
        return "expired"
    # Answered between the read and the mark (possible only for a link that outlived M):
    # the answer stands, and the back office has nothing to do.
    if new:
        exceptions.resolve(
            record.exception_id,
            ExceptionAction(
                action=exceptions.REJECT,
                version=record.version,
                note="the customer answered before the consent was marked expired",
            ),
            by=SOURCE,
            scope=access.EVERYTHING,
            publisher=publisher,
        )
    return "answered meanwhile"


def _original(current: Consent) -> dict[str, Any]:
    """The exception's ``original``: what was asked, of whom, when, and what followed."""
    listed = current.listed
    return {
        "consent_id": current.consent_id,
        "subject": {
            "kind": current.subject_kind,
            "id": current.subject_id,
            "version": current.subject_version,
            "number": listed.subject_number if listed else None,
            "title": current.document.title,
            "reference": current.document.reference,
        },
        "references": dict(current.references),
        "customer_name": listed.customer_name if listed else None,
        "recipient": {"name": current.recipient_name, "email": current.recipient_email},
        "sent_at": current.requested_at,
        "expires_at": current.expires_at,
        "requested_by": current.requested_by,
        "reminders_sent": current.reminders_sent,
        "last_reminded_at": current.last_reminded_at,
    }


# ---- the back office's actions ------------------------------------------------------------


def resend(record: ExceptionRecord, decision: ExceptionAction) -> Mapping[str, Any]:
    """``resend``: a new link for the same version of the subject, as the subject's own
    feature sends it (a quote through ``send_quote``). 409 (the exception stays open) when
    the subject changed meanwhile."""
    expired = consent.get(record.reference)
    if expired is None:
        raise NotFound(f"consent {record.reference} does not exist")
    if expired.status != "expired":
        raise Conflict(
            f"consent {expired.consent_id} is {expired.status}: there is nothing to resend",
            details={"status": expired.status},
        )
    if expired.link_base is None:
        raise Conflict(f"consent {expired.consent_id} has no link base to send a link with")
    if expired.subject_kind == "quote":
        from monosub.models.quotes import SendQuote
        from monosub.services import quotes  # imported here: quotes imports much

        policy = follow_up.load_policy()
        sent = quotes.send_quote(
            expired.subject_id,
            SendQuote(version=expired.subject_version, expires_in_days=policy.expire_after_days),
            principal=BACK_OFFICE,
            link_base=expired.link_base,
        )
        new_consent_id = sent.consent_id
    else:
        requested = consent.request_consent(
            expired.subject_kind,
            expired.subject_id,
            expired.subject_version,
            expired.recipient_email,
            expired.recipient_name,
            expired.document,
            consent.DEFAULT_EXPIRY,
            BACK_OFFICE.user,
            link_base=expired.link_base,
            references=expired.references,
        )
        new_consent_id = requested.consent_id
    count("ExpiredConsentsResent")
    return {
        "consent_id": new_consent_id,
        "replaces": expired.consent_id,
        "subject_kind": expired.subject_kind,
        "subject_id": expired.subject_id,
        "subject_version": expired.subject_version,
    }


def _register() -> None:
    exceptions.register_action(KIND, RESEND, resend)


_register()
