"""The compiler: a pure function from a cluster snapshot to everything bmlb wants.

compile(snapshot) -> Compiled: VIP and public-address allocations, the desired firewall state
of each Firewall, the desired IPVS table of each node, per-object reports for status, and the
problems found. Same input, byte-identical output, whatever the order of the input.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field

from controller.core import hostport, ipam, specs
from controller.core.compile_cache import CompileCache, Same
from controller.core.dataplane import build_tables, node_names
from controller.core.ipam import Assignment, Request
from controller.core.parse import Parsed, parse
from controller.core.pools import IPAddress, Pool
from controller.core.problems import ObjectRef, Problem, Severity, sort_problems
from controller.core.reasons import Code
from controller.core.routes import build_routes
from controller.core.rules import (
    ParsedNat,
    ParsedPolicy,
    build_firewall,
    parse_ip,
    resolve_publications,
)
from controller.core.security_rules import select_services
from controller.core.services import LBService, warn
from controller.core.snapshot import Body, Snapshot
from firewall.model import DesiredFirewall
from ipvs.model import Table

DEFAULT_FIREWALL = "default"


@dataclass(frozen=True, slots=True)
class FirewallTarget:
    name: str
    spec: specs.FirewallSpec | None  # None: no Firewall object; plan only
    desired: DesiredFirewall


@dataclass(frozen=True, slots=True)
class Report:
    """What the shell writes into one object's status."""

    ref: ObjectRef
    fields: tuple[tuple[str, str], ...] = ()
    firewall_objects: tuple[str, ...] = ()


@dataclass(frozen=True)
class Compiled:
    allocations: tuple[Assignment, ...]
    firewalls: tuple[FirewallTarget, ...]
    tables: tuple[tuple[str, Table], ...]
    reports: tuple[Report, ...]
    problems: tuple[Problem, ...]
    pools: tuple[Pool, ...] = field(default=())
    routes: tuple[tuple[str, tuple[str, ...]], ...] = ()  # destination CIDR -> nodes it is routed to

    def table(self, node: str) -> Table:
        for n, t in self.tables:
            if n == node:
                return t
        return Table()

    def firewall(self, name: str) -> FirewallTarget | None:
        return next((f for f in self.firewalls if f.name == name), None)

    def problems_of(self, ref: ObjectRef) -> tuple[Problem, ...]:
        return self._problems_by_ref.get(ref, ())

    def report(self, ref: ObjectRef) -> Report:
        return self._reports_by_ref.get(ref) or Report(ref)

    # Looked up once per object when status is written: a scan per lookup was quadratic.
    @functools.cached_property
    def _problems_by_ref(self) -> dict[ObjectRef, tuple[Problem, ...]]:
        out: dict[ObjectRef, list[Problem]] = {}
        for p in self.problems:
            out.setdefault(p.ref, []).append(p)
        return {ref: tuple(ps) for ref, ps in out.items()}

    @functools.cached_property
    def _reports_by_ref(self) -> dict[ObjectRef, Report]:
        out: dict[ObjectRef, Report] = {}
        for r in self.reports:
            out.setdefault(r.ref, r)
        return out

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity is Severity.ERROR)


def _choose_firewall(ref: ObjectRef, wanted: str | None, known: Mapping[str, specs.FirewallSpec],
                     problems: list[Problem]) -> str | None:
    if wanted:
        if known and wanted not in known:
            problems.append(Problem(ref, "spec.firewall", Code.FirewallNotFound, f"no Firewall named {wanted!r}"))
            return None
        chosen = wanted
    elif len(known) > 1:
        problems.append(Problem(ref, "spec.firewall", Code.FirewallAmbiguous,
                                f"there are {len(known)} Firewalls ({', '.join(sorted(known))}); name one"))
        return None
    else:
        chosen = next(iter(known), DEFAULT_FIREWALL)
    spec = known.get(chosen)
    if spec is not None and spec.namespaces and ref.namespace not in spec.namespaces:
        problems.append(Problem(ref, "spec.firewall", Code.FirewallDeniesNamespace,
                                f"Firewall {chosen!r} does not admit namespace {ref.namespace!r}"))
        return None
    return chosen


def compile(snapshot: Snapshot, *, assign_new: bool = True, extra_nodes: tuple[str, ...] = (),
            cache: CompileCache | None = None) -> Compiled:
    """Compile a snapshot. assign_new=False: use only the addresses recorded in status (node agents).
    cache: what the previous compile made that this one may reuse where its inputs did not change
    (controller/core/compile_cache.py); the result is the same with or without it.

    The stages: parse (raw bodies -> typed values, controller/core/parse.py) -> choose each CR's
    Firewall -> allocate (IPAM) -> per Firewall: publish (NAT), rules, routes -> data plane
    (IPVS tables per node) -> reports for status.
    """
    try:
        return _compile(snapshot, assign_new, extra_nodes, cache)
    finally:
        if cache is not None:
            cache.roll()


def _compile(snapshot: Snapshot, assign_new: bool, extra_nodes: tuple[str, ...], cache: CompileCache | None
             ) -> Compiled:
    parsed = parse(snapshot, cache)
    problems: list[Problem] = list(parsed.problems)
    services = parsed.services
    if not snapshot.firewalls and (parsed.nat_rules or parsed.policies):
        for ref in [n.ref for n, _ in parsed.nat_rules] + [x.ref for x in parsed.policies]:
            problems.append(warn(ref, "spec.firewall", Code.NoFirewall,
                                 "no Firewall object exists: rules are planned but synced nowhere"))

    nats, policies, public_requests = _targets(parsed, problems, cache)
    result = ipam.allocate(parsed.pools, [s.request for s in services.values()] + public_requests,
                           assign_new=assign_new)
    problems += result.problems
    by_ref = {a.ref: a for a in result.assignments}

    firewalls, route_sets, reports, owned = _firewalls(parsed, nats, policies, by_ref, problems, cache)
    _object_reports(reports, services, by_ref, policies, nats)
    tables = _tables(parsed, services, by_ref, extra_nodes, problems)

    all_refs = sorted(set(reports) | set(owned))
    return Compiled(
        allocations=result.assignments,
        firewalls=tuple(firewalls),
        tables=tuple(sorted(tables.items())),
        reports=tuple(Report(r, tuple(sorted(reports.get(r, {}).items())), tuple(sorted(owned.get(r, []))))
                      for r in all_refs),
        problems=sort_problems(problems),
        pools=tuple(sorted(parsed.pools, key=lambda p: p.name)),
        routes=tuple(sorted(route_sets.items())),
    )


def _firewalls(parsed: Parsed, nats: list[ParsedNat], policies: list[ParsedPolicy], by_ref: dict[ObjectRef, Assignment],
               problems: list[Problem], cache: CompileCache | None
               ) -> tuple[list[FirewallTarget], dict[str, tuple[str, ...]], dict[ObjectRef, dict[str, str]],
                          dict[ObjectRef, list[str]]]:
    """Per Firewall: publish (NAT), rules, routes; with the reports of the NATRules published and
    the firewall names each object owns."""
    zones = {pool.name: pool.zone for pool in parsed.pools}
    services, fw_specs = parsed.services, parsed.firewalls
    firewalls: list[FirewallTarget] = []
    route_sets: dict[str, tuple[str, ...]] = {}
    reports: dict[ObjectRef, dict[str, str]] = {}
    owned: dict[ObjectRef, list[str]] = {}
    fw_names = sorted(set(fw_specs) | {n.firewall for n in nats} | {p.firewall for p in policies})
    for fw in fw_names:
        fw_nats = [n for n in nats if n.firewall == fw]
        pubs, p = resolve_publications(nats=fw_nats, services=services, vips=by_ref, publics=by_ref, zones=zones)
        problems += p
        fw_spec = fw_specs.get(fw)
        desired, p, fw_owned = build_firewall(
            ownership_tag=fw_spec.ownership_tag if fw_spec else "bmlb-managed",
            publications=pubs, policies=[x for x in policies if x.firewall == fw],
            services=services, vips=by_ref, zones=zones, cache=cache)
        problems += p
        if fw_spec is not None and fw_spec.routing.mode == "routed" and fw_spec.type == "panorama":
            problems.append(Problem(ObjectRef("Firewall", "", fw), "spec.routing.mode", Code.RoutedModeOnPanorama,
                                    "routed mode is not supported on Panorama (network config lives in templates, "
                                    "not device groups): no static routes are planned; set routing.mode: none"))
        elif fw_spec is not None and fw_spec.routing.mode == "routed":
            desired = _routed(parsed, fw, fw_spec, desired, by_ref, route_sets, problems)
        firewalls.append(FirewallTarget(fw, fw_spec, desired))
        for ref, names in fw_owned.items():
            owned.setdefault(ref, []).extend(names)
        for pub in pubs:
            reports[pub.nat.ref] = {
                "public": hostport.join(pub.public, pub.public_port),
                "vip": hostport.join(pub.vip, pub.port.port),
            }
    return firewalls, route_sets, reports, owned


def _routed(parsed: Parsed, fw: str, fw_spec: specs.FirewallSpec, desired: DesiredFirewall,
            by_ref: dict[ObjectRef, Assignment], route_sets: dict[str, tuple[str, ...]],
            problems: list[Problem]) -> DesiredFirewall:
    """A routed Firewall's static routes to the Service pools' VIPs."""
    zones = {pool.name: pool.zone for pool in parsed.pools}
    pools_by_name = {p.name: p for p in parsed.pools}
    routed = [s for s in parsed.services.values() if any(pl in zones and pools_by_name[pl].purpose == "Service"
                                                         for pl in getattr(by_ref.get(s.ref), "pools", ()))]
    static, chosen, p = build_routes(snapshot=parsed.cluster, services=routed, vips=by_ref,
                                     pools=[pl for pl in parsed.pools if pl.purpose == "Service"],
                                     routing=fw_spec.routing, firewall=ObjectRef("Firewall", "", fw),
                                     slices=parsed.slices)
    problems += p
    route_sets.update(chosen)
    return dataclasses.replace(desired, static_routes=static)


def _object_reports(reports: dict[ObjectRef, dict[str, str]], services: Mapping[tuple[str, str], LBService],
                    by_ref: dict[ObjectRef, Assignment], policies: list[ParsedPolicy], nats: list[ParsedNat]) -> None:
    """Each Service's ingress, each SecurityPolicy's selection and each CR's Firewall."""
    for svc in services.values():
        if svc.ref in by_ref:
            reports.setdefault(svc.ref, {})["ingress"] = ",".join(str(ip) for ip in by_ref[svc.ref].addresses)
    for pol in policies:
        selected, _ = select_services(pol, services)
        reports.setdefault(pol.ref, {}).update(firewall=pol.firewall, selected=str(len(selected)))
    for n in nats:
        reports.setdefault(n.ref, {})["firewall"] = n.firewall


def _tables(parsed: Parsed, services: Mapping[tuple[str, str], LBService], by_ref: dict[ObjectRef, Assignment],
            extra_nodes: tuple[str, ...], problems: list[Problem]) -> dict[str, Table]:
    """The data plane: each node's IPVS table."""
    cluster = parsed.cluster
    leases = cluster.node_leases(known_only=True).values()
    nodes = node_names(cluster.nodes, cluster.endpoint_slices, leases, extra_nodes)
    vips = {ref: a.addresses for ref, a in by_ref.items() if ref.kind == "Service"}
    tables, p = build_tables(services=[services[k] for k in sorted(services)], vips=vips,
                             slices=parsed.slices, nodes=nodes)
    problems += p
    return tables


def _targets(parsed: Parsed, problems: list[Problem], cache: CompileCache | None
             ) -> tuple[list[ParsedNat], list[ParsedPolicy], list[Request]]:
    """Each NATRule and SecurityPolicy with the Firewall it programs; the NATRules' address requests."""
    nats: list[ParsedNat] = []
    requests: list[Request] = []
    fws = cache.stable("firewalls", parsed.firewalls) if cache is not None else parsed.firewalls
    for nat, body in parsed.nat_rules:
        found = (cache.targets.get(nat.ref, (Same(body), Same(nat), fws), lambda nat=nat, body=body: _nat_target(
            nat, body, parsed.firewalls)) if cache is not None else _nat_target(nat, body, parsed.firewalls))
        chosen, request, p = found
        problems += p
        if chosen is not None and request is not None:
            nats.append(chosen)
            requests.append(request)
    policies: list[ParsedPolicy] = []
    for pol in parsed.policies:
        found_pol = (cache.targets.get(pol.ref, (Same(pol), fws), lambda pol=pol: _policy_target(
            pol, parsed.firewalls)) if cache is not None else _policy_target(pol, parsed.firewalls))
        chosen_pol, p = found_pol
        problems += p
        if chosen_pol is not None:
            policies.append(chosen_pol)
    return nats, policies, requests


def _nat_target(nat: ParsedNat, body: Body, firewalls: Mapping[str, specs.FirewallSpec]
                ) -> tuple[ParsedNat | None, Request | None, tuple[Problem, ...]]:
    problems: list[Problem] = []
    fw = _choose_firewall(nat.ref, nat.spec.firewall, firewalls, problems)
    if fw is None:
        return None, None, tuple(problems)
    chosen = dataclasses.replace(nat, firewall=fw)
    return chosen, _public_request(body, chosen, problems), tuple(problems)


def _policy_target(pol: ParsedPolicy, firewalls: Mapping[str, specs.FirewallSpec]
                   ) -> tuple[ParsedPolicy | None, tuple[Problem, ...]]:
    problems: list[Problem] = []
    fw = _choose_firewall(pol.ref, pol.spec.firewall, firewalls, problems)
    return (dataclasses.replace(pol, firewall=fw) if fw is not None else None), tuple(problems)


def _public_request(body: Body, nat: ParsedNat, problems: list[Problem]) -> Request:
    ref, spec = nat.ref, nat.spec
    requested: tuple[IPAddress, ...] = ()
    if spec.public.address:
        ip = parse_ip(spec.public.address)
        if ip is None:
            problems.append(Problem(ref, "spec.public.address", Code.InvalidIP,
                                    f"{spec.public.address!r} is not an IPv4 or IPv6 address"))
        else:
            requested = (ip,)
    current: tuple[IPAddress, ...] = ()
    status = body.get("status")
    public = status.get("public") if isinstance(status, Mapping) else None
    host = hostport.host(public)
    if host and (cur := parse_ip(host)) is not None:
        current = (cur,)
    port = spec.public.port or (spec.service.port if isinstance(spec.service.port, int) else 0)
    return Request(
        ref=ref, namespace=ref.namespace, purpose="Public",
        families=tuple(sorted({ip.version for ip in requested})) or (4,),
        pool=spec.public.pool, requested=requested,
        # Explicit public addresses may carry several NATRules of one namespace on different ports.
        sharing_key="natrule-public" if requested else None,
        ports=frozenset({(spec.service.protocol, port)}) if port else frozenset(),
        current=current, order=nat.created,
        path_pool="spec.public.pool", path_ip="spec.public.address",
    )
