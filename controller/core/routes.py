"""Routed mode: the firewall routes VIPs to the nodes that can serve them (static routes, ECMP).

- **Aggregate routes.** With `externalTrafficPolicy: Cluster` every healthy node serves every VIP,
  so each Service pool's CIDRs are routed, not each VIP: a new Service needs no route change and
  the route count is O(pools x pieces x maxPaths). Each CIDR is cut into `routing.split` pieces
  (sub-prefixes), each routed to its own `ecmp.maxPaths` nodes chosen by rendezvous hashing, so
  more nodes than maxPaths share the load and a node change moves only that node's pieces.
- **Per-VIP routes** only for VIPs with a Local Service: to the nodes that can serve *every*
  Service on the VIP (a ready local endpoint of the VIP's family for each Local Service; any
  healthy node for a Cluster one), again at most maxPaths of them.
- **Families.** A node keeps one next hop per family (InternalIP, else ExternalIP, else its
  agent's Lease annotation); an IPv4 destination routes only to IPv4 next hops, IPv6 to IPv6.
- **Health** (controller/core/nodes.py). A node can serve when its agent's Lease (in the lease namespace only) is fresh,
  the Node is Ready and not cordoned. A destination whose candidates become empty keeps its last
  routes (a flapping Lease never withdraws the last route), and says so.
- **Trust.** Next hops come only from Node objects or the lease namespace's agent Leases; Leases
  count only for existing Nodes, except in lease-only mode (no Node objects at all). A malformed
  address is a problem on that Node or Lease; the node is simply not a next hop.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from controller.core import naming, specs
from controller.core.ipam import Assignment
from controller.core.nodes import NodeInfo, node_view
from controller.core.pools import IPAddress, Pool
from controller.core.problems import ObjectRef, Problem
from controller.core.reasons import Code
from controller.core.services import LBService, warn
from controller.core.slices import Slice
from controller.core.snapshot import Body, Snapshot
from firewall.model import Owner, PathMonitor, StaticRoute

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
LastRoutes = Mapping[str, tuple[str, ...]]


def local_nodes(slices: Iterable[Slice]) -> dict[tuple[str, str, int], set[str]]:
    """(namespace, Service, IP version) -> nodes with a ready, not terminating endpoint of that family."""
    out: dict[tuple[str, str, int], set[str]] = {}
    for s in slices:
        for ep in s.endpoints or ():
            if ep is None or not ep.ready or not ep.node_name:
                continue
            versions = {s.family} if s.family else {v for a in ep.addresses if (v := _version(a))}
            for v in versions:
                out.setdefault((s.namespace, s.service, v), set()).add(ep.node_name)
    return out


def _version(raw: str) -> int | None:
    try:
        return ipaddress.ip_address(raw).version
    except ValueError:
        return None


def rendezvous(destination: str, candidates: Iterable[str], k: int) -> tuple[str, ...]:
    """The k candidates with the highest hash of (destination, node): a node joining or leaving
    changes only the destinations it is (or becomes) among the top k of."""
    def score(node: str) -> bytes:
        return hashlib.sha256(f"{destination}\0{node}".encode()).digest()
    return tuple(sorted(sorted(candidates, key=score, reverse=True)[:k]))


def pieces(net: Network, split: int) -> list[Network]:
    """`net` cut into `split` (a power of two) equal sub-prefixes, or single addresses if smaller."""
    extra = min(max(split, 1).bit_length() - 1, net.max_prefixlen - net.prefixlen)
    return list(net.subnets(prefixlen_diff=extra)) if extra else [net]


def pool_networks(pool: Pool) -> list[Network]:
    out: list[Network] = []
    for r in pool.ranges:
        out += ipaddress.summarize_address_range(r.first, r.last)  # type: ignore[arg-type]
    return out


@dataclass(frozen=True, slots=True)
class _Destination:
    network: Network
    candidates: tuple[str, ...]
    owner: Owner
    refs: tuple[ObjectRef, ...]  # who hears about it when no node can serve
    route_key: str  # the `ip` of the route's name


def build_routes(
    *,
    snapshot: Snapshot,
    services: Sequence[LBService],
    vips: Mapping[object, Assignment],
    pools: Sequence[Pool],
    routing: specs.Routing,
    firewall: ObjectRef,
    slices: Sequence[Slice],
) -> tuple[tuple[StaticRoute, ...], dict[str, tuple[str, ...]], list[Problem]]:
    """The static routes of one firewall, the nodes each destination (CIDR) is routed to, and
    the problems found."""
    nodes, problems = node_view(snapshot)
    last: LastRoutes = dict(snapshot.last_routes)
    any_local = any(s.spec.external_traffic_policy == "Local" for s in services)
    locals_ = local_nodes(slices) if any_local else {}
    destinations = [*_pool_destinations(snapshot, pools, routing, nodes),
                    *_vip_destinations(services, vips, locals_, nodes, problems)]
    # A per-VIP route never shares its destination with a pool piece (a /32 piece of a small pool):
    # both would form one ECMP group on the device.
    per_vip = {d.network for d in destinations if d.owner.kind == "Service"}
    destinations = [d for d in destinations if d.owner.kind == "Service" or d.network not in per_vip]
    routes: list[StaticRoute] = []
    chosen: dict[str, tuple[str, ...]] = {}
    for d in destinations:
        key = str(d.network)
        picked = rendezvous(key, d.candidates, routing.ecmp.max_paths)
        if not picked and (kept := _still_there(last, nodes, key, d.network.version)):
            why = "; ".join(f"{n.name}: {n.why or _unfit(n, d.network.version)}" for n in nodes.values())
            for ref in d.refs:
                problems.append(warn(ref, "status" if ref.kind == "VIPPool" else "status.loadBalancer",
                                     Code.NoHealthyNode, f"no healthy node can serve {key} ({why or 'no nodes'}"
                                     f"); keeping the last routes via {', '.join(kept)}"))
            picked = kept
        chosen[key] = picked
        routes += _emit(d, picked, nodes, routing)
    monitored = sum(1 for r in routes if r.monitor is not None)
    limit = routing.path_monitor.max_monitored_routes
    if monitored > limit:
        problems.append(Problem(firewall, "spec.routing.pathMonitor.maxMonitoredRoutes", Code.TooManyMonitoredRoutes,
                                f"{monitored} path-monitored static routes exceed the device limit of {limit}: "
                                "only the routes already there are kept; lower ecmp.maxPaths or split, "
                                "or use fewer Local Services"))
        routes, chosen = [], {}
        for d in destinations:
            if kept := _still_there(last, nodes, str(d.network), d.network.version):
                chosen[str(d.network)] = kept
                routes += _emit(d, kept, nodes, routing)
    return tuple(sorted(routes, key=_route_order)), chosen, problems


def _healthy(nodes: Mapping[str, NodeInfo], version: int) -> set[str]:
    return {n.name for n in nodes.values() if n.healthy and n.address(version) is not None}


def _pool_destinations(snapshot: Snapshot, pools: Sequence[Pool], routing: specs.Routing,
                       nodes: Mapping[str, NodeInfo]) -> list[_Destination]:
    """Each pool's aggregate pieces, to the healthy nodes of its family."""
    out: list[_Destination] = []
    for pool in sorted(pools, key=lambda p: p.name):
        uid, gen = _uid(snapshot.pools, pool.name)
        owner = Owner("VIPPool", "", pool.name, uid, gen)
        for net in pool_networks(pool):
            for piece in pieces(net, routing.split):
                out.append(_Destination(piece, tuple(sorted(_healthy(nodes, piece.version))), owner,
                                        (ObjectRef("VIPPool", "", pool.name),), str(piece)))
    return out


def _vip_destinations(services: Sequence[LBService], vips: Mapping[object, Assignment],
                      locals_: Mapping[tuple[str, str, int], set[str]], nodes: Mapping[str, NodeInfo],
                      problems: list[Problem]) -> list[_Destination]:
    """A host route per VIP of a Local Service, to the healthy nodes with a ready local endpoint
    of every Local Service sharing it (Cluster-only VIPs ride on their pool's route)."""
    out: list[_Destination] = []
    on_vip: dict[IPAddress, list[LBService]] = {}
    for svc in sorted(services, key=lambda s: s.ref):
        a = vips.get(svc.ref)
        for ip in a.addresses if a is not None else ():
            on_vip.setdefault(ip, []).append(svc)
    for ip, sharing in sorted(on_vip.items(), key=lambda kv: (kv[0].version, kv[0])):
        local = [s for s in sharing if s.spec.external_traffic_policy == "Local"]
        if not local:
            continue  # Cluster only: the pool's aggregate route covers it
        can = _healthy(nodes, ip.version)
        each = [can & locals_.get((s.namespace, s.name, ip.version), set()) for s in local]
        for c in each:
            can &= c
        first = local[0]
        if len(sharing) > 1 and not can and all(each):
            for s in local:
                problems.append(warn(s.ref, "status.loadBalancer", Code.NoCommonNode,
                                     f"VIP {ip} is shared by {', '.join(str(x.ref) for x in sharing)}, but no "
                                     "healthy node can serve all of them (externalTrafficPolicy Local needs a ready "
                                     "local endpoint of each Local Service on one node)"))
        out.append(_Destination(
            ipaddress.ip_network(f"{ip}/{ip.max_prefixlen}"), tuple(sorted(can)),
            Owner("Service", first.namespace, first.name, first.uid, first.generation),
            tuple(s.ref for s in local), str(ip)))
    return out


def _emit(d: _Destination, picked: tuple[str, ...], nodes: Mapping[str, NodeInfo],
          routing: specs.Routing) -> list[StaticRoute]:
    out = []
    for n in picked:
        hop = nodes[n].address(d.network.version)
        out.append(StaticRoute(
            name=naming.name("route", ip=d.route_key, node=n), virtual_router=routing.virtual_router,
            destination=str(d.network), nexthop=str(hop), metric=routing.metric, owner=d.owner,
            monitor=_monitor(routing.path_monitor, hop)))
    return out


def _still_there(last: LastRoutes, nodes: Mapping[str, NodeInfo], key: str, version: int) -> tuple[str, ...]:
    """The nodes last routed to for `key` that still exist with an address of that family."""
    return tuple(n for n in last.get(key, ()) if n in nodes and nodes[n].address(version))


def _route_order(r: StaticRoute) -> tuple[int, int, int, str]:
    net = ipaddress.ip_network(r.destination)
    return net.version, int(net.network_address), net.prefixlen, r.name


def _unfit(node: NodeInfo, version: int) -> str:
    return "no local endpoint" if node.address(version) else f"no IPv{version} address"


def _monitor(cfg: specs.PathMonitorSpec, hop: IPAddress | None) -> PathMonitor | None:
    if not cfg.enabled or hop is None:
        return None
    return PathMonitor(destination=str(hop), interval=cfg.interval_seconds, count=cfg.count,
                       hold_time=cfg.hold_time_minutes, source=cfg.source)


def _uid(bodies: Iterable[Body], name: str) -> tuple[str, int]:
    for b in bodies:
        meta = b.get("metadata") or {}
        if isinstance(meta, Mapping) and meta.get("name") == name:
            gen = meta.get("generation")
            return str(meta.get("uid") or ""), gen if isinstance(gen, int) and not isinstance(gen, bool) else 0
    return "", 0
