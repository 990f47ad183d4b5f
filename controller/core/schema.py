"""Offline validation against the CRDs in crds/: structural schema, defaults and CEL rules.

The same checks the API server makes on create, made without one, so CI can refuse a bad
manifest before it reaches a cluster.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import jsonschema
import yaml

from controller.core import schemacel
from controller.core.resources import crd_texts
from controller.core.schemacheck import Check, Unsupported, compile_check

_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True, slots=True)
class SchemaError:
    path: str
    message: str


@dataclass(frozen=True)
class CRD:
    kind: str
    group: str
    version: str
    namespaced: bool
    schema: dict[str, Any]


@cache
def crds() -> dict[str, CRD]:
    out = {}
    for text in crd_texts().values():
        body = yaml.load(text, Loader=_YAML_LOADER)
        spec = body["spec"]
        for v in spec["versions"]:
            out[f"{spec['group']}/{v['name']}/{spec['names']['kind']}"] = CRD(
                kind=spec["names"]["kind"], group=spec["group"], version=v["name"],
                namespaced=spec["scope"] == "Namespaced", schema=v["schema"]["openAPIV3Schema"])
    return out


def crd_for(body: dict[str, Any]) -> CRD | None:
    return crds().get(f"{body.get('apiVersion')}/{body.get('kind')}")


def full_match(pattern: str) -> str:
    """The API server's RE2 `$` matches only at the end of the text; Python's also before a final
    newline, so "zone\n" would pass offline and fail in the cluster (or reach a device)."""
    return pattern[:-1] + r"\Z" if pattern.endswith("$") and not pattern.endswith(r"\$") else pattern


def _to_jsonschema(node: dict[str, Any], *, top: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in node.items():
        if k.startswith("x-kubernetes-") or k in ("description", "default", "format"):
            continue
        if k == "properties":
            out[k] = {name: _to_jsonschema(sub) for name, sub in v.items()}
        elif k == "items":
            out[k] = _to_jsonschema(v)
        elif k == "additionalProperties" and isinstance(v, dict):
            out[k] = _to_jsonschema(v)
        elif k == "pattern":
            out[k] = full_match(v)
        else:
            out[k] = v
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("type") == "object" and "properties" in node and "additionalProperties" not in node:
        if not node.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
    if top:
        out.setdefault("properties", {})["metadata"] = {"type": "object"}
    return out


@cache
def _validator(key: str) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(_to_jsonschema(crds()[key].schema, top=True))


@cache
def _accepts(key: str) -> Check | None:
    """The compiled acceptance check of a kind's schema (None: it uses a keyword the check lacks)."""
    try:
        return compile_check(_to_jsonschema(crds()[key].schema, top=True))
    except Unsupported:
        return None


def apply_defaults(schema: dict[str, Any], value: Any) -> Any:
    """A copy of `value` with the schema's defaults filled in, as the API server does."""
    if isinstance(value, dict) and schema.get("type") == "object":
        out = dict(value)
        for name, sub in (schema.get("properties") or {}).items():
            if name not in out and "default" in sub:
                out[name] = copy.deepcopy(sub["default"])
            if name in out:
                out[name] = apply_defaults(sub, out[name])
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [apply_defaults(schema["items"], v) for v in value]
    return value


def _path(parts: Iterator[Any] | list[Any]) -> str:
    s = ""
    for p in parts:
        s += f"[{p}]" if isinstance(p, int) else (f".{p}" if s else str(p))
    return s or "(root)"


def _message(err: jsonschema.ValidationError) -> str:
    v = err.validator
    if v == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        return f"unknown field {', '.join(map(repr, extra))}"
    if v == "required":
        return f"{err.message.split(' is a required')[0]} is required"
    if v == "enum":
        return f"unsupported value {err.instance!r}: must be one of {', '.join(map(repr, err.validator_value))}"
    if v == "pattern":
        shown = str(err.validator_value).removesuffix(r"\Z") + ("$" if str(err.validator_value).endswith(r"\Z") else "")
        return f"invalid value {err.instance!r}: must match {shown}"
    if v in ("maximum", "minimum"):
        word = "less" if v == "maximum" else "greater"
        return f"{err.instance} must be {word} than or equal to {err.validator_value}"
    if v in ("maxLength", "maxItems"):
        return f"too long: at most {err.validator_value} {'characters' if v == 'maxLength' else 'items'}"
    if v in ("minLength", "minItems"):
        return f"too short: at least {err.validator_value} {'characters' if v == 'minLength' else 'items'}"
    if v == "type":
        return f"must be of type {err.validator_value}, not {type(err.instance).__name__}"
    return err.message


@dataclass(frozen=True, slots=True)
class _Plan:
    """The nodes of a schema the CEL pass must visit: those with rules or `x-kubernetes-list-type:
    map` at or below them. An object's other fields hold nothing to evaluate, so they are neither
    walked nor given their defaults (defaults are applied only where a rule reads them)."""

    schema: dict[str, Any]
    rules: tuple[dict[str, Any], ...]
    props: tuple[tuple[str, _Plan], ...]  # the properties that lead to a rule, in schema order
    items: _Plan | None  # the list items, when they lead to a rule
    list_map: bool


def _plan(schema: dict[str, Any]) -> _Plan | None:
    """The plan of one schema node; None when nothing at or below it is checked."""
    props = tuple((name, p) for name, sub in (schema.get("properties") or {}).items()
                  if (p := _plan(sub)) is not None)
    items = _plan(schema["items"]) if isinstance(schema.get("items"), dict) else None
    rules = tuple(schema.get("x-kubernetes-validations") or ())
    list_map = schema.get("x-kubernetes-list-type") == "map" and bool(schema.get("x-kubernetes-list-map-keys"))
    if not (props or items or rules or list_map):
        return None
    return _Plan(schema, rules, props, items, list_map)


@cache
def _plan_of(key: str) -> _Plan | None:
    return _plan(crds()[key].schema)


def _cel(plan: _Plan | None, value: Any, path: list[Any]) -> list[SchemaError]:
    """Every CEL (and list-map key) error of `value` (as written, before defaults) under `plan`:
    what walking the whole defaulted object reports, walking only the nodes that hold rules."""
    if plan is None:
        return []
    errors: list[SchemaError] = []
    for rule in plan.rules:
        ok, failure = schemacel.evaluate(rule["rule"], apply_defaults(plan.schema, value))
        if failure is not None:
            rule = {**rule, "message": f"{rule.get('message', rule['rule'])} ({failure})"}
        if not ok:
            where = _path(path) + (rule.get("fieldPath") or "")
            errors.append(SchemaError(where, rule.get("message") or f"failed rule: {rule['rule']}"))
    if isinstance(value, dict):
        defaults = plan.schema.get("type") == "object"  # apply_defaults fills in only objects' fields
        for name, sub in plan.props:
            if name in value:
                errors += _cel(sub, value[name], [*path, name])
            elif defaults and "default" in sub.schema:
                errors += _cel(sub, copy.deepcopy(sub.schema["default"]), [*path, name])
    elif isinstance(value, list) and isinstance(plan.schema.get("items"), dict):
        if plan.list_map:
            errors += _list_map_keys(plan.schema, apply_defaults(plan.schema, value), path)
        if plan.items is not None:
            for i, item in enumerate(value):
                errors += _cel(plan.items, item, [*path, i])
    return errors


def _list_map_keys(schema: dict[str, Any], value: list[Any], path: list[Any]) -> list[SchemaError]:
    """`x-kubernetes-list-type: map` lists hold each key once, as the API server enforces."""
    keys = schema.get("x-kubernetes-list-map-keys") or []
    if schema.get("x-kubernetes-list-type") != "map" or not keys:
        return []
    seen: set[tuple[Any, ...]] = set()
    errors = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            continue
        key = tuple(item.get(k) for k in keys)
        if key in seen:
            shown = ", ".join(f"{k}={v!r}" for k, v in zip(keys, key, strict=True))
            errors.append(SchemaError(_path([*path, i]), f"duplicate entry with {shown}"))
        seen.add(key)
    return errors


def validate(body: dict[str, Any]) -> list[SchemaError]:
    """Every schema and CEL error of one bmlb.io object (an empty list when valid); metadata is
    checked by controller/core/identity.py."""
    crd = crd_for(body)
    if crd is None:
        return [SchemaError("apiVersion", f"unknown kind {body.get('kind')!r} in {body.get('apiVersion')!r}")]
    errors: list[SchemaError] = []
    key = f"{crd.group}/{crd.version}/{crd.kind}"
    accepts = _accepts(key)
    if accepts is not None and accepts(body):
        return _cel(_plan_of(key), body, [])
    for err in sorted(_validator(key).iter_errors(body), key=lambda e: list(e.absolute_path)):
        errors.append(SchemaError(_path(list(err.absolute_path)), _message(err)))
    if errors:
        return errors
    return _cel(_plan_of(key), body, [])
