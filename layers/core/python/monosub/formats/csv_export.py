"""CSV for people to open in a spreadsheet: UTF-8 with a BOM, CRLF, no formulas.

- **BOM**: Excel reads a CSV without one in the ANSI code page (cp932 on Japanese Windows),
  which turns UTF-8 Japanese into mojibake; with ``U+FEFF`` first it reads UTF-8.
- **No formulas** (CSV injection): a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or
  a carriage return (after any leading spaces) is a formula to a spreadsheet; such a text
  cell gets a leading ``'``, which the spreadsheet shows as text and does not run. The
  full-width forms (``＝`` …) are guarded too, since Japanese Excel takes a typed ``＝`` as a
  formula: the cost is a ``'`` before such rare text. Numbers (``int``) are written as they
  are.
- **Size**: a file is bounded by rows and by the size it takes inside the Lambda response
  (``Sheet``), so an export answers in one response or says where to go on.

Pure: no AWS.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence

BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")

Cell = str | int | None


def cell(value: Cell) -> str:
    """One cell's text: empty for None, a number as it is, text that a spreadsheet would
    take for a formula (after any leading spaces) behind a ``'``."""
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    formula = value.startswith(FORMULA_STARTS) or value.lstrip().startswith(FORMULA_STARTS)
    return "'" + value if formula else value


def line(values: Sequence[Cell]) -> str:
    """One CSV record, quoted where needed (commas, quotes, line breaks), ending in CRLF."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow([cell(v) for v in values])
    return buffer.getvalue()


def wire_size(text: str) -> int:
    """The bytes ``text`` can take inside a JSON response (the Lambda payload limit is
    counted there): escaped as JSON with ASCII only, the most room it can take (a Japanese
    character is ``\\uXXXX``, six bytes; a quote or a line break two)."""
    return len(json.dumps(text)) - 2


class Sheet:
    """A CSV file being filled, up to ``max_rows`` rows and ``max_wire_bytes`` in the
    response; the header row is written first."""

    def __init__(self, columns: Sequence[str], *, max_rows: int, max_wire_bytes: int) -> None:
        self.max_rows = max_rows
        self.max_wire_bytes = max_wire_bytes
        self._lines = [BOM + line(columns)]
        self._size = wire_size(self._lines[0])
        self.rows = 0

    @property
    def room(self) -> int:
        """How many more rows may be added."""
        return self.max_rows - self.rows

    def add_all(self, rows: Iterable[Sequence[Cell]]) -> bool:
        """Add every row, or none when they would not all fit (False)."""
        lines = [line(row) for row in rows]
        size = sum(wire_size(text) for text in lines)
        if len(lines) > self.room or self._size + size > self.max_wire_bytes:
            return False
        self._lines += lines
        self._size += size
        self.rows += len(lines)
        return True

    def text(self) -> str:
        return "".join(self._lines)
