"""Keys of the cash table (docs/data-model.md#cash).

- payment: ``PAYMENT#<payment_id>`` / ``PAYMENT``, gsi1 ``PAYMENTS#<account_id>`` /
  ``<received_on>#<payment_id>`` (an account's payments, newest last);
- customer credit: ``CREDIT#<account_id>`` / ``CREDIT``;
- a webhook event received: ``WEBHOOK#<provider>#<event_id>`` / ``EVENT``; a rejected one:
  ``WEBHOOK-REJECTED#<date>`` / ``<time>#<id>``;
- a settlement payout: ``PAYOUT#<provider>#<payout_id>`` / ``PAYOUT`` (its totals), gsi1
  ``PAYOUTS#<YYYY-MM>`` / ``<payout date>#<provider>#<payout_id>``; its rows, packed, 1,000 a
  chunk: the same pk / ``ROWS#<n>``;
- a direct-debit request: ``DEBIT#<debit date>`` / ``REQUEST``.

A payment is written once (a conditional put): whoever records it first decides its
allocations, and applying it to invoices is idempotent per (invoice, payment).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date
from typing import Any

from monosub import clock, ids
from monosub.models.cash import CustomerCredit, Payment
from monosub.names import CASH
from monosub.store.dynamo import Table, TransactionConflict, transact
from monosub.store.packing import pack, unpack

_table = Table(CASH)
PAYOUT_ROWS_PER_CHUNK = 1000


def _payment_pk(payment_id: str) -> str:
    return f"PAYMENT#{payment_id}"


def _payment_item(payment: Payment) -> dict[str, Any]:
    values = payment.model_dump(mode="json")
    values["allocations"] = pack(values["allocations"])
    return {
        "pk": _payment_pk(payment.payment_id),
        "sk": "PAYMENT",
        **(
            {
                "gsi1pk": f"PAYMENTS#{payment.account_id}",
                "gsi1sk": f"{payment.received_on.isoformat()}#{payment.payment_id}",
            }
            if payment.account_id
            else {}
        ),
        **values,
    }


def _payment(item: Mapping[str, Any]) -> Payment:
    return Payment.model_validate({**item, "allocations": unpack(item.get("allocations"))})


def put_payment(payment: Payment) -> bool:
    """Record a payment; False when one with its id was recorded before (the caller reads
    that one and finishes applying it)."""
    return _table.put_new(_payment_item(payment))


def get_payment(payment_id: str) -> Payment | None:
    item = _table.get(_payment_pk(payment_id), "PAYMENT")
    return _payment(item) if item else None


def get_payments(payment_ids: Sequence[str]) -> dict[str, Payment]:
    read = _table.batch_get([(_payment_pk(p), "PAYMENT") for p in payment_ids])
    return {str(item["payment_id"]): _payment(item) for item in read.values()}


def account_payments(account_id: str, *, limit: int = 100) -> list[Payment]:
    keys = [
        (str(item["pk"]), str(item["sk"]))
        for item in _table.query(
            f"PAYMENTS#{account_id}", index="gsi1", newest_first=True, limit=limit
        )
    ]
    read = _table.batch_get(keys)
    return [_payment(read[key]) for key in keys if key in read]


def set_settlement(payment_id: str, *, fee: int, net: int, payout_id: str) -> bool:
    """What the provider kept of a payment and the payout that paid the rest out."""
    return _table.update(
        _payment_pk(payment_id),
        "PAYMENT",
        set_values={"fee": fee, "net": net, "payout_id": payout_id},
        condition="attribute_exists(pk)",
    )


# ---- customer credit -----------------------------------------------------------------------


def add_credit(account_id: str, amount: int, payment_id: str) -> bool:
    """Add ``amount`` to the account's credit once per payment (False: added before)."""
    return _table.update(
        f"CREDIT#{account_id}",
        "CREDIT",
        set_values={"account_id": account_id, "updated_at": clock.now_iso()},
        add_values={"balance": amount, "sources": {payment_id}},
        condition="NOT contains(#sources, :payment)",
        condition_values={":payment": payment_id},
    )


def put_credit_application(payment: Payment) -> bool:
    """Record a credit application and take its amount from the account's credit together
    (one transaction: the two must change together), only while the balance covers it and
    only once. False when it was recorded before or the credit does not cover it (any more)."""
    taken = _table.update_operation(
        f"CREDIT#{payment.account_id}",
        "CREDIT",
        set_values={"updated_at": clock.now_iso()},
        add_values={"balance": -payment.amount, "sources": {payment.payment_id}},
        condition="#balance >= :amount AND NOT contains(#sources, :payment)",
        condition_values={":amount": payment.amount, ":payment": payment.payment_id},
    )
    try:
        transact([_table.put_operation(_payment_item(payment)), taken])
    except TransactionConflict:
        return False
    return True


def get_credits(account_ids: Iterable[str]) -> dict[str, CustomerCredit]:
    """The credit of each account that has a credit item (batch reads of 100)."""
    keys = [(f"CREDIT#{a}", "CREDIT") for a in sorted(set(account_ids))]
    return {
        str(item["account_id"]): CustomerCredit.model_validate(
            {**item, "sources": sorted(item.get("sources", ()))}
        )
        for item in _table.batch_get(keys).values()
    }


def get_credit(account_id: str) -> CustomerCredit:
    item = _table.get(f"CREDIT#{account_id}", "CREDIT")
    if item is None:
        return CustomerCredit(account_id=account_id)
    return CustomerCredit.model_validate({**item, "sources": sorted(item.get("sources", ()))})


# ---- webhook events ------------------------------------------------------------------------


def record_webhook_event(provider: str, event_id: str, values: Mapping[str, Any]) -> bool:
    """Note an event as received; False when it was received before (a redelivery)."""
    return _table.put_new(
        {"pk": f"WEBHOOK#{provider}#{event_id}", "sk": "EVENT", "event_id": event_id, **values}
    )


def webhook_event(provider: str, event_id: str) -> dict[str, Any] | None:
    return _table.get(f"WEBHOOK#{provider}#{event_id}", "EVENT")


def finish_webhook_event(provider: str, event_id: str, outcome: Mapping[str, Any]) -> None:
    _table.update(
        f"WEBHOOK#{provider}#{event_id}",
        "EVENT",
        set_values={**outcome, "status": "applied", "applied_at": clock.now_iso()},
    )


def record_webhook_rejection(provider: str, values: Mapping[str, Any]) -> str:
    now = clock.now_iso()
    rejection_id = ids.new_id("whr")
    _table.put(
        {
            "pk": f"WEBHOOK-REJECTED#{now[:10]}",
            "sk": f"{now}#{rejection_id}",
            "provider": provider,
            "rejected_at": now,
            **values,
        }
    )
    return rejection_id


def webhook_rejections(day: date) -> list[dict[str, Any]]:
    return list(_table.query(f"WEBHOOK-REJECTED#{day.isoformat()}"))


# ---- settlement payouts --------------------------------------------------------------------


def _payout_pk(provider: str, payout_id: str) -> str:
    return f"PAYOUT#{provider}#{payout_id}"


def get_payout(provider: str, payout_id: str) -> dict[str, Any] | None:
    return _table.get(_payout_pk(provider, payout_id), "PAYOUT")


def get_payouts(provider: str, payout_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    read = _table.batch_get([(_payout_pk(provider, p), "PAYOUT") for p in payout_ids])
    return {str(item["payout_id"]): item for item in read.values()}


def put_payout_rows(provider: str, payout_id: str, rows: Sequence[Mapping[str, Any]]) -> int:
    """The payout's rows as matched, packed 1,000 a chunk (overwriting: a retried apply
    writes the same chunks)."""
    items = [
        {
            "pk": _payout_pk(provider, payout_id),
            "sk": f"ROWS#{n:05d}",
            "rows": pack(list(rows[start : start + PAYOUT_ROWS_PER_CHUNK])),
        }
        for n, start in enumerate(range(0, len(rows), PAYOUT_ROWS_PER_CHUNK))
    ]
    return _table.batch_put(items)


def payout_rows(provider: str, payout_id: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for item in _table.query(_payout_pk(provider, payout_id), sk_prefix="ROWS#"):
        rows.extend(unpack(item["rows"]))
    return rows


def put_payout(provider: str, payout_id: str, summary: Mapping[str, Any]) -> bool:
    """The payout's totals, written last (after its rows): its presence means applied."""
    month = str(summary["payout_date"])[:7]
    return _table.put_new(
        {
            "pk": _payout_pk(provider, payout_id),
            "sk": "PAYOUT",
            "gsi1pk": f"PAYOUTS#{month}",
            "gsi1sk": f"{summary['payout_date']}#{provider}#{payout_id}",
            "provider": provider,
            "payout_id": payout_id,
            **summary,
        }
    )


def payouts_of_month(month: str) -> Iterator[dict[str, Any]]:
    keys = [
        (str(item["pk"]), str(item["sk"]))
        for item in _table.query(f"PAYOUTS#{month}", index="gsi1")
    ]
    read = _table.batch_get(keys)
    for key in keys:
        if key in read:
            yield read[key]


# ---- direct-debit requests -----------------------------------------------------------------


def get_debit_request(debit_date: date) -> dict[str, Any] | None:
    return _table.get(f"DEBIT#{debit_date.isoformat()}", "REQUEST")


def put_debit_request(debit_date: date, values: Mapping[str, Any]) -> bool:
    return _table.put_new({"pk": f"DEBIT#{debit_date.isoformat()}", "sk": "REQUEST", **values})


def update_debit_request(debit_date: date, values: Mapping[str, Any]) -> None:
    _table.update(f"DEBIT#{debit_date.isoformat()}", "REQUEST", set_values=dict(values))


# ---- overdue follow-up ---------------------------------------------------------------------
# ``FOLLOWUP#<invoice_id>`` / ``STATE``: the levels fired for the invoice (a string set);
# ``SUSPENSION#<account_id>`` / ``<invoice_id>``: devices suspended for that invoice.


def follow_up_states(invoice_ids: Sequence[str]) -> dict[str, set[str]]:
    read = _table.batch_get([(f"FOLLOWUP#{i}", "STATE") for i in invoice_ids])
    return {
        str(item["pk"]).removeprefix("FOLLOWUP#"): set(item.get("fired") or ())
        for item in read.values()
    }


def mark_fired(invoice_id: str, level: str) -> bool:
    """Note a level as fired for the invoice, once (False: it fired before)."""
    return _table.update(
        f"FOLLOWUP#{invoice_id}",
        "STATE",
        set_values={"invoice_id": invoice_id, "updated_at": clock.now_iso()},
        add_values={"fired": {level}},
        condition="NOT contains(#fired, :level)",
        condition_values={":level": level},
    )


def unmark_fired(invoice_id: str, level: str) -> None:
    """Take a level's note back (its first action could not be carried out: try again)."""
    _table.update(
        f"FOLLOWUP#{invoice_id}",
        "STATE",
        set_values={"updated_at": clock.now_iso()},
        delete_values={"fired": {level}},
    )


def put_suspension(account_id: str, invoice_id: str, values: Mapping[str, Any]) -> bool:
    return _table.put_new(
        {
            "pk": f"SUSPENSION#{account_id}",
            "sk": invoice_id,
            "account_id": account_id,
            "invoice_id": invoice_id,
            "status": "active",
            **values,
        }
    )


def suspensions(account_id: str) -> list[dict[str, Any]]:
    return list(_table.query(f"SUSPENSION#{account_id}"))


def end_suspension(account_id: str, invoice_id: str, values: Mapping[str, Any]) -> bool:
    return _table.update(
        f"SUSPENSION#{account_id}",
        invoice_id,
        set_values={**values, "status": "resumed"},
        condition="#status = :active",
        condition_values={":active": "active"},
    )


# ---- the follow-up policy in force ---------------------------------------------------------


def follow_up_policy() -> dict[str, Any] | None:
    """The policy ops loaded (``follow-up-policy`` file kind), if any: its JSON and version."""
    return _table.get("POLICY#follow-up", "CURRENT")


def put_follow_up_policy(text: str, *, run_id: str, sha256: str) -> bool:
    """Make ``text`` the policy in force (False: the same policy is in force already)."""
    current = follow_up_policy()
    if current is not None and current.get("sha256") == sha256:
        return False
    _table.put(
        {
            "pk": "POLICY#follow-up",
            "sk": "CURRENT",
            "policy": text,
            "sha256": sha256,
            "run_id": run_id,
            "loaded_at": clock.now_iso(),
        }
    )
    return True
