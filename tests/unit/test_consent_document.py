"""What the customer sees: the document model, its HTML, the page and the email; no AWS."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError

from monosub.consent import render
from monosub.consent.models import Consent, ConsentDocument, ConsentLine

TEMPLATES = Path(render.TEMPLATES)
# The document template's content per TEMPLATE_VERSION. Changing what customers agree to must
# be deliberate: bump render.TEMPLATE_VERSION and pin the new template's hash here.
PINNED = {1: "e43866b677624faa3d198ddc235cc2fed9341c3f6f7186d59f3fd7faa4648544"}


def line(**changes) -> ConsentLine:
    values = {
        "name": "見守りカメラ MS-100",
        "quantity": 3,
        "unit": "台",
        "unit_list_price": 12000,
        "list_price": 36000,
        "discount": 6000,
        "discounted_price": 30000,
        "billing": "one_time",
    }
    return ConsentLine(**(values | changes))


def document(**changes) -> ConsentDocument:
    values = {
        "title": "お見積り内容のご確認",
        "issuer": "株式会社モノサブ",
        "issuer_contact": "営業部 佐藤 一郎 03-1234-5678",
        "recipient": "株式会社サンプル 御中",
        "reference": "Q-2026-0001",
        "issued_on": date(2026, 11, 2),
        "lines": (
            line(),
            line(
                name="クラウド録画プラン",
                unit_list_price=1500,
                list_price=4500,
                discount=900,
                discounted_price=3600,
                billing="monthly",
                note="12か月間 20%値引き",
            ),
        ),
        "terms": "・有効期限は発行日から30日です。\n・月額費用は設置完了月の翌月から発生します。",
    }
    return ConsentDocument(**(values | changes))


def consent(doc: ConsentDocument | None = None) -> Consent:
    doc = doc or document()
    html = render.document_html(doc)
    return Consent(
        consent_id="cns_" + "a" * 26,
        subject_kind="quote",
        subject_id="q_1",
        subject_version=2,
        recipient_email="hanako@example.jp",
        recipient_name="山田 花子",
        document=doc,
        document_html=html,
        document_sha256=render.sha256_hex(html),
        template_version=render.TEMPLATE_VERSION,
        status="pending",
        requested_at="2026-11-02T01:00:00Z",
        requested_by="sato",
        expires_at="2026-11-16T01:00:00Z",
    )


# ---- the model -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"list_price": 35999}, "not quantity"),
        ({"discount": 36001, "discounted_price": -1}, "greater than or equal to 0"),
        ({"discount": 36001, "discounted_price": 0}, "larger than the list price"),
        ({"discounted_price": 30001}, "is not list_price"),
        ({"quantity": 0}, "greater than 0"),
    ],
)
def test_a_line_whose_figures_do_not_add_up_is_refused(changes, message):
    with pytest.raises(ValidationError, match=message):
        line(**changes)


def test_totals_are_derived_per_billing_kind_one_time_first():
    doc = document(
        lines=(
            line(
                billing="monthly",
                unit_list_price=1000,
                list_price=3000,
                discount=0,
                discounted_price=3000,
            ),
            line(),
            line(
                name="設置作業",
                quantity=1,
                unit="式",
                unit_list_price=20000,
                list_price=20000,
                discount=20000,
                discounted_price=0,
            ),
        )
    )
    totals = [(t.billing, t.list_price, t.discount, t.discounted_price) for t in doc.totals]
    assert totals == [("one_time", 56000, 26000, 30000), ("monthly", 3000, 0, 3000)]


def test_a_document_needs_lines_and_terms_and_forbids_unknown_fields():
    with pytest.raises(ValidationError):
        document(lines=())
    with pytest.raises(ValidationError):
        document(terms="")
    with pytest.raises(ValidationError):
        ConsentDocument.model_validate(document().model_dump() | {"total": 1})


def test_the_stored_document_reads_back_equal():
    doc = document(pdf_key="quotes/q_1/v2.pdf")
    assert ConsentDocument.model_validate(doc.model_dump(mode="json")) == doc


# ---- the document's HTML -------------------------------------------------------------------


def test_the_document_shows_every_figure_the_customer_agrees_to():
    html = render.document_html(document())
    for text in (
        "お見積り内容のご確認",
        "Q-2026-0001",
        "2026年11月2日",
        "株式会社サンプル 御中",
        "株式会社モノサブ",
        "見守りカメラ MS-100",
        "単価 12,000円",
        "36,000円",  # list price
        "−6,000円",  # discount
        "30,000円",  # discounted price
        "クラウド録画プラン",
        "4,500円/月",
        "−900円/月",
        "3,600円/月",
        "初期費用",
        "月額費用",
        "税抜",
        "有効期限は発行日から30日です。\n・月額費用は",
    ):
        assert text in html, text


def test_the_document_html_is_deterministic_and_its_hash_names_it():
    first, second = render.document_html(document()), render.document_html(document())
    assert first == second
    assert render.sha256_hex(first) == hashlib.sha256(first.encode()).hexdigest()
    changed = render.document_html(document(lines=(line(discount=6001, discounted_price=29999),)))
    assert render.sha256_hex(changed) != render.sha256_hex(first)


def test_text_from_the_caller_is_escaped():
    html = render.document_html(
        document(title="<script>alert(1)</script>", terms='"><img src=x onerror=alert(1)>')
    )
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;" in html


def test_the_document_template_changes_only_with_its_version():
    text = (TEMPLATES / render.DOCUMENT_TEMPLATE).read_bytes()
    digest = hashlib.sha256(text).hexdigest()
    assert max(PINNED) == render.TEMPLATE_VERSION
    assert PINNED[render.TEMPLATE_VERSION] == digest, (
        f"{render.DOCUMENT_TEMPLATE} changed: what customers agree to looks different now. "
        f"Bump render.TEMPLATE_VERSION and pin its sha256 {digest} in this test."
    )


# ---- the page ------------------------------------------------------------------------------


def test_the_page_embeds_the_stored_document_html_unchanged():
    asked = consent()
    page = render.page(asked)
    assert asked.document_html in page
    assert f'name="document" value="{asked.document_sha256}"' in page
    assert "山田 花子 様" in page and "2026年11月16日 10:00" in page  # expiry, Tokyo time
    assert 'value="agree"' in page and 'value="decline"' in page
    assert "同意する" in page and "同意しない" in page
    assert 'name="reason"' in page


def test_the_page_loads_nothing_and_runs_nothing():
    page = render.page(consent())
    assert "<script" not in page.lower()
    assert "<link" not in page.lower()
    assert "<img" not in page.lower()
    assert not re.search(r"\b(src|href|action)=", page)  # forms post back to the page's URL
    assert "url(" not in render.STYLE and "@import" not in render.STYLE
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page


def test_the_content_security_policy_allows_exactly_the_inline_stylesheet():
    page = render.page(consent())
    (style,) = re.findall(r"<style>(.*?)</style>", page, re.S)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    policy = render.PAGE_HEADERS["Content-Security-Policy"]
    assert f"style-src 'sha256-{digest}'" in policy
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert "form-action 'self'" in policy and "frame-ancestors 'none'" in policy
    assert render.PAGE_HEADERS["Cache-Control"] == "no-store"
    assert render.PAGE_HEADERS["X-Robots-Tag"].startswith("noindex")
    assert render.PAGE_HEADERS["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize(
    "kind",
    [
        "agreed",
        "declined",
        "answered",
        "expired",
        "superseded",
        "invalid",
        "not_found",
        "changed",
        "bad_request",
        "error",
    ],
)
def test_every_result_page_renders_in_japanese_with_the_same_stylesheet(kind):
    asked = consent()
    needs_answer = kind in ("agreed", "declined", "answered")
    if needs_answer:
        from monosub.consent.models import Answer

        asked = asked.model_copy(
            update={
                "status": "agreed",
                "answer": Answer(
                    decision="agree",
                    answered_at="2026-11-03T05:30:00Z",
                    consent_id=asked.consent_id,
                    token_sha256="0" * 64,
                    document_sha256=asked.document_sha256,
                    document_version=2,
                    template_version=1,
                ),
            }
        )
    with_consent = kind not in ("invalid", "error")
    page = render.result(kind, asked if with_consent else None)
    assert '<html lang="ja">' in page
    assert f"<style>{render.STYLE}</style>" in page
    assert "<script" not in page
    if needs_answer:
        assert "2026年11月3日 14:30" in page and asked.consent_id in page


def test_the_page_for_an_invalid_link_names_nothing_about_any_consent():
    page = render.result("invalid")
    assert "リンクが正しくありません" in page
    assert "株式会社" not in page and "cns_" not in page


# ---- the email -----------------------------------------------------------------------------


def test_the_email_is_japanese_and_carries_the_link_and_no_amounts():
    link = "https://consent.example.jp/consent/cns_x.1.sig"
    message = render.email(consent(), link)
    assert message.to == ["hanako@example.jp"]
    assert message.subject == "【ご確認のお願い】お見積り内容のご確認"
    assert message.text.startswith("山田 花子 様\n")
    assert f"\n{link}\n" in message.text
    assert "回答期限: 2026年11月16日 10:00" in message.text
    assert message.html is not None and f'href="{link}"' in message.html
    for amount in ("36,000", "30,000", "3,600"):
        assert amount not in message.text and amount not in message.html


def test_yen_and_tokyo_time_formatting():
    assert render.yen(1234567) == "1,234,567円"
    assert render.minus_yen(0) == "0円" and render.minus_yen(900) == "−900円"
    assert render.jst("2026-12-31T15:00:00Z") == "2027年1月1日 00:00"
