"""The CEL pass visits only the schema nodes that hold rules (controller/core/schema.py `_plan`)
and applies defaults only where a rule reads them: it reports exactly what walking the whole
defaulted object reported, in the same order."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from controller.core import schema, schemacel
from tests.controller.test_schemacheck import VALID, _paths, mutated

# The fields the CRDs' rules read (and their list-map keys), and values that pass or fail them.
RULE_FIELDS = ["type", "deviceGroup", "position", "rule", "address", "pool", "names", "selector", "matchLabels",
               "port", "name", "purpose", "autoAssign", "addresses"]
RULE_VALUES = st.sampled_from(["panorama", "firewall", "dg", "before", "after", "top", "bottom", "r1", "10.0.0.1",
                               "10.0.0.0/8", "not-an-ip", "fd00::1%eth0", "public", "Service", "Public", 443, True,
                               False, [], ["a"], {}, {"app": "x"}, {"matchLabels": {}}, ["10.0.0.1", "x"]])


@st.composite
def rule_mutated(draw: st.DrawFn) -> dict[str, Any]:
    """A valid example with fields the rules read set, removed, or list items repeated."""
    body = copy.deepcopy(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 4))):
        nodes = [p for p in _paths(body) if p and p[0] == "spec"]
        at: Any = body
        for p in draw(st.sampled_from(nodes)):
            at = at[p]
        if isinstance(at, dict):
            name = draw(st.sampled_from(RULE_FIELDS))
            if draw(st.booleans()):
                at.pop(name, None)
            else:
                at[name] = copy.deepcopy(draw(RULE_VALUES))
        elif isinstance(at, list) and at:
            at.append(copy.deepcopy(at[draw(st.integers(0, len(at) - 1))]))  # a repeated list-map key
    return body


def _walk_all(node: dict[str, Any], value: Any, path: list[Any]) -> list[schema.SchemaError]:
    """The CEL pass as it was: every node of the defaulted object, rules or not."""
    errors: list[schema.SchemaError] = []
    for rule in node.get("x-kubernetes-validations") or []:
        ok, failure = schemacel.evaluate(rule["rule"], value)
        if failure is not None:
            rule = {**rule, "message": f"{rule.get('message', rule['rule'])} ({failure})"}
        if not ok:
            where = schema._path(path) + (rule.get("fieldPath") or "")
            errors.append(schema.SchemaError(where, rule.get("message") or f"failed rule: {rule['rule']}"))
    if isinstance(value, dict):
        for name, sub in (node.get("properties") or {}).items():
            if name in value:
                errors += _walk_all(sub, value[name], [*path, name])
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        errors += schema._list_map_keys(node, value, path)
        for i, item in enumerate(value):
            errors += _walk_all(node["items"], item, [*path, i])
    return errors


def _both(body: dict[str, Any]) -> tuple[list[schema.SchemaError], list[schema.SchemaError]]:
    """schema.validate's errors, and the errors it gives with the full walk in place of the plan."""
    before = copy.deepcopy(body)
    planned = schema.validate(body)
    assert body == before, "validate changed the object"
    saved = schema._cel

    def full(plan: schema._Plan | None, value: Any, path: list[Any]) -> list[schema.SchemaError]:
        return [] if plan is None else _walk_all(plan.schema, schema.apply_defaults(plan.schema, value), path)

    schema._cel = full  # type: ignore[assignment]
    try:
        return planned, schema.validate(body)
    finally:
        schema._cel = saved  # type: ignore[assignment]


def test_examples() -> None:
    for body in VALID:
        planned, full = _both(body)
        assert planned == full == [], body


@settings(max_examples=500, deadline=None)
@given(mutated())
def test_same_errors_as_the_full_walk(body: dict[str, Any]) -> None:
    planned, full = _both(body)
    assert planned == full, body


@settings(max_examples=500, deadline=None)
@given(rule_mutated())
def test_same_rule_errors_as_the_full_walk(body: dict[str, Any]) -> None:
    planned, full = _both(body)
    assert planned == full, body


def test_a_default_a_rule_reads_is_applied() -> None:
    """Firewall: `deviceGroup` is required when `type` is panorama; `type` defaults to firewall, so a
    Firewall that leaves both out passes (the rule sees the default), one with panorama fails."""
    fw = next(b for b in VALID if b["kind"] == "Firewall")
    body = copy.deepcopy(fw)
    body["spec"].pop("type", None)
    body["spec"].pop("deviceGroup", None)
    assert _both(body)[0] == _both(body)[1]
    body["spec"]["type"] = "panorama"
    planned, full = _both(body)
    assert planned == full and planned, planned


SYNTHETIC: dict[str, Any] = {
    "type": "object",
    "properties": {
        "a": {"type": "object", "default": {"x": 1},
              "properties": {"x": {"type": "integer"}, "y": {"type": "integer", "default": 5}},
              "x-kubernetes-validations": [{"rule": "self.x == 2 && self.y == 5", "message": "a"}]},
        "b": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["k"],
              "items": {"type": "object", "properties": {"k": {"type": "string", "default": "d"}}}},
        "c": {"type": "string", "default": "z"},
    },
}


def test_defaults_of_fields_that_hold_rules() -> None:
    """A field left out is checked as its default (no CRD has such a field yet): a rule under it runs
    on the default, and list-map keys count their defaults."""
    plan = schema._plan(SYNTHETIC)
    for value in ({}, {"a": {"x": 2}}, {"a": {"x": 2, "y": 4}}, {"b": [{}, {"k": "d"}]}, {"b": [{"k": "e"}, {}]},
                  {"c": "q"}):
        full = _walk_all(SYNTHETIC, schema.apply_defaults(SYNTHETIC, value), [])
        assert schema._cel(plan, value, []) == full, value
    assert [e.path for e in schema._cel(plan, {}, [])] == ["a"]
    assert [e.path for e in schema._cel(plan, {"b": [{}, {"k": "d"}]}, [])] == ["a", "b[1]"]
