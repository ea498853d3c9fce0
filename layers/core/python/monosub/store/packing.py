"""Bulky attributes stored as one compressed JSON value (binary) instead of nested DynamoDB
maps and lists: a write costs a unit per KB of the item, and lines, ledgers and rows compress
well (Japanese names, repeated keys); a batch read then decodes one value per attribute
instead of hundreds of typed ones. Nothing queries or conditions on what is inside them.

Values are written as ``0x01`` + a raw DEFLATE stream primed with ``DICTIONARY``: the keys
and words every packed value repeats, so even a short value (an invoice's ten lines) need
not spell them out once before it can refer back to them. Ten invoice lines took 400 bytes as
a zlib stream and take ≈300 this way: with the rest of the invoice, under 1 KB (one write
unit, not two). Read, a value written before (a zlib stream, first byte 0x78) and a JSON
text value (written by hand, or before packing) are decoded too.

``DICTIONARY`` is part of the stored format: values written with it can only be read with
it, byte for byte. A better dictionary needs a new first byte (and this one kept)."""

from __future__ import annotations

import json
import zlib
from typing import Any

from boto3.dynamodb.types import Binary

PRIMED = b"\x01"
# Keys and words of the packed values (invoice lines and taxes, components, ledgers, revenue
# rows, readings), the most frequent last (DEFLATE refers back more cheaply to what is near).
DICTIONARY = (
    '"given_back","give_backs","invoice_id","at","lines","service_month","days",'
    '"readings","reading","previous","meter","serial","returned_on","changes","number",'
    '"effective","reason","by","starts","ends","kind","sku","unit_monthly","campaign",'
    '"discount","applies_to_sku","first_month","tiers","up_to","price","usage",'
    '"rate":10,"taxable":,"tax":,'
    '{"contract_id":"contract_","component":"c1.01","month":"2026-11","name":"",'
    '"period":"年月日〜月日（日割 /日）","quantity":1,"unit":"台","unit_price":,"amount":,'
    '"prorated":false,"tax_rate":10,"adjustment":false},'
    '{"contract_id":"contract_","component":"t1.01","month":"2026-12","name":"",'
    '"period":"年月分","quantity":1,"unit":"式","unit_price":,"amount":,'
    '"prorated":false,"tax_rate":10,"adjustment":false}'
).encode()


def pack(value: Any) -> bytes:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15, zdict=DICTIONARY)
    return PRIMED + compressor.compress(text) + compressor.flush()


def unpack(value: Any) -> Any:
    """A packed value decoded (``ValueError`` or ``zlib.error`` if it is not one)."""
    if value is None:
        return None
    if isinstance(value, str):
        return json.loads(value)
    raw = bytes(value) if isinstance(value, Binary) else value  # type: ignore[call-overload]
    if raw[:1] == PRIMED:
        decompressor = zlib.decompressobj(-15, zdict=DICTIONARY)
        text = decompressor.decompress(raw[1:]) + decompressor.flush()
        if not decompressor.eof:
            raise ValueError("a packed value was cut short")
        return json.loads(text)
    return json.loads(zlib.decompress(raw))
