"""Deal rules: the pipeline's stages and the moves between them, and what an order must say
(SKUs, quantities, a Japanese delivery address, a delivery date that is not in the past).

Pure: plain values in, plain values out or a domain error; the business date ("today") is
passed in by the caller, who reads it from ``monosub.clock``. Nothing here touches AWS.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from typing import Literal, get_args

from monosub.domain.text import DASHES, PHONE_SEPARATORS, hyphens, nfkc, phone_digits
from monosub.errors import Conflict, ValidationFailed

DealStage = Literal["prospecting", "qualification", "proposal", "negotiation", "won", "lost"]

# The open stages, in the order a deal normally moves through them.
OPEN_STAGES: tuple[DealStage, ...] = ("prospecting", "qualification", "proposal", "negotiation")
FINAL_STAGES: tuple[DealStage, ...] = ("won", "lost")
STAGES: tuple[DealStage, ...] = get_args(DealStage)


def allowed_next(stage: DealStage) -> tuple[DealStage, ...]:
    """The stages a deal in ``stage`` may move to, forward first.

    Forward one step (negotiation → won), back one step while open (proposal →
    qualification), and lost from any open stage. Won and lost are final: nothing.
    """
    if stage in FINAL_STAGES:
        return ()
    position = OPEN_STAGES.index(stage)
    moves: list[DealStage] = []
    moves.append(OPEN_STAGES[position + 1] if position + 1 < len(OPEN_STAGES) else "won")
    if position > 0:
        moves.append(OPEN_STAGES[position - 1])
    moves.append("lost")
    return tuple(moves)


def check_transition(deal_id: str, current: DealStage, to: DealStage) -> None:
    """Refuse (``Conflict``, 409) a move the pipeline does not allow, naming the allowed ones."""
    allowed = allowed_next(current)
    if to in allowed:
        return
    if current in FINAL_STAGES:
        message = f"deal {deal_id} is {current}: a {current} deal does not change stage again"
    else:
        message = f"deal {deal_id} cannot move from {current} to {to}"
    raise Conflict(message, details={"stage": current, "to": to, "allowed": list(allowed)})


def ensure_open(deal_id: str, stage: DealStage) -> None:
    """A won or lost deal is read-only (``Conflict``, 409)."""
    if stage in FINAL_STAGES:
        raise Conflict(
            f"deal {deal_id} is {stage}: a closed deal is read-only",
            details={"stage": stage},
        )


def ensure_version(deal_id: str, expected: int, current: int, stage: DealStage) -> None:
    """Optimistic concurrency: the caller changes the version it read, or gets 409."""
    if expected != current:
        raise Conflict(
            f"deal {deal_id} was changed since version {expected}: read it again",
            details={"expected_version": expected, "version": current, "stage": stage},
        )


def normalize_reason(reason: str | None) -> str | None:
    """A reason as stored: NFKC, trimmed; blank is no reason."""
    if reason is None:
        return None
    text = nfkc(reason).strip()
    return text or None


def require_reason(to: DealStage, reason: str | None) -> None:
    """A lost deal says why (``ValidationFailed`` on the field ``reason``)."""
    if to == "lost" and normalize_reason(reason) is None:
        raise ValidationFailed(
            "a lost deal needs a reason",
            details=[{"field": "reason", "message": "say why the deal was lost"}],
        )


def missing_for_won(
    *, line_count: int, has_device: bool, payment_method: str | None, has_ship_to: bool
) -> list[str]:
    """What a deal still lacks to be won (an order that can be shipped and billed)."""
    missing = []
    if line_count == 0:
        missing.append("lines")
    if payment_method is None:
        missing.append("payment_method")
    if has_device and not has_ship_to:
        missing.append("ship_to")
    return missing


def stage_change_message(current: DealStage, to: DealStage, reason: str | None) -> str:
    """The line an account's history shows for a stage change."""
    text = f"{current} → {to}"
    return f"{text}: {reason}" if reason else text


# ---- the order: SKUs and lines -------------------------------------------------------------

# The catalog's SKU form (``monosub.models.catalog.SKU_PATTERN``): an upper-case letter or
# digit, then up to 47 more of them or ``.``, ``_``, ``-``.
SKU_PATTERN = re.compile(r"[A-Z0-9][A-Z0-9._-]{0,47}")
MAX_QUANTITY = 10_000
MAX_LINES = 50
MAX_OPTIONS_PER_LINE = 20


def normalize_sku(value: str) -> str:
    """A SKU as the catalog writes it (``SKU_PATTERN``); full-width input is accepted.

    Only the form is checked here; whether the catalog sells it is the catalog's question.
    """
    sku = nfkc(value).strip()
    if not SKU_PATTERN.fullmatch(sku):
        raise ValueError(
            "a SKU is 1 to 48 upper-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return sku


def duplicates(values: Iterable[str]) -> list[str]:
    """The values that occur more than once, in first-seen order."""
    seen: set[str] = set()
    repeated: list[str] = []
    for value in values:
        if value in seen and value not in repeated:
            repeated.append(value)
        seen.add(value)
    return repeated


# ---- the delivery: address and date --------------------------------------------------------

PREFECTURES: tuple[str, ...] = (
    "北海道",
    "青森県",
    "岩手県",
    "宮城県",
    "秋田県",
    "山形県",
    "福島県",
    "茨城県",
    "栃木県",
    "群馬県",
    "埼玉県",
    "千葉県",
    "東京都",
    "神奈川県",
    "新潟県",
    "富山県",
    "石川県",
    "福井県",
    "山梨県",
    "長野県",
    "岐阜県",
    "静岡県",
    "愛知県",
    "三重県",
    "滋賀県",
    "京都府",
    "大阪府",
    "兵庫県",
    "奈良県",
    "和歌山県",
    "鳥取県",
    "島根県",
    "岡山県",
    "広島県",
    "山口県",
    "徳島県",
    "香川県",
    "愛媛県",
    "高知県",
    "福岡県",
    "佐賀県",
    "長崎県",
    "熊本県",
    "大分県",
    "宮崎県",
    "鹿児島県",
    "沖縄県",
)

# "東京" → "東京都", "大阪" → "大阪府", "神奈川" → "神奈川県"; 北海道 is only ever 北海道.
_PREFECTURE_BY_NAME: dict[str, str] = {
    **{p[:-1]: p for p in PREFECTURES if p != "北海道"},
    **{p: p for p in PREFECTURES},
}

# What people type between the two parts of a postal code: see ``DASHES``.
_POSTAL_CODE = re.compile(rf"〒?\s*(\d{{3}})\s*[{DASHES}]?\s*(\d{{4}})")
JAPANESE_PHONE_DIGITS = (10, 11)


def normalize_postal_code(value: str) -> str:
    """A Japanese postal code as ``NNN-NNNN``.

    ``〒150-0002``, ``1500002``, ``１５０－０００２`` and ``150ー0002`` are all ``150-0002``.
    Only the form is checked (seven digits), not that Japan Post uses the code.
    """
    text = nfkc(value).strip()
    match = _POSTAL_CODE.fullmatch(text) if _ascii_digits(text) else None
    if match is None:
        raise ValueError("a postal code is seven digits, NNN-NNNN (〒150-0002)")
    return f"{match.group(1)}-{match.group(2)}"


def _ascii_digits(text: str) -> bool:
    """True when every digit in ``text`` is an ASCII digit (NFKC leaves e.g. Arabic-Indic
    digits alone, and ``\\d`` would take them)."""
    return all(ch.isascii() for ch in text if ch.isdigit())


def normalize_prefecture(value: str) -> str:
    """One of the 47 prefectures, by its full name; the name without 都/府/県 is accepted.

    ``東京``, ``東京都`` and ``東京　都`` are ``東京都``; ``北海道`` is only ``北海道``.
    """
    name = "".join(nfkc(value).split())
    prefecture = _PREFECTURE_BY_NAME.get(name)
    if prefecture is None:
        raise ValueError("not one of the 47 prefectures (e.g. 東京都, 大阪府, 北海道)")
    return prefecture


def normalize_japanese_phone(value: str) -> str:
    """A phone number in Japan for a delivery: NFKC, dashes as ``-``; 10 or 11 digits, a
    leading 0 (``+81`` is turned into it)."""
    text = nfkc(value).strip()
    if any(not (ch.isascii() and ch.isdigit()) and ch not in PHONE_SEPARATORS for ch in text):
        raise ValueError("use digits, spaces, hyphens or parentheses, and an optional +")
    digits = phone_digits(text)
    if len(digits) not in JAPANESE_PHONE_DIGITS or not digits.startswith("0"):
        raise ValueError("a phone number in Japan has 10 or 11 digits and starts with 0")
    if text.lstrip(" (").startswith("+"):
        return digits
    return hyphens(text)


def check_delivery_date(requested: date | None, today: date, field: str) -> None:
    """A requested delivery date is a business date (Asia/Tokyo) that is not in the past:
    today at the earliest (``ValidationFailed`` on ``field``)."""
    if requested is not None and requested < today:
        raise ValidationFailed(
            "the requested delivery date is in the past",
            details=[
                {
                    "field": field,
                    "message": f"{requested.isoformat()} is before today "
                    f"({today.isoformat()}, Asia/Tokyo)",
                }
            ],
        )


def changed_fields(before: dict[str, object], after: dict[str, object]) -> list[str]:
    """Names of the fields whose values differ, in ``after``'s order."""
    return [name for name, value in after.items() if before.get(name) != value]


def unknown_line_ids(given: Iterable[str | None], existing: Iterable[str]) -> list[str]:
    """Line ids in an edit that the deal does not have: a line keeps its id or gets a new
    one, it never takes an id the deal never had."""
    known = set(existing)
    return [line_id for line_id in given if line_id is not None and line_id not in known]
