"""Application forms (申込書) on the embedded AWS, through the real trigger: an .xlsx made here
with openpyxl is dropped under inbox/application-form/, the S3 notification starts file
intake, and the form becomes the customer, deal, quote with its 契約書 and the consent email;
or an exception naming the exact cells, fixed and retried through the API."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest

from local.runtime import EmbeddedAWS
from monosub.documents import pdf_rendering_available
from monosub.formats import application_form as forms
from monosub.services import quotes as quote_service
from tests.sales_flow import Calls, a_deal, priced_cloud, sent_mail, token_of

pytestmark = pytest.mark.skipif(
    pdf_rendering_available() is not None, reason=str(pdf_rendering_available())
)

OPS = {"groups": "ops", "user": "ops-suzuki"}


@pytest.fixture
def cloud() -> Iterator[EmbeddedAWS]:
    with priced_cloud(datetime(2026, 11, 24, 1, 0, tzinfo=UTC)) as embedded:
        yield embedded


@pytest.fixture
def call(cloud: EmbeddedAWS) -> Calls:
    return Calls(cloud)


def form(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "application_date": date(2026, 11, 24),
        "customer.segment": "corporate",
        "customer.name": "株式会社さくら介護",
        "customer.kana": "カブシキガイシャ サクラカイゴ",
        "customer.postal_code": "220-0012",
        "customer.prefecture": "神奈川県",
        "customer.city": "横浜市西区",
        "customer.address_line1": "みなとみらい2-2-1",
        "customer.phone": "045-123-4567",
        "customer.email": "kaigo@sakura.example.jp",
        "customer.contact_person": "高橋 美咲",
        "delivery.requested_date": date(2026, 12, 10),
        "delivery.installation_needed": False,
        "payment_method": "bank-transfer",
        "rep": "tanaka",
        "lines": [
            {
                "device_sku": "CAM-ONE-SALE",
                "plan_sku": "PLAN-30D",
                "option_skus": "OPT-DOWNLOAD",
                "quantity": 2,
            }
        ],
    }
    values.update(changes)
    return values


def exchange_object(cloud: EmbeddedAWS, key: str) -> bytes:
    return bytes(cloud.s3.get_object(Bucket=cloud.bucket("exchange"), Key=key)["Body"].read())


def open_exceptions(call: Calls, kind: str) -> list[dict[str, Any]]:
    listed = call("GET", "/exceptions", query={"kind": kind}, **OPS)
    assert listed.status == 200, listed
    return list(listed.json()["exceptions"])


def deals(call: Calls) -> list[dict[str, Any]]:
    return list(call("GET", "/deals", query={"limit": "100"}).json()["deals"])


def test_a_dropped_form_becomes_a_deal_with_its_contract_sent_for_consent(
    cloud: EmbeddedAWS, call: Calls
):
    data = forms.write_example(form())
    run = cloud.drop("application-form", "sakura.xlsx", data)
    assert run["status"] == "succeeded", run
    assert run["counts"]["deals"] == 1 and run["counts"]["exceptions"] == 0
    archived = run["subject"]["archived_as"]
    assert exchange_object(cloud, archived) == data

    (deal,) = deals(call)
    assert deal["owner"] == "tanaka" and deal["agency_id"] is None
    full = call("GET", f"/deals/{deal['deal_id']}").json()
    assert full["payment_method"] == "bank-transfer"
    assert full["requested_delivery_date"] == "2026-12-10"
    assert full["ship_to"]["postal_code"] == "220-0012"
    assert full["ship_to"]["recipient_name"] == "高橋 美咲"
    assert full["ship_to"]["company_name"] == "株式会社さくら介護"
    assert full["lines"][0]["option_skus"] == ["OPT-DOWNLOAD"]
    quote = call("GET", f"/quotes/{quote_service.quote_id_for_deal(deal['deal_id'])}").json()
    assert quote["status"] == "sent" and quote["sent_to"] == "kaigo@sakura.example.jp"
    assert quote["channel"] == "direct"
    assert re.fullmatch(r"C2026-\d{6}", quote["contract_draft"]["number"])

    (message,) = sent_mail()
    assert "ご契約内容のご確認" in message.body
    assert "https://portal.monosub.example.jp/consent/" in message.body
    page = call("GET", f"/consent/{token_of(message)}", groups=None).text
    assert quote["contract_draft"]["number"] in page and "第1条（目的）" in page
    history = call("GET", f"/accounts/{deal['account_id']}").json()
    assert "申込書 MS-APP-2026.1" in str(history)
    assert "カブシキガイシャ サクラカイゴ" in str(history)
    # the form itself stays with the customer, downloadable like any document
    kept = call("GET", f"/deals/{deal['deal_id']}/documents").json()
    (form_document,) = [d for d in kept["documents"] if d["kind"] == "application-form"]
    assert form_document["file_name"] == "sakura.xlsx" and form_document["status"] == "stored"
    assert form_document["account_id"] == deal["account_id"]


def test_the_same_form_dropped_again_or_applied_again_makes_nothing_twice(
    cloud: EmbeddedAWS, call: Calls
):
    from monosub.services import application_forms

    data = forms.write_example(form())
    first = cloud.drop("application-form", "sakura.xlsx", data)
    again = cloud.drop("application-form", "sakura-resent.xlsx", data)
    assert again["status"] == "quarantined"
    assert again["errors"][0]["code"] == "duplicate_content"

    sha256 = first["subject"]["sha256"]
    with cloud.as_function("api"):  # the apply step run again (a re-drive)
        file = application_forms.FormFile(
            cloud.bucket("exchange"), first["subject"]["archived_as"], sha256
        )
        counts = application_forms.receive(forms.read_form(data), file)
    assert counts == {"deals": 1, "exceptions": 0}
    assert len(deals(call)) == 1 and len(sent_mail()) == 1


def test_a_malformed_form_becomes_an_exception_fixed_and_retried_through_the_api(
    cloud: EmbeddedAWS, call: Calls
):
    bad = form(
        **{"customer.email": "kaigo.sakura.example.jp", "customer.phone": 451234567},
        lines=[{"plan_sku": "PLAN-30D", "quantity": 2.5}],
    )
    run = cloud.drop("application-form", "sakura-bad.xlsx", forms.write_example(bad))
    assert run["status"] == "succeeded", run  # handled as designed: not a quarantined file
    assert run["counts"] == {**run["counts"], "deals": 0, "exceptions": 1}
    (exception,) = open_exceptions(call, "application-form-invalid")
    cells = {c["cell"]: c for c in exception["details"]["cells"]}
    assert set(cells) == {"申込書!C14", "申込書!C13", "申込書!E18"}
    assert cells["申込書!C13"]["value"] == "451234567"
    assert "先頭の0" in cells["申込書!C13"]["message"]
    assert cells["申込書!E18"]["field"] == "lines[0].quantity"
    assert exception["original"]["customer.email"] == "kaigo.sakura.example.jp"
    assert exception["original"]["file"]["key"] == "inbox/application-form/sakura-bad.xlsx"
    assert exception["original"]["file"]["sha256"] == run["subject"]["sha256"]
    assert exception["channel"] == "application-form"
    assert sorted(exception["actions"]) == ["reject", "retry"]
    assert deals(call) == [] and sent_mail() == []

    path = f"/exceptions/{exception['exception_id']}/resolve"
    still_bad = call(
        "POST",
        path,
        {
            "action": "retry",
            "version": exception["version"],
            "note": "お客様に電話で確認",
            "corrected": {"customer.email": "kaigo@sakura.example.jp", "lines[0].quantity": "2"},
        },
        **OPS,
    )
    assert still_bad.status == 400, still_bad
    assert [d["cell"] for d in still_bad.json()["details"]] == ["申込書!C13"]
    assert open_exceptions(call, "application-form-invalid")[0]["status"] == "open"

    fixed = call(
        "POST",
        path,
        {
            "action": "retry",
            "version": exception["version"],
            "note": "お客様に電話で確認",
            "corrected": {
                "customer.email": "kaigo@sakura.example.jp",
                "customer.phone": "045-123-4567",
                "lines[0].quantity": "2",
            },
        },
        **OPS,
    )
    assert fixed.status == 200, fixed
    resolution = fixed.json()["resolution"]
    (deal,) = deals(call)
    assert resolution["deal_id"] == deal["deal_id"] and resolution["quote_id"]
    assert resolution["file"]["sha256"] == run["subject"]["sha256"]
    full = call("GET", f"/deals/{deal['deal_id']}").json()
    assert full["lines"][0]["quantity"] == 2
    assert resolution["document_id"]  # the form, read back from the intake's archive
    kept = call("GET", f"/documents/{resolution['document_id']}").json()
    assert kept["document"]["deal_id"] == deal["deal_id"], kept
    (message,) = sent_mail()
    assert "ご契約内容のご確認" in message.body
    assert open_exceptions(call, "application-form-invalid") == []


def test_unknown_skus_rep_and_agency_are_named_by_their_cells(cloud: EmbeddedAWS, call: Calls):
    bad = form(
        rep="nobody",
        agency_code="agency-x",
        lines=[{"plan_sku": "PLAN-NOPE", "quantity": 1}],
    )
    run = cloud.drop("application-form", "unknown.xlsx", forms.write_example(bad))
    assert run["counts"]["exceptions"] == 1, run
    (exception,) = open_exceptions(call, "application-form-invalid")
    cells = {c["cell"]: c["field"] for c in exception["details"]["cells"]}
    assert cells == {"申込書!C36": "rep", "申込書!C37": "agency_code"}
    # the people fixed, the unknown plan is named next (pricing, before anything is written)
    call("PUT", "/agencies/agency-x", {"name": "エックス代理店"}, **OPS)
    retried = call(
        "POST",
        f"/exceptions/{exception['exception_id']}/resolve",
        {"action": "retry", "version": 1, "note": "担当者訂正", "corrected": {"rep": "yamada"}},
        **OPS,
    )
    assert retried.status == 400, retried
    assert [(d["cell"], d["field"]) for d in retried.json()["details"]] == [
        ("申込書!C18", "lines[0].plan_sku")
    ]
    retried = call(
        "POST",
        f"/exceptions/{exception['exception_id']}/resolve",
        {
            "action": "retry",
            "version": 1,
            "note": "プラン訂正",
            "corrected": {"rep": "yamada", "lines[0].plan_sku": "PLAN-30D"},
        },
        **OPS,
    )
    assert retried.status == 200, retried
    deal = call("GET", f"/deals/{retried.json()['resolution']['deal_id']}").json()
    assert deal["owner"] == "yamada" and deal["agency_id"] == "agency-x"


def test_a_company_that_is_a_customer_already_is_an_exception_naming_its_account(
    cloud: EmbeddedAWS, call: Calls
):
    existing = a_deal(call)  # 株式会社みなと物流, from a converted lead
    run = cloud.drop(
        "application-form",
        "minato.xlsx",
        forms.write_example(form(**{"customer.name": "株式会社 みなと物流"})),
    )
    assert run["status"] == "succeeded" and run["counts"]["exceptions"] == 1, run
    (exception,) = open_exceptions(call, "application-form-duplicate-customer")
    assert exception["account_id"] == existing["account_id"]
    assert "customer already" in exception["reason"]
    assert [d["deal_id"] for d in deals(call)] == [existing["deal_id"]]
    assert sent_mail() == []


@pytest.mark.parametrize(
    ("name", "body", "code"),
    [
        ("form.xlsm", b"", "macros"),
        ("form.xlsx", b"company,name\nA,B\n", "not_xlsx"),
    ],
)
def test_a_macro_workbook_or_not_a_workbook_is_quarantined_with_a_reason(
    cloud: EmbeddedAWS, name: str, body: bytes, code: str
):
    import io
    import zipfile

    if code == "macros":
        source = zipfile.ZipFile(io.BytesIO(forms.write_example(form())))
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as target:
            for item in source.infolist():
                target.writestr(item, source.read(item.filename))
            target.writestr("xl/vbaProject.bin", b"\xd0\xcf\x11\xe0macro")
        body = buffer.getvalue()
    run = cloud.drop("application-form", name, body)
    assert run["status"] == "quarantined", run
    report = json.loads(exchange_object(cloud, run["subject"]["error_report"]))
    assert report["error"]["code"] == code
    if code == "macros":
        assert "nothing executable is accepted" in report["error"]["message"]
    listed = cloud.s3.list_objects_v2(Bucket=cloud.bucket("exchange"), Prefix="inbox/")
    assert listed.get("KeyCount", 0) == 0


def test_a_campaign_code_that_would_not_apply_is_named_by_its_cell(cloud: EmbeddedAWS, call: Calls):
    lines = [
        {"plan_sku": "PLAN-30D", "quantity": 1, "campaign_code": "NEW-OPEN-2026"},  # ended
        {"plan_sku": "PLAN-30D", "quantity": 10, "campaign_code": "CORP-BULK-10"},
    ]
    run = cloud.drop("application-form", "campaign.xlsx", forms.write_example(form(lines=lines)))
    assert run["counts"]["exceptions"] == 1, run
    (exception,) = open_exceptions(call, "application-form-invalid")
    (cell,) = exception["details"]["cells"]
    assert cell["cell"] == "申込書!F18" and cell["value"] == "NEW-OPEN-2026"
    assert "CORP-BULK-10" in cell["message"]  # what would apply instead
    assert deals(call) == []
