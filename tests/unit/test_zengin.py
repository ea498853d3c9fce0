"""What every 全銀 file shares (``monosub.formats.zengin``): names in the half-width character
set, byte-counted fields, the record reader's separators."""

from __future__ import annotations

import io
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monosub.formats.zengin import (
    HALF_WIDTH_KANA,
    ZENGIN_CHARACTERS,
    ZENGIN_SYMBOLS,
    ZenginFormatError,
    ZenginKanaError,
    digits,
    fit,
    iter_records,
    read_yymmdd,
    to_zengin_kana,
    yymmdd,
)

# ---- to_zengin_kana ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "zengin"),
    [
        ("ヤマダ　タロウ", "ﾔﾏﾀﾞ ﾀﾛｳ"),  # full-width katakana and the ideographic space
        ("やまだ たろう", "ﾔﾏﾀﾞ ﾀﾛｳ"),  # hiragana
        ("ﾔﾏﾀﾞ ﾀﾛｳ", "ﾔﾏﾀﾞ ﾀﾛｳ"),  # already half-width: unchanged
        ("ｷｯﾌﾟ", "ｷﾂﾌﾟ"),  # half-width small kana made large
        ("ジョッキー", "ｼﾞﾖﾂｷ-"),  # small kana large, ー as -
        ("ァィゥェォャュョッ", "ｱｲｳｴｵﾔﾕﾖﾂ"),
        ("ヴィヴィ", "ｳﾞｲｳﾞｲ"),
        ("ｔａｒｏ　ｙａｍａｄａ", "TARO YAMADA"),  # full-width letters, upper-case
        ("ＡＢＣ１２３", "ABC123"),
        ("パパ", "ﾊﾟﾊﾟ"),
        ("株式会社モノサブ", "ｶ)ﾓﾉｻﾌﾞ"),  # 前株
        ("モノサブ株式会社", "ﾓﾉｻﾌﾞ(ｶ"),  # 後株
        ("モノサブ株式会社トウキョウシテン", "ﾓﾉｻﾌﾞ(ｶ)ﾄｳｷﾖｳｼﾃﾝ"),
        ("有限会社やまだ", "ﾕ)ﾔﾏﾀﾞ"),
        ("㈱モノサブ", "ｶ)ﾓﾉｻﾌﾞ"),
        ("（株）モノサブ", "ｶ)ﾓﾉｻﾌﾞ"),
        ("合同会社ケイ", "ﾄﾞ)ｹｲ"),
        ("ヤマダ・ハナコ", "ﾔﾏﾀﾞ.ﾊﾅｺ"),
        ("  ヤマダ   ハナコ ", "ﾔﾏﾀﾞ ﾊﾅｺ"),
    ],
)
def test_names_as_people_write_them_become_zengin_half_width(written: str, zengin: str) -> None:
    assert to_zengin_kana(written) == zengin


def test_a_kanji_name_is_refused_naming_each_character_once() -> None:
    with pytest.raises(ZenginKanaError) as raised:
        to_zengin_kana("山田 タロウ山")
    assert raised.value.characters == ["山", "田"]
    assert "山 田" in str(raised.value)
    assert isinstance(raised.value, ValueError)


def test_a_symbol_outside_the_set_is_refused() -> None:
    with pytest.raises(ZenginKanaError) as raised:
        to_zengin_kana("A&B ショウジ")
    assert raised.value.characters == ["&"]


_written_names = st.text(
    alphabet=st.sampled_from(
        "アイウエオカキクケコガギグゲゴパピプペポァッャュョーあいうえおがぎぱっゃ"
        "ｱｲｳｶﾞﾊﾟｯｬﾞﾟ゛ＡＢＣａｂｃ０１２abcXYZ789 　()-./"
    ),
    min_size=1,
    max_size=30,
)


@given(_written_names)
def test_conversion_gives_only_zengin_characters_and_is_idempotent(name: str) -> None:
    converted = to_zengin_kana(name)
    assert set(converted) <= ZENGIN_CHARACTERS
    assert to_zengin_kana(converted) == converted


# ---- fields --------------------------------------------------------------------------------


def test_the_da_trap_a_30_byte_field_holds_15_voiced_kana_and_no_more() -> None:
    assert len("ﾀﾞ".encode("cp932")) == 2
    full = fit("ﾀﾞ" * 15, 30, "預金者名")
    assert len(full.encode("cp932")) == 30
    assert full == "ﾀﾞ" * 15
    with pytest.raises(ZenginFormatError) as raised:
        fit("ﾀﾞ" * 16, 30, "預金者名", line=7)
    assert raised.value.field == "預金者名"
    assert raised.value.line == 7
    assert "32 bytes" in str(raised.value)


def test_fit_pads_with_spaces_counted_in_bytes() -> None:
    assert fit("ｶﾞ", 5) == "ｶﾞ   "
    assert fit("", 3) == "   "


def test_fit_refuses_what_cp932_cannot_write() -> None:
    with pytest.raises(ZenginFormatError, match="cp932"):
        fit("😀", 10, "委託者名")


def test_numbers_are_zero_padded_and_never_cut() -> None:
    assert digits(42, 6, "件数") == "000042"
    assert digits("0001", 4, "銀行番号") == "0001"
    with pytest.raises(ZenginFormatError, match="longer"):
        digits(1_000_000, 6, "件数")
    with pytest.raises(ZenginFormatError, match="digits"):
        digits(-1, 6, "件数")
    with pytest.raises(ZenginFormatError, match="digits"):
        digits("12a", 6, "件数")


def test_dates_in_reiwa_and_western_years() -> None:
    assert yymmdd(date(2026, 11, 30), "wareki", "勘定日") == "081130"
    assert yymmdd(date(2026, 11, 30), "seireki", "勘定日") == "261130"
    assert read_yymmdd(b"081130", "wareki", 1, "勘定日") == date(2026, 11, 30)
    assert read_yymmdd(b"261130", "seireki", 1, "勘定日") == date(2026, 11, 30)
    with pytest.raises(ZenginFormatError, match="not a date"):
        read_yymmdd(b"081131", "wareki", 3, "勘定日")


# ---- records -------------------------------------------------------------------------------

_A = b"1" + b"A" * 9
_B = b"2" + b"B" * 9


@pytest.mark.parametrize(
    "data",
    [
        _A + b"\r\n" + _B + b"\r\n",  # CRLF
        _A + b"\n" + _B + b"\n",  # LF only
        _A + b"\r\n" + _B,  # no final newline
        _A + _B,  # no separators at all (改行なし)
        _A + b"\r\n" + _B + b"\r\n\x1a",  # DOS end-of-file byte
        _A + _B + b"\x1a",
    ],
)
def test_records_are_read_whatever_the_separators(data: bytes) -> None:
    assert list(iter_records(io.BytesIO(data), 10)) == [(1, _A), (2, _B)]


def test_a_short_or_long_line_is_reported_with_its_length_and_the_rest_still_read() -> None:
    data = _A + b"\r\n" + _B[:6] + b"\r\n" + _B + b"XY\r\n" + _B + b"\r\n"
    errors: list[ZenginFormatError] = []
    assert list(iter_records(io.BytesIO(data), 10, errors)) == [(1, _A), (4, _B)]
    assert [(e.line, e.message) for e in errors] == [
        (2, "is 6 bytes long, not 10"),
        (3, "is 12 bytes long, not 10"),
    ]
    with pytest.raises(ZenginFormatError, match="line 2"):
        list(iter_records(io.BytesIO(data), 10))


def test_the_half_width_alphabet_is_single_bytes_in_cp932() -> None:
    assert all(len(ch.encode("cp932")) == 1 for ch in HALF_WIDTH_KANA + ZENGIN_SYMBOLS)
