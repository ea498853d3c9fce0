"""Quote PDFs: text extracted exactly, font embedded, one page, same bytes each time.

Needs WeasyPrint's system libraries (pango, harfbuzz) and poppler-utils, which
scripts/install-system-deps.sh installs. Skipped only when WeasyPrint cannot load.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from monosub.documents import (
    Contract,
    Quote,
    RenderedDocument,
    html_to_pdf,
    pdf_rendering_available,
    render_contract,
    render_quote,
)

_unavailable = pdf_rendering_available()
pytestmark = pytest.mark.skipif(
    _unavailable is not None,
    reason=f"PDF rendering unavailable: {_unavailable}",
)

DATA = Path(__file__).resolve().parent.parent / "data" / "documents"
SAMPLE = DATA / "quote-camera.json"


def poppler(tool: str, pdf: bytes, *args: str, tmp_path: Path) -> str:
    if shutil.which(tool) is None:
        pytest.fail(f"{tool} not found: install poppler-utils (scripts/install-system-deps.sh)")
    path = tmp_path / "document.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        [tool, *args, str(path), *(["-"] if tool == "pdftotext" else [])],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


@pytest.fixture(scope="module")
def quote_data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SAMPLE.read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def rendered(quote_data: dict[str, Any]) -> RenderedDocument:
    return render_quote(Quote.model_validate(quote_data))


def test_text_is_extracted_exactly(rendered: RenderedDocument, tmp_path: Path) -> None:
    text = poppler("pdftotext", rendered.pdf, "-layout", tmp_path=tmp_path)
    for expected in [
        "見積書",
        "株式会社さくら警備保障",
        "山田 太郎 様",
        "株式会社モノサブ",
        "T9010401234567",
        "Q-2026-000123",
        "2026年11月2日",
        "2026年12月2日",
        "カメラ本体",
        "ﾌﾙHD",
        "録画プラン30日",
        "設置工事",
        "3ヶ月無料キャンペーン",
        "¥39,800",
        "¥119,400",
        "-¥3,000",
        "¥15,000",
        "¥12,000",
        "¥2,940/月",
        "¥0/月",
        "10%対象",
        "8%対象",
        "¥13,140",
        "¥120",
        "初期費用合計（税込）",
        "月額費用合計（税込）",
        "¥146,160",
        "¥3,234/月",
        "※",
    ]:
        assert expected in text, expected
    # the reduced-rate mark sits on the reduced-rate line only
    marked = [line for line in text.splitlines() if "※" in line and "¥" in line]
    assert len(marked) == 1
    assert "ドリップコーヒーセット" in marked[0]
    assert "8%" in marked[0]


def test_only_the_vendored_font_is_used_and_it_is_embedded(
    rendered: RenderedDocument, tmp_path: Path
) -> None:
    rows = poppler("pdffonts", rendered.pdf, tmp_path=tmp_path).splitlines()[2:]
    assert rows
    for row in rows:
        name, *_, emb, sub, uni, _obj, _gen = row.split()
        assert re.fullmatch(r"[A-Z]{6}\+IPAexGothic", name), row
        assert (emb, sub, uni) == ("yes", "yes", "yes"), row


def test_sample_quote_fits_one_a4_page(rendered: RenderedDocument, tmp_path: Path) -> None:
    info = poppler("pdfinfo", rendered.pdf, tmp_path=tmp_path)
    assert re.search(r"^Pages:\s+1$", info, re.M)
    assert "(A4)" in info
    assert re.search(r"^Title:\s+見積書 Q-2026-000123-v2$", info, re.M)


def test_same_quote_renders_the_same_bytes(
    rendered: RenderedDocument, quote_data: dict[str, Any], tmp_path: Path
) -> None:
    again = render_quote(Quote.model_validate(quote_data))
    assert again.pdf == rendered.pdf
    assert again.pdf_sha256 == rendered.pdf_sha256
    info = poppler("pdfinfo", rendered.pdf, "-isodates", tmp_path=tmp_path)
    assert re.search(r"^CreationDate:\s+2026-11-02T00:00:00", info, re.M)


def test_escaped_input_prints_as_text(quote_data: dict[str, Any], tmp_path: Path) -> None:
    data = {**quote_data, "recipient": {"company": "<script>alert(1)</script> & 株式会社"}}
    pdf = render_quote(Quote.model_validate(data)).pdf
    text = poppler("pdftotext", pdf, tmp_path=tmp_path)
    assert "<script>alert(1)</script> & 株式会社" in text
    assert "御中" in text


def test_long_quote_breaks_across_pages_with_every_line(
    quote_data: dict[str, Any], tmp_path: Path
) -> None:
    camera = quote_data["lines"][0]
    lines = [{**camera, "name": f"カメラ本体 設置場所{n:02d}"} for n in range(1, 41)]
    lines += quote_data["lines"][1:]
    one_time = 119400 * 40 + 15000 - 3000
    data = {
        **quote_data,
        "lines": lines,
        "tax_subtotals": [
            {"billing": "one_time", "rate": 10, "taxable_amount": one_time, "tax": one_time // 10},
            *quote_data["tax_subtotals"][1:],
        ],
        "one_time_total": one_time + one_time // 10 + 1500 + 120,
    }
    pdf = render_quote(Quote.model_validate(data)).pdf
    info = poppler("pdfinfo", pdf, tmp_path=tmp_path)
    pages = int(re.search(r"^Pages:\s+(\d+)$", info, re.M).group(1))  # type: ignore[union-attr]
    assert 2 <= pages <= 4
    text = poppler("pdftotext", pdf, tmp_path=tmp_path)
    for n in range(1, 41):
        assert f"設置場所{n:02d}" in text
    assert text.count("品目") >= 2  # the table header repeats on the next page
    assert re.search(rf"\b{pages}\s*/\s*{pages}\b", text)  # page footer: n / pages


def test_resources_outside_the_vendored_fonts_are_refused(caplog: pytest.LogCaptureFixture) -> None:
    pdf = html_to_pdf(
        '<p>x</p><img src="file:///etc/hostname"><img src="http://example.com/a.png">'
    )
    assert pdf.startswith(b"%PDF-")
    refused = [r.getMessage() for r in caplog.records if "only vendored fonts" in r.getMessage()]
    assert len(refused) == 2


def test_contract_pdf(tmp_path: Path) -> None:
    data = json.loads((DATA / "contract-camera.json").read_text(encoding="utf-8"))
    contract = Contract.model_validate(data)
    pdf = render_contract(contract).pdf
    assert render_contract(contract).pdf == pdf
    text = poppler("pdftotext", pdf, "-layout", tmp_path=tmp_path)
    for expected in [
        "サービス利用契約書",
        "C-2026-000045",
        "第1条（目的）",
        "第8条（協議）",
        "T9010401234567",
        "10%対象",
        "8%対象",
        "¥146,160",
        "¥3,234/月",
        "代表取締役 鈴木 一郎",
    ]:
        assert expected in text, expected
    fonts = poppler("pdffonts", pdf, tmp_path=tmp_path).splitlines()[2:]
    assert len(fonts) == 1
    assert "IPAexGothic" in fonts[0]
    info = poppler("pdfinfo", pdf, tmp_path=tmp_path)
    assert re.search(r"^Pages:\s+[12]$", info, re.M)
