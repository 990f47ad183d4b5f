"""The allocator: a story table (like MetalLB's TestAssignment) plus hypothesis properties."""

from __future__ import annotations

import ipaddress
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.core import ipam, pools
from controller.core.ipam import Request
from controller.core.pools import Pool
from controller.core.problems import ObjectRef

ip = ipaddress.ip_address


def pool(name: str, *ranges: str, ns: tuple[str, ...] = (), auto: bool = True, purpose: str = "Service",
         buggy: bool = False) -> Pool:
    return Pool(name, tuple(pools.parse_range(r) for r in ranges), zone="k8s", purpose=purpose, auto_assign=auto,
                avoid_buggy_ips=buggy, namespaces=frozenset(ns))


def req(name: str, ns: str = "a", **kw: object) -> Request:
    return Request(ref=ObjectRef("Service", ns, name), namespace=ns, **kw)  # type: ignore[arg-type]


def addrs(result: ipam.Result, name: str, ns: str = "a") -> list[str]:
    return [str(x) for x in result.addresses_of(ObjectRef("Service", ns, name))]


def codes(result: ipam.Result) -> list[str]:
    return [p.code for p in result.problems]


P = pool("p", "10.0.0.0/30")

STORIES = [
    pytest.param([P], [req("s1")], {"s1": ["10.0.0.0"]}, [], id="s1 gets the lowest address"),
    pytest.param([P], [req("s1", current=(ip("10.0.0.2"),))], {"s1": ["10.0.0.2"]}, [],
                 id="s1 keeps the address it holds"),
    pytest.param([pool("p", "10.0.0.0/30", buggy=True)], [req("s1")], {"s1": ["10.0.0.1"]}, [],
                 id="avoidBuggyIPs skips .0"),
    pytest.param([P], [req("s1", requested=(ip("10.0.0.3"),))], {"s1": ["10.0.0.3"]}, [],
                 id="s1 gets its requested address"),
    pytest.param([P], [req("s1", requested=(ip("10.9.9.9"),))], {"s1": []}, ["IPNotInPool"],
                 id="requested address outside every pool is refused"),
    pytest.param([P], [req("s1", requested=(ip("10.0.0.1"),)), req("s2", requested=(ip("10.0.0.1"),))],
                 {"s1": ["10.0.0.1"], "s2": []}, ["IPInUse"], id="s2 can't take s1's address"),
    pytest.param([P], [req("s1", sharing_key="k", ports=frozenset({("TCP", 80)}), requested=(ip("10.0.0.1"),)),
                       req("s2", sharing_key="k", ports=frozenset({("TCP", 443)}), requested=(ip("10.0.0.1"),))],
                 {"s1": ["10.0.0.1"], "s2": ["10.0.0.1"]}, [], id="s1 and s2 share by key"),
    pytest.param([P], [req("s1", sharing_key="k", ports=frozenset({("TCP", 80)}), requested=(ip("10.0.0.1"),)),
                       req("s2", sharing_key="k", ports=frozenset({("TCP", 80)}), requested=(ip("10.0.0.1"),))],
                 {"s1": ["10.0.0.1"], "s2": []}, ["IPInUse"], id="s2 can't share with s1 (port conflict)"),
    pytest.param([P], [req("s1", sharing_key="k", ports=frozenset({("TCP", 80)})),
                       req("s2", sharing_key="k", ports=frozenset({("TCP", 443)}))],
                 {"s1": ["10.0.0.0"], "s2": ["10.0.0.0"]}, [], id="auto-assign joins a compatible sharer"),
    pytest.param([P], [req("s1", ns="a", sharing_key="k", requested=(ip("10.0.0.1"),)),
                       req("s2", ns="b", sharing_key="k", requested=(ip("10.0.0.1"),))],
                 {"s1": ["10.0.0.1"]}, ["IPInUse"], id="no sharing across namespaces"),
    pytest.param([pool("p", "10.0.0.0/31")], [req("s1"), req("s2"), req("s3")],
                 {"s1": ["10.0.0.0"], "s2": ["10.0.0.1"], "s3": []}, ["PoolExhausted"], id="pool exhausted"),
    pytest.param([pool("p", "10.0.0.0/30", ns=("b",))], [req("s1", pool="p")], {"s1": []},
                 ["PoolDeniesNamespace"], id="pool does not admit the namespace"),
    pytest.param([pool("p", "10.0.0.0/30", auto=False)], [req("s1")], {"s1": []}, ["NoPool"],
                 id="no auto-assign pool"),
    pytest.param([pool("p", "10.0.0.0/30", auto=False)], [req("s1", pool="p")], {"s1": ["10.0.0.0"]}, [],
                 id="named non-auto pool"),
    pytest.param([pool("p", "10.0.0.0/30")], [req("s1", current=(ip("10.0.9.9"),))], {"s1": ["10.0.9.9"]},
                 ["OutOfPool"], id="a pool edit never re-IPs"),
    pytest.param([pool("p", "10.0.0.0/30"), pool("q", "fd00::/126")],
                 [req("s1", families=(4, 6))], {"s1": ["10.0.0.0", "fd00::"]}, [], id="dual stack"),
    pytest.param([pool("p", "10.0.0.0/30", purpose="Public", auto=False)], [req("s1")], {"s1": []}, ["NoPool"],
                 id="Service never drawn from a Public pool"),
    pytest.param([pool("p", "::100/126")], [req("s1", families=(6,))], {"s1": ["::100"]}, [],
                 id="an IPv6 pool below 2**32 hands out IPv6 addresses"),
]


@pytest.mark.parametrize(("pools", "requests", "want", "want_codes"), STORIES)
def test_story(pools: list[Pool], requests: list[Request], want: dict[str, list[str]],
               want_codes: list[str]) -> None:
    before = list(requests)
    result = ipam.allocate(pools, requests)
    assert requests == before, "input not mutated"
    for name, expected in want.items():
        ns = next(r.namespace for r in requests if r.ref.name == name)
        assert addrs(result, name, ns) == expected
    assert codes(result) == want_codes


def test_shrinking_a_pool_keeps_holders_and_hands_out_nothing_outside() -> None:
    pools = [pool("p", "10.0.0.0/29")]
    first = ipam.allocate(pools, [req(f"s{i}") for i in range(6)])
    held = {a.ref: a.addresses for a in first.assignments}
    shrunk = [pool("p", "10.0.0.0/30")]
    again = ipam.allocate(shrunk, [req(f"s{i}", current=held[ObjectRef("Service", "a", f"s{i}")])
                                   for i in range(6)] + [req("new")])
    for i in range(6):
        ref = ObjectRef("Service", "a", f"s{i}")
        assert again.addresses_of(ref) == held[ref], "zero re-IPs"
    assert again.addresses_of(ObjectRef("Service", "a", "new")) == ()
    assert "PoolExhausted" in codes(again)


# --- properties ------------------------------------------------------------------------------

names = st.sampled_from([f"s{i}" for i in range(12)])
namespaces = st.sampled_from(["a", "b"])
ports = st.frozensets(st.tuples(st.just("TCP"), st.sampled_from([80, 443, 8080])), max_size=2)
keys = st.sampled_from([None, "k1", "k2"])
small_ip = st.integers(0, 9).map(lambda n: ip(f"10.0.0.{n}"))

requests_st = st.lists(
    st.builds(lambda n, ns, key, pr, cur, want: Request(
        ref=ObjectRef("Service", ns, n), namespace=ns, sharing_key=key, ports=pr,
        current=(cur,) if cur else (), requested=(want,) if want else ()),
        names, namespaces, keys, ports, st.none() | small_ip, st.none() | small_ip),
    max_size=12, unique_by=lambda r: r.ref)
POOLS = [pool("p", "10.0.0.0-10.0.0.5"), pool("q", "10.0.0.6-10.0.0.7", ns=("b",))]


def _check_invariants(result: ipam.Result, requests: list[Request]) -> None:
    by_ref = {r.ref: r for r in requests}
    holders: dict[ipaddress.IPv4Address | ipaddress.IPv6Address, list[Request]] = {}
    for a in result.assignments:
        for x in a.addresses:
            holders.setdefault(x, []).append(by_ref[a.ref])
            pool_of = next((p for p in POOLS if p.contains(x)), None)
            if pool_of is not None:
                assert pool_of.admits(by_ref[a.ref].namespace)
            else:
                assert x in by_ref[a.ref].current, "outside a pool only when already held"
    for x, rs in holders.items():
        if len(rs) > 1:
            assert len({r.sharing_key for r in rs}) == 1 and rs[0].sharing_key, f"{x} shared without a key"
            assert len({r.namespace for r in rs}) == 1
            seen: set[tuple[str, int]] = set()
            for r in rs:
                assert not (seen & r.ports), f"{x} shared with a port conflict"
                seen |= r.ports


@settings(max_examples=300, deadline=None)
@given(requests_st, st.randoms(use_true_random=False))
def test_never_twice_never_outside_and_order_independent(requests: list[Request], rnd: random.Random) -> None:
    result = ipam.allocate(POOLS, requests)
    _check_invariants(result, requests)
    shuffled = list(requests)
    rnd.shuffle(shuffled)
    assert ipam.allocate(list(reversed(POOLS)), shuffled) == result


@settings(max_examples=200, deadline=None)
@given(requests_st, names, namespaces)
def test_stable_under_unrelated_changes_and_reclaims(requests: list[Request], extra: str, ns: str) -> None:
    first = ipam.allocate(POOLS, requests)
    held = {a.ref: a.addresses for a in first.assignments}
    # Restart with the allocations recorded in status, plus one unrelated newcomer.
    recorded = [Request(ref=r.ref, namespace=r.namespace, sharing_key=r.sharing_key, ports=r.ports,
                        requested=r.requested, current=held.get(r.ref, ())) for r in requests]
    newcomer = Request(ref=ObjectRef("Service", ns, extra + "-new"), namespace=ns)
    second = ipam.allocate(POOLS, [*recorded, newcomer])
    for ref, addresses in held.items():
        assert second.addresses_of(ref) == addresses, f"{ref} re-IPed"
    # Deleting everyone frees every address for the next requester.
    if held:
        third = ipam.allocate(POOLS, [Request(ref=ObjectRef("Service", "a", "late"), namespace="a")])
        assert third.addresses_of(ObjectRef("Service", "a", "late")) == (ip("10.0.0.0"),)


def test_a_pool_that_does_not_admit_the_namespace_names_the_address_and_the_pool() -> None:
    denying = [pool("p", "10.0.0.0/30", ns=("b",))]
    asked = ipam.allocate(denying, [req("s1", requested=(ip("10.0.0.1"),))])
    held = ipam.allocate(denying, [req("s1", current=(ip("10.0.0.1"),))])
    assert [(p.code, p.message) for p in asked.problems] == [
        ("PoolDeniesNamespace", "10.0.0.1 belongs to VIPPool 'p', which does not admit namespace 'a'")]
    assert [(p.code, p.message) for p in held.problems] == [
        ("PoolDeniesNamespace",
         "10.0.0.1 belongs to VIPPool 'p', which no longer admits namespace 'a'; it was released"),
        ("NoPool", "no auto-assign VIPPool of purpose Service offers IPv4 addresses to namespace 'a'")]
    assert addrs(asked, "s1") == addrs(held, "s1") == []
