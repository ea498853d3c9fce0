"""Email to customers and staff through SES (v2), from the stage's sender address.

Locally the embedded AWS captures every message (moto's SES backend): a test or the demo
reads exactly what would have been sent.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from monosub import aws, config


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    content_type: str = "application/pdf"


@dataclass(frozen=True)
class Email:
    to: Sequence[str]
    subject: str
    text: str
    html: str | None = None
    reply_to: Sequence[str] = field(default_factory=tuple)
    attachments: Sequence[Attachment] = field(default_factory=tuple)


class Mailer(Protocol):
    def send(self, email: Email) -> str: ...


class SesMailer:
    def send(self, email: Email) -> str:
        if email.attachments:
            return self._send_raw(email)
        body: dict[str, dict[str, str]] = {"Text": {"Data": email.text, "Charset": "UTF-8"}}
        if email.html is not None:
            body["Html"] = {"Data": email.html, "Charset": "UTF-8"}
        response = aws.client("sesv2").send_email(
            FromEmailAddress=config.require(config.EMAIL_FROM_ENV),
            Destination={"ToAddresses": list(email.to)},
            ReplyToAddresses=list(email.reply_to),
            Content={
                "Simple": {"Subject": {"Data": email.subject, "Charset": "UTF-8"}, "Body": body}
            },
        )
        return str(response["MessageId"])

    def _send_raw(self, email: Email) -> str:
        """A message with attachments: MIME built here, sent as SES raw content."""
        sender = config.require(config.EMAIL_FROM_ENV)
        message = EmailMessage()
        message["Subject"] = email.subject
        message["From"] = sender
        message["To"] = ", ".join(email.to)
        if email.reply_to:
            message["Reply-To"] = ", ".join(email.reply_to)
        message.set_content(email.text, charset="utf-8")
        if email.html is not None:
            message.add_alternative(email.html, subtype="html", charset="utf-8")
        for attachment in email.attachments:
            main, sub = attachment.content_type.split("/", 1)
            message.add_attachment(
                attachment.content, maintype=main, subtype=sub, filename=attachment.filename
            )
        response = aws.client("sesv2").send_email(
            FromEmailAddress=sender,
            Destination={"ToAddresses": list(email.to)},
            Content={"Raw": {"Data": message.as_bytes()}},
        )
        return str(response["MessageId"])


class RecordingMailer:
    """For unit tests: keeps what was sent."""

    def __init__(self) -> None:
        self.sent: list[Email] = []

    def send(self, email: Email) -> str:
        self.sent.append(email)
        return f"recorded-{len(self.sent)}"


default_mailer: Mailer = SesMailer()


TEMPLATES = Path(__file__).resolve().parent / "templates"


def render(stem: str, context: Mapping[str, Any]) -> tuple[str, str]:
    """A customer email as text and HTML, from the Japanese templates ``<stem>_text.j2`` and
    ``<stem>_html.j2`` (filters ``date_ja`` and ``yen``; a missing value is an error)."""
    return (
        _environment(False).get_template(f"{stem}_text.j2").render(**context),
        _environment(True).get_template(f"{stem}_html.j2").render(**context),
    )


@functools.cache
def _environment(html: bool) -> Environment:
    from monosub.documents.formatting import date_ja, yen

    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=html,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["date_ja"] = date_ja
    environment.filters["yen"] = yen
    return environment
