"""Routed mode: the firewall routes each VIP to the nodes that can serve it (ECMP).

A node can serve when its agent's Lease is fresh, the Node is Ready and not cordoned; with
`externalTrafficPolicy: Local`, only nodes with a ready local endpoint. A VIP whose healthy set
becomes empty keeps its last routes (a flapping Lease never withdraws the last route), and the
Service says so.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from controller import naming
from controller.dataplane import endpoints_by_service
from controller.ipam import Assignment
from controller.problems import Problem
from controller.services import LBService, warn
from controller.snapshot import LEASE_PREFIX, Snapshot
from firewall.model import Owner, StaticRoute


@dataclass(frozen=True, slots=True)
class NodeInfo:
    name: str
    address: str | None  # InternalIP (the next hop)
    healthy: bool
    why: str = ""


def _time(raw: str | None) -> float | None:
    if not raw:
        return None
    try:
        return dt.datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


ADDRESS_ANNOTATION = "bmlb.io/node-address"


def node_health(snapshot: Snapshot) -> dict[str, NodeInfo]:
    """Every node known from a Node object or an agent Lease, with its next-hop address and
    whether it can serve. Leases are judged only when the snapshot carries a clock."""
    leases = {str(b["metadata"]["name"]).removeprefix(LEASE_PREFIX): b for b in snapshot.leases}
    judge = snapshot.now is not None and bool(leases)
    out: dict[str, NodeInfo] = {}
    bodies = list(snapshot.nodes)
    known = {str((b.get("metadata") or {}).get("name")) for b in bodies}
    bodies += [{"metadata": {"name": n}} for n in sorted(leases) if n not in known]
    for body in bodies:
        meta, spec, status = body.get("metadata") or {}, body.get("spec") or {}, body.get("status") or {}
        name = str(meta.get("name"))
        addrs = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
        lease_meta = (leases.get(name) or {}).get("metadata") or {}
        address = (addrs.get("InternalIP") or addrs.get("ExternalIP")
                   or (lease_meta.get("annotations") or {}).get(ADDRESS_ANNOTATION))
        ready = next((c.get("status") for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
        why = ""
        if spec.get("unschedulable"):
            why = "cordoned"
        elif ready == "False" or ready == "Unknown":
            why = "NotReady"
        elif judge:
            lease = leases.get(name)
            lspec = (lease or {}).get("spec") or {}
            renewed = _time(lspec.get("renewTime"))
            duration = float(lspec.get("leaseDurationSeconds") or 10)
            if renewed is None or renewed + duration < (snapshot.now or 0):
                why = "agent Lease expired"
        out[name] = NodeInfo(name, address, not why, why)
    return out


def build_routes(
    *,
    snapshot: Snapshot,
    services: Sequence[LBService],
    vips: Mapping[object, Assignment],
    virtual_router: str,
    metric: int,
    ecmp: bool,
) -> tuple[tuple[StaticRoute, ...], dict[str, tuple[str, ...]], list[Problem]]:
    nodes = node_health(snapshot)
    last = dict(snapshot.last_routes)
    eps = endpoints_by_service(snapshot.endpoint_slices)
    routes: list[StaticRoute] = []
    chosen: dict[str, tuple[str, ...]] = {}
    problems: list[Problem] = []
    for svc in sorted(services, key=lambda s: s.ref):
        a = vips.get(svc.ref)
        if a is None:
            continue
        local_nodes = None
        if svc.spec.external_traffic_policy == "Local":
            local_nodes = {ep.node_name for ep, _ in eps.get((svc.namespace, svc.name), [])
                           if ep.conditions.ready is not False and not ep.conditions.terminating}
        owner = Owner("Service", svc.namespace, svc.name, svc.uid, svc.generation)
        for ip in a.addresses:
            key = str(ip)
            if key in chosen:
                continue  # a shared VIP: one route set
            healthy = sorted(n.name for n in nodes.values() if n.healthy and n.address
                             and ipaddress.ip_address(n.address).version == ip.version
                             and (local_nodes is None or n.name in local_nodes))
            if not healthy and last.get(key):
                kept = tuple(n for n in last[key] if n in nodes and nodes[n].address)
                if kept:
                    problems.append(warn(svc.ref, "status.loadBalancer", "NoHealthyNode",
                                         f"no healthy node can serve {ip} ("
                                         + "; ".join(f"{n.name}: {n.why or 'no local endpoint'}"
                                                     for n in nodes.values())
                                         + f"); keeping the last routes via {', '.join(kept)}"))
                    healthy = list(kept)
            if not ecmp:
                healthy = healthy[:1]
            chosen[key] = tuple(healthy)
            for n in healthy:
                routes.append(StaticRoute(
                    name=naming.name("route", ip=key, node=n), virtual_router=virtual_router,
                    destination=f"{ip}/{ip.max_prefixlen}", nexthop=nodes[n].address, metric=metric, owner=owner))
    return tuple(sorted(routes, key=lambda r: r.name)), chosen, problems

