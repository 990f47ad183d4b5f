"""The compiled acceptance check (controller/schemacheck.py) never accepts what jsonschema
refuses, accepts the valid objects of an estate (else it would save nothing), and
schema.validate says exactly what it said without it."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.core import schema
from controller.core.manifests import DuplicateKeyError, StrictLoader
from controller.core.schemacheck import Unsupported, compile_check

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _examples() -> list[dict[str, Any]]:
    out = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        out += [d for d in yaml.safe_load_all(path.read_text()) if d and schema.crd_for(d) is not None]
    return out


VALID = _examples()
KINDS = sorted({b["kind"] for b in VALID})

scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 70000), st.floats(allow_nan=False, width=32),
                    st.sampled_from(["", "x", "k8s", "untrust", "Public", "Service", "10.0.0.1", "10.0.0.0/8",
                                     "top", "bottom", "tcp", "k8s\n", "a" * 70, "ssl", "any"]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["name", "zones", "port", "x", "pool"]), inner,
                                                 max_size=3)), max_leaves=5)


def _paths(node: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [at]
    if isinstance(node, dict):
        for k, v in node.items():
            if at or k not in ("apiVersion", "kind"):
                out += _paths(v, (*at, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*at, i))
    return out


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    body = copy.deepcopy(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(0, 3))):
        paths = _paths(body)[1:]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = body
        for p in path[:-1]:
            parent = parent[p]
        how = draw(st.sampled_from(["replace", "delete", "add"]))
        if how == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif how == "add" and isinstance(parent[path[-1]], dict):
            parent[path[-1]][draw(st.sampled_from(["x", "name", "zones", "port"]))] = draw(values)
        else:
            parent[path[-1]] = draw(values)
    return body


def _jsonschema_errors(body: dict[str, Any]) -> list[str]:
    """The library's own verdict on the CRD's schema (the reference the check must not contradict)."""
    crd = schema.crd_for(body)
    assert crd is not None
    validator = jsonschema.Draft7Validator(schema._to_jsonschema(crd.schema, top=True))
    return [e.message for e in validator.iter_errors(body)]


def _accepts(body: dict[str, Any]) -> bool:
    crd = schema.crd_for(body)
    assert crd is not None
    check = schema._accepts(f"{crd.group}/{crd.version}/{crd.kind}")
    assert check is not None, f"{crd.kind}: the CRD's schema uses a keyword the check lacks"
    return check(body)


def test_examples_cover_the_kinds_and_are_accepted() -> None:
    assert {"VIPPool", "NATRule", "SecurityPolicy", "Firewall"} <= set(KINDS)
    for body in VALID:
        assert not _jsonschema_errors(body)
        assert _accepts(body), body


@settings(max_examples=400, deadline=None)
@given(mutated())
def test_never_accepts_what_jsonschema_refuses(body: dict[str, Any]) -> None:
    if _accepts(body):
        assert _jsonschema_errors(body) == [], body


@contextlib.contextmanager
def _without_check() -> Iterator[None]:
    saved = schema._accepts
    schema._accepts = lambda key: None  # type: ignore[assignment]
    try:
        yield
    finally:
        schema._accepts = saved  # type: ignore[assignment]


@settings(max_examples=200, deadline=None)
@given(mutated())
def test_validate_says_what_it_said_without_the_check(body: dict[str, Any]) -> None:
    fast = schema.validate(body)
    with _without_check():
        slow = schema.validate(body)
    assert fast == slow


@pytest.mark.parametrize(("node", "value", "accepted"), [
    ({"enum": [1]}, True, False),  # jsonschema's enum does not take True for 1
    ({"enum": [True]}, 1, False),
    ({"type": "integer"}, True, False),
    ({"type": "integer", "minimum": 1}, 0, False),
    ({"type": "number", "maximum": 2}, 2.5, False),
    ({"type": "string", "pattern": r"^a\Z"}, "a\n", False),
    ({"type": "string", "maxLength": 2}, "abc", False),
    ({"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False}, {"b": 1}, False),
    ({"type": "object", "required": ["a"]}, {}, False),
    ({"type": "array", "items": {"type": "string"}, "maxItems": 1}, ["a", "b"], False),
    ({"anyOf": [{"type": "integer"}, {"type": "string"}]}, 1.5, False),
    ({"anyOf": [{"type": "integer"}, {"type": "string"}]}, "80", True),
    ({"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False}, {"a": "x"}, True),
    ({"type": "string", "minLength": 2, "maxLength": 3, "pattern": "^a"}, "ab", True),
    ({"type": "string", "minLength": 2}, "a", False),
    ({"type": "string", "pattern": "^a"}, "ba", False),
    ({"type": "string", "enum": ["a", "b"]}, "c", False),
    ({"type": "string"}, 1, False),
    ({"type": "object", "additionalProperties": {"type": "integer"}}, {"a": 1, "b": "2"}, False),
    ({"type": "object", "additionalProperties": {"type": "integer"}}, {"a": 1}, True),
    ({"type": "object", "properties": {"a": {"type": "integer"}}}, {"a": 1, "b": "x"}, True),
    ({"type": "object", "required": ["a"], "properties": {"a": {"type": "integer"}}}, [], False),
    ({"type": ["string", "null"]}, None, True),
    ({"type": "array", "items": {"type": "integer"}}, [1, "2"], False),
    ({"properties": {"a": {"type": "integer"}}, "required": ["a"]}, "not an object", True),
])
def test_keywords(node: dict[str, Any], value: Any, accepted: bool) -> None:
    assert compile_check(node)(value) is accepted
    if accepted:
        assert not list(jsonschema.Draft7Validator(node).iter_errors(value))


def test_an_unknown_keyword_falls_back() -> None:
    with pytest.raises(Unsupported):
        compile_check({"type": "object", "properties": {"a": {"oneOf": [{"type": "string"}]}}})


@pytest.mark.parametrize("text", ["a: 1\na: 2\n", "a: 1\n'a': 2\n", "a: 1\n!!str a: 2\n", "b:\n  c: 1\n  \"c\": 2\n"])
def test_duplicate_keys_are_still_refused(text: str) -> None:
    with pytest.raises(DuplicateKeyError):
        yaml.load(text, Loader=StrictLoader)


def test_an_int_key_and_its_string_are_two_keys() -> None:
    assert yaml.load("1: a\n'1': b\n", Loader=StrictLoader) == {1: "a", "1": "b"}
