"""The status scope (controller/runtime/status_scope.py) changes nothing but the work: over any
sequence of reconciles (statuses written back or not, specs edited, a tenant's status tampered
with, the firewall's outcome moving, objects gone, a reconcile that failed half-way, a journal
lost) each pass over the objects it names gives the updates a pass over every object computes
from scratch (no memo, no scope)."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from controller.core import status
from controller.core.compile_cache import CompileCache
from controller.core.compiler import Compiled, compile
from controller.core.conditions import FirewallOutcome
from controller.core.problems import ObjectRef
from controller.core.reasons import Reason
from controller.core.snapshot import Snapshot, ref_of
from controller.runtime.status_scope import StatusScope
from tests.controller.estate import firewall, nat, policy
from tests.controller.test_status_memo import NOW, STEP, apply_step, estate

PASSES = (("Service", "VIPPool"), ("SecurityPolicy", "NATRule"))  # as the reconciler runs them

# Beside the memo test's steps: a failed reconcile, a journal lost, a tenant's own status edit,
# and an outcome whose message alone moves (it reaches only objects that own nothing).
SCOPE_STEP = st.one_of(
    STEP,
    st.tuples(st.just("failed"), st.just(0)),
    st.tuples(st.just("lost"), st.just(0)),
    st.tuples(st.just("tamper"), st.integers(0, 7)),
    st.tuples(st.just("message"), st.integers(0, 3)),
)


def scope_estate() -> list[dict[str, Any]]:
    """The memo test's estate and a policy that selects nothing (it owns no firewall object)."""
    lonely = policy("shop", "lonely", ["missing"], [{"name": "inet", "from": {"zones": ["untrust"]}}])
    lonely["metadata"]["uid"] = "uid-lonely"
    return [*estate(), lonely, nat("blog", "ghost", "missing", 80, pool="pub")]


def _outcome(what: str, n: int, compiled: Compiled) -> dict[str, FirewallOutcome]:
    rule = next((x for r in compiled.reports for x in r.firewall_objects), "none")
    if what == "ok":
        return {"edge": FirewallOutcome(True, Reason.Synced, f"in sync ({n} changes, commit job {n})")}
    if what == "refused":
        return {"edge": FirewallOutcome(True, Reason.Synced, "in sync",
                                        refused=((rule, Reason.DeviceRefused, "the device said no"),))}
    if what == "down":
        return {"edge": FirewallOutcome(False, Reason.Unreachable, f"the firewall cannot be reached ({n})")}
    return {}


def _apply(objs: dict[ObjectRef, dict[str, Any]], what: str, arg: int | str, last: list[status.Update]) -> None:
    """The memo test's steps, and a tenant's own edit of its status."""
    if what == "tamper":
        ref = sorted(objs)[int(arg) % len(objs)]
        objs[ref] = {**objs[ref], "status": {"conditions": [{"type": "Ready", "status": "True"}], "public": "1.2.3.4"}}
    else:
        apply_step(objs, what, arg, last)


@settings(max_examples=200, deadline=None)
@given(st.lists(SCOPE_STEP, min_size=1, max_size=14))
@example([("outcome", "ok"), ("write", 10), ("message", 1), ("write", 10), ("message", 2)])
@example([("outcome", "ok"), ("write", 10), ("tamper", 3), ("noop", 0)])
@example([("outcome", "ok"), ("write", 10), ("failed", 0), ("port", 0)])
@example([("outcome", "down"), ("write", 10), ("outcome", "down"), ("outcome", "ok")])
def test_a_scoped_pass_gives_the_updates_of_a_pass_over_everything(steps: list[tuple[str, int | str]]) -> None:
    objs = {ref_of(b): b for b in scope_estate()}
    cache, memo, scope = CompileCache(), status.StatusMemo(), StatusScope()
    outcomes: dict[str, FirewallOutcome] = {}
    last: list[status.Update] = []
    seen = dict(objs)  # the bodies as the scope last heard of them
    outcome_kind = "none"
    for n, (what, arg) in enumerate(steps):
        _apply(objs, what, arg, last)
        compiled = compile(Snapshot.of([*objs.values(), firewall()]), cache=cache)
        scope.note_compile(compiled)
        if what in ("outcome", "write+outcome"):
            outcome_kind = str(arg)
        if what in ("outcome", "write+outcome", "message"):
            outcomes = _outcome(outcome_kind, n, compiled)
        if what == "failed":  # the reconcile before this one stopped after its compile
            scope.reset()
        memo.keep(set(objs))
        last = []
        for kinds in PASSES:
            replaced = {r for r in seen.keys() | objs.keys() if seen.get(r) is not objs.get(r)}
            seen = dict(objs)
            scope.note_bodies(None if what == "lost" else replaced)
            refs = scope.refs(kinds, live=lambda k: {r for r in objs if r.kind == k}, known=memo.known(),
                              compiled=compiled, outcomes=outcomes)
            everything = {r: b for r, b in objs.items() if r.kind in kinds}
            scoped = everything if refs is None else {r: objs[r] for r in refs if r in objs}
            got = status.desired(compiled, scoped, outcomes, now=NOW, memo=memo)
            assert got == status.desired(compiled, everything, outcomes, now=NOW), (what, kinds, refs)
            last += got


def test_a_one_object_change_looks_at_that_object_and_the_pools_only() -> None:
    objs = {ref_of(b): b for b in scope_estate()}
    cache, memo, scope = CompileCache(), status.StatusMemo(), StatusScope()
    ok = {"edge": FirewallOutcome(True, Reason.Synced, "in sync (3 changes, commit job 1)")}

    def reconcile(journal: set[ObjectRef] | None) -> list[set[ObjectRef] | None]:
        compiled = compile(Snapshot.of([*objs.values(), firewall()]), cache=cache)
        scope.note_compile(compiled)
        looked, updates = [], []
        for kinds in PASSES:
            scope.note_bodies(journal)
            journal = set()
            refs = scope.refs(kinds, live=lambda k: {r for r in objs if r.kind == k}, known=memo.known(),
                              compiled=compiled, outcomes=ok)
            looked.append(refs)
            bodies = {r: b for r, b in objs.items() if r.kind in kinds and (refs is None or r in refs)}
            updates += status.desired(compiled, bodies, ok, now=NOW, memo=memo)
        for u in updates:
            objs[u.ref] = {**objs[u.ref], "status": copy.deepcopy(u.status)}
        return looked

    assert reconcile(None) == [None, None]  # the first look is at everything
    reconcile({r for r in objs if r.kind != "VIPPool"})  # the echo of the first writes
    pools = {r for r in objs if r.kind == "VIPPool"}
    assert reconcile(set()) == [pools, set()]  # nothing moved: only the pools (counts of every allocation)
    ref = ObjectRef("SecurityPolicy", "blog", "web")
    objs[ref] = {**objs[ref], "status": {"tampered": True}}
    assert reconcile({ref}) == [pools, {ref}]
    svc = ObjectRef("Service", "shop", "web")
    body = copy.deepcopy(objs[svc])
    body["spec"]["ports"][0]["port"] = 444  # its NATRule's port breaks: the NATRule's report moves
    objs[svc] = body
    looked = reconcile({svc})
    assert looked[0] == pools | {svc}
    assert looked[1] is not None and ObjectRef("NATRule", "shop", "web") in looked[1]
