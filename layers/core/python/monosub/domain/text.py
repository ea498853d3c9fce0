"""Text normalization for matching people and companies that were typed differently.

Japanese forms arrive in every width and spelling: ``ｔａｒｏ＠ＥＸＡＭＰＬＥ．ｃｏｍ`` and
``taro@example.com`` are one address, ``+81 90-1234-5678`` and ``０９０ー１２３４ー５６７８`` one
phone, ``株式会社フライク``, ``㈱フライク`` and ``フライク K.K.`` one company. Every function here
returns a *matching key*, never something to display, and is idempotent: a key normalizes to
itself. Pure functions: no AWS, no I/O.
"""

from __future__ import annotations

import re
import unicodedata

# Japanese legal forms, removed wherever they stand (前株 and 後株 alike). After NFKC the
# enclosed ideographs ㈱ ㈲ ㈾ ㈳ ㈴ ㈵ ㈶ become "(株)" "(有)" "(資)" "(社)" "(名)" "(特)" "(財)".
_JAPANESE_LEGAL_FORMS: tuple[str, ...] = (
    "特定非営利活動法人",
    "一般社団法人",
    "一般財団法人",
    "公益社団法人",
    "公益財団法人",
    "社会福祉法人",
    "株式会社",
    "有限会社",
    "合同会社",
    "合資会社",
    "合名会社",
    "医療法人",
    "学校法人",
    "npo法人",
)
_JAPANESE_ABBREVIATIONS = re.compile(r"\(\s*(?:株|有|同|資|名|社|財|特|医|学|福)\s*\)")

# English legal forms, removed as whole words at the end of the name, as many as stand there
# ("Co., Ltd." is two). Each entry is the word sequence left after punctuation is dropped.
_ENGLISH_LEGAL_SUFFIXES: tuple[tuple[str, ...], ...] = (
    ("inc",),
    ("incorporated",),
    ("corp",),
    ("corporation",),
    ("co",),
    ("company",),
    ("ltd",),
    ("limited",),
    ("llc",),
    ("l", "l", "c"),
    ("kk",),
    ("k", "k"),
    ("gk",),
    ("g", "k"),
    ("kabushiki", "kaisha"),
    ("godo", "kaisha"),
    ("plc",),
    ("gmbh",),
)

# The hyphen and what Japanese input methods type for it (after NFKC, which already turns the
# full-width hyphen-minus into "-"): dashes, the minus sign and the long-vowel mark.
DASHES = "-‐‑‒–—―−ー"

# What people type inside phone numbers besides digits (after NFKC), including the dashes and
# the long-vowel mark Japanese IMEs produce.
PHONE_SEPARATORS = frozenset(" +()./" + DASHES)


def nfkc(text: str) -> str:
    """Unicode NFKC: full-width ASCII becomes half-width, half-width katakana full-width."""
    return unicodedata.normalize("NFKC", text)


def hyphens(text: str) -> str:
    """Every dash of ``DASHES`` written as the ASCII hyphen ``-``."""
    return "".join("-" if ch in DASHES else ch for ch in text)


def fold(text: str) -> str:
    """NFKC (full-width and half-width forms become one), case folded, whitespace collapsed."""
    folded = nfkc(nfkc(text).casefold())
    return " ".join(folded.split())


def email_key(email: str | None) -> str | None:
    """The matching key of an email address: folded, no whitespace; None when blank."""
    if email is None:
        return None
    key = nfkc("".join(fold(email).split()))  # NFKC again: spaces held combining marks apart
    return key or None


def phone_digits(phone: str) -> str:
    """The digits of a phone number; a Japanese ``+81`` number is written with its leading 0.

    ``+81 90-1234-5678``, ``+81 (0)90 1234 5678`` and ``０９０ー１２３４ー５６７８`` all give
    ``09012345678``.
    """
    text = nfkc(phone)
    digits = "".join(ch for ch in text if ch.isdigit() and ch.isascii())
    international = text.lstrip(" (").startswith("+")
    if international and digits.startswith("81"):
        national = digits[2:]
        return national if national.startswith("0") else "0" + national
    return digits


def phone_key(phone: str | None) -> str | None:
    """The matching key of a phone number (its digits); None when it has no digits."""
    if phone is None:
        return None
    return phone_digits(phone) or None


def company_key(company: str | None) -> str | None:
    """The matching key of a company name: folded, legal forms and punctuation removed.

    None when nothing distinctive is left (a name that is only a legal form).
    """
    if company is None:
        return None
    text = _remove_japanese_legal_forms(_JAPANESE_ABBREVIATIONS.sub(" ", fold(company)), " ")
    words = _words(text)
    stripped = True
    while stripped:
        stripped = False
        for suffix in _ENGLISH_LEGAL_SUFFIXES:
            if len(words) > len(suffix) and tuple(words[-len(suffix) :]) == suffix:
                del words[-len(suffix) :]
                stripped = True
    # Joining the words can bring a legal form together again ("株式 会社"): remove once more.
    key = _remove_japanese_legal_forms("".join(words), "")
    return key or None


def _words(text: str) -> list[str]:
    """Words of a folded text: punctuation, symbols and whitespace separate them."""
    separated = "".join(" " if unicodedata.category(ch)[0] in "PSZC" else ch for ch in text)
    return separated.split()


def _remove_japanese_legal_forms(text: str, replacement: str) -> str:
    """Remove every Japanese legal form until none is left (a removal can join a new one, or
    bring a combining mark next to a letter, hence NFKC each round)."""
    previous = None
    while previous != text:
        previous = text
        for form in _JAPANESE_LEGAL_FORMS:
            text = text.replace(form, replacement)
        text = nfkc(text)
    return text
