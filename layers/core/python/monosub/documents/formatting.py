"""How amounts and dates read on Japanese documents (Jinja2 filters; plain functions too)."""

from __future__ import annotations

from datetime import date


def yen(amount: int) -> str:
    """¥ with thousands separators: 39800 → '¥39,800', -8820 → '-¥8,820'."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError(f"yen amounts are int, not {type(amount).__name__}")
    sign = "-" if amount < 0 else ""
    return f"{sign}¥{abs(amount):,}"


MINUS_SIGN = "\u2212"


def signed_yen(amount: int) -> str:
    """Like `yen`, with the typographic minus (U+2212) invoices print: -1234 → '−¥1,234'.

    A hyphen is easy to miss beside '¥' on a discount or adjustment line; the minus sign is
    as wide as a digit."""
    text = yen(amount)
    return MINUS_SIGN + text[1:] if amount < 0 else text


def date_ja(value: date) -> str:
    """A date as Japanese documents write it: 2026-11-02 → '2026年11月2日'."""
    return f"{value.year}年{value.month}月{value.day}日"


def quantity(value: int, unit: str = "") -> str:
    """A quantity with its counter word: (3, '台') → '3台'; thousands separated."""
    return f"{value:,}{unit}"
