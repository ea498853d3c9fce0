"""What every local SOAP service (the print vendor, the ERP, the supplier) does the same way
as its real counterpart: serve its WSDL with the local address in it, and check the caller's
WS-Security UsernameToken (plain text or digest) before any operation."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from lxml import etree

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
PASSWORD_DIGEST = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
    "#PasswordDigest"
)
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
_WSDL_SOAP = "http://schemas.xmlsoap.org/wsdl/soap/"

# (faultcode, message) -> the server's own fault exception
Refusal = Callable[[str, str], Exception]


def wsdl_at(path: Path, url: str) -> bytes:
    """The WSDL kept in the repository, its service address pointing at ``url``."""
    document = etree.parse(str(path), PARSER)
    for address in document.iter(f"{{{_WSDL_SOAP}}}address"):
        address.set("location", url)
    return bytes(etree.tostring(document, xml_declaration=True, encoding="utf-8"))


def check_username_token(envelope: Any, *, username: str, password: str, refuse: Refusal) -> None:
    """The envelope's WS-Security UsernameToken must be ``username`` with ``password``
    (plain text, or a PasswordDigest over nonce, created and password); else ``refuse``
    raises the server's fault (``wsse:InvalidSecurity`` without a token,
    ``wsse:FailedAuthentication`` for a wrong one)."""
    token = envelope.find(f"{{{SOAP_ENV}}}Header/{{{WSSE}}}Security/{{{WSSE}}}UsernameToken")
    if token is None:
        raise refuse(
            "wsse:InvalidSecurity", "An error was discovered processing the <wsse:Security> header"
        )
    given_user = token.findtext(f"{{{WSSE}}}Username") or ""
    sent = token.find(f"{{{WSSE}}}Password")
    given = (sent.text or "") if sent is not None else ""
    if sent is not None and sent.get("Type") == PASSWORD_DIGEST:
        nonce = base64.b64decode(token.findtext(f"{{{WSSE}}}Nonce") or "")
        created = token.findtext(f"{{{WSU}}}Created") or ""
        expected = base64.b64encode(
            hashlib.sha1(nonce + created.encode() + password.encode()).digest()
        ).decode()
    else:
        expected = password
    if not (
        hmac.compare_digest(given_user.encode(), username.encode())
        and hmac.compare_digest(given.encode(), expected.encode())
    ):
        raise refuse(
            "wsse:FailedAuthentication",
            "The security token could not be authenticated or authorized",
        )


def envelope(content: Any, prefixes: Mapping[str, str]) -> bytes:
    """A SOAP 1.1 envelope whose body holds ``content``; ``prefixes``: the service's own
    namespace prefixes, declared on the envelope beside ``soap``."""
    root = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV, **prefixes})
    etree.SubElement(root, f"{{{SOAP_ENV}}}Body").append(content)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="utf-8"))


def fault_envelope(
    kind: str,
    message: str,
    prefixes: Mapping[str, str],
    detail: tuple[str, str] | None = None,
    fields: Mapping[str, str | None] | None = None,
) -> bytes:
    """A SOAP fault (``kind``: soap:Client, soap:Server, wsse:…) in an envelope. ``detail``:
    (namespace, element) of the service's own fault detail, holding ``fields`` in order (a
    field without a value is left out)."""
    node = etree.Element(f"{{{SOAP_ENV}}}Fault")
    etree.SubElement(node, "faultcode").text = kind
    etree.SubElement(node, "faultstring").text = message
    if detail is not None:
        namespace, name = detail
        own = etree.SubElement(etree.SubElement(node, "detail"), f"{{{namespace}}}{name}")
        for field, value in (fields or {}).items():
            if value is not None:
                etree.SubElement(own, f"{{{namespace}}}{field}").text = value
    return envelope(node, prefixes)
