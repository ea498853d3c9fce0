"""Documents without PDF: the quote model's arithmetic checks, formatting, HTML and escaping."""

from __future__ import annotations

import copy
import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import jinja2
import pytest
from pydantic import ValidationError

from monosub.documents import (
    Contract,
    Issuer,
    Quote,
    content_fingerprint,
    date_ja,
    render_html,
    yen,
)
from monosub.documents.render import FONT_FILE, TEMPLATES_DIR

DATA = Path(__file__).resolve().parent.parent / "data" / "documents"
SAMPLE = DATA / "quote-camera.json"
CONTRACT_SAMPLE = DATA / "contract-camera.json"


@pytest.fixture
def quote_data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SAMPLE.read_text(encoding="utf-8"))
    return data


@pytest.fixture
def quote(quote_data: dict[str, Any]) -> Quote:
    return Quote.model_validate(quote_data)


def quote_html(quote: Quote) -> str:
    return render_html("quote.html.j2", {"quote": quote})


# ---- formatting --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "text"),
    [(0, "¥0"), (980, "¥980"), (39800, "¥39,800"), (1234567, "¥1,234,567"), (-2940, "-¥2,940")],
)
def test_yen(amount: int, text: str) -> None:
    assert yen(amount) == text


def test_yen_refuses_floats_and_bools() -> None:
    with pytest.raises(TypeError):
        yen(1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        yen(True)


def test_date_in_japanese() -> None:
    assert date_ja(date(2026, 11, 2)) == "2026年11月2日"
    assert date_ja(date(2027, 1, 31)) == "2027年1月31日"


# ---- the model refuses figures that do not add up ------------------------------------------------


def test_sample_quote_is_valid(quote: Quote) -> None:
    assert quote.one_time_total == 146160
    assert [s.total for s in quote.subtotals_for("one_time")] == [144540, 1620]
    assert quote.has_reduced_rate


@pytest.mark.parametrize(
    "number",
    ["9010401234567", "T901040123456", "T9010401234568", "t9010401234567", "T 9010401234567"],
)
def test_registration_number_is_t_plus_valid_corporate_number(
    quote_data: dict[str, Any], number: str
) -> None:
    issuer = {**quote_data["issuer"], "registration_number": number}
    with pytest.raises(ValidationError, match="registration_number"):
        Issuer.model_validate(issuer)


def broken(quote_data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(quote_data)
    *parents, last = path.split(".")
    target: Any = data
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    target[int(last) if last.isdigit() else last] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("lines.0.amount", 119000, "is not 3 × 39800"),
        ("discounts.0.discounted_price", 11000, "15000 - 3000 is not 11000"),
        (
            "tax_subtotals.0",
            {"billing": "one_time", "rate": 10, "taxable_amount": 134400, "tax": 13440},
            "do not match the lines",
        ),
        ("tax_subtotals.0.tax", 13000, "is not a rounding"),
        (
            "tax_subtotals.1",
            {"billing": "one_time", "rate": 10, "taxable_amount": 131400, "tax": 13140},
            "two rows for the same billing and rate",
        ),
        ("one_time_total", 146161, "is not the sum of its subtotals"),
        ("monthly_total", 2940, "is not the sum of its subtotals"),
        ("valid_until", "2026-11-01", "before issue_date"),
        ("discounts.0.months", 3, "only a monthly discount"),
    ],
)
def test_figures_that_do_not_add_up_are_refused(
    quote_data: dict[str, Any], path: str, value: Any, message: str
) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        Quote.model_validate(broken(quote_data, path, value))


def test_any_rounding_mode_is_accepted(quote_data: dict[str, Any]) -> None:
    """Rounding is the issuer's choice (floor or ceiling); the model only checks it is one."""
    data = broken(quote_data, "lines.2.unit_price", 1505)
    data = broken(data, "lines.2.amount", 1505)  # 8 % of 1,505 = 120.4
    for tax in (120, 121):
        data = broken(data, "tax_subtotals.1.taxable_amount", 1505)
        data = broken(data, "tax_subtotals.1.tax", tax)
        data = broken(data, "one_time_total", 131400 + 13140 + 1505 + tax)
        assert Quote.model_validate(data).one_time_total == 131400 + 13140 + 1505 + tax


# ---- HTML ----------------------------------------------------------------------------------------


def test_html_shows_what_a_quote_must_show(quote: Quote) -> None:
    html = quote_html(quote)
    for text in [
        "<title>見積書 Q-2026-000123-v2</title>",
        'data-document-id="見積書 Q-2026-000123-v2">見積書</h1>',
        "株式会社さくら警備保障",
        "山田 太郎 様",
        "株式会社モノサブ",
        "登録番号 T9010401234567",
        "第2版",
        "2026年11月2日",
        "2026年12月2日",
        "¥39,800",
        "¥119,400",
        "¥980/月",
        "10%対象",
        "8%対象",
        "初期費用合計（税込）",
        "¥146,160",
        "¥3,234/月",
        "3ヶ月間",
        "-¥2,940/月",
        "※は軽減税率（8%）対象品目です",
        '<meta name="dcterms.created" content="2026-11-02">',
    ]:
        assert text in html, text
    # the reduced-rate item is marked, the others are not
    assert 'ご挨拶品 ドリップコーヒーセット<span class="mark">※</span>' in html
    assert "カメラ本体<span" not in html.replace('カメラ本体<span class="note">', "")


def test_company_without_person_is_addressed_with_onchu(quote_data: dict[str, Any]) -> None:
    data = broken(quote_data, "recipient", {"company": "株式会社さくら警備保障"})
    html = quote_html(Quote.model_validate(data))
    assert '株式会社さくら警備保障<span class="honorific">御中</span>' in html
    assert " 様" not in html


def test_user_input_is_escaped(quote_data: dict[str, Any]) -> None:
    evil = '<script>alert("x")</script>&<b>'
    data = broken(quote_data, "recipient.company", evil)
    data = broken(data, "lines.0.name", "<img src=x onerror=alert(1)>")
    data = broken(data, "terms", "</style><style>body{display:none}</style>\n・ok")
    html = quote_html(Quote.model_validate(data))
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&amp;&lt;b&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<script" not in html
    assert "<img" not in html
    assert html.count("<style>") == 1
    assert html.count("</style>") == 1


def test_no_templated_value_inside_style(quote: Quote, quote_data: dict[str, Any]) -> None:
    """The <style> block is the static document.css, whatever the document says."""
    css = (TEMPLATES_DIR / "document.css").read_text(encoding="utf-8")
    assert "{{" not in css
    assert "{%" not in css
    assert "{#" not in css
    other = Quote.model_validate(broken(quote_data, "recipient.company", "有限会社テスト"))
    styles = {
        re.search(r"<style>(.*?)</style>", quote_html(q), re.S).group(1)  # type: ignore[union-attr]
        for q in (quote, other)
    }
    assert len(styles) == 1
    assert css.strip() in styles.pop()


def test_no_letter_spacing_on_titles() -> None:
    """letter-spacing splits a title in extracted text (見 積 書)."""
    for path in TEMPLATES_DIR.iterdir():
        assert not re.search(r"letter-spacing\s*:", path.read_text(encoding="utf-8")), path.name


def test_undefined_values_are_errors() -> None:
    with pytest.raises(jinja2.UndefinedError):
        render_html("quote.html.j2", {})


def test_content_fingerprint_is_stable_and_follows_content(
    quote: Quote, quote_data: dict[str, Any]
) -> None:
    first = content_fingerprint(quote_html(quote))
    assert first == content_fingerprint(quote_html(Quote.model_validate(quote_data)))
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", first)
    changed = Quote.model_validate(broken(quote_data, "terms", "・別の条件"))
    assert content_fingerprint(quote_html(changed)) != first


def test_vendored_font_and_licence_are_present() -> None:
    assert FONT_FILE.is_file()
    assert FONT_FILE.stat().st_size > 1_000_000
    licence = FONT_FILE.parent / "IPA_Font_License_Agreement_v1.0.txt"
    assert "IPA Font License Agreement v1.0" in licence.read_text(encoding="utf-8")


# ---- contract ------------------------------------------------------------------------------------


@pytest.fixture
def contract_data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(CONTRACT_SAMPLE.read_text(encoding="utf-8"))
    return data


def test_contract_html_numbers_articles_and_names_the_parties(
    contract_data: dict[str, Any],
) -> None:
    html = render_html("contract.html.j2", {"contract": Contract.model_validate(contract_data)})
    for text in [
        '<h1 class="title" data-document-id="サービス利用契約書 C-2026-000045">',
        "株式会社さくら警備保障（以下「甲」という。）と株式会社モノサブ（以下「乙」という。）",
        "第1条（目的）",
        "第8条（協議）",
        "利用開始日から12ヶ月間",
        "Q-2026-000123（第2版）",
        "2026年11月10日",
        "登録番号 T9010401234567",
        "10%対象",
        "8%対象",
        "電磁的方法により",
        '<meta name="dcterms.created" content="2026-11-10">',
    ]:
        assert text in html, text
    assert "印</div>" not in html  # agreed online: no seal boxes


def test_contract_on_paper_has_seal_boxes(contract_data: dict[str, Any]) -> None:
    contract = Contract.model_validate({**contract_data, "electronic": False})
    html = render_html("contract.html.j2", {"contract": contract})
    assert html.count('<div class="seal">印</div>') == 2
    assert "記名押印の上" in html


def test_contract_figures_are_checked_like_a_quote(contract_data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="is not the sum of its subtotals"):
        Contract.model_validate({**contract_data, "monthly_total": 3000})
