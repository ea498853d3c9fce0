"""The demo is the product's face: it must run end to end and write its files."""

from __future__ import annotations

import json
import re

from local import demo


def test_the_demo_runs_end_to_end_and_writes_its_files(tmp_path, capsys):
    assert demo.run(tmp_path) == 0
    printed = capsys.readouterr().out
    assert "merged into" in printed
    assert "DeviceReplaced told the regulator once: 1 device-change notification(s)" in printed
    assert "409 conflict" in printed
    assert "the sweep finds the file -> succeeded" in printed
    runs = json.loads((tmp_path / "runs.json").read_text())
    outcomes = sorted(
        (r["subject"]["file_kind"], r["status"]) for r in runs if r["kind"] == "file-intake"
    )
    assert outcomes == [
        ("application-form", "succeeded"),
        ("application-form", "succeeded"),
        ("bank-statement", "succeeded"),
        ("bank-statement", "succeeded"),
        ("bank-statement", "succeeded"),
        ("campaigns", "succeeded"),
        ("invoices", "quarantined"),
        ("leads", "quarantined"),
        ("leads", "quarantined"),
        ("leads", "succeeded"),
        ("leads", "succeeded"),
        ("price-book", "succeeded"),
        ("stripe-payouts", "succeeded"),
        ("warehouse-shipments", "quarantined"),
        ("warehouse-shipments", "succeeded"),
        ("warehouse-shipments", "succeeded"),  # the replacement camera's serial
        ("zengin-debit-result", "succeeded"),
        ("zengin-debit-result", "succeeded"),
    ]
    kitting = [r for r in runs if r["kind"] == "shipping-kitting"]
    # the two shipments of the order, and the replacement of a broken camera
    assert len(kitting) == 3 and {r["status"] for r in kitting} == {"succeeded"}
    assert "contract C2026-000001 active from 2026-11-29" in printed
    instructions = sorted(tmp_path.glob("bucket/outbox/warehouse/*/*.csv"))
    assert len(instructions) == 3  # the third carries the replacement
    assert "【交換品】" in instructions[2].read_bytes().decode("cp932")
    assert "出荷指示番号" in instructions[0].read_bytes().decode("cp932")
    assert "SC1-26K-" in (tmp_path / "email-shipping.html").read_text()
    assert "tanaka prices 20 cameras" in printed and "CORP-BULK-10" in printed
    priced = json.loads((tmp_path / "price-preview.json").read_text())
    assert priced["campaigns_applied"] == ["CORP-BULK-10"]
    reports = list(tmp_path.glob("bucket/quarantine/leads/*/*/leads-with-errors.csv.error.json"))
    assert len(reports) == 1
    report = json.loads(reports[0].read_text())
    assert [e["line"] for e in report["row_errors"]] == [3, 4, 5, 5]
    # the agency channel: a retry replayed, the denials, a manager's export, the commission
    assert "replayed=true, the same account and deal" in printed
    assert "kitano asks for a direct customer's deal (みなと物流) -> 404" in printed
    assert "yamada exports the residential customers -> 200: 0 rows" in printed
    export = (tmp_path / "exports" / "accounts-corporate-manager.csv").read_bytes()
    assert export.startswith(b"\xef\xbb\xbfaccount_id,name,segment,")
    assert (
        "residential" not in export.decode("utf-8-sig")
        and "株式会社さっぽろ冷凍" in export.decode()
    )
    performance = json.loads((tmp_path / "agency-performance.json").read_text())
    assert (performance["registrations"]["count"], performance["won_deals"]["count"]) == (2, 1)
    assert performance["commission_yen"] == 6 * 3000 + 6 * 500
    transcript = (tmp_path / "api-transcript.jsonl").read_text().splitlines()
    assert len(transcript) >= 10
    # billing: the month's invoices as PDFs, one on paper through the print vendor, the files
    invoices = sorted((tmp_path / "invoices").glob("INV-2026-*.pdf"))
    assert [p.name for p in invoices] == ["INV-2026-000001.pdf", "INV-2026-000002.pdf"]
    assert all(p.read_bytes().startswith(b"%PDF") for p in invoices)
    assert "the print vendor (SOAP) took 1 paper invoice(s)" in printed
    journal = tmp_path / "bucket/outbox/accounting/2026-11/journal-20261130.csv"
    assert "INV-2026-000002" in journal.read_bytes().decode("cp932")
    assert "（日割 2/30日）" in printed and "tax once per rate: 10%" in printed
    check_cash(tmp_path, printed)
    check_overdue(tmp_path, printed, runs)
    check_intake(tmp_path, printed)
    check_portals(tmp_path, printed)


def check_portals(tmp_path, printed):
    # the customer's own invoices, one directory sign-in, the ERP and the regulator
    assert "signs in to the customer portal (his token names his account) -> 200" in printed
    assert (tmp_path / "portal").is_dir()
    assert all(p.read_bytes().startswith(b"%PDF") for p in (tmp_path / "portal").glob("*.pdf"))
    assert "a customer asking for staff data (GET /deals) -> 403" in printed
    assert "roles ['sales'] (the sign-in-groups trigger's rule) -> GET /deals 200" in printed
    assert "kept the ERP in step over SOAP" in printed
    assert "were told of supply events as they happened" in printed


def check_intake(tmp_path, printed):
    # a web-shop order and an Excel form both become deals without re-typing
    assert "sends order WS-20270227-0001" in printed and "-> 201 confirmed" in printed
    assert "-> 202 held" in printed and "retry -> 200 resolved" in printed
    assert "申込書!C13" in printed and "申込書!E18" in printed
    assert "stored" in printed and "a program named scan.pdf -> rejected" in printed
    kept = tmp_path / "documents/kept-申込書-あおば歯科.xlsx"
    assert kept.read_bytes().startswith(b"PK")  # the very workbook dropped, downloaded
    assert "with the same link (True)" in printed
    assert "the back office calls the customer and resends -> 200 resolved" in printed


def check_cash(tmp_path, printed):
    # cash: the debit request on the bank's SFTP, its result, a card payment, the payout
    request = (tmp_path / "bank/KOFURI_1234567890_20261228.txt").read_bytes()
    assert len(request.split(b"\r\n")[0]) == 120
    assert "1 debited, 1 failed" in printed and "debit failed: 1 資金不足" in printed
    assert "reach POST /webhooks/stripe" in printed
    assert re.search(r"-> INV-2026-00000[12] paid", printed)  # the returned debit's invoice
    assert "A forged webhook -> 400" in printed
    summary = tmp_path / "bucket/outbox/accounting/2026-12/card-payouts-2026-12.csv"
    assert "決済手数料" in summary.read_text(encoding="utf-8-sig")
    assert "kept as credit, the account's credit is now ¥1,000" in printed
    assert "(前受金 ¥1,000 applied)" in printed  # the credit pays part of the next invoice


def check_overdue(tmp_path, printed, runs):
    # overdue: the returned debit followed up to suspension, then paid and resumed
    assert "On day 30 the devices of the unpaid contract were suspended" in printed
    assert "task for yamada (manager)" in printed
    assert "the devices are resumed at once: 2 device(s)" in printed
    page = (tmp_path / "overdue/overdue-page.html").read_text(encoding="utf-8")
    assert "入金達成率" in page and "97.0%" in page
    overdue_runs = [r for r in runs if r["kind"] == "overdue-follow-up"]
    assert overdue_runs and {r["status"] for r in overdue_runs} == {"succeeded"}
