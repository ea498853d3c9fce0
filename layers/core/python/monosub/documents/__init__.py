"""Customer documents (見積書, 契約書, 請求書): typed models, Jinja2 HTML, PDF.

    from monosub.documents import Quote, render_quote
    rendered = render_quote(Quote.model_validate(data))       # or render_contract(Contract…)
    rendered = render_invoice(Invoice.model_validate(data))   # 請求書 / 適格返還請求書
    rendered.pdf, rendered.pdf_sha256, rendered.html, rendered.content_fingerprint

See docs/documents.md.
"""

from monosub.documents.formatting import date_ja, signed_yen, yen
from monosub.documents.model import (
    Article,
    Contract,
    Discount,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceTaxSubtotal,
    Issuer,
    Line,
    PricedItems,
    Quote,
    Recipient,
    TaxSubtotal,
)
from monosub.documents.render import (
    RenderedDocument,
    RenderError,
    content_fingerprint,
    html_to_pdf,
    pdf_rendering_available,
    render_contract,
    render_document,
    render_html,
    render_invoice,
    render_pdf,
    render_quote,
)

__all__ = [
    "Article",
    "Contract",
    "Discount",
    "Invoice",
    "InvoiceKind",
    "InvoiceLine",
    "InvoiceTaxSubtotal",
    "Issuer",
    "Line",
    "PricedItems",
    "Quote",
    "Recipient",
    "RenderError",
    "RenderedDocument",
    "TaxSubtotal",
    "content_fingerprint",
    "date_ja",
    "html_to_pdf",
    "pdf_rendering_available",
    "render_contract",
    "render_document",
    "render_html",
    "render_invoice",
    "render_pdf",
    "render_quote",
    "signed_yen",
    "yen",
]
