"""全銀 預金口座振替 (direct debit): the request file we send the bank and the result file it
sends back, 120-byte cp932 records (``monosub.formats.zengin`` for what all 全銀 files share).

Layout (``/work/shared/formats/README.md``, the banks' published specifications;
``docs/zengin.md`` for people): a header (kind 1), one data record per debit (kind 2), a
trailer with the counts and sums (kind 8), an end record (kind 9). The result file is the
request with each record's 振替結果コード filled in and the trailer's 振替済/振替不能 figures.

Pure: whether a result answers a request we sent, and which invoice a customer number is, is
the caller's check. ``iter_debit_records`` streams (memory flat whatever the file's size) and
stops at the first problem; ``read_debit_file`` reads a whole file and reports every bad
record at once (``DebitFileErrors``), since the people fixing a file want the full list.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import BinaryIO

from monosub import clock
from monosub.formats.zengin import (
    ENCODING,
    ZenginFileErrors,
    ZenginFormatError,
    digits,
    iter_records,
    read_code,
    read_number,
    read_text,
    trailer_mismatches,
    zengin_text,
)

RECORD_WIDTH = 120
KIND_CODE = "91"  # 種別コード: 預金口座振替
CODE_DIVISION = "0"  # コード区分: JIS (cp932 bytes for half-width kana and ASCII)

# 振替結果コード in a result file (全銀協 預金口座振替 規定).
RESULT_CODES: dict[str, str] = {
    "0": "振替済",
    "1": "資金不足",
    "2": "取引なし",
    "3": "預金者の都合による振替停止",
    "4": "預金口座振替依頼書なし",
    "8": "委託者の都合による振替停止",
    "9": "その他",
}
DEBITED = "0"
# In a request the code is blank, or 0 for banks that ask so.
REQUEST_RESULT_CODES = frozenset({" ", "0"})
ACCOUNT_TYPES: dict[str, str] = {"1": "普通", "2": "当座"}
# 新規コード: 1 the first debit of this account, 2 its details changed, 0 otherwise.
NEW_CODES: dict[str, str] = {"0": "その他", "1": "第1回引落分", "2": "変更分"}

MAX_AMOUNT = 9_999_999_999  # 引落金額 N(10)
MAX_TOTAL = 999_999_999_999  # 合計金額 N(12)
MAX_COUNT = 999_999  # 合計件数 N(6)


@dataclass(frozen=True)
class DebitHeader:
    """The header: who asks (委託者, the consignor code the bank gave us), on which day, and
    our account the money is paid into."""

    consignor_code: str  # 委託者コード, 10 digits
    consignor_name: str  # 委託者名, half-width, 40 bytes
    debit_date: date  # 引落日 (MMDD in the file)
    bank_code: str  # 取引銀行番号, 4 digits
    bank_name: str  # 取引銀行名, 15 bytes
    branch_code: str  # 取引支店番号, 3 digits
    branch_name: str  # 取引支店名, 15 bytes
    account_type: str  # 預金種目: 1 普通, 2 当座
    account_number: str  # 口座番号, 7 digits
    line: int = 1


@dataclass(frozen=True)
class DebitRecord:
    """One debit: the payer's account, the amount, our customer number (the key back to the
    invoice) and, in a result file, what happened (``RESULT_CODES``)."""

    line: int
    bank_code: str  # 引落銀行番号
    bank_name: str
    branch_code: str  # 引落支店番号
    branch_name: str
    account_type: str  # 1 普通, 2 当座
    account_number: str  # 7 digits
    holder_name: str  # 預金者名, half-width 全銀 characters, 30 bytes
    amount: int  # 引落金額, yen
    new_code: str = "0"  # 新規コード
    customer_number: str = ""  # 顧客番号, 20 bytes: maps back to an invoice
    result_code: str = " "  # 振替結果コード

    @property
    def debited(self) -> bool:
        return self.result_code == DEBITED


@dataclass(frozen=True)
class DebitTrailer:
    """Counts and sums of the data records; in a result file also split into debited and
    failed."""

    count: int
    total: int
    debited_count: int = 0
    debited_total: int = 0
    failed_count: int = 0
    failed_total: int = 0
    line: int = 0


@dataclass(frozen=True)
class DebitFile:
    header: DebitHeader
    records: list[DebitRecord]
    trailer: DebitTrailer


class DebitFileErrors(ZenginFileErrors):
    """Every problem found in a debit file (each a ``ZenginFormatError`` with its line)."""

    what = "debit file"


# ---- writing ------------------------------------------------------------------------------


def _header_bytes(header: DebitHeader) -> bytes:
    line = 1
    text = (
        "1"
        + KIND_CODE
        + CODE_DIVISION
        + digits(header.consignor_code, 10, "委託者コード", line=line)
        + zengin_text(header.consignor_name, 40, "委託者名", line=line)
        + f"{header.debit_date.month:02d}{header.debit_date.day:02d}"
        + digits(header.bank_code, 4, "取引銀行番号", line=line)
        + zengin_text(header.bank_name, 15, "取引銀行名", line=line)
        + digits(header.branch_code, 3, "取引支店番号", line=line)
        + zengin_text(header.branch_name, 15, "取引支店名", line=line)
        + _account_type(header.account_type, line)
        + digits(header.account_number, 7, "口座番号", line=line)
        + " " * 17
    )
    return text.encode(ENCODING)


def _account_type(value: str, line: int) -> str:
    if value not in ACCOUNT_TYPES:
        raise ZenginFormatError(line, "預金種目", f"{value!r} is not 1 (普通) or 2 (当座)")
    return value


def _record_bytes(record: DebitRecord, line: int, *, result: bool) -> bytes:
    if not 0 <= record.amount <= MAX_AMOUNT:
        raise ZenginFormatError(line, "引落金額", f"{record.amount} is not 0..{MAX_AMOUNT}")
    if record.new_code not in NEW_CODES:
        raise ZenginFormatError(line, "新規コード", f"{record.new_code!r} is not 0, 1 or 2")
    codes = RESULT_CODES if result else REQUEST_RESULT_CODES
    if record.result_code not in codes:
        raise ZenginFormatError(
            line, "振替結果コード", f"{record.result_code!r} is not one of {''.join(codes)}"
        )
    text = (
        "2"
        + digits(record.bank_code, 4, "引落銀行番号", line=line)
        + zengin_text(record.bank_name, 15, "引落銀行名", line=line)
        + digits(record.branch_code, 3, "引落支店番号", line=line)
        + zengin_text(record.branch_name, 15, "引落支店名", line=line)
        + "    "
        + _account_type(record.account_type, line)
        + digits(record.account_number, 7, "口座番号", line=line)
        + zengin_text(record.holder_name, 30, "預金者名", line=line)
        + f"{record.amount:010d}"
        + record.new_code
        + zengin_text(record.customer_number, 20, "顧客番号", line=line)
        + record.result_code
        + " " * 8
    )
    return text.encode(ENCODING)


def _trailer_bytes(trailer: DebitTrailer, line: int) -> bytes:
    for name, value, limit in (
        ("合計件数", trailer.count, MAX_COUNT),
        ("合計金額", trailer.total, MAX_TOTAL),
    ):
        if value > limit:
            raise ZenginFormatError(line, name, f"{value} does not fit the field (max {limit})")
    text = (
        f"8{trailer.count:06d}{trailer.total:012d}"
        f"{trailer.debited_count:06d}{trailer.debited_total:012d}"
        f"{trailer.failed_count:06d}{trailer.failed_total:012d}" + " " * 65
    )
    return text.encode(ENCODING)


END_RECORD = ("9" + " " * 119).encode(ENCODING)


def iter_debit_file_bytes(
    header: DebitHeader, records: Iterable[DebitRecord], *, result: bool = False
) -> Iterator[bytes]:
    """The file, record by record, each 120 bytes followed by CRLF; the trailer is computed
    from the records (for a result file, split by result code). Streams: writing a million
    debits needs no list of them."""
    yield _header_bytes(header) + b"\r\n"
    count = total = debited_count = debited_total = 0
    line = 1
    for record in records:
        line += 1
        yield _record_bytes(record, line, result=result) + b"\r\n"
        count += 1
        total += record.amount
        if result and record.result_code == DEBITED:
            debited_count += 1
            debited_total += record.amount
    trailer = DebitTrailer(count=count, total=total)
    if result:
        trailer = DebitTrailer(
            count=count,
            total=total,
            debited_count=debited_count,
            debited_total=debited_total,
            failed_count=count - debited_count,
            failed_total=total - debited_total,
        )
    yield _trailer_bytes(trailer, line + 1) + b"\r\n"
    yield END_RECORD + b"\r\n"


def write_debit_file(
    header: DebitHeader, records: Iterable[DebitRecord], *, result: bool = False
) -> bytes:
    """The request file (``result=False``: result codes blank or 0) or a result file (the
    bank's answer, for tests and the local bank) for ``records``. Raises
    ``ZenginFormatError`` naming the line and field of the first value that cannot be written
    (a name too long in bytes, outside the 全銀 characters, an amount out of range)."""
    return b"".join(iter_debit_file_bytes(header, records, result=result))


# ---- reading ------------------------------------------------------------------------------


def _nearest_year(month: int, day: int, today: date) -> date:
    """The date with this month and day nearest ``today`` (a result file for a debit on 12-27
    read on 01-05 is last year's)."""
    candidates = []
    for year in (today.year - 1, today.year, today.year + 1):
        try:
            candidates.append(date(year, month, day))
        except ValueError:
            continue  # 02-29 outside a leap year
    if not candidates:
        raise ValueError(f"{month:02d}-{day:02d} is no date")
    return min(candidates, key=lambda candidate: abs((candidate - today).days))


def _parse_header(raw: bytes, line: int, year: int | None) -> DebitHeader:
    if raw[1:3] != KIND_CODE.encode():
        raise ZenginFormatError(
            line, "種別コード", f"{raw[1:3]!r} is not {KIND_CODE} (預金口座振替)"
        )
    mmdd = raw[54:58]
    if not mmdd.isdigit():
        raise ZenginFormatError(line, "引落日", f"{mmdd!r} is not MMDD")
    month, day = int(mmdd[:2]), int(mmdd[2:])
    try:
        debit_date = (
            date(year, month, day) if year is not None else _nearest_year(month, day, clock.today())
        )
    except ValueError:
        raise ZenginFormatError(line, "引落日", f"{mmdd.decode()} is not a date") from None
    account_type = raw[95:96].decode(ENCODING, errors="replace")
    if account_type not in ACCOUNT_TYPES:
        raise ZenginFormatError(line, "預金種目", f"{account_type!r} is not 1 or 2")
    return DebitHeader(
        consignor_code=read_code(raw[4:14], line, "委託者コード"),
        consignor_name=read_text(raw[14:54], line, "委託者名"),
        debit_date=debit_date,
        bank_code=read_code(raw[58:62], line, "取引銀行番号"),
        bank_name=read_text(raw[62:77], line, "取引銀行名"),
        branch_code=read_code(raw[77:80], line, "取引支店番号"),
        branch_name=read_text(raw[80:95], line, "取引支店名"),
        account_type=account_type,
        account_number=read_code(raw[96:103], line, "口座番号"),
        line=line,
    )


_ACCOUNT_TYPE_BYTES = {b"1": "1", b"2": "2"}
_NEW_CODE_BYTES = {b"0": "0", b"1": "1", b"2": "2"}
_RESULT_BYTES = {code.encode(): code for code in RESULT_CODES}
_REQUEST_BYTES = {code.encode(): code for code in REQUEST_RESULT_CODES}
_ANY_RESULT_BYTES = {**_RESULT_BYTES, **_REQUEST_BYTES}


def _parse_record(raw: bytes, line: int, codes: dict[bytes, str]) -> DebitRecord:
    # The hot path of a million-record result file: codes checked on bytes by dict lookups
    # and isdigit, the record decoded once (half-width kana and ASCII are one byte each in
    # cp932, so byte offsets are character offsets) and the text fields sliced from it.
    account_type = _ACCOUNT_TYPE_BYTES.get(raw[42:43])
    if account_type is None:
        raise ZenginFormatError(line, "預金種目", f"{raw[42:43]!r} is not 1 or 2")
    new_code = _NEW_CODE_BYTES.get(raw[90:91])
    if new_code is None:
        raise ZenginFormatError(line, "新規コード", f"{raw[90:91]!r} is not 0, 1 or 2")
    result_code = codes.get(raw[111:112])
    if result_code is None:
        raise ZenginFormatError(
            line,
            "振替結果コード",
            f"{raw[111:112].decode(ENCODING, errors='replace')!r} is not one of "
            f"{''.join(sorted(codes.values()))}",
        )
    bank_code, branch_code, account_number = raw[1:5], raw[20:23], raw[43:50]
    if not (bank_code.isdigit() and branch_code.isdigit() and account_number.isdigit()):
        for name, value in (
            ("引落銀行番号", bank_code),
            ("引落支店番号", branch_code),
            ("口座番号", account_number),
        ):
            read_code(value, line, name)
    amount = read_number(raw[80:90], line, "引落金額")
    text = _single_byte_text(raw)
    if text is not None:
        bank_name = text[5:20].rstrip(" ")
        branch_name = text[23:38].rstrip(" ")
        holder_name = text[50:80].rstrip(" ")
        customer_number = text[91:111].rstrip(" ")
    else:  # a double-byte character (or none at all): field by field, naming the bad one
        bank_name = read_text(raw[5:20], line, "引落銀行名")
        branch_name = read_text(raw[23:38], line, "引落支店名")
        holder_name = read_text(raw[50:80], line, "預金者名")
        customer_number = read_text(raw[91:111], line, "顧客番号")
    return DebitRecord(
        line,
        bank_code.decode(),
        bank_name,
        branch_code.decode(),
        branch_name,
        account_type,
        account_number.decode(),
        holder_name,
        amount,
        new_code,
        customer_number,
        result_code,
    )


def _single_byte_text(raw: bytes) -> str | None:
    """``raw`` decoded, when every character is one byte (so fields slice by position)."""
    try:
        text = raw.decode(ENCODING)
    except UnicodeDecodeError:
        return None
    return text if len(text) == len(raw) else None


def _parse_trailer(raw: bytes, line: int) -> DebitTrailer:
    return DebitTrailer(
        count=read_number(raw[1:7], line, "合計件数"),
        total=read_number(raw[7:19], line, "合計金額"),
        debited_count=read_number(raw[19:25], line, "振替済件数"),
        debited_total=read_number(raw[25:37], line, "振替済金額"),
        failed_count=read_number(raw[37:43], line, "振替不能件数"),
        failed_total=read_number(raw[43:55], line, "振替不能金額"),
        line=line,
    )


@dataclass
class _Totals:
    count: int = 0
    total: int = 0
    debited_count: int = 0
    debited_total: int = 0
    unreadable: int = 0  # data records that could not be read: their amounts are unknown


def _check_trailer(
    trailer: DebitTrailer, totals: _Totals, result: bool | None
) -> list[ZenginFormatError]:
    """The trailer's figures against the data records: each mismatch names both figures."""
    expected = [
        ("合計件数", trailer.count, totals.count),
        ("合計金額", trailer.total, totals.total),
    ]
    if result:
        failed_count = totals.count - totals.debited_count
        failed_total = totals.total - totals.debited_total
        expected += [
            ("振替済件数", trailer.debited_count, totals.debited_count),
            ("振替済金額", trailer.debited_total, totals.debited_total),
            ("振替不能件数", trailer.failed_count, failed_count),
            ("振替不能金額", trailer.failed_total, failed_total),
        ]
    return trailer_mismatches(trailer.line, expected)


def _read(
    stream: BinaryIO,
    *,
    year: int | None,
    result: bool | None,
    report: Callable[[ZenginFormatError], None],
    errors: list[ZenginFormatError] | None,
) -> Iterator[DebitHeader | DebitRecord | DebitTrailer]:
    """The one reader behind both entry points: ``report`` raises (streaming) or collects."""
    codes = _ANY_RESULT_BYTES if result is None else _RESULT_BYTES if result else _REQUEST_BYTES
    state = "header"  # what may come next: header, data (or trailer), end, nothing
    totals = _Totals()
    last_line = 0
    for line, raw in iter_records(stream, RECORD_WIDTH, errors):
        last_line = line
        kind = raw[:1]
        try:
            if kind == b"2" and state == "data":
                record = _parse_record(raw, line, codes)
                totals.count += 1
                totals.total += record.amount
                if record.result_code == DEBITED:
                    totals.debited_count += 1
                    totals.debited_total += record.amount
                yield record
            elif kind == b"1" and state == "header":
                state = "data"
                yield _parse_header(raw, line, year)
            elif kind == b"8" and state == "data":
                state = "end"
                trailer = _parse_trailer(raw, line)
                # With a record unread the sums would only repeat its error: not compared.
                if not totals.unreadable:
                    for problem in _check_trailer(trailer, totals, result):
                        report(problem)
                yield trailer
            elif kind == b"9" and state == "end":
                state = "nothing"
            else:
                report(_misplaced(kind, state, line))
                if state == "header" and kind in (b"2", b"8"):
                    state = "data"  # no header: still read the records to report them all
        except ZenginFormatError as problem:
            report(problem)
            if kind == b"2":
                totals.unreadable += 1
            if state == "header":
                state = "data"
    if state != "nothing":
        missing = {"header": "header", "data": "trailer", "end": "end"}[state]
        report(ZenginFormatError(last_line + 1, "record", f"the {missing} record is missing"))


_KIND_NAMES = {b"1": "header", b"2": "data", b"8": "trailer", b"9": "end"}


def _misplaced(kind: bytes, state: str, line: int) -> ZenginFormatError:
    name = _KIND_NAMES.get(kind)
    if name is None:
        return ZenginFormatError(line, "データ区分", f"{kind!r} is not a record kind 1, 2, 8 or 9")
    if state == "nothing":
        return ZenginFormatError(line, "データ区分", f"a {name} record after the end record")
    expected = {"header": "the header", "data": "a data record or the trailer", "end": "the end"}
    return ZenginFormatError(
        line, "データ区分", f"a {name} record where {expected[state]} record should be"
    )


def iter_debit_records(
    stream: BinaryIO, *, year: int | None = None, result: bool | None = None
) -> Iterator[DebitHeader | DebitRecord | DebitTrailer]:
    """The header, each data record and the trailer of ``stream``, as they are read: memory
    stays flat from a thousand records to a million. Validates as it goes and raises
    ``ZenginFormatError`` at the first problem (the trailer's sums when it is reached, a
    missing end record at the end), so a caller applies nothing before the iteration ends.

    ``year``: the year of the header's 引落日 (MMDD in the file); by default the date with
    that month and day nearest today. ``result``: True for a result file (codes 0-9 of
    ``RESULT_CODES``), False for a request (blank or 0), None for either.
    """

    def raise_it(problem: ZenginFormatError) -> None:
        raise problem

    return _read(stream, year=year, result=result, report=raise_it, errors=None)


def read_debit_file(
    stream: BinaryIO | bytes, *, year: int | None = None, result: bool
) -> DebitFile:
    """The whole file, validated: one header first, data records, one trailer, one end
    record, nothing after; kinds, numeric fields, result codes; the trailer's counts and sums
    equal the data records'. Raises ``DebitFileErrors`` with every problem found (a bad
    record does not hide the ones after it). ``year`` as in ``iter_debit_records``."""
    if isinstance(stream, bytes):
        stream = io.BytesIO(stream)
    errors: list[ZenginFormatError] = []
    header: DebitHeader | None = None
    trailer: DebitTrailer | None = None
    records: list[DebitRecord] = []
    for item in _read(stream, year=year, result=result, report=errors.append, errors=errors):
        if isinstance(item, DebitRecord):
            records.append(item)
        elif isinstance(item, DebitHeader):
            header = item
        else:
            trailer = item
    if errors:
        errors.sort(key=lambda error: error.line)
        raise DebitFileErrors(errors)
    assert header is not None and trailer is not None  # else an error was reported
    return DebitFile(header=header, records=records, trailer=trailer)
