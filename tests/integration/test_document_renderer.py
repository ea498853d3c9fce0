"""The document renderer function on the embedded AWS: invoked through the Lambda API by a
caller that declares it, it puts the PDF in the documents bucket and says its sha256."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from local.runtime import EmbeddedAWS, FunctionError
from monosub.documents import Quote, pdf_rendering_available, storage
from monosub.names import DOCUMENTS

DATA = Path(__file__).resolve().parents[1] / "data" / "documents"

pytestmark = pytest.mark.skipif(
    pdf_rendering_available() is not None, reason=str(pdf_rendering_available())
)


@pytest.fixture(scope="module")
def cloud() -> Iterator[EmbeddedAWS]:
    with EmbeddedAWS() as embedded:
        yield embedded


def test_a_caller_stores_a_quote_pdf_through_the_renderer(cloud: EmbeddedAWS):
    quote = Quote.model_validate(json.loads((DATA / "quote-camera.json").read_text()))
    key = storage.quote_pdf_key("quote_test", 2)
    with cloud.as_function("api"):
        stored = storage.store_pdf("quote", quote, key)
        again = storage.store_pdf("quote", quote, key)
        pdf = storage.read_pdf(key)
    assert pdf.startswith(b"%PDF-")
    assert stored.sha256 == hashlib.sha256(pdf).hexdigest() == again.sha256
    head = cloud.s3.head_object(Bucket=cloud.bucket(DOCUMENTS), Key=key)
    assert head["ContentType"] == "application/pdf"
    assert head["Metadata"]["sha256"] == stored.sha256
    assert [i.function for i in cloud.invocations][-2:] == ["document-renderer"] * 2


def test_a_document_that_does_not_add_up_is_refused_and_nothing_is_stored(cloud: EmbeddedAWS):
    broken = json.loads((DATA / "quote-camera.json").read_text())
    broken["one_time_total"] += 1
    with pytest.raises(FunctionError, match="does not add up"):
        cloud.invoke(
            "document-renderer", {"kind": "quote", "key": "quotes/x/v001.pdf", "document": broken}
        )
    listed = cloud.s3.list_objects_v2(Bucket=cloud.bucket(DOCUMENTS), Prefix="quotes/x/")
    assert listed.get("KeyCount", 0) == 0


def test_the_api_function_may_not_write_documents_itself():
    from functions import manifest

    assert manifest.function("api").buckets[DOCUMENTS].value == "read"
    assert manifest.function("api").invokes == ("document-renderer",)
    # it signs presigned POSTs for customer uploads: those, and only under uploads/
    assert manifest.function("api").uploads_to == {DOCUMENTS: "uploads/"}
