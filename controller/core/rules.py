"""From NATRules and SecurityPolicies to the desired firewall state (PAN-OS semantics).

A NATRule becomes a destination NAT from public address:port to the Service's VIP:port.
A SecurityPolicy rule becomes, per selected Service, a rule to the VIP (traffic that reaches
the VIP directly) and, when a NATRule publishes the Service from the rule's zones, a rule to
the PRE-NAT destination (the public address and port) in the POST-NAT zone (the VIP pool's
zone): PAN-OS matches security rules on the original destination and the translated zone.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from controller.core import hostport, naming, specs
from controller.core.ipam import Assignment, IPAddress
from controller.core.problems import ObjectRef, Problem
from controller.core.reasons import Code
from controller.core.services import LBService, warn
from firewall.model import (
    Action,
    AddressObject,
    DesiredFirewall,
    NatRule,
    Owner,
    SecurityRule,
    ServiceObject,
    ServiceProtocol,
    Tag,
)

S = TypeVar("S", specs.NATRuleSpec, specs.SecurityPolicySpec)


@dataclass(frozen=True, slots=True)
class ParsedCR(Generic[S]):
    """A NATRule or SecurityPolicy with its typed spec; `firewall`: the Firewall it goes to
    ("" until the compiler chose one)."""

    ref: ObjectRef
    uid: str
    generation: int
    spec: S
    firewall: str
    created: str = ""


ParsedNat = ParsedCR[specs.NATRuleSpec]
ParsedPolicy = ParsedCR[specs.SecurityPolicySpec]


@dataclass(frozen=True, slots=True)
class Publication:
    """A NATRule that resolved: this Service port is published at public:public_port."""

    nat: ParsedNat
    service: LBService
    port: specs.ServicePort
    public: IPAddress
    public_port: int
    public_zone: str
    vip: IPAddress


@dataclass
class _Builder:
    ownership_tag: str
    addresses: dict[str, AddressObject] = field(default_factory=dict)
    services: dict[str, ServiceObject] = field(default_factory=dict)
    security: list[tuple[tuple[object, ...], SecurityRule]] = field(default_factory=list)
    nat: list[tuple[tuple[object, ...], NatRule]] = field(default_factory=list)
    namespaces: set[str] = field(default_factory=set)

    def tags(self, namespace: str | None) -> tuple[str, ...]:
        if namespace is None:
            return (self.ownership_tag,)
        self.namespaces.add(namespace)
        return (self.ownership_tag, naming.name("namespace_tag", namespace=namespace))

    def address(self, ip: IPAddress, *, description: str, owner: Owner, namespace: str) -> str:
        name = naming.name("address", ip=str(ip))
        if name not in self.addresses:
            self.addresses[name] = AddressObject(
                name=name, value=f"{ip}/{ip.max_prefixlen}", description=description,
                tags=self.tags(namespace), owner=owner)
        return name

    def service(self, protocol: str, port: int) -> str:
        name = naming.name("service", protocol=protocol, port=port)
        if name not in self.services:
            self.services[name] = ServiceObject(
                name=name, protocol=ServiceProtocol(protocol.lower()), port=str(port),
                description=naming.text("service_description", protocol=protocol, port=port),
                tags=self.tags(None))
        return name

    def build(self) -> DesiredFirewall:
        tags = [Tag(self.ownership_tag, "color24", naming.text("ownership_tag_comments"))]
        for ns in sorted(self.namespaces):
            tags.append(Tag(naming.name("namespace_tag", namespace=ns), None,
                            naming.text("namespace_tag_comments", namespace=ns)))
        return DesiredFirewall(
            ownership_tag=self.ownership_tag,
            tags=tuple(sorted(tags, key=lambda t: t.name)),
            addresses=tuple(v for _, v in sorted(self.addresses.items())),
            services=tuple(v for _, v in sorted(self.services.items())),
            security_rules=tuple(r for _, r in sorted(self.security, key=lambda kv: kv[0])),
            nat_rules=tuple(r for _, r in sorted(self.nat, key=lambda kv: kv[0])),
        )


def owner_of(kind: str, ref: ObjectRef, uid: str, generation: int) -> Owner:
    return Owner(kind, ref.namespace, ref.name, uid, generation)


def resolve_publications(
    *,
    nats: Sequence[ParsedNat],
    services: Mapping[tuple[str, str], LBService],
    vips: Mapping[ObjectRef, Assignment],
    publics: Mapping[ObjectRef, Assignment],
    zones: Mapping[str, str],
) -> tuple[list[Publication], list[Problem]]:
    pubs: list[Publication] = []
    problems: list[Problem] = []
    for nat in nats:
        ref, spec = nat.ref, nat.spec
        if spec.service.namespace not in (None, "", ref.namespace):
            problems.append(Problem(ref, "spec.service.namespace", Code.ForeignNamespace,
                                    f"a NATRule may only publish Services of its own namespace "
                                    f"{ref.namespace!r}, not of {spec.service.namespace!r}"))
            continue
        svc = services.get((ref.namespace, spec.service.name))
        if svc is None:
            problems.append(Problem(ref, "spec.service.name", Code.ServiceNotFound,
                                    f"no LoadBalancer Service {ref.namespace}/{spec.service.name} of class "
                                    f"{specs.LB_CLASS}"))
            continue
        port = (svc.port(number=spec.service.port, protocol=spec.service.protocol)
                if isinstance(spec.service.port, int)
                else svc.port(name=spec.service.port, protocol=spec.service.protocol))
        if port is None:
            have = ", ".join(f"{p.port}/{p.protocol}" + (f" ({p.name})" if p.name else "") for p in svc.spec.ports)
            problems.append(Problem(ref, "spec.service.port", Code.PortNotFound,
                                    f"Service {svc.namespace}/{svc.name} has no port "
                                    f"{spec.service.port}/{spec.service.protocol} (it has {have or 'none'})"))
            continue
        public = publics.get(ref)
        if public is None:
            continue  # the allocator already said why
        pub_ip, pub_pool = public.addresses[0], public.pools[0]
        if pub_ip.version == 6:
            # PAN-OS translates IPv6 only as NPTv6 (prefixes, no ports) or NAT64: no IPv6-to-IPv6 NAT rule.
            problems.append(Problem(ref, "spec.public.address" if spec.public.address else "spec.public.pool",
                                    Code.NAT66Unsupported,
                                    f"{pub_ip} is IPv6: PAN-OS has NPTv6 and NAT64, not NAT66 (IPv6 destination "
                                    "NAT with ports); publish the Service's IPv6 VIP directly (route it and allow it "
                                    "with a SecurityPolicy) or give an IPv4 public address"))
            continue
        zone = spec.public.zone or zones.get(pub_pool, "")
        if not zone:
            problems.append(Problem(ref, "spec.public.zone", Code.NoZone,
                                    f"{pub_ip} is in no Public VIPPool; give spec.public.zone"))
            continue
        vip_assignment = vips.get(svc.ref)
        vip = next((ip for ip in (vip_assignment.addresses if vip_assignment else ())
                    if ip.version == pub_ip.version), None)
        if vip is None:
            problems.append(warn(ref, "spec.service.name", Code.VIPPending,
                                 f"Service {svc.namespace}/{svc.name} has no IPv{pub_ip.version} VIP yet"))
            continue
        pubs.append(Publication(nat, svc, port, pub_ip, spec.public.port or port.port, zone, vip))
    return _drop_conflicts(pubs, problems)


def _drop_conflicts(pubs: list[Publication], problems: list[Problem]) -> tuple[list[Publication], list[Problem]]:
    seen: dict[tuple[IPAddress, str, int], Publication] = {}
    kept = []
    for p in sorted(pubs, key=lambda p: (p.nat.ref)):
        key = (p.public, p.port.protocol, p.public_port)
        if key in seen:
            other = seen[key].nat.ref
            problems.append(Problem(p.nat.ref, "spec.public", Code.PublicConflict,
                                    f"{p.public}:{p.public_port}/{p.port.protocol} is already published by "
                                    f"{other}"))
            continue
        seen[key] = p
        kept.append(p)
    return kept, problems


def build_firewall(
    *,
    ownership_tag: str,
    publications: Sequence[Publication],
    policies: Sequence[ParsedPolicy],
    services: Mapping[tuple[str, str], LBService],
    vips: Mapping[ObjectRef, Assignment],
    zones: Mapping[str, str],
) -> tuple[DesiredFirewall, list[Problem], dict[ObjectRef, list[str]]]:
    b = _Builder(ownership_tag)
    problems: list[Problem] = []
    owned: dict[ObjectRef, list[str]] = defaultdict(list)

    holders: dict[IPAddress, list[LBService]] = defaultdict(list)
    for s in sorted(services.values(), key=lambda s: s.ref):
        for ip in getattr(vips.get(s.ref), "addresses", ()):
            holders[ip].append(s)

    def vip_object(svc: LBService, ip: IPAddress) -> str:
        # A shared VIP is one address object: it names every Service on it, owned by the first.
        sharing = holders.get(ip) or [svc]
        first = sharing[0]
        owner = owner_of("Service", first.ref, first.uid, first.generation)
        desc = naming.text("vip_description", services=[f"Service {s.namespace}/{s.name}" for s in sharing],
                           owner=owner)
        return b.address(ip, description=desc, owner=owner, namespace=first.namespace)

    for pub in publications:
        nat = pub.nat
        owner = owner_of("NATRule", nat.ref, nat.uid, nat.generation)
        pub_name = b.address(pub.public, owner=owner, namespace=nat.ref.namespace,
                             description=naming.text("public_description",
                                                     natrules=[f"NATRule {nat.ref.namespace}/{nat.ref.name}"],
                                                     owner=owner))
        vip_name = vip_object(pub.service, pub.vip)
        svc_name = b.service(pub.port.protocol, pub.public_port)
        rule_name = naming.name("nat_rule", namespace=nat.ref.namespace, name=nat.ref.name)
        b.nat.append(((nat.ref.namespace, nat.ref.name), NatRule(
            name=rule_name,
            from_zones=tuple(sorted(set(nat.spec.from_.zones))),
            to_zones=(pub.public_zone,),
            destination=(pub_name,),
            service=svc_name,
            translated_address=vip_name,
            translated_port=pub.port.port if pub.port.port != pub.public_port else None,
            sources=tuple(sorted(set(nat.spec.from_.addresses))) or ("any",),
            disabled=nat.spec.disabled,
            description=naming.text(
                "nat_description", natrule=f"{nat.ref.namespace}/{nat.ref.name}",
                service=f"{pub.service.namespace}/{pub.service.name}:{pub.port.port}",
                public=hostport.join(pub.public, pub.public_port), vip=hostport.join(pub.vip, pub.port.port),
                owner=owner),
            tags=b.tags(nat.ref.namespace),
            owner=owner,
        )))
        owned[nat.ref].append(rule_name)

    by_service: dict[ObjectRef, list[Publication]] = defaultdict(list)
    for pub in publications:
        by_service[pub.service.ref].append(pub)

    for pol in policies:
        selected, sel_problems = select_services(pol, services)
        problems += sel_problems
        owner = owner_of("SecurityPolicy", pol.ref, pol.uid, pol.generation)
        seen_rules: set[str] = set()
        for ri, rule in enumerate(pol.spec.rules):
            if rule.name in seen_rules:  # the API server refuses these; offline input may not have been there
                problems.append(Problem(pol.ref, f"spec.rules[{ri}].name", Code.DuplicateRule,
                                        f"rule name {rule.name!r} is used twice"))
                continue
            seen_rules.add(rule.name)
            for svc, named in selected:
                assignment = vips.get(svc.ref)
                if assignment is None:
                    continue
                ports, port_problems = _rule_ports(pol, ri, svc)
                if named:  # a Service matched only by labels may lack a port the rule names
                    problems += port_problems
                if not ports:
                    continue
                for published, rule_obj in _rules_for(b, pol, ri, svc, ports, assignment, zones,
                                                      by_service[svc.ref], owner, vip_object, problems):
                    key = (pol.ref.namespace, pol.ref.name, ri, svc.name, published)
                    b.security.append((key, rule_obj))
                    owned[pol.ref].append(rule_obj.name)
    created = {n.nat.ref: n.nat.created for n in publications} | {p.ref: p.created for p in policies}
    b.nat = _unique_names(b.nat, created, owned, problems)
    b.security = _unique_names(b.security, created, owned, problems)
    return b.build(), problems, owned


Entry = tuple[tuple[object, ...], Any]


def _unique_names(entries: list[Entry], created: Mapping[ObjectRef, str], owned: dict[ObjectRef, list[str]],
                  problems: list[Problem]) -> list[Entry]:
    """One owner per firewall name: the oldest object keeps it, every other claimant gets nothing.

    Names are injective by construction (controller/core/naming.py); this is the guard that makes a
    collision harmless even if that ever failed: the device would otherwise merge two owners' rules.
    """
    claims: dict[str, set[ObjectRef]] = defaultdict(set)
    for _, rule in entries:
        claims[rule.name].add(_ref_of(rule.owner))
    losers: set[tuple[str, ObjectRef]] = set()
    for name, refs in claims.items():
        if len(refs) < 2:
            continue
        ordered = sorted(refs, key=lambda r: (created.get(r, ""), r))
        for ref in ordered[1:]:
            losers.add((name, ref))
            problems.append(Problem(ref, "metadata.name", Code.NameCollision,
                                    f"its firewall name {name!r} is already held by an older object; "
                                    "nothing of it is put on the firewall under that name"))
            owned[ref] = [n for n in owned.get(ref, []) if n != name]
    return [(k, r) for k, r in entries if (r.name, _ref_of(r.owner)) not in losers]


def _ref_of(owner: Owner) -> ObjectRef:
    return ObjectRef(owner.kind, owner.namespace, owner.name)


def select_services(pol: ParsedPolicy, services: Mapping[tuple[str, str], LBService]
                    ) -> tuple[list[tuple[LBService, bool]], list[Problem]]:
    """The Services a policy selects, each with whether it was named (True) or only matched."""
    ns = pol.ref.namespace
    chosen: dict[str, tuple[LBService, bool]] = {}
    problems: list[Problem] = []
    for i, name in enumerate(pol.spec.services.names):
        svc = services.get((ns, name))
        if svc is None:
            problems.append(warn(pol.ref, f"spec.services.names[{i}]", Code.ServiceNotFound,
                                 f"no LoadBalancer Service {ns}/{name} of class {specs.LB_CLASS}"))
        else:
            chosen[name] = (svc, True)
    sel = pol.spec.services.selector
    if sel is not None and sel.match_labels:
        want = set(sel.match_labels.items())
        for (sns, name), svc in services.items():
            if sns == ns and want <= set(svc.labels) and name not in chosen:
                chosen[name] = (svc, False)
    if not chosen:
        problems.append(warn(pol.ref, "spec.services", Code.SelectsNothing,
                             f"the policy selects no LoadBalancer Service in namespace {ns!r}"))
    return [chosen[k] for k in sorted(chosen)], problems


def _rule_ports(pol: ParsedPolicy, ri: int, svc: LBService) -> tuple[list[specs.ServicePort], list[Problem]]:
    rule = pol.spec.rules[ri]
    if not rule.ports:
        return list(svc.spec.ports), []
    out, problems = [], []
    for pi, pr in enumerate(rule.ports):
        port = (svc.port(number=pr.port, protocol=pr.protocol) if pr.port is not None
                else svc.port(name=pr.name, protocol=pr.protocol))
        if port is None:
            want = pr.port if pr.port is not None else pr.name
            problems.append(Problem(pol.ref, f"spec.rules[{ri}].ports[{pi}]", Code.PortNotFound,
                                    f"Service {svc.namespace}/{svc.name} has no port {want}/{pr.protocol}"))
        elif port not in out:
            out.append(port)
    return out, problems


def _rules_for(b: _Builder, pol: ParsedPolicy, ri: int, svc: LBService, ports: list[specs.ServicePort],
               assignment: Assignment, zones: Mapping[str, str], pubs: list[Publication], owner: Owner,
               vip_object, problems: list[Problem]):  # type: ignore[no-untyped-def]
    rule = pol.spec.rules[ri]
    vip_zone = next((zones[p] for p in assignment.pools if p in zones), "")
    if not vip_zone:
        problems.append(Problem(pol.ref, f"spec.rules[{ri}]", Code.NoZone,
                                f"the VIP of Service {svc.namespace}/{svc.name} is in no VIPPool; "
                                "its firewall zone is unknown"))
        return
    rule_zones = set(rule.from_.zones)
    any_zone = "any" in rule_zones
    relevant = [p for p in pubs if p.port in ports]
    nat_zones = {z for p in relevant for z in p.nat.spec.from_.zones}
    pub_zones = nat_zones if any_zone else rule_zones & nat_zones
    direct_zones = {"any"} if any_zone else rule_zones - nat_zones
    common = dict(
        sources=tuple(sorted(set(rule.from_.addresses))) or ("any",),
        applications=tuple(sorted(set(rule.applications))) or ("any",),
        action=Action(rule.action), log_start=rule.log.start, log_end=rule.log.end,
        log_setting=rule.log.profile, disabled=rule.disabled, tags=b.tags(pol.ref.namespace), owner=owner,
    )
    for published in (False, True):
        if published:
            chosen = [p for p in relevant if set(p.nat.spec.from_.zones) & pub_zones]
            if not chosen:
                continue
            from_zones = pub_zones
            dests = sorted({naming.name("address", ip=str(p.public)) for p in chosen})
            services = sorted({b.service(p.port.protocol, p.public_port) for p in chosen})
        else:
            if not direct_zones:
                continue
            from_zones = direct_zones
            dests = sorted({vip_object(svc, ip) for ip in assignment.addresses})
            services = sorted({b.service(p.protocol, p.port) for p in ports})
        name = naming.name("security_rule", namespace=pol.ref.namespace, policy=pol.ref.name,
                           rule=rule.name, service=svc.name, published=published)
        yield published, SecurityRule(
            name=name, from_zones=tuple(sorted(from_zones)), to_zones=(vip_zone,),
            destinations=tuple(dests), services=tuple(services),
            description=naming.text("security_description", policy=f"{pol.ref.namespace}/{pol.ref.name}",
                                    rule=rule.name, service=f"{svc.namespace}/{svc.name}",
                                    published=published, owner=owner),
            **common,
        )


def parse_ip(raw: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(raw.strip())
    except ValueError:
        return None
