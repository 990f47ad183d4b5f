"""A Firewall's rules assembled per namespace, in runs (controller/core/rule_parts.py): a compile
after a change in one namespace reuses every other namespace's parts whole, and in the changed one
remakes only the runs of the objects that changed or could select what changed (and in them only
the changed objects' rules); it returns what a compile from scratch returns."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.core import rule_parts
from controller.core.compile_cache import CompileCache
from controller.core.compiler import compile
from controller.core.rule_parts import _runs
from controller.core.snapshot import Snapshot
from tests.controller.test_compile_cache import cached_equals_fresh
from tests.faults.test_fuzz_api import snapshots

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from compile import converged
from offline import estate


def _changed(docs: list[dict[str, Any]], kind: str, namespace: str, r: int) -> list[dict[str, Any]]:
    """docs with one object of `kind` in `namespace` given another port (a Service) or rule."""
    docs = list(docs)
    i = next(i for i, d in enumerate(docs) if d["kind"] == kind and d["metadata"]["namespace"] == namespace)
    body = copy.deepcopy(docs[i])
    if kind == "Service":
        body["spec"]["ports"].append({"name": f"x{r}", "port": 9000 + r, "targetPort": 9000 + r})
    else:
        body["spec"]["rules"].append({"name": f"r{r}", "from": {"zones": ["trust"]}})
    docs[i] = body
    return docs


def _misses(cache: CompileCache, before: dict[str, tuple[int, int]]) -> dict[str, int]:
    return {k: v[1] - before[k][1] for k, v in cache.stats().items()}


def _compiled_misses(docs: list[dict[str, Any]], cache: CompileCache) -> dict[str, int]:
    """Compile `docs` with the cache (equal to a compile from scratch): what each memo made."""
    snap = Snapshot.of(docs)
    before = cache.stats()
    assert compile(snap, cache=cache) == compile(snap)
    return _misses(cache, before)


def test_a_change_in_one_namespace_rebuilds_that_namespace_alone() -> None:
    docs = estate(60)  # 50 namespaces: team-0 .. team-49
    cache = CompileCache()
    compile(Snapshot.of(docs), cache=cache)
    for r, ns in enumerate(["team-3", "team-3", "team-17"]):
        docs = _changed(docs, "Service", ns, r)
        snap = Snapshot.of(docs)
        before = cache.stats()
        got = compile(snap, cache=cache)
        assert got == compile(snap)
        misses = _misses(cache, before)
        assert misses["namespaces"] == 2, misses  # the run of its NATRule and of its policy
        assert misses["policies"] == 1 and misses["nat_rules"] == 1, misses


def test_a_namespace_reused_whole_for_many_compiles_keeps_its_objects_rules() -> None:
    """Its NATRules' and policies' own entries are carried while the namespace is reused whole: a
    later change in it rebuilds the changed policy, not all of them."""
    docs = estate(150)  # three of each per namespace
    cache = CompileCache()
    compile(Snapshot.of(docs), cache=cache)
    for r in range(3):  # team-0 untouched three compiles in a row
        docs = _changed(docs, "Service", "team-1", r)
        compile(Snapshot.of(docs), cache=cache)
    docs = _changed(docs, "SecurityPolicy", "team-0", 9)
    misses = _compiled_misses(docs, cache)
    assert misses["namespaces"] == 1 and misses["policies"] == 1 and misses["nat_rules"] == 0, misses


def _one_namespace(n: int) -> list[dict[str, Any]]:
    """n Services + NATRules + SecurityPolicies in one namespace, their addresses recorded."""
    docs = estate(n)
    for d in docs:
        if d["metadata"].get("namespace"):
            d["metadata"]["namespace"] = "big"
    return converged(docs)


def test_in_one_big_namespace_a_change_remakes_the_runs_it_touches() -> None:
    docs = _one_namespace(600)
    cache = CompileCache()
    compile(Snapshot.of(docs), cache=cache)
    docs = _changed(docs, "Service", "big", 1)
    misses = _compiled_misses(docs, cache)
    assert misses["namespaces"] == 2 and misses["policies"] == 1 and misses["nat_rules"] == 1, misses
    # One more Service + NATRule + SecurityPolicy: the runs they land in (a run may split in two).
    extra = estate(601)[-3:]
    for d in extra:
        d["metadata"]["namespace"] = "big"
    reused = cache.stats()["namespaces"][0]
    misses = _compiled_misses(docs + extra, cache)
    assert 2 <= misses["namespaces"] <= 4 and misses["policies"] == 1 and misses["nat_rules"] == 1, misses
    assert cache.stats()["namespaces"][0] - reused >= 10  # the other runs: reused


def test_a_label_selector_sees_a_service_that_no_policy_names() -> None:
    """A policy selecting by label must be remade when any Service of its namespace changes: a
    Service no policy names gains the label, and the selecting policy's rules follow it."""
    docs = _one_namespace(300)
    sel = copy.deepcopy(next(d for d in docs if d["kind"] == "SecurityPolicy"))
    sel["metadata"]["name"] = "by-label"
    sel["spec"]["services"] = {"selector": {"matchLabels": {"tier": "edge"}}}
    docs.append(sel)
    i = max(i for i, d in enumerate(docs) if d["kind"] == "Service")
    cache = CompileCache()
    first = compile(Snapshot.of(docs), cache=cache)
    docs[i] = copy.deepcopy(docs[i])
    docs[i]["metadata"]["labels"] = {"tier": "edge"}
    snap = Snapshot.of(docs)
    got = compile(snap, cache=cache)
    assert got == compile(snap)
    assert got.firewalls[0].desired.security_rules != first.firewalls[0].desired.security_rules


def test_objects_not_grouped_by_namespace_are_not_split() -> None:
    assert _runs(["a", "a", "b"], lambda x: x) == {"a": ["a", "a"], "b": ["b"]}
    assert _runs(["a", "b", "a"], lambda x: x) is None
    assert _runs([], lambda x: x) == {}


@settings(max_examples=120, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(first=snapshots(), second=snapshots(), seed=st.integers(0, 2**32 - 1))
def test_with_runs_of_two_a_cached_compile_still_equals_a_fresh_one(first: Snapshot, second: Snapshot,
                                                                    seed: int) -> None:
    """The compile cache's property (tests/controller/test_compile_cache.py) with a run ending at
    every other object on average: the small estates it draws are cut into many runs."""
    was = rule_parts.RUN
    rule_parts.RUN = 2
    try:
        cached_equals_fresh(first, second, seed)
    finally:
        rule_parts.RUN = was


def test_a_service_whose_vip_alone_moved_remakes_the_policy_that_names_it() -> None:
    """svc-8 asks for the address svc-7 holds and waits; svc-7 goes or moves to another address,
    svc-8 (its body untouched: the same parsed Service) gets it: the policy naming svc-8 has its rules."""
    was, rule_parts.RUN = rule_parts.RUN, 2  # the two policies in runs of their own
    try:
        _vip_moves("delete")  # one Service fewer: the changes found by name
        _vip_moves("move")  # as many: found by position
    finally:
        rule_parts.RUN = was


def _vip_moves(how: str) -> None:
    docs = _one_namespace(300)
    at = {d["metadata"]["name"]: i for i, d in enumerate(docs) if d["kind"] == "Service"}
    held = docs[at["svc-7"]]["status"]["loadBalancer"]["ingress"][0]["ip"]
    wants = copy.deepcopy(docs[at["svc-8"]])
    wants["metadata"]["annotations"] = {"bmlb.io/ip": held}
    wants.pop("status")
    docs[at["svc-8"]] = wants
    # No NATRule publishes svc-8: its VIP alone tells its policy's rules that it moved.
    docs = [d for d in docs if not (d["kind"] == "NATRule" and d["metadata"]["name"] == "svc-8")]
    at = {d["metadata"]["name"]: i for i, d in enumerate(docs) if d["kind"] == "Service"}
    cache = CompileCache()
    first = compile(Snapshot.of(docs), cache=cache)
    assert held not in repr([r for r in first.firewalls[0].desired.security_rules if "svc-8" in r.name])
    if how == "delete":
        docs = [d for i, d in enumerate(docs) if i != at["svc-7"]]
    else:  # svc-7 now holds another address (recorded in its status): svc-8 gets the one it wants
        docs[at["svc-7"]] = {**docs[at["svc-7"]], "status": {"loadBalancer": {"ingress": [{"ip": "10.64.250.7"}]}}}
    snap = Snapshot.of(docs)
    got = compile(snap, cache=cache)
    assert got == compile(snap)
    assert held in repr([r for r in got.firewalls[0].desired.security_rules if "svc-8" in r.name])


def test_a_natrule_change_remakes_the_policy_of_the_service_it_publishes() -> None:
    """A policy's rules follow the publications of the Services it selects (controller/core/
    security_rules.py): a NATRule publishing on another port moves them, its Service untouched."""
    was, rule_parts.RUN = rule_parts.RUN, 2
    try:
        docs = _one_namespace(300)
        cache = CompileCache()
        compile(Snapshot.of(docs), cache=cache)
        i = next(i for i, d in enumerate(docs) if d["kind"] == "NATRule" and d["metadata"]["name"] == "svc-9")
        docs[i] = copy.deepcopy(docs[i])
        docs[i]["spec"]["public"]["port"] = 8443
        snap = Snapshot.of(docs)
        assert compile(snap, cache=cache) == compile(snap)
    finally:
        rule_parts.RUN = was
