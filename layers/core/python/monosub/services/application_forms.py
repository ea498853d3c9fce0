"""Application forms (申込書): a filled Excel form becomes a new customer with its deal, the
quote with its 契約書 and the consent request by email, the same steps as a phone sign-up
(``signups.sign_up``); or an exception naming the exact cells that failed, which ops fix
and retry (docs/application-forms.md).

Ids are derived from the form file's sha256, so the same file (dropped twice, its run
re-driven, its exception retried) makes each record once. The form's rep (弊社担当者) owns
the deal, else the layout's default owner; an agency code (代理店コード) makes it that
agency's customer and deal, as if the agency had registered it.

A company that is a customer already is not made twice (one account per company): the form
becomes an ``application-form-duplicate-customer`` exception naming the account, so the back
office adds the order to that account's deals itself (``POST /accounts/{id}/deals``) and
rejects the exception, or corrects the company name and retries.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import PurePosixPath
from typing import Any

from pydantic import Field, ValidationError

from monosub import access, auth, aws, clock, company, staff_directory
from monosub.domain import agencies as registration_rules
from monosub.domain import documents as document_rules
from monosub.domain import quotes as quote_rules
from monosub.errors import Conflict, ValidationFailed
from monosub.events import EventPublisher
from monosub.formats import application_form as forms
from monosub.formats.application_form import CellError, FormRead, FormValues
from monosub.models.agencies import RegistrationRequest
from monosub.models.catalog import PricingRequest
from monosub.models.exceptions import ExceptionAction, ExceptionRecord
from monosub.models.quotes import QuoteRequest
from monosub.models.signups import PhoneSignupResult
from monosub.observability import count, logger
from monosub.services import documents, exceptions, pricing, signups
from monosub.services.deals import check_requested_delivery_date
from monosub.store import agencies as agency_store
from monosub.store import deals as deal_store
from monosub.store import records
from monosub.store import runs as runs_store

CHANNEL = "application-form"
INVALID = "application-form-invalid"
DUPLICATE_CUSTOMER = "application-form-duplicate-customer"
SOURCE = "monosub.sales"
LINK_DAYS = 14
_SPLIT_OPTIONS = re.compile(r"[,、\s]+")


@dataclass(frozen=True)
class FormFile:
    """Where the form came from: the object dropped and its content's sha256 (what makes
    two drops the same form), and the intake run that read it."""

    bucket: str
    key: str
    sha256: str
    run_id: str | None = None

    def as_dict(self) -> dict[str, str]:
        found = {"bucket": self.bucket, "key": self.key, "sha256": self.sha256}
        return found | ({"run_id": self.run_id} if self.run_id else {})


class ApplicationFormResult(PhoneSignupResult):
    """What the form made, and the form file it came from (to link it as a document)."""

    form_version: str
    owner: str = Field(description="The deal's owner: the form's rep or the default owner")
    agency_id: str | None = None
    file: dict[str, str] = Field(description="bucket, key (as dropped), sha256, run_id")
    document_id: str | None = Field(
        default=None, description="The form kept with the customer (GET /documents/{id})"
    )


class FormInvalid(ValidationFailed):
    """Values of the form failed: ``details`` lists each with its cell, field and why."""

    def __init__(self, errors: Sequence[CellError]) -> None:
        shown = "; ".join(f"{e.cell or e.field} {e.label}: {e.message}" for e in errors[:3])
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        super().__init__(
            f"{len(errors)} value(s) of the application form failed: {shown}{more}",
            details=[e.as_dict() for e in errors],
        )
        self.errors = list(errors)


class CustomerExists(Conflict):
    """The form's company is a customer already."""

    def __init__(self, name: str, account_id: str) -> None:
        super().__init__(
            f"{name} is a customer already (account {account_id}): add the order to that "
            "account's deals and reject this, or correct the company name and retry",
            details=[{"field": "customer.name", "account_id": account_id}],
        )
        self.account_id = account_id


# ---- a form read from a file -----------------------------------------------------------------


def receive(
    read: FormRead, file: FormFile, *, publisher: EventPublisher | None = None
) -> dict[str, int]:
    """A form read by the file intake: the deal it makes, or the exception for the back
    office (a form that failed is handled as designed: the run succeeds). Returns counts."""
    try:
        accept(read, file, publisher=publisher)
    except FormInvalid as invalid:
        raise_invalid(read, file, invalid.errors, publisher=publisher)
        return {"deals": 0, "exceptions": 1}
    except CustomerExists as taken:
        _raise(read, file, DUPLICATE_CUSTOMER, taken.message, [], taken.account_id, publisher)
        return {"deals": 0, "exceptions": 1}
    return {"deals": 1, "exceptions": 0}


def raise_invalid(
    read: FormRead,
    file: FormFile,
    errors: Sequence[CellError],
    *,
    publisher: EventPublisher | None = None,
) -> ExceptionRecord:
    """The ``application-form-invalid`` exception of a form (once per file), listing the
    cells that failed; ops fix them and retry, or reject."""
    return _raise(read, file, INVALID, FormInvalid(errors).message, errors, None, publisher)


def _raise(  # noqa: PLR0917  (private: one call per kind)
    read: FormRead,
    file: FormFile,
    kind: str,
    reason: str,
    errors: Sequence[CellError],
    account_id: str | None,
    publisher: EventPublisher | None,
) -> ExceptionRecord:
    record, created = exceptions.raise_exception(
        kind=kind,
        channel=CHANNEL,
        source=file.run_id or f"s3://{file.bucket}/{file.key}",
        reference=file.sha256,
        reason=reason,
        original={**read.raw, "form_version": read.version, "file": file.as_dict()},
        details={"cells": [e.as_dict() for e in errors], "where": read.where},
        account_id=account_id,
        actions=(exceptions.RETRY, exceptions.REJECT),
        publisher=publisher,
    )
    if created:
        count("ApplicationFormsRefused")
    return record


# ---- making the deal -----------------------------------------------------------------------


def accept(
    read: FormRead,
    file: FormFile,
    *,
    link_base: str | None = None,
    publisher: EventPublisher | None = None,
) -> ApplicationFormResult:
    """The customer, deal, quote with 契約書 and consent email of a form whose values all
    passed (``FormInvalid`` naming the cells otherwise; ``CustomerExists`` for a company
    that is a customer already). The consent link goes to ``link_base``, by default the
    customer portal's address (a dropped file has no request to take a host from)."""
    if read.values is None:
        raise FormInvalid(read.errors)
    values = read.values
    layout = forms.layout(values.version)
    owner = str(values.fields.get("rep") or layout.default_owner)
    agency_id = _text(values.fields.get("agency_code"))
    problems = _people_problems(values, read.where, owner, agency_id)
    request, request_problems = _request(values, read.where)
    problems += request_problems
    if request is not None:
        problems += _order_problems(request, values, read.where)
    if problems:
        raise FormInvalid(problems)
    assert request is not None
    base = f"{CHANNEL}#{file.sha256}"
    plan = registration_rules.plan_registration(
        request,
        agency_id=agency_id,
        by=owner,
        new_ids=signups.registration_ids(base, len(request.deal.lines)),
        now=clock.now_iso(),
        how=_history_note(values, file),
        kind="application-form",
    )
    new = deal_store.get_deal(plan.deal.deal_id, scope=access.EVERYTHING) is None
    if new:
        _check_not_a_customer(plan)
        _check_campaigns(plan, values, read.where)
    principal = auth.Principal(user=owner, groups=frozenset({auth.SALES}))
    try:
        made = signups.sign_up(
            plan,
            QuoteRequest(),
            principal=principal,
            channel=CHANNEL,
            pricing_channel=None,
            expires_in_days=LINK_DAYS,
            link_base=link_base or company.public_url(),
            publisher=publisher,
        )
    except ValidationFailed as refused:  # pricing: a SKU not sold, an option that does not fit
        raise FormInvalid(_mapped(refused, values, read.where)) from None
    except Conflict as conflict:
        if "registered already" in str(conflict.details):  # taken meanwhile
            existing = records.account_for_company(plan.account.name_key)
            raise CustomerExists(request.name, existing.account_id if existing else "?") from None
        raise
    if new:
        count("ApplicationFormsAccepted")
    return ApplicationFormResult(
        **made.model_dump(),
        form_version=values.version,
        owner=owner,
        agency_id=agency_id,
        file=file.as_dict(),
        document_id=_keep_form(file, made.account_id, made.deal_id, publisher),
    )


def _keep_form(
    file: FormFile, account_id: str, deal_id: str, publisher: EventPublisher | None
) -> str | None:
    """The form itself stays with the customer: a document of its account and deal (the
    same file again is the same document). Read where it was dropped, or, once the intake
    archived it (a form retried by ops), from its run's archive."""
    data = _form_bytes(file)
    if data is None:
        logger.warning("the form file is gone: not kept as a document", extra=file.as_dict())
        return None
    kept = documents.attach(
        data,
        kind="application-form",
        file_name=PurePosixPath(file.key).name,
        content_type=document_rules.XLSX,
        account_id=account_id,
        deal_id=deal_id,
        by=CHANNEL,
        source=file.run_id,
        publisher=publisher,
    )
    return kept.document_id


def _form_bytes(file: FormFile) -> bytes | None:
    s3 = aws.client("s3")
    keys = [file.key]
    run = runs_store.get(file.run_id) if file.run_id else None
    if run is not None and run.subject.get("archived_as"):
        keys.append(str(run.subject["archived_as"]))
    for key in keys:
        try:
            data: bytes = s3.get_object(Bucket=file.bucket, Key=key)["Body"].read()
        except (s3.exceptions.NoSuchKey, s3.exceptions.NoSuchBucket):
            continue
        if hashlib.sha256(data).hexdigest() == file.sha256:
            return data
    return None


def _people_problems(
    values: FormValues, where: Mapping[str, str], owner: str, agency_id: str | None
) -> list[CellError]:
    """The rep must be one of our staff; the agency code an agency we know."""
    labels = forms.labels(values.version)
    problems = []
    if values.fields.get("rep") and staff_directory.member(owner) is None:
        problems.append(
            CellError(
                where.get("rep"),
                "rep",
                labels["rep"],
                owner,
                f"担当者 {owner} は登録されていません (no such user in the staff directory)",
            )
        )
    if agency_id is not None and agency_store.get_agency(agency_id) is None:
        problems.append(
            CellError(
                where.get("agency_code"),
                "agency_code",
                labels["agency_code"],
                agency_id,
                f"代理店コード {agency_id} は登録されていません (no such agency)",
            )
        )
    return problems


def _order_problems(
    request: RegistrationRequest, values: FormValues, where: Mapping[str, str]
) -> list[CellError]:
    """What a sign-up needs before the link goes out (an email, a shippable and billable
    order) and a delivery date not in the past."""
    problems: list[CellError] = []
    for check in (
        lambda: check_requested_delivery_date(
            request.deal.requested_delivery_date, "deal.requested_delivery_date"
        ),
        lambda: signups.check_complete(request),
    ):
        try:
            check()
        except ValidationFailed as refused:
            problems += _mapped(refused, values, where)
    return problems


def _check_not_a_customer(plan: registration_rules.RegistrationPlan) -> None:
    """One account per company: a corporate form for a known company is not made again."""
    if plan.account.name_key is None:
        return
    existing = records.account_for_company(plan.account.name_key)
    if existing is not None:
        raise CustomerExists(plan.account.name, existing.account_id)


def _check_campaigns(
    plan: registration_rules.RegistrationPlan, values: FormValues, where: Mapping[str, str]
) -> None:
    """A campaign code written on a line must be one the quote will apply: campaigns apply
    by their own rules, so a code that does not (ended, another segment) is for the back
    office to settle with the customer before anything is sent."""
    wanted = {
        index: str(line["campaign_code"])
        for index, line in enumerate(values.lines)
        if line.get("campaign_code")
    }
    if not wanted:
        return
    try:
        priced = pricing.preview(
            PricingRequest(
                date=clock.today(),
                segment=plan.deal.segment,
                channel="agency" if plan.deal.agency_id else "direct",
                new_customer=True,
                lines=quote_rules.pricing_lines(plan.deal.lines),
            )
        )
    except ValidationFailed:
        return  # the lines themselves fail: sign_up names them
    labels = forms.labels(values.version)
    problems = [
        CellError(
            where.get(f"lines[{index}].campaign_code"),
            f"lines[{index}].campaign_code",
            labels["lines.campaign_code"],
            code,
            f"キャンペーン {code} はこのお申込みに適用されません (the campaign does not apply "
            f"to this order on {clock.today().isoformat()}; applied: "
            f"{', '.join(priced.campaigns_applied) or 'none'})",
        )
        for index, code in wanted.items()
        if code not in priced.campaigns_applied
    ]
    if problems:
        raise FormInvalid(problems)


# ---- the form's values as a sign-up ------------------------------------------------------------


def _request(
    values: FormValues, where: Mapping[str, str]
) -> tuple[RegistrationRequest | None, list[CellError]]:
    """The customer, contact and deal the form asks for, or the cells whose values the
    models refuse (a prefecture that is not one, a malformed email …)."""
    fields = values.fields
    ship_to = _ship_to(fields)
    application_date = fields.get("application_date")
    when = application_date.strftime("%Y/%m/%d") if isinstance(application_date, date) else ""
    body = {
        "segment": fields.get("customer.segment"),
        "name": fields.get("customer.name"),
        "contact": {
            "person_name": fields.get("customer.contact_person"),
            "email": fields.get("customer.email"),
            "phone": fields.get("customer.phone"),
        },
        "deal": {
            "name": f"{company.service_name()} お申込み（申込書 {when}）",
            "lines": [
                {
                    "device_sku": line.get("device_sku"),
                    "plan_sku": line.get("plan_sku"),
                    "option_skus": _options(line.get("option_skus")),
                    "quantity": line.get("quantity"),
                }
                for line in values.lines
            ],
            "requested_delivery_date": fields.get("delivery.requested_date"),
            "ship_to": ship_to,
            "installation_needed": bool(fields.get("delivery.installation_needed")),
            "payment_method": fields.get("payment_method"),
        },
    }
    try:
        return RegistrationRequest.model_validate(body), []
    except ValidationError as error:
        problems = []
        for problem in error.errors():
            path = _dotted(problem["loc"])
            message = "必須項目です (required)" if problem["input"] is None else problem["msg"]
            problems.append(_cell_error(path, message, values, where))
        return None, problems


def _ship_to(fields: Mapping[str, Any]) -> dict[str, Any] | None:
    """The delivery section when any of it is filled in; else the customer's own address,
    received by the contact person."""
    given = {
        name.removeprefix("delivery."): value
        for name, value in fields.items()
        if name.startswith("delivery.")
        and name not in ("delivery.requested_date", "delivery.installation_needed")
    }
    if any(value is not None for value in given.values()):
        return given
    customer = {
        "postal_code": fields.get("customer.postal_code"),
        "prefecture": fields.get("customer.prefecture"),
        "city": fields.get("customer.city"),
        "address_line1": fields.get("customer.address_line1"),
        "address_line2": fields.get("customer.address_line2"),
        "recipient_name": fields.get("customer.contact_person"),
        "recipient_phone": fields.get("customer.phone"),
    }
    if fields.get("customer.segment") == "corporate":
        customer["company_name"] = fields.get("customer.name")
    if all(value is None for value in customer.values()):
        return None  # nowhere to ship: check_complete names it
    return customer


def _options(value: Any) -> list[str]:
    return [part for part in _SPLIT_OPTIONS.split(str(value or "")) if part]


def _text(value: Any) -> str | None:
    return str(value).strip() or None if value is not None else None


def _history_note(values: FormValues, file: FormFile) -> str:
    """What the account's history keeps of the form beyond the records: the version and
    file, the kana and address as written, and any field this code does not map (a later
    version's additions, e.g. 部署名 or 備考)."""
    labels = forms.labels(values.version)
    parts = [f"申込書 {values.version} 受付 (application form, s3://{file.bucket}/{file.key})"]
    kept = [
        name for name in values.fields if name not in forms.KNOWN_FIELDS or name == "customer.kana"
    ]
    address = " ".join(
        str(values.fields[name])
        for name in (
            "customer.postal_code",
            "customer.prefecture",
            "customer.city",
            "customer.address_line1",
            "customer.address_line2",
        )
        if values.fields.get(name)
    )
    if address:
        parts.append(f"住所: {address}")
    parts += [f"{labels[name]}: {values.fields[name]}" for name in kept if values.fields.get(name)]
    codes = [str(line["campaign_code"]) for line in values.lines if line.get("campaign_code")]
    if codes:
        parts.append(f"{labels['lines.campaign_code']}: {', '.join(codes)}")
    return "; ".join(parts)


# ---- errors, named by cell -----------------------------------------------------------------

# A sign-up's field (as the models and services name it) → the form's field.
_CUSTOMER_FIELDS = {
    "segment": "customer.segment",
    "name": "customer.name",
    "contact": "customer.email",
    "contact.person_name": "customer.contact_person",
    "contact.email": "customer.email",
    "contact.phone": "customer.phone",
    "deal.name": "customer.name",
    "deal.requested_delivery_date": "delivery.requested_date",
    "deal.installation_needed": "delivery.installation_needed",
    "deal.payment_method": "payment_method",
    "deal.lines": "lines",
}
_SHIP_TO_FROM_CUSTOMER = {
    "postal_code": "customer.postal_code",
    "prefecture": "customer.prefecture",
    "city": "customer.city",
    "address_line1": "customer.address_line1",
    "address_line2": "customer.address_line2",
    "company_name": "customer.name",
    "recipient_name": "customer.contact_person",
    "recipient_phone": "customer.phone",
}
_LINE = re.compile(r"deal\.lines\[(\d+)\](?:\.([a-z_]+))?")


def _form_field(path: str, values: FormValues) -> str:
    line = _LINE.match(path)
    if line:
        column = line.group(2) or "plan_sku"
        return f"lines[{line.group(1)}].{column}"
    if path.startswith("deal.ship_to"):
        part = path.removeprefix("deal.ship_to").lstrip(".") or "address_line1"
        from_delivery = any(
            values.fields.get(name) is not None
            for name in values.fields
            if name.startswith("delivery.")
            and name not in ("delivery.requested_date", "delivery.installation_needed")
        )
        if from_delivery:
            return f"delivery.{part}"
        return _SHIP_TO_FROM_CUSTOMER.get(part, f"customer.{part}")
    return _CUSTOMER_FIELDS.get(path, path)


def _cell_error(path: str, message: str, values: FormValues, where: Mapping[str, str]) -> CellError:
    name = _form_field(path, values)
    labels = forms.labels(values.version)
    column = re.sub(r"^lines\[\d+\]\.", "lines.", name)
    label = labels.get(column, labels.get(name, name))
    line = re.match(r"lines\[(\d+)\]", name)
    if line:
        label = f"ご注文内容 {int(line.group(1)) + 1}行目 {label}"
    value = _raw_value(name, values)
    return CellError(where.get(name), name, label, value, message)


def _raw_value(name: str, values: FormValues) -> str:
    line = re.match(r"lines\[(\d+)\]\.(\w+)", name)
    if line:
        index = int(line.group(1))
        found = values.lines[index].get(line.group(2)) if index < len(values.lines) else None
    else:
        found = values.fields.get(name)
    return "" if found is None else str(found)


def _mapped(
    refused: ValidationFailed, values: FormValues, where: Mapping[str, str]
) -> list[CellError]:
    details = refused.details if isinstance(refused.details, list) else []
    found = [
        _cell_error(str(d.get("field", "")), str(d.get("message", refused.message)), values, where)
        for d in details
        if isinstance(d, Mapping)
    ]
    return found or [CellError(None, "form", "申込書", "", refused.message)]


def _dotted(location: Iterable[Any]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


# ---- fix and retry -------------------------------------------------------------------------


def retry(record: ExceptionRecord, decision: ExceptionAction) -> dict[str, Any]:
    """Ops' "fix and retry" of a form's exception: the values as received with their
    corrections, checked again with the same rules (``FormInvalid`` naming the cells keeps
    the exception open), then the deal as for a valid form. Kept as the resolution: what
    was made and the form file."""
    merged = exceptions.corrected(record, decision)
    file = FormFile(**dict(record.original["file"]))
    version = str(record.original["form_version"])
    texts = {name: value for name, value in merged.items() if name not in ("file", "form_version")}
    where = dict(record.details.get("where") or {})
    read = forms.check_values(version, texts, where)
    made = accept(read, file)
    return {
        "account_id": made.account_id,
        "deal_id": made.deal_id,
        "quote_id": made.quote_id,
        "consent_id": made.consent_id,
        "contract_number": made.contract_number,
        "owner": made.owner,
        "file": made.file,
        "document_id": made.document_id,
    }


exceptions.register_action(INVALID, exceptions.RETRY, retry)
exceptions.register_action(DUPLICATE_CUSTOMER, exceptions.RETRY, retry)

__all__ = [
    "CHANNEL",
    "DUPLICATE_CUSTOMER",
    "INVALID",
    "ApplicationFormResult",
    "CustomerExists",
    "FormFile",
    "FormInvalid",
    "accept",
    "raise_invalid",
    "receive",
    "retry",
]
