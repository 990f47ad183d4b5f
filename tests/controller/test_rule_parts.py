"""A Firewall's rules assembled per namespace (controller/core/rule_parts.py): a compile after a
change in one namespace reuses every other namespace's part whole, rebuilds only the changed one
(and in it only the changed objects' rules), and returns what a compile from scratch returns."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

from controller.core.compile_cache import CompileCache
from controller.core.compiler import compile
from controller.core.rule_parts import _runs
from controller.core.snapshot import Snapshot

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
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
        assert misses["namespaces"] == 1, misses
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
    snap = Snapshot.of(docs)
    before = cache.stats()
    assert compile(snap, cache=cache) == compile(snap)
    misses = _misses(cache, before)
    assert misses["namespaces"] == 1 and misses["policies"] == 1 and misses["nat_rules"] == 0, misses


def test_objects_not_grouped_by_namespace_are_not_split() -> None:
    assert _runs(["a", "a", "b"], lambda x: x) == {"a": ["a", "a"], "b": ["b"]}
    assert _runs(["a", "b", "a"], lambda x: x) is None
    assert _runs([], lambda x: x) == {}
