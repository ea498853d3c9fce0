"""Reading partner CSV files: encoding, header check, rows with their line numbers."""

from __future__ import annotations

import codecs
import csv
import io
import re
from array import array
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, BinaryIO, Literal, TypeVar

from monosub.domain.text import nfkc
from monosub.intake.kinds import FileRejected, RowError


@dataclass(frozen=True)
class CsvRow:
    line: int  # physical line in the file, the header being line 1
    values: dict[str, str]


def decode(data: bytes, encodings: Sequence[str]) -> str:
    """Decode with the first encoding that fits; UTF-8 with or without BOM, or cp932.

    When cp932 is tried, UTF-16 (what Excel writes as "Unicode text") and binary files are
    refused up front: cp932 maps almost every byte to some character, so they would decode
    as garbage and be reported as a wrong header instead of a wrong encoding.
    """
    if "cp932" in encodings:
        refuse_utf16_or_binary(data, encodings)
    for encoding in encodings:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise FileRejected("undecodable", f"the file is not valid {' or '.join(encodings)} text")


def refuse_utf16_or_binary(head: bytes, encodings: Sequence[str]) -> None:
    """Raise ``FileRejected`` when ``head`` (the file, or its first bytes) is UTF-16 or binary."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in head:
        raise FileRejected(
            "undecodable",
            "the file is UTF-16 or binary, not text in "
            f"{' or '.join(encodings)}: save it as CSV (UTF-8) or CSV (Shift_JIS/cp932)",
        )


def read_csv(
    data: bytes,
    *,
    required: Sequence[str],
    optional: Sequence[str] = (),
    encodings: Sequence[str] = ("utf-8-sig", "cp932"),
    aliases: Mapping[str, str] | None = None,
    ignore_unknown: bool = False,
    max_rows: int | None = None,
) -> list[CsvRow]:
    """The file's non-blank rows, each with its physical line and its values by column.

    Header cells are trimmed and lower-cased, then ``aliases`` (header -> column, e.g.
    ``シリアル番号`` -> ``serial``) name the column. A column named twice is refused (which
    value would count?). Columns that are neither required nor optional are refused, or
    with ``ignore_unknown`` left out of the values (a partner's file with columns of its
    own). A row with the wrong number of fields comes back as ``{"__error__": message}``.
    More than ``max_rows`` rows refuse the file before the rest is read.
    """
    text = decode(data, encodings)
    if not text.strip():
        raise FileRejected("empty_file", "the file is empty")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        cells = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise FileRejected("empty_file", "the file has no header row") from None
    except csv.Error as error:
        raise FileRejected("malformed_csv", f"line 1: {error}") from None
    header = [(aliases or {}).get(h, h) for h in cells]
    missing = [c for c in required if c not in header]
    if missing:
        raise FileRejected(
            "missing_columns", f"the header lacks the column(s): {', '.join(missing)}"
        )
    known = {*required, *optional}
    twice = sorted({c for c in header if c in known and header.count(c) > 1})
    if twice:
        raise FileRejected(
            "duplicate_columns",
            "the header names the column(s) more than once: "
            + "; ".join(f"{c} ({', '.join(_named(c, cells, header))})" for c in twice),
        )
    unknown = [c for c in header if c not in known]
    if unknown and not ignore_unknown:
        raise FileRejected("unknown_columns", f"unexpected column(s): {', '.join(unknown)}")
    rows: list[CsvRow] = []
    line = 1
    try:
        while True:
            line = reader.line_num + 1  # where the next record starts
            values = next(reader, None)
            if values is None:
                break
            if not any(v.strip() for v in values):
                continue
            if max_rows is not None and len(rows) >= max_rows:
                raise FileRejected(
                    "too_many_rows",
                    f"the file has more than {max_rows:,} rows: split it and drop the parts",
                )
            if len(values) != len(header):
                rows.append(
                    CsvRow(line, {"__error__": f"{len(values)} fields, expected {len(header)}"})
                )
                continue
            rows.append(
                CsvRow(
                    line,
                    {h: v.strip() for h, v in zip(header, values, strict=True) if h in known},
                )
            )
    except csv.Error as error:
        raise FileRejected("malformed_csv", f"line {line}: {error}") from None
    if not rows:
        raise FileRejected("empty_file", "the file has a header but no rows")
    return rows


def _named(column: str, cells: Sequence[str], header: Sequence[str]) -> list[str]:
    """The header cells that name ``column`` (itself or an alias of it)."""
    return [cell for cell, name in zip(cells, header, strict=True) if name == column]


# ---- cell values ---------------------------------------------------------------------------

_DATE = re.compile(r"(\d{4})([-/])(\d{1,2})\2(\d{1,2})")


def read_date(value: str) -> date:
    """A calendar date as people and spreadsheets write it in a cell.

    ``2026-04-01``, ``2026/04/01``, ``2026/4/1`` (Excel's Japanese locale) and full-width
    ``２０２６／０４／０１`` are all 1 April 2026. Raises ``ValueError`` with a message for the
    person who typed it.
    """
    text = nfkc(value).strip()
    match = _DATE.fullmatch(text) if text.isascii() else None
    if match is None:
        raise ValueError("a date is written YYYY-MM-DD or YYYY/MM/DD")
    year, _, month, day = match.groups()
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        raise ValueError(f"{text} is not a day of the calendar") from None


# ---- streaming: files too large to hold ---------------------------------------------------

_Field = TypeVar("_Field", bound=str)
StreamEncoding = str  # "utf-8" (BOM or not) or "cp932"
_HEAD_BYTES = 4096


class _Prefixed(io.RawIOBase):
    """``head`` then the rest of ``stream``: the bytes read to sniff the file are not lost,
    whatever the stream (a file, ``BytesIO``, an S3 body without ``peek``)."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        super().__init__()
        self._head = memoryview(head)
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._head:
            size = min(len(buffer), len(self._head))
            buffer[:size] = self._head[:size]
            self._head = self._head[size:]
            return size
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def open_text(stream: BinaryIO, encoding: StreamEncoding) -> io.TextIOWrapper:
    """``stream`` as text for ``csv.reader``, decoded as it is read (memory stays flat).

    ``utf-8`` drops a BOM. A ``cp932`` file that starts with a UTF-8 BOM is what Excel saves
    as "CSV UTF-8": it is read as UTF-8. UTF-16 and binary files are refused up front (cp932
    would decode them as garbage and report a wrong header instead of a wrong encoding).
    Bytes that are not valid in the encoding further on surface as ``UnicodeDecodeError``
    while reading; ``stream_records`` turns that into ``FileRejected``.
    """
    head = stream.read(_HEAD_BYTES)
    refuse_utf16_or_binary(head, (encoding,))
    codec = "utf-8-sig" if encoding == "utf-8" or head.startswith(codecs.BOM_UTF8) else encoding
    raw = io.BufferedReader(_Prefixed(head, stream), buffer_size=1 << 16)
    return io.TextIOWrapper(raw, encoding=codec, newline="")


def header_columns(
    header: Sequence[str], fields: Mapping[_Field, Sequence[str]], required: Collection[str]
) -> dict[_Field, int]:
    """The column index of each field in ``header``: ``fields`` names, for each field, the
    headers that may hold it in order of preference (the first one present is read).

    Headers are compared trimmed and case-insensitively. Raises ``FileRejected`` when a
    required field has none of its headers (``missing_columns``) or a header that is read
    stands twice (``duplicate_columns``: which value would count?).
    """
    cells = [cell.strip().lower() for cell in header]
    columns: dict[_Field, int] = {}
    missing, twice = [], []
    for name, candidates in fields.items():
        for candidate in candidates:
            wanted = candidate.strip().lower()
            if wanted in cells:
                if cells.count(wanted) > 1:
                    twice.append(candidate)
                columns[name] = cells.index(wanted)
                break
        else:
            if name in required:
                missing.append(" or ".join(candidates))
    if missing:
        raise FileRejected(
            "missing_columns", f"the header lacks the column(s): {', '.join(missing)}"
        )
    if twice:
        raise FileRejected(
            "duplicate_columns", f"the header names the column(s) more than once: {twice}"
        )
    return columns


def stream_records(
    text: io.TextIOWrapper, *, delimiter: str = ","
) -> tuple[list[str], Iterator[tuple[int, list[str]] | RowError]]:
    """The header row of ``text`` and an iterator over the records after it, each with the
    physical line it starts on (the header being line 1), read as they are needed.

    Blank records are skipped; a record with another number of fields than the header is a
    ``RowError``. A file without a header raises ``FileRejected("empty_file")`` here, a file
    with no record after it when the iterator ends; a quoting error (``malformed_csv``) or
    bytes the encoding does not have (``undecodable``) raise when they are reached.
    """
    reader = csv.reader(text, delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise FileRejected("empty_file", "the file is empty") from None
    except csv.Error as error:
        raise FileRejected("malformed_csv", f"line 1: {error}") from None
    except UnicodeDecodeError:
        raise FileRejected("undecodable", f"the file is not valid {text.encoding} text") from None
    return header, _records(reader, len(header), text.encoding)


def _records(reader: Any, width: int, encoding: str) -> Iterator[tuple[int, list[str]] | RowError]:
    line = reader.line_num  # where the header ends
    records = 0
    try:
        for values in reader:
            start, line = line + 1, reader.line_num
            if not any(values):
                continue  # a blank line, or only empty cells (Excel's trailing rows)
            records += 1
            if len(values) != width:
                yield RowError(start, f"{len(values)} fields, expected {width}")
                continue
            yield start, values
    except csv.Error as error:
        raise FileRejected("malformed_csv", f"line {line + 1}: {error}") from None
    except UnicodeDecodeError:
        raise FileRejected(
            "undecodable", f"the file is not valid {encoding} text (after line {line})"
        ) from None
    if not records:
        raise FileRejected("empty_file", "the file has a header but no rows")


# ---- amounts of yen ------------------------------------------------------------------------

AmountStyle = Literal["integer", "decimal", "comma"]
# re.ASCII: ``\d`` would otherwise match full-width and other scripts' digits, which int()
# also reads; an amount is written in ASCII digits.
_INTEGER = re.compile(r"[+-]?\d+", re.ASCII)
_DECIMAL = re.compile(r"[+-]?\d+(?:\.\d+)?", re.ASCII)
_COMMA = re.compile(r"[+\-▲△]?(?:\d{1,3}(?:,\d{3})+|\d+)", re.ASCII)


class _YenReader:
    """Integer yen from a cell, as one amount style writes it; ``ValueError`` otherwise."""

    def __init__(self, pattern: re.Pattern[str], example: str) -> None:
        self.pattern = pattern
        self.example = example

    def __call__(self, text: str) -> int:
        # The common case first: plain ASCII digits. int() alone would also take "1_000",
        # " 12" or non-ASCII digits, hence the isascii/isdigit check before it.
        if text.isascii() and (text.isdigit() or (text[0] == "-" and text[1:].isdigit())):
            return int(text)
        if not self.pattern.fullmatch(text):
            raise ValueError(f"an amount is whole yen written as {self.example}")
        sign = -1 if text[0] in "-▲△" else 1
        digits = text.lstrip("+-▲△").replace(",", "")
        if "." in digits:
            try:
                value = Decimal(digits)
            except InvalidOperation:
                raise ValueError(f"an amount is whole yen written as {self.example}") from None
            if value != value.to_integral_value():
                raise ValueError(f"{text} is not whole yen: JPY has no decimals")
            return sign * int(value)
        return sign * int(digits)


_YEN_READERS: dict[str, _YenReader] = {
    "integer": _YenReader(_INTEGER, "1234 or -1234"),
    "decimal": _YenReader(_DECIMAL, "1234, 1234.00 or -1234"),
    "comma": _YenReader(_COMMA, "1,234, 1234, -1,234 or ▲1,234"),
}


def yen_reader(style: AmountStyle) -> Callable[[str], int]:
    """Reads integer yen from a trimmed cell written in ``style``: ``integer`` (``1234``,
    ``-1234``), ``decimal`` (also ``1234.00``: JPY has no decimals, ``1234.5`` is refused),
    ``comma`` (also ``1,234`` and the ``▲``/``△`` minus of Japanese accounting). Raises
    ``ValueError`` with a message for the person who wrote the file. Never a float."""
    return _YEN_READERS[style]


# ---- ids seen ------------------------------------------------------------------------------


class SeenIds:
    """The ids read so far in a file (transactions, bank references), to find one listed
    twice without holding them: 64-bit fingerprints (Python's keyed SipHash of the id) in an
    open-addressing table of two arrays, 12 bytes a slot, at most half full, instead of
    ~140 bytes an id in a ``dict``. ``add`` returns the line of an earlier id
    with the same fingerprint, or 0.

    Two different ids share a fingerprint with odds of about n²/2⁶⁵ (1 in 37 million for a
    million-row file); the error then names both lines, for a person to look at.
    """

    def __init__(self, capacity: int = 1 << 12) -> None:
        self._keys = array("q", [0]) * capacity
        self._lines = array("i", [0]) * capacity
        self._mask = capacity - 1
        self._size = 0

    def add(self, identifier: str, line: int) -> int:
        key = hash(identifier) or 1  # 0 marks an empty slot
        keys, mask = self._keys, self._mask
        slot = key & mask
        while True:
            found = keys[slot]
            if found == 0:
                break
            if found == key:
                return self._lines[slot]
            slot = (slot + 1) & mask
        keys[slot] = key
        self._lines[slot] = line
        self._size += 1
        if 2 * self._size > mask:
            self._grow()
        return 0

    def _grow(self) -> None:
        old_keys, old_lines = self._keys, self._lines
        capacity = 2 * len(old_keys)
        self._keys = array("q", [0]) * capacity
        self._lines = array("i", [0]) * capacity
        self._mask = mask = capacity - 1
        keys, lines = self._keys, self._lines
        for key, line in zip(old_keys, old_lines, strict=True):
            if key:
                slot = key & mask
                while keys[slot]:
                    slot = (slot + 1) & mask
                keys[slot] = key
                lines[slot] = line
