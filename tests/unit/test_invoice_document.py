"""The invoice document without PDF: the model's sums, the credit note rules, HTML, escaping."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from monosub.documents import Invoice, Quote, render_html, signed_yen
from monosub.domain.calendar import PaymentTerms, due_date
from tests.unit.test_documents import broken

DATA = Path(__file__).resolve().parent.parent / "data" / "documents"
INVOICE_SAMPLE = DATA / "invoice-camera.json"
CREDIT_NOTE_SAMPLE = DATA / "invoice-credit-note.json"
MINUS = "\u2212"


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@pytest.fixture
def invoice_data() -> dict[str, Any]:
    return load(INVOICE_SAMPLE)


@pytest.fixture
def credit_data() -> dict[str, Any]:
    return load(CREDIT_NOTE_SAMPLE)


def invoice_html(data: dict[str, Any]) -> str:
    return render_html("invoice.html.j2", {"invoice": Invoice.model_validate(data)})


# ---- formatting ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "text"),
    [(0, "¥0"), (980, "¥980"), (149460, "¥149,460"), (-1568, f"{MINUS}¥1,568"), (-1, f"{MINUS}¥1")],
)
def test_signed_yen_prints_a_real_minus(amount: int, text: str) -> None:
    assert signed_yen(amount) == text


def test_signed_yen_refuses_floats() -> None:
    with pytest.raises(TypeError):
        signed_yen(-1.5)  # type: ignore[arg-type]


# ---- the model -----------------------------------------------------------------------------------


def test_sample_invoice_is_valid(invoice_data: dict[str, Any]) -> None:
    invoice = Invoice.model_validate(invoice_data)
    assert invoice.title == "請求書"
    assert (invoice.subtotal, invoice.tax_total, invoice.total) == (135900, 13560, 149460)
    assert [s.total for s in invoice.tax_subtotals] == [147840, 1620]
    assert invoice.has_reduced_rate
    assert invoice.document_date == invoice.issue_date


def test_sample_due_date_follows_its_terms(invoice_data: dict[str, Any]) -> None:
    """月末締め翌月末払い from 30 Nov 2026: 31 Dec – 3 Jan are bank holidays → 4 Jan 2027."""
    invoice = Invoice.model_validate(invoice_data)
    terms = PaymentTerms(closing_day=31, months_after=1, pay_day=31)
    assert terms.label in (invoice.payment_method or "")
    assert due_date(invoice.issue_date, terms) == invoice.due_date


def test_sample_credit_note_is_valid(credit_data: dict[str, Any]) -> None:
    note = Invoice.model_validate(credit_data)
    assert note.title == "適格返還請求書"
    assert note.credit_note
    assert note.original_number == "INV-2026-000123"
    assert note.total == 45400


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("lines.0.amount", 119000, "is not 3 × 39800"),
        ("lines.3.amount", 1568, "does not have the sign of the unit price"),
        ("lines.2.amount", -1568, "does not have the sign of the unit price"),
        ("lines.0.quantity", 0, "greater than 0"),
        ("lines", [], "at least 1 item"),
        ("tax_subtotals.0.taxable_amount", 134401, "do not match the lines"),
        ("tax_subtotals", [{"rate": 10, "taxable_amount": 134400, "tax": 13440}], "do not match"),
        (
            "tax_subtotals.1",
            {"rate": 10, "taxable_amount": 1500, "tax": 120},
            "two rows for the same rate",
        ),
        (
            "tax_subtotals",
            [
                {"rate": 8, "taxable_amount": 1500, "tax": 120},
                {"rate": 10, "taxable_amount": 134400, "tax": 13440},
            ],
            "standard rate first",
        ),
        ("subtotal", 135901, "is not the sum of the lines"),
        ("tax_total", 13561, "is not the sum of the taxes"),
        ("total", 149461, "is not subtotal 135900 + tax 13560"),
        ("number", "CN-2026-000123", "an invoice number looks like INV-2026-000123"),
        ("number", "INV-26-123", "an invoice number looks like INV-2026-000123"),
        ("period_end", "2026-11-14", "period_end is before period_start"),
        ("due_date", "2026-11-29", "due_date is before issue_date"),
        ("original_number", "INV-2026-000100", "only a credit note has an original_number"),
        ("recipient_postal_code", "1600022", "recipient_postal_code"),
        ("issuer.registration_number", "T9010401234568", "registration_number"),
    ],
)
def test_invoice_figures_that_do_not_add_up_are_refused(
    invoice_data: dict[str, Any], path: str, value: Any, message: str
) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        Invoice.model_validate(broken(invoice_data, path, value))


def test_tax_is_not_recomputed_only_summed(invoice_data: dict[str, Any]) -> None:
    """The engine rounds the tax (once per rate); the document prints what it was given."""
    data = broken(invoice_data, "tax_subtotals.0.tax", 13441)
    data = broken(data, "tax_total", 13561)
    data = broken(data, "total", 149461)
    assert Invoice.model_validate(data).tax_subtotals[0].tax == 13441


def test_a_prorated_line_may_have_any_amount_of_its_sign(invoice_data: dict[str, Any]) -> None:
    data = broken(invoice_data, "lines.2.amount", 1567)
    data = broken(data, "lines.3.amount", -1567)
    assert Invoice.model_validate(data).subtotal == 135900
    with pytest.raises(ValidationError, match="is not 3 × 980"):
        Invoice.model_validate(broken(data, "lines.2.prorated", False))


def test_a_negative_invoice_is_refused(invoice_data: dict[str, Any]) -> None:
    """A bill that returns money is a credit note, not an 請求書 with a negative total."""
    data = broken(invoice_data, "lines", [invoice_data["lines"][3]])
    data = {
        **data,
        "tax_subtotals": [{"rate": 10, "taxable_amount": -1568, "tax": -156}],
        "subtotal": -1568,
        "tax_total": -156,
        "total": -1724,
    }
    with pytest.raises(ValidationError, match=r"total\n.*greater than or equal to 0"):
        Invoice.model_validate(data)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("original_number", None, "names the invoice it corrects"),
        ("original_number", "CN-2026-000001", "is no invoice number"),
        ("due_date", "2026-12-31", "a credit note has no due date"),
        ("number", "INV-2026-000124", "a credit note number looks like CN-2026-000007"),
    ],
)
def test_credit_note_rules(
    credit_data: dict[str, Any], path: str, value: Any, message: str
) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        Invoice.model_validate(broken(credit_data, path, value))


def test_credit_note_shows_positive_amounts(credit_data: dict[str, Any]) -> None:
    line = {**credit_data["lines"][1], "unit_price": -1500, "amount": -1500}
    data = {
        **broken(credit_data, "lines.1", line),
        "tax_subtotals": [
            credit_data["tax_subtotals"][0],
            {"rate": 8, "taxable_amount": -1500, "tax": -120},
        ],
        "subtotal": 38300,
        "tax_total": 3860,
        "total": 42160,
    }
    with pytest.raises(ValidationError, match="a credit note shows positive amounts"):
        Invoice.model_validate(data)


# ---- HTML ----------------------------------------------------------------------------------------


def test_html_shows_what_a_qualified_invoice_must_show(invoice_data: dict[str, Any]) -> None:
    html = invoice_html(invoice_data)
    for text in [
        "<title>請求書 INV-2026-000123</title>",
        'data-document-id="請求書 INV-2026-000123">請求書</h1>',
        "〒160-0022",
        "株式会社さくら警備保障",
        "山田 太郎 様",
        "株式会社モノサブ",
        "登録番号 T9010401234567",
        "<th>請求書番号</th><td>INV-2026-000123</td>",
        "<th>発行日</th><td>2026年11月30日</td>",
        "<th>取引期間</th><td>2026年11月15日〜2026年11月30日</td>",
        "<th>お支払期限</th><td>2027年1月4日</td>",
        "<th>お客様番号</th><td>M-000123</td>",
        '<th>ご請求金額（税込）</th><td class="amount">¥149,460</td>',
        "2026年11月15日〜11月30日（日割 16/30日）",
        "¥119,400",
        f"{MINUS}¥980",
        f"{MINUS}¥1,568",
        "10%対象",
        "8%対象",
        "¥13,440",
        "¥120",
        "小計（税抜）",
        "¥135,900",
        "消費税",
        "¥13,560",
        "合計（税込）",
        "※は軽減税率（8%）対象",
        "銀行振込（月末締め翌月末払い）",
        "<th>振込先</th>",
        "<div>口座名義 ｶ)ﾓﾉｻﾌﾞ</div>",
        '<meta name="dcterms.created" content="2026-11-30">',
    ]:
        assert text in html, text
    # the reduced-rate item is marked, no other line is
    assert html.count('<span class="mark">※</span>') == 1
    assert 'ご挨拶品 ドリップコーヒーセット<span class="mark">※</span>' in html
    assert "docs.monosub.example.jp" not in html  # archive_url is not printed
    assert "返還" not in html.split("</style>")[1]
    assert "（日割）" not in html  # the period already says it is prorated


def test_credit_note_html_names_the_original_invoice(credit_data: dict[str, Any]) -> None:
    html = invoice_html(credit_data)
    for text in [
        "<title>適格返還請求書 CN-2026-000007</title>",
        ">適格返還請求書</h1>",
        "以下の請求書に対する返還：請求書番号 INV-2026-000123",
        "<th>返還請求書番号</th><td>CN-2026-000007</td>",
        '<th>返還金額（税込）</th><td class="amount">¥45,400</td>',
        "ご返金方法",
        '<meta name="dcterms.created" content="2026-12-10">',
    ]:
        assert text in html, text
    assert "お支払期限" not in html
    assert "ご請求金額" not in html


def test_optional_parts_are_left_out(invoice_data: dict[str, Any]) -> None:
    data = {
        **invoice_data,
        "due_date": None,
        "customer_number": None,
        "recipient_postal_code": None,
        "recipient_address": None,
        "payment_method": None,
        "bank_account": None,
        "notes": "",
        "recipient": {"company": "株式会社さくら警備保障"},
    }
    data = broken(data, "lines.2.period", None)  # prorated with no period: still marked
    html = invoice_html(data)
    for absent in ["お支払期限", "お客様番号", "〒160", "お支払方法", "振込先", "備考", " 様"]:
        assert absent not in html, absent
    assert '株式会社さくら警備保障<span class="honorific">御中</span>' in html
    assert '<td class="period">（日割）</td>' in html


def test_no_reduced_rate_no_legend(invoice_data: dict[str, Any]) -> None:
    data = {
        **invoice_data,
        "lines": invoice_data["lines"][:4],
        "tax_subtotals": invoice_data["tax_subtotals"][:1],
        "subtotal": 134400,
        "tax_total": 13440,
        "total": 147840,
    }
    html = invoice_html(data)
    assert "※" not in html
    assert "8%対象" not in html


def test_invoice_input_is_escaped(invoice_data: dict[str, Any]) -> None:
    data = broken(invoice_data, "lines.0.name", "<img src=x onerror=alert(1)>")
    data = broken(data, "bank_account", "</style><script>x()</script>\n口座")
    data = broken(data, "recipient.company", "A&B <b>商事</b>")
    html = invoice_html(data)
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;script&gt;x()&lt;/script&gt;" in html
    assert "A&amp;B &lt;b&gt;商事&lt;/b&gt;" in html
    assert "<img" not in html and "<script" not in html and "<b>" not in html
    assert html.count("</style>") == 1


def test_invoice_style_is_the_static_document_css(
    invoice_data: dict[str, Any], credit_data: dict[str, Any]
) -> None:
    quote = Quote.model_validate(load(DATA / "quote-camera.json"))
    styles = {
        re.search(r"<style>(.*?)</style>", html, re.S).group(1)  # type: ignore[union-attr]
        for html in (
            invoice_html(invoice_data),
            invoice_html(credit_data),
            render_html("quote.html.j2", {"quote": quote}),
        )
    }
    assert len(styles) == 1
