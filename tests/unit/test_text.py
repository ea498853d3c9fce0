"""Normalization keys: one person or company however it was typed (no AWS)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monosub.domain.text import company_key, email_key, fold, phone_digits, phone_key


def full_width(text: str) -> str:
    """The full-width form of printable ASCII (what a Japanese IME types): a → ａ, @ → ＠."""
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


# ---- examples ------------------------------------------------------------------------------


def test_fold_unifies_width_case_and_spacing():
    assert fold("  ＡＢＣ　ｄｅｆ \t ﾀﾞｲｽｹ ") == "abc def ダイスケ"


@pytest.mark.parametrize(
    "typed",
    [
        "taro@example.com",
        "Taro@Example.COM",
        " taro@example.com ",
        "ｔａｒｏ＠ｅｘａｍｐｌｅ．ｃｏｍ",
        "ＴＡＲＯ＠ＥＸＡＭＰＬＥ．ＣＯＭ",
    ],
)
def test_email_key(typed):
    assert email_key(typed) == "taro@example.com"


def test_blank_email_has_no_key():
    assert email_key("   ") is None
    assert email_key(None) is None


@pytest.mark.parametrize(
    "typed",
    [
        "090-1234-5678",
        "09012345678",
        "090 1234 5678",
        "(090) 1234-5678",
        "０９０－１２３４－５６７８",
        "０９０ー１２３４ー５６７８",  # the long-vowel mark typed as a dash
        "+81 90-1234-5678",
        "+81-90-1234-5678",
        "+81 (0)90 1234 5678",
        "＋８１ ９０ １２３４ ５６７８",
        "(+81) 90 1234 5678",
    ],
)
def test_phone_key_japanese_mobile(typed):
    assert phone_key(typed) == "09012345678"


def test_phone_key_keeps_other_countries_as_digits():
    assert phone_key("+1 (415) 555-0100") == "14155550100"
    # 81 without a + is not a country code
    assert phone_digits("81-1234-5678") == "8112345678"


def test_phone_without_digits_has_no_key():
    assert phone_key("---") is None
    assert phone_key(None) is None


@pytest.mark.parametrize(
    "typed",
    [
        "フライク",
        "株式会社フライク",
        "フライク株式会社",
        "株式会社 フライク",
        "㈱フライク",
        "(株)フライク",
        "（株）フライク",
        "（ 株 ）フライク",
        "ﾌﾗｲｸ",
        "ﾌﾗｲｸ㈱",
        "フライク K.K.",
        "フライク KK",
        "フライク Co., Ltd.",
        "フライク・株式会社",
    ],
)
def test_company_key_japanese_legal_forms(typed):
    assert company_key(typed) == "フライク"


@pytest.mark.parametrize(
    "typed",
    [
        "Acme",
        "ACME",
        "Ａｃｍｅ",
        "Acme Inc.",
        "Acme, Inc.",
        "Acme Incorporated",
        "Acme Co., Ltd.",
        "Acme Co.,Ltd.",
        "Acme Corp.",
        "Acme Corporation",
        "Acme Limited",
        "Acme LLC",
        "Acme L.L.C.",
        "Acme K.K.",
        "Acme Kabushiki Kaisha",
        "Acme G.K.",
        "Acme Company",
        "有限会社Acme",
        "合同会社 ACME",
    ],
)
def test_company_key_english_legal_forms(typed):
    assert company_key(typed) == "acme"


def test_company_key_keeps_distinctive_words_and_drops_punctuation():
    assert company_key("Sun & Moon Trading Co., Ltd.") == "sunmoontrading"
    assert company_key("The Coca-Cola Company") == "thecocacola"
    # a legal-form word in the middle of an English name is part of the name
    assert company_key("Co Op Foods") == "coopfoods"


def test_a_name_that_is_only_a_legal_form_has_no_key():
    assert company_key("株式会社") is None
    assert company_key("（株）") is None
    assert company_key("  ") is None


def test_a_legal_form_word_alone_is_kept_as_the_name():
    assert company_key("Company") == "company"
    assert company_key("Inc.") == "inc"


# ---- properties ----------------------------------------------------------------------------

# No per-example deadline: a loaded CI machine must not turn a slow example into a failure.
properties = settings(deadline=None, max_examples=200)

ascii_word = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    min_size=1,
    max_size=12,
)
emails = st.builds(
    lambda local, domain, tld: f"{local}@{domain}.{tld}",
    ascii_word,
    ascii_word,
    st.sampled_from(["com", "jp", "co.jp", "net"]),
)
separators = st.sampled_from(["", "-", " ", "ー", "－", "(", ")"])


@properties
@given(st.text())
def test_fold_is_idempotent(text):
    assert fold(fold(text)) == fold(text)


@properties
@given(st.text())
def test_email_key_is_idempotent(text):
    key = email_key(text)
    assert key is None or email_key(key) == key


@properties
@given(st.text())
def test_phone_key_is_idempotent(text):
    key = phone_key(text)
    assert key is None or (phone_key(key) == key and key.isdigit() and key.isascii())


@properties
@given(st.text())
def test_company_key_is_idempotent(text):
    key = company_key(text)
    assert key is None or company_key(key) == key


@properties
@given(emails, st.data())
def test_full_width_and_half_width_emails_share_a_key(email, data):
    mixed = "".join(
        full_width(ch) if data.draw(st.booleans(), label=f"widen {ch}") else ch for ch in email
    )
    assert email_key(full_width(email)) == email_key(email) == email.lower()
    assert email_key(mixed) == email_key(email.upper()) == email.lower()


@properties
@given(
    st.lists(st.text(alphabet="0123456789", min_size=1, max_size=4), min_size=2, max_size=4),
    separators,
)
def test_full_width_and_half_width_phones_share_a_key(groups, separator):
    phone = "0" + separator.join(groups)
    assert phone_key(full_width(phone)) == phone_key(phone) == "0" + "".join(groups)


@properties
@given(st.text(alphabet="0123456789", min_size=9, max_size=10).filter(lambda d: d[0] != "0"))
def test_plus_81_is_the_leading_zero(national):
    assert phone_key(f"+81 {national}") == phone_key(f"0{national}") == f"0{national}"
    assert phone_key(full_width(f"+81-{national}")) == f"0{national}"


company_names = st.text(
    alphabet=st.sampled_from(
        list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        + list(
            "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワンー"
        )
        + list("山田中村製作所商事電機")
    ),
    min_size=1,
    max_size=15,
)
legal_variants = st.sampled_from(
    [
        "株式会社{}",
        "{}株式会社",
        "株式会社 {}",
        "㈱{}",
        "{}㈱",
        "(株){}",
        "（株）{}",
        "{}（株）",
        "有限会社{}",
        "㈲{}",
        "合同会社{}",
        "{} Co., Ltd.",
        "{} Co.,Ltd.",
        "{} Inc.",
        "{}, Inc.",
        "{} K.K.",
        "{} Corporation",
        "{} Corp.",
        "{} LLC",
    ]
)


@properties
@given(company_names, legal_variants)
def test_legal_form_variants_of_a_company_share_a_key(name, variant):
    assert company_key(variant.format(name)) == company_key(name)


@properties
@given(company_names, legal_variants)
def test_width_and_case_do_not_change_a_company_key(name, variant):
    written = variant.format(name)
    assert company_key(full_width(written)) == company_key(written.upper()) == company_key(name)
