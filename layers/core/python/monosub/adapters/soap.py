"""What every SOAP adapter (the print vendor, the ERP, a supplier) does the same way: a zeep
client on the WSDL kept in the repository, hardened (no DTDs, no entities, strict), signing
as one WS-Security user, with a timeout on every call; and the credentials ops put in the
partner's secret, checked before any call."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import zeep
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken


def service(
    wsdl: Path, binding: str, endpoint: str, username: str, password: str, *, timeout: float
) -> tuple[zeep.Client, Any]:
    """The client and its service proxy at ``endpoint``. ``timeout`` is for loading
    documents (none: the WSDL is a local file) and, as ``operation_timeout``, for calls."""
    client = zeep.Client(
        str(wsdl),
        transport=Transport(timeout=timeout, operation_timeout=timeout),
        wsse=UsernameToken(username, password),
        settings=zeep.Settings(strict=True, forbid_dtd=True, forbid_entities=True),
    )
    return client, client.create_service(binding, endpoint)


def credentials(
    secret_string: str, *, secret: str, docs: str, refused: type[Exception]
) -> tuple[str, str, str]:
    """(endpoint, username, password) from a partner's secret, or ``refused`` saying what to
    put in it (``docs``: where ops read how)."""
    try:
        value = json.loads(secret_string)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise refused(
            f"secret {secret} holds no JSON object: put "
            '{"endpoint": "https://...", "username": "...", "password": "..."} in it '
            f"({docs})"
        )
    endpoint = value.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint.startswith(("https://", "http://")):
        raise refused(f"secret {secret}: endpoint is not an http(s) URL")
    found = []
    for name in ("username", "password"):
        credential = value.get(name)
        if not isinstance(credential, str) or not credential:
            raise refused(f"secret {secret}: {name} is empty")
        found.append(credential)
    return endpoint, found[0], found[1]
