"""全銀 入出金取引明細 (deposit and withdrawal statement): the bank's 200-byte cp932 file of an
account's transactions, read into ``StatementEntry`` (``monosub.formats.statement``), the one
shape bank-transfer matching reads. A writer makes files for tests and the local bank.

A file holds one group per account (header kind 1, data records kind 2, trailer kind 8),
then one end record (kind 9). A bank sends one group per 振込専用口座 (virtual account), so
each entry carries its group's account number as ``virtual_account``, and the matcher decides
whether that number is a customer's virtual account or our main account.

**Where the widths come from.** The 全銀協 layout is published by each bank; these sources
were read for this module (third-party copies, checked against each other):
- きらぼし銀行 "入出金明細(全銀)明細ファイル・フォーマット(全銀協規定形式・改行なし)"
  (2018-05, via 123deta.com): the header fields 1-12 and their widths, 和暦 YYMMDD dates,
  ダミー N(3) "000" before 預金種目.
- A PHP importer of this format (public GitHub code) slicing every header and data field with
  offsets: header 1/2/1/6/6/6/4/15/3/15/3/1/10/40/1/1/14/71; data record up to 摘要内容
  1/8/6/6/1/2/12/12/6/6/1/7/3/10/48/15/15/20 then ダミー 21 (the layout before 金融EDI).
- A C# library's records for 入出金取引明細 (Diva.Zengin, public GitHub code): the same data
  fields, with the last 21 bytes split as EDI情報 C(20) + ダミー C(1) (the 2018 金融EDI
  revision), and the trailer 1/6/13/6/13/1/14/7 + ダミー 139, 貸越区分 1 = プラス, 2 = マイナス.
- The end record (9 + ダミー 199) as in every 全銀 format; not separately confirmed.
Confirmed by two sources: header, data record to 摘要内容. By one source only: EDI情報 20 +
ダミー 1 (older files have spaces there, which read as no EDI) and the trailer's データ・レコード
件数 N(7) (older files may have spaces: then it is not checked). Layouts as tables:
``docs/zengin.md``.

**Dates** are 和暦 YYMMDD (令和: year - 2018) in most banks' files; ``dates="seireki"`` reads
and writes 西暦 YYMMDD (year - 2000) for the banks that send those.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import BinaryIO, NamedTuple

from monosub.formats.statement import StatementEntry
from monosub.formats.zengin import (
    ENCODING,
    DateStyle,
    ZenginFileErrors,
    ZenginFormatError,
    digits,
    iter_records,
    read_code,
    read_number,
    read_optional_yymmdd,
    read_text,
    read_yymmdd,
    trailer_mismatches,
    yymmdd,
    zengin_text,
)

RECORD_WIDTH = 200
KIND_CODE = "03"  # 種別コード: 入出金取引明細
DEPOSIT = "1"  # 入払区分
WITHDRAWAL = "2"
# 取引区分
TRANSACTION_KINDS: dict[str, str] = {
    "10": "現金",
    "11": "振込",
    "12": "他店券入金",
    "13": "交換",
    "14": "振替",
    "15": "継続",
    "18": "その他",
    "19": "訂正",
}
# 貸越区分 of a balance: 1 plus, 2 minus (an overdraft).
_MINUS = b"2"


@dataclass(frozen=True)
class StatementHeader:
    """One account's statement: which account, which days, the balance before them."""

    created: date  # 作成日
    date_from: date  # 勘定日(自)
    date_to: date  # 勘定日(至)
    bank_code: str  # 4 digits
    bank_name: str
    branch_code: str  # 3 digits
    branch_name: str
    account_type: str  # 預金種目: 1 普通, 2 当座, 4 貯蓄 …
    account_number: str  # 口座番号: N(10) in the file, read without the zeros before 7 digits
    account_name: str = ""  # 口座名, half-width
    balance_before: int | None = None  # 取引前残高, negative for an overdraft; None: not given
    passbook: str = " "  # 通帳・証書区分, as sent
    line: int = 1

    @property
    def account(self) -> str:
        """``<bank>-<branch>-<account number>``, as ``StatementEntry.account``."""
        return f"{self.bank_code}-{self.branch_code}-{self.account_number}"


@dataclass(frozen=True)
class StatementRecord:
    """A data record with every field; ``amount`` is positive for a deposit (入金) and
    negative for a withdrawal (出金). ``entry`` gives the matcher's shape."""

    line: int
    reference: str  # 照会番号, 8 digits
    transaction_date: date  # 勘定日
    value_date: date | None  # 起算日 (預入・払出日)
    amount: int
    transaction_kind: str = ""  # 取引区分 (TRANSACTION_KINDS), "" when blank
    other_bank_amount: int = 0  # うち他店券金額
    exchange_date: date | None = None  # 交換呈示日
    dishonored_date: date | None = None  # 不渡返還日
    bill_kind: str = ""  # 手形・小切手区分
    bill_number: str = ""  # 手形・小切手番号
    branch_reference: str = ""  # 僚店番号
    payer_code: str = ""  # 振込依頼人コード (10 digits), "" when none
    payer_name: str = ""  # 振込依頼人名 (or, for a withdrawal, a debit's 契約者番号)
    remitting_bank: str = ""  # 仕向銀行名
    remitting_branch: str = ""  # 仕向店名
    description: str = ""  # 摘要内容
    edi: str = ""  # EDI情報 (金融EDI: often the payer's invoice number)

    def entry(self, header: StatementHeader) -> StatementEntry:
        return StatementEntry(
            line=self.line,
            account=header.account,
            transaction_date=self.transaction_date,
            value_date=self.value_date,
            amount=self.amount,
            payer_name=self.payer_name,
            payer_code=self.payer_code,
            virtual_account=header.account_number,
            reference=self.reference,
            description=" ".join(
                part
                for part in (self.description, self.remitting_bank, self.remitting_branch, self.edi)
                if part
            ),
        )

    @classmethod
    def from_entry(cls, entry: StatementEntry) -> StatementRecord:
        """The record to write for ``entry`` (tests, the local bank): a deposit as 振込 (11),
        a withdrawal as その他 (18); its description as 摘要内容."""
        return cls(
            line=entry.line,
            reference=entry.reference,
            transaction_date=entry.transaction_date,
            value_date=entry.value_date,
            amount=entry.amount,
            transaction_kind="11" if entry.amount > 0 else "18",
            payer_code=entry.payer_code,
            payer_name=entry.payer_name,
            description=entry.description,
        )


@dataclass(frozen=True)
class StatementTrailer:
    deposit_count: int  # 入金件数
    deposit_total: int  # 入金額合計
    withdrawal_count: int  # 出金件数
    withdrawal_total: int  # 出金額合計
    balance_after: int | None = None  # 取引後残高, negative for an overdraft
    record_count: int | None = None  # データ・レコード件数; None when the file leaves it blank
    line: int = 0


class StatementFile(NamedTuple):
    """One account's group: unpacks as ``header, entries, trailer``."""

    header: StatementHeader
    entries: list[StatementEntry]
    trailer: StatementTrailer


class StatementFileErrors(ZenginFileErrors):
    """Every problem found in a statement file (each a ``ZenginFormatError``)."""

    what = "statement file"


# ---- writing ------------------------------------------------------------------------------


def _balance(value: int | None, line: int, field: str) -> str:
    """貸越区分 and the 14-digit balance."""
    if value is None:
        return " " + " " * 14
    return ("2" if value < 0 else "1") + digits(abs(value), 14, field, line=line)


def _header_bytes(header: StatementHeader, line: int, dates: DateStyle) -> bytes:
    text = (
        "1"
        + KIND_CODE
        + "0"
        + yymmdd(header.created, dates, "作成日", line=line)
        + yymmdd(header.date_from, dates, "勘定日(自)", line=line)
        + yymmdd(header.date_to, dates, "勘定日(至)", line=line)
        + digits(header.bank_code, 4, "銀行コード", line=line)
        + zengin_text(header.bank_name, 15, "銀行名", line=line)
        + digits(header.branch_code, 3, "支店コード", line=line)
        + zengin_text(header.branch_name, 15, "支店名", line=line)
        + "000"
        + digits(header.account_type, 1, "預金種目", line=line)
        + digits(header.account_number, 10, "口座番号", line=line)
        + zengin_text(header.account_name, 40, "口座名", line=line)
    )
    balance = _balance(header.balance_before, line, "取引前残高")
    text += balance[0] + zengin_text(header.passbook, 1, "通帳・証書区分", line=line)
    text += balance[1:] + " " * 71
    return text.encode(ENCODING)


def _optional_digits(value: str, width: int, field: str, line: int) -> str:
    return digits(value, width, field, line=line) if value else " " * width


def _optional_date(value: date | None, dates: DateStyle, field: str, line: int) -> str:
    return "000000" if value is None else yymmdd(value, dates, field, line=line)


def _record_bytes(record: StatementRecord, line: int, dates: DateStyle) -> bytes:
    if record.amount == 0:
        raise ZenginFormatError(line, "取引金額", "a transaction of 0 yen has no direction")
    text = (
        "2"
        + digits(record.reference or str(line), 8, "照会番号", line=line)
        + yymmdd(record.transaction_date, dates, "勘定日", line=line)
        + yymmdd(record.value_date or record.transaction_date, dates, "起算日", line=line)
        + (DEPOSIT if record.amount > 0 else WITHDRAWAL)
        + _optional_digits(record.transaction_kind, 2, "取引区分", line)
        + digits(abs(record.amount), 12, "取引金額", line=line)
        + digits(record.other_bank_amount, 12, "うち他店券金額", line=line)
        + _optional_date(record.exchange_date, dates, "交換呈示日", line)
        + _optional_date(record.dishonored_date, dates, "不渡返還日", line)
        + _optional_digits(record.bill_kind, 1, "手形・小切手区分", line)
        + _optional_digits(record.bill_number, 7, "手形・小切手番号", line)
        + _optional_digits(record.branch_reference, 3, "僚店番号", line)
        + _optional_digits(record.payer_code, 10, "振込依頼人コード", line)
        + zengin_text(record.payer_name, 48, "振込依頼人名", line=line)
        + zengin_text(record.remitting_bank, 15, "仕向銀行名", line=line)
        + zengin_text(record.remitting_branch, 15, "仕向店名", line=line)
        + zengin_text(record.description, 20, "摘要内容", line=line)
        + zengin_text(record.edi, 20, "EDI情報", line=line)
        + " "
    )
    return text.encode(ENCODING)


def _trailer_bytes(trailer: StatementTrailer, line: int) -> bytes:
    text = (
        "8"
        + digits(trailer.deposit_count, 6, "入金件数", line=line)
        + digits(trailer.deposit_total, 13, "入金額合計", line=line)
        + digits(trailer.withdrawal_count, 6, "出金件数", line=line)
        + digits(trailer.withdrawal_total, 13, "出金額合計", line=line)
        + _balance(trailer.balance_after, line, "取引後残高")
        + (
            " " * 7
            if trailer.record_count is None
            else digits(trailer.record_count, 7, "データ・レコード件数", line=line)
        )
        + " " * 139
    )
    return text.encode(ENCODING)


def write_statement_groups(
    groups: Iterable[tuple[StatementHeader, Iterable[StatementRecord | StatementEntry]]],
    *,
    dates: DateStyle = "wareki",
) -> bytes:
    """A file of several accounts' groups (see ``write_statement_file``)."""
    out: list[bytes] = []
    line = 0
    for header, records in groups:
        line += 1
        out.append(_header_bytes(header, line, dates))
        deposits = withdrawals = deposit_total = withdrawal_total = 0
        for item in records:
            record = StatementRecord.from_entry(item) if isinstance(item, StatementEntry) else item
            line += 1
            out.append(_record_bytes(record, line, dates))
            if record.amount > 0:
                deposits += 1
                deposit_total += record.amount
            else:
                withdrawals += 1
                withdrawal_total -= record.amount
        balance_after = (
            None
            if header.balance_before is None
            else header.balance_before + deposit_total - withdrawal_total
        )
        line += 1
        trailer = StatementTrailer(
            deposit_count=deposits,
            deposit_total=deposit_total,
            withdrawal_count=withdrawals,
            withdrawal_total=withdrawal_total,
            balance_after=balance_after,
            record_count=deposits + withdrawals,
        )
        out.append(_trailer_bytes(trailer, line))
    out.append(("9" + " " * 199).encode(ENCODING))
    return b"\r\n".join(out) + b"\r\n"


def write_statement_file(
    header: StatementHeader,
    records: Iterable[StatementRecord | StatementEntry],
    *,
    dates: DateStyle = "wareki",
) -> bytes:
    """The statement of one account: header, a data record per transaction (a
    ``StatementEntry`` is written as ``StatementRecord.from_entry`` says), the trailer
    computed from them (取引後残高 = 取引前残高 + deposits - withdrawals), the end record; 200
    bytes each, CRLF. Raises ``ZenginFormatError`` naming the line and field of a value that
    cannot be written."""
    return write_statement_groups([(header, records)], dates=dates)


# ---- reading ------------------------------------------------------------------------------


def _read_balance(sign: bytes, raw: bytes, line: int, field: str) -> int | None:
    if raw.strip(b" ") == b"":
        return None
    value = read_number(raw, line, field)
    return -value if sign == _MINUS else value


def _optional_code(raw: bytes, line: int, field: str) -> str:
    if raw.strip(b" ") == b"":
        return ""
    return read_code(raw, line, field)


def _account_number(raw: bytes, line: int) -> str:
    number = read_code(raw, line, "口座番号")
    return number.lstrip("0").rjust(7, "0")


def _parse_header(raw: bytes, line: int, dates: DateStyle) -> StatementHeader:
    if raw[1:3] != KIND_CODE.encode():
        raise ZenginFormatError(
            line, "種別コード", f"{raw[1:3]!r} is not {KIND_CODE} (入出金取引明細)"
        )
    return StatementHeader(
        created=read_yymmdd(raw[4:10], dates, line, "作成日"),
        date_from=read_yymmdd(raw[10:16], dates, line, "勘定日(自)"),
        date_to=read_yymmdd(raw[16:22], dates, line, "勘定日(至)"),
        bank_code=read_code(raw[22:26], line, "銀行コード"),
        bank_name=read_text(raw[26:41], line, "銀行名"),
        branch_code=read_code(raw[41:44], line, "支店コード"),
        branch_name=read_text(raw[44:59], line, "支店名"),
        account_type=read_code(raw[62:63], line, "預金種目"),
        account_number=_account_number(raw[63:73], line),
        account_name=read_text(raw[73:113], line, "口座名"),
        balance_before=_read_balance(raw[113:114], raw[115:129], line, "取引前残高"),
        passbook=raw[114:115].decode(ENCODING, errors="replace"),
        line=line,
    )


def _parse_record(raw: bytes, line: int, dates: DateStyle) -> StatementRecord:
    direction = raw[21:22]
    if direction not in (b"1", b"2"):
        raise ZenginFormatError(line, "入払区分", f"{direction!r} is not 1 (入金) or 2 (出金)")
    amount = read_number(raw[24:36], line, "取引金額")
    payer_code = _optional_code(raw[71:81], line, "振込依頼人コード")
    other = raw[36:48]
    return StatementRecord(
        line=line,
        reference=read_code(raw[1:9], line, "照会番号"),
        transaction_date=read_yymmdd(raw[9:15], dates, line, "勘定日"),
        value_date=read_optional_yymmdd(raw[15:21], dates, line, "起算日"),
        amount=amount if direction == b"1" else -amount,
        transaction_kind=_optional_code(raw[22:24], line, "取引区分"),
        other_bank_amount=0 if other.strip() == b"" else read_number(other, line, "うち他店券金額"),
        exchange_date=read_optional_yymmdd(raw[48:54], dates, line, "交換呈示日"),
        dishonored_date=read_optional_yymmdd(raw[54:60], dates, line, "不渡返還日"),
        bill_kind=_optional_code(raw[60:61], line, "手形・小切手区分"),
        bill_number=_optional_code(raw[61:68], line, "手形・小切手番号"),
        branch_reference=_optional_code(raw[68:71], line, "僚店番号"),
        payer_code="" if payer_code.strip("0") == "" else payer_code,
        payer_name=read_text(raw[81:129], line, "振込依頼人名"),
        remitting_bank=read_text(raw[129:144], line, "仕向銀行名"),
        remitting_branch=read_text(raw[144:159], line, "仕向店名"),
        description=read_text(raw[159:179], line, "摘要内容"),
        edi=read_text(raw[179:199], line, "EDI情報"),
    )


def _parse_trailer(raw: bytes, line: int) -> StatementTrailer:
    count = raw[54:61]
    return StatementTrailer(
        deposit_count=read_number(raw[1:7], line, "入金件数"),
        deposit_total=read_number(raw[7:20], line, "入金額合計"),
        withdrawal_count=read_number(raw[20:26], line, "出金件数"),
        withdrawal_total=read_number(raw[26:39], line, "出金額合計"),
        balance_after=_read_balance(raw[39:40], raw[40:54], line, "取引後残高"),
        record_count=(
            None if count.strip() == b"" else read_number(count, line, "データ・レコード件数")
        ),
        line=line,
    )


@dataclass
class _Sums:
    deposits: int = 0
    deposit_total: int = 0
    withdrawals: int = 0
    withdrawal_total: int = 0
    unreadable: int = 0  # data records that could not be read: their amounts are unknown


def _check_trailer(trailer: StatementTrailer, sums: _Sums) -> list[ZenginFormatError]:
    expected = [
        ("入金件数", trailer.deposit_count, sums.deposits),
        ("入金額合計", trailer.deposit_total, sums.deposit_total),
        ("出金件数", trailer.withdrawal_count, sums.withdrawals),
        ("出金額合計", trailer.withdrawal_total, sums.withdrawal_total),
    ]
    if trailer.record_count is not None:
        expected.append(
            ("データ・レコード件数", trailer.record_count, sums.deposits + sums.withdrawals)
        )
    return trailer_mismatches(trailer.line, expected)


Item = StatementHeader | StatementRecord | StatementTrailer


def _read(
    stream: BinaryIO,
    dates: DateStyle,
    report: Callable[[ZenginFormatError], None],
    errors: list[ZenginFormatError] | None,
) -> Iterator[Item]:
    # What may come next: "header" (the first), "data" (records or the trailer), "group" (a
    # next account's header or the end), "nothing" (after the end).
    state = "header"
    sums = _Sums()
    last_line = 0
    for line, raw in iter_records(stream, RECORD_WIDTH, errors):
        last_line = line
        kind = raw[:1]
        try:
            if kind == b"2" and state == "data":
                record = _parse_record(raw, line, dates)
                if record.amount > 0:
                    sums.deposits += 1
                    sums.deposit_total += record.amount
                else:
                    sums.withdrawals += 1
                    sums.withdrawal_total -= record.amount
                yield record
            elif kind == b"1" and state in ("header", "group"):
                state = "data"
                sums = _Sums()
                yield _parse_header(raw, line, dates)
            elif kind == b"8" and state == "data":
                state = "group"
                trailer = _parse_trailer(raw, line)
                # With a record unread the sums would only repeat its error: not compared.
                if not sums.unreadable:
                    for problem in _check_trailer(trailer, sums):
                        report(problem)
                yield trailer
            elif kind == b"9" and state == "group":
                state = "nothing"
            else:
                report(_misplaced(kind, state, line))
        except ZenginFormatError as problem:
            report(problem)
            if kind == b"2":
                sums.unreadable += 1
            if kind == b"1":
                state = "data"  # a bad header: still read its records to report them all
    if state != "nothing":
        missing = {"header": "header", "data": "trailer", "group": "end"}[state]
        report(ZenginFormatError(last_line + 1, "record", f"the {missing} record is missing"))


_KIND_NAMES = {b"1": "header", b"2": "data", b"8": "trailer", b"9": "end"}
_EXPECTED = {
    "header": "the header",
    "data": "a data record or the trailer",
    "group": "a header or the end",
}


def _misplaced(kind: bytes, state: str, line: int) -> ZenginFormatError:
    name = _KIND_NAMES.get(kind)
    if name is None:
        return ZenginFormatError(line, "データ区分", f"{kind!r} is not a record kind 1, 2, 8 or 9")
    if state == "nothing":
        return ZenginFormatError(line, "データ区分", f"a {name} record after the end record")
    return ZenginFormatError(
        line, "データ区分", f"a {name} record where {_EXPECTED[state]} record should be"
    )


def iter_statement(stream: BinaryIO, *, dates: DateStyle = "wareki") -> Iterator[StatementEntry]:
    """Each transaction of ``stream`` as a ``StatementEntry`` (deposits positive, withdrawals
    negative; ``account`` and ``virtual_account`` from its group's header), as the file is
    read: memory stays flat whatever its size. Validates as it goes and raises
    ``ZenginFormatError`` at the first problem (a trailer's sums when it is reached, a missing
    end record at the end), so apply nothing before the iteration ends."""

    def raise_it(problem: ZenginFormatError) -> None:
        raise problem

    header: StatementHeader | None = None
    for item in _read(stream, dates, raise_it, None):
        if isinstance(item, StatementRecord):
            assert header is not None  # a record only follows a header
            yield item.entry(header)
        elif isinstance(item, StatementHeader):
            header = item


def read_statement_groups(
    stream: BinaryIO | bytes, *, dates: DateStyle = "wareki"
) -> list[StatementFile]:
    """Every account's group of the file, validated whole: structure (header, data records,
    trailer per account, then one end record and nothing after), numeric fields, dates, 入払区分,
    each trailer's counts and sums against its records. Raises ``StatementFileErrors`` with
    every problem found."""
    if isinstance(stream, bytes):
        stream = io.BytesIO(stream)
    errors: list[ZenginFormatError] = []
    groups: list[StatementFile] = []
    header: StatementHeader | None = None
    entries: list[StatementEntry] = []
    for item in _read(stream, dates, errors.append, errors):
        if isinstance(item, StatementRecord):
            if header is not None:
                entries.append(item.entry(header))
        elif isinstance(item, StatementHeader):
            header, entries = item, []
        elif header is not None:
            groups.append(StatementFile(header, entries, item))
    if errors:
        errors.sort(key=lambda error: error.line)
        raise StatementFileErrors(errors)
    return groups


def read_statement_file(stream: BinaryIO | bytes, *, dates: DateStyle = "wareki") -> StatementFile:
    """The statement of one account: ``header, entries, trailer``, validated as
    ``read_statement_groups`` says. A file of several accounts is refused here (read it with
    ``read_statement_groups``) rather than half-read."""
    groups = read_statement_groups(stream, dates=dates)
    if len(groups) != 1:
        raise StatementFileErrors(
            [
                ZenginFormatError(
                    0, "file", f"holds {len(groups)} accounts; read it with read_statement_groups"
                )
            ]
        )
    return groups[0]
