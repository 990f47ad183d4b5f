"""The compile cache changes how much a compile rebuilds, never what it returns: a compile with
the cache, after any earlier compile, equals a compile of the same snapshot from scratch."""

from __future__ import annotations

import copy
import random
import sys
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.core.compile_cache import CompileCache
from controller.core.compiler import compile
from controller.core.snapshot import Snapshot, ref_of
from tests.faults.test_fuzz_api import snapshots

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from offline import estate


def _with_ingress(body: dict[str, Any], ip: str) -> dict[str, Any]:
    return {**body, "status": {"loadBalancer": {"ingress": [{"ip": ip}]}}}


@settings(max_examples=120, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(first=snapshots(), second=snapshots(), seed=st.integers(0, 2**32 - 1))
def test_a_cached_compile_equals_a_fresh_one(first: Snapshot, second: Snapshot, seed: int) -> None:
    """Between two compiles each object stays (the same body), changes (the other snapshot's body
    of that name), appears or goes: the cached result is the fresh one, field for field."""
    cached_equals_fresh(first, second, seed)


def cached_equals_fresh(first: Snapshot, second: Snapshot, seed: int) -> None:
    rng = random.Random(seed)
    a = {ref_of(b): b for b in first.all()}
    b = {ref_of(x): x for x in second.all()}
    cache = CompileCache()
    assert compile(first, cache=cache) == compile(first)
    mixed = []
    for ref in sorted(set(a) | set(b)):
        pick = rng.choice(("old", "new", "gone"))
        body = a.get(ref) if pick == "old" else b.get(ref) if pick == "new" else None
        if body is not None:
            mixed.append(body)
    then = Snapshot.of(mixed)
    assert compile(then, cache=cache) == compile(then)
    again = Snapshot.of(rng.sample(mixed, len(mixed)))  # the same bodies in another order
    assert compile(again, cache=cache) == compile(again)


def test_one_change_in_an_estate_rebuilds_only_that_object() -> None:
    docs = estate(60)
    cache = CompileCache()
    before = compile(Snapshot.of(docs), cache=cache)
    # One Service gets another port; one shares another's VIP (both VIP objects' descriptions move).
    docs = list(docs)
    i = next(i for i, d in enumerate(docs) if d["kind"] == "Service")
    changed = copy.deepcopy(docs[i])
    changed["spec"]["ports"].append({"name": "http", "port": 80, "targetPort": 8080})
    docs[i] = changed
    snap = Snapshot.of(docs)
    hits_before = cache.stats()
    cached = compile(snap, cache=cache)
    assert cached == compile(snap)
    assert cached != before
    stats = cache.stats()
    service_misses = stats["services"][1] - hits_before["services"][1]
    policy_misses = stats["policies"][1] - hits_before["policies"][1]
    assert service_misses == 1, stats  # only the changed body is parsed again
    assert policy_misses == 1, stats  # only the policy selecting it is rebuilt
    assert stats["crs"][1] - hits_before["crs"][1] == 0


def test_vip_sharing_and_recorded_addresses_follow_the_estate() -> None:
    """A second Service on the same VIP changes that VIP object's description (it names every
    Service on it) although neither policy's inputs... moved: the address objects are rebuilt
    from the estate each compile."""
    docs = estate(4)
    svcs = [i for i, d in enumerate(docs) if d["kind"] == "Service"][:2]
    for i in svcs:
        docs[i] = copy.deepcopy(docs[i])
        docs[i]["metadata"]["namespace"] = "shared"
        docs[i]["metadata"]["annotations"] = {"bmlb.io/allow-shared-ip": "k"}
    docs[svcs[0]] = _with_ingress(docs[svcs[0]], "10.64.0.9")
    cache = CompileCache()
    compile(Snapshot.of(docs), cache=cache)
    docs[svcs[1]] = _with_ingress(docs[svcs[1]], "10.64.0.9")
    snap = Snapshot.of(docs)
    assert compile(snap, cache=cache) == compile(snap)


def test_a_cleared_cache_builds_everything_again_and_the_same() -> None:
    snap = Snapshot.of(estate(5))
    cache = CompileCache()
    first = compile(snap, cache=cache)
    cache.clear()
    again = compile(snap, cache=cache)
    assert again == first
    assert cache.last[0] == 0 and cache.last[1] > 0  # nothing reused
    compile(snap, cache=cache)
    assert cache.last[1] == 0  # nothing made


def test_a_pool_edit_is_seen_by_the_next_compile_s_pool_lookups() -> None:
    """The pool each address is in is remembered only while the pools compare equal: a pool that
    shrinks past a held address leaves it out of every pool (kept, with a warning), as from scratch."""
    from tests.controller.estate import pool, service

    held = service("a", "web", (80, 80), ingress=["10.96.0.9"])
    before = Snapshot.of([pool("vips", "10.96.0.0/24"), held])
    after = Snapshot.of([pool("vips", "10.96.0.0/29"), held])
    cache = CompileCache()
    assert compile(before, cache=cache) == compile(before)
    assert not compile(before).problems
    got = compile(after, cache=cache)
    assert got == compile(after)
    assert [p.code for p in got.problems] == ["OutOfPool"]


def test_bmlb_recording_the_addresses_it_allocated_rebuilds_no_rule() -> None:
    """After a burst bmlb writes each Service's VIP and each NATRule's public address into their
    status: the compile reads them back (they are what the allocator keeps), and they are the very
    addresses the rules were made with, so no rule, NAT rule or address object is made again."""
    docs = estate(30)
    cache = CompileCache()
    first = compile(Snapshot.of(docs), cache=cache)
    by_ref = {a.ref: a for a in first.allocations}
    recorded = []
    for d in docs:
        a = by_ref.get(ref_of(d))
        if a is not None and d["kind"] == "Service":
            d = _with_ingress(d, str(a.addresses[0]))
        elif a is not None and d["kind"] == "NATRule":
            d = {**d, "status": {"public": f"{a.addresses[0]}:{d['spec']['service']['port']}"}}
        recorded.append(d)
    snap = Snapshot.of(recorded)
    before = cache.stats()
    again = compile(snap, cache=cache)
    assert again == compile(snap) and again.firewalls == first.firewalls
    stats = cache.stats()
    for memo in ("nat_rules", "policies", "vips"):
        assert stats[memo][1] == before[memo][1], (memo, stats)  # nothing made again
    assert stats["services"][1] - before["services"][1] == 30  # the changed bodies are parsed again


def test_a_publication_follows_its_service_s_port_and_its_addresses() -> None:
    """A NATRule's publication is found again only while what it is made of compares equal: its
    Service losing the published port, or the pools' zones moving, is seen at once."""
    docs = estate(3)
    cache = CompileCache()
    compile(Snapshot.of(docs), cache=cache)
    i = next(i for i, d in enumerate(docs) if d["kind"] == "Service")
    for edit in ("port", "zone"):
        docs = copy.deepcopy(docs)
        if edit == "port":
            docs[i]["spec"]["ports"] = [{"name": "http", "port": 80, "targetPort": 8080}]
        else:
            pub = next(d for d in docs if d["kind"] == "VIPPool" and d["spec"].get("purpose") == "Public")
            pub["spec"]["zone"] = "internet"
        snap = Snapshot.of(docs)
        got = compile(snap, cache=cache)
        assert got == compile(snap), edit
    assert any(p.code == "PortNotFound" for p in got.problems)
    assert all(r.to_zones == ("internet",) for r in got.firewall("edge").desired.nat_rules)


def _ignored_change(body: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """What moves that no compile reads: resourceVersion, the finalizers, bmlb's own conditions."""
    out = copy.deepcopy(body)
    meta = out.setdefault("metadata", {})
    meta["resourceVersion"] = str(rng.randrange(1, 10**6))
    meta["finalizers"] = rng.choice(([], ["bmlb.io/firewall-cleanup"]))
    status = out.get("status")
    if status is None or isinstance(status, dict):
        out["status"] = {**(status or {}), "conditions": [{"type": "Ready", "status": rng.choice(("True", "False"))}]}
    return out


def _recorded_change(body: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """What moves in status that the compile does read: the addresses recorded as allocated."""
    if body.get("kind") == "Service":
        return _with_ingress(body, f"10.210.0.{rng.randrange(1, 250)}")
    if body.get("kind") == "NATRule":
        return {**body, "status": {"public": f"198.51.100.{rng.randrange(1, 15)}:{rng.choice((80, 443))}"}}
    return body


@settings(max_examples=80, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(first=snapshots(), second=snapshots(), seed=st.integers(0, 2**32 - 1))
def test_bodies_the_index_hands_over_compile_as_fresh(first: Snapshot, second: Snapshot, seed: int) -> None:
    """Through the index, as the controller runs it: a body replaced by one where only what bmlb
    does not read moved takes over the old body's parse (`CompileCache.alias`); mixed with real
    changes (the other snapshot's body of that name, recorded addresses), a cached compile equals
    a fresh one."""
    from controller.runtime.index import ClusterIndex

    rng = random.Random(seed)
    index, cache = ClusterIndex(), CompileCache()
    index.on_same, index.on_gone = cache.alias, cache.forget
    for body in first.all():
        index.upsert(body["kind"], body)
    others = {ref_of(b): b for b in second.all()}
    for _ in range(3):
        snap = index.snapshot()
        assert compile(snap, cache=cache) == compile(snap)
        for body in snap.all():
            pick = rng.random()
            if pick < 0.5:
                index.upsert(body["kind"], _ignored_change(body, rng))
            elif pick < 0.7 and ref_of(body) in others:
                index.upsert(body["kind"], others[ref_of(body)])
            elif pick < 0.85:
                index.upsert(body["kind"], _recorded_change(body, rng))
            elif pick < 0.9:
                index.delete(body["kind"], body)
        # Every body the cache holds is one the index holds now (`snap` keeps the old ones alive,
        # so no id below is reused): a replaced or removed body is let go at once.
        current = {id(b) for b in index.snapshot().all()}
        held = {id(entry[0]) for memo in (cache.services, cache.crs) for entry in memo._d.values()}
        assert held <= current
    snap = index.snapshot()
    assert compile(snap, cache=cache) == compile(snap)
