"""Scenario: from a web form and a partner's list to one customer record.

Read top to bottom, as the business story it is."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data"


def test_a_web_lead_becomes_one_customer_record(cloud, http):
    # A visitor fills in the public contact form.
    status, receipt = http(
        "POST",
        "/leads",
        {
            "company": "株式会社みなと物流",
            "person_name": "佐藤 花子",
            "email": "hanako.sato@minato-logi.example.jp",
            "source": "web-form",
            "message": "監視カメラ20台の相談",
        },
    )
    assert status == 201
    lead_id = receipt["lead_id"]

    # She sends the form again an hour later, her address typed in full-width letters.
    cloud.advance(hours=1)
    status, again = http(
        "POST",
        "/leads",
        {
            "company": "株式会社みなと物流",
            "person_name": "佐藤 花子",
            "email": "ｈａｎａｋｏ.sato@minato-logi.example.jp",
            "source": "web-form",
        },
    )
    assert (status, again["lead_id"], again["status"]) == (200, lead_id, "merged")

    # Only staff can see leads.
    assert http("GET", f"/leads/{lead_id}")[0] == 401
    assert http("GET", f"/leads/{lead_id}", user="c1", groups="customer")[0] == 403

    # The sales rep converts the lead: account, contact and deal in one step.
    status, converted = http(
        "POST", f"/leads/{lead_id}/convert", {"deal_name": "倉庫カメラ20台"}, user="tanaka"
    )
    assert status == 200
    status, record = http("GET", f"/accounts/{converted['account_id']}", user="tanaka")
    assert status == 200
    assert record["account"]["name"] == "株式会社みなと物流"
    assert [c["person_name"] for c in record["contacts"]] == ["佐藤 花子"]
    assert [d["name"] for d in record["deals"]] == ["倉庫カメラ20台"]
    assert record["deals"][0]["owner"] == "tanaka"
    kinds = [a["kind"] for a in record["activities"]]
    assert kinds == ["conversion", "submission", "submission"], "history kept, newest first"

    # Converting twice is refused: the lead is never copied twice.
    status, refused = http("POST", f"/leads/{lead_id}/convert", {}, user="tanaka")
    assert (status, refused["error"]) == (409, "conflict")


def test_a_partners_list_becomes_leads_the_sales_rep_can_work(cloud, http):
    # A partner drops the trade-show list into the inbox.
    run = cloud.drop("leads", "tradeshow.csv", (DATA / "leads-tradeshow.csv").read_bytes())
    assert run["status"] == "succeeded"
    assert run["counts"]["created"] == 4

    # Ops sees the run in the ledger.
    status, ledger = http("GET", f"/runs/{run['run_id']}", user="ops1", groups="ops")
    assert status == 200 and ledger["subject"]["archived_as"].startswith("archive/leads/")

    # The sales rep finds the new leads and converts one.
    status, page = http("GET", "/leads?status=open", user="tanaka")
    assert status == 200
    companies = sorted(lead["company"] for lead in page["leads"])
    assert "Kita Energy K.K." in companies and len(companies) == 4
    kita = next(lead for lead in page["leads"] if lead["company"] == "Kita Energy K.K.")
    status, converted = http("POST", f"/leads/{kita['lead_id']}/convert", {}, user="tanaka")
    assert status == 200 and converted["account_id"].startswith("account_")

    # A list with mistakes is refused whole, and nothing of it appears.
    bad = cloud.drop("leads", "bad.csv", (DATA / "leads-with-errors.csv").read_bytes())
    assert bad["status"] == "quarantined"
    status, page = http("GET", "/leads?status=open", user="tanaka")
    assert len(page["leads"]) == 3
