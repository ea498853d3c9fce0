"""Identifiers (``monosub.ids``)."""

from __future__ import annotations

import base64
import hashlib
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from monosub.ids import derived_id, new_id

CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
ID = re.compile(r"^(?P<prefix>.+)_(?P<body>[0-9a-hjkmnp-tv-z]{16})$")


def body(identifier: str, prefix: str) -> str:
    assert identifier.startswith(prefix + "_")
    rest = identifier[len(prefix) + 1 :]
    assert len(rest) == 16
    assert set(rest) <= set(CROCKFORD)
    return rest


def crockford(data: bytes) -> str:
    """Independent encoding: RFC 4648 base32 (big-endian 5-bit groups), Crockford letters."""
    rfc = base64.b32encode(data).decode()
    return rfc.translate(str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", CROCKFORD))


def test_the_alphabet_is_crockford_lower_case() -> None:
    assert len(CROCKFORD) == 32
    assert not set("ilou") & set(CROCKFORD)


def test_new_id_format() -> None:
    identifier = new_id("lead")
    match = ID.match(identifier)
    assert match
    assert match.group("prefix") == "lead"
    body(identifier, "lead")


def test_new_ids_are_unique_and_use_the_whole_alphabet() -> None:
    ids = [new_id("run") for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    bodies = [body(i, "run") for i in ids]
    assert set("".join(bodies)) == set(CROCKFORD)
    # the first character carries 5 full bits too (80 bits = 16 x 5)
    assert len({b[0] for b in bodies}) == 32


def test_derived_id_is_deterministic_and_known() -> None:
    key = "partner-a/2026-04-01/leads.csv"
    assert derived_id("run", key) == derived_id("run", key)
    digest = hashlib.sha256(key.encode()).digest()[:10]
    assert derived_id("run", key) == "run_" + crockford(digest)


def test_derived_id_known_value() -> None:
    # sha256("")[:10] = e3b0c44298fc1c149afb
    assert crockford(bytes.fromhex("e3b0c44298fc1c149afb")) == "werc8gmrzge196qv"
    assert derived_id("x", "") == "x_werc8gmrzge196qv"


def test_derived_id_depends_on_the_prefix_only_in_the_prefix() -> None:
    a, b = derived_id("lead", "k"), derived_id("account", "k")
    assert a.split("_", 1)[1] == b.split("_", 1)[1]
    assert a != b


@settings(max_examples=200, deadline=None)
@given(prefix=st.from_regex(r"[a-z]{1,8}", fullmatch=True), key=st.text())
def test_derived_id_format(prefix: str, key: str) -> None:
    identifier = derived_id(prefix, key)
    body(identifier, prefix)
    assert identifier == derived_id(prefix, key)
    expected = crockford(hashlib.sha256(key.encode("utf-8")).digest()[:10])
    assert identifier == f"{prefix}_{expected}"


@settings(max_examples=300, deadline=None)
@given(keys=st.lists(st.text(), min_size=2, max_size=2, unique=True))
def test_different_keys_give_different_ids(keys: list[str]) -> None:
    first, second = keys
    assert derived_id("lead", first) != derived_id("lead", second)


@settings(max_examples=50, deadline=None)
@given(prefix=st.from_regex(r"[a-z]{1,8}", fullmatch=True))
def test_new_id_format_any_prefix(prefix: str) -> None:
    first, second = new_id(prefix), new_id(prefix)
    body(first, prefix)
    body(second, prefix)
    assert first != second
