"""The demo's portals and integrations chapter (issue 9): a customer in the customer portal,
staff signing in through the parent company's directory, the ERP kept in step over SOAP, and
the regulator and suppliers told of supply events. Through the real front doors."""

from __future__ import annotations

import json
import urllib.request
from typing import TYPE_CHECKING, Any

from local import identity
from monosub.documents.formatting import signed_yen

if TYPE_CHECKING:
    from local.demo import Story


def portals(story: Story, account_id: str) -> None:
    story.chapter(
        "Portals and integrations: the customer's own account, one staff sign-in, ERP, regulator"
    )
    _customer_portal(story, account_id)
    _directory_sign_in(story)
    _erp(story)
    _notifications(story)
    _device_replacement(story)


def _customer_portal(story: Story, account_id: str) -> None:
    customer = story.server.bearer("kenichi", "customer", account_id=account_id)
    story.who[customer["Authorization"]] = "kenichi (customer, his own account)"
    status, mine = story.http("GET", "/me/invoices", headers=customer)
    story.say(
        f"山本 健一 signs in to the customer portal (his token names his account) -> {status}: "
        f"{len(mine['invoices'])} invoice(s) of the last {mine['months']} months in one query: "
        + ", ".join(
            f"{i['number']} {signed_yen(i['total'])} {i['status']}" for i in mine["invoices"]
        )
    )
    first = mine["invoices"][0]
    with urllib.request.urlopen(first["pdf"]["url"], timeout=30) as response:
        saved = story.save_bytes(f"portal/{first['number']}.pdf", response.read())
    story.detail(f"its PDF through a 5-minute presigned link -> {saved.relative_to(story.out)}")
    status, _ = story.http("GET", "/deals", headers=customer)
    story.detail(f"a customer asking for staff data (GET /deals) -> {status}")
    question = {
        "subject": "invoice",
        "invoice_id": first["invoice_id"],
        "message": "口座振替ができなかった月の請求について確認したいです。",
    }
    status, case = story.http("POST", "/me/inquiries", question, customer)
    story.say(
        f"He asks about an invoice -> {status}: case {case['inquiry_id']} received "
        f"{case['received_at'][:16]}Z, to be acknowledged by {case['acknowledge_by']} and "
        f"answered by {case['answer_due']} (the regulator's handling rules, in bank days)"
    )
    _, open_cases = story.http("GET", "/inquiries?status=open", headers=story.ops)
    story.detail(f"ops see {len(open_cases['inquiries'])} open inquiry(ies) with their due dates")


def _directory_sign_in(story: Story) -> None:
    token = identity.issue_directory("taro.sato", "GRP-Sales,GRP-AllStaff", key=story.server.key)
    headers = {"Authorization": f"Bearer {token}"}
    story.who[headers["Authorization"]] = "taro.sato (directory sign-in)"
    claims = identity.verify(token, key=story.server.key)
    status, _ = story.http("GET", "/deals?limit=1", headers=headers)
    story.say(
        "A salesperson signs in once with the parent company's directory (SAML on AWS): "
        f"directory groups {claims['custom:directory_groups']} -> roles "
        f"{claims['cognito:groups']} (the sign-in-groups trigger's rule) -> GET /deals {status}"
    )


def _erp(story: Story) -> None:
    erp = story.cloud.erp
    _, runs = story.http("GET", "/runs?kind=erp-sync&limit=500", headers=story.ops)
    done = [r for r in runs["runs"] if r["status"] == "succeeded"]
    pushed = {kind: len(erp.records(kind)) for kind in ("customer", "contract", "reading")}
    calls = len(erp.requests())
    story.say(
        f"Every night the erp-sync state machine kept the ERP in step over SOAP: {len(done)} "
        f"run(s), {calls} SOAP call(s); the ERP now holds {pushed['customer']} customer(s), "
        f"{pushed['contract']} contract(s), {pushed['reading']} meter reading(s)"
    )
    if done:
        latest = done[0]
        story.detail(f"the latest run's counts: {json.dumps(latest['counts'], ensure_ascii=False)}")


def _notifications(story: Story) -> None:
    _, found = story.http("GET", "/notifications?limit=100", headers=story.ops)
    items: list[dict[str, Any]] = found["notifications"]
    by_event: dict[str, int] = {}
    for item in items:
        by_event[item["event"]] = by_event.get(item["event"], 0) + 1
    delivered = sum(1 for item in items if item["status"] == "delivered")
    kinds = ", ".join(f"{k} ×{v}" for k, v in sorted(by_event.items()))
    story.say(
        "The regulator and the suppliers were told of supply events as they happened: "
        f"{len(items)} notification(s) ({kinds}), {delivered} delivered, each once per event, "
        "recipient and meter"
    )
    recipients = story.cloud.notification_recipients
    story.detail(
        f"received: regulator (REST, HMAC) {len(recipients.regulator.received())}, "
        f"supplier (SOAP) {len(recipients.supplier_soap.received())}, "
        f"supplier (REST) {len(recipients.supplier_rest.received())}; "
        "ops search them by status, recipient, event, meter and time (GET /notifications)"
    )


def _device_replacement(story: Story) -> None:
    """One broken camera of an active contract replaced free of charge: a replacement
    shipment that the next daily file carries to the warehouse, marked as one."""
    _, shipped = story.http("GET", "/shipments?status=shipped", headers=story.ops)
    for shipment in shipped["shipments"]:
        _, contract = story.http("GET", f"/contracts/{shipment['contract_id']}", headers=story.ops)
        if contract["status"] == "active":
            break
    else:
        story.say("No active contract with a shipped device: no replacement to show")
        return
    _, detail = story.http("GET", f"/shipments/{shipment['shipment_id']}", headers=story.ops)
    serial = detail["devices"][0]["serial"]
    path = f"/contracts/{contract['contract_id']}/device-replacements"
    headers = {**story.ops, "Idempotency-Key": f"demo-replacement-{serial}"}
    body = {"serial": serial, "reason": "broken", "note": "電源が入らない"}
    status, replacement = story.http("POST", path, body, headers)
    story.say(
        f"A camera of contract {contract['number']} broke: ops ask for a replacement of "
        f"{serial} -> {status}: {replacement['replacement_id']} {replacement['status']}, "
        f"shipment {replacement['shipment_id']} of one {replacement['device_sku']}, free of "
        "charge (billing is not told)"
    )
    again, _ = story.http("POST", path, body, {**story.ops, "Idempotency-Key": "another"})
    story.detail(f"a second replacement of the same camera while this one is open -> {again}")
    _replacement_shipped(story, contract, replacement)


def _replacement_shipped(
    story: Story, contract: dict[str, Any], replacement: dict[str, Any]
) -> None:
    """The replacement through the same daily file, warehouse report and kitting as any
    shipment; DeviceReplaced then tells the regulator of the device change, once."""
    cloud = story.cloud
    rid, sid = replacement["replacement_id"], replacement["shipment_id"]
    old, model = replacement["old_serial"], replacement["device_sku"]
    new = "SC1-26K-R00001"
    story.http("POST", "/devices", {"serials": [new], "model": model}, story.ops)
    _, shipment = story.http("GET", f"/shipments/{sid}", headers=story.ops)
    before = len(cloud.notification_recipients.regulator.received())
    cloud.advance(hours=24)  # the daily instruction run
    files = cloud.s3.list_objects_v2(
        Bucket=cloud.bucket("exchange"), Prefix="outbox/warehouse/"
    ).get("Contents", [])
    for key in sorted(o["Key"] for o in files):
        text = cloud.s3.get_object(Bucket=cloud.bucket("exchange"), Key=key)["Body"].read()
        if sid.encode() in text:
            saved = story.save_object(key)
            story.detail(
                f"the daily instruction file carries it, 備考 「【交換品】機器交換 旧機器 {old} "
                f"回収」 -> {saved.name}"
            )
            break
    cloud.advance(hours=18)
    report = (
        "shipment_id,model,serial,ship_date,carrier,tracking_number\r\n"
        f"{sid},{model},{new},{shipment['ship_date']},ヤマト運輸,4512-9900-001\r\n"
    )
    run = story.drop(
        "warehouse-shipments",
        story.save_bytes("warehouse/shipped-replacement.csv", report.encode()),
    )
    cloud.wait_for_executions()
    _, done = story.http(
        "GET", f"/contracts/{contract['contract_id']}/device-replacements/{rid}", headers=story.ops
    )
    bindings = cloud.device_platform.bindings()
    told = [
        n
        for n in list(cloud.notification_recipients.regulator.received().values())[before:]
        if n["event"] == "device-change"
    ]
    story.say(
        f"The warehouse reports the new camera {new} -> {run['status']}; kitting binds it to "
        f"the same contract ({bindings.get(new, {}).get('status')} on the device platform); "
        f"the replacement is {done['status']}"
        + (
            f", the old one due back by {done['return_due_on']}"
            if done.get("return_due_on")
            else " (a device sold: nothing to send back)"
        )
    )
    story.detail(
        f"DeviceReplaced told the regulator once: {len(told)} device-change notification(s)"
        + (
            f" (meter {told[0].get('meter_serial')}, before {told[0].get('previous_meter_serial')})"
            if told
            else ""
        )
        + "; billing unchanged: nothing is charged for a replacement"
    )
