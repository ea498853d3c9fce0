"""One deposit on a bank statement, whatever format it came in (全銀 入出金取引明細 fixed-width,
``monosub.formats.zengin_statement``; a bank's CSV by column mapping,
``monosub.formats.bank_statement_csv``). Bank-transfer matching reads only this shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class StatementEntry:
    """A line of a bank statement. ``amount`` is integer yen, positive for money received
    (入金) and negative for money paid out (出金); only deposits are matched to invoices."""

    line: int = 0  # the line (record) number in the file, 1-based, for error reports
    account: str = ""  # our account the statement is of: <bank>-<branch>-<number>
    transaction_date: date = date(1970, 1, 1)  # 勘定日
    value_date: date | None = None  # 起算日
    amount: int = 0
    payer_name: str = ""  # 振込依頼人名 as the bank sends it (half-width kana, ASCII)
    payer_code: str = ""  # 振込依頼人コード (10 digits), when the payer sent one
    virtual_account: str = ""  # the 振込専用口座 (virtual account number) paid into, if any
    reference: str = ""  # the bank's id of this transaction (照会番号), unique per account
    description: str = ""  # 摘要 / remitting bank and branch names

    @property
    def is_deposit(self) -> bool:
        return self.amount > 0
