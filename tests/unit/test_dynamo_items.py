"""DynamoDB item helpers (``monosub.store.dynamo``): serialization and request building only."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monosub import aws, config
from monosub.store.dynamo import Table, from_item, to_item, to_value

TABLE_ENV = {"TABLE_RECORDS": "monosub-test-records"}


@pytest.fixture(autouse=True)
def no_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(service: str) -> Any:
        raise AssertionError(f"an AWS client ({service}) was requested")

    monkeypatch.setattr(aws, "client", refuse)


@pytest.fixture
def table() -> Iterator[Table]:
    with config.function_environment(TABLE_ENV):
        yield Table("records")


# ---- to_item / from_item -------------------------------------------------------------------


def test_to_item_wire_format() -> None:
    item = to_item(
        {
            "pk": "LEAD#1",
            "count": 3,
            "amount": Decimal("1200.50"),
            "active": True,
            "tags": ["a", 1],
            "address": {"city": "東京", "zip": "100-0001"},
        }
    )
    assert item == {
        "pk": {"S": "LEAD#1"},
        "count": {"N": "3"},
        "amount": {"N": "1200.50"},
        "active": {"BOOL": True},
        "tags": {"L": [{"S": "a"}, {"N": "1"}]},
        "address": {"M": {"city": {"S": "東京"}, "zip": {"S": "100-0001"}}},
    }


def test_round_trip() -> None:
    values = {
        "pk": "LEAD#1",
        "name": "株式会社テスト",
        "empty": "",
        "count": 3,
        "negative": -42,
        "amount": Decimal("1200.50"),
        "active": True,
        "closed": False,
        "tags": ["a", "b"],
        "lines": [{"sku": "X", "qty": 2, "price": Decimal("9.99")}],
        "nested": {"a": {"b": {"c": "d"}}},
    }
    back = from_item(to_item(values))
    assert back == values
    assert back["active"] is True and back["closed"] is False
    assert isinstance(back["count"], Decimal)  # numbers come back as Decimal
    assert back["amount"] == Decimal("1200.50")
    assert str(back["amount"]) == "1200.50"


def test_tuples_become_lists() -> None:
    assert from_item(to_item({"t": ("a", 1)})) == {"t": ["a", 1]}


def test_none_values_are_dropped_also_nested() -> None:
    item = to_item({"pk": "X", "gone": None, "m": {"keep": 1, "gone": None, "n": {"x": None}}})
    assert item == {"pk": {"S": "X"}, "m": {"M": {"keep": {"N": "1"}, "n": {"M": {}}}}}
    assert from_item(item) == {"pk": "X", "m": {"keep": 1, "n": {}}}
    dict_in_list = to_item({"l": [{"a": None, "b": "c"}]})
    assert dict_in_list == {"l": {"L": [{"M": {"b": {"S": "c"}}}]}}


@pytest.mark.parametrize(
    "values",
    [
        {"price": 1.5},
        {"price": 0.0},
        {"m": {"price": 1.5}},
        {"l": [1, 2.5]},
        {"deep": {"l": [{"x": float("nan")}]}},
    ],
)
def test_floats_are_refused(values: dict[str, Any]) -> None:
    with pytest.raises(TypeError):
        to_item(values)


def test_to_value_refuses_floats() -> None:
    assert to_value(Decimal("0.10")) == {"N": "0.10"}
    assert to_value("x") == {"S": "x"}
    with pytest.raises(TypeError):
        to_value(0.1)


money = st.decimals(
    min_value=Decimal("-1000000000"),
    max_value=Decimal("1000000000"),
    allow_nan=False,
    allow_infinity=False,
    places=2,
)
money_any_places = st.integers(0, 2).flatmap(
    lambda places: st.decimals(
        min_value=Decimal("-99999999999"),
        max_value=Decimal("99999999999"),
        allow_nan=False,
        allow_infinity=False,
        places=places,
    )
)


@settings(max_examples=200, deadline=None)
@given(amount=money_any_places)
def test_money_round_trips_exactly(amount: Decimal) -> None:
    back = from_item(to_item({"amount": amount, "nested": {"lines": [amount]}}))
    assert back["amount"] == amount
    assert back["nested"]["lines"] == [amount]
    assert isinstance(back["amount"], Decimal)


@settings(max_examples=100, deadline=None)
@given(amounts=st.lists(money, max_size=20))
def test_sums_of_round_tripped_money_are_exact(amounts: list[Decimal]) -> None:
    back = from_item(to_item({"amounts": amounts}))["amounts"]
    assert sum(back, Decimal(0)) == sum(amounts, Decimal(0))


json_like = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(10**20), 10**20),
        money,
        st.text(max_size=10),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4),  # None stays in lists (NULL)
        st.dictionaries(st.text(min_size=1, max_size=5), children, max_size=4),
    ),
    max_leaves=12,
)


def without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_none(v) for v in value]
    return value


@settings(max_examples=150, deadline=None)
@given(values=st.dictionaries(st.text(min_size=1, max_size=5), json_like, max_size=5))
def test_any_document_round_trips_without_its_nones(values: dict[str, Any]) -> None:
    assert from_item(to_item(values)) == without_none(values)


# ---- update_operation ----------------------------------------------------------------------


def test_update_operation_set_add_and_condition(table: Table) -> None:
    operation = table.update_operation(
        "RUN#r1",
        "RUN",
        set_values={"status": "succeeded", "updated_at": "2026-05-01T00:00:00Z"},
        add_values={"attempts": 1, "total": Decimal("10.50")},
        condition="attribute_exists(pk) AND #status = :running",
        condition_values={":running": "running"},
    )
    assert operation == {
        "Update": {
            "TableName": "monosub-test-records",
            "Key": {"pk": {"S": "RUN#r1"}, "sk": {"S": "RUN"}},
            "UpdateExpression": "SET #s0 = :s0, #s1 = :s1 ADD #a0 :a0, #a1 :a1",
            "ExpressionAttributeNames": {
                "#s0": "status",
                "#s1": "updated_at",
                "#a0": "attempts",
                "#a1": "total",
                "#status": "status",
            },
            "ExpressionAttributeValues": {
                ":s0": {"S": "succeeded"},
                ":s1": {"S": "2026-05-01T00:00:00Z"},
                ":a0": {"N": "1"},
                ":a1": {"N": "10.50"},
                ":running": {"S": "running"},
            },
            "ConditionExpression": "attribute_exists(pk) AND #status = :running",
        }
    }


def test_update_operation_set_only_without_condition(table: Table) -> None:
    update = table.update_operation("P", "S", set_values={"a": {"b": [1]}})["Update"]
    assert update["UpdateExpression"] == "SET #s0 = :s0"
    assert update["ExpressionAttributeNames"] == {"#s0": "a"}
    assert update["ExpressionAttributeValues"] == {":s0": {"M": {"b": {"L": [{"N": "1"}]}}}}
    assert "ConditionExpression" not in update


def test_update_operation_add_only(table: Table) -> None:
    update = table.update_operation("P", "S", set_values={}, add_values={"n": -2})["Update"]
    assert update["UpdateExpression"] == "ADD #a0 :a0"
    assert update["ExpressionAttributeNames"] == {"#a0": "n"}
    assert update["ExpressionAttributeValues"] == {":a0": {"N": "-2"}}


def test_update_operation_condition_names_inside_functions(table: Table) -> None:
    update = table.update_operation(
        "P",
        "S",
        set_values={"x": "y"},
        condition="attribute_not_exists(#lock) OR (#version < :v AND size(#items) > :n)",
        condition_values={":v": 3, ":n": 0},
    )["Update"]
    names = update["ExpressionAttributeNames"]
    assert names == {"#s0": "x", "#lock": "lock", "#version": "version", "#items": "items"}
    assert update["ExpressionAttributeValues"][":v"] == {"N": "3"}


def test_update_operation_refuses_float_values(table: Table) -> None:
    with pytest.raises(TypeError):
        table.update_operation("P", "S", set_values={"price": 1.5})


@pytest.mark.parametrize(
    ("condition", "placeholder"),
    [
        ("#status=:running", "#status"),
        ("#counts.#rows > :running", "#rows"),
        ("#items[0] = :running", "#items"),
    ],
)
def test_condition_without_spaces(table: Table, condition: str, placeholder: str) -> None:
    update = table.update_operation(
        "P",
        "S",
        set_values={"x": "y"},
        condition=condition,
        condition_values={":running": "running"},
    )["Update"]
    assert placeholder in update["ExpressionAttributeNames"]
    assert all(re.fullmatch(r"#\w+", name) for name in update["ExpressionAttributeNames"]), update[
        "ExpressionAttributeNames"
    ]


attribute = st.from_regex(r"[a-z][a-z_]{0,8}", fullmatch=True)


@settings(max_examples=100, deadline=None)
@given(
    set_values=st.dictionaries(attribute, st.one_of(st.text(max_size=5), money), max_size=5),
    add_values=st.dictionaries(attribute, st.integers(-5, 5), max_size=3),
    with_condition=st.booleans(),
)
def test_every_placeholder_is_defined_and_used(
    set_values: dict[str, Any], add_values: dict[str, int], with_condition: bool
) -> None:
    if not set_values and not add_values:
        return
    with config.function_environment(TABLE_ENV):
        update = Table("records").update_operation(
            "P",
            "S",
            set_values=set_values,
            add_values=add_values,
            condition="#status = :expected" if with_condition else None,
            condition_values={":expected": "running"} if with_condition else None,
        )["Update"]
    text = update["UpdateExpression"] + " " + update.get("ConditionExpression", "")
    used_names = set(re.findall(r"#\w+", text))
    used_values = set(re.findall(r":\w+", text))
    assert used_names == set(update["ExpressionAttributeNames"])
    assert used_values == set(update.get("ExpressionAttributeValues", {}))
    assigned = dict(re.findall(r"(#s\d+) = (:s\d+)", update["UpdateExpression"]))
    names, values = update["ExpressionAttributeNames"], update["ExpressionAttributeValues"]
    assert {names[n]: from_item({"v": values[v]})["v"] for n, v in assigned.items()} == set_values
    added = dict(re.findall(r"(#a\d+) (:a\d+)", update["UpdateExpression"]))
    assert {names[n]: from_item({"v": values[v]})["v"] for n, v in added.items()} == add_values
    assert update["UpdateExpression"].startswith("SET " if set_values else "ADD ")
