"""Kind ``bank-statement``: the bank's statement of our accounts, as the 全銀 入出金取引明細
(200-byte records, ``monosub.formats.zengin_statement``) or the bank's CSV export
(``monosub.formats.bank_statement_csv``), told apart by their first bytes.

The whole file is read and checked first (records, dates, the trailer's counts and sums);
any problem quarantines it. Applying matches each deposit to open invoices
(``monosub.services.bank_transfers``); withdrawals are counted, not matched.
"""

from __future__ import annotations

import io
from typing import Any

from monosub.formats import bank_statement_csv, zengin_statement
from monosub.formats.statement import StatementEntry
from monosub.intake.kinds import ApplyContext, Parsed, Processor, RowError, register

RECORD = 200


def _is_zengin(data: bytes) -> bool:
    first = data.split(b"\n", 1)[0].rstrip(b"\r")
    return len(first) == RECORD and first[:1] == b"1"


class BankStatements(Processor):
    kind = "bank-statement"
    description = "Bank statement (全銀 入出金取引明細 or CSV): deposits matched to invoices"

    def parse(self, data: bytes) -> Parsed:
        parsed = Parsed()
        if _is_zengin(data):
            try:
                groups = zengin_statement.read_statement_groups(data)
            except zengin_statement.StatementFileErrors as problems:
                parsed.errors = [RowError(e.line, e.message, e.field) for e in problems.errors]
                return parsed
            parsed.rows = [entry for group in groups for entry in group.entries]
            return parsed
        for item in bank_statement_csv.iter_bank_statement(io.BytesIO(data)):
            if isinstance(item, StatementEntry):
                parsed.rows.append(item)
            else:
                parsed.errors.append(item)
        return parsed

    def apply(self, rows: list[Any], context: ApplyContext) -> dict[str, int]:
        from monosub.services import bank_transfers

        return bank_transfers.apply(rows, run_id=context.run_id)


register(BankStatements())
