"""The demo's intake chapters: the other ways customers come in (a web-shop order, an Excel
application form), the documents kept with them, and the contracts still unsigned. Told like
the rest of ``local.demo``, through the real front doors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from monosub.documents.formatting import signed_yen

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
