"""Kind ``zengin-debit-result``: the bank's answer to a direct-debit request (全銀 口座振替
結果, the request's records with a 振替結果コード each).

The file is read whole (``monosub.formats.zengin_debit``: structure, fields, result codes,
trailer counts and sums, each problem with its record number) and then checked against the
request that was sent for its debit date: there must be one (a result for a request never
sent is rejected), from our consignor code, and every record must be one of the request's, with
the same 顧客番号, account and amount, none missing and none twice. Any problem quarantines the
whole file; nothing of it is applied.

Applying pays each debited invoice (a payment per debit date and 顧客番号, so a result file
dropped again pays nothing twice) and keeps each failure on its invoice with the bank's reason
(資金不足, 取引なし …) for overdue follow-up (``PaymentFailed``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from monosub.formats import zengin_debit
from monosub.intake.kinds import (
    ApplyContext,
    FileRejected,
    Parsed,
    Processor,
    RowError,
    register,
)

PAYMENTS_PER_BATCH = 100


@dataclass(frozen=True)
class DebitResult:
    debit_date: date
    record: zengin_debit.DebitRecord
    invoice_id: str
    account_id: str


def _check(result: zengin_debit.DebitFile) -> Parsed:
    from monosub.services import direct_debit
    from monosub.store import cash

    header = result.header
    request = cash.get_debit_request(header.debit_date)
    if request is None:
        raise FileRejected(
            "no-request",
            f"no direct debit was requested for {header.debit_date}: this result answers a "
            "request monosub never sent",
        )
    consignor = str(direct_debit.settings()["consignor_code"])
    if header.consignor_code != consignor:
        raise FileRejected(
            "other-consignor",
            f"the result is for consignor {header.consignor_code}, ours is {consignor}",
        )
    requested = direct_debit.requested_invoices(request)
    sent = {r.customer_number: r for r in direct_debit.records_of(request)}
    parsed = Parsed()
    seen: dict[str, int] = {}
    for record in result.records:
        number = record.customer_number
        original = sent.get(number)
        if number in seen:
            parsed.errors.append(
                RowError(
                    record.line,
                    f"顧客番号 {number} is also on record {seen[number]}",
                    "customer_number",
                    number,
                )
            )
            continue
        seen[number] = record.line
        if original is None or number not in requested:
            parsed.errors.append(
                RowError(
                    record.line,
                    f"顧客番号 {number} was not in the request of {header.debit_date}",
                    "customer_number",
                    number,
                )
            )
            continue
        for field, value, expected in (
            ("amount", record.amount, original.amount),
            ("bank_code", record.bank_code, original.bank_code),
            ("branch_code", record.branch_code, original.branch_code),
            ("account_number", record.account_number, original.account_number),
        ):
            if value != expected:
                parsed.errors.append(
                    RowError(
                        record.line,
                        f"{field} {value} differs from the request's {expected}",
                        field,
                        str(value),
                    )
                )
        entry = requested[number]
        parsed.rows.append(
            DebitResult(
                header.debit_date, record, str(entry["invoice_id"]), str(entry["account_id"])
            )
        )
    missing = sorted(set(sent) - set(seen))
    if missing:
        parsed.errors.append(
            RowError(
                result.trailer.line,
                f"{len(missing)} debit(s) of the request are not in the result: "
                + ", ".join(missing[:5])
                + (" …" if len(missing) > 5 else ""),
                "customer_number",
            )
        )
    if parsed.errors:
        parsed.rows = []
    return parsed


class DebitResults(Processor):
    kind = "zengin-debit-result"
    description = "The bank's 口座振替 result file: debited invoices paid, failures recorded"

    def parse(self, data: bytes) -> Parsed:
        try:
            result = zengin_debit.read_debit_file(data, result=True)
        except zengin_debit.DebitFileErrors as problems:
            return Parsed(errors=[RowError(e.line, e.message, e.field) for e in problems.errors])
        return _check(result)

    def apply(self, rows: list[Any], context: ApplyContext) -> dict[str, int]:
        from monosub.models.cash import PaymentFailure
        from monosub.services import payments
        from monosub.store import cash

        debited = [r for r in rows if r.record.debited]
        failed = [r for r in rows if not r.record.debited]
        new = 0
        for start in range(0, len(debited), PAYMENTS_PER_BATCH):
            done = payments.record(
                [
                    payments.Received(
                        provider="zengin-debit",
                        reference=f"{r.debit_date.isoformat()}:{r.record.customer_number}",
                        method="direct-debit",
                        amount=r.record.amount,
                        received_on=r.debit_date,
                        source=context.run_id,
                        invoice_id=r.invoice_id,
                        account_id=r.account_id,
                    )
                    for r in debited[start : start + PAYMENTS_PER_BATCH]
                ]
            )
            new += sum(result.new for result in done)
            context.progress({"debited": start + len(done)})
        for r in failed:
            code = r.record.result_code
            payments.record_failure(
                r.invoice_id,
                PaymentFailure(
                    method="direct-debit",
                    code=code,
                    reason=zengin_debit.RESULT_CODES.get(code, "その他"),
                    failed_on=r.debit_date,
                    reference=f"{r.debit_date.isoformat()}:{r.record.customer_number}",
                ),
            )
        if rows:
            cash.update_debit_request(
                rows[0].debit_date,
                {
                    "status": "result-applied",
                    "result_run_id": context.run_id,
                    "debited": len(debited),
                    "failed": len(failed),
                },
            )
        return {
            "debited": len(debited),
            "paid_now": new,
            "failed": len(failed),
            "amount_debited": sum(r.record.amount for r in debited),
        }


register(DebitResults())
