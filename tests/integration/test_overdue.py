"""Overdue follow-up on the embedded AWS, the issue's proof: the test clock walks a real
invoice (order → shipment → kitting → contract → invoicing) through every follow-up level of
the corporate policy; exactly one email per email level, one task per task level, one
suspension of the contract's devices on the device platform; the customer pays, and the
devices are resumed, once. GET /overdue shows the achievement rate before and after."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest

from local.ops_page import subject_of
from local.runtime import EmbeddedAWS
from monosub.documents import pdf_rendering_available
from monosub.domain import overdue as rules
from monosub.services import payments
from monosub.store import cash as cash_store
from tests.integration.test_billing import started_contract
from tests.sales_flow import Calls, attachments_of, priced_cloud, sent_mail, trail

pytestmark = pytest.mark.skipif(
    pdf_rendering_available() is not None, reason=str(pdf_rendering_available())
)


@pytest.fixture
def cloud() -> Iterator[EmbeddedAWS]:
    with priced_cloud(datetime(2026, 11, 24, 1, 0, tzinfo=UTC)) as embedded:
        yield embedded


@pytest.fixture
def call(cloud: EmbeddedAWS) -> Calls:
    return Calls(cloud)


def follow_up_day(cloud: EmbeddedAWS, day: date) -> None:
    """The business clock to 09:30 in Tokyo of ``day``: that day's follow-up run."""
    moment = datetime(day.year, day.month, day.day, 0, 30, tzinfo=UTC)
    cloud.set_clock(moment, only=("overdue-follow-up",))
    cloud.wait_for_executions()


def walk(cloud: EmbeddedAWS, due: date, levels: list[rules.FollowUpLevel], last: date) -> list:  # type: ignore[type-arg]
    """Every day from before the first level to ``last``: one email on each email level's
    day and none on the others."""
    mails_before = len(sent_mail())
    emails_at: dict[str, int] = {}
    day = due + timedelta(days=levels[0].days - 1)
    suspension_day = due + timedelta(days=next(lv.days for lv in levels if lv.suspend))
    while day <= last:
        if day == suspension_day:
            cloud.device_platform.fail_next(1)  # the platform is down once: retried
        follow_up_day(cloud, day)
        emails_at[day.isoformat()] = sum(
            1 for m in sent_mail() if not subject_of(m).startswith("【タスク】")
        )
        day += timedelta(days=1)
    sent = sent_mail()[mails_before:]
    follow_ups = [m for m in sent if not subject_of(m).startswith("【タスク】")]  # to the customer
    assert len(sent) - len(follow_ups) == sum(1 for level in levels if level.task)  # to staff
    email_levels = [level for level in levels if level.email]
    assert len(follow_ups) == len(email_levels), [subject_of(m) for m in follow_ups]
    for level in email_levels:  # each on its own day, not before
        on = (due + timedelta(days=level.days)).isoformat()
        before = (due + timedelta(days=level.days - 1)).isoformat()
        assert emails_at[on] == emails_at[before] + 1, level.key
    assert "【重要】サービスご利用停止のお知らせ" in subject_of(follow_ups[-1])
    return follow_ups


def test_an_invoice_walks_through_every_level_then_pays_and_is_resumed(
    cloud: EmbeddedAWS, call: Calls
):
    contract = started_contract(cloud, call)
    cloud.set_clock(datetime(2026, 11, 30, 17, 30, tzinfo=UTC))  # November invoiced
    cloud.wait_for_executions()
    [invoice] = call(
        "GET", "/invoices", query={"account_id": contract["account_id"]}, groups="ops"
    ).json()["invoices"]
    due = date.fromisoformat(invoice["due_date"])
    levels = rules.load_policy().levels_for("corporate")
    mails_before = len(sent_mail())
    last = due + timedelta(days=levels[-1].days + 1)
    follow_ups = walk(cloud, due, levels, last)
    from local import ops_page

    assert "ご利用停止" in ops_page.render(cloud)  # raw (MIME) messages listed too
    assert invoice["pdf_key"], invoice
    attached = [attachments_of(m) for m in follow_ups]  # notices carry the invoice's PDF
    notices = [level for level in levels if level.email]
    assert attached == [
        [f"{invoice['number']}.pdf"] if level.attach_invoices else [] for level in notices
    ]

    with cloud.as_function("overdue-batch"):
        fired = cash_store.follow_up_states([invoice["invoice_id"]])[invoice["invoice_id"]]
        [suspension] = cash_store.suspensions(contract["account_id"])
    assert fired == {level.key for level in levels}
    ledger = call("GET", "/runs", query={"kind": "overdue-follow-up", "limit": "100"}, groups="ops")
    assert {r["status"] for r in ledger.json()["runs"]} == {"succeeded"}
    assert suspension["status"] == "active" and len(suspension["serials"]) == 3
    suspended = [r for r in cloud.device_platform.requests if r.path.endswith("/suspend")]
    assert len({r.path for r in suspended}) == 3
    assert [r.status for r in suspended].count(503) == 1  # refused once, the batch retried

    tasks = [
        t
        for assignee in ("tanaka", "yamada")
        for t in call("GET", "/tasks", query={"assignee": assignee}, groups="ops").json()["tasks"]
    ]
    assert len(tasks) == sum(1 for level in levels if level.task)
    assert {t["assignee_role"] for t in tasks} == {"rep", "manager"}

    listed = call("GET", "/overdue", groups="ops").json()["deals"]
    [standing] = [s for s in listed if s["account_id"] == contract["account_id"]]
    assert standing["achievement_rate"] == "0.0" and standing["outstanding"] == invoice["total"]
    csv_file = call("GET", "/overdue", groups="ops", query={"format": "csv"})
    assert "入金達成率" in csv_file.text and contract["deal_id"] in csv_file.text
    page = call("GET", "/overdue/page", groups="ops")
    assert "未入金の取引" in page.text and 'style="width: 0.0%"' in page.text

    # the customer pays: the devices are resumed, once; nothing more is sent
    with cloud.as_function("api"):
        payments.record(
            [
                payments.Received(
                    provider="bank",
                    reference="late-1",
                    method="bank-transfer",
                    amount=invoice["total"],
                    received_on=last,
                    source="test",
                    invoice_id=invoice["invoice_id"],
                )
            ]
        )
    with cloud.as_function("overdue-batch"):
        [resumed] = cash_store.suspensions(contract["account_id"])
    assert resumed["status"] == "resumed"
    resumes = [r for r in cloud.device_platform.requests if r.path.endswith("/resume")]
    assert len({r.path for r in resumes}) == 3
    follow_up_day(cloud, last + timedelta(days=1))
    assert len(sent_mail()) == mails_before + len(follow_ups) + len(tasks)
    after = call("GET", "/overdue", groups="ops").json()["deals"]
    assert [s for s in after if s["account_id"] == contract["account_id"]] == []
    kinds = [e["type"] for e in trail(cloud, "account", contract["account_id"])]
    assert kinds.count("DevicesSuspended") == 1 and kinds.count("DevicesResumed") == 1


def test_an_opted_out_customer_gets_only_the_legal_notices(cloud: EmbeddedAWS, call: Calls):
    from tests.cash_fixtures import a_customer, an_invoice

    due = date(2026, 12, 10)
    a_customer(
        cloud,
        "acct_quiet",
        "株式会社しずか",
        [an_invoice("inv_quiet", "acct_quiet", 11000, due=due)],
        reminders_opt_out=True,
    )
    levels = rules.load_policy().levels_for("corporate")
    mails_before = len(sent_mail())
    day = due + timedelta(days=levels[0].days)
    while day <= due + timedelta(days=levels[-1].days):
        follow_up_day(cloud, day)
        day += timedelta(days=1)
    sent = [m for m in sent_mail()[mails_before:] if not subject_of(m).startswith("【タスク】")]
    legal = [level for level in levels if level.email and level.legal]
    assert len(sent) == len(legal) and all("【重要】" in subject_of(m) for m in sent)
    with cloud.as_function("overdue-batch"):
        fired = cash_store.follow_up_states(["inv_quiet"])["inv_quiet"]
    assert fired == {level.key for level in levels}  # every level noted, reminders unsent
    by_account = call("GET", "/overdue", groups="ops", query={"by": "account"}).json()
    [standing] = by_account["accounts"]
    assert (standing["account_id"], standing["achievement_rate"]) == ("acct_quiet", "0.0")


def test_ops_change_the_policy_with_a_file(cloud: EmbeddedAWS):
    import json

    from monosub.domain.overdue import POLICY
    from monosub.services import overdue

    policy = json.loads(POLICY.read_text(encoding="utf-8"))
    broken = json.loads(json.dumps(policy))
    broken["segments"]["corporate"].append(broken["segments"]["corporate"][0])
    bad = cloud.drop("follow-up-policy", "policy-bad.json", json.dumps(broken).encode())
    assert bad["status"] == "quarantined"
    assert any("corporate" in str(e.get("field")) for e in bad["errors"]), bad["errors"]
    for level in policy["segments"]["corporate"]:
        if level["key"] == "first-notice":
            level["days"] = 2
    good = cloud.drop("follow-up-policy", "policy.json", json.dumps(policy).encode())
    assert good["status"] == "succeeded", good
    with cloud.as_function("overdue-batch"):
        days = {lv.key: lv.days for lv in overdue.current_policy().levels_for("corporate")}
    assert days["first-notice"] == 2
