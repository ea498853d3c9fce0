"""Kind ``warehouse-shipments``: the warehouse's report of the serials it shipped.

One row per shipped device (``monosub.formats.warehouse``: shipment id, model, serial, ship
date, carrier, tracking number). Every row is checked first, in form and against the
shipments it names (unknown or cancelled shipment, one never instructed, a model the shipment
does not hold, a serial already recorded anywhere, more devices than ordered, a ship date in
the future); a file with any bad row is quarantined whole with its row-by-row report.

Applying records the serials (idempotent per row: a serial this file's run recorded is
skipped on a retry) and starts each shipment's shipping/kitting run.
"""

from __future__ import annotations

from typing import Any

from monosub.formats import warehouse
from monosub.intake.kinds import ApplyContext, Parsed, Processor, register


class WarehouseShipments(Processor):
    kind = "warehouse-shipments"
    description = "Serials shipped by the warehouse (one row per device): starts kitting"

    def parse(self, data: bytes) -> Parsed:
        from monosub.services import fulfilment  # the service reads the shipments

        parsed = warehouse.parse_shipped_devices(data)
        parsed.errors = sorted(
            [*parsed.errors, *fulfilment.validate_shipped(parsed.rows)],
            key=lambda error: (error.line, error.field or ""),
        )
        return parsed

    def apply(self, rows: list[Any], context: ApplyContext) -> dict[str, int]:
        from monosub.services import fulfilment

        return fulfilment.record_shipped(rows, run_id=context.run_id)


register(WarehouseShipments())
