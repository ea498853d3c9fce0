"""Opaque next-page tokens: a list's sort-key position, base64url-encoded, checked on the
way back in against the shape that list uses (so a forged token is a 400, not a query)."""

from __future__ import annotations

import base64
import binascii
import re

from monosub.errors import ValidationFailed


def encode(position: str) -> str:
    return base64.urlsafe_b64encode(position.encode()).decode().rstrip("=")


def decode(token: str, shape: re.Pattern[str]) -> str:
    try:
        position = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        position = ""
    if not shape.fullmatch(position):
        raise ValidationFailed(
            "the next token is not valid",
            details=[{"field": "next", "message": "pass the next token of the previous page"}],
        )
    return position
