"""The Builder's merge of a compile's fragments (controller/core/rule_builder.py, Builder.merge)
builds what applying them one by one, in order, builds: the first fragment to name an object
describes it, a VIP's object is made once by the first Service that names it, and whenever a VIP's
object and a described one share a name the merge declines (the caller then applies in order)."""

from __future__ import annotations

import ipaddress
import itertools
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from controller.core.rule_builder import Builder, Fragment
from controller.core.rule_parts import combine
from firewall.model import AddressObject, Owner

IPS = [ipaddress.ip_address(f"10.0.0.{i}") for i in range(1, 5)]
NAMES = [f"a-10.0.0.{i}" for i in range(1, 7)]  # the first four are also the VIPs' object names


def vip_object(calls: list[tuple[Any, Any]]) -> Any:
    made: dict[Any, AddressObject] = {}

    def vip(svc: str, ip: Any) -> AddressObject:
        calls.append((svc, ip))
        if ip not in made:  # as vip_objects: one object per VIP, from the first Service that asks
            made[ip] = AddressObject(f"a-{ip}", f"{ip}/32", description=f"vip of {svc}",
                                     owner=Owner("Service", svc.split("/")[0], svc, "u", 1))
        return made[ip]
    return vip


def fragment(draw: Any) -> Fragment:
    names = draw(st.lists(st.sampled_from(NAMES), max_size=3, unique=True))
    addresses = tuple((n, AddressObject(n, "x", description=draw(st.sampled_from("xyz")),
                                        owner=Owner("NATRule", "ns", "n", "u", 1))) for n in names)
    ports = draw(st.lists(st.sampled_from([("TCP", 443), ("TCP", 80), ("UDP", 53)]), max_size=2, unique=True))
    services = tuple((f"svc-{p.lower()}-{n}", (p, n)) for p, n in ports)
    vips = draw(st.dictionaries(st.sampled_from(IPS), st.sampled_from(["shop/web", "blog/web", "shop/api"]),
                                max_size=2))
    namespaces = frozenset(draw(st.sets(st.sampled_from(["shop", "blog", "ops"]), max_size=2)))
    return Fragment((), addresses, services, tuple((f"a-{ip}", (ip, svc)) for ip, svc in vips.items()), namespaces, ())


@settings(max_examples=500, deadline=None)
@given(st.lists(st.composite(fragment)(), max_size=8), st.booleans())
def test_a_merge_builds_what_applying_in_order_builds(frags: list[Fragment], vips_only: bool) -> None:
    if vips_only:  # no described object may be named like a VIP's: the merge always applies
        frags = [Fragment((), tuple(a for a in f.addresses if a[0] in NAMES[4:]), f.services, f.vips,
                          f.namespaces, ()) for f in frags]
    in_order, merged = Builder("bmlb"), Builder("bmlb")
    first_calls: list[tuple[Any, Any]] = []
    for f in frags:
        in_order.apply(f, vip_object(first_calls))
    merged_calls: list[tuple[Any, Any]] = []
    if not merged.merge(frags, vip_object(merged_calls)):
        assert not vips_only
        assert any(a[0] == name for f in frags for a in f.addresses for g in frags for name, _ in g.vips)
        assert merged.addresses == {} and merged.services == {} and merged.namespaces == set()
        return
    assert merged.addresses == in_order.addresses
    assert merged.services == in_order.services
    assert merged.namespaces == in_order.namespaces
    assert merged.build() == in_order.build()
    # Each VIP's object came from the Service that named it first.
    firsts = {ip: svc for svc, ip in reversed(first_calls)}
    assert {ip: svc for svc, ip in merged_calls} == firsts


@settings(max_examples=300, deadline=None)
@given(st.lists(st.composite(fragment)(), max_size=10), st.lists(st.integers(0, 10), max_size=4))
def test_runs_combined_first_merge_as_their_fragments_do(frags: list[Fragment], cuts: list[int]) -> None:
    """rule_parts.combine of each run of consecutive fragments (a namespace's), merged in order, is
    the fragments merged: the first to name an object still describes it."""
    bounds = sorted({0, len(frags), *(min(c, len(frags)) for c in cuts)})
    runs = [combine(frags[a:b]) for a, b in itertools.pairwise(bounds)]
    whole, parts = Builder("bmlb"), Builder("bmlb")
    ok = whole.merge(frags, vip_object([]))
    assert parts.merge(runs, vip_object([])) == ok
    assert (parts.addresses, parts.services, parts.namespaces) == (whole.addresses, whole.services, whole.namespaces)
