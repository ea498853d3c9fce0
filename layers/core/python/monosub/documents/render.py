"""Jinja2 HTML templates → PDF (WeasyPrint) with the vendored IPAexGothic font embedded.

- Templates live in `monosub/templates/`; autoescape is on for every `.html.j2` template, so
  user input (a company name, terms) is always escaped. No templated value is ever placed
  inside `<style>`: the layout CSS is static (`document.css`) and the `@font-face` rule, the
  only CSS that depends on where the code runs, is built here and handed to WeasyPrint as a
  separate stylesheet.
- The font is loaded by `@font-face src: url(file://…/ipaexg.ttf)` and embedded as a subset.
  The document's own text never uses a system font: a machine with no fonts installed renders
  the same PDF (and WeasyPrint can crash with no font at all).
- Resources are fetched only from the vendored fonts folder: a template or a value can make
  the renderer read no other file and no network URL.
- The same input renders the same bytes: WeasyPrint writes no time of its own, the PDF's
  creation date comes from the document (`<meta name="dcterms.created">`), and no file
  identifier is written. The consent flow stores `sha256(pdf)`; `content_fingerprint(html)`
  is the fallback that needs no PDF.

WeasyPrint needs pango/harfbuzz/fontconfig system libraries (scripts/install-system-deps.sh);
it is imported on first PDF render, so `render_html` works without them.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2

from monosub.documents.formatting import date_ja, quantity, signed_yen, yen

if TYPE_CHECKING:
    from weasyprint import CSS
    from weasyprint.text.fonts import FontConfiguration

    from monosub.documents.model import Contract, Invoice, Quote

PACKAGE_DIR = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
FONTS_DIR = PACKAGE_DIR / "fonts"
FONT_FILE = FONTS_DIR / "ipaexg.ttf"
FONT_FAMILY = "IPAexGothic"


class RenderError(RuntimeError):
    """The document could not be rendered (missing system libraries, bad template)."""


@functools.cache
def environment() -> jinja2.Environment:
    """The Jinja2 environment for documents: autoescape on, undefined names are errors."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "html.j2", "xml"),
            default_for_string=True,
            default=True,
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["yen"] = yen
    env.filters["date_ja"] = date_ja
    env.filters["quantity"] = quantity
    env.filters["signed_yen"] = signed_yen
    return env


def render_html(template: str, context: Mapping[str, Any]) -> str:
    """The document as HTML (self-contained but for the font, which only the PDF carries)."""
    return environment().get_template(template).render(**context)


def content_fingerprint(html: str) -> str:
    """'sha256:<hex>' of the rendered HTML: identifies what a document says, PDF or not."""
    return "sha256:" + hashlib.sha256(html.encode("utf-8")).hexdigest()


def html_to_pdf(html: str) -> bytes:
    """Render HTML from `render_html` to PDF bytes with the vendored font embedded."""
    weasyprint = _weasyprint()
    font_config, font_face = _font()
    document = weasyprint.HTML(
        string=html, base_url=TEMPLATES_DIR.as_uri() + "/", url_fetcher=_vendored_only()
    )
    pdf = document.write_pdf(
        stylesheets=[font_face],
        font_config=font_config,
        pdf_identifier=False,
        uncompressed_pdf=False,
    )
    if not isinstance(pdf, bytes):  # pragma: no cover - write_pdf without target returns bytes
        raise RenderError("WeasyPrint returned no PDF")
    return pdf


def render_pdf(template: str, context: Mapping[str, Any]) -> bytes:
    """Render a template to PDF bytes."""
    return html_to_pdf(render_html(template, context))


@dataclass(frozen=True)
class RenderedDocument:
    """A rendered document: its HTML, its PDF, and the hashes the consent flow keeps."""

    html: str
    pdf: bytes

    @property
    def pdf_sha256(self) -> str:
        return hashlib.sha256(self.pdf).hexdigest()

    @property
    def content_fingerprint(self) -> str:
        return content_fingerprint(self.html)


def render_document(template: str, context: Mapping[str, Any]) -> RenderedDocument:
    html = render_html(template, context)
    return RenderedDocument(html=html, pdf=html_to_pdf(html))


def render_quote(quote: Quote) -> RenderedDocument:
    """見積書 for a priced quote."""
    return render_document("quote.html.j2", {"quote": quote})


def render_contract(contract: Contract) -> RenderedDocument:
    """契約書 for a contract (the customer is 甲, the issuer 乙)."""
    return render_document("contract.html.j2", {"contract": contract})


def render_invoice(invoice: Invoice) -> RenderedDocument:
    """請求書, or 適格返還請求書 for a credit note, as the billing engine computed it."""
    return render_document("invoice.html.j2", {"invoice": invoice})


def pdf_rendering_available() -> str | None:
    """None when PDFs can be rendered here, else why not (for skipping tests, health checks)."""
    try:
        _weasyprint()
    except RenderError as error:
        return str(error)
    return None


# ---- WeasyPrint plumbing ----------------------------------------------------------------------


@functools.cache
def _weasyprint() -> Any:
    try:
        import weasyprint
    except (ImportError, OSError) as error:  # OSError: pango/harfbuzz shared libraries missing
        raise RenderError(
            f"WeasyPrint cannot load ({error}); run scripts/install-system-deps.sh"
        ) from error
    return weasyprint


@functools.cache
def _font() -> tuple[FontConfiguration, CSS]:
    """One font configuration per process, with IPAexGothic registered from the vendored file.

    Rules for bold/italic point at the same file: IPAex has one face, and without them
    WeasyPrint would ask fontconfig for a system font for <strong> and <th>.
    """
    if not FONT_FILE.is_file():
        raise RenderError(f"the vendored font is missing: {FONT_FILE}")
    weasyprint = _weasyprint()
    from weasyprint.text.fonts import FontConfiguration

    font_config = FontConfiguration()
    url = FONT_FILE.as_uri()
    rules = "\n".join(
        f'@font-face {{ font-family: "{FONT_FAMILY}"; src: url("{url}"); '
        f"font-weight: {weight}; font-style: {style}; }}"
        for weight in ("normal", "bold")
        for style in ("normal", "italic")
    )
    return font_config, weasyprint.CSS(
        string=rules, font_config=font_config, url_fetcher=_vendored_only()
    )


@functools.cache
def _vendored_only() -> Any:
    """A URL fetcher that serves the vendored fonts folder and refuses everything else."""
    weasyprint = _weasyprint()
    allowed_prefix = FONTS_DIR.as_uri() + "/"

    class VendoredOnly(weasyprint.URLFetcher):  # type: ignore[name-defined]
        def fetch(self, url: str, headers: Mapping[str, str] | None = None) -> Any:
            if not url.startswith(allowed_prefix) or ".." in url:
                raise ValueError(f"documents may load only vendored fonts, not {url}")
            return super().fetch(url, headers)

    return VendoredOnly()
