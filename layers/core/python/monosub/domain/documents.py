"""What a stored customer document may be: the content types accepted, their size limits,
a file name made safe for an S3 key, and a check of the bytes themselves.

A client declares a content type; S3's POST policy makes the upload carry exactly that type
and no more bytes than declared, but neither S3 nor a browser looks at the bytes. So the
bytes are checked after the upload (and before ``attach`` stores a channel's file): they
must start as the declared type does (PDF ``%PDF-``, JPEG, PNG, TIFF, an xlsx workbook: a
zip with ``[Content_Types].xml``), and nothing executable is accepted: a program (Windows
PE ``MZ``, ELF, Mach-O), a script (``#!``, HTML), a workbook with macros (``vbaProject.bin``,
Excel 4.0 macro sheets, ActiveX controls, embedded OLE objects or programs), a PDF with
JavaScript or a launch action. This is a screen for what a customer channel should never
send, not a virus scanner (a PDF's object streams are compressed and not opened here).

Pure: bytes in, a reason out. Nothing here touches AWS.
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from typing import Literal, get_args

PDF = "application/pdf"
JPEG = "image/jpeg"
PNG = "image/png"
TIFF = "image/tiff"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

MiB = 1024 * 1024
# The largest file of each type: a scanned multi-page TIFF is the biggest honest file.
MAX_BYTES: dict[str, int] = {
    PDF: 20 * MiB,
    JPEG: 10 * MiB,
    PNG: 10 * MiB,
    TIFF: 30 * MiB,
    XLSX: 10 * MiB,
}
CONTENT_TYPES: tuple[str, ...] = tuple(MAX_BYTES)
EXTENSIONS: dict[str, tuple[str, ...]] = {
    PDF: (".pdf",),
    JPEG: (".jpg", ".jpeg"),
    PNG: (".png",),
    TIFF: (".tif", ".tiff"),
    XLSX: (".xlsx",),
}

DocumentKind = Literal["application-form", "purchase-order", "signed-contract", "scan", "other"]
DOCUMENT_KINDS: tuple[DocumentKind, ...] = get_args(DocumentKind)

MAX_NAME_LENGTH = 120  # characters of the safe name (S3 keys allow 1024 bytes)

_EXECUTABLES: tuple[tuple[bytes, str], ...] = (
    (b"MZ", "a Windows program (MZ)"),
    (b"\x7fELF", "a Linux program (ELF)"),
    (b"\xcf\xfa\xed\xfe", "a macOS program (Mach-O)"),
    (b"\xce\xfa\xed\xfe", "a macOS program (Mach-O)"),
    (b"\xfe\xed\xfa\xcf", "a macOS program (Mach-O)"),
    (b"\xfe\xed\xfa\xce", "a macOS program (Mach-O)"),
    (b"\xca\xfe\xba\xbe", "a macOS or Java program"),
    (b"#!", "a script (#!)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Office file (OLE), which may carry macros"),
)
_MARKUP = re.compile(rb"^\s*<(?:!doctype\s+html|html|script|svg|\?xml)", re.IGNORECASE)
_PDF_NAME = re.compile(rb"/((?:[A-Za-z0-9]|#[0-9A-Fa-f]{2}){4,16})")
_PDF_ACTIONS = {b"JavaScript": "JavaScript", b"Launch": "a launch action"}
_ZIP_ENTRIES_REFUSED: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(^|/)vbaProject\.bin$", re.IGNORECASE), "macros (vbaProject.bin)"),
    (re.compile(r"^xl/macrosheets/", re.IGNORECASE), "Excel 4.0 macro sheets"),
    (re.compile(r"^xl/activeX/", re.IGNORECASE), "ActiveX controls"),
    (re.compile(r"^xl/embeddings/.*\.bin$", re.IGNORECASE), "an embedded OLE object"),
    (
        re.compile(r"\.(exe|dll|scr|com|bat|cmd|ps1|vbs|js|jar|msi|sh)$", re.IGNORECASE),
        "an embedded program or script",
    ),
)
_CONTENT_TYPES_XML_LIMIT = 1 * MiB


def max_bytes(content_type: str) -> int:
    return MAX_BYTES[content_type]


def declaration_problems(content_type: str, size: int) -> list[dict[str, str]]:
    """What is wrong with a declared content type and size (field-level, as the API
    answers); empty when both are acceptable."""
    if content_type not in MAX_BYTES:
        return [
            {
                "field": "content_type",
                "message": f"{content_type!r} is not accepted: one of {', '.join(CONTENT_TYPES)}",
            }
        ]
    if size < 1:
        return [{"field": "size", "message": "an empty file is not a document"}]
    limit = MAX_BYTES[content_type]
    if size > limit:
        return [
            {
                "field": "size",
                "message": f"{size} bytes is over the {limit // MiB} MiB limit for {content_type}",
            }
        ]
    return []


def safe_file_name(name: str, content_type: str | None = None) -> str:
    """``name`` as the last part of an S3 key and a download name: the base name only (no
    directories, so no ``../``), NFKC, no control characters, no characters that need
    escaping in a URL or a header (``"`` ``\\`` ``/`` ``%`` ``?`` ``#`` …: ``_``), no leading
    dots, at most ``MAX_NAME_LENGTH`` characters keeping the extension; Japanese letters are
    kept. An empty result is ``document``; the declared type's extension is added when the
    name has none of its own."""
    base = unicodedata.normalize("NFKC", name).replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(
        "_"
        if (unicodedata.category(char)[0] in "CZ" and char != " ")
        or char in "\"'<>:|?*%#&+;=`{}[]^~$@!,"
        else char
        for char in base
    )
    cleaned = re.sub(r"\s+", "_", cleaned.strip())
    cleaned = re.sub(r"_+", "_", cleaned).lstrip("._") or "document"
    stem, dot, extension = cleaned.rpartition(".")
    if not dot or not stem:
        stem, extension = cleaned, ""
    extension = extension.lower()[:10]
    if content_type in EXTENSIONS and f".{extension}" not in EXTENSIONS[content_type]:
        stem = cleaned if not extension else f"{stem}.{extension}"
        extension = EXTENSIONS[content_type][0][1:]
    room = MAX_NAME_LENGTH - (len(extension) + 1 if extension else 0)
    stem = stem[:room].rstrip("._") or "document"
    return f"{stem}.{extension}" if extension else stem


def executable_kind(data: bytes) -> str | None:
    """What executable ``data`` is, by its first bytes (None: none of those)."""
    for magic, what in _EXECUTABLES:
        if data.startswith(magic):
            return what
    if _MARKUP.match(data[:512]):
        return "markup that can run scripts (HTML, SVG or XML)"
    return None


def refusal(data: bytes, content_type: str) -> str | None:
    """Why ``data`` is not accepted as ``content_type`` (None: accepted): the size limit, an
    executable, bytes that are not of the declared type, active content inside it."""
    if content_type not in MAX_BYTES:
        return f"{content_type} is not an accepted content type"
    if not data:
        return "the file is empty"
    if len(data) > MAX_BYTES[content_type]:
        return f"{len(data)} bytes is over the limit for {content_type}"
    executable = executable_kind(data)
    if executable:
        return f"{executable} was sent as {content_type}"
    checks = {PDF: _pdf, JPEG: _jpeg, PNG: _png, TIFF: _tiff, XLSX: _xlsx}
    return checks[content_type](data)


def _pdf(data: bytes) -> str | None:
    if not data.startswith(b"%PDF-"):
        return "the file does not start as a PDF does (%PDF-)"
    for match in _PDF_NAME.finditer(data):
        name = _pdf_name(match.group(1))
        if name in _PDF_ACTIONS:
            return f"the PDF contains {_PDF_ACTIONS[name]}"
    return None


def _pdf_name(raw: bytes) -> bytes:
    """A PDF name with its ``#xx`` escapes decoded (``/J#61vaScript`` is ``/JavaScript``)."""
    return re.sub(rb"#([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), raw)


def _jpeg(data: bytes) -> str | None:
    return None if data.startswith(b"\xff\xd8\xff") else "the file is not a JPEG image"


def _png(data: bytes) -> str | None:
    return None if data.startswith(b"\x89PNG\r\n\x1a\n") else "the file is not a PNG image"


def _tiff(data: bytes) -> str | None:
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return None
    return "the file is not a TIFF image"


def _xlsx(data: bytes) -> str | None:
    if not data.startswith(b"PK\x03\x04"):
        return "the file is not an xlsx workbook (not a zip file)"
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
            names = [entry.filename for entry in entries]
            if "[Content_Types].xml" not in names:
                return "the zip file is not an Office workbook (no [Content_Types].xml)"
            for name in names:
                for pattern, what in _ZIP_ENTRIES_REFUSED:
                    if pattern.search(name):
                        return f"the workbook contains {what}: {name}"
            content_types = archive.getinfo("[Content_Types].xml")
            if content_types.file_size > _CONTENT_TYPES_XML_LIMIT:
                return "the workbook's [Content_Types].xml is implausibly large"
            declared = archive.read(content_types).decode("utf-8", "replace")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError):
        return "the file is not a readable xlsx workbook"
    if "macroEnabled" in declared or "vbaProject" in declared:
        return "the workbook is macro-enabled"
    if "spreadsheetml.sheet.main+xml" not in declared:
        return "the zip file is not an Excel workbook (xlsx)"
    return None
