"""The CEL rules of the CRDs (`x-kubernetes-validations`), evaluated as the API server does, with
the Kubernetes CEL library functions they use, and a cache of verdicts (controller/core/schema.py
decides where each rule runs)."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable
from functools import cache
from typing import Any

import celpy
from celpy import celtypes

_env = celpy.Environment()


def _parses(kind: Callable[[str], object]) -> Callable[[Any], celtypes.BoolType]:
    def check(value: Any) -> celtypes.BoolType:
        text = str(value)
        if "%" in text:  # zones are refused by the Kubernetes CEL library too
            return celtypes.BoolType(False)
        try:
            kind(text)
        except ValueError:
            return celtypes.BoolType(False)
        return celtypes.BoolType(True)
    return check


# The Kubernetes CEL library functions the CRDs use (k8s.io/apiserver/pkg/cel/library: ip, cidr).
CEL_FUNCTIONS = {"isIP": _parses(ipaddress.ip_address),
                 "isCIDR": _parses(lambda t: ipaddress.ip_network(t, strict=False) if "/" in t else int(""))}


@cache
def _program(rule: str) -> Any:
    return _env.program(_env.compile(rule), functions=CEL_FUNCTIONS)


# (rule, JSON of what the rule reads of self) -> (passed, error text): a rule is a pure
# function of the fields of `self` it names (of their presence alone for has(self.f)), and an
# estate repeats the same few of those thousands of times, so most evaluations are look-ups.
VERDICTS: dict[tuple[str, str], tuple[bool, str | None]] = {}
cache_verdicts = True  # bench/offline.py turns it off to measure what it saves


_SELF = re.compile(r"\bself\b(?:\.([A-Za-z_]\w*))?")


@cache
def _reads(rule: str) -> dict[str, bool] | None:
    """The fields of `self` a rule reads, each True if only its presence (has(self.f)) counts;
    None if the rule uses `self` as a whole."""
    fields: dict[str, bool] = {}
    for m in _SELF.finditer(rule):
        if m.group(1) is None:
            return None
        fields[m.group(1)] = True
    for name in fields:
        fields[name] = rule.count(f"has(self.{name})") == len(re.findall(rf"\bself\.{name}\b", rule))
    return fields


def _projection(rule: str, value: Any) -> Any:
    """What the verdict of `rule` on `value` depends on (its cache key)."""
    fields = _reads(rule)
    if fields is None or not isinstance(value, dict):
        return value
    return {f: (f in value) if presence else value.get(f, _ABSENT) for f, presence in fields.items()}


_ABSENT = {"\0absent": True}  # not a value YAML or JSON gives a field


def evaluate(rule: str, value: Any) -> tuple[bool, str | None]:
    """Whether `rule` holds for `self` = value, and the evaluation's error text if it failed to run."""
    try:
        key: tuple[str, str] | None = (rule, json.dumps(_projection(rule, value), sort_keys=True, allow_nan=False))
    except (TypeError, ValueError):  # not plain JSON (e.g. a YAML timestamp): not cached
        key = None
    if not cache_verdicts:
        key = None
    if key is not None and (hit := VERDICTS.get(key)) is not None:
        return hit
    try:
        verdict: tuple[bool, str | None] = (bool(_program(rule).evaluate({"self": celpy.json_to_cel(value)})), None)
    except Exception as err:
        verdict = (False, str(err))
    if key is not None:
        if len(VERDICTS) >= 1 << 16:
            VERDICTS.clear()
        VERDICTS[key] = verdict
    return verdict
