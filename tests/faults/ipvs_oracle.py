"""A test-side oracle for one node's IPVS table, from the manifests alone, never from bmlb's compiler.

Written from README ("What bmlb is", "The API at a glance"):
  - Services of type LoadBalancer with loadBalancerClass bmlb.io/ipvs, on the VIPs the controller
    recorded in status.loadBalancer.ingress (the agent never allocates);
  - one virtual service per VIP and Service port (protocol, VIP, port);
  - real servers: the ready, not terminating endpoints of the Service's EndpointSlices, at the
    slice port with the Service port's name and protocol, of the VIP's family; with
    externalTrafficPolicy Local only the endpoints on this node;
  - scheduler from `bmlb.io/scheduler` (default rr), forwarding from `bmlb.io/forwarding`
    (default nat; dr/tun cannot remap ports, so such an endpoint is left out), sessionAffinity
    ClientIP -> persistence of its timeoutSeconds (Kubernetes' default 10800).
A table is compared as {"tcp 10.80.0.1:443": (scheduler, persistence, ("10.244.1.1:8443 w1 nat", ...))}.
Masquerade (README "The API at a glance"): every VIP and port of a NAT-mode Service with
externalTrafficPolicy Cluster (not Local, not dr/tun), on every node, as {"tcp 10.80.0.1:443", ...}.
"""

from __future__ import annotations

import ipaddress
import json
from collections import Counter
from pathlib import Path
from typing import Any

LB_CLASS = "bmlb.io/ipvs"
Key = str
Entry = tuple[str, int, tuple[str, ...]]


def _hostport(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _version(raw: str) -> int | None:
    try:
        return ipaddress.ip_address(raw).version
    except ValueError:
        return None


def expected_table(services: list[dict[str, Any]], slices: list[dict[str, Any]], node: str) -> dict[Key, Entry]:
    by_service: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for sl in slices:
        meta = sl.get("metadata") or {}
        name = (meta.get("labels") or {}).get("kubernetes.io/service-name")
        if name:
            by_service.setdefault((meta.get("namespace", ""), name), []).append(sl)
    out: dict[Key, Entry] = {}
    for svc in services:
        spec, meta = svc.get("spec") or {}, svc.get("metadata") or {}
        if spec.get("type") != "LoadBalancer" or spec.get("loadBalancerClass") != LB_CLASS:
            continue
        vips = [i["ip"] for i in ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
                if i.get("ip")]
        annotations = meta.get("annotations") or {}
        scheduler = annotations.get("bmlb.io/scheduler", "rr")
        forwarding = annotations.get("bmlb.io/forwarding", "nat")
        persistence = 0
        if spec.get("sessionAffinity") == "ClientIP":
            persistence = int(((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {})
                              .get("timeoutSeconds", 10800))
        local = spec.get("externalTrafficPolicy") == "Local"
        for port in spec.get("ports") or []:
            proto = port.get("protocol", "TCP")
            reals: set[tuple[str, int]] = set()
            name = port.get("name") or ""
            for sl in by_service.get((meta.get("namespace", ""), meta.get("name", "")), []):
                target = next((p.get("port") for p in sl.get("ports") or []
                               if p.get("protocol", "TCP") == proto and (p.get("name") or "") == name
                               and p.get("port")), None)
                if target is None or (forwarding != "nat" and target != port["port"]):
                    continue
                for ep in sl.get("endpoints") or []:
                    cond = ep.get("conditions") or {}
                    if cond.get("terminating") or cond.get("ready") is False:
                        continue
                    if local and ep.get("nodeName") != node:
                        continue
                    reals.update((a, target) for a in ep.get("addresses") or [] if _version(a))
            for vip in vips:
                same = tuple(sorted(f"{_hostport(a, p)} w1 {forwarding}" for a, p in reals
                                    if _version(a) == _version(vip)))
                out[f"{proto.lower()} {_hostport(vip, port['port'])}"] = (scheduler, persistence, same)
    return out


def expected_masquerade(services: list[dict[str, Any]]) -> set[Key]:
    out: set[Key] = set()
    for svc in services:
        spec, meta = svc.get("spec") or {}, svc.get("metadata") or {}
        if spec.get("type") != "LoadBalancer" or spec.get("loadBalancerClass") != LB_CLASS:
            continue
        if spec.get("externalTrafficPolicy") == "Local":
            continue
        if (meta.get("annotations") or {}).get("bmlb.io/forwarding", "nat") != "nat":
            continue
        vips = [i["ip"] for i in ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
                if i.get("ip")]
        out.update(f"{p.get('protocol', 'TCP').lower()} {_hostport(v, p['port'])}"
                   for p in spec.get("ports") or [] for v in vips)
    return out


def cluster_masquerade(cluster: Any) -> set[Key]:
    api = cluster.api
    return expected_masquerade([api.sanitize_for_serialization(s)
                                for s in cluster.core.list_service_for_all_namespaces().items])


def backend_masquerade(path: Path) -> set[Key]:
    """The masquerade set the memory backend holds (empty: no table)."""
    data = _backend_data(path) or {}
    return {f"{m['protocol']} {_hostport(m['address'], m['port'])}" for m in data.get("masquerade") or []}


def cluster_table(cluster: Any, node: str) -> dict[Key, Entry]:
    """expected_table over what the test API server holds now (every namespace)."""
    api = cluster.api
    services = [api.sanitize_for_serialization(s) for s in cluster.core.list_service_for_all_namespaces().items]
    slices = [api.sanitize_for_serialization(s)
              for s in cluster.discovery.list_endpoint_slice_for_all_namespaces().items]
    return expected_table(services, slices, node)


def _backend_data(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def backend_table(path: Path) -> dict[Key, Entry] | None:
    """What the memory backend holds (its --memory-state file), in expected_table's form; None
    before the backend saved anything. Real servers being drained (weight 0) are left out: see
    backend_draining."""
    data = _backend_data(path)
    if data is None:
        return None
    return {f"{s['protocol']} {_hostport(s['address'], s['port'])}":
            (s["scheduler"], s["persistence_timeout"],
             tuple(sorted(f"{_hostport(r['address'], r['port'])} w{r['weight']} {r['forwarding']}"
                          for r in s["real_servers"] if r["weight"] != 0)))
            for s in data["services"]}


def backend_draining(path: Path) -> set[str]:
    """"tcp VIP:port -> real:port" of every real server the backend holds at weight 0."""
    data = _backend_data(path) or {"services": []}
    return {f"{s['protocol']} {_hostport(s['address'], s['port'])} -> {_hostport(r['address'], r['port'])}"
            for s in data["services"] for r in s["real_servers"] if r["weight"] == 0}


def backend_ops(path: Path) -> int:
    return int((_backend_data(path) or {}).get("ops", 0))


def backend_duplicates(path: Path) -> int:
    """Virtual services or real servers the backend holds twice (the file is a list, so a broken
    backend or a double apply would show here)."""
    data = _backend_data(path) or {"services": []}
    keys = Counter((s["protocol"], s["address"], s["port"]) for s in data["services"])
    reals = Counter((s["protocol"], s["address"], s["port"], r["address"], r["port"]) for s in data["services"]
                    for r in s["real_servers"])
    return sum(n - 1 for n in keys.values()) + sum(n - 1 for n in reals.values())


def set_connections(path: Path, rows: list[tuple[str, str, int, str, int, int]]) -> None:
    """Play traffic: (protocol, VIP, port, real, real port, active connections) for the backend to report."""
    tmp = path.with_name(path.name + ".connections.tmp")
    tmp.write_text(json.dumps([{"protocol": p, "address": a, "port": pt, "server": s, "server_port": sp,
                                "active": n} for p, a, pt, s, sp, n in rows]))
    tmp.replace(path.with_name(path.name + ".connections"))
