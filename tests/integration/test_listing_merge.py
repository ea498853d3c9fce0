"""Several listing partitions paged together (``monosub.store.listing.newest_first``): walking
every page gives each matching item exactly once, newest first, whatever the partitions, the
filters, the page size and the read budget of a filtered partition."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monosub import config
from monosub.names import RECORDS
from monosub.store import listing
from monosub.store.dynamo import Table

_runs = itertools.count()

items_strategy = st.lists(
    st.tuples(
        st.integers(0, 2),  # partition
        st.integers(0, 40),  # time
        st.sampled_from(["a", "b", "b"]),  # the filtered attribute
    ),
    max_size=30,
)


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    items=items_strategy,
    paging=st.tuples(
        st.integers(1, 6),  # page size
        st.sets(st.integers(0, 2)),  # the partitions read with a filter
        st.booleans(),  # every record in two partitions
    ),
)
def test_paging_several_partitions_gives_every_item_once_newest_first(
    api, monkeypatch, items, paging
):
    limit, filtered, duplicated = paging
    monkeypatch.setattr(listing, "FILTERED_READ", 2)  # tiny budgets: many short pages
    monkeypatch.setattr(listing, "FILTERED_REQUESTS", 2)
    run = next(_runs)
    with config.function_environment(api.environment):
        table = Table(RECORDS)
        written = []
        for n, (partition, at, kind) in enumerate(items):
            record = f"rec{n:03d}"
            position = f"2026-04-01T00:00:{at:02d}Z#{record}"
            for copy in (partition, (partition + 1) % 3) if duplicated else (partition,):
                table.put(
                    {
                        "pk": f"T#{run}#{record}",
                        "sk": f"LIST#{copy}",
                        "gsi1pk": f"T#{run}#P{copy}",
                        "gsi1sk": position,
                        "record": record,
                        "kind": kind,
                    }
                )
            written.append((position, record, kind, partition))
        sources = [
            listing.Source(f"T#{run}#P{p}", {"kind": "a"} if p in filtered else {})
            for p in range(3)
        ]
        seen: list[str] = []
        before = None
        for _ in range(200):
            page, before = listing.newest_first(
                table, sources, limit=limit, before=before, identity="record"
            )
            assert len(page) <= limit
            seen += [str(item["record"]) for item in page]
            if before is None:
                break
        else:
            pytest.fail("paging did not end")

    def listed(partition: int, kind: str) -> bool:
        copies = (partition, (partition + 1) % 3) if duplicated else (partition,)
        return any(c not in filtered or kind == "a" for c in copies)

    expected = [
        record
        for position, record, kind, partition in sorted(written, reverse=True)
        if listed(partition, kind)
    ]
    assert seen == expected
