"""A test-side oracle for routed mode: which destinations the firewall must route to which nodes,
from the manifests alone (never bmlb's compiler or its route names), written from README
"Reaching the VIPs: routed mode" and the Firewall CRD's `spec.routing`:
  - mode routed (default); routes in `virtualRouter` (default "default"), metric `metric` (10);
  - every CIDR of every Service pool (ranges summarised into CIDRs) cut into `split` (8) equal
    sub-prefixes (single addresses when smaller), each routed to min(`ecmp.maxPaths` (2),
    candidates) distinct healthy nodes; which ones is the controller's (rendezvous) choice, so
    the oracle checks the count and that each is a candidate, not the pick;
  - a VIP (status ingress) of an externalTrafficPolicy Local Service: a /32 (/128) to the healthy
    nodes with a ready, not terminating local endpoint of the VIP's family for every Local
    Service on that VIP; it replaces a pool sub-prefix with the same destination;
  - a healthy node: Node Ready not False/Unknown, not cordoned, and, once agents keep Leases
    (any `bmlb-node-<node>` Lease for an existing Node in the lease namespace), a fresh Lease
    (renewTime + leaseDurationSeconds in the future); with no Node objects the Leases are the nodes;
  - a node's next hop per family: InternalIP, else ExternalIP, else its Lease's
    `bmlb.io/node-address` (comma-separated); IPv4 destinations to IPv4 hops, IPv6 to IPv6;
    unspecified, multicast, loopback and link-local addresses are no next hop;
  - a destination with no candidate keeps its last routes: any known node address of its family
    is accepted there, at most maxPaths of them;
  - path monitoring (pathMonitor.enabled, default true) pings the route's own next hop.
Device routes are bmlb's static-route entries (names starting "bmlb-", the only mark a route can
carry), compared by destination, next hop, interface, metric and monitored destination.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

LEASE_PREFIX = "bmlb-node-"
ADDRESS_ANNOTATION = "bmlb.io/node-address"


@dataclass(frozen=True)
class Want:
    hops: frozenset[str]  # the candidates' next hops of the destination's family
    count: int  # how many routes the destination must have
    sticky: frozenset[str] = frozenset()  # no candidate: routes kept to any of these are fine


@dataclass(frozen=True)
class Routing:
    mode: str = "routed"
    virtual_router: str = "default"
    max_paths: int = 2
    metric: int = 10
    split: int = 8
    monitor: bool = True

    @classmethod
    def of(cls, firewall: dict[str, Any] | None) -> Routing:
        spec = (firewall or {}).get("spec") or {}
        r = spec.get("routing") or {}
        mode = "none" if spec.get("type") == "panorama" else r.get("mode", "routed")
        return cls(mode, r.get("virtualRouter", "default"), int((r.get("ecmp") or {}).get("maxPaths", 2)),
                   int(r.get("metric", 10)), int(r.get("split", 8)),
                   bool((r.get("pathMonitor") or {}).get("enabled", True)))


def _hop(raw: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(str(raw).strip())
    except ValueError:
        return None
    if ip.is_unspecified or ip.is_multicast or ip.is_loopback or ip.is_link_local:
        return None
    return ip


def _fresh(lease: dict[str, Any], now: float) -> bool:
    spec = lease.get("spec") or {}
    renew, duration = spec.get("renewTime"), spec.get("leaseDurationSeconds")
    if not renew or not isinstance(duration, int | float) or isinstance(duration, bool) or duration <= 0:
        return False
    if isinstance(renew, dt.datetime):
        when = renew.timestamp() if renew.tzinfo else renew.replace(tzinfo=dt.UTC).timestamp()
    else:
        parsed = dt.datetime.fromisoformat(str(renew).replace("Z", "+00:00"))
        when = (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).timestamp()
    return now < when + duration


def node_hops(nodes: list[dict[str, Any]], leases: list[dict[str, Any]], now: float
              ) -> tuple[dict[str, dict[int, str]], set[str]]:
    """Every node's next hop per family, and the healthy nodes."""
    by_node = {str(le["metadata"]["name"])[len(LEASE_PREFIX):]: le for le in leases
               if str(le["metadata"].get("name", "")).startswith(LEASE_PREFIX)}
    if nodes:
        names = {n["metadata"]["name"] for n in nodes}
        by_node = {k: v for k, v in by_node.items() if k in names}
        bodies = nodes
    else:
        bodies = [{"metadata": {"name": n}} for n in sorted(by_node)]
    judge_leases = bool(by_node)
    hops: dict[str, dict[int, str]] = {}
    healthy: set[str] = set()
    for body in bodies:
        name = body["metadata"]["name"]
        found: dict[int, str] = {}
        lease = by_node.get(name)
        if lease is not None:
            raw = ((lease["metadata"].get("annotations") or {}).get(ADDRESS_ANNOTATION)) or ""
            for part in raw.split(",") if raw else []:
                if (ip := _hop(part)) is not None:
                    found.setdefault(ip.version, str(ip))
        for kind in ("ExternalIP", "InternalIP"):  # InternalIP wins over ExternalIP over the Lease
            per_kind: dict[int, str] = {}
            for a in ((body.get("status") or {}).get("addresses") or []):
                if a.get("type") == kind and (ip := _hop(a.get("address"))) is not None:
                    per_kind.setdefault(ip.version, str(ip))
            found.update(per_kind)
        hops[name] = found
        ready = next((c.get("status") for c in (body.get("status") or {}).get("conditions") or []
                      if c.get("type") == "Ready"), None)
        ok = not (body.get("spec") or {}).get("unschedulable") and ready not in ("False", "Unknown")
        if ok and judge_leases:
            ok = lease is not None and _fresh(lease, now)
        if ok:
            healthy.add(name)
    return hops, healthy


def _pieces(net: ipaddress.IPv4Network | ipaddress.IPv6Network, split: int) -> list[Any]:
    bits = min(split.bit_length() - 1, net.max_prefixlen - net.prefixlen)
    return list(net.subnets(prefixlen_diff=bits)) if bits else [net]


def _networks(addresses: list[str]) -> list[Any]:
    out: list[Any] = []
    for a in addresses:
        if "-" in a:
            lo, hi = (ipaddress.ip_address(x.strip()) for x in a.split("-", 1))
            out += ipaddress.summarize_address_range(lo, hi)  # type: ignore[type-var]
        else:
            out.append(ipaddress.ip_network(a, strict=False))
    return out


def expected_routes(*, firewall: dict[str, Any] | None, pools: list[dict[str, Any]], services: list[dict[str, Any]],
                    slices: list[dict[str, Any]], nodes: list[dict[str, Any]], leases: list[dict[str, Any]],
                    now: float) -> tuple[Routing, dict[str, Want]]:
    routing = Routing.of(firewall)
    if routing.mode != "routed":
        return routing, {}
    hops, healthy = node_hops(nodes, leases, now)

    def want(version: int, candidates: set[str]) -> Want:
        can = {hops[n][version] for n in candidates if version in hops.get(n, {})}
        known = frozenset(h[version] for h in hops.values() if version in h)
        return Want(frozenset(can), min(routing.max_paths, len(can)), known if not can else frozenset())

    out: dict[str, Want] = {}
    for p in pools:
        if p["spec"].get("purpose", "Service") != "Service":
            continue
        for net in _networks(p["spec"].get("addresses") or []):
            for piece in _pieces(net, routing.split):
                out[str(piece)] = want(piece.version, healthy)
    local_nodes: dict[tuple[str, str, int], set[str]] = {}
    for sl in slices:
        meta = sl.get("metadata") or {}
        svc = (meta.get("labels") or {}).get("kubernetes.io/service-name")
        for ep in sl.get("endpoints") or []:
            cond = ep.get("conditions") or {}
            if not svc or cond.get("ready") is False or cond.get("terminating") or not ep.get("nodeName"):
                continue
            family = {"IPv4": 4, "IPv6": 6}.get(sl.get("addressType", ""))
            versions = {family} if family else {ipaddress.ip_address(a).version for a in ep.get("addresses") or []}
            for v in versions:
                local_nodes.setdefault((meta.get("namespace", ""), svc, v), set()).add(ep["nodeName"])
    on_vip: dict[str, list[dict[str, Any]]] = {}
    for s in services:
        spec = s.get("spec") or {}
        if spec.get("type") != "LoadBalancer" or spec.get("loadBalancerClass") != "bmlb.io/ipvs":
            continue
        for i in ((s.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
            if i.get("ip"):
                on_vip.setdefault(i["ip"], []).append(s)
    for vip, sharing in on_vip.items():
        local = [s for s in sharing if (s.get("spec") or {}).get("externalTrafficPolicy") == "Local"]
        if not local:
            continue
        ip = ipaddress.ip_address(vip)
        can = set(healthy)
        for s in local:
            can &= local_nodes.get((s["metadata"]["namespace"], s["metadata"]["name"], ip.version), set())
        out[str(ipaddress.ip_network(vip))] = want(ip.version, can)
    return routing, out


def cluster_routes(cluster: Any, *, lease_namespace: str, firewall: str = "edge",
                   now: float | None = None) -> tuple[Routing, dict[str, Want]]:
    """expected_routes over what the test API server holds now."""
    import kubernetes

    api = cluster.api

    def plain(items: Any) -> list[dict[str, Any]]:
        return [api.sanitize_for_serialization(x) for x in items]

    fws = [f for f in cluster.custom.list_cluster_custom_object("bmlb.io", "v1alpha1", "firewalls")["items"]
           if f["metadata"]["name"] == firewall]
    coord = kubernetes.client.CoordinationV1Api(api)
    return expected_routes(
        firewall=fws[0] if fws else None,
        pools=cluster.custom.list_cluster_custom_object("bmlb.io", "v1alpha1", "vippools")["items"],
        services=plain(cluster.core.list_service_for_all_namespaces().items),
        slices=plain(cluster.discovery.list_endpoint_slice_for_all_namespaces().items),
        nodes=plain(cluster.core.list_node().items),
        leases=plain(coord.list_namespaced_lease(lease_namespace).items),
        now=dt.datetime.now(dt.UTC).timestamp() if now is None else now)


@dataclass(frozen=True)
class DeviceRoute:
    virtual_router: str
    destination: str
    nexthop: str
    interface: str
    metric: str
    monitored: str  # the destination path monitoring pings ("" when not monitored)


def device_routes(running_xml: str) -> list[DeviceRoute]:
    """bmlb's static routes on the running config, by attributes (names serve only to tell them
    from other admins' routes)."""
    root = ET.fromstring(running_xml)
    out = []
    for vr in root.findall("devices/entry/network/virtual-router/entry"):
        for e in [*vr.findall("routing-table/ip/static-route/entry"),
                  *vr.findall("routing-table/ipv6/static-route/entry")]:
            if not (e.get("name") or "").startswith("bmlb-"):
                continue
            monitored = ""
            if e.findtext("path-monitor/enable") == "yes":
                monitored = ",".join(sorted((d.findtext("destination") or "")
                                            for d in e.findall("path-monitor/monitor-destinations/entry")
                                            if d.findtext("enable", "yes") == "yes"))
            hop = e.findtext("nexthop/ip-address") or e.findtext("nexthop/ipv6-address") or ""
            out.append(DeviceRoute(vr.get("name") or "", e.findtext("destination") or "", hop,
                                   e.findtext("interface") or "", e.findtext("metric") or "", monitored))
    return out


def compare(routing: Routing, want: dict[str, Want], have: list[DeviceRoute]) -> Iterator[tuple[str, str]]:
    """("lost" | "stale" | "duplicates", what): routes missing, unwanted or wrong, and repeats."""
    seen: Counter[tuple[str, str]] = Counter((r.destination, r.nexthop) for r in have)
    for (dest, hop), n in sorted(seen.items()):
        if n > 1:
            yield "duplicates", f"route {dest} via {hop} present {n} times"
    good: dict[str, set[str]] = {}
    for r in sorted(have, key=lambda r: (r.destination, r.nexthop)):
        w = want.get(r.destination)
        wrong = []
        if w is None:
            wrong.append("no such destination is wanted")
        elif r.nexthop not in (w.hops or w.sticky):
            wrong.append(f"next hop not among {sorted(w.hops or w.sticky)}")
        if r.virtual_router != routing.virtual_router:
            wrong.append(f"virtual router {r.virtual_router!r}, want {routing.virtual_router!r}")
        if r.metric != str(routing.metric):
            wrong.append(f"metric {r.metric!r}, want {routing.metric}")
        if r.interface:
            wrong.append(f"interface {r.interface!r}, want none")
        if r.monitored != (r.nexthop if routing.monitor else ""):
            wrong.append(f"path monitor pings {r.monitored!r}")
        if wrong:
            yield "stale", f"route {r.destination} via {r.nexthop}: {'; '.join(wrong)}"
        elif r.nexthop not in good.setdefault(r.destination, set()):
            good[r.destination].add(r.nexthop)
    for dest, w in sorted(want.items()):
        got = len(good.get(dest, set()))
        limit = routing.max_paths if w.sticky else w.count
        if got < w.count:
            yield "lost", f"route {dest}: {got} of {w.count} next hops among {sorted(w.hops)}"
        elif got > limit:
            yield "stale", f"route {dest}: {got} next hops, at most {limit} wanted"
