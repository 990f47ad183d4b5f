"""From Services, their VIPs and EndpointSlices to each node's desired IPVS table."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from controller.core import specs
from controller.core.pools import IPAddress, ip_address
from controller.core.problems import ObjectRef, Problem
from controller.core.reasons import Code
from controller.core.services import LBService, warn
from controller.core.slices import Slice
from controller.core.snapshot import LEASE_PREFIX, Body, name_of
from ipvs.model import Forwarding, Masquerade, Protocol, RealServer, Table, VirtualService

ANY_NODE = "*"


EndpointsIndex = dict[tuple[str, str], list[tuple[specs.Endpoint, list[specs.EndpointPort]]]]


def endpoints_by_service(slices: Iterable[Slice]) -> EndpointsIndex:
    """(namespace, service name) -> its endpoints, each with its slice's ports; a slice with a
    malformed port or endpoint is left out whole."""
    out: EndpointsIndex = defaultdict(list)
    for s in slices:
        if not s.whole:
            continue
        for ep in s.endpoints or ():
            if ep is not None:
                out[(s.namespace, s.service)].append((ep, list(s.ports or ())))
    return out


def node_names(nodes: Iterable[Body], slices: Iterable[Body], leases: Iterable[Body] = (),
               extra: Iterable[str] = ()) -> tuple[str, ...]:
    """Every node bmlb knows of: Node objects, agent Leases, endpoints' nodeName, plus `extra`."""
    names = {n for b in nodes if (n := name_of(b))} | set(extra)
    names |= {(name_of(b) or "").removeprefix(LEASE_PREFIX) for b in leases}
    for s in slices:
        for e in s.get("endpoints") or []:
            if e.get("nodeName"):
                names.add(str(e["nodeName"]))
    return tuple(sorted(names)) or (ANY_NODE,)


def build_tables(
    *,
    services: Sequence[LBService],
    vips: Mapping[ObjectRef, tuple[IPAddress, ...]],
    slices: Sequence[Slice],
    nodes: Sequence[str],
) -> tuple[dict[str, Table], list[Problem]]:
    eps = endpoints_by_service(slices)
    problems: list[Problem] = []
    per_node: dict[str, list[VirtualService]] = {n: [] for n in nodes}
    # NAT mode with Cluster policy sends to endpoints on other nodes, whose replies must come back
    # through this node: those VIPs' packets leave masqueraded (as kube-proxy does). Local policy
    # keeps the client's address (its endpoints are this node's); DR and TUN reply directly.
    masquerade: set[Masquerade] = set()
    for svc in services:
        addresses = vips.get(svc.ref, ())
        if not addresses or (not nodes and svc.forwarding is Forwarding.NAT):
            continue  # no table is wanted, and a NAT Service's endpoints raise no problem
        endpoints = eps.get((svc.namespace, svc.name), [])
        local_only = svc.spec.external_traffic_policy == "Local"
        persistence = (svc.spec.session_affinity_config.client_ip.timeout_seconds
                       if svc.spec.session_affinity == "ClientIP" else 0)
        masquerading = svc.forwarding is Forwarding.NAT and not local_only
        for i, port in enumerate(svc.spec.ports):
            servers_by_node: dict[str | None, set[RealServer]] = defaultdict(set)
            for ep, ep_ports in endpoints:
                if not ep.ready:
                    continue
                target = _endpoint_port(port, ep_ports)
                if target is None:
                    continue
                if svc.forwarding is not Forwarding.NAT and target != port.port:
                    problems.append(warn(svc.ref, f"spec.ports[{i}]", Code.PortRemapUnsupported,
                                         f"endpoints listen on {target}, but forwarding "
                                         f"{svc.forwarding.value} sends to port {port.port}"))
                    continue
                for raw in ep.addresses:
                    try:
                        addr = ip_address(raw)
                    except ValueError:
                        continue
                    rs = RealServer(addr, target, 1, svc.forwarding)
                    servers_by_node[ep.node_name if local_only else None].add(rs)
            for vip in addresses if nodes else ():
                if masquerading:
                    masquerade.add(Masquerade(vip, Protocol(port.protocol.lower()), port.port))
                for node in nodes:
                    pool = servers_by_node.get(node if local_only else None, set())
                    same_family = tuple(r for r in pool if r.address.version == vip.version)
                    per_node[node].append(VirtualService(
                        protocol=Protocol(port.protocol.lower()), address=vip, port=port.port,
                        scheduler=svc.scheduler, persistence_timeout=persistence, real_servers=same_family,
                    ))
    masq = frozenset(masquerade)
    return {n: Table(tuple(vs), masq) for n, vs in per_node.items()}, problems


def _endpoint_port(port: specs.ServicePort, ep_ports: list[specs.EndpointPort]) -> int | None:
    for p in ep_ports:
        if p.protocol == port.protocol and (p.name or "") == (port.name or "") and p.port:
            return p.port
    return None
