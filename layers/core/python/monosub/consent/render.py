"""HTML and email of the consent flow, from ``templates/consent_*.j2`` (Japanese).

The document (``consent_document.j2``) is rendered once, when consent is requested; that
exact HTML is stored with its SHA-256 and embedded unchanged in every page that shows it, so
the hash in the evidence is the hash of what the customer saw. ``TEMPLATE_VERSION`` names the
document template: change the template, bump the version (a test holds its hash).

Pages load nothing from anywhere: one inline stylesheet, allowed by its hash in the
Content-Security-Policy, no scripts, no images, forms posting back to the page's own URL.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import date, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from monosub import clock
from monosub.consent.models import Consent, ConsentDocument
from monosub.email import Email

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
TEMPLATE_VERSION = 1
DOCUMENT_TEMPLATE = "consent_document.j2"


def yen(amount: int) -> str:
    return f"{amount:,}円"


def minus_yen(amount: int) -> str:
    return f"−{amount:,}円" if amount else "0円"


def jst(moment: str | datetime) -> str:
    """An instant as a Japanese reader expects it: ``2026年11月16日 10:00``, Tokyo time."""
    instant = clock.parse_instant(moment) if isinstance(moment, str) else moment
    local = instant.astimezone(clock.TOKYO)
    return f"{local.year}年{local.month}月{local.day}日 {local.hour:02d}:{local.minute:02d}"


def date_ja(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _environment(*, html: bool) -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=html,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters.update(yen=yen, minus_yen=minus_yen, jst=jst, date_ja=date_ja)
    return environment


_html = _environment(html=True)
_text = _environment(html=False)

STYLE = _html.get_template("consent_style.j2").render().strip()
STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode("utf-8")).digest()).decode("ascii")
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; style-src 'sha256-{STYLE_HASH}'; img-src 'none'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# Every page of the flow: no caching anywhere (the link is a credential), no indexing, no
# referrer (the URL holds the token), no framing, no sniffing.
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "X-Robots-Tag": "noindex, nofollow",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


def document_html(document: ConsentDocument) -> str:
    return _html.get_template(DOCUMENT_TEMPLATE).render(d=document)


def sha256_hex(html: str) -> str:
    return hashlib.sha256(html.encode("utf-8")).hexdigest()


def page(consent: Consent) -> str:
    """The page that asks: the stored document HTML, unchanged, and the two answers."""
    return _html.get_template("consent_page.j2").render(
        style=Markup(STYLE),
        consent=consent,
        document=consent.document,
        document_html=Markup(consent.document_html),
    )


def result(kind: str, consent: Consent | None = None, **context: Any) -> str:
    """A page that tells how a visit ended (answered, expired, superseded, invalid, ...)."""
    return _html.get_template("consent_result.j2").render(
        style=Markup(STYLE),
        kind=kind,
        consent=consent,
        document=consent.document if consent else None,
        **context,
    )


def email(consent: Consent, link: str) -> Email:
    context = {"consent": consent, "document": consent.document, "link": link}
    return Email(
        to=[consent.recipient_email],
        subject=f"【ご確認のお願い】{consent.document.title}",
        text=_text.get_template("consent_email_text.j2").render(**context),
        html=_html.get_template("consent_email_html.j2").render(**context),
    )


def reminder_email(consent: Consent, link: str) -> Email:
    """The reminder of a request nobody answered yet: the same link, the same 回答期限."""
    context = {"consent": consent, "document": consent.document, "link": link}
    return Email(
        to=[consent.recipient_email],
        subject=f"【再送・ご確認のお願い】{consent.document.title}",
        text=_text.get_template("consent_reminder_email_text.j2").render(**context),
        html=_html.get_template("consent_reminder_email_html.j2").render(**context),
    )
