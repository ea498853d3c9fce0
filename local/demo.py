"""``monosub demo``: the story so far, end to end on the embedded AWS, told in plain words.

Everything goes through the real front doors: HTTP requests to the local API server, files
put into the exchange bucket, the business clock moved so schedules fire. Files it wrote or
received are copied under the output folder.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from local import demo_intake, demo_portals, ops_page
from local.cli import Progress, format_runs
from local.http_api import LocalApiServer
from local.runtime import EmbeddedAWS
from monosub import auth, clock
from monosub.documents.formatting import signed_yen
from monosub.formats import zengin_debit, zengin_statement
from monosub.formats.statement import StatementEntry

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
START = datetime(2026, 11, 2, 0, 30, tzinfo=UTC)  # Monday 2 Nov 2026, 09:30 in Tokyo
# Runs of the schedules (the state machines' runs are of their own names).
SCHEDULED_RUN_KINDS = frozenset({"intake-sweep", "contract-renewals", "warehouse-instructions"})
MONTH_END = datetime(2026, 11, 30, 17, 30, tzinfo=UTC)  # 1 Dec 02:30 in Tokyo
DEBIT_REQUEST_DAY = datetime(2026, 12, 20, 18, 30, tzinfo=UTC)  # 21 Dec 03:30 in Tokyo
DEBIT_RESULT_DAY = datetime(2026, 12, 29, 1, 0, tzinfo=UTC)  # the day after the debit date
PAYOUT_DAY = date(2026, 12, 31)
NEW_YEAR = datetime(2026, 12, 31, 17, 30, tzinfo=UTC)  # 1 Jan 02:30 in Tokyo: December billed
DECEMBER_DEBIT_REQUEST = datetime(2027, 1, 19, 18, 30, tzinfo=UTC)  # 20 Jan 03:30 in Tokyo
DECEMBER_DEBIT_RESULT = datetime(2027, 1, 28, 0, 10, tzinfo=UTC)  # the day after the debit
PARTIAL_PAYMENT_DAY = date(2027, 2, 5)
LAST_FOLLOW_UP_DAY = date(2027, 2, 27)  # a residential customer is suspended on day 30
DEBIT_ACCOUNTS = {  # each customer's 口座振替依頼書, by customer name
    "株式会社みなと物流": {
        "bank_code": "0009",
        "bank_name": "ミツイスミトモ",
        "branch_code": "456",
        "branch_name": "シンジユク",
        "account_type": "1",
        "account_number": "7654321",
        "holder_name": "カ）ミナトブツリユウ",
    },
    "山本 健一": {
        "bank_code": "0005",
        "bank_name": "ミツビシユ－エフジエイ",
        "branch_code": "123",
        "branch_name": "シブヤ",
        "account_type": "2",
        "account_number": "1234567",
        "holder_name": "ヤマモト ケンイチ",
    },
}
BROWSER = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Safari/604.1"
AGENCY = "hokkaido-security"  # the reseller of the agency chapter


class Story:
    def __init__(self, out: Path, cloud: EmbeddedAWS, server: LocalApiServer) -> None:
        self.out = out
        self.cloud = cloud
        self.server = server
        self.url = server.url
        self.step = 0
        self.transcript = (out / "api-transcript.jsonl").open("w", encoding="utf-8")
        self.written: list[Path] = []
        self.who: dict[str, str] = {}
        self.ids: dict[str, str] = {}
        self.sales: dict[str, str] = {}
        self.ops: dict[str, str] = {}
        self.customer: dict[str, str] = {}
        self.manager: dict[str, str] = {}
        self.agency: dict[str, str] = {}
        self.shop: dict[str, str] = {}

    def sign_in(self, server: LocalApiServer) -> None:
        """Tokens signed with the local key, as Cognito sign-in would issue them (an agency
        user's names its agency, as the custom:agency_id attribute does)."""
        for attribute, user, group, agency in (
            ("sales", "tanaka", "sales", None),
            ("ops", "ops-suzuki", "ops", None),
            ("manager", "yamada", "corporate-manager", None),
            ("customer", "c1", "customer", None),
            ("agency", "kitano", "agency", AGENCY),
        ):
            headers = server.bearer(user, group, agency_id=agency)
            setattr(self, attribute, headers)
            self.who[headers["Authorization"]] = (
                f"{user} ({group}{f' of {agency}' if agency else ''})"
            )
        # the web shop's system: an access token of the client-credentials flow
        self.shop = server.machine_bearer("web-shop", auth.ORDERS_WRITE)
        self.who[self.shop["Authorization"]] = "the web shop (client credentials)"

    def chapter(self, title: str) -> None:
        print(f"\n== {title} ==")

    def say(self, text: str) -> None:
        self.step += 1
        print(f"{self.step:>2}. {text}")

    def detail(self, text: str) -> None:
        print(f"      {text}")

    def http(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        status, payload, _ = self.http_with_headers(method, path, body, headers)
        return status, payload

    def http_with_headers(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any, dict[str, str]]:
        data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers=headers or {}
        )
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, payload = response.status, json.loads(response.read() or b"null")
                answered = dict(response.headers.items())
        except urllib.error.HTTPError as error:
            status, payload = error.code, json.loads(error.read() or b"null")
            answered = dict(error.headers.items())
        self.transcript.write(
            json.dumps(
                {
                    "request": {
                        "method": method,
                        "path": path,
                        "body": body,
                        "as": self.who.get((headers or {}).get("Authorization", ""), "anonymous"),
                    },
                    "response": {"status": status, "body": payload},
                },
                ensure_ascii=False,
            )
            + "\n"
        )
        return status, payload, answered

    def download(self, path: str, headers: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
        """A GET whose answer is a file (an export), not JSON: its bytes and headers."""
        request = urllib.request.Request(self.url + path, method="GET", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, body = response.status, response.read()
                answered = dict(response.headers.items())
        except urllib.error.HTTPError as error:
            status, body, answered = error.code, error.read(), dict(error.headers.items())
        self.transcript.write(
            json.dumps(
                {
                    "request": {
                        "method": "GET",
                        "path": path,
                        "as": self.who.get(headers.get("Authorization", ""), "anonymous"),
                    },
                    "response": {
                        "status": status,
                        "content_type": answered.get("Content-Type"),
                        "bytes": len(body),
                    },
                },
                ensure_ascii=False,
            )
            + "\n"
        )
        return status, body, answered

    def page(self, method: str, url: str, form: dict[str, str] | None = None) -> tuple[int, str]:
        """What a browser does with a page (HTML, an urlencoded form), not the JSON API."""
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(
            url, data=data, method=method, headers={"User-Agent": BROWSER}
        )
        if data is not None:
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, response.read().decode("utf-8")
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode("utf-8")

    def save_bytes(self, name: str, body: bytes) -> Path:
        target = self.out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)
        self.written.append(target)
        return target

    def drop(self, kind: str, source: Path, name: str | None = None) -> dict[str, Any]:
        name = name or source.name
        progress = Progress(f"inbox/{kind}/{name}")
        run = self.cloud.drop(
            kind,
            name,
            source.read_bytes(),
            progress=lambda r: progress.update(f"{r['status']} {r['counts']}"),
        )
        progress.done()
        return run

    def save_object(self, key: str) -> Path:
        body = self.cloud.s3.get_object(Bucket=self.cloud.bucket("exchange"), Key=key)["Body"]
        target = self.out / "bucket" / key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body.read())
        self.written.append(target)
        return target

    def write(self, name: str, payload: Any) -> Path:
        target = self.out / name
        text = json.dumps(payload, ensure_ascii=False, indent=2, default=_plain)
        target.write_text(text, encoding="utf-8")
        self.written.append(target)
        return target


def run(out: Path) -> int:
    began = time.perf_counter()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    print("monosub demo: the foundation — leads, accounts, partner files, the run ledger")
    with Progress("starting the embedded AWS").ticking():
        cloud = EmbeddedAWS(business_time=START).start()
    with cloud:
        server = LocalApiServer(cloud).start()
        try:
            story = Story(out, cloud, server)
            story.sign_in(server)
            print(
                f"The embedded AWS is up in {cloud.started_seconds:.2f}s: "
                f"{len(cloud.names.tables)} tables, {len(cloud.names.buckets)} bucket, "
                f"{len(cloud.names.state_machines)} state machine, API at {server.url}"
            )
            print(f"Business clock: {_tokyo(cloud.now())} (Asia/Tokyo)")
            _web_leads(story)
            cloud.advance(minutes=20)
            _conversion(story)
            cloud.advance(minutes=15)
            _partner_files(story)
            _sales_pipeline(story)
            _quote_and_consent(story)
            _agency_channel(story)
            _phone_signup(story)
            _fulfilment(story)
            _schedules(story)
            _billing(story)
            _cash(story)
            _overdue(story)
            demo_intake.web_shop(story)
            form_deal = demo_intake.application_form(story)
            demo_intake.documents(story, form_deal)
            demo_intake.unsigned_contracts(story)
            demo_portals.portals(story, story.ids["late_account"])
            _ledger_and_audit(story)
            story.transcript.close()
        finally:
            server.stop()
    print(f"\nFiles written under {out}:")
    for path in [out / "api-transcript.jsonl", *story.written]:
        print(f"  {path.relative_to(out)}")
    print(f"\nDone in {time.perf_counter() - began:.1f}s.")
    return 0


def _tokyo(moment: datetime) -> str:
    return moment.astimezone(clock.TOKYO).strftime("%Y-%m-%d %H:%M")


def _web_leads(story: Story) -> None:
    story.chapter("Web-to-lead: visitors fill in the public contact form")
    hanako = {
        "company": "株式会社みなと物流",
        "person_name": "佐藤 花子",
        "email": "hanako.sato@minato-logi.example.jp",
        "phone": "03-1234-5678",
        "source": "web-form",
        "message": "倉庫に監視カメラを20台入れたい。録画プランの相談をしたいです。",
    }
    status, lead = story.http("POST", "/leads", hanako)
    story.say(
        f"佐藤 花子 of 株式会社みなと物流 asks about 20 cameras -> {status}, "
        f"lead {lead['lead_id']} ({lead['status']})"
    )
    story.ids["hanako"] = lead["lead_id"]
    again = {
        **hanako,
        "email": "ＨＡＮＡＫＯ.SATO@minato-logi.example.jp",
        "message": "追伸: 設置工事もお願いできますか?",
    }
    story.cloud.advance(minutes=4)
    status, merged = story.http("POST", "/leads", again)
    story.say(
        f"She sends the form again, typing her address in full-width capitals -> "
        f"{status}, {merged['status']} into {merged['lead_id']} (no second lead)"
    )
    colleague = {
        "company": "(株)みなと物流",
        "person_name": "山本 健",
        "phone": "045-555-0101",
        "source": "web-form",
        "message": "横浜倉庫の件",
    }
    story.cloud.advance(minutes=7)
    status, other = story.http("POST", "/leads", colleague)
    _, seen_by_staff = story.http("GET", f"/leads/{other['lead_id']}", headers=story.sales)
    flagged = ", ".join(
        f"{d['kind']} {d['id']} by {d['matched_on']}"
        for d in seen_by_staff["lead"].get("possible_duplicates", [])
    )
    story.say(
        f"A colleague writes as '(株)みなと物流' -> {status}, new lead {other['lead_id']}; "
        f"staff see it flagged as possibly the same company: {flagged or 'none'}"
    )
    story.ids["colleague"] = other["lead_id"]
    shop = {
        "company": "さくら電機株式会社",
        "person_name": "木村 翔",
        "email": "kimura@sakura.example.jp",
        "source": "web-form",
        "message": "回線が切れたので再送します",
    }
    key = {"Idempotency-Key": "form-7f3a"}
    story.http_with_headers("POST", "/leads", shop, key)
    status, again, answered = story.http_with_headers("POST", "/leads", shop, key)
    story.say(
        f"A browser retries a POST with the same Idempotency-Key -> {status}, "
        f"the same answer ({again['lead_id']}), replayed="
        f"{answered.get('Idempotent-Replayed', 'false')}"
    )
    status, refused = story.http("POST", "/leads", {"company": "テスト", "person_name": "名無し"})
    fields = ", ".join(sorted({d["field"] for d in refused.get("details", [])}))
    story.say(
        f"A form with neither email nor phone -> {status} {refused['error']} (fields: {fields})"
    )


def _conversion(story: Story) -> None:
    story.chapter("Sales converts the lead: one customer record, never re-typed")
    status, _ = story.http("GET", "/leads")
    story.say(f"An anonymous visitor tries to list leads -> {status}")
    status, _ = story.http("GET", "/leads", headers=story.customer)
    story.say(f"A signed-in customer tries the same -> {status}")
    status, page = story.http("GET", "/leads?status=open", headers=story.sales)
    story.say(f"Sales rep tanaka lists the open leads -> {status}, {len(page['leads'])} leads")
    lead_id = story.ids["hanako"]
    status, converted = story.http(
        "POST", f"/leads/{lead_id}/convert", {"deal_name": "みなと物流 倉庫カメラ20台"}, story.sales
    )
    story.ids["deal"] = converted["deal_id"]
    story.say(
        f"tanaka converts {lead_id} -> {status}: account {converted['account_id']}, "
        f"contact {converted['contact_id']}, deal {converted['deal_id']}"
    )
    status, again = story.http("POST", f"/leads/{lead_id}/convert", {}, story.sales)
    story.say(f"Converting it a second time -> {status} {again['error']}: {again['message']}")
    status, second = story.http(
        "POST",
        f"/leads/{story.ids['colleague']}/convert",
        {"deal_name": "みなと物流 横浜倉庫"},
        story.sales,
    )
    story.say(
        f"The colleague's lead converts into the same account -> {status}, "
        f"account {second['account_id']}"
    )
    status, record = story.http("GET", f"/accounts/{converted['account_id']}", headers=story.sales)
    story.say(
        f"The account record: {record['account']['name']} with "
        f"{len(record['contacts'])} contacts, {len(record['deals'])} deals, "
        f"{len(record['activities'])} history entries"
    )
    for activity in record["activities"][:5]:
        story.detail(
            f"{activity['occurred_at']}  {activity['kind']:<10} "
            f"{activity.get('person_name') or activity.get('by') or ''}"
        )
    story.write("account-record.json", record)


def _partner_files(story: Story) -> None:
    story.chapter("Partner files: a trade-show lead list dropped into the inbox")
    run = story.drop("leads", DATA / "leads-tradeshow.csv")
    story.say(
        f"inbox/leads/leads-tradeshow.csv -> {run['status']}: {run['message']} "
        f"(run {run['run_id']})"
    )
    story.save_object(run["subject"]["archived_as"])
    again = story.drop("leads", DATA / "leads-tradeshow.csv")
    story.say(
        f"The same file dropped again -> same run {again['run_id']}, "
        f"still {again['status']}, nothing applied twice"
    )
    renamed = story.drop("leads", DATA / "leads-tradeshow.csv", name="leads-tradeshow-resent.csv")
    story.say(f"The same content under a new name -> {renamed['status']}: {renamed['message']}")
    bad = story.drop("leads", DATA / "leads-with-errors.csv")
    story.say(f"A list with mistakes -> {bad['status']}: {bad['message']}")
    for error in bad["errors"]:
        story.detail(f"line {error['line']}: {error.get('field') or ''} {error['message']}")
    report = story.save_object(bad["subject"]["error_report"])
    story.detail(f"error report beside the quarantined file: {report.name}")
    unknown = story.drop("invoices", DATA / "leads-tradeshow.csv", name="mystery.csv")
    story.say(f"A file under an unknown kind -> {unknown['status']}: {unknown['message']}")


def _sales_pipeline(story: Story) -> None:
    story.chapter("Sales pipeline: the price book as data, a priced order, the deal's stages")
    for kind, name in (("price-book", "price-book.csv"), ("campaigns", "campaigns.json")):
        run = story.drop(kind, DATA / "catalog" / name)
        story.say(f"Ops drops {name} into inbox/{kind}/ -> {run['status']}: {run['message']}")
    _, products = story.http("GET", "/catalog/products", headers=story.sales)
    story.detail(
        f"{len(products['products'])} products in force, e.g. "
        + ", ".join(p["product"]["name"] for p in products["products"][:3])
    )
    order = {
        "date": story.cloud.now().astimezone(clock.TOKYO).date().isoformat(),
        "segment": "corporate",
        "channel": "direct",
        "new_customer": True,
        "term_months": 12,
        "lines": [
            {"sku": "CAM-ONE-SALE", "quantity": 20},
            {"sku": "PLAN-30D", "quantity": 20},
            {"sku": "SVC-INSTALL", "quantity": 20},
        ],
    }
    status, priced = story.http("POST", "/prices/preview", order, story.sales)
    month = priced["monthly"][0]
    story.say(
        f"tanaka prices 20 cameras + 30-day plans + installation -> {status}: one-time "
        f"¥{priced['one_time']['total_yen']:,} incl. tax, monthly ¥{month['list_yen']:,} list, "
        f"-¥{month['discount_yen']:,} ({', '.join(priced['campaigns_applied']) or 'no campaign'}),"
        f" ¥{month['total_yen']:,} incl. tax"
    )
    for tax in priced["one_time"]["taxes"]:
        story.detail(
            f"one-time tax at {tax['rate_percent']}%: ¥{tax['base_yen']:,} -> "
            f"¥{tax['tax_yen']:,}, rounded once per rate on the document"
        )
    story.write("price-preview.json", priced)
    deal_id = story.ids["deal"]
    _, deal = story.http("GET", f"/deals/{deal_id}", headers=story.sales)
    changes = {
        "version": deal["version"],
        "lines": [{"device_sku": "CAM-ONE-SALE", "plan_sku": "PLAN-30D", "quantity": 20}],
        "installation_needed": True,
        "payment_method": "bank-transfer",
        "requested_delivery_date": "2026-12-01",
        "ship_to": {
            "postal_code": "〒１０５−００２２",
            "prefecture": "東京",
            "city": "港区",
            "address_line1": "海岸1-2-3",
            "company_name": "株式会社みなと物流",
            "recipient_name": "佐藤 花子",
            "recipient_phone": "03-1234-5678",
        },
    }
    status, deal = story.http("PATCH", f"/deals/{deal_id}", changes, story.sales)
    story.say(
        f"tanaka fills in the order on deal {deal_id} -> {status}: ship to "
        f"〒{deal['ship_to']['postal_code']} {deal['ship_to']['prefecture']}"
        f"{deal['ship_to']['city']} (full-width input normalized), version {deal['version']}"
    )
    stale = {**changes, "version": 1}
    status, refused = story.http("PATCH", f"/deals/{deal_id}", stale, story.sales)
    story.say(f"A second tab saves with the old version -> {status} {refused['error']}")
    for stage in ("qualification", "proposal"):
        status, deal = story.http(
            "POST",
            f"/deals/{deal_id}/stage",
            {"to": stage, "version": deal["version"]},
            story.sales,
        )
        story.say(f"The deal moves to {stage} -> {status}")
    status, refused = story.http(
        "POST", f"/deals/{deal_id}/stage", {"to": "won", "version": deal["version"]}, story.sales
    )
    story.say(f"Jumping straight to won -> {status}: {refused['message']}")


def _quote_and_consent(story: Story) -> None:
    story.chapter("Quote, consent without a login, and the order")
    deal_id = story.ids["deal"]
    discount = {"monthly_yen": 6000, "one_time_yen": 50_000, "reason": "競合対抗・20台一括"}
    status, quote = story.http(
        "POST", f"/deals/{deal_id}/quotes", {"manual_discount": discount}, story.sales
    )
    document = quote["document"]
    story.say(
        f"tanaka quotes the deal -> {status}: {quote['number']} v{quote['version']}, one-time "
        f"¥{document['one_time_total']:,} and monthly ¥{document['monthly_total']:,} incl. tax, "
        f"campaigns {', '.join(quote['priced']['campaigns_applied']) or 'none'}"
    )
    story.detail(
        f"the manual discount is {quote['approval']['required_percent']}% of the price, above "
        f"a rep's {quote['approval']['creator_limit_percent']}%: status {quote['status']}"
    )
    quote_id = quote["quote_id"]
    status, refused = story.http(
        "POST", f"/quotes/{quote_id}/send", {"version": quote["version"]}, story.sales
    )
    story.say(f"Sending it before approval -> {status}: {refused['message']}")
    status, quote = story.http(
        "POST", f"/quotes/{quote_id}/approve", {"version": quote["version"]}, story.manager
    )
    story.say(f"yamada (corporate relationship manager) approves -> {status}: {quote['status']}")
    pdf = story.cloud.s3.get_object(Bucket=story.cloud.bucket("documents"), Key=quote["pdf_key"])[
        "Body"
    ].read()
    saved = story.save_bytes(f"documents/{quote['number']}-v{quote['version']}.pdf", pdf)
    story.detail(
        f"見積書 PDF rendered by the document-renderer function: {saved.name}, "
        f"{len(pdf):,} bytes, sha256 {quote['pdf_sha256'][:16]}…"
    )
    status, quote = story.http(
        "POST", f"/quotes/{quote_id}/send", {"version": quote["version"]}, story.sales
    )
    message = _last_email(story)
    link = re.findall(r'href="([^"]+/consent/[^"]+)"', message.body)[0]
    story.say(
        f"tanaka sends it -> {status}: email to {', '.join(message.destinations['ToAddresses'])}"
        f" 「{message.subject}」"
    )
    story.save_bytes("email-quote.html", message.body.encode("utf-8"))
    story.detail(f"the link (signed, expiring, single use): {link[:70]}…")
    status, page = story.page("GET", link)
    story.save_bytes("consent-page.html", page.encode("utf-8"))
    shown = re.search(r'name="document" value="([0-9a-f]{64})"', page)
    assert shown is not None, "the consent page carries the document's hash"
    story.say(
        f"The customer opens the link on a phone, no login -> {status}: lines with list price, "
        "discount and discounted price, and the terms (consent-page.html)"
    )
    status, answer = story.page("POST", link, {"decision": "agree", "document": shown.group(1)})
    story.save_bytes("consent-agreed.html", answer.encode("utf-8"))
    story.say(f"The customer presses 同意する -> {status}")
    status, _ = story.page("POST", link, {"decision": "agree", "document": shown.group(1)})
    story.detail(f"a double click posts again -> {status}: one agreement is recorded")
    story.cloud.wait_for_executions()
    _, quote = story.http("GET", f"/quotes/{quote_id}", headers=story.sales)
    _, deal = story.http("GET", f"/deals/{deal_id}", headers=story.sales)
    story.say(
        f"The agreement moves the order on by itself: quote {quote['status']}, deal {deal['stage']}"
    )
    _, evidence = story.http("GET", f"/consents/{quote['consent_id']}", headers=story.ops)
    story.write("consent-evidence.json", evidence)
    answered = evidence.get("answer") or {}
    story.detail(
        f"evidence: document sha256 {str(answered.get('document_sha256'))[:16]}…, "
        f"version {answered.get('document_version')}, at {answered.get('answered_at')}, "
        f"IP {answered.get('ip')}, browser {str(answered.get('user_agent'))[:28]}…"
    )
    orders = _events_of(story, "deal", deal_id, "OrderConfirmed")
    story.say(
        f"OrderConfirmed is on the EventBridge bus for fulfilment (×{len(orders)}): "
        + (
            f"ship to {orders[0]['detail']['ship_to']['city']}, "
            f"{sum(line['quantity'] for line in orders[0]['detail']['lines'])} devices, "
            f"delivery wanted {orders[0]['detail']['requested_delivery_date']}"
            if orders
            else "missing!"
        )
    )
    if orders:
        story.write("order-confirmed.json", orders[0])
    _, contract = story.http("GET", f"/contracts/{quote['contract_created']}", headers=story.sales)
    pdf = story.cloud.s3.get_object(
        Bucket=story.cloud.bucket("documents"), Key=contract["pdf_key"]
    )["Body"].read()
    saved = story.save_bytes(f"documents/{contract['number']}.pdf", pdf)
    story.say(
        f"Contract {contract['number']} is made from the accepted quote: {contract['status']} "
        f"(starts when shipped or installed), {contract['term_months']} months, auto-renewal "
        f"{'on' if contract['auto_renew'] else 'off'}, notice {contract['notice_days']} days; "
        f"契約書 PDF {saved.name}"
    )


def _phone_signup(story: Story) -> None:
    story.chapter("A phone sign-up: the contract itself goes out for consent")
    order = {
        "segment": "residential",
        "name": "山本 健一",
        "contact": {
            "person_name": "山本 健一",
            "email": "kenichi.yamamoto@example.jp",
            "phone": "090-2345-6789",
        },
        "deal": {
            "name": "自宅見守りカメラ 2台",
            "lines": [
                {"device_sku": "CAM-ONE-SALE", "plan_sku": "PLAN-30D", "quantity": 2},
            ],
            "payment_method": "card",
            "requested_delivery_date": "2026-11-20",
            "ship_to": {
                "postal_code": "220-0012",
                "prefecture": "神奈川県",
                "city": "横浜市西区",
                "address_line1": "みなとみらい2-2-1",
                "recipient_name": "山本 健一",
                "recipient_phone": "090-2345-6789",
            },
        },
        "quote": {"term_months": 12},
        "call_note": "ご自宅の玄関と駐車場に設置希望",
    }
    headers = {**story.sales, "Idempotency-Key": "call-2026-11-02-0001"}
    status, made = story.http("POST", "/phone-signups", order, headers)
    story.say(
        f"tanaka takes an order on the phone and enters it once -> {status}: customer, deal and "
        f"quote {made['quote_number']}, 契約書 {made['contract_number']} emailed to "
        f"{made['sent_to']} for consent"
    )
    status, again, answered = story.http_with_headers("POST", "/phone-signups", order, headers)
    story.detail(
        f"the browser retries the same request -> {status}, replayed "
        f"{answered.get('Idempotent-Replayed') == 'true'}: the same customer "
        f"({again['account_id'] == made['account_id']}), no second email"
    )
    draft = story.cloud.s3.get_object(
        Bucket=story.cloud.bucket("documents"), Key=made["contract_pdf_key"]
    )["Body"].read()
    story.save_bytes(f"documents/{made['contract_number']}-sent-for-consent.pdf", draft)
    message = _last_email(story)
    story.save_bytes("email-phone-signup.html", message.body.encode("utf-8"))
    link = re.findall(r'href="([^"]+/consent/[^"]+)"', message.body)[0]
    status, page = story.page("GET", link)
    shown = re.search(r'name="document" value="([0-9a-f]{64})"', page)
    assert shown is not None, "the consent page carries the document's hash"
    story.say(
        f"The customer opens 「{message.subject}」 -> {status}: the contract's lines, prices and "
        "articles (第1条…), no login"
    )
    status, _ = story.page("POST", link, {"decision": "agree", "document": shown.group(1)})
    story.cloud.wait_for_executions()
    _, quote = story.http("GET", f"/quotes/{made['quote_id']}", headers=story.sales)
    _, contract = story.http("GET", f"/contracts/{quote['contract_created']}", headers=story.sales)
    same = contract["pdf_sha256"] == quote["contract_draft"]["pdf_sha256"]
    story.say(
        f"同意する -> {status}: contract {contract['number']} ({contract['status']}) keeps the "
        f"very 契約書 agreed to (same PDF: {same}); OrderConfirmed goes to fulfilment"
    )


def _fulfilment(story: Story) -> None:
    story.chapter("Fulfilment: instructions, serials from the warehouse, kitting, billing start")
    cloud = story.cloud
    _, listed = story.http("GET", "/shipments?status=requested", headers=story.ops)
    shipments = listed["shipments"]
    story.say(
        f"OrderConfirmed made {len(shipments)} shipment(s), waiting for the warehouse: "
        + "; ".join(
            f"{s['ship_to']['city']} {sum(i['quantity'] for i in s['items'])} device(s), "
            f"ship on {s['ship_date']}"
            for s in shipments
        )
    )
    last = max(s["ship_date"] for s in shipments)
    until = datetime.fromisoformat(f"{last}T06:00:00+00:00")  # 15:00 in Tokyo
    with Progress("the business clock runs to the last ship date").ticking():
        fired = cloud.set_clock(until - timedelta(days=1))
    files = [
        o["Key"]
        for o in cloud.s3.list_objects_v2(
            Bucket=cloud.bucket("exchange"), Prefix="outbox/warehouse/"
        ).get("Contents", [])
    ]
    runs_fired = sum(1 for f in fired if f["rule"].endswith("warehouse-instructions-daily"))
    story.say(
        f"The clock runs to {_tokyo(cloud.now())}: the daily instruction run fired "
        f"{runs_fired} times and wrote {len(files)} file(s), each shipment once"
    )
    for key in files:
        saved = story.save_object(key)
        story.detail(f"{key} (cp932, for the warehouse's system) -> {saved.name}")
    cloud.advance(hours=18)
    serials: dict[str, list[str]] = {}
    rows = []
    for n, shipment in enumerate(shipments):
        count = sum(item["quantity"] for item in shipment["items"])
        serials[shipment["shipment_id"]] = [f"SC1-26K-{n:02d}{i:04d}" for i in range(1, count + 1)]
        model = shipment["items"][0]["device_sku"]
        day = shipment["ship_date"]
        rows += [
            f"{shipment['shipment_id']},{model},{serial},{day},ヤマト運輸,4512-7788-{n}{i:03d}"
            for i, serial in enumerate(serials[shipment["shipment_id"]])
        ]
    report = "shipment_id,model,serial,ship_date,carrier,tracking_number\r\n" + "".join(
        row + "\r\n" for row in rows
    )
    broken = report.replace(rows[1].split(",")[2], rows[0].split(",")[2], 1).replace(
        f",{shipments[-1]['ship_date']},", ",2026-13-01,", 1
    )
    path = story.save_bytes("warehouse/shipped-bad.csv", broken.encode("utf-8"))
    run = story.drop("warehouse-shipments", path)
    story.say(
        f"The warehouse first sends a file with mistakes -> {run['status']}: "
        f"{run['error_count']} bad row(s), nothing applied"
    )
    for error in run["errors"][:3]:
        story.detail(f"line {error['line']}: {error['message']}")
    cloud.device_platform.fail_next(3)
    path = story.save_bytes("warehouse/shipped.csv", report.encode("utf-8"))
    run = story.drop("warehouse-shipments", path)
    cloud.wait_for_executions()
    story.say(
        f"The corrected file -> {run['status']}: {run['counts']['devices']} serial(s) recorded, "
        f"{run['counts']['kitting_started']} shipping/kitting execution(s) started"
    )
    executions = cloud.executions("shipping-kitting")
    refused = sum(1 for r in cloud.device_platform.requests if r.status >= 500)
    story.detail(
        f"each binding (serial ↔ plan and options) pushed to the device platform: "
        f"{len(cloud.device_platform.bindings())} device(s) bound; the platform was down for "
        f"{refused} request(s), retried with back-off; executions "
        + ", ".join(sorted({e["status"] for e in executions}))
    )
    story.write(
        "device-platform-requests.json",
        [
            {"method": r.method, "path": r.path, "status": r.status, "body": r.body}
            for r in cloud.device_platform.requests[:6]
        ],
    )
    message = _last_email(story)
    story.save_bytes("email-shipping.html", message.body.encode("utf-8"))
    for shipment in shipments:
        _, after = story.http("GET", f"/shipments/{shipment['shipment_id']}", headers=story.ops)
        if after["installation_needed"]:
            done = {
                "installed_on": cloud.now().astimezone(clock.TOKYO).date().isoformat(),
                "engineer": "設置 太郎",
            }
            status, after = story.http(
                "POST",
                f"/shipments/{shipment['shipment_id']}/installation-complete",
                done,
                story.ops,
            )
            story.detail(
                f"{after['ship_to']['city']} needs installation: shipped does not start billing; "
                f"the engineer reports it done on {done['installed_on']} -> {status}"
            )
        _, contract = story.http("GET", f"/contracts/{after['contract_id']}", headers=story.sales)
        story.say(
            f"Shipment to {after['ship_to']['city']}: {after['status']} (shipped "
            f"{after['shipped_on']}); contract {contract['number']} {contract['status']} from "
            f"{contract['start_date']} (billing starts then), ends {contract['end_date']}"
        )
    story.detail(f"shipping email 「{message.subject}」 with serials and tracking numbers")


def _agency_channel(story: Story) -> None:
    story.chapter("The agency channel: a reseller registers its customers and sees only its own")
    month = story.cloud.now().astimezone(clock.TOKYO).strftime("%Y-%m")
    terms = {
        "name": "北海道セキュリティ販売株式会社",
        "commission_rules": [
            {"valid_from": "2026-10", "per_device_unit_yen": 3000, "per_plan_unit_yen": 500}
        ],
        "monthly_targets": [{"month": month, "registrations": 5, "won_deals": 2}],
    }
    status, agency = story.http("PUT", f"/agencies/{AGENCY}", terms, story.ops)
    rule, target = agency["commission_rules"][0], agency["monthly_targets"][0]
    story.say(
        f"Ops sets up the reseller {AGENCY} ({agency['name']}) -> {status}: "
        f"¥{rule['per_device_unit_yen']:,} per camera and ¥{rule['per_plan_unit_yen']:,} per "
        f"recording plan on won deals; target for {month}: {target['registrations']} "
        f"registrations, {target['won_deals']} won deals"
    )
    story.detail(
        "its user kitano signs in: the ID token names the agency (custom:agency_id); "
        "no request can name another"
    )
    ship_to = {
        "postal_code": "060-0005",
        "prefecture": "北海道",
        "city": "札幌市中央区",
        "address_line1": "北五条西6-2",
        "recipient_name": "北野 一郎",
        "recipient_phone": "011-222-3333",
    }
    company = {
        "segment": "corporate",
        "name": "株式会社さっぽろ冷凍",
        "contact": {"person_name": "北野 一郎", "email": "kitano@sapporo-reito.example.jp"},
        "deal": {
            "name": "さっぽろ冷凍 倉庫カメラ6台",
            "lines": [{"device_sku": "CAM-ONE-SALE", "plan_sku": "PLAN-30D", "quantity": 6}],
            "ship_to": ship_to,
            "payment_method": "direct-debit",
        },
    }
    retry = {**story.agency, "Idempotency-Key": "kitano-20261102-001"}
    status, first, _ = story.http_with_headers("POST", "/agency/registrations", company, retry)
    story.say(
        f"kitano registers {first['name']} with a deal for 6 cameras -> {status}: account "
        f"{first['account_id']}, deal {first['deal_id']}, both the agency's"
    )
    status, again, answered = story.http_with_headers(
        "POST", "/agency/registrations", company, retry
    )
    same = (again["account_id"], again["deal_id"]) == (first["account_id"], first["deal_id"])
    story.detail(
        f"the line drops and the app sends it again with the same Idempotency-Key -> {status}, "
        f"replayed={answered.get('Idempotent-Replayed', 'false')}, "
        f"{'the same account and deal' if same else 'A SECOND CUSTOMER!'}"
    )
    story.cloud.advance(minutes=10)
    household = {
        "segment": "residential",
        "name": "北野 花子",
        "contact": {"person_name": "北野 花子", "phone": "090-1234-5678"},
        "deal": {
            "name": "北野様 見守りカメラ",
            "lines": [{"device_sku": "CAM-ONE-SALE", "plan_sku": "PLAN-7D", "quantity": 1}],
            "ship_to": {**ship_to, "recipient_name": "北野 花子"},
            "payment_method": "card",
        },
    }
    status, home = story.http("POST", "/agency/registrations", household, story.agency)
    story.say(f"kitano registers a household (個人), {home['name']} -> {status}")
    status, mine = story.http("GET", "/agency/registrations", headers=story.agency)
    story.say(
        f"kitano lists the agency's registrations -> {status}: "
        + ", ".join(f"{r['name']} ({r['segment']})" for r in mine["registrations"])
        + "; the retried one was made once"
    )

    status, refused = story.http("GET", f"/deals/{story.ids['deal']}", headers=story.agency)
    story.say(
        f"kitano asks for a direct customer's deal (みなと物流) -> {status} "
        f"「{refused['message']}」, word for word what a deal that does not exist gets"
    )
    status, refused = story.http("GET", "/runs", headers=story.agency)
    story.say(f"kitano tries the run ledger (monosub's staff) -> {status}: {refused['message']}")
    status, refused = story.http("GET", f"/accounts/{home['account_id']}", headers=story.manager)
    story.say(
        f"yamada (corporate relationship manager) opens the household's account -> {status}: "
        f"{refused['message']}"
    )
    status, body, headers = story.download("/accounts/export?segment=residential", story.manager)
    asked = _csv_rows(body)
    story.say(
        f"yamada exports the residential customers -> {status}: {len(asked)} rows "
        "(a file with the header only, as a list of them is empty)"
    )
    status, body, headers = story.download("/accounts/export", story.manager)
    rows = _csv_rows(body)
    saved = story.save_bytes("exports/accounts-corporate-manager.csv", body)
    story.say(
        f"yamada exports every customer he may see -> {status}: {len(rows)} rows, "
        f"{sum(r['segment'] == 'residential' for r in rows)} residential; "
        f"{headers.get('Content-Disposition', '').split('filename=')[-1].strip(chr(34))} "
        f"(UTF-8 with BOM, for Excel) saved as {saved.relative_to(story.out)}"
    )
    for row in rows:
        story.detail(f"{row['name']}  {row['segment']}  {row['agency_id'] or '(direct)'}")
    status, body, _ = story.download("/accounts/export", story.agency)
    story.detail(
        f"kitano's export of the same -> {status}: "
        + ", ".join(row["name"] for row in _csv_rows(body))
        + " (its own registrations only)"
    )

    deal_id = first["deal_id"]
    _, deal = story.http("GET", f"/deals/{deal_id}", headers=story.sales)
    for stage in ("qualification", "proposal", "negotiation", "won"):
        status, deal = story.http(
            "POST",
            f"/deals/{deal_id}/stage",
            {"to": stage, "version": deal["version"]},
            story.sales,
        )
    story.say(
        f"tanaka (sales) takes the reseller's deal through qualification, proposal and "
        f"negotiation to {deal['stage']} -> {status}"
    )
    status, performance = story.http(
        "GET", f"/agency/performance?month={month}", headers=story.agency
    )
    registrations, won = performance["registrations"], performance["won_deals"]
    story.say(
        f"kitano checks {month} -> {status}: {registrations['count']} of "
        f"{registrations['target']} registrations, {won['count']} of {won['target']} won deals, "
        f"commission ¥{performance['commission_yen']:,} (tax excluded)"
    )
    for won_deal in performance["deals"]:
        story.detail(
            f"{won_deal['deal_id']}: {won_deal['device_units']} cameras × "
            f"¥{rule['per_device_unit_yen']:,} + {won_deal['plan_units']} plans × "
            f"¥{rule['per_plan_unit_yen']:,} = ¥{won_deal['commission_yen']:,}"
        )
    story.write("agency-performance.json", performance)


def _csv_rows(body: bytes) -> list[dict[str, str]]:
    """An export's rows by column (it starts with a BOM: utf-8-sig reads it)."""
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def _last_email(story: Story) -> Any:
    return _sent_emails()[-1]


def _sent_emails() -> list[Any]:
    from moto.ses.models import ses_backends

    return list(ses_backends[next(iter(ses_backends))]["ap-northeast-1"].sent_messages)


def _events_of(story: Story, kind: str, identifier: str, detail_type: str) -> list[Any]:
    from monosub.store import audit

    with story.cloud.as_function("event-journal"):
        return [e for e in audit.trail(kind, identifier) if e["type"] == detail_type]


def _schedules(story: Story) -> None:
    story.chapter("Nothing lost: the hourly sweep")
    cloud = story.cloud
    bucket = cloud.bucket("exchange")
    notifications = cloud.s3.get_bucket_notification_configuration(Bucket=bucket)
    notifications.pop("ResponseMetadata", None)
    cloud.s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    cloud.s3.put_object(
        Bucket=bucket,
        Key="inbox/leads/late-referrals.csv",
        Body=(DATA / "leads-late-referrals.csv").read_bytes(),
    )
    cloud.s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration=notifications
    )
    story.say("A partner's file arrives but its S3 notification is lost (simulated)")
    fired = cloud.advance(hours=1)
    for event in fired:
        story.detail(
            f"schedule {event['rule']} fired at {_tokyo(clock.parse_instant(event['at']))}"
        )
    cloud.wait_for_executions()
    _, listed = story.http("GET", "/runs?kind=file-intake", headers=story.ops)
    late = next(r for r in listed["runs"] if r["subject"]["key"].endswith("late-referrals.csv"))
    story.say(
        f"The clock moves one hour; the sweep finds the file -> {late['status']}: {late['message']}"
    )


# The two billed customers, in the order the story treats them: the household first (its
# debits are the ones returned, its account takes the stray transfer), then the company (paper
# invoices). Ordered by name, not by their random ids, so every run tells the same story.
BILLED_CUSTOMERS = ("山本 健一", "株式会社みなと物流")


def _billed_accounts(story: Story) -> list[str]:
    """The account ids of the active contracts, in the order of ``BILLED_CUSTOMERS``."""
    _, contracts = story.http("GET", "/contracts?status=active", headers=story.ops)
    names = {}
    for account_id in {c["account_id"] for c in contracts["contracts"]}:
        _, account = story.http("GET", f"/billing-accounts/{account_id}", headers=story.ops)
        names[account_id] = account["name"]
    return sorted(names, key=lambda a: BILLED_CUSTOMERS.index(names[a]))


def _billing(story: Story) -> None:
    story.chapter("Billing: month-end revenue, the month's invoices (適格請求書), the journal")
    cloud = story.cloud
    accounts = _billed_accounts(story)
    for account_id in accounts:
        _, account = story.http("GET", f"/billing-accounts/{account_id}", headers=story.ops)
        monthly = [c for c in account["components"] if c["kind"] == "monthly"]
        story.say(
            f"{account['name']}: billed from {min(c['starts'] for c in account['components'])}, "
            f"{len(account['components'])} component(s) from its contract "
            f"({len(monthly)} monthly, campaigns included), 締め日 "
            + ("月末" if account["closing_day"] == 31 else f"{account['closing_day']}日")
        )
    for account_id in accounts:
        # both pay by direct debit (口座振替) on the 27th: their 依頼書 gives the bank account
        _, current = story.http("GET", f"/billing-accounts/{account_id}", headers=story.ops)
        bank = DEBIT_ACCOUNTS[current["name"]]
        paper = account_id == accounts[-1]
        status, _ = story.http(
            "PATCH",
            f"/billing-accounts/{account_id}",
            {
                "version": current["version"],
                "payment_method": "direct-debit",
                "pay_day": 27,
                "debit_account": bank,
                **({"delivery": "paper"} if paper else {}),
            },
            story.ops,
        )
        story.detail(
            f"{current['name']} pays by 口座振替 on the 27th"
            + (" and wants paper invoices" if paper else "")
            + f": PATCH /billing-accounts -> {status}"
        )
    with Progress("the business clock runs to 1 December, 02:30 in Tokyo").ticking():
        cloud.set_clock(MONTH_END)
        cloud.wait_for_executions()
    for machine in ("month-end-revenue", "invoicing"):
        executions = cloud.executions(machine)
        story.say(
            f"{machine}: {len(executions)} execution(s) "
            + ", ".join(sorted({e["status"] for e in executions}))
            + " (a Distributed Map over batches of accounts in S3)"
        )
    for account_id in accounts:
        _, listed = story.http("GET", f"/invoices?account_id={account_id}", headers=story.ops)
        for invoice in listed["invoices"]:
            story.say(
                f"{invoice['number']} {invoice['closing_date']} ¥{invoice['total']:,} (税込) "
                f"due {invoice['due_date']}, {invoice['delivery']}"
                + (
                    f", archive token {invoice['archive_token']}"
                    if invoice["archive_token"]
                    else ""
                )
            )
            for line in invoice["lines"]:
                amount = signed_yen(line["amount"])
                story.detail(
                    f"{line['name']} {line['period'] or ''} {amount} ({line['tax_rate']}%)"
                )
            story.detail(
                "tax once per rate: "
                + ", ".join(
                    f"{t['rate']}% on ¥{t['taxable']:,} = ¥{t['tax']:,}" for t in invoice["taxes"]
                )
            )
            status, pdf, _ = story.download(f"/invoices/{invoice['invoice_id']}/pdf", story.ops)
            if status == 200:
                saved = story.save_bytes(f"invoices/{invoice['number']}.pdf", pdf)
                story.detail(f"the 請求書 PDF -> {saved.relative_to(story.out)}")
    mail = _last_email(story)
    if "請求書" in mail.subject:
        story.detail(f"email 「{mail.subject}」 with the link to the invoice")
    printed = cloud.print_vendor.printed()
    story.detail(f"the print vendor (SOAP) took {len(printed)} paper invoice(s) to print and mail")
    for key in (
        "outbox/accounting/2026-11/revenue-202611.csv",
        "outbox/accounting/2026-11/journal-20261130.csv",
    ):
        saved = story.save_object(key)
        story.detail(f"{key} -> {saved.relative_to(story.out)}")
    _, rerun = story.http("GET", "/runs?kind=invoicing&limit=5", headers=story.ops)
    latest = rerun["runs"][0]
    story.say(f"The invoicing run's ledger: {latest['status']}: {latest['message']}")


def _cash(story: Story) -> None:
    story.chapter("Cash: direct debit over SFTP, a card payment by webhook, the payout, transfers")
    cloud = story.cloud
    accounts = _billed_accounts(story)
    invoices = []
    for account_id in accounts:
        _, listed = story.http("GET", f"/invoices?account_id={account_id}", headers=story.ops)
        invoices.extend(listed["invoices"])
    story.say(
        "Open invoices paid by 口座振替: "
        + ", ".join(f"{i['number']} ¥{i['total']:,} due {i['due_date']}" for i in invoices)
    )
    with Progress("the business clock runs to 21 December, 03:30 in Tokyo").ticking():
        cloud.set_clock(DEBIT_REQUEST_DAY, only=("direct-debit",))
        cloud.wait_for_executions()
    [run] = cloud.executions("direct-debit")
    _, ledger = story.http("GET", "/runs?kind=direct-debit", headers=story.ops)
    story.say(
        f"5 bank days before the debit date the daily run wrote the 全銀 request file and sent "
        f"it to the bank's SFTP server -> {run['status']}: {ledger['runs'][0]['message']}"
    )
    [(name, request)] = cloud.bank_sftp.received().items()
    saved = story.save_bytes(f"bank/{name}", request)
    parsed = zengin_debit.read_debit_file(request, result=False)
    story.detail(
        f"{name}: {len(request.splitlines())} records of 120 bytes (cp932), "
        f"{parsed.trailer.count} debit(s), ¥{parsed.trailer.total:,} -> "
        f"{saved.relative_to(story.out)}"
    )
    for record in parsed.records:
        story.detail(
            f"  {record.bank_code}-{record.branch_code} {record.account_number} "
            f"{record.holder_name} ¥{record.amount:,} 顧客番号 {record.customer_number}"
        )
    cloud.set_clock(DEBIT_RESULT_DAY, only=("direct-debit",))
    failed_id = _debit_result(story, name, parsed, invoices)
    _card_payment(story, failed_id)
    _payout(story)
    _bank_transfer(story, accounts[0])


def _debit_result(
    story: Story, name: str, parsed: zengin_debit.DebitFile, invoices: list[dict[str, Any]]
) -> str:
    """The bank answers: 山本 健一's debit returned (資金不足), the company's debited."""
    result = zengin_debit.write_debit_file(
        parsed.header,
        [
            replace(r, result_code="1" if r.holder_name.startswith("ﾔﾏﾓﾄ") else "0")
            for r in parsed.records
        ],
        result=True,
    )
    result_file = story.save_bytes(f"bank/KEKKA_{name}", result)
    run_record = story.drop("zengin-debit-result", result_file)
    story.say(
        f"The bank's result file is dropped into inbox/zengin-debit-result/ -> "
        f"{run_record['status']}: {run_record['counts']['debited']} debited, "
        f"{run_record['counts']['failed']} failed"
    )
    failed_id = ""
    for invoice in invoices:
        _, now = story.http("GET", f"/invoices/{invoice['invoice_id']}", headers=story.ops)
        failure = now["payment_failure"]
        story.detail(
            f"{now['number']}: {now['status']}, paid ¥{now['amount_paid']:,}"
            + (f", debit failed: {failure['code']} {failure['reason']}" if failure else "")
        )
        if failure:
            failed_id = now["invoice_id"]
    assert failed_id, "one debit was returned"
    return failed_id


def _card_payment(story: Story, failed_id: str) -> None:
    cloud = story.cloud
    status, link = story.http("POST", f"/invoices/{failed_id}/card-payment", headers=story.ops)
    story.say(
        f"Ops send that customer a card payment link -> {status}: ¥{link['amount']:,}, "
        f"a Stripe Checkout page ({link['url']})"
    )
    before = len(cloud.stripe.events)
    intent = cloud.stripe.pay_checkout(link["session_id"])
    delivered = [e["type"] for e in cloud.stripe.events[before:]]
    _, paid = story.http("GET", f"/invoices/{failed_id}", headers=story.ops)
    story.say(
        f"The customer pays by card ({intent}); Stripe's webhooks ({', '.join(delivered)}) "
        f"reach POST /webhooks/stripe, signature checked on the raw body -> "
        f"{paid['number']} {paid['status']}"
    )
    response = cloud.stripe.resend(cloud.stripe.events[-1]["id"])
    story.detail(f"Stripe delivers the last event again (signature {response[:14]}…): no effect")
    status, refused = story.http(
        "POST",
        "/webhooks/stripe",
        {"id": "evt_forged", "type": "invoice.paid", "data": {"object": {}}},
        {"Stripe-Signature": "t=1700000000,v1=" + "0" * 64},
    )
    story.detail(f"A forged webhook -> {status}: {refused['message']} (recorded)")


def _payout(story: Story) -> None:
    cloud = story.cloud
    cloud.set_clock(datetime(2026, 12, 31, 1, 0, tzinfo=UTC), only=("direct-debit",))
    report = cloud.stripe.payout(arrival=PAYOUT_DAY)
    payout_file = story.save_bytes("stripe/payout-20261231.csv", report)
    payout_run = story.drop("stripe-payouts", payout_file)
    _, summary = story.http("GET", "/card-payouts?month=2026-12", headers=story.ops)
    story.say(
        f"Stripe's payout report is dropped into inbox/stripe-payouts/ -> "
        f"{payout_run['status']}: {payout_run['counts']['matched']} transaction(s) matched; "
        f"gross ¥{summary['gross']:,}, fee ¥{summary['fee']:,}, net ¥{summary['net']:,}"
    )
    saved = story.save_object("outbox/accounting/2026-12/card-payouts-2026-12.csv")
    story.detail(f"the month's card summary for accounting -> {saved.relative_to(story.out)}")


def _bank_transfer(story: Story, target: str) -> None:
    bank_run = _statement_drop(story, "000123", 1000, PAYOUT_DAY, payer="ﾀﾅｶ ｼﾖｳｼﾞ")
    _, queue = story.http("GET", "/exceptions", headers=story.ops)
    stray = next(e for e in queue["exceptions"] if e["kind"] == "payment-unmatched")
    story.say(
        f"The bank statement (全銀 入出金取引明細) -> {bank_run['status']}: "
        f"{bank_run['counts']['unmatched']} deposit matched no customer: "
        f"¥{stray['amount']:,} from {stray['original']['received']['payer']} waits in "
        f"GET /exceptions ({stray['reason']})"
    )
    status, resolved = story.http(
        "POST",
        f"/exceptions/{stray['exception_id']}/resolve",
        {
            "action": "apply",
            "version": stray["version"],
            "account_id": target,
            "note": "電話で確認: 子会社からの前払い",
        },
        story.ops,
    )
    _, cash = story.http("GET", f"/billing-accounts/{target}/payments", headers=story.ops)
    story.say(
        f"Ops apply it to the customer it belongs to -> {status} {resolved['status']}: "
        f"kept as credit, the account's credit is now ¥{cash['credit']:,}"
    )
    for payment in cash["payments"]:
        story.detail(
            f"{payment['received_on']} {payment['method']} ¥{payment['amount']:,}"
            + (f" (fee ¥{payment['fee']:,})" if payment["fee"] is not None else "")
            + (f", credit ¥{payment['credit']:,}" if payment["credit"] else "")
        )


def _overdue(story: Story) -> None:
    story.chapter("Overdue follow-up: a late payer, tasks for the rep, suspension, resumption")
    cloud = story.cloud
    late = _december_debit_returned(story)
    account_id = late["account_id"]
    story.ids["late_account"] = account_id
    mails = len(_sent_emails())
    day = DECEMBER_DEBIT_RESULT.date()
    while day <= LAST_FOLLOW_UP_DAY:
        cloud.set_clock(
            datetime(day.year, day.month, day.day, 0, 30, tzinfo=UTC),
            only=("overdue-follow-up", "direct-debit"),
        )
        cloud.wait_for_executions()
        if day == DECEMBER_DEBIT_RESULT.date() + timedelta(days=1):
            _standing(story, account_id, "the day after the debit came back")
        if day == PARTIAL_PAYMENT_DAY:
            _transfer(story, "000201", 1000, day)
            _standing(story, account_id, "after ¥1,000 of it came by bank transfer")
        day += timedelta(days=1)
    _follow_ups_done(story, _sent_emails()[mails:])
    _standing(story, account_id, "at suspension")
    _, page, _ = story.download("/overdue/page", story.ops)
    saved = story.save_bytes("overdue/overdue-page.html", page)
    _, sheet, _ = story.download("/overdue?format=csv", story.ops)
    story.save_bytes("overdue/overdue.csv", sheet)
    story.detail(f"the ops page (achievement rate as a bar) -> {saved.relative_to(story.out)}")
    _transfer(story, "000301", late["total"] - late["amount_paid"] - 1000, LAST_FOLLOW_UP_DAY)
    resumed = _devices_done(cloud, "/resume")
    _, now = story.http("GET", f"/invoices/{late['invoice_id']}", headers=story.ops)
    story.say(
        f"The customer pays the rest by bank transfer -> {now['number']} {now['status']}; "
        f"the devices are resumed at once: {len(resumed)} device(s)"
    )
    _, after = story.http("GET", "/overdue", headers=story.ops)
    story.detail(f"GET /overdue now lists {len(after['deals'])} deal(s)")


def _december_debit_returned(story: Story) -> dict[str, Any]:
    """December billed, its debit requested; the bank returns 山本 健一's (資金不足)."""
    cloud = story.cloud
    with Progress("the business clock runs to 1 January, 02:30 in Tokyo").ticking():
        cloud.set_clock(NEW_YEAR, only=("month-end-revenue", "invoicing"))
        cloud.wait_for_executions()
    accounts = _billed_accounts(story)
    december = []
    for account_id in accounts:
        _, listed = story.http("GET", f"/invoices?account_id={account_id}", headers=story.ops)
        december += [i for i in listed["invoices"] if i["closing_date"] == "2026-12-31"]
    story.say(
        "December's invoices: "
        + ", ".join(
            f"{i['number']} ¥{i['total']:,} due {i['due_date']}"
            + (f" (前受金 ¥{i['credit_applied']:,} applied)" if i["credit_applied"] else "")
            for i in december
        )
    )
    cloud.set_clock(DECEMBER_DEBIT_REQUEST, only=("direct-debit",))
    cloud.wait_for_executions()
    name = next(n for n in cloud.bank_sftp.received() if n.endswith("20270127.txt"))
    parsed = zengin_debit.read_debit_file(cloud.bank_sftp.received()[name], result=False)
    returned = zengin_debit.write_debit_file(
        parsed.header,
        [
            replace(r, result_code="1" if r.holder_name.startswith("ﾔﾏﾓﾄ") else "0")
            for r in parsed.records
        ],
        result=True,
    )
    cloud.set_clock(DECEMBER_DEBIT_RESULT, only=("direct-debit",))
    run = story.drop("zengin-debit-result", story.save_bytes(f"bank/KEKKA_{name}", returned))
    now = [
        story.http("GET", f"/invoices/{i['invoice_id']}", headers=story.ops)[1] for i in december
    ]
    late = next(i for i in now if i["payment_failure"])  # 山本 健一's, returned
    story.say(
        f"The debit of 27 January -> {run['counts']['debited']} debited, "
        f"{run['counts']['failed']} returned (資金不足): {late['number']} is now unpaid"
    )
    account_id = late["account_id"]
    _, current = story.http("GET", f"/billing-accounts/{account_id}", headers=story.ops)
    story.http(
        "PATCH",
        f"/billing-accounts/{account_id}",
        {"version": current["version"], "payer_name": "ヤマモト ケンイチ"},
        story.ops,
    )
    return late


def _follow_ups_done(story: Story, sent: list[Any]) -> None:
    cloud = story.cloud
    _, ledger = story.http("GET", "/runs?kind=overdue-follow-up&limit=100", headers=story.ops)
    for follow_up in sorted(ledger["runs"], key=lambda r: r["started_at"]):
        if follow_up["counts"].get("levels_fired"):
            story.detail(f"{follow_up['subject']['day']}: {follow_up['message']}")
    subjects = [ops_page.subject_of(m) for m in sent]
    to_staff = sum(s.startswith("【タスク】") for s in subjects)
    story.say(
        f"Every day at 09:00 the follow-up run fired the policy's levels (data, per segment): "
        f"{len(subjects) - to_staff} email(s) to the customer, {to_staff} task notice(s) to "
        "staff — " + "; ".join(subjects)
    )
    _, tasks = story.http("GET", "/tasks?assignee=tanaka", headers=story.ops)
    _, manager_tasks = story.http("GET", "/tasks?assignee=yamada", headers=story.ops)
    for task in tasks["tasks"] + manager_tasks["tasks"]:
        story.detail(f"task for {task['assignee']} ({task['assignee_role']}): {task['title']}")
    suspended = _devices_done(cloud, "/suspend")
    story.say(
        f"On day 30 the devices of the unpaid contract were suspended on the device platform: "
        f"{len(suspended)} device(s)"
    )


def _devices_done(cloud: EmbeddedAWS, action: str) -> set[str]:
    """The devices the platform accepted ``action`` for (a retried request counts once)."""
    return {
        str(r.serial)
        for r in cloud.device_platform.requests
        if r.path.endswith(action) and 200 <= r.status < 300
    }


def _transfer(story: Story, reference: str, amount: int, day: date) -> None:
    run = _statement_drop(story, reference, amount, day, payer="ﾔﾏﾓﾄ ｹﾝｲﾁ")
    story.detail(
        f"{day}: a transfer of ¥{amount:,} from ﾔﾏﾓﾄ ｹﾝｲﾁ -> {run['counts']['matched']} matched"
    )


def _statement_drop(
    story: Story, reference: str, amount: int, day: date, *, payer: str
) -> dict[str, Any]:
    """The bank's 全銀 statement of our account for ``day`` with one deposit, dropped."""
    statement = zengin_statement.write_statement_file(
        zengin_statement.StatementHeader(
            created=day,
            date_from=day,
            date_to=day,
            bank_code="0001",
            bank_name="ﾐｽﾞﾎ",
            branch_code="123",
            branch_name="ｼﾌﾞﾔ",
            account_type="1",
            account_number="1234567",
            account_name="ﾓﾉｻﾌﾞ(ｶ",
            balance_before=0,
        ),
        [
            StatementEntry(
                reference=reference, transaction_date=day, amount=amount, payer_name=payer
            )
        ],
    )
    name = f"bank/nyushukkin-{day.strftime('%Y%m%d')}-{reference}.txt"
    return story.drop("bank-statement", story.save_bytes(name, statement))


def _standing(story: Story, account_id: str, when: str) -> None:
    _, listed = story.http("GET", "/overdue", headers=story.ops)
    for deal in listed["deals"]:
        if deal["account_id"] == account_id:
            story.say(
                f"GET /overdue {when}: {deal['account_name']}, deal {deal['deal_id']}: "
                f"achievement rate {deal['achievement_rate']}% (paid ¥{deal['paid']:,} of "
                f"¥{deal['expected']:,}), {deal['days_past_due']} day(s) past due, "
                f"rep {deal['owner']}"
            )


def _ledger_and_audit(story: Story) -> None:
    story.chapter("What ops sees: the run ledger and the audit trail")
    ledger: dict[str, Any] = {}
    status = 0
    for kind in sorted(set(story.cloud.names.state_machines) | SCHEDULED_RUN_KINDS):
        status, listed = story.http("GET", f"/runs?kind={kind}&limit=500", headers=story.ops)
        ledger.update({run["run_id"]: run for run in listed["runs"]})
    every = sorted(ledger.values(), key=lambda r: (r["started_at"], r["run_id"]), reverse=True)
    busy = [r for r in every if r["kind"] != "intake-sweep" or r["counts"].get("inbox_files")]
    story.say(
        f"GET /runs?kind=… -> {status}: {len(every)} runs; the latest that did something "
        f"({len(every) - len(busy)} idle hourly sweeps left out here, all in runs.json):"
    )
    print("\n".join("      " + line for line in format_runs(busy[:20]).splitlines()))
    story.write("runs.json", every)
    dynamodb = story.cloud.client("dynamodb")
    items = dynamodb.scan(TableName=story.cloud.table("audit"))["Items"]
    types: dict[str, int] = {}
    seen: set[str] = set()
    for item in items:
        event_id = item["event_id"]["S"]
        if event_id not in seen:
            seen.add(event_id)
            types[item["type"]["S"]] = types.get(item["type"]["S"], 0) + 1
    story.say(
        f"The audit trail holds {len(seen)} domain events: "
        + ", ".join(f"{k} ×{v}" for k, v in sorted(types.items()))
    )
    invocations = story.cloud.invocations
    by_function: dict[str, int] = {}
    for invocation in invocations:
        by_function[invocation.function] = by_function.get(invocation.function, 0) + 1
    story.say(
        f"{len(invocations)} Lambda invocations ran the real handlers: "
        + ", ".join(f"{k} ×{v}" for k, v in sorted(by_function.items()))
    )


def _plain(value: Any) -> Any:
    """DynamoDB numbers (Decimal) as JSON numbers."""
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"not JSON: {type(value).__name__}")
