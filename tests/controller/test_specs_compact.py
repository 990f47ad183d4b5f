"""specs.compact makes a parsed spec lighter and changes nothing a reader sees: equality,
the fields given (exclude_unset dumps), every value."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from controller.core import specs

NAMES = st.sampled_from(["inet", "office", "vpn", "x" * 70])
ZONES = st.lists(st.sampled_from(["untrust", "trust", "dmz"]), min_size=1, max_size=3)


@st.composite
def policies(draw: st.DrawFn) -> dict[str, Any]:
    rules = []
    for _ in range(draw(st.integers(1, 3))):
        rule: dict[str, Any] = {"name": draw(NAMES), "from": {"zones": draw(ZONES)}}
        if draw(st.booleans()):
            rule["from"]["addresses"] = ["192.0.2.0/24"]
        if draw(st.booleans()):
            rule["applications"] = ["ssl", "web-browsing"]
        if draw(st.booleans()):
            rule["log"] = {"start": draw(st.booleans())}
        if draw(st.booleans()):
            rule["ports"] = [{"port": draw(st.integers(1, 65535))}]
        rules.append(rule)
    return {"services": {"names": ["web"]}, "rules": rules}


@given(policies())
def test_a_compacted_spec_reads_as_the_parsed_one(raw: dict[str, Any]) -> None:
    plain = specs.SecurityPolicySpec.model_validate(raw)
    lean = specs.compact(specs.SecurityPolicySpec.model_validate(raw))
    assert lean == plain
    assert lean.model_dump(exclude_unset=True) == plain.model_dump(exclude_unset=True)
    assert lean.model_dump(by_alias=True) == plain.model_dump(by_alias=True)


def test_instances_share_one_frozenset_per_combination_of_fields() -> None:
    raw = {"services": {"names": ["web"]}, "rules": [{"name": "a", "from": {"zones": ["untrust"]}},
                                                     {"name": "b", "from": {"zones": ["trust"]}}]}
    one = specs.compact(specs.SecurityPolicySpec.model_validate(raw))
    two = specs.compact(specs.SecurityPolicySpec.model_validate(raw))
    assert one.rules[0].model_fields_set is two.rules[1].model_fields_set
    assert one.rules[0].model_fields_set == {"name", "from_"}
    assert one.rules[0].from_.zones[0] is two.rules[0].from_.zones[0]  # one copy of the text
    copied = one.rules[0].model_copy(update={"disabled": True})  # a copy's fields are its own
    assert copied.model_fields_set == {"name", "from_", "disabled"}
    assert two.rules[0].model_fields_set == {"name", "from_"}
