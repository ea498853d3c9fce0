"""What a customer document may be, without AWS: the declared type and size, the bytes
sniffed for every accepted type and every refused one (programs, scripts, markup, macro
workbooks, active PDFs, lies about the type), names made safe for a key and a download.
Hypothesis: any name becomes a safe one."""

from __future__ import annotations

import io
import zipfile
from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monosub.domain import documents as rules
from monosub.domain.documents import JPEG, PDF, PNG, TIFF, XLSX, MiB

PDF_BYTES = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n%%EOF\n"
JPEG_BYTES = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 32 + b"\xff\xd9"
PNG_BYTES = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 32
TIFF_LITTLE = b"II*\x00\x08\x00\x00\x00" + b"\x00" * 32
TIFF_BIG = b"MM\x00*\x00\x00\x00\x08" + b"\x00" * 32
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 48 + b"PE\x00\x00"


def workbook() -> bytes:
    """A real xlsx, as a customer's Excel (or openpyxl) writes it."""
    from openpyxl import Workbook

    book = Workbook()
    book.active["A1"] = "申込書"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def with_entry(data: bytes, name: str, content: bytes = b"x") -> bytes:
    """The workbook ``data`` with one more zip entry."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(buffer, "w") as target:
        for entry in source.infolist():
            target.writestr(entry, source.read(entry))
        target.writestr(name, content)
    return buffer.getvalue()


def rewritten(data: bytes, name: str, replace: tuple[bytes, bytes]) -> bytes:
    """The workbook ``data`` with one entry's text replaced."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(buffer, "w") as target:
        for entry in source.infolist():
            content = source.read(entry)
            if entry.filename == name:
                content = content.replace(*replace)
            target.writestr(entry, content)
    return buffer.getvalue()


# ---- accepted ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (PDF_BYTES, PDF),
        (JPEG_BYTES, JPEG),
        (PNG_BYTES, PNG),
        (TIFF_LITTLE, TIFF),
        (TIFF_BIG, TIFF),
        (workbook(), XLSX),
        # a workbook Excel wrote with its printer settings (a .bin that is not code)
        (with_entry(workbook(), "xl/printerSettings/printerSettings1.bin"), XLSX),
    ],
    ids=["pdf", "jpeg", "png", "tiff-ii", "tiff-mm", "xlsx", "xlsx-printer-settings"],
)
def test_each_accepted_type_is_accepted(data: bytes, content_type: str):
    assert rules.refusal(data, content_type) is None


def test_a_pdf_that_only_mentions_javascript_in_text_is_accepted():
    text = PDF_BYTES + b"BT (see /JavaScriptGuide for details) Tj ET\n"
    assert rules.refusal(text, PDF) is None


# ---- refused -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "content_type", "expected"),
    [
        (EXE, PDF, "a Windows program (MZ) was sent as application/pdf"),
        (
            b"\x7fELF\x02\x01\x01" + b"\x00" * 40,
            JPEG,
            "a Linux program (ELF) was sent as image/jpeg",
        ),
        (b"\xcf\xfa\xed\xfe" + b"\x00" * 40, PNG, "a macOS program (Mach-O) was sent as image/png"),
        (b"#!/bin/sh\nrm -rf /\n", TIFF, "a script (#!) was sent as image/tiff"),
        (
            b"  <!DOCTYPE html><script>alert(1)</script>",
            PDF,
            "markup that can run scripts (HTML, SVG or XML) was sent as application/pdf",
        ),
        (b'<svg onload="alert(1)"/>', PNG, "markup that can run scripts"),
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 40,
            XLSX,
            "an old Office file (OLE), which may carry macros",
        ),
        (JPEG_BYTES, PDF, "the file does not start as a PDF does (%PDF-)"),
        (PDF_BYTES, JPEG, "the file is not a JPEG image"),
        (JPEG_BYTES, PNG, "the file is not a PNG image"),
        (PNG_BYTES, TIFF, "the file is not a TIFF image"),
        (PDF_BYTES, XLSX, "not a zip file"),
        (b"", PDF, "the file is empty"),
        (PDF_BYTES, "text/plain", "text/plain is not an accepted content type"),
    ],
)
def test_what_is_not_the_declared_type_or_runs_is_refused(
    data: bytes, content_type: str, expected: str
):
    reason = rules.refusal(data, content_type)
    assert reason is not None and expected in reason


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        (b"<< /S /JavaScript /JS (app.alert(1)) >>", "JavaScript"),
        (b"<< /S /J#61vaScript /JS (app.alert(1)) >>", "JavaScript"),  # a hex-escaped name
        (b"<< /S /Launch /F (cmd.exe) >>", "a launch action"),
    ],
)
def test_a_pdf_with_active_content_is_refused(action: bytes, expected: str):
    assert rules.refusal(PDF_BYTES + action, PDF) == f"the PDF contains {expected}"


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("xl/vbaProject.bin", "macros (vbaProject.bin)"),
        ("xl/macrosheets/sheet1.xml", "Excel 4.0 macro sheets"),
        ("xl/activeX/activeX1.bin", "ActiveX controls"),
        ("xl/embeddings/oleObject1.bin", "an embedded OLE object"),
        ("xl/media/invoice.exe", "an embedded program or script"),
    ],
)
def test_a_workbook_carrying_code_is_refused(entry: str, expected: str):
    reason = rules.refusal(with_entry(workbook(), entry), XLSX)
    assert reason == f"the workbook contains {expected}: {entry}"


def test_a_macro_enabled_workbook_is_refused_even_without_its_macros():
    data = rewritten(
        workbook(),
        "[Content_Types].xml",
        (b"spreadsheetml.sheet.main+xml", b"ms-excel.sheet.macroEnabled.main+xml"),
    )
    assert rules.refusal(data, XLSX) == "the workbook is macro-enabled"


def test_a_zip_that_is_not_a_workbook_is_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "hello")
    assert "no [Content_Types].xml" in str(rules.refusal(buffer.getvalue(), XLSX))
    word = rewritten(
        workbook(), "[Content_Types].xml", (b"spreadsheetml.sheet.main+xml", b"word.main+xml")
    )
    assert rules.refusal(word, XLSX) == "the zip file is not an Excel workbook (xlsx)"
    assert rules.refusal(b"PK\x03\x04broken", XLSX) == "the file is not a readable xlsx workbook"


def test_bytes_over_the_types_limit_are_refused():
    assert "over the limit" in str(rules.refusal(JPEG_BYTES + b"\x00" * (10 * MiB), JPEG))


# ---- declarations ------------------------------------------------------------------------


def test_declared_type_and_size():
    assert rules.declaration_problems(PDF, 20 * MiB) == []
    assert rules.declaration_problems(TIFF, 30 * MiB) == []
    assert rules.declaration_problems("application/x-msdownload", 10) == [
        {
            "field": "content_type",
            "message": "'application/x-msdownload' is not accepted: one of application/pdf, "
            "image/jpeg, image/png, image/tiff, " + XLSX,
        }
    ]
    assert rules.declaration_problems(PDF, 20 * MiB + 1) == [
        {
            "field": "size",
            "message": f"{20 * MiB + 1} bytes is over the 20 MiB limit for application/pdf",
        }
    ]
    assert rules.declaration_problems(PNG, 0)[0]["field"] == "size"


# ---- names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given_name", "content_type", "safe"),
    [
        ("申込書 2026年11月.pdf", PDF, "申込書_2026年11月.pdf"),
        ("../../etc/passwd", None, "passwd"),
        ("..\\..\\windows\\注文書.PDF", PDF, "注文書.pdf"),
        ("scan.exe", PDF, "scan.exe.pdf"),
        ("発注書", XLSX, "発注書.xlsx"),
        ('a"b\\c/d<e>f|g?h*i%j#k.png', PNG, "d_e_f_g_h_i_j_k.png"),
        ("line\nbreak\x00nul\u202etxt.jpg", JPEG, "line_break_nul_txt.jpg"),
        ("...", PDF, "document.pdf"),
        ("", None, "document"),
        ("ＡＢＣ．ｐｄｆ", PDF, "ABC.pdf"),  # full-width (NFKC)
        ("photo.jpeg", JPEG, "photo.jpeg"),
    ],
)
def test_names_are_made_safe(given_name: str, content_type: str | None, safe: str):
    assert rules.safe_file_name(given_name, content_type) == safe


def test_a_long_name_is_cut_keeping_its_extension():
    safe = rules.safe_file_name("長" * 300 + ".tiff", TIFF)
    assert len(safe) == rules.MAX_NAME_LENGTH and safe.endswith(".tiff")


_FORBIDDEN = set("/\\\"'<>:|?*%#&+;=`{}[]^~$@!,") | {chr(c) for c in range(32)} | {"\x7f"}


@given(st.text(max_size=400), st.sampled_from([None, *rules.CONTENT_TYPES]))
def test_any_name_becomes_a_safe_one(name: str, content_type: str | None):
    safe = rules.safe_file_name(name, content_type)
    assert safe and len(safe) <= rules.MAX_NAME_LENGTH
    assert not set(safe) & _FORBIDDEN
    assert not safe.startswith(".") and ".." not in safe.split(".")[0:1]
    assert " " not in safe
    if content_type is not None:
        assert safe.lower().endswith(rules.EXTENSIONS[content_type])


def test_the_download_name_keeps_japanese_and_has_an_ascii_fallback():
    from monosub.services.documents import content_disposition

    header = content_disposition("申込書 山田.pdf")
    assert header.startswith('attachment; filename="')
    fallback = header.split('filename="', 1)[1].split('"', 1)[0]
    assert fallback.isascii() and fallback.endswith(".pdf")
    assert unquote(header.split("filename*=UTF-8''", 1)[1]) == "申込書_山田.pdf"
