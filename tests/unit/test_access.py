"""Who may see what (``monosub.access``), exhaustively: every combination of groups, every
segment, agencies or none, against the rules table written out independently here."""

from __future__ import annotations

from itertools import chain, combinations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monosub import access, auth
from monosub.auth import Principal
from monosub.errors import Forbidden, NotFound, Unauthorized

GROUPS = sorted(auth.USER_GROUPS)
EVERY_GROUP_SET = [
    frozenset(c) for c in chain.from_iterable(combinations(GROUPS, n) for n in range(7))
]
SEGMENTS = [None, "residential", "corporate"]  # None: an account stored before segments
AGENCIES = [None, "agency-a", "agency-b"]


def expected(groups: frozenset[str], own_agency: str | None, segment, agency_id) -> bool:
    """The rules table of docs/access.md, as plainly as it can be written."""
    segment = segment or "corporate"
    if "ops" in groups or "sales" in groups:
        return True
    if "regional-manager" in groups and segment == "residential":
        return True
    if "corporate-manager" in groups and segment == "corporate":
        return True
    return "agency" in groups and agency_id is not None and agency_id == own_agency


def principal(groups: frozenset[str], agency: str | None = "agency-a") -> Principal:
    return Principal(user="u", groups=groups, agency_id=agency if "agency" in groups else None)


@pytest.mark.parametrize("groups", EVERY_GROUP_SET, ids=lambda g: "+".join(sorted(g)) or "none")
def test_every_group_combination_sees_exactly_what_the_table_says(groups):
    scope = access.scope_for(principal(groups))
    for segment in SEGMENTS:
        for agency_id in AGENCIES:
            seen = access.visible(scope, segment=segment, agency_id=agency_id)
            assert seen == expected(groups, "agency-a", segment, agency_id), (segment, agency_id)


@given(
    groups=st.frozensets(st.sampled_from(GROUPS)),
    own=st.from_regex(r"[A-Za-z0-9_-]{1,12}", fullmatch=True),
    segment=st.sampled_from(SEGMENTS),
    agency_id=st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9_-]{1,12}", fullmatch=True)),
)
def test_any_caller_and_any_record(groups, own, segment, agency_id):
    scope = access.scope_for(principal(groups, own))
    seen = access.visible(scope, segment=segment, agency_id=agency_id)
    assert seen == expected(groups, own, segment, agency_id)
    if seen:
        access.require_visible(scope, "deal", "deal_x", segment=segment, agency_id=agency_id)
    else:
        with pytest.raises(NotFound, match="deal deal_x does not exist"):
            access.require_visible(scope, "deal", "deal_x", segment=segment, agency_id=agency_id)


@given(
    first=st.frozensets(st.sampled_from(GROUPS)),
    second=st.frozensets(st.sampled_from(GROUPS)),
)
def test_several_groups_see_the_union(first, second):
    union = access.scope_for(principal(first | second))
    assert union == access.scope_for(principal(first)) | access.scope_for(principal(second))


def test_the_seed_a_regional_manager_sees_every_residential_customer_a_corporate_one_none():
    regional = access.scope_for(principal(frozenset({"regional-manager"})))
    corporate = access.scope_for(principal(frozenset({"corporate-manager"})))
    for agency_id in AGENCIES:
        assert access.visible(regional, segment="residential", agency_id=agency_id)
        assert not access.visible(corporate, segment="residential", agency_id=agency_id)
        assert access.visible(corporate, segment="corporate", agency_id=agency_id)
        assert not access.visible(regional, segment="corporate", agency_id=agency_id)


def test_ops_and_sales_see_everything_the_others_do_not():
    assert access.scope_for(principal(frozenset({"ops"}))) == access.EVERYTHING
    assert access.scope_for(principal(frozenset({"sales"}))).everything
    assert not access.scope_for(principal(frozenset({"regional-manager"}))).everything
    both = access.scope_for(principal(frozenset({"regional-manager", "corporate-manager"})))
    assert both.everything  # both segments are every customer record
    assert access.scope_for(principal(frozenset({"customer"}))) == access.NOTHING


def test_an_agency_user_without_its_agency_is_refused():
    with pytest.raises(Forbidden, match="custom:agency_id"):
        access.scope_for(Principal(user="u", groups=frozenset({"agency"})))
    with pytest.raises(Forbidden, match="custom:agency_id"):
        auth.require_staff(Principal(user="u", groups=frozenset({"agency", "sales"})))
    assert auth.require_staff(Principal(user="u", groups=frozenset({"agency"}), agency_id="a"))


def test_stored_segments():
    assert access.segment_of(None) == access.segment_of("") == "corporate"
    assert access.segment_of("residential") == "residential"
    with pytest.raises(ValueError, match="unknown segment"):
        access.segment_of("government")


def test_what_a_caller_may_create():
    regional = access.scope_for(principal(frozenset({"regional-manager"})))
    access.require_creatable(regional, segment="residential", agency_id=None)
    with pytest.raises(Forbidden, match="corporate customer"):
        access.require_creatable(regional, segment="corporate", agency_id=None)
    agency = access.scope_for(principal(frozenset({"agency"}), "agency-a"))
    access.require_creatable(agency, segment="corporate", agency_id="agency-a")
    with pytest.raises(Forbidden, match="for itself only"):
        access.require_creatable(agency, segment="corporate", agency_id="agency-b")
    with pytest.raises(Forbidden):
        access.require_creatable(agency, segment="residential", agency_id=None)
    access.require_creatable(access.EVERYTHING, segment="residential", agency_id="agency-b")


def test_leads_are_for_internal_staff_only():
    for groups in EVERY_GROUP_SET:
        scope = access.scope_for(principal(groups))
        if groups & auth.INTERNAL_STAFF:
            access.require_leads(scope)
        else:
            with pytest.raises(Forbidden, match="leads are for monosub staff"):
                access.require_leads(scope)


def test_agencies_themselves():
    agency = access.scope_for(principal(frozenset({"agency"}), "agency-a"))
    assert access.sees_agency(agency, "agency-a")
    assert not access.sees_agency(agency, "agency-b")
    with pytest.raises(NotFound, match="agency agency-b does not exist"):
        access.require_agency(agency, "agency-b")
    for group in auth.INTERNAL_STAFF:
        access.require_agency(access.scope_for(principal(frozenset({group}))), "agency-b")
    assert access.acting_agency(agency) == "agency-a"
    assert access.acting_agency(access.EVERYTHING) is None
    both = access.scope_for(principal(frozenset({"agency", "sales"}), "agency-a"))
    assert access.acting_agency(both) is None  # sales as well: acts for nobody by default


def test_what_a_listing_reads():
    """One partition per segment seen whole, plus the agencies seen beyond those."""
    agency = access.scope_for(principal(frozenset({"agency"}), "agency-a"))
    assert (access.full_segments(agency), access.extra_agencies(agency)) == ((), ("agency-a",))
    corporate = access.scope_for(principal(frozenset({"corporate-manager"})))
    assert (access.full_segments(corporate), access.extra_agencies(corporate)) == (
        ("corporate",),
        (),
    )
    mixed = access.scope_for(principal(frozenset({"regional-manager", "agency"}), "agency-a"))
    assert (access.full_segments(mixed), access.extra_agencies(mixed)) == (
        ("residential",),
        ("agency-a",),
    )
    everything = access.scope_for(principal(frozenset({"sales", "agency"}), "agency-a"))
    assert (access.full_segments(everything), access.extra_agencies(everything)) == (
        ("residential", "corporate"),
        (),
    )


def passes_both_limits(limits, segment, agency_id) -> bool:
    """How the contracts store applies (segments, agency): both must hold, None is no limit."""
    segments, agency = limits
    segment = segment or "corporate"
    return (segments is None or segment in segments) and (agency is None or agency_id == agency)


@pytest.mark.parametrize("groups", EVERY_GROUP_SET, ids=lambda g: "+".join(sorted(g)) or "none")
def test_two_limits_never_let_through_what_the_scope_does_not_see(groups):
    scope = access.scope_for(principal(groups))
    limits = access.segments_and_agency(scope)
    mixed = bool(scope.segments) and bool(scope.agency_ids) and not scope.everything
    for segment in SEGMENTS:
        for agency_id in AGENCIES:
            seen = access.visible(scope, segment=segment, agency_id=agency_id)
            passed = passes_both_limits(limits, segment, agency_id)
            assert not passed or seen, (segment, agency_id)  # never more than the scope
            if not mixed:
                assert passed == seen, (segment, agency_id)  # exactly the scope


def test_no_scope_short_of_everything_is_without_limits():
    """The old reading, ``frozenset(segments) or None``, turned a scope without segments into
    no limit at all: with no agency either, that was every contract."""
    assert access.segments_and_agency(access.EVERYTHING) == (None, None)
    assert access.segments_and_agency(access.NOTHING) == (frozenset(), None)
    agency = access.scope_for(principal(frozenset({"agency"}), "agency-a"))
    assert access.segments_and_agency(agency) == (
        frozenset({"residential", "corporate"}),
        "agency-a",
    )
    corporate = access.scope_for(principal(frozenset({"corporate-manager"})))
    assert access.segments_and_agency(corporate) == (frozenset({"corporate"}), None)
    several = access.Scope(agency_ids=frozenset({"agency-a", "agency-b"}))
    assert access.segments_and_agency(several) == (frozenset(), None)


# ---- the claims ----------------------------------------------------------------------------


def claims_event(**claims):
    return {"requestContext": {"authorizer": {"claims": claims}}}


def test_the_agency_comes_from_the_custom_attribute_claim():
    event = claims_event(**{"sub": "u1", "cognito:groups": "agency", "custom:agency_id": "ag-1"})
    assert auth.principal_from_event(event) == Principal("u1", frozenset({"agency"}), "ag-1")
    blank = claims_event(**{"sub": "u1", "cognito:groups": "agency", "custom:agency_id": " "})
    assert auth.principal_from_event(blank) == Principal("u1", frozenset({"agency"}), None)


def test_route_groups_refuse_with_who_may():
    sales = Principal("u", frozenset({"sales"}))
    assert auth.require_groups(sales, {"ops", "sales"}, "GET /x") is sales
    with pytest.raises(Forbidden, match=r"PUT /agencies/\{agency_id\} is for ops only"):
        auth.require_groups(sales, {"ops"}, "PUT /agencies/{agency_id}")
    with pytest.raises(Unauthorized):
        auth.require_staff(None)
