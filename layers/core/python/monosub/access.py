"""Who may see what: the one place that turns a caller into the customer records it sees.

Customer records (accounts, and everything made for one: deals, and later quotes, contracts,
invoices) carry the account's ``segment`` (``residential`` or ``corporate``) and, when a
reseller registered them, its ``agency_id``. A caller's groups give a ``Scope``:

=====================  ===========================================================
group                  sees
=====================  ===========================================================
``ops``, ``sales``     every customer record
``regional-manager``   residential customers' records
``corporate-manager``  corporate customers' records (never a residential one)
``agency``             only records whose ``agency_id`` is its own (claim ``custom:agency_id``)
``customer``, none     nothing here
=====================  ===========================================================

A caller in several groups sees the union. Leads have no segment yet: every internal staff
member sees them, an agency none (it registers its customers itself).

Enforcement: the store filters with the scope (``visible``), so a list never leaves the data
layer with a record the caller may not see, and a single lookup of one answers "not found"
(``require_visible`` raises ``NotFound``: its existence is not revealed). A write needs the
record read first, so writing to a record one cannot see is "not found" too. Pure functions:
nothing here touches AWS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from monosub import auth
from monosub.errors import Forbidden, NotFound

Segment = Literal["residential", "corporate"]
SEGMENTS: tuple[Segment, ...] = get_args(Segment)
# Accounts stored before segments existed have none: they are corporate customers.
DEFAULT_SEGMENT: Segment = "corporate"

_EVERY_SEGMENT = frozenset(SEGMENTS)
_GROUP_SEGMENTS: dict[str, frozenset[Segment]] = {
    auth.OPS: _EVERY_SEGMENT,
    auth.SALES: _EVERY_SEGMENT,
    auth.REGIONAL_MANAGER: frozenset({"residential"}),
    auth.CORPORATE_MANAGER: frozenset({"corporate"}),
}


@dataclass(frozen=True)
class Scope:
    """The customer records a caller may see: those of ``segments`` (every record of such a
    customer), and those registered by one of ``agency_ids``."""

    segments: frozenset[Segment] = frozenset()
    agency_ids: frozenset[str] = frozenset()

    @property
    def everything(self) -> bool:
        """Every customer record (both segments)."""
        return self.segments == _EVERY_SEGMENT

    @property
    def sees_leads(self) -> bool:
        """Leads (prospects without a segment) are for internal staff: any segment access."""
        return bool(self.segments)

    def __or__(self, other: Scope) -> Scope:
        return Scope(self.segments | other.segments, self.agency_ids | other.agency_ids)


EVERYTHING = Scope(segments=_EVERY_SEGMENT)  # system processes (file intake, schedules)
NOTHING = Scope()


def scope_for(principal: auth.Principal) -> Scope:
    """The scope of a signed-in caller: the union of its groups' scopes. An agency user
    without its agency (``custom:agency_id``) is refused (``Forbidden``)."""
    scope = NOTHING
    for group in principal.groups:
        scope |= Scope(segments=_GROUP_SEGMENTS.get(group, frozenset()))
    if auth.AGENCY in principal.groups:
        if principal.agency_id is None:
            raise Forbidden(f"an agency user needs the {auth.AGENCY_CLAIM} attribute")
        scope |= Scope(agency_ids=frozenset({principal.agency_id}))
    return scope


def segment_of(value: str | None) -> Segment:
    """A stored segment; none (a record from before segments) is ``DEFAULT_SEGMENT``."""
    if value is None or value == "":
        return DEFAULT_SEGMENT
    if value not in SEGMENTS:
        raise ValueError(f"unknown segment {value!r}")
    return value


def visible(scope: Scope, *, segment: str | None, agency_id: str | None) -> bool:
    """May a caller with ``scope`` see a record of a ``segment`` customer, registered by
    ``agency_id`` (None: by nobody)?"""
    if segment_of(segment) in scope.segments:
        return True
    return agency_id is not None and agency_id in scope.agency_ids


def require_visible(
    scope: Scope, kind: str, record_id: str, *, segment: str | None, agency_id: str | None
) -> None:
    """``NotFound`` (the same answer as for a record that does not exist) unless visible."""
    if not visible(scope, segment=segment, agency_id=agency_id):
        raise NotFound(f"{kind} {record_id} does not exist")


def require_creatable(scope: Scope, *, segment: str | None, agency_id: str | None) -> None:
    """A caller may only make records it will see: 403 for another segment's customer or
    another agency's record."""
    if visible(scope, segment=segment, agency_id=agency_id):
        return
    if agency_id is not None and scope.agency_ids and agency_id not in scope.agency_ids:
        raise Forbidden("an agency registers customers and deals for itself only")
    raise Forbidden(f"you may not create records of a {segment_of(segment)} customer")


def require_leads(scope: Scope) -> None:
    """Leads are for internal staff; an agency registers its customers itself."""
    if not scope.sees_leads:
        raise Forbidden(
            "leads are for monosub staff; an agency registers customers through "
            "POST /agency/registrations"
        )


def sees_agency(scope: Scope, agency_id: str) -> bool:
    """May the caller see the agency itself (its terms, targets and performance)? Internal
    staff every agency, an agency user its own."""
    return bool(scope.segments) or agency_id in scope.agency_ids


def require_agency(scope: Scope, agency_id: str) -> None:
    """``NotFound`` for an agency the caller may not see (another reseller's)."""
    if not sees_agency(scope, agency_id):
        raise NotFound(f"agency {agency_id} does not exist")


def full_segments(scope: Scope) -> tuple[Segment, ...]:
    """The segments whose every record the caller sees, in a fixed order (a listing reads
    one partition per segment)."""
    return tuple(segment for segment in SEGMENTS if segment in scope.segments)


def extra_agencies(scope: Scope) -> tuple[str, ...]:
    """The agencies whose records the caller sees beyond its segments' (a listing reads
    their own partitions too), sorted; none for a caller who sees everything."""
    return () if scope.everything else tuple(sorted(scope.agency_ids))


def segments_and_agency(scope: Scope) -> tuple[frozenset[str] | None, str | None]:
    """The scope as two limits that must *both* hold (``segments``, None: any; ``agency``,
    None: any), for the stores that take it so (contracts). Only a scope that sees everything
    is (None, None): an agency user is both segments and its agency, a scope of nothing is
    no segment at all. A scope that sees segments *and* an agency's records (one user in a
    manager group and the agency group) cannot be written as two limits that both hold: it
    gets its segments only, seeing less than the union, never more."""
    if scope.everything:
        return None, None
    if scope.segments:
        return frozenset(scope.segments), None
    if len(scope.agency_ids) == 1:
        return frozenset(SEGMENTS), next(iter(scope.agency_ids))
    return frozenset(), None  # nothing (no scope made from a sign-in sees several agencies)


def acting_agency(scope: Scope) -> str | None:
    """The agency a caller acts for: one who sees no segment and one agency's records (an
    agency user). What it makes is that agency's; None for internal staff."""
    if scope.segments or len(scope.agency_ids) != 1:
        return None
    return next(iter(scope.agency_ids))
