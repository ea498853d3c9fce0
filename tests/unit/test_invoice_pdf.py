"""Invoice and credit note PDFs: text extracted exactly, font embedded, one page, same bytes.

Needs WeasyPrint's system libraries and poppler-utils (scripts/install-system-deps.sh).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from monosub.documents import Invoice, RenderedDocument, pdf_rendering_available, render_invoice
from tests.unit.test_documents_pdf import poppler

_unavailable = pdf_rendering_available()
pytestmark = pytest.mark.skipif(
    _unavailable is not None,
    reason=f"PDF rendering unavailable: {_unavailable}",
)

DATA = Path(__file__).resolve().parent.parent / "data" / "documents"
MINUS = "\u2212"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / name).read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def invoice_data() -> dict[str, Any]:
    return load("invoice-camera.json")


@pytest.fixture(scope="module")
def rendered(invoice_data: dict[str, Any]) -> RenderedDocument:
    return render_invoice(Invoice.model_validate(invoice_data))


def test_invoice_text_is_extracted_exactly(rendered: RenderedDocument, tmp_path: Path) -> None:
    text = poppler("pdftotext", rendered.pdf, "-layout", tmp_path=tmp_path)
    for expected in [
        "請求書",
        "株式会社さくら警備保障",
        "山田 太郎 様",
        "株式会社モノサブ",
        "登録番号 T9010401234567",
        "INV-2026-000123",
        "2026年11月30日",
        "2026年11月15日〜2026年11月30日",
        "お支払期限",
        "2027年1月4日",
        "ご請求金額（税込）",
        "¥149,460",
        "カメラ本体",
        "ﾌﾙHD",
        "録画プラン 30日",
        "日割 16/30日",
        "¥1,568",
        f"{MINUS}¥1,568",
        f"{MINUS}¥980",
        "税率別内訳",
        "10%対象",
        "8%対象",
        "¥134,400",
        "¥13,440",
        "小計（税抜）",
        "¥135,900",
        "¥13,560",
        "合計（税込）",
        "※は軽減税率（8%）対象",
        "振込先",
        "ｶ)ﾓﾉｻﾌﾞ",
    ]:
        assert expected in text, expected
    assert "適格返還請求書" not in text
    # the reduced-rate mark sits on the reduced-rate line only
    marked = [line for line in text.splitlines() if "※" in line and "¥" in line]
    assert len(marked) == 1
    assert "ドリップコーヒーセット" in marked[0]
    assert "8%" in marked[0]


def test_invoice_font_is_embedded(rendered: RenderedDocument, tmp_path: Path) -> None:
    rows = poppler("pdffonts", rendered.pdf, tmp_path=tmp_path).splitlines()[2:]
    assert rows
    for row in rows:
        name, *_, emb, sub, uni, _obj, _gen = row.split()
        assert re.fullmatch(r"[A-Z]{6}\+IPAexGothic", name), row
        assert (emb, sub, uni) == ("yes", "yes", "yes"), row


def test_invoice_is_one_a4_page_dated_its_issue_date(
    rendered: RenderedDocument, tmp_path: Path
) -> None:
    info = poppler("pdfinfo", rendered.pdf, "-isodates", tmp_path=tmp_path)
    assert re.search(r"^Pages:\s+1$", info, re.M)
    assert "(A4)" in info
    assert re.search(r"^Title:\s+請求書 INV-2026-000123$", info, re.M)
    assert re.search(r"^CreationDate:\s+2026-11-30T00:00:00", info, re.M)


def test_same_invoice_renders_the_same_bytes(
    rendered: RenderedDocument, invoice_data: dict[str, Any]
) -> None:
    again = render_invoice(Invoice.model_validate(invoice_data))
    assert again.pdf == rendered.pdf
    assert again.pdf_sha256 == rendered.pdf_sha256


def test_credit_note_pdf(tmp_path: Path) -> None:
    note = Invoice.model_validate(load("invoice-credit-note.json"))
    pdf = render_invoice(note).pdf
    assert render_invoice(note).pdf == pdf
    text = poppler("pdftotext", pdf, "-layout", tmp_path=tmp_path)
    for expected in [
        "適格返還請求書",
        "CN-2026-000007",
        "以下の請求書に対する返還：請求書番号 INV-2026-000123",
        "登録番号 T9010401234567",
        "返還金額（税込）",
        "¥45,400",
        "10%対象",
        "8%対象",
        "¥3,980",
        "※は軽減税率（8%）対象",
    ]:
        assert expected in text, expected
    assert "お支払期限" not in text
    fonts = poppler("pdffonts", pdf, tmp_path=tmp_path).splitlines()[2:]
    assert len(fonts) == 1
    assert "IPAexGothic" in fonts[0]
    info = poppler("pdfinfo", pdf, tmp_path=tmp_path)
    assert re.search(r"^Pages:\s+1$", info, re.M)
    assert re.search(r"^Title:\s+適格返還請求書 CN-2026-000007$", info, re.M)


def test_long_invoice_breaks_across_pages_with_every_line(
    invoice_data: dict[str, Any], tmp_path: Path
) -> None:
    camera = invoice_data["lines"][0]
    lines = [{**camera, "name": f"カメラ本体 設置場所{n:02d}"} for n in range(1, 41)]
    lines += invoice_data["lines"][1:]
    standard = 119400 * 40 + 15000
    data = {
        **invoice_data,
        "lines": lines,
        "tax_subtotals": [
            {"rate": 10, "taxable_amount": standard, "tax": standard // 10},
            invoice_data["tax_subtotals"][1],
        ],
        "subtotal": standard + 1500,
        "tax_total": standard // 10 + 120,
        "total": standard + 1500 + standard // 10 + 120,
    }
    pdf = render_invoice(Invoice.model_validate(data)).pdf
    info = poppler("pdfinfo", pdf, tmp_path=tmp_path)
    pages = int(re.search(r"^Pages:\s+(\d+)$", info, re.M).group(1))  # type: ignore[union-attr]
    assert 2 <= pages <= 5
    text = poppler("pdftotext", pdf, tmp_path=tmp_path)
    for n in range(1, 41):
        assert f"設置場所{n:02d}" in text
    assert text.count("品目") >= 2  # the table header repeats on the next page
    assert text.count("INV-2026-000123") >= pages  # the number heads every later page
    assert re.search(rf"\b{pages}\s*/\s*{pages}\b", text)
