"""File kinds: what may be dropped under ``inbox/<kind>/`` and the processor for each.

A processor parses and validates the whole file first (``parse``: pure, no writes), and
only a file with no invalid row is applied (``apply``). Apply must be idempotent per row
(writes keyed by run and line), so a retried apply completes the batch and never applies
a row twice: the batch ends up applied whole, or not at all.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RowError:
    line: int
    message: str
    field: str | None = None
    value: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class Parsed:
    rows: list[Any] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


class FileRejected(Exception):
    """The file as a whole cannot be read: wrong encoding, missing columns, empty."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class TransientError(Exception):
    """A passing failure (throttling, a timeout): the state machine retries the step."""


@dataclass(frozen=True)
class ApplyContext:
    run_id: str
    bucket: str
    key: str
    progress: Callable[[dict[str, int]], None]


class Processor(ABC):
    kind: str
    description: str

    @abstractmethod
    def parse(self, data: bytes) -> Parsed:
        """Decode and validate every row; raise ``FileRejected`` for a file-level problem."""

    @abstractmethod
    def apply(self, rows: list[Any], context: ApplyContext) -> dict[str, int]:
        """Apply validated rows idempotently; return counts (e.g. created, merged)."""


_REGISTRY: dict[str, Processor] = {}


def register(processor: Processor) -> Processor:
    _REGISTRY[processor.kind] = processor
    return processor


def processor_for(kind: str) -> Processor | None:
    _load_builtin_kinds()
    return _REGISTRY.get(kind)


def known_kinds() -> list[str]:
    _load_builtin_kinds()
    return sorted(_REGISTRY)


def _load_builtin_kinds() -> None:
    # Each kind's module registers itself on import; later capabilities add theirs here.
    import monosub.intake.catalog_files  # noqa: F401
    from monosub.intake import (  # noqa: F401
        application_forms,
        bank_statements,
        debit_results,
        device_stock,
        follow_up_policy,
        leads_csv,
        settlements,
        usage_readings,
        warehouse_shipments,
    )
