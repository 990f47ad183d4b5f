"""The CEL verdict cache (controller/core/schemacel.py) never changes a verdict: every CRD rule, on
random objects, judged through the cache (twice, so the second is a hit) equals a direct celpy
evaluation of the rule on the object itself."""

from __future__ import annotations

import re
from typing import Any

import celpy
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.core import schemacel
from controller.core.resources import crd_texts


def _rules(node: Any) -> list[str]:
    out: list[str] = []
    if isinstance(node, dict):
        out += [v["rule"] for v in node.get("x-kubernetes-validations") or []]
        for v in node.values():
            out += _rules(v)
    elif isinstance(node, list):
        for v in node:
            out += _rules(v)
    return out


RULES = sorted({r for text in crd_texts().values() for r in _rules(yaml.safe_load(text))})
FIELDS = ["names", "selector", "type", "deviceGroup", "position", "rule", "purpose", "autoAssign", "address",
          "pool", "matchLabels", "port", "name"]
scalars = st.one_of(st.sampled_from(["panorama", "firewall", "before", "after", "top", "Service", "Public",
                                     "10.0.0.1", "10.0.0.0/8", "fd00::1", "x", ""]),
                    st.booleans(), st.integers(-2, 70000), st.none())
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(st.sampled_from(FIELDS), inner, max_size=3)),
                      max_leaves=6)
objects = st.one_of(scalars, st.dictionaries(st.sampled_from(FIELDS), values, max_size=6))


def direct(rule: str, value: Any) -> bool:
    env = celpy.Environment()
    try:
        return bool(env.program(env.compile(rule), functions=schemacel.CEL_FUNCTIONS).evaluate(
            {"self": celpy.json_to_cel(value)}))
    except Exception:
        return False


def test_every_crd_rule_is_covered() -> None:
    assert len(RULES) >= 8 and any("has(" in r for r in RULES) and "isIP(self)" in RULES


def named(rule: str) -> st.SearchStrategy[Any]:
    """Objects built from the fields the rule names (found here by the test's own regex), so
    that two draws often agree on presence and differ in value, or the reverse."""
    fields = sorted(set(re.findall(r"self\.(\w+)", rule))) or ["x"]
    return st.one_of(scalars, st.dictionaries(st.sampled_from([*fields, "other"]), values, max_size=len(fields) + 1))


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_cached_verdict_is_the_direct_verdict(data: st.DataObject) -> None:
    rule = data.draw(st.sampled_from(RULES))
    draws = [data.draw(named(rule)) for _ in range(3)]
    for value in draws + draws:
        assert schemacel.evaluate(rule, value)[0] == direct(rule, value), (rule, value)
