"""The routes a PAN-OS virtual router installs (its forwarding table), from its connected and
static routes.

PAN-OS admin guide, "Static Routes" / "Static Route Removal Based on Path Monitoring" / "ECMP"
(docs.paloaltonetworks.com/pan-os/10-2/pan-os-networking-admin/static-routes,
.../ecmp), and the web interface help "Network > Virtual Routers > Static Routes":
- a connected route (admin distance 0) exists for each interface address; static routes have an
  admin distance (default 10) and a metric (default 10);
- for one destination prefix the route with the lowest admin distance, then the lowest metric,
  is installed; lookups then take the longest matching prefix;
- with ECMP enabled (virtual-router `ecmp/enable`, `max-path` 2-4, default 2) up to max-path
  equal-cost routes to the same prefix are installed together; with ECMP off only one is (the
  twin keeps the first in configuration order: which one PAN-OS keeps is not documented);
- a static route whose next hop is not on a connected subnet of the router is not installed;
  `route-table no-install` routes are not installed;
- path monitoring: a static route whose monitored destinations fail (`failure-condition` any:
  one fails; all: every one fails) is removed from the table, without a commit, and comes back
  when they answer again. The twin does not ping by itself: callers pass the set of monitored
  destinations that are down (see apply.probe, which pings them from the twin's namespace).
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass

from tests.e2e.twin.model import IP, Net, Route, VirtualRouter


@dataclass(frozen=True, slots=True)
class NextHop:
    interface: str  # PAN-OS interface name
    via: IP | None  # None: on-link


@dataclass(frozen=True, slots=True)
class Installed:
    """One prefix of the forwarding table."""

    destination: Net
    hops: tuple[NextHop, ...]  # empty when discard
    discard: bool = False
    connected: bool = False
    admin_dist: int = 0
    metric: int = 0


def _interface(vr: VirtualRouter, route: Route, connected: list[Route]) -> str | None:
    """The interface a route leaves through, or None when it cannot be installed."""
    if route.interface:
        if route.interface not in vr.interfaces:
            return None
        if route.nexthop is None:
            return route.interface
        on_link = any(route.nexthop in c.destination for c in connected if c.interface == route.interface)
        return route.interface if on_link else None
    if route.nexthop is None:
        return None
    for c in connected:
        if route.nexthop in c.destination:
            return c.interface
    return None


@functools.lru_cache(maxsize=64)  # values are immutable; evaluate() looks up twice per packet
def table(vr: VirtualRouter, down: frozenset[IP] = frozenset()) -> tuple[Installed, ...]:
    """The installed routes, one per prefix, sorted by prefix."""
    connected = [r for r in vr.routes if r.connected]
    best: dict[Net, list[tuple[Route, str | None]]] = {}
    for r in vr.routes:
        if r.monitor is not None and r.monitor.failed(down):
            continue
        iface = None if r.discard else (r.interface if r.connected else _interface(vr, r, connected))
        if iface is None and not r.discard:
            continue
        best.setdefault(r.destination, []).append((r, iface))
    out = []
    for dest, cands in best.items():
        top = min((r.admin_dist, r.metric) for r, _ in cands)
        equal = [(r, i) for r, i in cands if (r.admin_dist, r.metric) == top]
        first, _ = equal[0]
        if first.discard:
            out.append(Installed(dest, (), discard=True, admin_dist=top[0], metric=top[1]))
            continue
        hops: list[NextHop] = []
        for r, i in equal:
            if r.discard or i is None:
                continue
            hop = NextHop(i, r.nexthop)
            if hop not in hops:
                hops.append(hop)
        hops = hops[: max(vr.ecmp_max_path, 1)]
        out.append(Installed(dest, tuple(hops), connected=first.connected, admin_dist=top[0], metric=top[1]))
    return tuple(sorted(out, key=lambda i: (i.destination.version, i.destination)))  # type: ignore[operator]


def lookup(vr: VirtualRouter, dst: IP, down: frozenset[IP] = frozenset()) -> Installed | None:
    """Longest-prefix match of `dst` in the installed table."""
    found = [i for i in table(vr, down) if i.destination.version == dst.version and dst in i.destination]
    return max(found, key=lambda i: i.destination.prefixlen, default=None)


def ip(text: str | IP) -> IP:
    return ipaddress.ip_address(text) if isinstance(text, str) else text
