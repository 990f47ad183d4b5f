"""A compiled acceptance check for the structural schemas bmlb's CRDs use: one closure per schema
node, built once per kind, that answers "valid" or "don't know".

jsonschema walks every keyword of every node through its generic machinery (~0.7 ms per object);
an estate of thousands of objects is almost all valid, so schema.validate asks this check first
and runs jsonschema, which words the errors, only on what it did not accept. It is sound for
acceptance only: it accepts nothing jsonschema (Draft 7) would refuse, and a keyword it does not
know makes the whole schema fall back to jsonschema.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]

_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    # Draft 7 counts 1.0 as an integer too; accepting less than jsonschema is sound.
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
}
_KNOWN = frozenset({"type", "properties", "additionalProperties", "items", "required", "enum", "pattern",
                    "minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems", "anyOf"})


class Unsupported(Exception):
    """The schema uses a keyword (or a form of one) this check does not implement."""


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same JSON type all the way down (jsonschema's enum never takes True for 1)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _every(checks: list[Check]) -> Check:
    """One check passing when all of `checks` do (a loop: no generator per value)."""
    if not checks:
        return lambda v: True
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda v: first(v) and second(v)

    def every(v: Any) -> bool:
        for check in checks:
            if not check(v):
                return False
        return True
    return every


def _object(schema: dict[str, Any]) -> Check:
    """`type: object` with its fields in one check: the node most of a manifest is made of."""
    required = tuple(schema.get("required") or ())
    props = {name: compile_check(sub) for name, sub in (schema.get("properties") or {}).items()}
    extra_check = _extra(schema)

    def check(v: Any) -> bool:
        if not isinstance(v, dict):
            return False
        for name in required:
            if name not in v:
                return False
        for k, item in v.items():
            field = props.get(k, extra_check)
            if field is not None and not field(item):
                return False
        return True
    return check


def _string(schema: dict[str, Any]) -> Check:
    """`type: string` with its pattern and length bounds in one check."""
    regex = re.compile(schema["pattern"]) if "pattern" in schema else None
    low, high = schema.get("minLength"), schema.get("maxLength")

    def check(v: Any) -> bool:
        if not isinstance(v, str):
            return False
        if regex is not None and regex.search(v) is None:
            return False
        if low is not None and len(v) < low:
            return False
        return high is None or len(v) <= high
    return check


def _extra(schema: dict[str, Any]) -> Check | None:
    """The check of fields `properties` does not name (None: any value)."""
    extra = schema.get("additionalProperties", True)
    if extra is True:
        return None
    if extra is False:
        return lambda v: False
    if isinstance(extra, dict):
        return compile_check(extra)
    raise Unsupported(extra)


def _fields(schema: dict[str, Any]) -> Check | None:
    """`properties` and `additionalProperties` of a node whose type is not (only) object."""
    props = {name: compile_check(sub) for name, sub in (schema.get("properties") or {}).items()}
    extra_check = _extra(schema)
    if not props and extra_check is None:
        return None

    def fields(v: Any) -> bool:
        if not isinstance(v, dict):
            return True
        for k, item in v.items():
            field = props.get(k, extra_check)
            if field is not None and not field(item):
                return False
        return True
    return fields


def _items(item_check: Check) -> Check:
    def items(v: Any) -> bool:
        if not isinstance(v, list):
            return True
        for i in v:
            if not item_check(i):
                return False
        return True
    return items


_FUSED: dict[str, tuple[Callable[[dict[str, Any]], Check], frozenset[str]]] = {
    "object": (_object, frozenset({"type", "properties", "additionalProperties", "required"})),
    "string": (_string, frozenset({"type", "pattern", "minLength", "maxLength"})),
}


def compile_check(schema: dict[str, Any]) -> Check:
    """The acceptance check of one jsonschema node; Unsupported for what it does not implement."""
    if not isinstance(schema, dict) or not set(schema) <= _KNOWN:
        raise Unsupported(sorted(set(schema) - _KNOWN) if isinstance(schema, dict) else schema)
    checks: list[Check] = []
    done: frozenset[str] = frozenset()
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not all(isinstance(n, str) and n in _TYPES for n in names):
            raise Unsupported(names)
        if len(names) == 1 and names[0] in _FUSED:
            fuse, done = _FUSED[names[0]]
            checks.append(fuse(schema))
        elif len(names) == 1:
            checks.append(_TYPES[names[0]])
        else:
            tests = [_TYPES[n] for n in names]
            checks.append(lambda v: any(t(v) for t in tests))
    if "enum" in schema:
        allowed = list(schema["enum"])
        checks.append(lambda v: any(_same(v, a) for a in allowed))
    if "pattern" in schema and "pattern" not in done:
        regex = re.compile(schema["pattern"])
        checks.append(lambda v: not isinstance(v, str) or regex.search(v) is not None)
    for key, ok in (("minimum", lambda v, b: v >= b), ("maximum", lambda v, b: v <= b)):
        if key in schema:
            bound = schema[key]
            checks.append(lambda v, bound=bound, ok=ok: not _number(v) or ok(v, bound))
    for key, sized, ok in (("minLength", str, lambda n, b: n >= b), ("maxLength", str, lambda n, b: n <= b),
                           ("minItems", list, lambda n, b: n >= b), ("maxItems", list, lambda n, b: n <= b)):
        if key in schema and key not in done:
            bound = schema[key]
            checks.append(lambda v, bound=bound, sized=sized, ok=ok: not isinstance(v, sized) or ok(len(v), bound))
    if "required" in schema and "required" not in done:
        required = tuple(schema["required"])
        checks.append(lambda v: not isinstance(v, dict) or all(k in v for k in required))
    if "properties" not in done and (fields := _fields(schema)) is not None:
        checks.append(fields)
    if "items" in schema:
        checks.append(_items(compile_check(schema["items"])))
    if "anyOf" in schema:
        options = [compile_check(s) for s in schema["anyOf"]]
        checks.append(lambda v: any(o(v) for o in options))
    return _every(checks)
