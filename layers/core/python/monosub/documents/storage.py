"""Customer documents as PDF files in the ``documents`` bucket.

PDFs are rendered by one function, ``document-renderer``, shipped as a container image (it
needs Pango, which a zip function with layers cannot carry; see
``infra/images/document-renderer/Dockerfile``). Other functions ask it synchronously:

    stored = store_pdf("quote", quote_document, quote_pdf_key(quote_id, version))
    stored.key, stored.sha256, stored.size

The same document renders the same bytes, so asking twice for the same key is harmless: the
second put writes identical bytes (the sha256 says so).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from monosub import aws, config
from monosub.documents.model import Contract, Invoice, Quote
from monosub.names import DOCUMENT_RENDERER, DOCUMENTS

Kind = Literal["quote", "contract", "invoice"]
MODELS: dict[str, type[BaseModel]] = {"quote": Quote, "contract": Contract, "invoice": Invoice}
PDF = "application/pdf"


class DocumentNotRendered(RuntimeError):
    """The renderer refused or failed; nothing was stored."""


@dataclass(frozen=True)
class StoredDocument:
    key: str
    sha256: str
    size: int

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "sha256": self.sha256, "size": self.size}


def quote_pdf_key(quote_id: str, version: int) -> str:
    return f"quotes/{quote_id}/v{version:03d}.pdf"


def contract_pdf_key(contract_id: str, version: int = 1) -> str:
    return f"contracts/{contract_id}/v{version:03d}.pdf"


def store_pdf(kind: Kind, document: Quote | Contract | Invoice, key: str) -> StoredDocument:
    """Render ``document`` as PDF and store it at ``key``, through the renderer function."""
    request = {"kind": kind, "key": key, "document": document.model_dump(mode="json")}
    response = aws.client("lambda").invoke(
        FunctionName=config.function_name(DOCUMENT_RENDERER),
        Payload=json.dumps(request, ensure_ascii=False).encode("utf-8"),
    )
    payload = json.loads(response["Payload"].read() or b"null")
    if response.get("FunctionError") or not isinstance(payload, dict):
        message = payload.get("errorMessage") if isinstance(payload, dict) else payload
        raise DocumentNotRendered(f"{kind} {key} was not rendered: {message}")
    return StoredDocument(key=payload["key"], sha256=payload["sha256"], size=payload["size"])


def render_and_put(request: dict[str, Any]) -> StoredDocument:
    """What the renderer function does with a request: validate, render, put."""
    from monosub.documents.render import render_contract, render_invoice, render_quote

    kind = request.get("kind")
    key = request.get("key")
    if kind not in MODELS or not isinstance(key, str) or not key.endswith(".pdf"):
        raise DocumentNotRendered(f"not a render request: kind={kind!r} key={key!r}")
    try:
        document = MODELS[kind].model_validate(request.get("document"))
    except ValidationError as error:
        raise DocumentNotRendered(f"the {kind} does not add up: {error}") from error
    if isinstance(document, Quote):
        rendered = render_quote(document)
    elif isinstance(document, Invoice):
        rendered = render_invoice(document)
    else:
        rendered = render_contract(document)  # type: ignore[arg-type]
    pdf = rendered.pdf
    sha256 = hashlib.sha256(pdf).hexdigest()
    aws.client("s3").put_object(
        Bucket=config.bucket_name(DOCUMENTS),
        Key=key,
        Body=pdf,
        ContentType=PDF,
        Metadata={"sha256": sha256, "kind": kind},
    )
    return StoredDocument(key=key, sha256=sha256, size=len(pdf))


def read_pdf(key: str) -> bytes:
    """The stored PDF's bytes."""
    body = aws.client("s3").get_object(Bucket=config.bucket_name(DOCUMENTS), Key=key)["Body"]
    return bytes(body.read())
