"""Customer documents stored in S3 (scanned application forms, purchase orders, signed
contracts, other scans), linked to their account and optionally a deal and a contract.

A document uploaded by staff is ``pending`` until its bytes are checked after the upload
(``document-uploaded``), then ``stored`` (downloadable) or ``rejected`` (with the reason; the
bytes kept in ``quarantine/`` for ops). One a system channel hands over (``attach``) is
checked first and written ``stored``. The generated PDFs (見積書, 契約書, 請求書) are not
documents of this kind: they are listed beside them, derived from their records
(``GeneratedDocument``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from monosub.access import Segment
from monosub.domain.documents import CONTENT_TYPES, DocumentKind

DocumentStatus = Literal["pending", "stored", "rejected"]
GeneratedKind = Literal["quote", "contract", "invoice"]


class Document(BaseModel):
    """A document as stored (table ``records``) and shown."""

    document_id: str
    kind: DocumentKind
    file_name: str = Field(description="The name as given (shown, and the download's name)")
    content_type: str
    size: int = Field(description="Declared; once stored, the size of the bytes stored")
    sha256: str | None = Field(default=None, description="Of the bytes stored")
    key: str = Field(description="The object in the documents bucket")
    version_id: str | None = Field(default=None, description="The S3 version checked")
    quarantine_key: str | None = Field(default=None, description="Where rejected bytes are")
    account_id: str
    deal_id: str | None = None
    contract_id: str | None = None
    segment: Segment = Field(description="Copied from the record: who may see it")
    agency_id: str | None = Field(default=None, description="Copied from the record")
    uploaded_by: str
    source: str = Field(description="upload (staff, presigned POST) or the system channel")
    status: DocumentStatus = "pending"
    reason: str | None = Field(default=None, description="Why it was rejected")
    created_at: str
    updated_at: str
    decided_at: str | None = None
    published_at: str | None = Field(
        default=None, description="When DocumentStored/DocumentRejected went out (once)"
    )
    version: int = 1


class DocumentUpload(BaseModel):
    """Body of ``POST /documents``: what the caller is about to upload, and where it
    belongs. The upload itself goes straight to S3 with the presigned POST answered."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    kind: DocumentKind
    account_id: str = Field(min_length=1, max_length=64)
    deal_id: str | None = Field(default=None, min_length=1, max_length=64)
    contract_id: str | None = Field(default=None, min_length=1, max_length=64)
    file_name: str = Field(min_length=1, max_length=255)
    content_type: str = Field(
        min_length=1, max_length=128, description=f"One of {', '.join(CONTENT_TYPES)}"
    )
    size: int = Field(ge=1, description="Bytes; the upload must be exactly this size")

    @field_validator("content_type")
    @classmethod
    def lower_case(cls, value: str) -> str:
        return value.lower()


class PresignedPost(BaseModel):
    """Where and how to upload: POST ``url`` as ``multipart/form-data`` with ``fields``
    first and the file last (field ``file``), before ``expires_at``."""

    url: str
    fields: dict[str, str]
    expires_at: str


class UploadTicket(BaseModel):
    document: Document
    upload: PresignedPost


class GeneratedDocument(BaseModel):
    """A PDF monosub issued (見積書, 契約書, 請求書), derived from its record when listed."""

    document_id: str = Field(description="pdf:<kind>:<record id>[:<version or term>]")
    kind: GeneratedKind
    title: str
    file_name: str
    content_type: str = "application/pdf"
    key: str
    sha256: str | None = None
    account_id: str | None = None
    deal_id: str | None = None
    contract_id: str | None = None
    created_at: str | None = None


class Download(BaseModel):
    """A presigned GET of a document's bytes, short-lived."""

    url: str
    expires_at: str


class DocumentView(BaseModel):
    """``GET /documents/{id}``: the document and, when it is downloadable, its link."""

    document: Document | None = None
    generated: GeneratedDocument | None = None
    download: Download | None = None


class DocumentList(BaseModel):
    """The documents of an account, deal or contract: the stored ones newest first (paged
    with ``next``) and, on the first page, the PDFs monosub generated for it."""

    documents: list[Document]
    generated: list[GeneratedDocument]
    next: str | None = None
