"""Bulky attributes stored as one compressed JSON value (binary) instead of nested DynamoDB
maps and lists: a write costs a unit per KB of the item, and lines, ledgers and rows compress
well (Japanese names, repeated keys); a batch read then decodes one value per attribute
instead of hundreds of typed ones. Nothing queries or conditions on what is inside them.
A JSON text value (written by hand, or before packing) is read too."""

from __future__ import annotations

import json
import zlib
from typing import Any

from boto3.dynamodb.types import Binary


def pack(value: Any) -> bytes:
    return zlib.compress(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def unpack(value: Any) -> Any:
    """A packed value decoded (``ValueError`` or ``zlib.error`` if it is not one)."""
    if value is None:
        return None
    if isinstance(value, str):
        return json.loads(value)
    raw = bytes(value) if isinstance(value, Binary) else value  # type: ignore[call-overload]
    return json.loads(zlib.decompress(raw))
