"""The audit's routes: bmlb's static routes on a firewall, the VIP or pool each serves, the node
behind the next hop and whether that node is healthy (controller/core/audit.py reports them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from controller.core import intervals, leases
from controller.core.audit_inputs import ingress, ip_of, items, mapping, meta_of, parse_owner
from controller.core.snapshot import LEASE_PREFIX, Snapshot
from firewall.model import DesiredFirewall


@dataclass(frozen=True, slots=True)
class RouteRow:
    name: str
    virtual_router: str
    destination: str
    nexthop: str
    serves: str  # "Service ns/name" or "VIPPool name" ("-": unknown)
    node: str  # the node whose address is the next hop ("" when none)
    healthy: bool
    why: str  # why not healthy


def pool_ranges(snapshot: Snapshot) -> list[tuple[str, str, tuple[int, int]]]:
    """(pool, zone, interval) for each address range of each VIPPool."""
    out = []
    for pool in snapshot.pools:
        spec = mapping(pool.get("spec"))
        for text in items(spec.get("addresses")):
            if isinstance(text, str) and (iv := intervals.ip_interval(text)):
                out.append((str(meta_of(pool).get("name") or ""), str(spec.get("zone") or ""), iv))
    return out


def _node_health(snapshot: Snapshot) -> dict[str, tuple[str, bool, str]]:
    """Node address -> (node, healthy, why not)."""
    fresh: dict[str, bool] = {}
    for lease in snapshot.leases:
        meta, spec = meta_of(lease), mapping(lease.get("spec"))
        name = str(meta.get("name") or "")
        if meta.get("namespace") == snapshot.lease_namespace and name.startswith(LEASE_PREFIX):
            fresh[name[len(LEASE_PREFIX):]] = snapshot.now is not None and leases.is_fresh(
                spec.get("renewTime"), spec.get("leaseDurationSeconds"), snapshot.now)
    out = {}
    for node in snapshot.nodes:
        name = str(meta_of(node).get("name") or "")
        status = mapping(node.get("status"))
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in items(status.get("conditions"))
                    if isinstance(c, Mapping))
        why = "" if ready else "node not Ready"
        if snapshot.now is not None and not fresh.get(name, False):
            why = why or "agent Lease expired or missing"
        for a in items(status.get("addresses")):
            if isinstance(a, Mapping) and a.get("type") == "InternalIP" and a.get("address"):
                out[str(a["address"])] = (name, not why, why)
    return out


def routes(actual: DesiredFirewall, snapshot: Snapshot) -> list[RouteRow]:
    health = _node_health(snapshot)
    by_vip: dict[str, str] = {}
    for svc in snapshot.services:
        for ip in ingress(svc):
            by_vip[ip] = f"Service {meta_of(svc).get('namespace')}/{meta_of(svc).get('name')}"
    for a in actual.addresses:
        owner = parse_owner(a.description)
        if owner is not None and owner.kind == "Service" and (ip := ip_of(a)):
            by_vip.setdefault(ip, f"Service {owner.namespace}/{owner.name}")
    pools = pool_ranges(snapshot)
    out = []
    for r in actual.static_routes:
        iv = intervals.ip_interval(r.destination)
        host = r.destination.split("/", 1)[0]
        serves = by_vip.get(host) if iv and iv[0] == iv[1] else None
        if serves is None and iv:
            serves = next((f"VIPPool {p}" for p, _, (lo, hi) in pools if lo <= iv[0] and iv[1] <= hi), "-")
        node, healthy, why = health.get(r.nexthop or "", ("", False, "the next hop is no node's address"))
        out.append(RouteRow(r.name, r.virtual_router, r.destination, r.nexthop or r.interface or "-", serves or "-",
                            node, healthy, why))
    return sorted(out, key=lambda x: (x.destination, x.nexthop))
