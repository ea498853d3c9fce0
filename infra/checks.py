"""Refuse declarations the stack cannot be built from, before building anything."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from functions import declarations, resources


class DeclarationError(ValueError):
    """``functions/manifest.py`` refers to something ``functions/resources.py`` lacks, or
    declares something the CDK app cannot build."""


def check_functions(functions: Sequence[declarations.Function]) -> None:
    tables = {table.name for table in resources.TABLES}
    buckets = {bucket.name for bucket in resources.BUCKETS}
    buses = {bus.name for bus in resources.EVENT_BUSES}
    machines = {machine.name for machine in resources.STATE_MACHINES}
    problems: list[str] = []
    for name, count in Counter(function.name for function in functions).items():
        if count > 1:
            problems.append(f"function {name!r} is declared {count} times")
    for function in functions:
        where = f"function {function.name!r}"
        if not function.handler.startswith("functions."):
            problems.append(
                f"{where}: handler {function.handler!r} is outside the functions package, "
                "the only code deployed with the function"
            )
        problems += _unknown(where, "table", function.tables, tables)
        problems += _unknown(where, "bucket", function.buckets, buckets)
        problems += _unknown(where, "state machine", function.starts, machines)
        problems += _unknown(where, "state machine", function.redrives, machines)
        problems += _unknown(where, "event bus", function.publishes_to, buses)
        for trigger in function.triggers:
            if isinstance(trigger, declarations.ObjectCreated):
                problems += _unknown(where, "bucket", [trigger.bucket], buckets)
            elif isinstance(trigger, declarations.EventRule):
                problems += _unknown(
                    where, "event bus", [trigger.bus], buses | {declarations.DEFAULT_BUS}
                )
            elif isinstance(trigger, declarations.StateMachineTask):
                problems += _unknown(where, "state machine", [trigger.state_machine], machines)
    if problems:
        raise DeclarationError("; ".join(problems))


def _unknown(where: str, kind: str, used: Iterable[str], known: set[str]) -> list[str]:
    return [
        f"{where} uses {kind} {name!r}, which functions/resources.py does not declare"
        for name in used
        if name not in known
    ]
