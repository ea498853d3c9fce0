"""The demo's intake chapters: the other ways customers come in (a web-shop order, an Excel
application form), the documents kept with them, and the contracts still unsigned. Told like
the rest of ``local.demo``, through the real front doors."""

from __future__ import annotations

import io
import re
import urllib.request
import uuid
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from monosub import clock
from monosub.documents.formatting import signed_yen
from monosub.formats import application_form as forms

if TYPE_CHECKING:
    from local.demo import Story

SHOP_ADDRESS = {
    "postal_code": "460-0008",
    "prefecture": "愛知県",
    "city": "名古屋市中区",
    "address_line1": "栄3-4-5",
    "recipient_name": "小林 真央",
    "recipient_phone": "090-7777-1234",
}


def web_shop(story: Story) -> dict[str, Any]:
    """The shop's system sends two paid orders; one prices as paid, one does not."""
    story.chapter("A web-shop order becomes a won deal, a contract and a shipment, untouched")
    lines = [{"device_sku": "CAM-ONE-SALE", "plan_sku": "PLAN-30D", "quantity": 1}]
    price = _shop_price(story, lines)
    order = _order("WS-20270227-0001", "小林 真央", "mao.kobayashi@example.jp", lines, price)
    status, made = story.http("POST", "/orders", order, story.shop)
    story.say(
        f"The web shop's system (client credentials, scope orders.write) sends order "
        f"{order['order_id']}, paid {signed_yen(price)} by card -> {status} {made['status']}: "
        f"customer, deal, quote {made['quote_number']} accepted at checkout, contract, "
        "OrderConfirmed"
    )
    story.cloud.wait_for_executions()
    _, deal = story.http("GET", f"/deals/{made['deal_id']}", headers=story.ops)
    _, shipments = story.http("GET", "/shipments?status=requested", headers=story.ops)
    shipment = next(s for s in shipments["shipments"] if s["deal_id"] == made["deal_id"])
    story.detail(
        f"deal {deal['stage']} (owner {deal['owner']}, card), shipment to "
        f"{shipment['ship_to']['city']} on {shipment['ship_date']}: nobody typed anything"
    )
    status, again = story.http("POST", "/orders", order, story.shop)
    story.detail(
        f"the shop sends the same order again (a timeout on its side) -> {status}, replayed "
        f"{again['replayed']}: the same deal ({again['deal_id'] == made['deal_id']}), nothing twice"
    )
    _, paid = story.http(
        "GET", f"/billing-accounts/{made['account_id']}/payments", headers=story.ops
    )
    story.detail(
        f"the checkout's payment is the customer's credit (前受金) {signed_yen(paid['credit'])}: "
        "the first invoice takes it at issue (前受金充当), so nobody is billed twice"
    )

    two = [{**lines[0], "quantity": 2}]
    wrong = _order(
        "WS-20270227-0002", "松本 陸", "riku.matsumoto@example.jp", lines, _shop_price(story, two)
    )
    status, held = story.http("POST", "/orders", wrong, story.shop)
    story.say(
        f"Order {wrong['order_id']} says one camera but the checkout took the price of two -> "
        f"{status} {held['status']}: {held['reason']}"
    )
    _, case = story.http("GET", f"/exceptions/{held['exception_id']}", headers=story.ops)
    story.detail(
        f"exceptions queue: {case['kind']} with the order as received; actions "
        f"{', '.join(case['actions'])}; no customer or deal made while it waits"
    )
    decision = {
        "action": "retry",
        "version": case["version"],
        "note": "ショップ連携の数量誤り (2台): 修正して確定",
        "corrected": {"deal": {"lines": two}},
    }
    status, resolved = story.http(
        "POST", f"/exceptions/{case['exception_id']}/resolve", decision, story.ops
    )
    story.say(
        f"ops correct the quantity and retry -> {status} {resolved['status']}: deal "
        f"{resolved['resolution']['deal_id']} won, contract made; the shop's order again -> "
        f"{story.http('POST', '/orders', wrong, story.shop)[0]} (as made)"
    )
    return made


def _shop_price(story: Story, lines: list[dict[str, Any]]) -> int:
    """What the shop charges at checkout: the web price of the lines' 初期費用, tax included."""
    priced = [
        {"sku": sku, "quantity": line["quantity"]}
        for line in lines
        for sku in (line["device_sku"], line["plan_sku"])
    ]
    request = {"segment": "residential", "channel": "web", "new_customer": True, "lines": priced}
    _, preview = story.http("POST", "/prices/preview", request, story.sales)
    return int(preview["one_time"]["total_yen"])


def _order(
    order_id: str, name: str, email: str, lines: list[dict[str, Any]], amount: int
) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "ordered_at": "2027-02-27T21:40:00+09:00",
        "segment": "residential",
        "name": name,
        "contact": {"person_name": name, "email": email},
        "deal": {
            "name": f"Webショップ注文 {order_id}",
            "lines": lines,
            "ship_to": {**SHOP_ADDRESS, "recipient_name": name},
        },
        "payment": {"reference": f"pi_3Demo{order_id[-4:]}", "status": "paid", "amount": amount},
    }


def application_form(story: Story) -> dict[str, Any]:
    """Two Excel forms dropped by the back office: one becomes a deal with its consent
    request, the other an exception naming its cells, fixed and retried."""
    story.chapter("Excel application forms (申込書): read, never re-typed")
    values = _form_values()
    path = story.save_bytes("forms/申込書-あおば歯科.xlsx", forms.write_example(values))
    run = story.drop("application-form", path)
    story.say(
        f"The back office drops a filled 申込書 ({forms.DEFAULT_VERSION}, layout as data) -> "
        f"{run['status']}: {run['counts']['deals']} deal, {run['counts']['exceptions']} exception"
    )
    _, listed = story.http("GET", "/deals?limit=100", headers=story.sales)
    deal = listed["deals"][0]  # newest first: the one the form made
    _, account = story.http("GET", f"/accounts/{deal['account_id']}", headers=story.sales)
    assert account["account"]["name"] == values["customer.name"], account
    _, quote = story.http("GET", f"/quotes/{_quote_id(deal['deal_id'])}", headers=story.sales)
    message = _last_email(story)
    story.detail(
        f"deal for {account['account']['name']} (owner {deal['owner']}), quote {quote['number']} "
        f"with 契約書 {quote['contract_draft']['number']} emailed to {quote['sent_to']}: "
        f"「{message.subject}」"
    )
    bad = {**_form_values("株式会社ひかり薬局", "info@hikari.example.jp"), "customer.phone": 312345}
    bad["lines"] = [{**bad["lines"][0], "quantity": 1.5}]
    path = story.save_bytes("forms/申込書-ひかり薬局-誤り.xlsx", forms.write_example(bad))
    run = story.drop("application-form", path)
    _, queue = story.http("GET", "/exceptions?kind=application-form-invalid", headers=story.ops)
    case = queue["exceptions"][0]
    story.say(
        f"A form with mistakes -> run {run['status']}, and an exception for the back office "
        "naming the exact cells:"
    )
    for cell in case["details"]["cells"]:
        story.detail(f"{cell['cell']} {cell['label']} = {cell['value']!r}: {cell['message']}")
    decision = {
        "action": "retry",
        "version": case["version"],
        "note": "お客様に電話で確認して修正",
        "corrected": {"customer.phone": "03-1234-5678", "lines[0].quantity": "2"},
    }
    status, resolved = story.http(
        "POST", f"/exceptions/{case['exception_id']}/resolve", decision, story.ops
    )
    story.say(
        f"ops correct the two cells and retry -> {status} {resolved['status']}: deal "
        f"{resolved['resolution']['deal_id']}, consent email sent; the form is kept with it"
    )
    return deal


def documents(story: Story, deal: dict[str, Any]) -> None:
    """A signed purchase order uploaded to the deal; a disguised program refused; the
    deal's documents listed and one downloaded, as sales sees them."""
    story.chapter("Documents: kept with the customer, checked, downloaded with the record's access")
    order_pdf = story.cloud.s3.get_object(
        Bucket=story.cloud.bucket("documents"),
        Key=_quote_pdf_key(story, deal["deal_id"]),
    )["Body"].read()
    ticket = _upload(story, deal, "purchase-order", "注文書-あおば歯科.pdf", order_pdf)
    _, seen = story.http("GET", f"/documents/{ticket}", headers=story.sales)
    story.say(
        f"sales uploads the customer's signed 注文書 (PDF, {len(order_pdf):,} bytes) straight "
        "to S3 through a presigned POST -> checked by the upload trigger: "
        f"{seen['document']['status']}"
    )
    fake = b"MZ\x90\x00" + b"\x00" * 500
    refused = _upload(story, deal, "scan", "scan.pdf", fake)
    _, seen = story.http("GET", f"/documents/{refused}", headers=story.sales)
    story.detail(
        f"a program named scan.pdf -> {seen['document']['status']}: {seen['document']['reason']}"
    )
    _, kept = story.http("GET", f"/deals/{deal['deal_id']}/documents", headers=story.sales)
    story.say(
        f"GET /deals/{{id}}/documents: {len(kept['documents'])} stored ("
        + ", ".join(f"{d['kind']} {d['file_name']} {d['status']}" for d in kept["documents"])
        + f"), {len(kept['generated'])} issued PDF(s) ("
        + ", ".join(g["title"] for g in kept["generated"])
        + ")"
    )
    form = next(d for d in kept["documents"] if d["kind"] == "application-form")
    _, link = story.http("GET", f"/documents/{form['document_id']}", headers=story.sales)
    with urllib.request.urlopen(link["download"]["url"], timeout=30) as response:
        saved = story.save_bytes(f"documents/kept-{form['file_name']}", response.read())
    denied, _ = story.http("GET", f"/documents/{form['document_id']}", headers=story.agency)
    story.detail(
        f"the kept 申込書 downloads through a 5-minute presigned GET -> {saved.name}; "
        f"an agency user asking for it -> {denied}"
    )


def _upload(story: Story, deal: dict[str, Any], kind: str, name: str, data: bytes) -> str:
    content_type = "application/pdf"
    asked = {
        "kind": kind,
        "account_id": deal["account_id"],
        "deal_id": deal["deal_id"],
        "file_name": name,
        "content_type": content_type,
        "size": len(data),
    }
    status, ticket = story.http("POST", "/documents", asked, story.sales)
    assert status == 201, ticket
    _post_form(ticket["upload"], data)
    return str(ticket["document"]["document_id"])


def _post_form(upload: dict[str, Any], data: bytes) -> int:
    """The browser's multipart POST of a presigned upload: the fields, then the file."""
    boundary = uuid.uuid4().hex
    body = io.BytesIO()
    for name, value in upload["fields"].items():
        part = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
        body.write(f"{part}{value}\r\n".encode())
    body.write(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
    )
    body.write(data + f"\r\n--{boundary}--\r\n".encode())
    request = urllib.request.Request(
        upload["url"],
        data=body.getvalue(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return int(response.status)


def _form_values(
    name: str = "医療法人あおば歯科", email: str = "uketsuke@aoba-dental.example.jp"
) -> dict[str, Any]:
    return {
        "application_date": date(2027, 2, 27),
        "customer.segment": "corporate",
        "customer.name": name,
        "customer.kana": "イリョウホウジン アオバシカ",
        "customer.postal_code": "980-0811",
        "customer.prefecture": "宮城県",
        "customer.city": "仙台市青葉区",
        "customer.address_line1": "一番町3-1-1",
        "customer.phone": "022-123-4567",
        "customer.email": email,
        "customer.contact_person": "青葉 花子",
        "delivery.requested_date": date(2027, 3, 19),
        "delivery.installation_needed": False,
        "payment_method": "bank-transfer",
        "rep": "tanaka",
        "lines": [
            {"device_sku": "CAM-ONE-SALE", "plan_sku": "PLAN-30D", "option_skus": "", "quantity": 2}
        ],
    }


def _quote_id(deal_id: str) -> str:
    from monosub.services.quotes import quote_id_for_deal

    return quote_id_for_deal(deal_id)


def _quote_pdf_key(story: Story, deal_id: str) -> str:
    _, quote = story.http("GET", f"/quotes/{_quote_id(deal_id)}", headers=story.sales)
    return str(quote["pdf_key"])


def _last_email(story: Story) -> Any:
    from local.demo import _last_email as last

    return last(story)


def unsigned_contracts(story: Story) -> None:
    """The two forms' contracts wait for the customers: listed with their age, reminded
    with the same link, one agreed, the other expired to the back office and sent again."""
    story.chapter("Unsigned contracts: who has not agreed, reminders, expiry to the back office")
    cloud = story.cloud
    _, listed = story.http("GET", "/consents?status=pending", headers=story.ops)
    story.say(
        f"GET /consents?status=pending -> {len(listed['consents'])} waiting: "
        + "; ".join(
            f"{c['subject']['customer_name']} ({c['subject']['number']}) sent "
            f"{c['age_days']} day(s) ago, next: {c['next_action']['kind']} on "
            f"{c['next_action']['on']}"
            for c in listed["consents"]
        )
    )
    first_links = {_link_of(m) for m in _sent_emails()[-2:]}
    start = cloud.now()
    mails = len(_sent_emails())
    cloud.set_clock(start + timedelta(days=3, hours=1), only=("consent-follow-up",))
    reminders = _sent_emails()[mails:]
    same = {_link_of(m) for m in reminders} <= first_links
    story.say(
        f"Three days later the daily follow-up sends {len(reminders)} reminder(s) "
        f"「{reminders[0].subject if reminders else '-'}」 with the same link ({same})"
    )
    rerun = cloud.invoke("consent-follow-up", {"time": clock.iso(cloud.now())})
    story.detail(
        f"the day's run again (a re-drive) -> {rerun.get('waiting')} still waiting, no second "
        "email "
        f"({len(_sent_emails()) - mails == len(reminders)})"
    )
    hikari = next(m for m in reminders if "hikari" in str(m.destinations))
    status, page = story.page("GET", _link_of(hikari))
    shown = re.search(r'name="document" value="([0-9a-f]{64})"', page)
    assert shown is not None
    status, _ = story.page("POST", _link_of(hikari), {"decision": "agree", "document": shown[1]})
    cloud.wait_for_executions()
    story.say(f"ひかり薬局 agrees from the reminder -> {status}: the order goes ahead")
    mails = len(_sent_emails())
    cloud.set_clock(start + timedelta(days=15, hours=1), only=("consent-follow-up",))
    second = _sent_emails()[mails:]
    _, expired = story.http("GET", "/consents?status=expired", headers=story.ops)
    (gone,) = expired["consents"]
    status, page = story.page("GET", _link_of(reminders[0]))
    story.say(
        f"あおば歯科 does not answer: a second reminder on day 7 ({len(second)} email), and "
        f"after 14 days the request expires ({gone['subject']['customer_name']}, "
        f"{gone['expired_at'][:10]}); the link now -> {status}"
    )
    _, queue = story.http("GET", "/exceptions?kind=consent-expired", headers=story.ops)
    (case,) = queue["exceptions"]
    story.detail(f"exceptions queue: {case['kind']}: {case['reason']}")
    decision = {"action": "resend", "version": case["version"], "note": "先方に電話済み: 再送"}
    mails = len(_sent_emails())
    status, resolved = story.http(
        "POST", f"/exceptions/{case['exception_id']}/resolve", decision, story.ops
    )
    _, now_pending = story.http("GET", "/consents?status=pending", headers=story.ops)
    story.say(
        f"the back office calls the customer and resends -> {status} {resolved['status']}: "
        f"{len(_sent_emails()) - mails} new email with a new link; pending again: "
        + ", ".join(c["subject"]["customer_name"] for c in now_pending["consents"])
    )


def _link_of(message: Any) -> str:
    return str(re.findall(r'href="([^"]+/consent/[^"]+)"', message.body)[0])


def _sent_emails() -> list[Any]:
    from local.demo import _sent_emails as sent

    return sent()
