"""Consents in table ``records`` (personal data: KMS-encrypted): the only code that knows
their keys.

=========================  ==========================================  ==========================
item                       pk / sk                                     gsi1pk / gsi1sk
=========================  ==========================================  ==========================
consent                    CONSENT#<consent> / CONSENT                 CONSENTS#<kind>#<subject>
                                                                       / <sequence:08>
refused use of its link    CONSENT#<consent> / REFUSED#<at>#<arrival>
current consent of subject CONSENTS#<kind>#<subject> / CURRENT
refused unknown link       CONSENT-REFUSED#<yyyy-mm-dd> / <at>#<arrival>
=========================  ==========================================  ==========================

- A new request is one transaction: the consent (only if absent), the subject's ``CURRENT``
  pointer (only if it still names the consent read before, or is absent) with the subject's
  next sequence number, and the previous consent set ``superseded`` (only if still
  ``pending``). Two requests at once: one wins, the other reads again and supersedes the
  winner. The sequence orders a subject's requests, even two in one second.
- An answer is one conditional update (``status = pending AND expires_at > now``): the first
  agree or decline wins, a second one (a double click) changes nothing.
- A link with a bad signature names no consent it can be trusted for: its refusal is filed
  under the day (UTC), for ops to list.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from monosub import ids
from monosub.consent.models import Answer, Consent, RefusedAttempt
from monosub.names import RECORDS
from monosub.store.dynamo import Table, TransactionConflict, transact

__all__ = ["TransactionConflict"]

_table = Table(RECORDS)


def _consent_pk(consent_id: str) -> str:
    return f"CONSENT#{consent_id}"


def _subject_pk(kind: str, subject_id: str) -> str:
    return f"CONSENTS#{kind}#{subject_id}"


def _consent_item(consent: Consent) -> dict[str, Any]:
    return {
        "pk": _consent_pk(consent.consent_id),
        "sk": "CONSENT",
        "gsi1pk": _subject_pk(consent.subject_kind, consent.subject_id),
        "gsi1sk": f"{consent.sequence:08d}",
        **consent.model_dump(mode="json"),
    }


def get(consent_id: str) -> Consent | None:
    item = _table.get(_consent_pk(consent_id), "CONSENT")
    return Consent.model_validate(item) if item else None


def get_with_refusals(consent_id: str) -> tuple[Consent | None, list[RefusedAttempt]]:
    """The consent and the refused uses of its link, oldest first (one query)."""
    consent: Consent | None = None
    refusals: list[RefusedAttempt] = []
    for item in _table.query(_consent_pk(consent_id)):
        if item["sk"] == "CONSENT":
            consent = Consent.model_validate(item)
        elif str(item["sk"]).startswith("REFUSED#"):
            refusals.append(RefusedAttempt.model_validate(item))
    return consent, refusals


def current(kind: str, subject_id: str) -> tuple[str, int] | None:
    """The subject's current consent id and its sequence number (1 for the first request)."""
    item = _table.get(_subject_pk(kind, subject_id), "CURRENT")
    return (str(item["consent_id"]), int(item["sequence"])) if item else None


def for_subject(kind: str, subject_id: str) -> Iterator[Consent]:
    """Every consent requested for a subject, newest first (gsi1)."""
    for item in _table.query(_subject_pk(kind, subject_id), index="gsi1", newest_first=True):
        yield Consent.model_validate(item)


def create(consent: Consent, previous: Consent | None) -> None:
    """Store a new consent as the subject's current one, superseding ``previous`` if it is
    still pending. ``TransactionConflict`` when anything changed since it was read.
    ``consent.sequence`` must be one more than ``previous``'s."""
    pointer_condition = (
        "attribute_not_exists(pk)" if previous is None else "#consent_id = :previous"
    )
    operations = [
        _table.put_operation(_consent_item(consent)),
        _table.update_operation(
            _subject_pk(consent.subject_kind, consent.subject_id),
            "CURRENT",
            set_values={
                "consent_id": consent.consent_id,
                "sequence": consent.sequence,
                "updated_at": consent.requested_at,
            },
            condition=pointer_condition,
            condition_values={":previous": previous.consent_id} if previous else None,
        ),
    ]
    if previous is not None and previous.status == "pending":
        operations.append(
            _table.update_operation(
                _consent_pk(previous.consent_id),
                "CONSENT",
                set_values={
                    "status": "superseded",
                    "superseded_by": consent.consent_id,
                    "superseded_at": consent.requested_at,
                },
                condition="#status = :pending",
                condition_values={":pending": "pending"},
            )
        )
    transact(operations)


def set_email_message_id(consent_id: str, message_id: str) -> None:
    _table.update(
        _consent_pk(consent_id),
        "CONSENT",
        set_values={"email_message_id": message_id},
        condition="attribute_exists(pk)",
    )


def record_answer(answer: Answer) -> bool:
    """Keep the first answer to a pending, unexpired consent; False when it was not that."""
    return _table.update(
        _consent_pk(answer.consent_id),
        "CONSENT",
        set_values={
            "status": "agreed" if answer.decision == "agree" else "declined",
            "answer": answer.model_dump(mode="json"),
            "answer_published": False,
        },
        condition="#status = :pending AND #expires_at > :now",
        condition_values={":pending": "pending", ":now": answer.answered_at},
    )


def withdraw(consent_id: str, at: str, reason: str) -> bool:
    """Make a pending consent unusable (its subject changed); False when it was not pending."""
    return _table.update(
        _consent_pk(consent_id),
        "CONSENT",
        set_values={"status": "superseded", "superseded_at": at, "withdrawn_reason": reason},
        condition="#status = :pending",
        condition_values={":pending": "pending"},
    )


def mark_answer_published(consent_id: str) -> None:
    _table.update(
        _consent_pk(consent_id),
        "CONSENT",
        set_values={"answer_published": True},
        condition="attribute_exists(#answer)",
    )


def record_refusal(attempt: RefusedAttempt, *, trusted_consent_id: str | None) -> None:
    """File a refused use of a link: under its consent when the signature was valid (the id
    can be trusted), else under the day."""
    # <at> is the business clock (seconds); the wall clock's nanoseconds and a random id
    # keep attempts within one second in arrival order and apart.
    arrival = f"{time.time_ns():020d}#{ids.new_id('try')}"
    if trusted_consent_id is not None:
        pk, sk = _consent_pk(trusted_consent_id), f"REFUSED#{attempt.at}#{arrival}"
    else:
        pk, sk = f"CONSENT-REFUSED#{attempt.at[:10]}", f"{attempt.at}#{arrival}"
    _table.put({"pk": pk, "sk": sk, **attempt.model_dump(mode="json")})


def refusals_on(day: str) -> Iterator[RefusedAttempt]:
    """Refused links with no valid signature on one UTC day (``yyyy-mm-dd``)."""
    for item in _table.query(f"CONSENT-REFUSED#{day}"):
        yield RefusedAttempt.model_validate(item)
