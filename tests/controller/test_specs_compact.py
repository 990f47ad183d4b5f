"""compact_specs.compact makes a parsed spec lighter and changes nothing the compile reads: every value
by attribute, equality, properties."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from controller.core import specs
from controller.core.compact_specs import compact

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


def same_values(lean: Any, plain: Any) -> bool:
    """`lean` reads as `plain` does: every field of every nested model, by attribute."""
    if isinstance(plain, BaseModel):
        return type(lean).__name__ == type(plain).__name__ and not isinstance(lean, BaseModel) and all(
            same_values(getattr(lean, name), getattr(plain, name)) for name in type(plain).model_fields)
    if isinstance(plain, list):
        return isinstance(lean, tuple) and len(lean) == len(plain) and all(map(same_values, lean, plain))
    return type(lean) is type(plain) and lean == plain


@given(policies(), policies())
def test_a_compacted_spec_reads_as_the_parsed_one(raw: dict[str, Any], other: dict[str, Any]) -> None:
    plain = specs.SecurityPolicySpec.model_validate(raw)
    lean = compact(specs.SecurityPolicySpec.model_validate(raw))
    assert same_values(lean, plain)
    assert lean == compact(specs.SecurityPolicySpec.model_validate(raw))
    # equal exactly when the parsed models are
    assert (lean == compact(specs.SecurityPolicySpec.model_validate(other))) == (
        plain == specs.SecurityPolicySpec.model_validate(other))


def test_compacted_objects_are_light_frozen_and_share_their_text() -> None:
    raw = {"services": {"names": ["web"]}, "rules": [{"name": "a", "from": {"zones": ["untrust"]}},
                                                     {"name": "b", "from": {"zones": ["untrust"]}}]}
    one = compact(specs.SecurityPolicySpec.model_validate(raw))
    two = compact(specs.SecurityPolicySpec.model_validate(raw))
    assert one.rules[0].from_.zones[0] is two.rules[1].from_.zones[0]  # one copy of the text
    assert not hasattr(one.rules[0], "__dict__")
    assert one.rules[0] != tuple(one.rules[0]) and one.services.selector is None
    with pytest.raises(AttributeError):
        one.rules[0].name = "c"  # type: ignore[misc]
    assert sys.getsizeof(one.rules[0]) < 120
    empty = one.rules[0].applications
    assert empty == () and one.rules[1].ports is empty and two.rules[0].ports is empty  # one shared empty tuple


def test_a_models_properties_are_kept() -> None:
    gone = compact(specs.Endpoint.model_validate({"addresses": ["10.0.0.1"],
                                                        "conditions": {"terminating": True}}))
    assert gone.ready is False
    assert compact(specs.Endpoint.model_validate({"addresses": ["10.0.0.1"]})).ready is True


def test_equal_textual_parts_are_one_object_and_numbers_never_shared() -> None:
    class Text(BaseModel):
        zones: list[str]
        on: bool = False
        note: str | None = None

    class Numbered(BaseModel):
        port: int | str
        text: Text

    a, b = compact(Text(zones=["untrust"], on=True)), compact(Text(zones=["untrust"], on=True))
    assert a is b and a.zones == ("untrust",) and a.on is True
    assert compact(Text(zones=["untrust"])) is not a  # on=False: another value
    one, true = compact(Numbered(port=1, text=Text(zones=[]))), compact(Numbered(port="1", text=Text(zones=[])))
    assert one is not true and one.port == 1 and true.port == "1"
    assert compact(Numbered(port=1, text=Text(zones=[]))) is not one  # a number inside: never shared
