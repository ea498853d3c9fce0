"""The backfill of the account-invoices index (gsi4) on the embedded AWS: an invoice stored
before the index existed (no gsi4, the retired gsi1/gsi3 keys instead) is listed neither by
the customer portal nor by the staff list until the backfill sets the keys every write sets
and takes the retired ones off; a draft is indexed too (the portal still never lists it); a
rerun writes nothing."""

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
    cloud.advance(days=8)  # November's invoices issued on 1 December
    cloud.wait_for_executions()
    alice = server.bearer("alice", "customer", account_id=A)
    (issued,) = call(server, "GET", "/me/invoices", alice)[1]["invoices"]
    table = billing_store._table
    with cloud.as_function("api"):
        # as stored before the index existed: gsi1 and gsi3 keys, no gsi4; and a draft
        pk = f"INVOICE#{issued['invoice_id']}"
        retired = {
            "gsi1pk": f"INVOICES#{A}",
            "gsi1sk": "x",
            "gsi3pk": f"ISSUED#{A}",
            "gsi3sk": "x",
        }
        assert table.update(pk, "INVOICE", set_values=retired, remove=("gsi4pk", "gsi4sk"))
        draft = billing_store.get_invoice(issued["invoice_id"])
        assert draft is not None
        draft = draft.model_copy(
            update={"invoice_id": "inv_olddraft", "status": "draft", "number": None}
        )
        assert billing_store.put_draft(draft)
        assert table.update(
            "INVOICE#inv_olddraft", "INVOICE", set_values={}, remove=("gsi4pk", "gsi4sk")
        )
        assert billing_store.account_invoices(A) == []
    assert call(server, "GET", "/me/invoices", alice)[1]["invoices"] == []

    with cloud.as_function("api"):
        counted = portal_index.backfill_account_index(dry_run=True)
        assert (counted["missing"], counted["written"]) == (2, 0)
        assert "gsi4pk" not in (table.get(pk, "INVOICE") or {})
        pages: list[dict[str, int]] = []
        done = portal_index.backfill_account_index(
            page_size=2, progress=lambda counts, last: pages.append(dict(counts))
        )
        assert (done["missing"], done["written"], done["skipped"]) == (2, 2, 0)
        assert len(pages) == done["pages"] > 1  # paged, progress after each page
        again = portal_index.backfill_account_index()
        assert (again["missing"], again["written"]) == (0, 0)
        stored = table.get(pk, "INVOICE", consistent=True) or {}
        assert stored["gsi4pk"] == f"INVOICES#{A}" and not set(retired) & set(stored)
        listed_by_staff = billing_store.account_invoices(A)
        assert {i.invoice_id for i in listed_by_staff} == {issued["invoice_id"], "inv_olddraft"}

    (listed,) = call(server, "GET", "/me/invoices", alice)[1]["invoices"]
    assert listed["invoice_id"] == issued["invoice_id"]  # the draft is not the customer's
