"""The one declaration is consistent: every handler imports, every ASL placeholder is bound
to exactly one manifest entry and none is unused, every declared route is served."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest

from functions import manifest, resources
from functions.declarations import (
    DEFAULT_BUS,
    Api,
    EventRule,
    ObjectCreated,
    Schedule,
    StateMachineTask,
)
from local import cron

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


@pytest.mark.parametrize("function", manifest.FUNCTIONS, ids=lambda f: f.name)
def test_every_handler_exists_and_imports(function):
    module = importlib.import_module(function.module)
    assert callable(getattr(module, function.attribute))


def test_function_names_are_unique():
    names = [f.name for f in manifest.FUNCTIONS]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("function", manifest.FUNCTIONS, ids=lambda f: f.name)
def test_every_function_uses_only_declared_resources(function):
    table_names = {t.name for t in resources.TABLES}
    bucket_names = {b.name for b in resources.BUCKETS}
    machines = {m.name for m in resources.STATE_MACHINES}
    buses = {b.name for b in resources.EVENT_BUSES}
    assert set(function.tables) <= table_names
    assert set(function.buckets) <= bucket_names
    assert set(function.starts) <= machines
    assert set(function.redrives) <= machines
    assert set(function.publishes_to) <= buses
    for trigger in function.triggers:
        if isinstance(trigger, ObjectCreated):
            assert trigger.bucket in bucket_names
        if isinstance(trigger, EventRule):
            assert trigger.bus in buses | {DEFAULT_BUS}  # or the bus of AWS services
        if isinstance(trigger, StateMachineTask):
            assert trigger.state_machine in machines
        if isinstance(trigger, Schedule):
            list(cron.fire_times(trigger.expression, *_one_day()))  # parses


def _one_day():
    from datetime import UTC, datetime, timedelta

    start = datetime(2026, 11, 1, tzinfo=UTC)
    return start, start + timedelta(days=1)


@pytest.mark.parametrize("machine", resources.STATE_MACHINES, ids=lambda m: m.name)
def test_every_placeholder_is_bound_to_exactly_one_manifest_entry(machine):
    text = (ROOT / "statemachines" / machine.definition).read_text(encoding="utf-8")
    json.loads(text)  # valid JSON as written, placeholders are inside strings
    used = set(PLACEHOLDER.findall(text))
    declared = [
        t.placeholder
        for f in manifest.FUNCTIONS
        for t in f.triggers
        if isinstance(t, StateMachineTask) and t.state_machine == machine.name
    ]
    assert len(declared) == len(set(declared)), "a placeholder is bound twice"
    assert used == set(declared), (
        f"unbound: {sorted(used - set(declared))}, unused: {sorted(set(declared) - used)}"
    )


def test_every_state_machine_file_is_declared():
    files = {p.name for p in (ROOT / "statemachines").glob("*.asl.json")}
    assert files == {m.definition for m in resources.STATE_MACHINES}


def test_declared_routes_are_exactly_the_routes_the_api_serves():
    from functions.api.app import app

    served = {
        (route.method, re.sub(r"<(\w+)>", r"{\1}", route.path))
        for route in app._static_routes + app._dynamic_routes
    }
    declared = {(r.method, r.path) for r in manifest.API_ROUTES}
    api_functions = [f for f in manifest.FUNCTIONS if any(isinstance(t, Api) for t in f.triggers)]
    # the API function, and webhooks with a function of their own (public, least privilege)
    assert {f.name for f in api_functions} == {"api", "stripe-webhook"}
    routes = [
        (r.method, r.path)
        for f in api_functions
        for t in f.triggers
        if isinstance(t, Api)
        for r in t.routes
    ]
    assert len(routes) == len(set(routes)), "a route is declared for two functions"
    assert served == declared, (
        f"declared, no handler: {sorted(declared - served)}; "
        f"served, undeclared: {sorted(served - declared)}"
    )


@pytest.mark.parametrize("raw", ["ops,sales", "[ops sales]", ["ops", "sales"], "ops sales"])
def test_group_claims_in_every_authorizer_format(raw):
    from monosub.auth import principal_from_event

    event = {"requestContext": {"authorizer": {"claims": {"sub": "u1", "cognito:groups": raw}}}}
    principal = principal_from_event(event)
    assert principal is not None and principal.groups == {"ops", "sales"}


def test_the_domain_package_never_imports_the_functions_package():
    """Dependencies point one way: functions -> monosub -> third party."""
    package = ROOT / "layers" / "core" / "python" / "monosub"
    offenders = [
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if re.search(r"^\s*(from|import) functions\b", path.read_text(encoding="utf-8"), re.M)
    ]
    assert offenders == []


def test_the_pure_domain_imports_nothing_from_aws():
    domain = ROOT / "layers" / "core" / "python" / "monosub" / "domain"
    pattern = re.compile(r"^\s*(from|import) (boto3|botocore|monosub\.(aws|store))\b", re.M)
    offenders = [p.name for p in domain.rglob("*.py") if pattern.search(p.read_text("utf-8"))]
    assert offenders == []
