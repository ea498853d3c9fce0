"""The company that issues documents (適格請求書発行事業者): its name, 登録番号, address and
contact, from ``monosub/data/company.json`` (deployment data shipped with the code: change
the file, not the code)."""

from __future__ import annotations

import functools
import json
from pathlib import Path

from monosub import config
from monosub.documents.model import Issuer

PROFILE = Path(__file__).resolve().parent / "data" / "company.json"


@functools.cache
def _profile() -> dict[str, object]:
    data: dict[str, object] = json.loads(PROFILE.read_text(encoding="utf-8"))
    return data


def issuer(person: str | None = None) -> Issuer:
    """The issuer block of a document; ``person`` is the responsible rep (担当者)."""
    details = dict(_profile()["issuer"])  # type: ignore[call-overload]
    return Issuer.model_validate({**details, "person": person})


def service_name() -> str:
    return str(_profile()["service_name"])


def payment_profile() -> dict[str, str]:
    """How customers pay the company: the bank account shown on bank-transfer invoices."""
    return {str(k): str(v) for k, v in dict(_profile().get("payment") or {}).items()}  # type: ignore[call-overload]


def portal_url() -> str:
    """The customer portal's address."""
    return str(_profile()["portal_url"])


PUBLIC_URL_SETTING = "PUBLIC_URL"


def public_url() -> str:
    """Where customers reach monosub's public pages (the consent page) through a link made
    outside an HTTP request (a dropped application form): the customer portal's address,
    whose ``/consent/*`` forwards to the API, unless the environment names another
    (``PUBLIC_URL``: the local API server sets its own address while it runs)."""
    return config.setting(PUBLIC_URL_SETTING) or portal_url()


def invoice_link(invoice_id: str) -> str:
    """Where a customer reads an invoice (the customer portal)."""
    return f"{portal_url()}/invoices/{invoice_id}"


def direct_debit_profile() -> dict[str, object]:
    """Our 口座振替 contract with the collecting bank: the consignor code it gave us, the
    account the money goes to, and how many bank days before a debit date it needs the
    request file."""
    return dict(_profile()["direct_debit"])  # type: ignore[call-overload]


def chat_webhook_url() -> str | None:
    """The company-wide chat tool's incoming webhook (optional ``chat_webhook_url``): where
    staff notifications go when the staff directory names none."""
    value = _profile().get("chat_webhook_url")
    return str(value) if value else None
