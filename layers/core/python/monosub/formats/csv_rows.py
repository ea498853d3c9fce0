"""Reading partner CSV files: encoding, header check, rows with their line numbers."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

from monosub.intake.kinds import FileRejected


@dataclass(frozen=True)
class CsvRow:
    line: int  # physical line in the file, the header being line 1
    values: dict[str, str]


def decode(data: bytes, encodings: Sequence[str]) -> str:
    """Decode with the first encoding that fits; UTF-8 with or without BOM, or cp932."""
    for encoding in encodings:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise FileRejected("undecodable", f"the file is not valid {' or '.join(encodings)} text")


def read_csv(
    data: bytes,
    *,
    required: Sequence[str],
    optional: Sequence[str] = (),
    encodings: Sequence[str] = ("utf-8-sig", "cp932"),
) -> list[CsvRow]:
    text = decode(data, encodings)
    if not text.strip():
        raise FileRejected("empty_file", "the file is empty")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise FileRejected("empty_file", "the file has no header row") from None
    except csv.Error as error:
        raise FileRejected("malformed_csv", f"line 1: {error}") from None
    missing = [c for c in required if c not in header]
    if missing:
        raise FileRejected(
            "missing_columns", f"the header lacks the column(s): {', '.join(missing)}"
        )
    unknown = [c for c in header if c not in required and c not in optional]
    if unknown:
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
            if len(values) != len(header):
                rows.append(
                    CsvRow(line, {"__error__": f"{len(values)} fields, expected {len(header)}"})
                )
                continue
            rows.append(CsvRow(line, {h: v.strip() for h, v in zip(header, values, strict=True)}))
    except csv.Error as error:
        raise FileRejected("malformed_csv", f"line {line}: {error}") from None
    if not rows:
        raise FileRejected("empty_file", "the file has a header but no rows")
    return rows
