"""The finalizer's owners remembered between reconciles (controller/runtime/finalizers.py, Owners):
whatever the index's bodies do, what it finds to add is what `to_add` finds from scratch."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from controller.core.compiler import FirewallTarget, Report
from controller.core.problems import ObjectRef
from controller.runtime import finalizers
from controller.runtime.finalizers import FINALIZER, Owners
from firewall.model import AddressObject, DesiredFirewall, Owner

REFS = [ObjectRef(k, "ns", n) for k in ("Service", "NATRule", "VIPPool") for n in ("a", "b")]


def body(final: bool, deleting: bool, version: int) -> dict[str, Any]:
    meta: dict[str, Any] = {"resourceVersion": str(version), "finalizers": ["other"] + ([FINALIZER] if final else [])}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta}


# A step: which object's body the index replaces (with or without the finalizer, being deleted or
# not, or gone), and which objects own something in this reconcile.
step = st.tuples(st.sampled_from(REFS), st.sampled_from(["held", "lacking", "deleting", "gone"]),
                 st.sets(st.sampled_from(REFS)))


@settings(max_examples=300, deadline=None)
@given(st.lists(step, max_size=25))
def test_remembered_owners_find_what_a_scratch_look_finds(steps: list[tuple[ObjectRef, str, set[ObjectRef]]]) -> None:
    index: dict[ObjectRef, dict[str, Any]] = {ref: body(True, False, 1) for ref in REFS}
    owners = Owners()
    for version, (ref, what, owning) in enumerate(steps, start=2):
        if what == "gone":
            index.pop(ref, None)
        else:
            index[ref] = body(what == "held", what == "deleting", version)
        assert owners.to_add(owning, index.get) == finalizers.to_add(owning, index.get)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(step, st.booleans()), max_size=25))
def test_owners_told_what_changed_find_what_a_scratch_look_finds(
        steps: list[tuple[tuple[ObjectRef, str, set[ObjectRef]], bool]]) -> None:
    """Told which bodies were replaced since the last call (the index's journal), or that it is not
    known (None), an Owners asks only those and the owners it did not find settled."""
    index: dict[ObjectRef, dict[str, Any]] = {ref: body(True, False, 1) for ref in REFS}
    owners, asked = Owners(), []
    changed: set[ObjectRef] | None = None
    for version, ((ref, what, owning), journal_lost) in enumerate(steps, start=2):
        if what == "gone":
            index.pop(ref, None)
        else:
            index[ref] = body(what == "held", what == "deleting", version)
        changed = None if changed is None or journal_lost else changed | {ref}
        got = owners.to_add(owning, lambda r: asked.append(r) or index.get(r), changed=changed)
        assert got == finalizers.to_add(owning, index.get)
        changed = set()


def test_owners_told_nothing_changed_ask_only_the_unsettled() -> None:
    index = {ref: body(ref != REFS[1], False, 1) for ref in REFS}
    owners, asked = Owners(), []
    owning = {REFS[0], REFS[1], REFS[2]}
    assert [c.ref for c in owners.to_add(owning, index.get, changed=None)] == [REFS[1]]
    look = owners.to_add(owning, lambda r: asked.append(r) or index.get(r), changed=set())
    assert [c.ref for c in look] == [REFS[1]]  # its write has not landed yet: asked again
    assert set(asked) == {REFS[1]}


def test_an_object_that_loses_the_finalizer_is_found_again() -> None:
    ref = REFS[0]
    index = {ref: body(True, False, 1)}
    owners = Owners()
    assert owners.to_add({ref}, index.get) == []
    index[ref] = body(False, False, 2)  # a new body: the same ref, the finalizer gone
    assert [c.ref for c in owners.to_add({ref}, index.get)] == [ref]


def _target(spec: object, *owners: Owner | None) -> FirewallTarget:
    addresses = tuple(AddressObject(f"a{i}", "10.0.0.1/32", owner=o) for i, o in enumerate(owners))
    return FirewallTarget("edge", spec, DesiredFirewall("bmlb", addresses=addresses))  # type: ignore[arg-type]


def test_owners_are_the_rules_and_address_owners_of_real_firewalls_only() -> None:
    svc, other = Owner("Service", "ns", "a", "u1", 1), Owner("Service", "ns", "b", "u2", 1)
    reports = (Report(REFS[2], firewall_objects=("rule",)), Report(REFS[3]))
    owners = Owners()
    assert owners.of([_target(None, svc)], reports) == set()
    real = _target(object(), svc, None)
    assert owners.of([real], reports) == {REFS[2], REFS[0]}
    assert owners.of([real], reports) == {REFS[2], REFS[0]}  # the remembered ref
    assert owners.of([_target(object(), other)], ()) == {REFS[1]}  # a new owner object: a new ref
