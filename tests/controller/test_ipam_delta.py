"""IPAM over the changed requests only (controller/core/ipam_delta.py) against the allocator run
over every request (controller/core/ipam.py), step by step through random histories: new, changed
and deleted requests, addresses recorded back as a controller does (all, some, or none), hand-written current
and requested addresses that contest another's, sharing keys, both families, pool edits."""

from __future__ import annotations

import ipaddress
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.core import ipam, ipam_delta, pools
from controller.core.ipam import Request
from controller.core.pools import Pool
from controller.core.problems import ObjectRef

IPS = [ipaddress.ip_address(f"10.0.0.{i}") for i in range(8)] + [ipaddress.ip_address(f"fd00::{i}") for i in range(4)]


def _pool(name: str, cidr: str, ns: tuple[str, ...] = (), auto: bool = True) -> Pool:
    return Pool(name, (pools.parse_range(cidr),), zone="k8s", auto_assign=auto, namespaces=frozenset(ns))


POOLS = [
    (_pool("a", "10.0.0.0/30"), _pool("b", "10.0.0.4/30"), _pool("v6", "fd00::/126")),
    (_pool("a", "10.0.0.0/30"), _pool("b", "10.0.0.4/30", ns=("x",)), _pool("v6", "fd00::/126")),
    (_pool("a", "10.0.0.0/31"), _pool("v6", "fd00::/126", auto=False)),
]

requests_st = st.builds(
    lambda name, ns, fams, pool, requested, key, ports, current, order, every: Request(
        ref=ObjectRef("Service", ns, name), namespace=ns, families=fams, pool=pool, requested=requested,
        sharing_key=key, ports=frozenset(("TCP", p) for p in ports), current=current, order=order,
        require_all_families=every),
    st.sampled_from(["s1", "s2", "s3", "s4", "s5", "s6"]), st.sampled_from(["x", "y"]),
    st.sampled_from([(4,), (4,), (4,), (6,), (4, 6)]), st.sampled_from([None, None, None, "a", "b", "v6", "zz"]),
    st.sampled_from([(), (), (), (IPS[1],), (IPS[5],), (IPS[9],)]), st.sampled_from([None, None, None, "k"]),
    st.sets(st.sampled_from([80, 443]), max_size=2),
    st.sampled_from([(), (), (IPS[0],), (IPS[1],), (IPS[4],), (IPS[8],), (IPS[2], IPS[9])]),
    st.sampled_from(["", "2026-01-01", "2026-01-02"]), st.booleans(),
)

step_st = st.tuples(
    st.lists(requests_st, max_size=3),  # new or replaced requests
    st.lists(st.sampled_from(["s1", "s2", "s3", "s4", "s5", "s6"]), max_size=2),  # deleted
    # The addresses found recorded back (status written) before the next compile: none, all, or the
    # echo of some (the rest still on its way, or their writes refused).
    st.one_of(st.booleans(), st.sets(st.sampled_from(["s1", "s2", "s3", "s4", "s5", "s6"]), min_size=1)),
    st.integers(0, len(POOLS) - 1),
)


def _problems(result: ipam.Result) -> list[tuple[object, ...]]:
    return sorted((p.ref, p.path, p.code, p.message, p.severity.value) for p in result.problems)


@settings(max_examples=300, deadline=None)
@given(st.lists(step_st, min_size=1, max_size=8), st.booleans())
def test_same_as_a_full_allocation_at_every_step(steps: list[tuple], assign_new: bool) -> None:
    live: dict[ObjectRef, Request] = {}
    last = None
    for new, deleted, recorded, pools_at in steps:
        for r in new:
            live[r.ref] = r
        for name in deleted:
            for ref in [ref for ref in live if ref.name == name]:
                del live[ref]
        requests = list(live.values())
        want = ipam.allocate(POOLS[pools_at], requests, assign_new=assign_new)
        got, last = ipam_delta.allocate(POOLS[pools_at], requests, assign_new=assign_new, pool_of={}, last=last)
        assert got.assignments == want.assignments
        assert _problems(got) == _problems(want)
        if recorded:  # the controller writes what it allocated; the next compile reads it as current
            for a in want.assignments:
                if recorded is True or a.ref.name in recorded:
                    live[a.ref] = replace(live[a.ref], current=a.addresses)


def _counting_runs(monkeypatch: pytest.MonkeyPatch, pool: tuple[Pool, ...], live: list[Request],
                   last: ipam_delta.Last | None) -> tuple[list[int], ipam.Result, ipam_delta.Last]:
    """ipam_delta.allocate, with how many requests each run of the rules was given."""
    ran: list[int] = []
    real = ipam.run
    monkeypatch.setattr(ipam, "run", lambda alloc, ordered, assign_new: ran.append(len(ordered)) or real(
        alloc, ordered, assign_new))
    got, last = ipam_delta.allocate(pool, live, assign_new=True, pool_of={}, last=last)
    return ran, got, last


def test_a_settled_estate_reruns_only_the_changed_request(monkeypatch: pytest.MonkeyPatch) -> None:
    pool = (_pool("a", "10.0.0.0/24"),)
    live = [Request(ref=ObjectRef("Service", "x", f"s{i}"), namespace="x", order=f"{i:03}") for i in range(50)]
    first = ipam.allocate(pool, live)
    live = [replace(r, current=a.addresses) for r, a in zip(live, first.assignments, strict=True)]
    _, last = ipam_delta.allocate(pool, live, assign_new=True, pool_of={}, last=None)
    assert len(last.settled) == 50
    live[7] = replace(live[7], ports=frozenset({("TCP", 80)}))
    live.append(Request(ref=ObjectRef("Service", "x", "new"), namespace="x", order="999"))
    ran, got, last = _counting_runs(monkeypatch, pool, live, last)
    assert ran == [2]
    assert got == ipam.allocate(pool, live)


def test_sharers_of_a_settled_address_are_all_counted() -> None:
    pool = (_pool("a", "10.0.0.0/30"),)

    def sharer(name: str, port: int, order: str, *current: ipaddress.IPv4Address) -> Request:
        return Request(ref=ObjectRef("Service", "x", name), namespace="x", sharing_key="k",
                       ports=frozenset({("TCP", port)}), current=current, order=order)

    live = [sharer("s1", 80, "1", IPS[0]), sharer("s2", 443, "2", IPS[0])]
    _, last = ipam_delta.allocate(pool, live, assign_new=True, pool_of={}, last=None)
    live.append(sharer("s3", 80, "3"))  # may join a sharer: not s1 and s2's address, whose port 80 is used
    got, _ = ipam_delta.allocate(pool, live, assign_new=True, pool_of={}, last=last)
    want = ipam.allocate(pool, live)
    assert got.assignments == want.assignments
    assert _problems(got) == _problems(want)


def test_a_dual_stack_request_content_with_one_family_draws_the_other_once_free() -> None:
    pool = (_pool("a", "10.0.0.0/30"), _pool("v6", "fd00::/127"))
    taker = Request(ref=ObjectRef("Service", "x", "taker"), namespace="x", families=(6,), current=(IPS[8],),
                    order="1")
    other = Request(ref=ObjectRef("Service", "x", "other"), namespace="x", families=(6,), current=(IPS[9],),
                    order="2")
    dual = Request(ref=ObjectRef("Service", "x", "dual"), namespace="x", families=(4, 6), current=(IPS[0],),
                   require_all_families=False, order="3")
    _, last = ipam_delta.allocate(pool, [taker, other, dual], assign_new=True, pool_of={}, last=None)
    live = [other, dual]  # taker deleted: its IPv6 address is free again
    got, _ = ipam_delta.allocate(pool, live, assign_new=True, pool_of={}, last=last)
    assert got.assignments == ipam.allocate(pool, live).assignments
    assert IPS[8] in got.assignments[0].addresses


def test_the_echo_of_new_allocations_reruns_only_what_is_not_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    pool = (_pool("a", "10.0.0.0/24"),)
    live = [Request(ref=ObjectRef("Service", "x", f"s{i}"), namespace="x", order=f"{i:03}") for i in range(50)]
    first, last = ipam_delta.allocate(pool, live, assign_new=True, pool_of={}, last=None)
    assert not last.settled and len(last.pending) == 50  # new: settled once recorded
    given = {a.ref: a.addresses for a in first.assignments}
    live = [replace(r, current=given[r.ref]) for r in live]
    live[3] = replace(live[3], current=())  # its status write is still on its way
    ran, got, last = _counting_runs(monkeypatch, pool, live, last)
    assert ran == [1]  # the one not recorded yet
    assert got == ipam.allocate(pool, live)
    assert len(last.settled) == 49 and list(last.pending) == [live[3].ref]
