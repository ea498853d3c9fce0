"""Web-shop orders (docs/web-orders.md): the shop's system sends a paid or card-authorized
order, and monosub makes the customer (account, contact), the deal, the quote (accepted: the
checkout is the customer's agreement), the contract and ``OrderConfirmed`` in one step, as
the consent page does for a quote sent by email. Fulfilment then ships it like any order.

- **Once per order.** Ids are derived from the shop's client and order number, and the order
  is kept with the sha256 of its body (``store.web_orders``): the same order again answers
  what it made (``replayed``) and writes nothing; the same number with other contents is a
  409; an attempt that stopped half-way is completed by the next (every step finds what an
  earlier one made).
- **The shop's price must be ours.** The order's lines are priced from the price book and
  campaigns of the day (channel ``web``) before anything is written; when the 初期費用
  (one-time total, tax included) is not what the checkout took, the order is **held**: an
  exception for the back office with the order as received, the amount paid and the amount
  priced, and nothing else. Ops fix the cause (the price book, a campaign, the order's
  lines) and ``retry`` (the order is priced again, with their corrections), or ``reject`` it
  (``WebOrderRejected``: the shop refunds).
- **Money.** A paid checkout is recorded as the customer's card payment (前受金, credit on
  its billing account), with the PaymentIntent as the reference: Stripe's webhook for the
  same PaymentIntent is the same payment, recorded once. An authorized one is kept on the
  order (captured by the shop when the devices ship).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from monosub import access, auth, clock, events, ids
from monosub.auth import Principal
from monosub.domain import agencies as registration_rules
from monosub.domain import deals as deal_rules
from monosub.errors import Conflict, ValidationFailed, refused
from monosub.events import EventPublisher
from monosub.models.catalog import Channel
from monosub.models.exceptions import ExceptionAction, ExceptionRecord
from monosub.models.quotes import QuoteRequest
from monosub.models.web_orders import WebOrder, WebOrderResult
from monosub.observability import count, logger
from monosub.services import exceptions, payments, quotes, signups
from monosub.store import deals as deal_store
from monosub.store import quotes as quote_store
from monosub.store import web_orders as store
from monosub.store.web_orders import OrderReceipt

SOURCE = "monosub.sales"
CHANNEL = "web-shop"
PRICING_CHANNEL: Channel = "web"
AMOUNT_MISMATCH = "web-order-amount-mismatch"
SETTINGS = Path(__file__).resolve().parent.parent / "data" / "web_shop.json"


@cache
def settings() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SETTINGS.read_text(encoding="utf-8"))
    return loaded


def order_key(client_id: str, order_id: str) -> str:
    return f"{client_id}#{order_id}"


def body_sha256(order: WebOrder) -> str:
    canonical = json.dumps(order.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def place_order(
    order: WebOrder, *, client_id: str, publisher: EventPublisher | None = None
) -> WebOrderResult:
    """Make what ``order`` stands for, once (see the module); a replay answers the same."""
    key = order_key(client_id, order.order_id)
    digest = body_sha256(order)
    receipt = store.get(key)
    if receipt is None:
        now = clock.now_iso()
        fresh = OrderReceipt(
            order_key=key,
            client_id=client_id,
            order_id=order.order_id,
            body_sha256=digest,
            status="received",
            received_at=now,
            updated_at=now,
        )
        receipt = fresh if store.put_new(fresh) else store.get(key)
        assert receipt is not None
    if receipt.body_sha256 != digest:
        raise Conflict(
            f"order {order.order_id} was received before with other contents",
            details={"order_id": order.order_id, "status": receipt.status},
        )
    if receipt.status in ("confirmed", "held"):
        count("WebOrdersReplayed")
        return WebOrderResult.model_validate({**receipt.result, "replayed": True})
    if receipt.status == "rejected":
        raise Conflict(
            f"order {order.order_id} was rejected by the back office",
            details={"exception_id": receipt.exception_id},
        )
    return _process(order, receipt, publisher=publisher)


def _process(
    order: WebOrder,
    receipt: OrderReceipt,
    *,
    publisher: EventPublisher | None,
    retrying: bool = False,
) -> WebOrderResult:
    """Price the order, then hold it or make it; the receipt says which. ``retrying``: ops
    decided on the held order, so a price still wrong is their 400, not a second hold."""
    _check_complete(order)
    owner = _owner(order)
    base = f"web#{receipt.order_key}"
    plan = registration_rules.plan_registration(
        order.model_copy(update={"deal": order.deal.model_copy(update={"payment_method": "card"})}),
        agency_id=None,
        by=owner,
        new_ids=registration_rules.RegistrationIds(
            account_id=ids.derived_id("account", base),
            contact_id=ids.derived_id("contact", base),
            deal_id=ids.derived_id("deal", base),
            line_ids=[ids.derived_id("line", f"{base}#{n}") for n in range(len(order.deal.lines))],
        ),
        now=clock.now_iso(),
        how=f"Webショップ注文 {order.order_id} ({settings()['shop_name']})",
        kind="web-order",
    )
    shop = Principal(user=f"{CHANNEL}:{receipt.client_id}", groups=frozenset({auth.SALES}))
    request = QuoteRequest(term_months=order.term_months)
    deal_id = plan.deal.deal_id
    deal_saved = deal_store.get_deal(deal_id, scope=access.EVERYTHING) is not None
    if not deal_saved:
        priced = quotes.check_quotable(plan.deal, request, principal=shop, channel=PRICING_CHANNEL)
        if priced.one_time.total_yen != order.payment.amount:
            if retrying:
                raise ValidationFailed(
                    f"order {order.order_id} still prices to {priced.one_time.total_yen} yen, "
                    f"not the {order.payment.amount} yen paid",
                    details=[{"field": "payment.amount", "message": "not what the lines price to"}],
                )
            return _hold(order, receipt, priced.one_time.total_yen, priced, publisher)
        signups.save_customer(plan, publisher, by=owner, channel=CHANNEL)
    quote = quote_store.get(quotes.quote_id_for_deal(deal_id)) or quotes.create_quote(
        deal_id, request, principal=shop, channel=PRICING_CHANNEL, publisher=publisher
    )
    if quote.one_time_total != order.payment.amount and quote.status == "draft":
        # Priced again between the check and the quote (a price change at that instant):
        # the quote is what the customer would be billed, so the same rule holds.
        return _hold(order, receipt, quote.one_time_total, None, publisher)
    contract_id = quotes.accept_at_checkout(
        quote.quote_id,
        evidence={
            "channel": CHANNEL,
            "order_id": order.order_id,
            "client_id": receipt.client_id,
            "answered_at": _utc(order.ordered_at),
            "payment_reference": order.payment.reference,
            "payment_status": order.payment.status,
            "paid_amount": order.payment.amount,
            "document_sha256": quote.pdf_sha256,
        },
        by=shop.user,
        publisher=publisher,
    )
    if order.payment.status == "paid" and order.payment.amount > 0:
        _record_payment(order, plan.deal.billing_account_id or plan.account.account_id, publisher)
    result = WebOrderResult(
        order_id=order.order_id,
        status="confirmed",
        account_id=plan.account.account_id,
        contact_id=plan.contact.contact_id,
        deal_id=deal_id,
        quote_id=quote.quote_id,
        quote_number=quote.number,
        quote_status="accepted",
        contract_id=contract_id,
        one_time_total=quote.one_time_total,
        monthly_total=quote.monthly_total,
        paid_amount=order.payment.amount,
        exception_id=receipt.exception_id,
    )
    # The body the shop sent stays the receipt's: its replay answers this result, even when
    # ops corrected the order before it was made.
    _settle(receipt, "confirmed", result)
    count("WebOrdersConfirmed")
    return result


def _hold(
    order: WebOrder,
    receipt: OrderReceipt,
    priced_total: int,
    priced: Any,
    publisher: EventPublisher | None,
) -> WebOrderResult:
    reason = (
        f"the order's lines price to {priced_total} yen (tax included) on {clock.today()}, "
        f"but the checkout took {order.payment.amount} yen"
    )
    record, _ = exceptions.raise_exception(
        kind=AMOUNT_MISMATCH,
        channel=CHANNEL,
        source=f"POST /orders ({receipt.client_id})",
        reference=receipt.order_key,
        reason=reason,
        original=order.model_dump(mode="json"),
        details={
            "paid": order.payment.amount,
            "priced": priced_total,
            "difference": order.payment.amount - priced_total,
            "payment_reference": order.payment.reference,
            "payment_status": order.payment.status,
            "campaigns_applied": list(priced.campaigns_applied) if priced else [],
            "client_id": receipt.client_id,
        },
        amount=order.payment.amount,
        actions=(exceptions.RETRY, exceptions.REJECT),
        publisher=publisher,
    )
    result = WebOrderResult(
        order_id=order.order_id,
        status="held",
        paid_amount=order.payment.amount,
        one_time_total=priced_total,
        exception_id=record.exception_id,
        reason=reason,
    )
    _settle(receipt, "held", result, exception_id=record.exception_id)
    logger.warning("web order held", extra={"order": receipt.order_key, "reason": reason})
    count("WebOrdersHeld")
    return result


def _settle(receipt: OrderReceipt, status: str, result: WebOrderResult, **values: Any) -> None:
    latest = receipt
    for _ in range(3):
        if store.update(
            latest,
            status=status,
            result=result.model_dump(mode="json", exclude={"replayed"}),
            updated_at=clock.now_iso(),
            **values,
        ):
            return
        latest = store.get(receipt.order_key) or latest
    raise Conflict(f"order {receipt.order_id} changed meanwhile: send it again")


def _record_payment(order: WebOrder, account_id: str, publisher: EventPublisher | None) -> None:
    payments.record(
        [
            payments.Received(
                provider=order.payment.provider,
                reference=order.payment.reference,
                method="card",
                amount=order.payment.amount,
                received_on=order.ordered_at.astimezone(clock.TOKYO).date(),
                source=f"{CHANNEL}:{order.order_id}",
                account_id=account_id,
                note=f"Webショップ注文 {order.order_id} の決済",
            )
        ],
        publisher=publisher,
    )


def _check_complete(order: WebOrder) -> None:
    """An order the shop took must be one we can ship and bill: an email for its notices,
    where the devices go, and a card for the monthly plans."""
    problems = []
    if order.contact.email is None:
        problems.append({"field": "contact.email", "message": "required for a web order"})
    if order.deal.payment_method not in (None, "card"):
        problems.append({"field": "deal.payment_method", "message": "web orders pay by card"})
    missing = deal_rules.missing_for_won(
        line_count=len(order.deal.lines),
        has_device=any(line.device_sku for line in order.deal.lines),
        payment_method="card",
        has_ship_to=order.deal.ship_to is not None,
    )
    problems += [
        {"field": f"deal.{name}", "message": "required for a web order"} for name in missing
    ]
    if problems:
        raise ValidationFailed(f"order {order.order_id} is incomplete", details=problems)


def _owner(order: WebOrder) -> str:
    return str(settings()["owners"][order.segment])


def _utc(moment: datetime) -> str:
    return clock.iso(moment)


# ---- the back office's decisions on a held order ----------------------------------------


def _retry(record: ExceptionRecord, decision: ExceptionAction) -> dict[str, Any]:
    """Price the held order again (after ops fixed the price book or its lines) and make it."""
    try:
        order = WebOrder.model_validate(exceptions.corrected(record, decision))
    except ValidationError as error:
        raise refused(error, "the corrected order") from None
    receipt = store.get(record.reference)
    if receipt is None or order.order_id != receipt.order_id:
        raise ValidationFailed(
            "a retried order keeps its order number",
            details=[{"field": "order_id", "message": "cannot be changed"}],
        )
    result = _process(order, receipt, publisher=None, retrying=True)
    return {
        "order_id": order.order_id,
        "deal_id": result.deal_id,
        "contract_id": result.contract_id,
    }


def _reject(record: ExceptionRecord, decision: ExceptionAction) -> dict[str, Any]:
    """The order will not be made: it is marked rejected (sending it again is a 409) and the
    shop is told (``WebOrderRejected``) so that it refunds the customer."""
    receipt = store.get(record.reference)
    if receipt is not None and receipt.status != "rejected":
        _settle(
            receipt,
            "rejected",
            WebOrderResult.model_validate({**receipt.result, "status": "rejected"}),
        )
    details = record.details
    events.default_publisher.publish(
        SOURCE,
        "WebOrderRejected",
        {
            "order_id": record.original.get("order_id"),
            "client_id": details.get("client_id"),
            "exception_id": record.exception_id,
            "payment_reference": details.get("payment_reference"),
            "payment_status": details.get("payment_status"),
            "amount": details.get("paid"),
            "reason": decision.note,
        },
    )
    return {"order_id": record.original.get("order_id"), "refund_due": details.get("paid")}


exceptions.register_action(AMOUNT_MISMATCH, exceptions.RETRY, _retry)
exceptions.register_action(AMOUNT_MISMATCH, exceptions.REJECT, _reject)
