"""Customer documents on the embedded AWS, through the real API handler, real presigned
URLs over HTTP (the local presigned-S3 server) and the real S3 trigger (``document-uploaded``):
upload, check, store, list, download the same bytes; a PDF declared and a program sent is
rejected and quarantined; S3's policy refuses another size, type or a forged policy; a
repeated notification changes nothing; who may not see the record gets 404, exactly as for
a document that does not exist; the PDFs monosub generated are listed and downloadable; a
system channel's ``attach`` is checked the same way and idempotent.

The documents bucket is versioned here, as on AWS (``infra``), so the checked version id is
recorded and downloads name it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import pytest

from functions import manifest
from local.runtime import EmbeddedAWS
from monosub.errors import ValidationFailed
from monosub.services import documents as service
from monosub.store import audit
from tests.conftest import DirectApi
from tests.integration.test_agency_api import (
    AGENCY_A,
    CORPORATE,
    OPS,
    REGIONAL,
    SALES,
    register,
    set_up_agency,
)
from tests.unit.test_document_files import EXE, PDF_BYTES, with_entry, workbook

PDF = "application/pdf"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HOME = {"company": "山田 花子", "person_name": "山田 花子", "email": "hanako@example.jp"}
FIRM = {"company": "株式会社北商事", "person_name": "北 太郎", "email": "kita@kita.example.jp"}
SCANNED = PDF_BYTES + b"% scanned application form\n" + bytes(range(256)) * 40


@pytest.fixture(scope="module")
def cloud() -> Iterator[EmbeddedAWS]:
    with EmbeddedAWS(business_time=datetime(2026, 11, 24, 1, 0, tzinfo=UTC)) as embedded:
        yield embedded


@pytest.fixture(scope="module")
def api(cloud: EmbeddedAWS) -> DirectApi:
    return DirectApi(manifest.function("api").environment(cloud.names))


def customer(api: DirectApi, lead: dict[str, str], segment: str) -> dict[str, str]:
    submitted = api("POST", "/leads", lead, groups=None)
    converted = api(
        "POST", f"/leads/{submitted.json()['lead_id']}/convert", {"segment": segment}, **SALES
    )
    assert converted.status == 200, converted
    return converted.json()


@pytest.fixture(scope="module")
def customers(api: DirectApi) -> dict[str, dict[str, str]]:
    set_up_agency(api, "agency-a")
    return {
        "residential": customer(api, HOME, "residential"),
        "corporate": customer(api, FIRM, "corporate"),
        "agency": register(api, AGENCY_A, name="エー顧客", email="a@example.jp"),
    }


def ask(api: DirectApi, record: dict[str, str], data: bytes, **overrides: Any) -> Any:
    body = {
        "kind": "application-form",
        "account_id": record["account_id"],
        "deal_id": record["deal_id"],
        "file_name": "申込書 山田.pdf",
        "content_type": PDF,
        "size": len(data),
        **overrides,
    }
    who = overrides.pop("who", SALES)
    body.pop("who", None)
    return api("POST", "/documents", body, **who)


def post_form(upload: dict[str, Any], data: bytes, **field_changes: str) -> tuple[int, str]:
    """POST the presigned form as a browser does: the fields, then the file."""
    fields = {**upload["fields"], **field_changes}
    boundary = uuid.uuid4().hex
    body = io.BytesIO()
    for name, value in fields.items():
        body.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            f"{value}\r\n".encode()
        )
    body.write(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n".encode()
    )
    body.write(data + f"\r\n--{boundary}--\r\n".encode())
    request = urllib.request.Request(
        upload["url"],
        data=body.getvalue(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def uploaded(api: DirectApi, record: dict[str, str], data: bytes, **overrides: Any) -> str:
    """A document asked for, uploaded and decided: its id."""
    asked = ask(api, record, data, **overrides)
    assert asked.status == 201, asked
    status, text = post_form(asked.json()["upload"], data)
    assert status == 204, text
    return str(asked.json()["document"]["document_id"])


def listed(response: Any) -> list[str]:
    assert response.status == 200, response
    return [d["document_id"] for d in response.json()["documents"]]


def objects(cloud: EmbeddedAWS, prefix: str) -> list[str]:
    found = cloud.s3.list_objects_v2(Bucket=cloud.bucket("documents"), Prefix=prefix)
    return [o["Key"] for o in found.get("Contents", [])]


# ---- the way through ---------------------------------------------------------------------


def test_an_upload_is_checked_stored_listed_and_downloaded(cloud, api, customers):
    home = customers["residential"]
    asked = ask(api, home, SCANNED)
    assert asked.status == 201, asked
    ticket = asked.json()
    document, upload = ticket["document"], ticket["upload"]
    assert document["status"] == "pending"
    assert document["key"] == f"uploads/{document['document_id']}/申込書_山田.pdf"
    assert (document["segment"], document["agency_id"]) == ("residential", None)
    assert upload["url"].startswith(cloud.presigned_s3.url)
    policy = json.loads(base64.b64decode(upload["fields"]["policy"]))
    assert {"Content-Type": PDF} in policy["conditions"]
    assert ["content-length-range", len(SCANNED), len(SCANNED)] in policy["conditions"]
    assert upload["expires_at"] == policy["expiration"]

    status, text = post_form(upload, SCANNED)
    assert status == 204, text

    shown = api("GET", f"/documents/{document['document_id']}", **SALES)
    assert shown.status == 200, shown
    assert shown.headers["Cache-Control"] == "no-store"
    stored = shown.json()["document"]
    assert stored["status"] == "stored"
    assert stored["sha256"] == hashlib.sha256(SCANNED).hexdigest()
    assert stored["size"] == len(SCANNED)
    assert stored["version_id"]  # the bucket is versioned: the version checked
    assert stored["published_at"]
    status, headers, body = fetch(shown.json()["download"]["url"])
    assert status == 200 and body == SCANNED
    assert headers["Content-Type"] == PDF
    assert unquote(headers["Content-Disposition"].split("filename*=UTF-8''")[1]) == (
        "申込書_山田.pdf"
    )

    assert document["document_id"] in listed(
        api("GET", f"/accounts/{home['account_id']}/documents", **SALES)
    )
    assert document["document_id"] in listed(
        api("GET", f"/deals/{home['deal_id']}/documents", **REGIONAL)
    )
    trail = []
    for _ in range(100):  # the journal gets the event asynchronously
        with cloud.as_function("event-journal"):
            trail = [e["type"] for e in audit.trail("account", home["account_id"])]
        if "DocumentStored" in trail:
            break
        time.sleep(0.05)
    assert "DocumentStored" in trail


def test_a_download_link_cannot_be_bent_to_another_object_or_kept(cloud, api, customers):
    document_id = uploaded(api, customers["residential"], SCANNED)
    url = api("GET", f"/documents/{document_id}", **SALES).json()["download"]["url"]
    status, _, body = fetch(url.replace("/uploads/", "/attached/"))
    assert status == 403 and b"SignatureDoesNotMatch" in body
    status, _, body = fetch(url.replace("X-Amz-Expires=300", "X-Amz-Expires=86400"))
    assert status == 403


def test_a_pdf_declared_and_a_program_sent_is_rejected_and_kept_in_quarantine(
    cloud, api, customers
):
    home = customers["residential"]
    document_id = uploaded(api, home, EXE, file_name="invoice.pdf")
    shown = api("GET", f"/documents/{document_id}", **OPS).json()
    rejected = shown["document"]
    assert rejected["status"] == "rejected"
    assert rejected["reason"] == "a Windows program (MZ) was sent as application/pdf"
    assert "download" not in shown  # never downloadable
    assert objects(cloud, f"uploads/{document_id}/") == []
    (kept,) = objects(cloud, f"quarantine/{document_id}/")
    assert kept == rejected["quarantine_key"]
    body = cloud.s3.get_object(Bucket=cloud.bucket("documents"), Key=kept)["Body"].read()
    assert body == EXE
    listing = api("GET", f"/deals/{home['deal_id']}/documents", **SALES).json()
    (entry,) = [d for d in listing["documents"] if d["document_id"] == document_id]
    assert entry["status"] == "rejected"


def test_a_workbook_with_macros_is_rejected(cloud, api, customers):
    macro = with_entry(workbook(), "xl/vbaProject.bin", b"\x00" * 64)
    document_id = uploaded(
        api, customers["corporate"], macro, file_name="発注書.xlsx", content_type=XLSX
    )
    rejected = api("GET", f"/documents/{document_id}", **SALES).json()["document"]
    assert rejected["reason"] == "the workbook contains macros (vbaProject.bin): xl/vbaProject.bin"


# ---- S3's policy --------------------------------------------------------------------------


def test_s3s_policy_refuses_another_size_type_or_a_forged_policy(cloud, api, customers):
    home = customers["residential"]
    asked = ask(api, home, SCANNED)
    upload = asked.json()["upload"]
    document_id = asked.json()["document"]["document_id"]

    status, text = post_form(upload, SCANNED + b"\x00" * 1024)
    assert status == 400 and "EntityTooLarge" in text
    status, text = post_form(upload, SCANNED[:100])
    assert status == 400 and "EntityTooSmall" in text
    status, text = post_form(upload, SCANNED, **{"Content-Type": "text/html"})
    assert status == 403 and "Policy Condition failed" in text
    policy = json.loads(base64.b64decode(upload["fields"]["policy"]))
    policy["conditions"] = [c for c in policy["conditions"] if "content-length-range" not in c]
    forged = base64.b64encode(json.dumps(policy).encode()).decode()
    status, text = post_form(upload, SCANNED * 2, policy=forged)
    assert status == 403 and "SignatureDoesNotMatch" in text
    status, text = post_form(upload, SCANNED, key=f"uploads/{document_id}/other.pdf")
    assert status == 403 and "Policy Condition failed" in text

    assert objects(cloud, f"uploads/{document_id}/") == []
    pending = api("GET", f"/documents/{document_id}", **SALES).json()
    assert pending["document"]["status"] == "pending" and "download" not in pending


def test_a_type_or_size_the_api_does_not_accept_is_400_before_any_upload(api, customers):
    home = customers["residential"]
    refused = ask(api, home, EXE, content_type="application/x-msdownload", file_name="a.exe")
    assert refused.status == 400
    assert refused.json()["details"][0]["field"] == "content_type"
    big = ask(api, home, b"", size=21 * 1024 * 1024)
    assert big.status == 400 and big.json()["details"][0]["field"] == "size"


# ---- repeated notifications ---------------------------------------------------------------


def test_a_repeated_notification_changes_nothing(cloud, api, customers):
    home = customers["residential"]
    for data, content_type, status in ((SCANNED, PDF, "stored"), (EXE, PDF, "rejected")):
        document_id = uploaded(api, home, data, content_type=content_type)
        before = api("GET", f"/documents/{document_id}", **OPS).json()["document"]
        assert before["status"] == status
        key = before["key"]
        event = {
            "Records": [
                {
                    "eventSource": "aws:s3",
                    "eventName": "ObjectCreated:Post",
                    "s3": {
                        "bucket": {"name": cloud.bucket("documents")},
                        "object": {
                            "key": key,
                            "size": len(data),
                            "versionId": before["version_id"],
                        },
                    },
                }
            ]
        }
        again = cloud.invoke("document-uploaded", event)
        assert again["documents"] == [{"document_id": document_id, "outcome": "unchanged"}]
        after = api("GET", f"/documents/{document_id}", **OPS).json()["document"]
        assert after == before
        expected_uploads = [key] if status == "stored" else []
        assert objects(cloud, f"uploads/{document_id}/") == expected_uploads


# ---- who may see ------------------------------------------------------------------------


def test_who_may_not_see_the_record_gets_404_as_for_nothing(cloud, api, customers):
    home = customers["residential"]
    document_id = uploaded(api, home, SCANNED)
    unknown = "document_0000000000000000"
    for who in (CORPORATE, AGENCY_A):
        missing = api("GET", f"/documents/{unknown}", **who)
        hidden = api("GET", f"/documents/{document_id}", **who)
        assert (hidden.status, missing.status) == (404, 404)
        assert hidden.json()["message"] == f"document {document_id} does not exist"
        assert api("GET", f"/accounts/{home['account_id']}/documents", **who).status == 404
        assert api("GET", f"/deals/{home['deal_id']}/documents", **who).status == 404
        assert ask(api, home, SCANNED, who=who).status == 404
    assert api("GET", f"/documents/{document_id}", **REGIONAL).status == 200


def test_an_agency_keeps_its_own_customers_documents(cloud, api, customers):
    mine = customers["agency"]
    document_id = uploaded(api, mine, SCANNED, who=AGENCY_A)
    shown = api("GET", f"/documents/{document_id}", **AGENCY_A).json()
    assert shown["document"]["agency_id"] == "agency-a" and shown["download"]["url"]
    assert document_id in listed(
        api("GET", f"/accounts/{mine['account_id']}/documents", **AGENCY_A)
    )
    assert api("GET", f"/documents/{document_id}", **REGIONAL).status == 404  # corporate


def test_links_that_do_not_belong_together_are_400(api, customers):
    home, firm = customers["residential"], customers["corporate"]
    refused = ask(api, home, SCANNED, deal_id=firm["deal_id"])
    assert refused.status == 400 and refused.json()["details"][0]["field"] == "deal_id"


# ---- generated PDFs ------------------------------------------------------------------------


def test_generated_pdfs_are_listed_and_downloadable(cloud, api, customers, monkeypatch):
    from monosub.documents import storage
    from monosub.services import contracts
    from monosub.store import quotes as quote_store
    from tests.priced_quotes import priced_quote

    firm = customers["corporate"]
    written: dict[str, bytes] = {}

    def store_pdf(kind: str, document: Any, key: str) -> storage.StoredDocument:
        body = PDF_BYTES + f"% {kind} {key}\n".encode()
        cloud.s3.put_object(Bucket=cloud.bucket("documents"), Key=key, Body=body)
        written[key] = body
        return storage.StoredDocument(key, hashlib.sha256(body).hexdigest(), len(body))

    monkeypatch.setattr(storage, "store_pdf", store_pdf)
    quote = priced_quote(account_id=firm["account_id"], deal_id=firm["deal_id"])
    stored = store_pdf("quote", None, storage.quote_pdf_key(quote.quote_id, 1))
    quote = quote.model_copy(update={"pdf_key": stored.key, "pdf_sha256": stored.sha256})
    with cloud.as_function("api"):
        quote_store.create(quote)
        contract = contracts.create_from_quote(
            quote, agreed_at="2026-11-24T01:00:00Z", consent_id=None, document_sha256="ab" * 32
        )

    deal_list = api("GET", f"/deals/{firm['deal_id']}/documents", **SALES).json()
    (quote_pdf,) = deal_list["generated"]
    assert quote_pdf["document_id"] == f"pdf:quote:{quote.quote_id}:1"
    assert (quote_pdf["kind"], quote_pdf["key"]) == ("quote", stored.key)
    contract_list = api("GET", f"/contracts/{contract.contract_id}/documents", **SALES).json()
    (contract_pdf,) = contract_list["generated"]
    assert contract_pdf["document_id"] == f"pdf:contract:{contract.contract_id}:1"

    for generated in (quote_pdf, contract_pdf):
        shown = api("GET", f"/documents/{generated['document_id']}", **SALES)
        assert shown.status == 200, shown
        status, headers, body = fetch(shown.json()["download"]["url"])
        assert status == 200 and body == written[generated["key"]]
        assert headers["Content-Type"] == PDF
        hidden = api("GET", f"/documents/{generated['document_id']}", **REGIONAL)
        assert hidden.status == 404
    assert api("GET", f"/contracts/{contract.contract_id}/documents", **REGIONAL).status == 404
    assert api("GET", "/documents/pdf:quote:quote_0000:9", **SALES).status == 404


def test_an_accounts_invoice_pdfs_are_listed_from_its_invoices(cloud, api, customers):
    import datetime as dt

    from monosub.models.billing import Invoice
    from monosub.store import billing as billing_store

    firm = customers["corporate"]
    key = "invoices/2026/INV-2026-000042.pdf"
    cloud.s3.put_object(Bucket=cloud.bucket("documents"), Key=key, Body=PDF_BYTES)
    invoice = Invoice(
        invoice_id="invoice_0000000000000042",
        account_id=firm["account_id"],
        closing_date=dt.date(2026, 11, 20),
        period_start=dt.date(2026, 10, 21),
        period_end=dt.date(2026, 11, 20),
        status="finalized",
        number="INV-2026-000042",
        series="INV-2026",
        lines=[],
        taxes=[],
        subtotal=0,
        tax_total=0,
        total=0,
        pdf_key=key,
        created_at="2026-11-21T00:00:00Z",
    )
    with cloud.as_function("api"):
        billing_store.put_draft(invoice)
    listing = api("GET", f"/accounts/{firm['account_id']}/documents", **SALES).json()
    (generated,) = [g for g in listing["generated"] if g["kind"] == "invoice"]
    assert generated["document_id"] == f"pdf:invoice:{invoice.invoice_id}"
    assert generated["title"] == "請求書 INV-2026-000042"
    shown = api("GET", f"/documents/{generated['document_id']}", **SALES).json()
    status, _, body = fetch(shown["download"]["url"])
    assert status == 200 and body == PDF_BYTES
    assert api("GET", f"/documents/{generated['document_id']}", **REGIONAL).status == 404


# ---- system channels ----------------------------------------------------------------------


def test_a_system_channel_attaches_a_file_once_and_is_refused_what_uploads_are(
    cloud, api, customers
):
    firm = customers["corporate"]
    form = workbook()
    with cloud.as_function("api"):
        first = service.attach(
            form,
            kind="application-form",
            file_name="申込書.xlsx",
            content_type=XLSX,
            account_id=firm["account_id"],
            deal_id=firm["deal_id"],
            by="excel-forms",
            source="application-form",
        )
        again = service.attach(
            form,
            kind="application-form",
            file_name="申込書 (2).xlsx",
            content_type=XLSX,
            account_id=firm["account_id"],
            deal_id=firm["deal_id"],
            by="excel-forms",
            source="application-form",
        )
        with pytest.raises(ValidationFailed) as refused:
            service.attach(
                with_entry(form, "xl/vbaProject.bin"),
                kind="application-form",
                file_name="申込書.xlsm",
                content_type=XLSX,
                account_id=firm["account_id"],
                by="excel-forms",
            )
    assert again == first
    assert first.status == "stored" and first.key.startswith("attached/")
    assert first.sha256 == hashlib.sha256(form).hexdigest() and first.version_id
    assert refused.value.details == [
        {
            "field": "file",
            "message": "the workbook contains macros (vbaProject.bin): xl/vbaProject.bin",
        }
    ]
    assert first.document_id in listed(
        api("GET", f"/accounts/{firm['account_id']}/documents", **SALES)
    )
    shown = api("GET", f"/documents/{first.document_id}", **SALES).json()
    status, _, body = fetch(shown["download"]["url"])
    assert status == 200 and body == form
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert "[Content_Types].xml" in archive.namelist()
