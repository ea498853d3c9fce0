"""Customer documents in the ``documents`` bucket: uploaded by staff through a presigned
POST, checked after the upload, or attached by a system channel; listed and downloaded
through presigned URLs with the same role checks as the record they belong to.

- ``request_upload`` (``POST /documents``): the declared type and size are checked, the
  ``pending`` document is written, and a presigned POST is answered whose policy lets the
  client put exactly that content type and exactly that many bytes at
  ``uploads/<document id>/<safe name>``, for ten minutes. The bytes never pass through
  Lambda (6 MB payload limit) and the API never holds them.
- ``on_uploaded`` (the ``document-uploaded`` function, S3 ObjectCreated under ``uploads/``)
  reads the bytes and decides once (conditional on the version read): ``stored`` with their
  sha256 and S3 version id, or ``rejected`` with the reason, the bytes moved to
  ``quarantine/<document id>/<name>`` (kept as evidence for ops, never downloadable through
  the API). A repeated notification finds the document decided and changes nothing; a
  second upload over a decided document is removed (its version), so the checked version
  stays the current one.
- ``attach``: a system channel (the Excel form channel, web orders) hands over bytes; they
  are checked the same way and stored at once under ``attached/``. Its id is derived from
  the sha256 and the links, so handing the same file over again returns the same document.
- ``get_document``, ``account_documents``, ``deal_documents``, ``contract_documents``: the
  caller must see the record (404 as for a missing one otherwise); a ``stored`` document
  comes with a presigned GET (five minutes, ``Content-Disposition`` with its name). The
  PDFs monosub generated (見積書 of a deal, 契約書 of a contract, 請求書 of an account) are
  listed beside them, derived from their records, with ids ``pdf:<kind>:<id>[:<n>]``.

Events (source ``monosub.documents``): ``DocumentStored``, ``DocumentRejected``, each once
per document (``published_at``), filed in the audit trail under the account and the deal.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from urllib.parse import quote as url_quote

import boto3
from botocore.config import Config

from monosub import access, aws, clock, config, events, ids
from monosub.access import Scope
from monosub.auth import Principal
from monosub.domain import documents as rules
from monosub.domain.documents import DocumentKind
from monosub.domain.leads import is_record_id
from monosub.errors import NotFound, ValidationFailed
from monosub.events import EventPublisher
from monosub.models.contracts import Contract
from monosub.models.documents import (
    Document,
    DocumentList,
    DocumentUpload,
    DocumentView,
    Download,
    GeneratedDocument,
    PresignedPost,
    UploadTicket,
)
from monosub.names import DOCUMENTS
from monosub.observability import count, logger
from monosub.services import contracts as contract_service
from monosub.services import deals as deal_service
from monosub.store import billing as billing_store
from monosub.store import documents as store
from monosub.store import quotes as quote_store
from monosub.store import records

SOURCE = "monosub.documents"
STORED = "DocumentStored"
REJECTED = "DocumentRejected"
UPLOADS = "uploads/"
QUARANTINE = "quarantine/"
ATTACHED = "attached/"
UPLOAD_SOURCE = "upload"
UPLOAD_SECONDS = 600
DOWNLOAD_SECONDS = 300
INVOICES_LISTED = 50
# Locally, the endpoint browsers and tests reach the embedded S3 at (the runtime's
# presigned-S3 server); unset on AWS, where URLs point at the bucket's regional endpoint.
PRESIGN_ENDPOINT_ENV = "MONOSUB_S3_PRESIGN_ENDPOINT"
_UPLOADED_KEY = re.compile(r"uploads/(document_[0-9a-z]{1,64})/[^/]+")
_GENERATED_ID = re.compile(
    r"pdf:(?P<kind>quote|contract|invoice):(?P<id>[a-z]+_[0-9a-z]{1,64})(?::(?P<n>[1-9]\d{0,3}))?"
)
_presigners: dict[str | None, Any] = {}


# ---- upload --------------------------------------------------------------------------------


def request_upload(upload: DocumentUpload, *, principal: Principal) -> UploadTicket:
    """The pending document and the presigned POST its bytes go up with. 404 for a record
    the caller may not see (as for one that does not exist); 400 for a type or size that
    is not accepted, or links that do not belong together."""
    problems = rules.declaration_problems(upload.content_type, upload.size)
    if problems:
        raise ValidationFailed("the file is not accepted", details=problems)
    scope = access.scope_for(principal)
    segment, agency_id = _linked(upload.account_id, upload.deal_id, upload.contract_id, scope)
    document_id = ids.new_id("document")
    name = rules.safe_file_name(upload.file_name, upload.content_type)
    now = clock.now_iso()
    document = Document(
        document_id=document_id,
        kind=upload.kind,
        file_name=upload.file_name,
        content_type=upload.content_type,
        size=upload.size,
        key=f"{UPLOADS}{document_id}/{name}",
        account_id=upload.account_id,
        deal_id=upload.deal_id,
        contract_id=upload.contract_id,
        segment=segment,
        agency_id=agency_id,
        uploaded_by=principal.user,
        source=UPLOAD_SOURCE,
        created_at=now,
        updated_at=now,
    )
    store.create(document)
    post = _presigner().generate_presigned_post(
        Bucket=config.bucket_name(DOCUMENTS),
        Key=document.key,
        Fields={"Content-Type": document.content_type},
        Conditions=[
            {"Content-Type": document.content_type},
            ["content-length-range", document.size, document.size],
        ],
        ExpiresIn=UPLOAD_SECONDS,
    )
    fields = {name: str(value) for name, value in post["fields"].items()}
    policy = json.loads(base64.b64decode(fields["policy"]))
    logger.info("document upload requested", extra={"document_id": document_id})
    return UploadTicket(
        document=document,
        upload=PresignedPost(url=post["url"], fields=fields, expires_at=policy["expiration"]),
    )


def on_uploaded(
    key: str, version_id: str | None = None, *, publisher: EventPublisher | None = None
) -> dict[str, Any]:
    """Check what was uploaded at ``key`` and decide its document, once."""
    match = _UPLOADED_KEY.fullmatch(key)
    document = store.get(match.group(1)) if match else None
    if document is None or document.key != key:
        # Only a presigned POST of ours can write here, and its policy names the key.
        logger.warning("an upload no document expects", extra={"key": key})
        count("DocumentUploadsUnexpected")
        return {"key": key, "outcome": "unexpected"}
    if document.status != "pending":
        return _again(document, version_id, publisher)
    s3 = aws.client("s3")
    read = s3.get_object(
        Bucket=config.bucket_name(DOCUMENTS),
        Key=key,
        **({"VersionId": version_id} if version_id else {}),
    )
    size = int(read["ContentLength"])
    reason: str | None
    if size != document.size:
        reason = f"{size} bytes were uploaded, {document.size} declared"
        data = b""
    elif size > rules.max_bytes(document.content_type):
        reason = f"{size} bytes is over the limit for {document.content_type}"
        data = b""
    else:
        data = read["Body"].read()
        reason = rules.refusal(data, document.content_type)
    now = clock.now_iso()
    decided = document.model_copy(
        update={
            "status": "rejected" if reason else "stored",
            "reason": reason,
            "size": size,
            "sha256": hashlib.sha256(data).hexdigest() if data else None,
            "version_id": _version(read.get("VersionId")),
            "quarantine_key": _quarantine_key(document) if reason else None,
            "decided_at": now,
            "updated_at": now,
            "version": document.version + 1,
        }
    )
    if not store.save(decided, expected_version=document.version, expected_status="pending"):
        current = store.get(document.document_id)
        assert current is not None
        return _again(current, version_id, publisher)
    if reason:
        _quarantine(decided)
    _publish(decided, publisher)
    count("DocumentsRejected" if reason else "DocumentsStored")
    logger.info(
        "document decided",
        extra={"document_id": decided.document_id, "status": decided.status, "reason": reason},
    )
    return {"document_id": decided.document_id, "outcome": decided.status, "reason": reason}


def _again(
    document: Document, version_id: str | None, publisher: EventPublisher | None
) -> dict[str, Any]:
    """A notification for a document decided already: the same object again changes
    nothing (but finishes what a crash left: the quarantine move, the event); another
    version uploaded over it (the POST policy is valid for minutes) is deleted."""
    other = bool(version_id and document.version_id and version_id != document.version_id)
    if other:
        aws.client("s3").delete_object(
            Bucket=config.bucket_name(DOCUMENTS), Key=document.key, VersionId=version_id
        )
        logger.warning(
            "a second upload over a decided document was removed",
            extra={"document_id": document.document_id, "version_id": version_id},
        )
        return {"document_id": document.document_id, "outcome": "removed"}
    if document.status == "rejected":
        _quarantine(document)
    if document.published_at is None:
        _publish(document, publisher)
    return {"document_id": document.document_id, "outcome": "unchanged"}


def _quarantine_key(document: Document) -> str:
    return f"{QUARANTINE}{document.document_id}/{document.key.rsplit('/', 1)[-1]}"


def _quarantine(document: Document) -> None:
    """Move the rejected bytes out of ``uploads/`` to ``quarantine/`` (copy, then delete the
    version checked); done already when the upload is gone."""
    s3 = aws.client("s3")
    bucket = config.bucket_name(DOCUMENTS)
    source: dict[str, str] = {"Bucket": bucket, "Key": document.key}
    if document.version_id:
        source["VersionId"] = document.version_id
    try:
        s3.copy_object(
            Bucket=bucket,
            Key=document.quarantine_key or _quarantine_key(document),
            CopySource=source,
            MetadataDirective="REPLACE",
            ContentType="application/octet-stream",
            Metadata={"document-id": document.document_id, "reason": _ascii(document.reason)},
        )
    except s3.exceptions.ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ("NoSuchKey", "NoSuchVersion"):
            raise
        return
    s3.delete_object(
        Bucket=bucket,
        Key=document.key,
        **({"VersionId": document.version_id} if document.version_id else {}),
    )


# ---- system channels -----------------------------------------------------------------------


def attach(
    data: bytes,
    *,
    kind: DocumentKind,
    file_name: str,
    content_type: str,
    account_id: str,
    deal_id: str | None = None,
    contract_id: str | None = None,
    by: str,
    source: str | None = None,
    publisher: EventPublisher | None = None,
) -> Document:
    """Store a file a system channel received (checked as an upload is), linked to its
    records; the same bytes with the same links again return the same document.
    ``ValidationFailed`` (field ``file``, ``content_type`` or ``size``) when it is not
    accepted, ``NotFound`` for records that do not exist."""
    content_type = content_type.lower()
    problems = rules.declaration_problems(content_type, len(data))
    reason = None if problems else rules.refusal(data, content_type)
    if problems or reason:
        details = problems or [{"field": "file", "message": str(reason)}]
        raise ValidationFailed(f"{file_name} is not accepted", details=details)
    sha256 = hashlib.sha256(data).hexdigest()
    document_id = ids.derived_id(
        "document", f"{sha256}#{account_id}#{deal_id or ''}#{contract_id or ''}"
    )
    existing = store.get(document_id)
    if existing is not None:
        return _published(existing, publisher)
    segment, agency_id = _linked(account_id, deal_id, contract_id, access.EVERYTHING)
    key = f"{ATTACHED}{document_id}/{rules.safe_file_name(file_name, content_type)}"
    written = aws.client("s3").put_object(
        Bucket=config.bucket_name(DOCUMENTS),
        Key=key,
        Body=data,
        ContentType=content_type,
        Metadata={"sha256": sha256, "document-id": document_id},
    )
    now = clock.now_iso()
    document = Document(
        document_id=document_id,
        kind=kind,
        file_name=file_name,
        content_type=content_type,
        size=len(data),
        sha256=sha256,
        key=key,
        version_id=_version(written.get("VersionId")),
        account_id=account_id,
        deal_id=deal_id,
        contract_id=contract_id,
        segment=segment,
        agency_id=agency_id,
        uploaded_by=by,
        source=source or "system",
        status="stored",
        created_at=now,
        updated_at=now,
        decided_at=now,
    )
    if not store.create(document):  # the same file attached at the same moment
        current = store.get(document_id)
        assert current is not None
        return _published(current, publisher)
    return _published(document, publisher)


def _published(document: Document, publisher: EventPublisher | None) -> Document:
    return document if document.published_at else _publish(document, publisher)


def _publish(document: Document, publisher: EventPublisher | None) -> Document:
    """The document's event, then ``published_at`` (a crash between the two publishes it
    again on the next notification; the audit trail may then hold it twice, never none)."""
    (publisher or events.default_publisher).publish(
        SOURCE,
        STORED if document.status == "stored" else REJECTED,
        {
            "document_id": document.document_id,
            "account_id": document.account_id,
            "deal_id": document.deal_id,
            "contract_id": document.contract_id,
            "kind": document.kind,
            "file_name": document.file_name,
            "content_type": document.content_type,
            "size": document.size,
            "sha256": document.sha256,
            "version_id": document.version_id,
            "reason": document.reason,
            "source": document.source,
            "by": document.uploaded_by,
        },
    )
    marked = document.model_copy(
        update={"published_at": clock.now_iso(), "version": document.version + 1}
    )
    if store.save(marked, expected_version=document.version, expected_status=document.status):
        return marked
    return store.get(document.document_id) or document


# ---- reading -------------------------------------------------------------------------------


def get_document(document_id: str, *, scope: Scope) -> DocumentView:
    """A document the caller may see, with a download link when it is stored; a generated
    PDF (``pdf:...``) with its link. 404 otherwise, as for one that does not exist."""
    if document_id.startswith("pdf:"):
        generated = _generated(document_id, scope)
        return DocumentView(
            generated=generated,
            download=download(generated.key, None, generated.file_name, "application/pdf"),
        )
    document = store.get(document_id) if is_record_id(document_id, "document") else None
    if document is None:
        raise NotFound(f"document {document_id} does not exist")
    access.require_visible(
        scope, "document", document_id, segment=document.segment, agency_id=document.agency_id
    )
    try:  # the record as it is now (a deal may have been handed to another agency since)
        _linked(document.account_id, document.deal_id, document.contract_id, scope)
    except NotFound:
        raise NotFound(f"document {document_id} does not exist") from None
    link = None
    if document.status == "stored":
        link = download(
            document.key, document.version_id, document.file_name, document.content_type
        )
    return DocumentView(document=document, download=link)


def account_documents(
    account_id: str, *, scope: Scope, limit: int = 50, after: str | None = None
) -> DocumentList:
    """The account's documents (those of its deals the caller may see) and its invoices'
    PDFs."""
    _account(account_id, scope)
    documents, next_token = store.page(
        store.by_account(account_id), scope=scope, limit=limit, after=after
    )
    generated = _invoice_pdfs(account_id) if after is None else []
    return DocumentList(documents=documents, generated=generated, next=next_token)


def deal_documents(
    deal_id: str, *, scope: Scope, limit: int = 50, after: str | None = None
) -> DocumentList:
    """The deal's documents and its quotes' PDFs (every version)."""
    deal = deal_service.get_deal(deal_id, scope=scope)
    documents, next_token = store.page(
        store.by_deal(deal_id), scope=scope, limit=limit, after=after
    )
    generated = _quote_pdfs(deal.deal_id, scope) if after is None else []
    return DocumentList(documents=documents, generated=generated, next=next_token)


def contract_documents(
    contract_id: str, *, scope: Scope, limit: int = 50, after: str | None = None
) -> DocumentList:
    """The contract's documents and its 契約書 PDFs (one per term that has its own)."""
    contract = _contract(contract_id, scope)
    documents, next_token = store.page(
        store.by_contract(contract_id), scope=scope, limit=limit, after=after
    )
    generated = _contract_pdfs(contract) if after is None else []
    return DocumentList(documents=documents, generated=generated, next=next_token)


# ---- records the documents belong to -------------------------------------------------------


def _account(account_id: str, scope: Scope) -> Any:
    account = (
        records.get_account(account_id, scope=scope)
        if is_record_id(account_id, "account")
        else None
    )
    if account is None:
        raise NotFound(f"account {account_id} does not exist")
    return account


def _contract(contract_id: str, scope: Scope) -> Contract:
    segments, agency_id = access.segments_and_agency(scope)
    return contract_service.get_contract(contract_id, segments=segments, agency_id=agency_id)


def _linked(
    account_id: str, deal_id: str | None, contract_id: str | None, scope: Scope
) -> tuple[access.Segment, str | None]:
    """The segment and agency a document of these records carries, once the caller is
    known to see each of them (404 otherwise) and they belong together (400 otherwise). The
    agency is the deal's (a deal may be handed to an agency inside a direct customer), else
    the contract's, else the account's."""
    account = _account(account_id, scope)
    deal = deal_service.get_deal(deal_id, scope=scope) if deal_id else None
    contract = _contract(contract_id, scope) if contract_id else None
    problems = []
    if deal is not None and deal.account_id != account_id:
        problems.append({"field": "deal_id", "message": "the deal is another account's"})
    if contract is not None and contract.account_id != account_id:
        problems.append({"field": "contract_id", "message": "the contract is another account's"})
    if deal is not None and contract is not None and contract.deal_id != deal.deal_id:
        problems.append({"field": "contract_id", "message": "the contract is another deal's"})
    if problems:
        raise ValidationFailed("the document's records do not belong together", details=problems)
    if deal is not None:
        return account.segment, deal.agency_id
    if contract is not None:
        return account.segment, contract.agency_id
    return account.segment, account.agency_id


# ---- generated PDFs ------------------------------------------------------------------------


def _quote_pdfs(deal_id: str, scope: Scope) -> list[GeneratedDocument]:
    listed = []
    for quote in quote_store.for_deal(deal_id):
        if not access.visible(scope, segment=quote.segment, agency_id=quote.agency_id):
            continue
        for version in quote_store.versions(quote.quote_id):
            if version.pdf_key:
                listed.append(_quote_pdf(version))
    return listed


def _quote_pdf(quote: Any) -> GeneratedDocument:
    return GeneratedDocument(
        document_id=f"pdf:quote:{quote.quote_id}:{quote.version}",
        kind="quote",
        title=f"見積書 {quote.number} 第{quote.version}版",
        file_name=f"{quote.number}-v{quote.version}.pdf",
        key=quote.pdf_key,
        sha256=quote.pdf_sha256,
        account_id=quote.account_id,
        deal_id=quote.deal_id,
        created_at=quote.updated_at,
    )


def _contract_pdfs(contract: Contract) -> list[GeneratedDocument]:
    listed: list[GeneratedDocument] = []
    seen: set[str] = set()
    for term in contract.terms:
        if term.pdf_key in seen:  # an automatic renewal keeps the 契約書 it renews
            continue
        seen.add(term.pdf_key)
        listed.append(
            GeneratedDocument(
                document_id=f"pdf:contract:{contract.contract_id}:{term.number}",
                kind="contract",
                title=f"契約書 {contract.number}（第{term.number}期）",
                file_name=f"{contract.number}-{term.number}.pdf",
                key=term.pdf_key,
                sha256=term.pdf_sha256,
                account_id=contract.account_id,
                deal_id=contract.deal_id,
                contract_id=contract.contract_id,
                created_at=term.consent.agreed_at if term.consent else contract.created_at,
            )
        )
    return listed


def _invoice_pdfs(account_id: str) -> list[GeneratedDocument]:
    """The PDFs of the account's latest invoices: one keys-only query and one batch read,
    nothing written per invoice."""
    return [
        _invoice_pdf(invoice)
        for invoice in billing_store.account_invoices(account_id, limit=INVOICES_LISTED)
        if invoice.pdf_key and invoice.number
    ]


def _invoice_pdf(invoice: Any) -> GeneratedDocument:
    title = "適格返還請求書" if invoice.kind == "credit_note" else "請求書"
    return GeneratedDocument(
        document_id=f"pdf:invoice:{invoice.invoice_id}",
        kind="invoice",
        title=f"{title} {invoice.number}",
        file_name=f"{invoice.number}.pdf",
        key=invoice.pdf_key,
        account_id=invoice.account_id,
        created_at=invoice.finalized_at or invoice.created_at,
    )


def _generated(document_id: str, scope: Scope) -> GeneratedDocument:
    """A generated PDF by its id, read through its record's own checks."""
    match = _GENERATED_ID.fullmatch(document_id)
    missing = NotFound(f"document {document_id} does not exist")
    if match is None:
        raise missing
    kind, record_id, number = match.group("kind"), match.group("id"), match.group("n")
    try:
        if kind == "quote" and number and is_record_id(record_id, "quote"):
            found = quote_store.get_version(record_id, int(number))
            if found and found.pdf_key:
                access.require_visible(
                    scope, "quote", record_id, segment=found.segment, agency_id=found.agency_id
                )
                return _quote_pdf(found)
        elif kind == "contract" and number:
            contract = _contract(record_id, scope)
            for generated in _contract_pdfs(contract):
                if generated.document_id == document_id:
                    return generated
        elif kind == "invoice" and number is None and is_record_id(record_id, "invoice"):
            invoice = billing_store.get_invoice(record_id)
            if invoice and invoice.pdf_key and invoice.number:
                _account(invoice.account_id, scope)
                return _invoice_pdf(invoice)
    except NotFound:
        pass
    raise missing


# ---- presigned URLs ------------------------------------------------------------------------


def download(key: str, version_id: str | None, file_name: str, content_type: str) -> Download:
    """A short-lived presigned GET of an object of the documents bucket, named ``file_name``
    when saved (the customer portal's invoice PDFs use it too)."""
    params: dict[str, str] = {
        "Bucket": config.bucket_name(DOCUMENTS),
        "Key": key,
        "ResponseContentDisposition": content_disposition(file_name),
        "ResponseContentType": content_type,
    }
    if version_id:
        params["VersionId"] = version_id
    url = _presigner().generate_presigned_url(
        "get_object", Params=params, ExpiresIn=DOWNLOAD_SECONDS
    )
    query = parse_qs(urlsplit(url).query)
    signed = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    expires = signed + timedelta(seconds=int(query["X-Amz-Expires"][0]))
    return Download(url=url, expires_at=clock.iso(expires))


def content_disposition(file_name: str) -> str:
    """``attachment`` with an ASCII ``filename`` for old clients and the real name as
    ``filename*`` (RFC 6266 / 5987), so 申込書.pdf downloads as 申込書.pdf."""
    safe = rules.safe_file_name(file_name)
    fallback = unicodedata.normalize("NFKD", safe).encode("ascii", "ignore").decode()
    fallback = re.sub(r"[^A-Za-z0-9._-]", "_", fallback).strip("_.") or "document"
    if "." in safe and "." not in fallback:
        fallback += "." + safe.rsplit(".", 1)[1]
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{url_quote(safe, safe='')}"


def _presigner() -> Any:
    """The client that signs URLs for browsers: SigV4 at the bucket's regional endpoint on
    AWS; path-style at the local presigned-S3 server's endpoint on the embedded AWS."""
    endpoint = config.setting(PRESIGN_ENDPOINT_ENV) or None
    client = _presigners.get(endpoint)
    if client is None:
        session = boto3.session.Session()
        if endpoint:
            client = session.client(
                "s3",
                endpoint_url=endpoint,
                config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
            )
        else:
            client = session.client(
                "s3",
                endpoint_url=f"https://s3.{session.region_name}.amazonaws.com",
                config=Config(signature_version="s3v4", s3={"addressing_style": "virtual"}),
            )
        _presigners[endpoint] = client
    return client


def _version(value: str | None) -> str | None:
    """An S3 version id; ``null`` (an unversioned bucket) is none."""
    return None if value in (None, "", "null") else value


def _ascii(text: str | None) -> str:
    """S3 metadata values are ASCII."""
    return (text or "").encode("ascii", "replace").decode()[:1024]


def upload_event(record: Mapping[str, Any]) -> tuple[str, str | None]:
    """The key (``unquote_plus``-decoded, as S3 encodes it) and version id of one S3 event
    record."""
    from urllib.parse import unquote_plus

    obj = record["s3"]["object"]
    return unquote_plus(str(obj["key"])), obj.get("versionId")
