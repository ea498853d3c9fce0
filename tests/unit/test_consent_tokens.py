"""Consent link tokens: opaque, unguessable, signed, expiring; no AWS."""

from __future__ import annotations

import hmac
import re
import string
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monosub.consent import tokens

KEY = b"k" * 32 + b"-unit-test-signing-key"
OTHER_KEY = b"o" * 48
EXPIRES = datetime(2026, 11, 16, 1, 0, tzinfo=UTC)
ALPHABET = string.ascii_letters + string.digits + "-_."


def test_round_trip_gives_back_the_id_and_the_expiry():
    consent_id = tokens.new_consent_id()
    token = tokens.issue(consent_id, EXPIRES, key=KEY)
    verified = tokens.verify(token, key=KEY)
    assert verified == tokens.VerifiedToken(consent_id, EXPIRES)


def test_the_token_is_url_safe_and_carries_only_an_id_an_expiry_and_a_signature():
    consent_id = tokens.new_consent_id()
    token = tokens.issue(consent_id, EXPIRES, key=KEY)
    identifier, expires, signature = token.split(".")
    assert identifier == consent_id
    assert re.fullmatch(r"cns_[a-z2-7]{26}", identifier)
    assert int(expires) == int(EXPIRES.timestamp())
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", signature)  # 256-bit HMAC, base64url
    assert re.fullmatch(r"[A-Za-z0-9._-]+", token) and len(token) <= tokens.MAX_TOKEN_LENGTH


def test_consent_ids_have_128_random_bits():
    ids = {tokens.new_consent_id() for _ in range(5000)}
    assert len(ids) == 5000
    # 26 base32 characters = 130 bits of room for 128 random bits; every character varies.
    for position in range(4, 4 + 25):
        assert len({i[position] for i in ids}) == 32


def test_changing_any_character_of_the_token_is_refused():
    token = tokens.issue(tokens.new_consent_id(), EXPIRES, key=KEY)
    tried = 0
    for position, original in enumerate(token):
        for replacement in ALPHABET:
            if replacement == original:
                continue
            tampered = token[:position] + replacement + token[position + 1 :]
            with pytest.raises(tokens.InvalidToken):
                tokens.verify(tampered, key=KEY)
            tried += 1
    assert tried == len(token) * (len(ALPHABET) - 1)


def test_removing_or_adding_a_character_is_refused():
    token = tokens.issue(tokens.new_consent_id(), EXPIRES, key=KEY)
    variants = [token[:i] + token[i + 1 :] for i in range(len(token))]
    variants += [token + "A", "A" + token, token + ".", token.upper(), token.lower(), ""]
    for variant in variants:
        with pytest.raises(tokens.InvalidToken):
            tokens.verify(variant, key=KEY)


def test_a_later_expiry_cannot_be_written_into_a_token():
    consent_id = tokens.new_consent_id()
    token = tokens.issue(consent_id, EXPIRES, key=KEY)
    identifier, expires, signature = token.split(".")
    extended = f"{identifier}.{int(expires) + 86400 * 365}.{signature}"
    with pytest.raises(tokens.InvalidToken) as refused:
        tokens.verify(extended, key=KEY)
    assert refused.value.reason == "tampered"


def test_another_consents_id_with_this_signature_is_refused():
    token = tokens.issue(tokens.new_consent_id(), EXPIRES, key=KEY)
    _, expires, signature = token.split(".")
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(f"{tokens.new_consent_id()}.{expires}.{signature}", key=KEY)


def test_a_token_signed_with_another_key_is_refused():
    token = tokens.issue(tokens.new_consent_id(), EXPIRES, key=OTHER_KEY)
    with pytest.raises(tokens.InvalidToken) as refused:
        tokens.verify(token, key=KEY)
    assert refused.value.reason == "tampered"


def test_malformed_and_oversized_tokens_are_refused_without_signing():
    for text in ("", "abc", "cns_x.1.y", "a" * 5000, "cns_" + "a" * 26 + ".0123.x" * 3):
        with pytest.raises(tokens.InvalidToken) as refused:
            tokens.verify(text, key=KEY)
        assert refused.value.reason == "malformed"


@given(st.text(max_size=200))
def test_no_arbitrary_text_verifies(text):
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(text, key=KEY)


def test_expiry_at_the_edge_with_a_fixed_clock():
    verified = tokens.verify(tokens.issue(tokens.new_consent_id(), EXPIRES, key=KEY), key=KEY)
    assert not verified.expired(EXPIRES - timedelta(seconds=1))
    assert verified.expired(EXPIRES)  # valid *until* the instant, not at it
    assert verified.expired(EXPIRES + timedelta(seconds=1))


def test_the_signature_is_compared_in_constant_time(monkeypatch):
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(tokens.hmac, "compare_digest", spy)
    token = tokens.issue(tokens.new_consent_id(), EXPIRES, key=KEY)
    tokens.verify(token, key=KEY)
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(token[:-1] + ("A" if token[-1] != "A" else "B"), key=KEY)
    assert len(calls) == 2
    assert calls[0][0] == calls[0][1] == token.rsplit(".", 1)[1].encode()


def test_keys_shorter_than_256_bits_are_refused():
    with pytest.raises(ValueError, match="32 bytes"):
        tokens.issue(tokens.new_consent_id(), EXPIRES, key=b"short")


def test_issue_refuses_what_it_would_not_verify():
    with pytest.raises(ValueError):
        tokens.issue("lead_123", EXPIRES, key=KEY)
    with pytest.raises(ValueError):
        tokens.issue(tokens.new_consent_id(), EXPIRES.replace(tzinfo=None), key=KEY)


def test_the_fingerprint_names_a_token_without_holding_it():
    token = tokens.issue(tokens.new_consent_id(), EXPIRES, key=KEY)
    fingerprint = tokens.fingerprint(token)
    assert re.fullmatch(r"[0-9a-f]{64}", fingerprint)
    assert token not in fingerprint and fingerprint == tokens.fingerprint(token)
