"""What the sales-flow integration tests share: API calls through the real API handler in
the API function's environment, the embedded AWS with the demo price book loaded, the
captured email, the audit trail, a deal ready to quote, and the token of a consent email."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from local.ops_page import raw_message
from local.runtime import EmbeddedAWS
from monosub import config
from tests.conftest import ApiResponse, FakeContext, proxy_event

DATA = Path(__file__).resolve().parent / "data"
HOST = {"Host": "127.0.0.1:8787", "X-Forwarded-Proto": "http"}


class Calls:
    def __init__(self, cloud: EmbeddedAWS) -> None:
        from functions import manifest

        self.cloud = cloud
        self.environment = manifest.function("api").environment(cloud.names)

    def __call__(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        groups: str | None = "sales",
        user: str = "tanaka",
        headers: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
    ) -> ApiResponse:
        from functions.api import app

        event = proxy_event(
            method,
            path,
            body,
            groups=groups,
            user=user,
            headers={**HOST, **(headers or {})},
            query=query,
        )
        event["requestContext"]["identity"] = {"sourceIp": "203.0.113.7", "userAgent": "Test/1"}
        with config.function_environment(self.environment):
            return ApiResponse(app.handler(event, FakeContext("api")))

    def form(self, path: str, form: dict[str, str]) -> ApiResponse:
        return self(
            "POST",
            path,
            urlencode(form),
            groups=None,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )


@contextmanager
def priced_cloud(business_time: datetime) -> Iterator[EmbeddedAWS]:
    """The embedded AWS at ``business_time`` with the test price book and campaigns loaded."""
    with EmbeddedAWS(business_time=business_time) as embedded:
        for kind, name in (("price-book", "price-book.csv"), ("campaigns", "campaigns.json")):
            embedded.drop(kind, name, (DATA / "catalog" / name).read_bytes())
        embedded.wait_for_executions()
        yield embedded


def sent_mail() -> list[Any]:
    from moto.ses.models import ses_backends

    return list(ses_backends["123456789012"]["ap-northeast-1"].sent_messages)


def attachments_of(message) -> list[str]:  # type: ignore[no-untyped-def]
    """The file names attached to a sent message (only a raw one has any)."""
    parsed = raw_message(message)
    return [] if parsed is None else [str(p.get_filename()) for p in parsed.iter_attachments()]


def trail(cloud: EmbeddedAWS, kind: str, identifier: str) -> list[dict[str, Any]]:
    """The audit trail of a subject: every domain event that named it (event-journal)."""
    from monosub.store import audit

    with cloud.as_function("event-journal"):
        return list(audit.trail(kind, identifier))


def a_deal(call: Calls, *, quantity: int = 12) -> dict[str, Any]:
    lead = call(
        "POST",
        "/leads",
        {
            "company": "株式会社みなと物流",
            "person_name": "佐藤 花子",
            "email": "hanako@minato.example.jp",
        },
        groups=None,
    ).json()
    converted = call("POST", f"/leads/{lead['lead_id']}/convert", {}).json()
    deal = call("GET", f"/deals/{converted['deal_id']}").json()
    changes = {
        "version": deal["version"],
        "lines": [
            {
                "device_sku": "CAM-ONE-SALE",
                "plan_sku": "PLAN-30D",
                "quantity": quantity,
                "option_skus": ["OPT-DOWNLOAD"],
            }
        ],
        "payment_method": "bank-transfer",
        "requested_delivery_date": "2026-12-15",
        "ship_to": {
            "postal_code": "105-0022",
            "prefecture": "東京都",
            "city": "港区",
            "address_line1": "海岸1-2-3",
            "recipient_name": "佐藤 花子",
            "recipient_phone": "03-1234-5678",
        },
    }
    response = call("PATCH", f"/deals/{deal['deal_id']}", changes)
    assert response.status == 200, response
    return response.json()


def token_of(message: Any) -> str:
    tokens = re.findall(r'<a href="[^"]+/consent/([^"]+)"', message.body)
    assert len(set(tokens)) == 1
    return tokens[0]
