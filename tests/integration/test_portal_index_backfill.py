"""The backfill of the portal's issued-invoices index on the embedded AWS: an invoice issued
before the index existed (no gsi3) is not listed by the customer portal until the backfill
sets the same keys finalization sets; a rerun writes nothing; a draft is never touched."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from local.http_api import LocalApiServer
from local.runtime import EmbeddedAWS
from monosub.documents import pdf_rendering_available
from monosub.store import billing as billing_store
from monosub.store import portal_index
from tests.integration.test_customer_portal import A, billing_accounts, call

pytestmark = pytest.mark.skipif(
    pdf_rendering_available() is not None, reason=str(pdf_rendering_available())
)


@pytest.fixture
def cloud() -> Iterator[EmbeddedAWS]:
    with EmbeddedAWS(business_time=datetime(2026, 11, 24, 1, 0, tzinfo=UTC)) as embedded:
        yield embedded


@pytest.fixture
def server(cloud: EmbeddedAWS) -> Iterator[LocalApiServer]:
    started = LocalApiServer(cloud).start()
    yield started
    started.stop()


def test_invoices_issued_before_the_index_are_listed_after_the_backfill(
    cloud: EmbeddedAWS, server: LocalApiServer
):
    billing_accounts(cloud)
    cloud.advance(days=8)  # November's invoices issued on 1 December, with gsi3
    cloud.wait_for_executions()
    alice = server.bearer("alice", "customer", account_id=A)
    (issued,) = call(server, "GET", "/me/invoices", alice)[1]["invoices"]
    table = billing_store._table
    with cloud.as_function("api"):
        # as stored before the index existed: no gsi3; and a draft of the same account
        pk = f"INVOICE#{issued['invoice_id']}"
        assert table.update(pk, "INVOICE", set_values={}, remove=("gsi3pk", "gsi3sk"))
        draft = billing_store.get_invoice(issued["invoice_id"])
        assert draft is not None
        draft = draft.model_copy(
            update={"invoice_id": "inv_olddraft", "status": "draft", "number": None}
        )
        assert billing_store.put_draft(draft)
    assert call(server, "GET", "/me/invoices", alice)[1]["invoices"] == []

    with cloud.as_function("api"):
        counted = portal_index.backfill_issued_index(dry_run=True)
        assert (counted["missing"], counted["written"]) == (1, 0)
        assert "gsi3pk" not in (table.get(pk, "INVOICE") or {})
        pages: list[dict[str, int]] = []
        done = portal_index.backfill_issued_index(
            page_size=2, progress=lambda counts, last: pages.append(dict(counts))
        )
        assert (done["missing"], done["written"], done["skipped"]) == (1, 1, 0)
        assert len(pages) == done["pages"] > 1  # paged, progress after each page
        again = portal_index.backfill_issued_index()
        assert (again["missing"], again["written"]) == (0, 0)
        untouched = table.get("INVOICE#inv_olddraft", "INVOICE") or {}
        assert untouched["status"] == "draft" and "gsi3pk" not in untouched
        assert table.get(pk, "INVOICE", consistent=True)["gsi3pk"] == f"ISSUED#{A}"

    (listed,) = call(server, "GET", "/me/invoices", alice)[1]["invoices"]
    assert listed["invoice_id"] == issued["invoice_id"]
