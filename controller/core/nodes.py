"""When is a node healthy, and where does the firewall reach it: each node's next hops (one per
family: InternalIP, else ExternalIP, else its agent's Lease annotation) and whether it can serve
(its agent's Lease in the lease namespace is fresh by controller/core/leases.py's rule, the Node is
Ready and not cordoned). Routed mode's stage (controller/core/routes.py) routes only to those."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from controller.core.leases import ADDRESS_ANNOTATION, is_fresh
from controller.core.pools import IPAddress, ip_address
from controller.core.problems import ObjectRef, Problem
from controller.core.reasons import Code
from controller.core.services import warn
from controller.core.snapshot import LEASE_PREFIX, Body, Snapshot, name_of


@dataclass(frozen=True, slots=True)
class NodeInfo:
    name: str
    addresses: tuple[IPAddress, ...]  # next hops, at most one per family, IPv4 first
    healthy: bool
    why: str = ""

    def address(self, version: int) -> IPAddress | None:
        return next((a for a in self.addresses if a.version == version), None)


def next_hop(raw: object) -> tuple[IPAddress | None, str]:
    """A usable next-hop address, or None and why not."""
    if not isinstance(raw, str):
        return None, f"{raw!r} is not a string"
    try:
        ip = ip_address(raw.strip())
    except ValueError:
        return None, f"{raw!r} is not an IPv4 or IPv6 address"
    if ip.is_unspecified or ip.is_multicast or ip.is_loopback or ip.is_link_local:
        return None, f"{raw!r} cannot be a next hop (unspecified, multicast, loopback or link-local)"
    return ip, ""


def _node_addresses(name: str, status: Mapping, problems: list[Problem]) -> dict[int, IPAddress]:
    found: dict[str, dict[int, IPAddress]] = {"InternalIP": {}, "ExternalIP": {}}
    entries = status.get("addresses")
    for i, a in enumerate(entries if isinstance(entries, list) else []):
        if not isinstance(a, Mapping) or not isinstance(a.get("type"), str) or a["type"] not in found:
            continue
        ip, why = next_hop(a.get("address"))
        if ip is None:
            problems.append(warn(ObjectRef("Node", "", name), f"status.addresses[{i}].address",
                                 Code.InvalidNodeAddress, f"{why}: node {name} is not a next hop for it"))
            continue
        found[str(a["type"])].setdefault(ip.version, ip)
    return {**found["ExternalIP"], **found["InternalIP"]}


def _lease_addresses(lease: Body, problems: list[Problem]) -> dict[int, IPAddress]:
    meta = lease.get("metadata") or {}
    annotations = meta.get("annotations") if isinstance(meta, Mapping) else None
    raw = annotations.get(ADDRESS_ANNOTATION) if isinstance(annotations, Mapping) else None
    if raw is None:
        return {}
    out: dict[int, IPAddress] = {}
    ref = ObjectRef("Lease", str(meta.get("namespace") or ""), str(meta.get("name") or ""))
    for part in (raw.split(",") if isinstance(raw, str) else [raw]):
        ip, why = next_hop(part)
        if ip is None:
            problems.append(warn(ref, f"metadata.annotations[{ADDRESS_ANNOTATION}]", Code.InvalidNodeAddress,
                                 f"{why}: the node is not a next hop for it"))
            continue
        out.setdefault(ip.version, ip)
    return out


def node_view(snapshot: Snapshot) -> tuple[dict[str, NodeInfo], list[Problem]]:
    """Every node bmlb may route to, with its next hops and whether it can serve, and the
    problems found on Nodes and Leases. Leases are judged only when the snapshot has a clock."""
    problems: list[Problem] = []
    leases = snapshot.node_leases()
    bodies = [b for b in snapshot.nodes if name_of(b)]
    known = {name_of(b) for b in bodies}
    if not snapshot.nodes:  # lease-only mode: no Node objects at all, the agents' Leases are the nodes
        bodies = [{"metadata": {"name": n}} for n in sorted(leases)]
    else:
        for n in sorted(set(leases) - known):
            meta = leases[n].get("metadata") or {}
            problems.append(warn(ObjectRef("Lease", str(meta.get("namespace")), LEASE_PREFIX + n), "metadata.name",
                                 Code.UnknownNode, f"no Node {n!r} exists: the Lease is ignored"))
        leases = {n: b for n, b in leases.items() if n in known}
    judge = snapshot.now is not None and bool(leases)
    out: dict[str, NodeInfo] = {}
    for body in bodies:
        spec, status = (x if isinstance(x, Mapping) else {} for x in (body.get("spec"), body.get("status")))
        name = str(name_of(body))
        lease = leases.get(name)
        addrs = _node_addresses(name, status, problems)
        if lease is not None:
            addrs = {**_lease_addresses(lease, problems), **addrs}  # the Node's own addresses first
        conditions = status.get("conditions")
        ready = next((c.get("status") for c in (conditions if isinstance(conditions, list) else [])
                      if isinstance(c, Mapping) and c.get("type") == "Ready"), None)
        why = ""
        if spec.get("unschedulable"):
            why = "cordoned"
        elif ready in ("False", "Unknown"):
            why = "NotReady"
        elif judge:
            lspec = (lease or {}).get("spec") or {}
            if not isinstance(lspec, Mapping) or not is_fresh(lspec.get("renewTime"), lspec.get("leaseDurationSeconds"),
                                                              snapshot.now or 0.0):
                why = "agent Lease expired"
        out[name] = NodeInfo(name, tuple(addrs[v] for v in sorted(addrs)), not why, why)
    return out, problems


def node_health(snapshot: Snapshot) -> dict[str, NodeInfo]:
    return node_view(snapshot)[0]
