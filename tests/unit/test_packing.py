"""Packed attributes: anything JSON survives a round trip; values written before (zlib) and
JSON text are still read; a damaged value is refused, never read as something else."""

from __future__ import annotations

import json
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monosub.store.packing import PRIMED, pack, unpack

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


@given(json_values)
def test_every_json_value_survives_packing(value):
    packed = pack(value)
    assert packed[:1] == PRIMED
    assert unpack(packed) == value


@given(json_values)
def test_values_packed_before_and_json_text_are_read(value):
    text = json.dumps(value, ensure_ascii=False)
    assert unpack(zlib.compress(text.encode())) == value
    assert unpack(text) == value


def test_invoice_lines_pack_smaller_than_before():
    lines = [
        {
            "contract_id": "contract_8k3m9q2x4p8r0t1v",
            "component": f"t1.{n:02d}",
            "month": "2026-11",
            "name": f"録画プラン オプション{n}",
            "period": "2026年11月分",
            "quantity": 1,
            "unit": "台",
            "unit_price": 1000 + 37 * n,
            "amount": 1000 + 37 * n,
            "prorated": False,
            "tax_rate": 10,
            "adjustment": False,
        }
        for n in range(10)
    ]
    before = zlib.compress(json.dumps(lines, ensure_ascii=False, separators=(",", ":")).encode())
    assert len(pack(lines)) < 0.8 * len(before)


def test_a_damaged_value_is_refused():
    packed = pack({"lines": list(range(100))})
    with pytest.raises((ValueError, zlib.error)):
        unpack(packed[:-5])
    with pytest.raises((ValueError, zlib.error)):
        unpack(b"\x02" + packed[1:])
