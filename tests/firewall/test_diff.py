"""The pure diff: dependency order, ownership fencing, drift vs change, rule moves."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings

from firewall import diff, elements, order, snapshot
from firewall import view as views
from firewall.config import DriftMode, SyncConfig
from firewall.diff import OpType
from firewall.elements import Kind
from firewall.model import AddressObject, Anchor, DesiredFirewall, Position, SecurityRule, Tag
from tests.firewall.strategies import OWNERSHIP, desired_states

CFG = SyncConfig(ownership_tag=OWNERSHIP)
T = (OWNERSHIP,)
Containers = dict[Kind, ET.Element]


def containers(*objs: object, foreign: tuple[object, ...] = ()) -> Containers:
    out: Containers = {k: ET.Element("c") for k in snapshot.READ_KINDS}
    for obj in (*objs, *foreign):
        out[elements.kind_of(obj)].append(elements.to_element(obj))  # type: ignore[arg-type]
    return out


def apply(plan: diff.Plan, boxes: Containers) -> Containers:
    """A memory device: what the plan does to the containers."""
    for op in plan.ops:
        box = boxes[op.kind]
        found = box.find(f"entry[@name='{op.name}']")
        if op.type == OpType.CREATE:
            box.append(elements.to_element(op.new))  # type: ignore[arg-type]
        elif op.type == OpType.UPDATE:
            box[list(box).index(found)] = elements.merged(op.new, found)  # type: ignore[arg-type]
        elif op.type == OpType.DELETE:
            box.remove(found)  # type: ignore[arg-type]
        else:
            names = order.apply([e.get("name", "") for e in box], op.move)  # type: ignore[arg-type]
            by_name = {e.get("name"): e for e in box}
            box[:] = [by_name[n] for n in names]
    return boxes


def plan_of(desired: DesiredFirewall, boxes: Containers, config: SyncConfig = CFG,
            baseline: diff.Baseline | None = None) -> diff.Plan:
    return diff.diff(desired, snapshot.build(boxes, config), config, baseline=baseline)


ADDR = AddressObject("bmlb-10.0.0.1", "10.0.0.1/32", tags=T)
RULE = SecurityRule("bmlb-r1", ("untrust",), ("k8s",), destinations=(ADDR.name,), tags=T)
STATE = DesiredFirewall(OWNERSHIP, tags=(Tag(OWNERSHIP),), addresses=(ADDR,), security_rules=(RULE,))


def test_create_in_dependency_order_then_nothing() -> None:
    boxes = containers()
    plan = plan_of(STATE, boxes)
    assert [str(op) for op in plan.ops] == [f"create tag {OWNERSHIP}", "create address bmlb-10.0.0.1",
                                            "create security bmlb-r1"]
    assert plan_of(STATE, apply(plan, boxes)).empty


def test_deletes_run_in_reverse_dependency_order() -> None:
    boxes = containers(Tag(OWNERSHIP), ADDR, RULE)
    plan = plan_of(DesiredFirewall(OWNERSHIP), boxes)
    assert [str(op) for op in plan.ops] == ["delete security bmlb-r1", "delete address bmlb-10.0.0.1"]


def test_foreign_objects_are_never_touched() -> None:
    foreign_addr = AddressObject("corp-db", "10.1.0.1/32")
    foreign_rule = SecurityRule("corp-allow", ("trust",), ("dmz",))
    clash = AddressObject(ADDR.name, "10.9.9.9/32")  # same name, no ownership tag
    boxes = containers(Tag(OWNERSHIP), foreign=(foreign_addr, foreign_rule, clash))
    plan = plan_of(STATE, boxes)
    assert all(op.name not in ("corp-db", "corp-allow", ADDR.name, RULE.name) for op in plan.ops)
    assert {(s.kind, s.name) for s in plan.skipped} == {(Kind.ADDRESS, ADDR.name), (Kind.SECURITY, RULE.name)}


def test_attribute_level_changes_are_listed() -> None:
    boxes = containers(Tag(OWNERSHIP), ADDR, RULE)
    changed = dataclasses.replace(STATE, security_rules=(dataclasses.replace(RULE, log_start=True),))
    [op] = plan_of(changed, boxes).ops
    assert op.type == OpType.UPDATE and op.changes == (diff.Change("log_start", "False", "True"),)


@pytest.mark.parametrize("mode", list(DriftMode))
def test_drift_is_told_from_change_by_the_baseline(mode: DriftMode) -> None:
    config = dataclasses.replace(CFG, drift=mode)
    boxes = containers()
    first = plan_of(STATE, boxes, config)
    apply(first, boxes)
    rule = boxes[Kind.SECURITY][0]
    rule.find("action").text = "deny"  # type: ignore[union-attr]  # another admin edits our rule
    drifted = plan_of(STATE, boxes, config, baseline=first.baseline)
    assert [(d.name, d.field, d.actual, d.desired) for d in drifted.drift] == [(RULE.name, "action", "deny",
                                                                                  "allow")]
    if mode == DriftMode.ENFORCE:
        assert [op.drift for op in drifted.ops] == [True]
        assert plan_of(STATE, apply(drifted, boxes), config, baseline=drifted.baseline).empty
    else:
        assert drifted.empty and not drifted.drift[0].restored
    # a desired change on a drifted object is a change, applied in either mode
    changed = dataclasses.replace(STATE, security_rules=(dataclasses.replace(RULE, description="v2"),))
    [op] = plan_of(changed, boxes, config, baseline=first.baseline).ops
    assert op.type == OpType.UPDATE and not op.drift


def test_rules_are_placed_at_the_anchor() -> None:
    config = dataclasses.replace(CFG, anchor=Anchor(Position.BEFORE, "deny-all"))
    boxes = containers(foreign=(SecurityRule("deny-all", ("any",), ("any",)),))
    plan = plan_of(STATE, boxes, config)
    assert plan.ops[-1].move == order.Move(RULE.name, "before", "deny-all")
    after = apply(plan, boxes)
    assert [e.get("name") for e in after[Kind.SECURITY]] == [RULE.name, "deny-all"]
    assert plan_of(STATE, after, config).empty
    with pytest.raises(order.AnchorMissing):
        plan_of(STATE, containers(), config)


@settings(max_examples=60, deadline=None)
@given(desired_states(), desired_states())
def test_any_state_converges_from_any_other(a: DesiredFirewall, b: DesiredFirewall) -> None:
    foreign = (SecurityRule("corp-1", ("trust",), ("dmz",)), AddressObject("corp-a", "10.2.0.1/32"))
    boxes = apply(plan_of(a, containers(foreign=foreign)), containers(foreign=foreign))
    assert plan_of(a, boxes).empty
    plan = plan_of(b, boxes)
    after = apply(plan, boxes)
    assert plan_of(b, after).empty
    assert plan_of(b, after, baseline=plan.baseline).empty
    assert after[Kind.ADDRESS].find("entry[@name='corp-a']") is not None
    assert after[Kind.SECURITY].find("entry[@name='corp-1']") is not None


@given(desired_states(), desired_states())
@settings(max_examples=60)
def test_a_plan_keyed_by_the_callers_mapping_is_the_same_plan(desired: DesiredFirewall,
                                                              before: DesiredFirewall) -> None:
    """A sync hands the diff its desired objects by key (firewall/view.py by_key) so that the plan
    and its baseline use those key tuples: the same operations, drift and baseline as a plan that
    makes its own, and the baseline's keys are the caller's very tuples."""
    boxes = apply(plan_of(before, containers()), containers())
    snap = snapshot.build(boxes, CFG)
    keyed = views.by_key(desired, CFG)
    own = diff.diff(desired, snap, CFG)
    theirs = diff.diff(desired, snap, CFG, keyed=keyed)
    assert theirs.ops == own.ops and theirs.drift == own.drift and theirs.skipped == own.skipped
    assert theirs.baseline == own.baseline
    mine = {id(k) for k in keyed}
    assert all(id(k) in mine for k in theirs.baseline if k[1] != diff.ORDER)
