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
listed while pending       CONSENT#<consent> / LIST#pending            CONSENTS-PENDING#<segment>
                                                                       / <requested_at>#<consent>
  … and by its agency      CONSENT#<consent> / LIST#pending-agency     CONSENTS-PENDING#agency#
                                                                       <agency> / (the same)
listed once expired        CONSENT#<consent> / LIST#expired(-agency)   CONSENTS-EXPIRED#… /
                                                                       <expired_at>#<consent>
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
- The lists (pending, expired) are sparse: a consent is listed while it is pending, from the
  request's transaction on, and leaves the pending list in the transaction that answers,
  supersedes, withdraws or expires it (an expiry lists it as expired in the same one). So the
  list and the daily follow-up read only what is pending, never the table. Each listing
  partition is per segment of the customer (``unfound``: the record the consent is about was
  not found, for those who see everything) and per agency, as deals' are, so a caller reads
  only partitions of what it may see. A listing item carries what the list shows and the
  follow-up needs (its reminders too, updated with the consent's), so neither reads the
  consents themselves. Consents requested before the lists existed are in none.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from typing import Any, Literal

from monosub import access, ids
from monosub.access import Scope
from monosub.consent.models import Answer, Consent, ListedConsent, RefusedAttempt
from monosub.names import RECORDS
from monosub.store import cursor, listing
from monosub.store.dynamo import Table, TransactionConflict, to_item, transact

__all__ = ["TransactionConflict"]

_table = Table(RECORDS)
ListStatus = Literal["pending", "expired"]
UNFOUND = "unfound"  # the listing partition of consents whose record was not found
_CURSOR = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z#cns_[a-z2-7]{26}")
_CONFLICT_ATTEMPTS = 4  # another transaction on the same consent at the same instant


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


# ---- the lists --------------------------------------------------------------------------------


def by_segment(status: ListStatus, segment: str) -> str:
    """A listing partition: the consents of one status of a segment's customers."""
    return f"CONSENTS-{status.upper()}#{segment}"


def by_agency(status: ListStatus, agency_id: str) -> str:
    return f"CONSENTS-{status.upper()}#agency#{agency_id}"


def _listing_sks(status: ListStatus) -> tuple[str, str]:
    return f"LIST#{status}", f"LIST#{status}-agency"


def _listing_items(consent: Consent, status: ListStatus) -> list[dict[str, Any]]:
    """The listing items of a listed consent in ``status``: one in its segment's partition
    (or ``unfound``), one more in its agency's; none for a consent not listed."""
    listed = consent.listed
    if listed is None:
        return []
    moment = consent.requested_at if status == "pending" else consent.expired_at
    assert moment is not None, "an expired consent has its expired_at"
    fields = ListedConsent.model_validate(
        {**consent.model_dump(mode="json"), **listed.model_dump(mode="json"), "status": status}
    ).model_dump(mode="json")
    position = f"{moment}#{consent.consent_id}"
    segment_sk, agency_sk = _listing_sks(status)
    items = [
        {
            "pk": _consent_pk(consent.consent_id),
            "sk": segment_sk,
            "gsi1pk": by_segment(status, listed.segment or UNFOUND),
            "gsi1sk": position,
            **fields,
        }
    ]
    if listed.agency_id:
        items.append(
            {
                **items[0],
                "sk": agency_sk,
                "gsi1pk": by_agency(status, listed.agency_id),
            }
        )
    return items


def _unlist_operations(consent_id: str, status: ListStatus = "pending") -> list[dict[str, Any]]:
    """Deletes of a consent's listing items of ``status`` (those it does not have: no-ops)."""
    return [
        {
            "Delete": {
                "TableName": _table.name,
                "Key": to_item({"pk": _consent_pk(consent_id), "sk": sk}),
            }
        }
        for sk in _listing_sks(status)
    ]


def _listed_update_operations(
    consent: Consent, status: ListStatus, **update: Any
) -> list[dict[str, Any]]:
    """The same update of each listing item the consent has (only if it is still there)."""
    if consent.listed is None:
        return []
    segment_sk, agency_sk = _listing_sks(status)
    sks = [segment_sk, agency_sk] if consent.listed.agency_id else [segment_sk]
    return [
        _table.update_operation(
            _consent_pk(consent.consent_id), sk, condition="attribute_exists(pk)", **update
        )
        for sk in sks
    ]


def listed(
    status: ListStatus, *, scope: Scope, limit: int, after: str | None
) -> tuple[list[ListedConsent], str | None]:
    """One page of the consents in ``status`` that ``scope`` may see, newest first (by
    sending, or by expiry), and the token of the next page. Only the partitions of what the
    caller may see are read: its segments', its agencies' beyond those, and the consents of
    records not found only by a caller who sees everything."""
    sources = [listing.Source(by_segment(status, s)) for s in access.full_segments(scope)]
    sources += [listing.Source(by_agency(status, a)) for a in access.extra_agencies(scope)]
    if scope.everything:
        sources.append(listing.Source(by_segment(status, UNFOUND)))
    before = None if after is None else cursor.decode(after, _CURSOR)
    if not sources:
        return [], None
    page, position = listing.newest_first(
        _table, sources, limit=limit, before=before, identity="consent_id"
    )
    consents = [ListedConsent.model_validate(item) for item in page]
    seen = [c for c in consents if _sees(scope, c)]
    return seen, None if position is None else cursor.encode(position)


def _sees(scope: Scope, consent: ListedConsent) -> bool:
    if consent.segment is None:
        return scope.everything
    return access.visible(scope, segment=consent.segment, agency_id=consent.agency_id)


def pending() -> Iterator[ListedConsent]:
    """Every pending consent listed, oldest first per partition: each segment's and the
    unfound ones (the agency partitions hold the same consents again)."""
    for segment in (*access.SEGMENTS, UNFOUND):
        for item in _table.query(by_segment("pending", segment), index="gsi1"):
            yield ListedConsent.model_validate(item)


# ---- the consent --------------------------------------------------------------------------------


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
        *(_table.put_operation(item) for item in _listing_items(consent, "pending")),
    ]
    if previous is not None and previous.status == "pending":
        operations += _unlist_operations(previous.consent_id)
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
    """Keep the first answer to a pending, unexpired consent, and take it off the pending
    list; False when it was not that."""
    return _transact_if(
        [
            _table.update_operation(
                _consent_pk(answer.consent_id),
                "CONSENT",
                set_values={
                    "status": "agreed" if answer.decision == "agree" else "declined",
                    "answer": answer.model_dump(mode="json"),
                    "answer_published": False,
                },
                condition="#status = :pending AND #expires_at > :now",
                condition_values={":pending": "pending", ":now": answer.answered_at},
            ),
            *_unlist_operations(answer.consent_id),
        ]
    )


def withdraw(consent_id: str, at: str, reason: str) -> bool:
    """Make a pending consent unusable (its subject changed) and take it off the pending
    list; False when it was not pending."""
    return _transact_if(
        [
            _table.update_operation(
                _consent_pk(consent_id),
                "CONSENT",
                set_values={
                    "status": "superseded",
                    "superseded_at": at,
                    "withdrawn_reason": reason,
                },
                condition="#status = :pending",
                condition_values={":pending": "pending"},
            ),
            *_unlist_operations(consent_id),
        ]
    )


def record_reminder(consent: Consent, days: int, at: str) -> bool:
    """Record that the reminder of level ``days`` goes out now, on the consent and its
    listing items, only if the consent is pending and no reminder of that level or a later
    one was recorded: the one condition that keeps a rerun or a concurrent run from sending
    it twice. False when it was not so."""
    update: dict[str, Any] = {
        "set_values": {"reminded_days": days, "last_reminded_at": at},
        "add_values": {"reminders_sent": 1},
    }
    return _transact_if(
        [
            _table.update_operation(
                _consent_pk(consent.consent_id),
                "CONSENT",
                condition="#status = :pending AND (attribute_not_exists(#reminded_days) "
                "OR #reminded_days < :days)",
                condition_values={":pending": "pending", ":days": days},
                **update,
            ),
            *_listed_update_operations(consent, "pending", **update),
        ]
    )


def undo_reminder(consent: Consent, days: int) -> bool:
    """The reminder of level ``days`` could not be sent: record the level before it again
    (only if nothing else was recorded since), so the next run tries again."""
    update: dict[str, Any] = {
        "set_values": {"reminded_days": consent.reminded_days},
        "add_values": {"reminders_sent": -1},
    }
    if consent.last_reminded_at is None:
        update["remove"] = ("last_reminded_at",)
    else:
        update["set_values"]["last_reminded_at"] = consent.last_reminded_at
    return _transact_if(
        [
            _table.update_operation(
                _consent_pk(consent.consent_id),
                "CONSENT",
                condition="#reminded_days = :days",
                condition_values={":days": days},
                **update,
            ),
            *_listed_update_operations(consent, "pending", **update),
        ]
    )


def expire(consent: Consent, at: str) -> bool:
    """Mark a pending consent expired (nobody answered in time): off the pending list, onto
    the expired one, in one transaction. False when it was not pending any more."""
    expired = consent.model_copy(update={"status": "expired", "expired_at": at})
    return _transact_if(
        [
            _table.update_operation(
                _consent_pk(consent.consent_id),
                "CONSENT",
                set_values={"status": "expired", "expired_at": at},
                condition="#status = :pending",
                condition_values={":pending": "pending"},
            ),
            *_unlist_operations(consent.consent_id),
            *(_table.put_operation(item) for item in _listing_items(expired, "expired")),
        ]
    )


def unlist(consent_id: str) -> None:
    """Take a consent that is no longer pending off the pending list (a listing item the
    index still showed after its consent was answered: nothing else does this)."""
    transact(_unlist_operations(consent_id))


def _transact_if(operations: Sequence[dict[str, Any]]) -> bool:
    """Run a transaction whose first operation's condition decides: False when it does not
    hold. Cancelled only because another transaction touched the same items at that
    instant: tried again."""
    for attempt in range(_CONFLICT_ATTEMPTS):
        try:
            transact(list(operations))
        except TransactionConflict as conflict:
            if "TransactionConflict" in conflict.reasons and attempt + 1 < _CONFLICT_ATTEMPTS:
                time.sleep(0.02 * 2**attempt)
                continue
            return False
        return True
    return False


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
