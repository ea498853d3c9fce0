"""What every 全銀 (Zengin) fixed-width file shares: cp932 records of a fixed number of bytes,
text fields left-aligned and space-padded, numeric fields right-aligned and zero-padded, and
the half-width character set banks accept in names.

Pure: bytes in, values out. The formats themselves are ``monosub.formats.zengin_debit``
(預金口座振替, 120 bytes) and ``monosub.formats.zengin_statement`` (入出金取引明細, 200 bytes);
people read the layouts in ``docs/zengin.md``.

**Bytes, not characters.** Widths are counted in cp932 bytes, and a voiced kana is two of
them (``ﾀﾞ`` is ``ﾀ`` + ``ﾞ``), so a 30-byte name holds 15 ``ﾀﾞ`` at most. ``fit`` refuses
what does not fit and names the field: a name cut short at the bank is a debit that fails
(the holder's name no longer matches) or a payment nobody can match, so never cut silently.

**Reading** (``iter_records``) streams: it reads the file in chunks, whatever its size, and
accepts records separated by CRLF (the standard), LF only, or nothing at all (banks' "改行なし"
files), a file without a final newline and the DOS end-of-file byte 0x1A at the end. A
record of the wrong length is reported with its line and skipped to the next line break, so a
reader can collect every bad record rather than stop at the first.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Sequence
from datetime import date
from typing import BinaryIO, Literal

import jaconv

ENCODING = "cp932"
EOF_MARK = 0x1A
_CHUNK = 1 << 20

# Dates: 和暦 YYMMDD in the era 令和 (year - 2018), or 西暦 YYMMDD (year - 2000).
DateStyle = Literal["wareki", "seireki"]
REIWA_OFFSET = 2018
SEIREKI_OFFSET = 2000


class ZenginFormatError(ValueError):
    """One problem in one record: ``line`` is the record number (1-based; 0 for the file as a
    whole), ``field`` the field's name as the layouts in ``docs/zengin.md`` call it."""

    def __init__(self, line: int, field: str, message: str) -> None:
        super().__init__(f"line {line}: {field}: {message}" if line else f"{field}: {message}")
        self.line = line
        self.field = field
        self.message = message


class ZenginFileErrors(ValueError):
    """Every problem found in a file (each a ``ZenginFormatError`` with its line), so a
    report names them all, not just the first."""

    what = "file"

    def __init__(self, errors: list[ZenginFormatError]) -> None:
        shown = "; ".join(str(error) for error in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        super().__init__(f"{len(errors)} problem(s) in the {self.what}: {shown}{more}")
        self.errors = errors


def trailer_mismatches(
    line: int, figures: Sequence[tuple[str, int | None, int]]
) -> list[ZenginFormatError]:
    """Each (field, what the trailer says, what the data records make) that differs, as an
    error on the trailer's line naming both figures."""
    return [
        ZenginFormatError(line, name, f"the trailer says {stated}, the data records make {actual}")
        for name, stated, actual in figures
        if stated != actual
    ]


class ZenginKanaError(ValueError):
    """A name holds characters with no 全銀 half-width form (kanji, emoji, symbols such as
    ``&``): ``characters`` lists them, in the order they appear, each once."""

    def __init__(self, text: str, characters: list[str]) -> None:
        listed = " ".join(characters)
        super().__init__(
            f"{text!r} cannot be written in 全銀 half-width characters: {listed} "
            "(write the name in katakana)"
        )
        self.text = text
        self.characters = characters


# ---- the 全銀 character set -------------------------------------------------------------

HALF_WIDTH_KANA = "ｱｲｳｴｵｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄﾅﾆﾇﾈﾉﾊﾋﾌﾍﾎﾏﾐﾑﾒﾓﾔﾕﾖﾗﾘﾙﾚﾛﾜｦﾝﾞﾟ"
ZENGIN_SYMBOLS = " ()-./,｢｣\\"
ZENGIN_CHARACTERS = frozenset(
    HALF_WIDTH_KANA + "ABCDEFGHIJKLMNOPQRSTUVWXYZ" + "0123456789" + ZENGIN_SYMBOLS
)

# Small kana are written large: banks' name matching knows no small letters (ｯ is ﾂ).
_SMALL_TO_LARGE = str.maketrans(
    {
        "ァ": "ア",
        "ィ": "イ",
        "ゥ": "ウ",
        "ェ": "エ",
        "ォ": "オ",
        "ャ": "ヤ",
        "ュ": "ユ",
        "ョ": "ヨ",
        "ッ": "ツ",
        "ヮ": "ワ",
        "ヵ": "カ",
        "ヶ": "ケ",
        "ヰ": "イ",  # old kana with no half-width form: read as their modern sound
        "ヱ": "エ",
        "ｧ": "ｱ",
        "ｨ": "ｲ",
        "ｩ": "ｳ",
        "ｪ": "ｴ",
        "ｫ": "ｵ",
        "ｬ": "ﾔ",
        "ｭ": "ﾕ",
        "ｮ": "ﾖ",
        "ｯ": "ﾂ",
    }
)

# Punctuation people type in names, as banks ask to write it: the long-vowel mark and dashes
# as "-", 中黒 and 。 as ".", 、 as ",", 「」 as ｢｣, the yen sign as the cp932 backslash (the
# same byte 0x5C, which Japanese fonts draw as ¥).
_PUNCTUATION = str.maketrans(
    {
        "ー": "-",
        "ｰ": "-",
        "‐": "-",
        "‑": "-",
        "‒": "-",
        "–": "-",
        "—": "-",
        "―": "-",
        "−": "-",
        "・": ".",
        "･": ".",
        "。": ".",
        "｡": ".",
        "、": ",",
        "､": ",",
        "「": "｢",
        "」": "｣",
        "¥": "\\",
        # Voiced and semi-voiced marks standing alone (NFKC makes ﾞ the combining U+3099).
        "\u3099": "ﾞ",
        "\u309a": "ﾟ",
        "゛": "ﾞ",
        "゜": "ﾟ",
    }
)

# Legal-entity words and the abbreviation banks print for them (全銀 略語). The abbreviation
# stands in parentheses on the side the word stood: 株式会社ABC → ｶ)ABC, ABC株式会社 → ABC(ｶ,
# ABC株式会社DEF → ABC(ｶ)DEF. ㈱ and (株) are the same word. Longer words first.
LEGAL_ENTITY_ABBREVIATIONS: dict[str, str] = {
    "特定非営利活動法人": "ﾄｸﾋ",
    "一般社団法人": "ｼﾔ",
    "一般財団法人": "ｻﾞｲ",
    "公益社団法人": "ｼﾔ",
    "公益財団法人": "ｻﾞｲ",
    "社会福祉法人": "ﾌｸ",
    "株式会社": "ｶ",
    "有限会社": "ﾕ",
    "合同会社": "ﾄﾞ",
    "合資会社": "ｼ",
    "合名会社": "ﾒ",
    "医療法人": "ｲ",
    "学校法人": "ｶﾞｸ",
    "(株)": "ｶ",
    "(有)": "ﾕ",
    "(同)": "ﾄﾞ",
    "(資)": "ｼ",
    "(名)": "ﾒ",
    "(医)": "ｲ",
}
_LEGAL_ENTITY = re.compile("|".join(re.escape(word) for word in LEGAL_ENTITY_ABBREVIATIONS))


def _abbreviate_legal_entity(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        abbreviation = LEGAL_ENTITY_ABBREVIATIONS[match.group()]
        before = match.string[: match.start()].strip()
        after = match.string[match.end() :].strip()
        if not before and not after:
            return abbreviation
        if not before:
            return f"{abbreviation})"
        if not after:
            return f"({abbreviation}"
        return f"({abbreviation})"

    # One pass per word so each sees its own neighbours; a name holds one legal form.
    match = _LEGAL_ENTITY.search(text)
    if match is None:
        return text
    return (
        text[: match.start()].strip()
        + replace(match)
        + _abbreviate_legal_entity(text[match.end() :].strip())
    )


def to_zengin_kana(text: str) -> str:
    """``text`` (a person's or company's name as people write it) in the 全銀 half-width
    character set: katakana and hiragana of any width as half-width katakana (voiced ones as
    two characters: ダ → ﾀﾞ), small kana large (ｯ → ﾂ), full-width letters and digits as ASCII,
    letters upper-case, ー as ``-``, runs of spaces as one, legal-entity words abbreviated
    (``LEGAL_ENTITY_ABBREVIATIONS``). Idempotent: a converted name converts to itself.

    Raises ``ZenginKanaError`` (a ``ValueError``) naming every character that has no such form
    (kanji above all): only a person knows how 山田 is read.
    """
    # NFKC joins half-width voiced kana (ﾀﾞ → ダ) and makes full-width ASCII plain, so every
    # spelling of a name takes the same path below.
    normalized = unicodedata.normalize("NFKC", text)
    normalized = _abbreviate_legal_entity(normalized)
    normalized = jaconv.hira2kata(normalized).upper()
    normalized = normalized.translate(_SMALL_TO_LARGE).translate(_PUNCTUATION)
    half = jaconv.z2h(normalized, kana=True, ascii=True, digit=True)
    half = half.translate(_SMALL_TO_LARGE).translate(_PUNCTUATION)
    half = " ".join(half.split())
    bad = [ch for ch in dict.fromkeys(half) if ch not in ZENGIN_CHARACTERS]
    if bad:
        raise ZenginKanaError(text, bad)
    return half


def is_zengin_text(text: str) -> bool:
    """Whether ``text`` is made only of 全銀 characters (what a bank accepts as written)."""
    return all(ch in ZENGIN_CHARACTERS for ch in text)


# ---- fields ------------------------------------------------------------------------------


def fit(text: str, width: int, field: str = "value", *, line: int = 0) -> str:
    """``text`` left-aligned and space-padded to ``width`` cp932 bytes. Raises
    ``ZenginFormatError`` naming ``field`` when it is longer (never cut: ``ﾀﾞ`` is 2 bytes, so
    a 30-byte field holds 15 of them) or has a character cp932 cannot write."""
    try:
        size = len(text.encode(ENCODING))
    except UnicodeEncodeError as exc:
        raise ZenginFormatError(
            line, field, f"{text!r} has a character cp932 cannot write: {exc.object[exc.start]!r}"
        ) from None
    if size > width:
        raise ZenginFormatError(
            line, field, f"{text!r} is {size} bytes, longer than the field's {width}"
        )
    return text + " " * (width - size)


def zengin_text(text: str, width: int, field: str, *, line: int = 0) -> str:
    """A text field to write: only 全銀 characters (``to_zengin_kana`` converts names), fitted
    to ``width`` bytes."""
    if not is_zengin_text(text):
        bad = "".join(ch for ch in dict.fromkeys(text) if ch not in ZENGIN_CHARACTERS)
        raise ZenginFormatError(
            line, field, f"{text!r} has characters outside the 全銀 character set: {bad}"
        )
    return fit(text, width, field, line=line)


def digits(value: int | str, width: int, field: str, *, line: int = 0) -> str:
    """A numeric field: ``value`` right-aligned and zero-padded to ``width``. A code given as
    text (a bank code, an account number) must be digits; nothing negative, nothing wider."""
    text = str(value)
    if not (text.isascii() and text.isdigit()):
        raise ZenginFormatError(line, field, f"{value!r} is not a number of digits 0-9")
    if len(text) > width:
        raise ZenginFormatError(line, field, f"{value!r} is longer than the field's {width} digits")
    return text.rjust(width, "0")


def read_number(raw: bytes, line: int, field: str) -> int:
    """A numeric field's value; ``ZenginFormatError`` unless it is all digits."""
    if not raw.isdigit():
        raise ZenginFormatError(line, field, f"{_shown(raw)} is not numeric")
    return int(raw)


def read_code(raw: bytes, line: int, field: str) -> str:
    """A numeric code kept as text (leading zeros matter: bank 0001)."""
    if not raw.isdigit():
        raise ZenginFormatError(line, field, f"{_shown(raw)} is not numeric")
    return raw.decode("ascii")


def read_text(raw: bytes, line: int, field: str) -> str:
    """A text field's value without its padding."""
    try:
        return raw.decode(ENCODING).rstrip(" ")
    except UnicodeDecodeError:
        raise ZenginFormatError(line, field, f"{_shown(raw)} is not cp932 text") from None


def _shown(raw: bytes) -> str:
    return repr(raw.decode(ENCODING, errors="replace"))


# ---- dates -------------------------------------------------------------------------------


def yymmdd(day: date, style: DateStyle, field: str, *, line: int = 0) -> str:
    """``day`` as YYMMDD: 和暦 (令和, year - 2018) or 西暦 (year - 2000)."""
    offset = REIWA_OFFSET if style == "wareki" else SEIREKI_OFFSET
    year = day.year - offset
    if not 1 <= year <= 99:
        raise ZenginFormatError(line, field, f"{day} cannot be written as {style} YYMMDD")
    return f"{year:02d}{day.month:02d}{day.day:02d}"


def read_yymmdd(raw: bytes, style: DateStyle, line: int, field: str) -> date:
    """A YYMMDD date (see ``yymmdd``). 令和 only: a 平成 date (before May 2019) reads as the
    wrong year, and a statement that old is not one we are sent."""
    if len(raw) != 6 or not raw.isdigit():
        raise ZenginFormatError(line, field, f"{_shown(raw)} is not a date YYMMDD")
    offset = REIWA_OFFSET if style == "wareki" else SEIREKI_OFFSET
    try:
        return date(offset + int(raw[:2]), int(raw[2:4]), int(raw[4:6]))
    except ValueError:
        raise ZenginFormatError(line, field, f"{_shown(raw)} is not a date YYMMDD") from None


def read_optional_yymmdd(raw: bytes, style: DateStyle, line: int, field: str) -> date | None:
    """A date a record may leave empty (all zeros or spaces)."""
    if raw.strip(b" 0") == b"":
        return None
    return read_yymmdd(raw, style, line, field)


# ---- records -----------------------------------------------------------------------------


def iter_records(
    stream: BinaryIO, width: int, errors: list[ZenginFormatError] | None = None
) -> Iterator[tuple[int, bytes]]:
    """Each record of ``stream`` as ``(line, bytes)``, ``width`` bytes, in order, reading the
    file in chunks so memory stays flat whatever its size.

    The separator is what follows the first record (CRLF or LF, either accepted after that;
    or nothing: every record then follows the last). A record of the wrong length raises
    ``ZenginFormatError``, or, when ``errors`` is given, is added to it and skipped to its
    line break so the rest of the file is still read.
    """
    buffer = b""
    position = 0
    line = 0
    at_end = False
    separated: bool | None = None  # records end with a line break; None until the first
    while True:
        if len(buffer) - position < width + 2 and not at_end:
            chunk = stream.read(_CHUNK)
            buffer = buffer[position:] + chunk
            position = 0
            at_end = not chunk
            continue
        if position >= len(buffer):
            return
        if buffer[position] == EOF_MARK and not buffer[position + 1 :].strip(b"\r\n\x1a"):
            return
        line += 1
        end = position + width
        record = buffer[position:end]
        wrong = len(record) < width or b"\n" in record or b"\r" in record
        if not wrong:
            if buffer.startswith(b"\r\n", end):
                separated, position = True, end + 2
            elif buffer.startswith(b"\n", end):
                separated, position = True, end + 1
            elif end >= len(buffer) or buffer[end] == EOF_MARK or separated is False:
                separated, position = bool(separated), end
            elif separated is None and buffer[end] in _RECORD_KINDS:
                separated, position = False, end
            else:
                wrong = True  # more bytes before the line break: a long record
        if wrong:
            newline = buffer.find(b"\n", position)
            stop = len(buffer) if newline < 0 else newline + 1
            length = len(buffer[position:stop].rstrip(b"\r\n\x1a"))
            problem = ZenginFormatError(line, "record", f"is {length} bytes long, not {width}")
            if errors is None:
                raise problem
            errors.append(problem)
            position = stop
            continue
        yield line, record


# Every 全銀 record starts with its kind (データ区分): 1, 2, 8 or 9.
_RECORD_KINDS = frozenset(b"1289")
