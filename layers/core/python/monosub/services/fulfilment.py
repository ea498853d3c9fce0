"""Fulfilment: from a confirmed order to devices that work when they arrive.

- ``on_order_confirmed`` (``OrderConfirmed``): the order's shipment, ``requested``, with its
  planned ship date; ``on_contract_cancelled`` cancels one the warehouse was not told of.
- ``run_instructions`` (daily schedule): the warehouse's shipping-instruction file for the
  shipments due, written once per day into ``outbox/warehouse/``, each shipment once.
- ``validate_shipped`` / ``record_shipped`` (file kind ``warehouse-shipments``): the serials the
  warehouse shipped, checked whole against the shipments, recorded, and each shipment's
  kitting run started.
- the shipping/kitting state machine's steps: ``prepare_kitting``, ``kit_device`` (bind the
  serial to its plan and options and push that to the device platform), ``complete_shipment``
  (shipped; the contract starts on the ship date unless installation is needed),
  ``notify_shipped`` (the shipping email).
- ``complete_installation`` (``POST /shipments/{id}/installation-complete``).

A replacement of a contract's device (``monosub.services.replacements``) is a shipment of
kind ``replacement`` and takes the same way; the instruction file's 備考 says so, and
``complete_shipment`` hands it to the replacement instead of starting the contract.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from monosub import access, aws, clock, company, config, email, events, executions
from monosub.access import Scope
from monosub.adapters import device_platform
from monosub.auth import Principal
from monosub.consent.render import date_ja
from monosub.domain import fulfilment as rules
from monosub.domain.rentals import rental_models
from monosub.errors import Conflict, NotFound, ValidationFailed
from monosub.events import EventPublisher
from monosub.formats import warehouse
from monosub.intake.kinds import RowError
from monosub.models.fulfilment import InstallationDone, Shipment, ShipmentDevice
from monosub.names import EXCHANGE, SHIPPING_KITTING
from monosub.observability import count, logger
from monosub.services import contracts, replacements
from monosub.services import devices as rental_stock
from monosub.store import catalog as catalog_store
from monosub.store import records, runs
from monosub.store import shipments as store
from monosub.store.dynamo import TransactionConflict

SOURCE = "monosub.fulfilment"
INSTRUCTIONS_RUN = "warehouse-instructions"
SYSTEM = "system"
_ATTEMPTS = 4
SETTINGS = Path(__file__).resolve().parent.parent / "data" / "warehouse.json"


@cache
def settings() -> dict[str, Any]:
    """The warehouse's settings (``monosub/data/warehouse.json``): file encoding, lead days."""
    return dict(json.loads(SETTINGS.read_text(encoding="utf-8")))


# ---- reading -------------------------------------------------------------------------------


def get_shipment(shipment_id: str, *, scope: Scope) -> Shipment:
    shipment = store.get(shipment_id) if shipment_id.startswith("shipment_") else None
    if shipment is None:
        raise NotFound(f"shipment {shipment_id} does not exist")
    access.require_visible(
        scope, "shipment", shipment_id, segment=shipment.segment, agency_id=shipment.agency_id
    )
    return shipment


def list_shipments(status: str, *, scope: Scope, limit: int = 100) -> list[Shipment]:
    """Shipments in ``status`` by ship date, those the caller may see."""
    found = []
    for shipment in store.with_status(status):
        if access.visible(scope, segment=shipment.segment, agency_id=shipment.agency_id):
            found.append(shipment)
            if len(found) >= limit:
                break
    return found


def shipment_devices(shipment_id: str, *, scope: Scope) -> list[ShipmentDevice]:
    get_shipment(shipment_id, scope=scope)
    return store.devices(shipment_id)


# ---- the order -----------------------------------------------------------------------------


def on_order_confirmed(
    detail: Mapping[str, Any], *, publisher: EventPublisher | None = None
) -> str:
    """The order's shipment (once: its id follows from the order's). An order without
    devices ships nothing; its contract waits to be started by hand."""
    order_id = str(detail["order_id"])
    shipment_id = rules.shipment_id_for(order_id)
    if store.get(shipment_id) is not None:
        return "exists"
    lines = list(detail.get("lines") or [])
    skus = [str(line["device_sku"]) for line in lines if line.get("device_sku")]
    products = {
        sku: entry.product.model_dump() for sku, entry in catalog_store.entries(skus).items()
    }
    items = rules.shipment_items(lines, products)
    if not items:
        logger.info("an order without devices ships nothing", extra={"order_id": order_id})
        return "nothing to ship"
    if not detail.get("ship_to"):
        raise ValidationFailed(f"order {order_id} has devices but no ship-to address")
    requested = detail.get("requested_delivery_date")
    today = clock.today()
    requested_day = date.fromisoformat(requested) if requested else None
    now = clock.now_iso()
    shipment = Shipment(
        shipment_id=shipment_id,
        order_id=order_id,
        contract_id=str(detail["contract_id"]),
        deal_id=str(detail["deal_id"]),
        account_id=str(detail["account_id"]),
        contact_id=str(detail.get("contact_id") or ""),
        device_owner_account_id=str(detail.get("device_owner_account_id") or detail["account_id"]),
        owner=str(detail.get("owner") or ""),
        segment=detail.get("segment") or "corporate",
        agency_id=detail.get("agency_id"),
        ship_to=detail["ship_to"],
        requested_delivery_date=requested_day,
        ship_date=rules.planned_ship_date(
            requested_day, today, int(settings().get("ship_lead_days", rules.SHIP_LEAD_DAYS))
        ),
        installation_needed=bool(detail.get("installation_needed"))
        or any(item.installation_required for item in items),
        items=items,
        created_at=now,
        updated_at=now,
    )
    if not store.create(shipment):
        return "exists"
    count("ShipmentsRequested")
    _publish(publisher, "ShipmentRequested", shipment, ship_date=shipment.ship_date)
    return "requested"


def on_contract_cancelled(
    detail: Mapping[str, Any], *, publisher: EventPublisher | None = None
) -> str:
    """Cancel the shipment of a contract cancelled before its start, if the warehouse was
    not told yet. One already instructed is left for ops (the warehouse may have packed it):
    a warning in the log and ``ShipmentCancellationNeeded`` in the audit trail."""
    contract_id = str(detail["contract_id"])
    contract = contracts.get_contract(contract_id)
    shipment_id = rules.shipment_id_for(contract.quote_id)
    for _ in range(_ATTEMPTS):
        shipment = store.get(shipment_id)
        if shipment is None or shipment.status == "cancelled":
            return "nothing to cancel"
        if shipment.status != "requested":
            logger.warning(
                "cancelled contract's shipment is with the warehouse",
                extra={"shipment_id": shipment_id, "status": shipment.status},
            )
            _publish(publisher, "ShipmentCancellationNeeded", shipment, reason=detail.get("reason"))
            return f"left for ops ({shipment.status})"
        cancelled = shipment.model_copy(
            update={
                "status": "cancelled",
                "cancelled_at": clock.now_iso(),
                "cancel_reason": str(detail.get("reason") or "contract cancelled"),
                "version": shipment.version + 1,
                "updated_at": clock.now_iso(),
            }
        )
        try:
            store.save(cancelled, expected_version=shipment.version)
        except TransactionConflict:
            continue
        _publish(publisher, "ShipmentCancelled", cancelled, reason=cancelled.cancel_reason)
        return "cancelled"
    raise Conflict(f"shipment {shipment_id} kept changing")


# ---- the daily instruction file ------------------------------------------------------------


def instruction_key(day: date) -> str:
    prefix = str(settings().get("outbox_prefix", "outbox/warehouse/"))
    return f"{prefix}{day.isoformat()}/shipping-instructions-{day:%Y%m%d}.csv"


def run_instructions(day: date, *, publisher: EventPublisher | None = None) -> dict[str, Any]:
    """The ``warehouse-instructions`` run of ``day`` (ledger key
    ``warehouse-instructions#<day>``): every requested shipment to ship by the day after
    ``day`` goes into the day's file, and becomes ``instructed``. The day's shipments are
    written down (a manifest) before the file, so a rerun after a failure writes the same
    file and finishes marking; a succeeded run does nothing again. No shipment due: no file."""
    business_key = f"{INSTRUCTIONS_RUN}#{day.isoformat()}"
    run, created = runs.open_run(INSTRUCTIONS_RUN, business_key, {"date": day.isoformat()})
    if not created and run.status == "succeeded":
        return {"run_id": run.run_id, "status": run.status, "rerun": True, **run.counts}
    if not created:
        runs.update(run.run_id, status="running")
    try:
        counts, key = _write_instructions(day, publisher)
    except Exception as error:
        runs.update(
            run.run_id,
            status="failed",
            errors=[{"step": "instructions", "message": str(error)}],
            message=f"the instruction file of {day} failed: {error}",
        )
        raise
    runs.update(
        run.run_id,
        status="succeeded",
        counts=counts,
        subject={"date": day.isoformat(), "file": key},
        message=f"{counts['shipments']} shipment(s), {counts['devices']} device(s) instructed"
        + (f" in {key}" if key else ": nothing due"),
    )
    return {"run_id": run.run_id, "status": "succeeded", "rerun": False, "file": key, **counts}


def _write_instructions(
    day: date, publisher: EventPublisher | None
) -> tuple[dict[str, int], str | None]:
    key = instruction_key(day)
    manifest = store.instruction_manifest(day)
    if manifest is None:
        due = list(store.with_status("requested", up_to=date.fromordinal(day.toordinal() + 1)))
        if not due:
            return {"shipments": 0, "devices": 0, "lines": 0}, None
        store.put_instruction_manifest(day, key, [s.shipment_id for s in due])
        manifest = store.instruction_manifest(day)
        assert manifest is not None
    chosen = store.get_many([str(i) for i in manifest["shipment_ids"]])
    shipments = [chosen[i] for i in manifest["shipment_ids"] if i in chosen]
    lines = [
        warehouse.InstructionLine(
            shipment_id=shipment.shipment_id,
            ship_date=shipment.ship_date,
            delivery_date=shipment.requested_delivery_date,
            postal_code=shipment.ship_to.postal_code,
            address=" ".join(
                part
                for part in (
                    shipment.ship_to.prefecture + shipment.ship_to.city,
                    shipment.ship_to.address_line1,
                    shipment.ship_to.address_line2,
                )
                if part
            ),
            company_name=shipment.ship_to.company_name,
            recipient_name=shipment.ship_to.recipient_name,
            recipient_phone=shipment.ship_to.recipient_phone,
            device_sku=item.device_sku,
            device_name=item.device_name,
            quantity=item.quantity,
            installation=shipment.installation_needed,
            note=rules.instruction_note(shipment),
        )
        for shipment in shipments
        for item in shipment.items
    ]
    data = warehouse.instruction_file(
        lines, encoding=settings().get("instruction_encoding", "cp932")
    )
    aws.client("s3").put_object(
        Bucket=config.bucket_name(EXCHANGE),
        Key=key,
        Body=data,
        ContentType="text/csv",
        Metadata={"shipments": str(len(shipments)), "lines": str(len(lines))},
    )
    instructed = 0
    for shipment in shipments:
        instructed += _mark_instructed(shipment, key, publisher)
    devices = sum(s.ordered_count for s in shipments)
    return {
        "shipments": len(shipments),
        "devices": devices,
        "lines": len(lines),
        "newly_instructed": instructed,
    }, key


def _mark_instructed(shipment: Shipment, key: str, publisher: EventPublisher | None) -> int:
    for _ in range(_ATTEMPTS):
        if shipment.status != "requested":
            return 0  # marked by an earlier attempt, or cancelled meanwhile
        now = clock.now_iso()
        instructed = shipment.model_copy(
            update={
                "status": "instructed",
                "instruction_file": key,
                "instructed_at": now,
                "version": shipment.version + 1,
                "updated_at": now,
            }
        )
        try:
            store.save(instructed, expected_version=shipment.version)
        except TransactionConflict:
            latest = store.get(shipment.shipment_id)
            if latest is None:
                return 0
            shipment = latest
            continue
        _publish(publisher, "ShipmentInstructed", instructed, file=key)
        return 1
    raise Conflict(f"shipment {shipment.shipment_id} kept changing")


# ---- the warehouse's report of shipped serials ---------------------------------------------


def validate_shipped(rows: Sequence[warehouse.ShippedDevice]) -> list[RowError]:
    """Every row checked against the shipments it names and the serials already recorded
    (reads only): the file is applied whole, or not at all."""
    errors = list(warehouse.future_dated(rows, clock.today()))
    shipments = store.get_many(sorted({row.shipment_id for row in rows}))
    named: dict[str, Shipment | None] = {row.shipment_id: None for row in rows}
    named.update(shipments)
    known = _current(store.registered([row.serial for row in rows]), rows, named)
    errors += rules.check_shipped(rows, named, known.get)
    errors += _rental_row_errors(rows, named)  # rentals
    return sorted(errors, key=lambda error: (error.line, error.field or ""))


def record_shipped(rows: Sequence[warehouse.ShippedDevice], *, run_id: str) -> dict[str, int]:
    """Record every serial of a validated file and start each shipment's kitting run.
    Idempotent per row: a serial this run recorded already is skipped, so a retried apply
    completes the batch; the kitting run of a shipment and file is started once."""
    by_shipment: dict[str, list[warehouse.ShippedDevice]] = defaultdict(list)
    for row in rows:
        by_shipment[row.shipment_id].append(row)
    known = store.registered([row.serial for row in rows])
    counts = {"devices": 0, "already_recorded": 0, "shipments": 0, "kitting_started": 0}
    counts["rented"] = 0  # rentals
    for shipment_id, shipped in by_shipment.items():
        fresh = [
            row
            for row in shipped
            if row.serial not in known or known[row.serial].shipment_id != shipment_id
        ]
        counts["already_recorded"] += len(shipped) - len(fresh)
        shipment = store.get(shipment_id)
        if shipment is None:
            raise NotFound(f"shipment {shipment_id} disappeared")
        earlier = _earlier_shipments(shipment, fresh, known)
        if fresh:
            lines = rules.assign_lines(shipment, [(row.serial, row.model) for row in fresh])
            now = clock.now_iso()
            devices = [
                ShipmentDevice(
                    serial=row.serial,
                    shipment_id=shipment_id,
                    device_sku=row.model,
                    line_id=lines[row.serial].line_id,
                    contract_id=shipment.contract_id,
                    owner_account_id=shipment.device_owner_account_id,
                    plan_sku=lines[row.serial].plan_sku,
                    option_skus=list(lines[row.serial].option_skus),
                    binding_version=(
                        earlier[row.serial].binding_version + 1 if row.serial in earlier else 1
                    ),
                    ship_date=row.ship_date,
                    carrier=row.carrier,
                    tracking_number=row.tracking_number,
                    file_run_id=run_id,
                    file_line=row.line,
                    recorded_at=now,
                )
                for row in fresh
            ]
            store.record_devices(
                shipment,
                devices,
                replacing={serial: d.shipment_id for serial, d in earlier.items()},
            )
            counts["devices"] += len(devices)
        counts["rented"] += _rent_shipped(shipment, shipped)  # rentals: every row, for retries
        counts["shipments"] += 1
        counts["kitting_started"] += start_kitting(shipment_id, run_id)
    return counts


# ---- rentals -------------------------------------------------------------------------------
# The rental stock's part in the warehouse's report (monosub.services.devices): a rental
# model's row must name a serial the stock holds ready, and once recorded each rental serial
# is rented under the shipment's contract. Sale devices are not in the stock.


def _current(
    registered: Mapping[str, ShipmentDevice],
    rows: Sequence[warehouse.ShippedDevice],
    shipments: Mapping[str, Shipment | None],
) -> dict[str, ShipmentDevice]:
    """The serial registry without the entries that are history: a rental device the stock
    holds ready for another shipment than the one it last shipped in came back and was
    restocked, so it may ship to its next renter."""
    ready = rental_stock.ready_to_ship(rows, shipments)
    return {
        serial: device
        for serial, device in registered.items()
        if ready.get(serial) in (None, device.shipment_id)
    }


def _earlier_shipments(
    shipment: Shipment,
    fresh: Sequence[warehouse.ShippedDevice],
    registered: Mapping[str, ShipmentDevice],
) -> dict[str, ShipmentDevice]:
    """The earlier shipment of each restocked rental device this shipment ships again; a
    serial recorded elsewhere since the file was checked (and not ready to ship again) raises
    ``Conflict``: nothing of the shipment's batch is written."""
    elsewhere = {row.serial: registered[row.serial] for row in fresh if row.serial in registered}
    if not elsewhere:
        return {}
    ready = rental_stock.ready_to_ship(fresh, {shipment.shipment_id: shipment})
    for serial, device in elsewhere.items():
        if serial not in ready:
            raise Conflict(
                f"serial {serial} was recorded for shipment {device.shipment_id} after the file "
                "was checked"
            )
    return elsewhere


def _rental_row_errors(
    rows: Sequence[warehouse.ShippedDevice], shipments: Mapping[str, Shipment | None]
) -> list[RowError]:
    return rental_stock.check_shipped(rows, shipments)


def _rent_shipped(shipment: Shipment, rows: Sequence[warehouse.ShippedDevice]) -> int:
    """Idempotent: a serial rented for the contract already is left alone."""
    rental = rental_models(shipment)
    return rental_stock.rent_shipped(shipment, [row.serial for row in rows if row.model in rental])


# ---- the shipping/kitting run --------------------------------------------------------------


def kitting_key(shipment_id: str, file_run_id: str) -> str:
    return f"kitting#{shipment_id}#{file_run_id}"


def start_kitting(shipment_id: str, file_run_id: str) -> int:
    """Open the shipment's kitting run for this file and start its execution (named after
    the run, so Step Functions refuses a second start); 1 when it was started now."""
    subject = {"shipment_id": shipment_id, "file_run_id": file_run_id}
    run, created = runs.open_run(SHIPPING_KITTING, kitting_key(shipment_id, file_run_id), subject)
    if not created and run.execution_arn:
        return 0
    return 1 if executions.start(run, subject) else 0


def prepare_kitting(state: Mapping[str, Any]) -> dict[str, Any]:
    """The serials of this file's devices still to push (a re-drive skips those pushed)."""
    shipment_id = str(state["shipment_id"])
    file_run_id = str(state["file_run_id"])
    devices = [d for d in store.devices(shipment_id) if d.file_run_id == file_run_id]
    to_push = [d.serial for d in devices if d.kitting != "pushed"]
    runs.update(
        str(state["run_id"]),
        counts={"devices": len(devices), "to_push": len(to_push)},
        message=f"kitting {len(to_push)} of {len(devices)} device(s)",
    )
    return {"serials": to_push, "devices": len(devices)}


def kit_device(state: Mapping[str, Any]) -> dict[str, Any]:
    """Push one serial's binding (owner, plan, options, start date) to the device platform
    and mark it pushed. Idempotent by serial and binding version on both sides; a platform
    outage raises ``DevicePlatformUnavailable`` (the state machine retries with back-off)."""
    device = store.device(str(state["shipment_id"]), str(state["serial"]))
    if device is None:
        raise NotFound(f"device {state['serial']} of shipment {state['shipment_id']} is unknown")
    if device.kitting == "pushed":
        return {"serial": device.serial, "outcome": "already pushed"}
    binding = device_platform.DeviceBinding(
        serial=device.serial,
        model=device.device_sku,
        owner_account_id=device.owner_account_id,
        plan_sku=device.plan_sku,
        option_skus=device.option_skus,
        start_date=device.ship_date,
        version=device.binding_version,
        contract_id=device.contract_id,
        shipment_id=device.shipment_id,
    )
    device_platform.default_client().push_binding(binding)
    store.mark_pushed(device)
    count("DevicesKitted")
    return {"serial": device.serial, "outcome": "pushed"}


def complete_shipment(
    state: Mapping[str, Any], *, publisher: EventPublisher | None = None
) -> dict[str, Any]:
    """After every device is pushed: the shipment is ``shipped`` once the warehouse reported
    all it ordered (a partial report waits for the rest), and the contract starts on the
    ship date unless installation is needed (then it starts when installed). A replacement
    starts nothing: its device took the old one's place (``replacements.on_bound``)."""
    shipment_id = str(state["shipment_id"])
    for _ in range(_ATTEMPTS):
        shipment = store.get(shipment_id)
        if shipment is None:
            raise NotFound(f"shipment {shipment_id} does not exist")
        pending = [d.serial for d in store.devices(shipment_id) if d.kitting != "pushed"]
        if pending:
            raise Conflict(f"{len(pending)} device(s) of {shipment_id} are not pushed yet")
        if not shipment.complete:
            _finish_run(
                state,
                f"{shipment.shipped_count} of {shipment.ordered_count} "
                "device(s) shipped: waiting for the rest",
            )
            return {"status": shipment.status, "complete": False}
        if shipment.status == "instructed":
            now = clock.now_iso()
            shipped = shipment.model_copy(
                update={
                    "status": "shipped",
                    "shipped_at": now,
                    "version": shipment.version + 1,
                    "updated_at": now,
                }
            )
            try:
                store.save(shipped, expected_version=shipment.version)
            except TransactionConflict:
                continue
            _publish(
                publisher,
                "ShipmentShipped",
                shipped,
                shipped_on=shipped.shipped_on,
                devices=shipped.shipped_count,
                installation_needed=shipped.installation_needed,
            )
            shipment = shipped
        if shipment.kind == "replacement":  # the contract runs already: nothing starts
            replaced = replacements.on_bound(shipment, publisher=publisher)
            return {"status": shipment.status, "complete": True, "replacement": replaced}
        started = None
        if not shipment.installation_needed and shipment.shipped_on is not None:
            contract = contracts.start(
                shipment.contract_id, shipment.shipped_on, by="shipping", publisher=publisher
            )
            started = contract.start_date.isoformat() if contract.start_date else None
        return {"status": shipment.status, "complete": True, "contract_started": started}
    raise Conflict(f"shipment {shipment_id} kept changing")


def notify_shipped(
    state: Mapping[str, Any], *, mailer: email.Mailer | None = None
) -> dict[str, Any]:
    """The shipping email to the order's contact, once per shipment (at least once: a
    failure after sending and before marking sends it again on the re-drive)."""
    shipment_id = str(state["shipment_id"])
    shipment = store.get(shipment_id)
    if shipment is None:
        raise NotFound(f"shipment {shipment_id} does not exist")
    if shipment.status == "instructed":
        return {"sent": False, "why": "waiting for the rest of the devices"}
    if shipment.notified_at:
        _finish_run(state, "kitted and shipped; the shipping email went out before")
        return {"sent": False, "why": "sent before"}
    record = records.customer_record(shipment.account_id, scope=access.EVERYTHING)
    contact = next(
        (c for c in (record.contacts if record else []) if c.contact_id == shipment.contact_id),
        None,
    )
    if contact is None or not contact.email:
        _finish_run(state, "kitted and shipped; the contact has no email address")
        return {"sent": False, "why": "no email address"}
    devices = store.devices(shipment_id)
    names = {item.device_sku: item.device_name for item in shipment.items}
    contract = contracts.get_contract(shipment.contract_id)
    issuer = company.issuer(person=None)
    context = {
        "recipient": contact.person_name,
        "issuer": issuer.name,
        "issuer_contact": " ".join(p for p in (issuer.department, issuer.phone) if p),
        "shipped_on": shipment.shipped_on or clock.today(),
        "devices": [
            {
                "name": names.get(d.device_sku, d.device_sku),
                "serial": d.serial,
                "carrier": d.carrier,
                "tracking_number": d.tracking_number,
            }
            for d in sorted(devices, key=lambda d: d.file_line)
        ],
        "ship_to": shipment.ship_to,
        "installation": shipment.installation_needed,
        "contract_number": contract.number,
    }
    text, html = _render_email(context)
    shipped_on = date_ja(shipment.shipped_on or clock.today())
    (mailer or email.default_mailer).send(
        email.Email(
            to=[contact.email],
            subject=f"【出荷のお知らせ】{shipped_on} ご注文の機器を出荷しました",
            text=text,
            html=html,
        )
    )
    store.save(
        shipment.model_copy(
            update={"notified_at": clock.now_iso(), "version": shipment.version + 1}
        ),
        expected_version=shipment.version,
    )
    count("ShippingEmailsSent")
    _finish_run(state, f"{len(devices)} device(s) kitted and shipped; email to {contact.email}")
    return {"sent": True, "to": contact.email}


def _render_email(context: Mapping[str, Any]) -> tuple[str, str]:
    """The shipping email as text and HTML (templates ``shipping_notice_*.j2``)."""
    return email.render("shipping_notice", context)


def record_kitting_failure(state: Mapping[str, Any], step: str, error: BaseException) -> None:
    """A kitting step failed: the run says which step, which device, what error."""
    runs.record_step_failure(state, step, error, serial=state.get("serial"))


def _finish_run(state: Mapping[str, Any], message: str) -> None:
    run_id = str(state.get("run_id") or "")
    if run_id:
        runs.update(run_id, status="succeeded", message=message)


# ---- installation --------------------------------------------------------------------------


def complete_installation(
    shipment_id: str,
    done: InstallationDone,
    *,
    principal: Principal,
    publisher: EventPublisher | None = None,
) -> Shipment:
    """The installation of a shipped order that needed it: ``installed``, and the contract
    starts on the installation date. The same report again is a no-op; another date is 409."""
    scope = access.scope_for(principal)
    for _ in range(_ATTEMPTS):
        shipment = get_shipment(shipment_id, scope=scope)
        if not shipment.installation_needed:
            raise Conflict(f"shipment {shipment_id} needs no installation: it started on shipping")
        if shipment.status == "installed":
            if shipment.installed_on == done.installed_on:
                return shipment
            raise Conflict(
                f"shipment {shipment_id} was installed on {shipment.installed_on}",
                details={"installed_on": str(shipment.installed_on)},
            )
        if shipment.status != "shipped":
            raise Conflict(
                f"shipment {shipment_id} is {shipment.status}: install after it shipped",
                details={"status": shipment.status},
            )
        if shipment.shipped_on and done.installed_on < shipment.shipped_on:
            raise ValidationFailed(
                "installed before it shipped",
                details=[
                    {"field": "installed_on", "message": f"on or after {shipment.shipped_on}"}
                ],
            )
        if done.installed_on > clock.today():
            raise ValidationFailed(
                "an installation is reported once done",
                details=[{"field": "installed_on", "message": "today or earlier"}],
            )
        installed = shipment.model_copy(
            update={
                "status": "installed",
                "installed_on": done.installed_on,
                "installed_by": done.engineer,
                "version": shipment.version + 1,
                "updated_at": clock.now_iso(),
            }
        )
        try:
            store.save(installed, expected_version=shipment.version)
        except TransactionConflict:
            continue
        _publish(
            publisher,
            "InstallationCompleted",
            installed,
            installed_on=done.installed_on,
            engineer=done.engineer,
            note=done.note,
            by=principal.user,
        )
        if shipment.kind == "order":  # a replacement's contract runs already
            contracts.start(
                shipment.contract_id, done.installed_on, by=principal.user, publisher=publisher
            )
        return installed
    raise Conflict(f"shipment {shipment_id} kept changing")


# ---- helpers -------------------------------------------------------------------------------


def _publish(publisher: EventPublisher | None, kind: str, shipment: Shipment, **extra: Any) -> None:
    (publisher or events.default_publisher).publish(
        SOURCE,
        kind,
        {
            "shipment_id": shipment.shipment_id,
            "order_id": shipment.order_id,
            "contract_id": shipment.contract_id,
            "deal_id": shipment.deal_id,
            "account_id": shipment.account_id,
            "status": shipment.status,
            **{k: v.isoformat() if isinstance(v, date) else v for k, v in extra.items()},
        },
    )
