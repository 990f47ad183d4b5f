"""Which destination addresses a virtual router sends into which zone: the forwarding table
painted onto the address space (longest prefix wins), so a NAT rule's destination zone can be
written as plain address sets instead of a kernel route lookup."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from tests.e2e.twin import fib
from tests.e2e.twin.model import IP, AddrRange, Device, VirtualRouter

# (first, last, (zone, interface) or None) over integers of one family, sorted, disjoint
Painted = list[tuple[int, int, tuple[str, str] | None]]


def _paint(intervals: Painted, first: int, last: int, value: tuple[str, str] | None) -> Painted:
    out: Painted = []
    for a, b, v in intervals:
        if b < first or a > last:
            out.append((a, b, v))
            continue
        if a < first:
            out.append((a, first - 1, v))
        if b > last:
            out.append((last + 1, b, v))
    out.append((first, last, value))
    return sorted(out)


def painted(device: Device, vr: VirtualRouter, version: int, down: frozenset[IP] = frozenset()) -> Painted:
    top = (1 << (32 if version == 4 else 128)) - 1
    intervals: Painted = [(0, top, None)]
    routes = [i for i in fib.table(vr, down) if i.destination.version == version]
    for inst in sorted(routes, key=lambda i: i.destination.prefixlen):
        value = None
        if not inst.discard:
            zone = device.zone_of(inst.hops[0].interface)
            value = None if zone is None else (zone, inst.hops[0].interface)
        net = inst.destination
        intervals = _paint(intervals, int(net.network_address), int(net.broadcast_address), value)
    return intervals


def routed_into(device: Device, vr: VirtualRouter, ranges: tuple[AddrRange, ...], *, zone: str | None,
                interface: str | None, down: frozenset[IP] = frozenset()) -> tuple[AddrRange, ...]:
    """The parts of `ranges` whose route leaves into `zone` (None: any zone) through `interface`
    (None: any interface)."""
    out: list[AddrRange] = []
    cache: Mapping[int, Painted] = {v: painted(device, vr, v, down) for v in (4, 6)}
    for r in ranges:
        lo, hi = int(r.first), int(r.last)
        for a, b, v in cache[r.version]:
            if v is None or b < lo or a > hi:
                continue
            if zone is not None and v[0] != zone:
                continue
            if interface is not None and v[1] != interface:
                continue
            mk = ipaddress.IPv4Address if r.version == 4 else ipaddress.IPv6Address
            out.append(AddrRange(mk(max(a, lo)), mk(min(b, hi))))
    return tuple(out)
