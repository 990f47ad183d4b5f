"""The compiler: a pure function from a cluster snapshot to everything bmlb wants.

compile(snapshot) -> Compiled: VIP and public-address allocations, the desired firewall state
of each Firewall, the desired IPVS table of each node, per-object reports for status, and the
problems found. Same input, byte-identical output, whatever the order of the input.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from controller.core import ipam, ipam_delta, pool_counts, specs
from controller.core.compile_cache import CompileCache
from controller.core.dataplane import build_tables, node_names
from controller.core.ipam import Assignment
from controller.core.parse import Parsed, parse
from controller.core.pools import Pool
from controller.core.problems import ObjectRef, Problem, Severity, sort_problems
from controller.core.reasons import Code
from controller.core.reports import Report, reports_of
from controller.core.routes import build_routes
from controller.core.rules import (
    ParsedNat,
    ParsedPolicy,
    build_firewall,
    resolve_publications,
)
from controller.core.security_rules import select_services
from controller.core.services import LBService, warn
from controller.core.snapshot import Snapshot
from controller.core.targets import targets
from firewall.model import DesiredFirewall
from ipvs.model import Table


@dataclass(frozen=True, slots=True)
class FirewallTarget:
    name: str
    spec: specs.FirewallSpec | None  # None: no Firewall object; plan only
    desired: DesiredFirewall


@dataclass(frozen=True)
class Compiled:
    allocations: tuple[Assignment, ...]
    firewalls: tuple[FirewallTarget, ...]
    tables: tuple[tuple[str, Table], ...]
    reports: tuple[Report, ...]
    problems: tuple[Problem, ...]
    pools: tuple[Pool, ...] = field(default=())
    routes: tuple[tuple[str, tuple[str, ...]], ...] = ()  # destination CIDR -> nodes it is routed to
    # The objects whose report differs from the last compile's with the same cache (a new Report
    # object, or none now); None: unknown (no cache, or it was empty). Not part of the result.
    changed: frozenset[ObjectRef] | None = field(default=None, compare=False)

    def table(self, node: str) -> Table:
        for n, t in self.tables:
            if n == node:
                return t
        return Table()

    def firewall(self, name: str) -> FirewallTarget | None:
        return next((f for f in self.firewalls if f.name == name), None)

    def problems_of(self, ref: ObjectRef) -> tuple[Problem, ...]:
        return self._problems_by_ref.get(ref, ())

    @property
    def problems_by_ref(self) -> Mapping[ObjectRef, tuple[Problem, ...]]:
        """Every object that has problems, with them."""
        return self._problems_by_ref

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

    @functools.cached_property
    def assignments_by_ref(self) -> dict[ObjectRef, Assignment]:
        return {a.ref: a for a in self.allocations}

    @functools.cached_property
    def allocated(self) -> dict[str, int]:
        """Addresses held, by pool name (one shared address counts once)."""
        return pool_counts.held(self.allocations)

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity is Severity.ERROR)


def compile(snapshot: Snapshot, *, assign_new: bool = True, extra_nodes: tuple[str, ...] = (),
            cache: CompileCache | None = None, tables_for: Collection[str] | None = None) -> Compiled:
    """Compile a snapshot. assign_new=False: use only the addresses recorded in status (node agents).
    cache: what the previous compile made that this one may reuse where its inputs did not change
    (controller/core/compile_cache.py); the result is the same with or without it.
    tables_for: the nodes whose IPVS tables are wanted (None: every node's). A node agent wants its
    own, the controller none: each table holds every Service, so all of them cost nodes x Services.
    The problems they find are the same either way.

    The stages: parse (raw bodies -> typed values, controller/core/parse.py) -> choose each CR's
    Firewall -> allocate (IPAM) -> per Firewall: publish (NAT), rules, routes -> data plane
    (IPVS tables per node) -> reports for status.
    """
    try:
        return _compile(snapshot, assign_new, extra_nodes, cache, tables_for)
    except BaseException:
        if cache is not None:
            cache.reports = {}  # the next compile's `changed` must not be relative to one nobody saw
        raise
    finally:
        if cache is not None:
            cache.roll()


def _compile(snapshot: Snapshot, assign_new: bool, extra_nodes: tuple[str, ...], cache: CompileCache | None,
             tables_for: Collection[str] | None) -> Compiled:
    parsed = parse(snapshot, cache)
    problems: list[Problem] = list(parsed.problems)
    services = parsed.services
    if not snapshot.firewalls and (parsed.nat_rules or parsed.policies):
        for ref in [n.ref for n, _ in parsed.nat_rules] + [x.ref for x in parsed.policies]:
            problems.append(warn(ref, "spec.firewall", Code.NoFirewall,
                                 "no Firewall object exists: rules are planned but synced nowhere"))

    nats, policies, public_requests = targets(parsed, problems, cache)
    requests = [services.request_of(s) for s in services.values()] + public_requests
    if cache is not None:
        result, cache.ipam = ipam_delta.allocate(parsed.pools, requests, assign_new=assign_new,
                                                 pool_of=cache.pool_of(tuple(parsed.pools)), last=cache.ipam)
    else:
        result = ipam.allocate(parsed.pools, requests, assign_new=assign_new)
    problems += result.problems
    by_ref = {a.ref: a for a in result.assignments}

    selections: dict[ObjectRef, list[LBService]] = {}
    firewalls, route_sets, published, owned = _firewalls(parsed, nats, policies, by_ref, problems, cache, selections)
    tables = _tables(parsed, services, by_ref, extra_nodes, problems, tables_for)

    all_reports, changed = reports_of(ObjectFields(services, by_ref, policies, nats, selections, published), owned,
                                      cache)
    return Compiled(
        allocations=result.assignments,
        firewalls=tuple(firewalls),
        tables=tuple(sorted(tables.items())),
        reports=all_reports,
        changed=changed,
        problems=sort_problems(problems),
        pools=tuple(sorted(parsed.pools, key=lambda p: p.name)),
        routes=tuple(sorted(route_sets.items())),
    )


def _firewalls(parsed: Parsed, nats: list[ParsedNat], policies: list[ParsedPolicy], by_ref: dict[ObjectRef, Assignment],
               problems: list[Problem], cache: CompileCache | None, selections: dict[ObjectRef, list[LBService]]
               ) -> tuple[list[FirewallTarget], dict[str, tuple[str, ...]], dict[ObjectRef, tuple[str, str]],
                          dict[ObjectRef, Sequence[str]]]:
    """Per Firewall: publish (NAT), rules, routes; with the (public, vip) of each NATRule published
    and the firewall names each object owns."""
    zones = {pool.name: pool.zone for pool in parsed.pools}
    services, fw_specs = parsed.services, parsed.firewalls
    firewalls: list[FirewallTarget] = []
    route_sets: dict[str, tuple[str, ...]] = {}
    published: dict[ObjectRef, tuple[str, str]] = {}
    owned: dict[ObjectRef, Sequence[str]] = {}
    fw_names = sorted(set(fw_specs) | {n.firewall for n in nats} | {p.firewall for p in policies})
    for fw in fw_names:
        fw_nats = [n for n in nats if n.firewall == fw]
        pubs, p = resolve_publications(nats=fw_nats, services=services, vips=by_ref, publics=by_ref, zones=zones,
                                       cache=cache)
        problems += p
        fw_spec = fw_specs.get(fw)
        desired, p, fw_owned = build_firewall(
            ownership_tag=fw_spec.ownership_tag if fw_spec else "bmlb-managed",
            publications=pubs, policies=[x for x in policies if x.firewall == fw],
            services=services, vips=by_ref, zones=zones, cache=cache, selections=selections, firewall=fw)
        problems += p
        if fw_spec is not None and fw_spec.routing.mode == "routed" and fw_spec.type == "panorama":
            problems.append(Problem(ObjectRef("Firewall", "", fw), "spec.routing.mode", Code.RoutedModeOnPanorama,
                                    "routed mode is not supported on Panorama (network config lives in templates, "
                                    "not device groups): no static routes are planned; set routing.mode: none"))
        elif fw_spec is not None and fw_spec.routing.mode == "routed":
            desired = _routed(parsed, fw, fw_spec, desired, by_ref, route_sets, problems)
        firewalls.append(FirewallTarget(fw, fw_spec, desired))
        for ref, names in fw_owned.items():
            owned[ref] = (*owned[ref], *names) if ref in owned else names
        for pub in pubs:
            published[pub.nat.ref] = pub.joined
    return firewalls, route_sets, published, owned


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


class ObjectFields(Mapping[ObjectRef, tuple[tuple[str, str], ...]]):
    """Each object's report fields (sorted (field, value) pairs), made when asked for: the report
    stage compares them with the last compile's and keeps only the Reports, so a compile that
    changes nothing holds no second copy of 30,000 objects' fields at 10,000 Services."""

    def __init__(self, services: Mapping[tuple[str, str], LBService], by_ref: Mapping[ObjectRef, Assignment],
                 policies: list[ParsedPolicy], nats: list[ParsedNat], selections: Mapping[ObjectRef, list[LBService]],
                 published: Mapping[ObjectRef, tuple[str, str]]) -> None:
        self.services, self.by_ref, self.selections, self.published = services, by_ref, selections, published
        self.policies = {p.ref: p for p in policies}
        self.nats = {n.ref: n for n in nats}
        self.refs = {s.ref for s in services.values() if s.ref in by_ref} | self.policies.keys() | self.nats.keys()

    def __getitem__(self, ref: ObjectRef) -> tuple[tuple[str, str], ...]:
        if ref not in self.refs:
            raise KeyError(ref)
        if ref.kind == "Service":
            return (("ingress", self.by_ref[ref].text),)  # each Service's ingress
        if (pol := self.policies.get(ref)) is not None:  # each SecurityPolicy's Firewall and selection
            selected = self.selections.get(ref)
            if selected is None:
                selected, _ = select_services(pol, self.services)
            return ("firewall", pol.firewall), ("selected", str(len(selected)))
        nat = self.nats[ref]  # each NATRule's Firewall, and where it is published
        pub = self.published.get(ref)
        return (("firewall", nat.firewall),) if pub is None else (
            ("firewall", nat.firewall), ("public", pub[0]), ("vip", pub[1]))

    def __iter__(self) -> Iterator[ObjectRef]:
        return iter(self.refs)

    def __len__(self) -> int:
        return len(self.refs)


def _tables(parsed: Parsed, services: Mapping[tuple[str, str], LBService], by_ref: dict[ObjectRef, Assignment],
            extra_nodes: tuple[str, ...], problems: list[Problem], tables_for: Collection[str] | None
            ) -> dict[str, Table]:
    """The data plane: each node's IPVS table (of the nodes in `tables_for`, if given)."""
    cluster = parsed.cluster
    leases = cluster.node_leases(known_only=True).values()
    nodes = node_names(cluster.nodes, cluster.endpoint_slices, leases, extra_nodes)
    if tables_for is not None:
        nodes = tuple(n for n in nodes if n in tables_for)
    vips = {ref: a.addresses for ref, a in by_ref.items() if ref.kind == "Service"}
    tables, p = build_tables(services=[services[k] for k in sorted(services)], vips=vips,
                             slices=parsed.slices, nodes=nodes)
    problems += p
    return tables
