"""Kind ``device-stock``: rental devices entering the stock, one row per serial.

CSV (UTF-8 with or without BOM, or cp932), header row, columns ``serial`` and ``model``
(also ``シリアル番号`` / ``シリアルナンバー`` and ``機種コード``, as in the warehouse's shipped
report; other columns are ignored)::

    serial,model
    SC1-26K-100001,CAM-ONE-RENT

Serials and models are normalised as everywhere (full-width to ASCII, dashes to hyphens,
upper case). Every row is checked first: a serial of the wrong form, one listed twice (the
error on each later line names the first), a model that is not a rental device of the
catalog, a serial in stock as another model. A file with any bad row is quarantined whole.

Applying is idempotent per row: a serial in stock as the same model already (an earlier
attempt, another file) is counted ``existing`` and written nothing, so a retried apply
completes the batch. ``POST /devices`` is the same for up to 1,000 serials.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from monosub.domain.devices import normalize_serial
from monosub.formats.csv_rows import read_csv
from monosub.intake.kinds import ApplyContext, Parsed, Processor, RowError, register
from monosub.models.catalog import SKU_PATTERN
from monosub.models.devices import model_sku

MAX_STOCK_ROWS = 100_000
_SKU = re.compile(SKU_PATTERN)
ALIASES = {"シリアル番号": "serial", "シリアルナンバー": "serial", "機種コード": "model"}

# sku -> why it cannot name a rental device (None: it can)
ModelCheck = Callable[[str], str | None]
# serials -> the model each one is in stock as (those in stock)
StockLookup = Callable[[Iterable[str]], Mapping[str, str]]


@dataclass(frozen=True)
class StockRow:
    line: int
    serial: str
    model: str


def read_stock_rows(data: bytes) -> Parsed:
    """Every row in form: serial and model present and well formed, no serial twice."""
    parsed = Parsed()
    first_line: dict[str, int] = {}
    rows = read_csv(
        data,
        required=("serial", "model"),
        aliases=ALIASES,
        ignore_unknown=True,
        max_rows=MAX_STOCK_ROWS,
    )
    for row in rows:
        if "__error__" in row.values:
            parsed.errors.append(RowError(row.line, row.values["__error__"]))
            continue
        errors = []
        raw_serial, raw_model = row.values["serial"], row.values["model"]
        serial = None
        if not raw_serial:
            errors.append(RowError(row.line, "required", "serial"))
        else:
            try:
                serial = normalize_serial(raw_serial)
            except ValueError as error:
                errors.append(RowError(row.line, str(error), "serial", raw_serial))
        model = model_sku(raw_model)
        if not model:
            errors.append(RowError(row.line, "required", "model"))
        elif not _SKU.fullmatch(model):
            errors.append(RowError(row.line, "not a catalog SKU", "model", raw_model))
        if serial is not None:
            first = first_line.setdefault(serial, row.line)
            if first != row.line:
                errors.append(
                    RowError(
                        row.line,
                        f"serial {serial} is on line {first} already",
                        "serial",
                        raw_serial,
                    )
                )
        if errors or serial is None:
            parsed.errors += errors
            continue
        parsed.rows.append(StockRow(row.line, serial, model))
    return parsed


def check_stock_rows(parsed: Parsed, model_check: ModelCheck, in_stock: StockLookup) -> Parsed:
    """The rows against the catalog (a rental device) and the stock (not another model)."""
    rows: list[StockRow] = parsed.rows
    problems = {model: model_check(model) for model in sorted({row.model for row in rows})}
    stocked = in_stock([row.serial for row in rows])
    kept = []
    for row in rows:
        problem = problems[row.model]
        if problem:
            parsed.errors.append(RowError(row.line, problem, "model", row.model))
            continue
        model = stocked.get(row.serial)
        if model is not None and model != row.model:
            parsed.errors.append(
                RowError(
                    row.line, f"serial {row.serial} is in stock as a {model}", "serial", row.serial
                )
            )
            continue
        kept.append(row)
    parsed.rows = kept
    return parsed


def _rental_model_problem(sku: str) -> str | None:
    from monosub.services import devices

    return devices.rental_model_problem(sku)


def _in_stock(serials: Iterable[str]) -> Mapping[str, str]:
    from monosub.store import devices as store

    return {serial: item.model for serial, item in store.get_many(list(serials)).items()}


class DeviceStockCsv(Processor):
    kind = "device-stock"
    description = "Rental devices entering the stock: CSV serial, model (one row per device)"

    def __init__(
        self, model_check: ModelCheck = _rental_model_problem, in_stock: StockLookup = _in_stock
    ) -> None:
        self.model_check = model_check
        self.in_stock = in_stock

    def parse(self, data: bytes) -> Parsed:
        parsed = check_stock_rows(read_stock_rows(data), self.model_check, self.in_stock)
        parsed.errors.sort(key=lambda error: (error.line, error.field or ""))
        return parsed

    def apply(self, rows: list[Any], context: ApplyContext) -> dict[str, int]:
        from monosub.services import devices

        created, existing = devices.add_to_stock(
            [(row.serial, row.model) for row in rows], by=f"run:{context.run_id}"
        )
        return {"devices_stocked": len(created), "devices_existing": len(existing)}


register(DeviceStockCsv())
