"""Web-shop orders in table ``records``: ``WEBORDER#<client>#<order id>`` / ``WEBORDER``.

One item per order the shop sent: the sha256 of the body it was received with, where it
stands (``received`` while being made, then ``confirmed``, ``held`` or ``rejected``) and what
it made. It is how a replayed order is answered without doing anything again, and how the
same order number with other contents is told apart (409).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from monosub.names import RECORDS
from monosub.store.dynamo import Table

_table = Table(RECORDS)
_SK = "WEBORDER"


class OrderReceipt(BaseModel):
    order_key: str
    client_id: str
    order_id: str
    body_sha256: str
    status: str = Field(description="received, confirmed, held, rejected")
    result: dict[str, Any] = Field(default_factory=dict)
    exception_id: str | None = None
    received_at: str
    updated_at: str
    version: int = 1


def _pk(order_key: str) -> str:
    return f"WEBORDER#{order_key}"


def get(order_key: str) -> OrderReceipt | None:
    item = _table.get(_pk(order_key), _SK)
    return OrderReceipt.model_validate(item) if item else None


def put_new(receipt: OrderReceipt) -> bool:
    """False when the order was received before."""
    return _table.put_new({"pk": _pk(receipt.order_key), "sk": _SK, **receipt.model_dump()})


def update(receipt: OrderReceipt, **values: Any) -> OrderReceipt | None:
    """Write ``values`` at the version read; None when the order changed meanwhile."""
    changed = receipt.model_copy(update={**values, "version": receipt.version + 1})
    written = _table.update(
        _pk(receipt.order_key),
        _SK,
        set_values={**values, "version": changed.version},
        condition="#version = :version",
        condition_values={":version": receipt.version},
    )
    return changed if written else None
