"""The status memo (controller/core/status.py, StatusMemo) changes nothing but the work: over any
sequence of reconciles (statuses written back, specs edited, the firewall's outcome moving, an
object gone) the updates with the memo are the updates computed from scratch."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from controller.core import conditions, status
from controller.core.compiler import compile
from controller.core.conditions import FirewallOutcome
from controller.core.problems import ObjectRef
from controller.core.reasons import Reason
from controller.core.snapshot import Snapshot, ref_of
from tests.controller.estate import firewall, nat, policy, pool, service

NOW = "2026-01-01T00:00:00Z"


def estate() -> list[dict[str, Any]]:
    objs: list[dict[str, Any]] = [pool("vips", "10.96.0.0/28"),
                                  pool("pub", "203.0.113.0/29", zone="untrust", purpose="Public", auto=False)]
    for ns in ("shop", "blog"):
        objs += [service(ns, "web", (443, 8443)), nat(ns, "web", "web", 443, pool="pub"),
                 policy(ns, "web", ["web"], [{"name": "inet", "from": {"zones": ["untrust"]}}])]
    for i, o in enumerate(objs):
        o["metadata"].setdefault("generation", 1)
        o["metadata"]["uid"] = f"uid-{i}"
    return objs


def outcome(kind: str, n: int, rule: str) -> dict[str, FirewallOutcome]:
    if kind == "none":
        return {}
    if kind == "ok":  # the message names the change count and commit job: it moves every sync
        return {"edge": FirewallOutcome(True, Reason.Synced, f"in sync ({n} changes, commit job {n})")}
    if kind == "refused":
        return {"edge": FirewallOutcome(True, Reason.Synced, "in sync",
                                        refused=((rule, Reason.DeviceRefused, "the device said no"),))}
    return {"edge": FirewallOutcome(False, Reason.Unreachable, "the firewall cannot be reached")}


STEP = st.one_of(
    st.tuples(st.just("write"), st.integers(0, 10)),  # write back the last updates (some of them)
    st.tuples(st.just("outcome"), st.sampled_from(["none", "ok", "refused", "down"])),
    # The last updates written back and the outcome moved before their echo was read.
    st.tuples(st.just("write+outcome"), st.sampled_from(["none", "ok", "refused", "down"])),
    st.tuples(st.just("port"), st.integers(0, 1)),  # a Service's port edited (the NATRule's port breaks)
    st.tuples(st.just("gone"), st.integers(0, 5)),  # an object deleted
    st.tuples(st.just("repool"), st.sampled_from(["10.96.0.0/28", "10.96.0.16/28"])),  # the VIPPool moved
    st.tuples(st.just("steal"), st.just(0)),  # blog's Service records shop's address (blog sorts first)
    st.tuples(st.just("generation"), st.integers(0, 5)),
    st.tuples(st.just("noop"), st.just(0)),
)


def _rules_of(compiled: Any) -> list[str]:
    return [n for r in compiled.reports for n in r.firewall_objects] or ["none"]


def apply_step(objs: dict[ObjectRef, dict[str, Any]], what: str, arg: int | str, last: list[status.Update]) -> None:
    """One step of STEP on the index's bodies (`last`: the updates of the reconcile before)."""
    if what in ("write", "write+outcome"):
        for u in last[: int(arg) + 1 if what == "write" else None]:
            if u.ref in objs:  # a new body, as the index holds after the watch event
                objs[u.ref] = {**objs[u.ref], "status": copy.deepcopy(u.status)}
    elif what == "port":
        ref = ObjectRef("Service", ("shop", "blog")[int(arg)], "web")
        if ref in objs:
            body = copy.deepcopy(objs[ref])
            body["spec"]["ports"][0]["port"] = 444
            objs[ref] = body
    elif what == "steal":
        shop, blog = ObjectRef("Service", "shop", "web"), ObjectRef("Service", "blog", "web")
        if shop in objs and blog in objs and "status" in objs[shop]:
            objs[blog] = {**objs[blog], "status": copy.deepcopy(objs[shop]["status"])}
    elif what == "generation":  # its last update written back, and its generation moved before the echo
        ref = sorted(objs)[int(arg) % len(objs)]
        meta = objs[ref]["metadata"]
        written = [u.status for u in last if u.ref == ref]
        objs[ref] = {**objs[ref], "metadata": {**meta, "generation": int(meta.get("generation") or 0) + 1},
                     **({"status": copy.deepcopy(written[0])} if written else {})}
    elif what == "repool":
        objs[ObjectRef("VIPPool", "", "vips")] = pool("vips", str(arg))
    elif what == "gone":
        objs.pop(sorted(objs)[int(arg) % len(objs)], None)


@settings(max_examples=150, deadline=None)
@given(st.lists(STEP, min_size=1, max_size=12))
@example([("noop", 0), ("write", 10), ("steal", 0)])  # a current Service's address moves, its body does not
@example([("outcome", "ok"), ("write", 10), ("noop", 0), ("outcome", "down")])
@example([("outcome", "ok"), ("generation", 2)])
@example([("outcome", "ok"), ("write+outcome", "down")])
def test_memo_gives_the_updates_computed_from_scratch(steps: list[tuple[str, int | str]]) -> None:
    objs = {ref_of(b): b for b in estate()}
    memo = status.StatusMemo()
    outcomes: dict[str, FirewallOutcome] = {}
    last: list[status.Update] = []
    for n, (what, arg) in enumerate(steps):
        apply_step(objs, what, arg, last)
        compiled = compile(Snapshot.of([*objs.values(), firewall()]))
        if what in ("outcome", "write+outcome"):
            outcomes = outcome(str(arg), n, _rules_of(compiled)[0])
        bodies = {r: b for r, b in objs.items() if r.kind != "Firewall"}
        memo.keep(set(bodies))
        got = status.desired(compiled, bodies, outcomes, now=NOW, memo=memo)
        want = status.desired(compiled, bodies, outcomes, now=NOW)
        assert got == want
        last = got


def test_current_objects_are_not_rendered_again(monkeypatch: pytest.MonkeyPatch) -> None:
    objs = {ref_of(b): b for b in estate()}
    ok = {"edge": FirewallOutcome(True, Reason.Synced, "in sync (3 changes, commit job 1)")}
    memo = status.StatusMemo()
    compiled = compile(Snapshot.of([*objs.values(), firewall()]))
    for u in status.desired(compiled, objs, ok, now=NOW, memo=memo):
        objs[u.ref] = {**objs[u.ref], "status": copy.deepcopy(u.status)}
    compiled = compile(Snapshot.of([*objs.values(), firewall()]))
    assert status.desired(compiled, objs, ok, now=NOW, memo=memo) == []

    rendered: list[object] = []
    real = conditions.render
    monkeypatch.setattr(conditions, "render", lambda *a, **k: rendered.append(a) or real(*a, **k))
    # Another sync with changes elsewhere: a new commit job in the message, nothing to write here.
    again = {"edge": FirewallOutcome(True, Reason.Synced, "in sync (1 changes, commit job 2)")}
    assert status.desired(compiled, objs, again, now=NOW, memo=memo) == []
    assert len(rendered) == 2  # only the two VIPPools (their counts come from every allocation)

    # The firewall goes down: every object that uses it hears of it, memo or not.
    down = {"edge": FirewallOutcome(False, Reason.Unreachable, "the firewall cannot be reached")}
    updates = status.desired(compiled, objs, down, now=NOW, memo=memo)
    assert {u.ref.kind for u in updates} == {"NATRule", "SecurityPolicy"}
    assert len(updates) == 4
