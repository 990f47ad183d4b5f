"""From NATRules and SecurityPolicies to the desired firewall state (PAN-OS semantics).

A NATRule becomes a destination NAT from public address:port to the Service's VIP:port
(`resolve_publications` picks the public address and ports, `nat_rule` builds the rule).
A SecurityPolicy's rules: controller/core/security_rules.py. `build_firewall` composes them.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from controller.core import hostport, naming, port_refs, rule_parts, shared, specs
from controller.core.compile_cache import CompileCache
from controller.core.ipam import Assignment
from controller.core.name_claims import unique_names
from controller.core.pools import IPAddress, ip_address
from controller.core.problems import ObjectRef, Problem
from controller.core.reasons import Code
from controller.core.rule_builder import Builder, Fragment, Recorder, owner_of, vip_objects
from controller.core.rule_parts import Part
from controller.core.security_rules import security_rules, select_services
from controller.core.services import LBService, warn
from firewall.model import (
    DesiredFirewall,
    NatRule,
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
    # public:port and VIP:port as the NATRule's status and rule say them (joined once per publication)
    joined: tuple[str, str] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "joined", (hostport.join(self.public, self.public_port),
                                            hostport.join(self.vip, self.port.port)))


def resolve_publications(
    *,
    nats: Sequence[ParsedNat],
    services: Mapping[tuple[str, str], LBService],
    vips: Mapping[ObjectRef, Assignment],
    publics: Mapping[ObjectRef, Assignment],
    zones: Mapping[str, str],
    cache: CompileCache | None = None,
) -> tuple[list[Publication], list[Problem]]:
    """cache: a NATRule's publication is found again while its inputs compare equal (the NATRule,
    its Service, their addresses, the pools' zones)."""
    pubs: list[Publication] = []
    problems: list[Problem] = []
    for nat in nats:
        svc = services.get((nat.ref.namespace, nat.spec.service.name))
        inputs = (nat, svc, publics.get(nat.ref), vips.get(svc.ref) if svc is not None else None, zones)
        pub, p = (_publication(*inputs) if cache is None
                  else cache.publications.get(nat.ref, inputs, functools.partial(_publication, *inputs)))
        problems += p
        if pub is not None:
            pubs.append(pub)
    return _drop_conflicts(pubs, problems)


def _publication(nat: ParsedNat, svc: LBService | None, public: Assignment | None, vip_assignment: Assignment | None,
                 zones: Mapping[str, str]) -> tuple[Publication | None, tuple[Problem, ...]]:
    """One NATRule's publication, or the problem that stops it."""
    ref, spec = nat.ref, nat.spec
    if spec.service.namespace not in (None, "", ref.namespace):
        return None, (Problem(ref, "spec.service.namespace", Code.ForeignNamespace,
                              f"a NATRule may only publish Services of its own namespace "
                              f"{ref.namespace!r}, not of {spec.service.namespace!r}"),)
    if svc is None:
        return None, (Problem(ref, "spec.service.name", Code.ServiceNotFound,
                              f"no LoadBalancer Service {ref.namespace}/{spec.service.name} of class "
                              f"{specs.LB_CLASS}"),)
    port = port_refs.find(svc, spec.service.port, spec.service.protocol)
    if port is None:
        return None, (Problem(ref, "spec.service.port", Code.PortNotFound,
                              port_refs.unmatched(spec.service.port, spec.service.protocol, [svc])),)
    if public is None:
        return None, ()  # the allocator already said why
    pub_ip, pub_pool = public.addresses[0], public.pools[0]
    if pub_ip.version == 6:
        # PAN-OS translates IPv6 only as NPTv6 (prefixes, no ports) or NAT64: no IPv6-to-IPv6 NAT rule.
        return None, (Problem(ref, "spec.public.address" if spec.public.address else "spec.public.pool",
                              Code.NAT66Unsupported,
                              f"{pub_ip} is IPv6: PAN-OS has NPTv6 and NAT64, not NAT66 (IPv6 destination "
                              "NAT with ports); publish the Service's IPv6 VIP directly (route it and allow it "
                              "with a SecurityPolicy) or give an IPv4 public address"),)
    zone = spec.public.zone or zones.get(pub_pool, "")
    if not zone:
        return None, (Problem(ref, "spec.public.zone", Code.NoZone,
                              f"{pub_ip} is in no Public VIPPool; give spec.public.zone"),)
    vip = next((ip for ip in (vip_assignment.addresses if vip_assignment else ()) if ip.version == pub_ip.version),
               None)
    if vip is None:
        return None, (warn(ref, "spec.service.name", Code.VIPPending,
                           f"Service {svc.namespace}/{svc.name} has no IPv{pub_ip.version} VIP yet"),)
    return Publication(nat, svc, port, pub_ip, spec.public.port or port.port, zone, vip), ()


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
    cache: CompileCache | None = None,
    selections: dict[ObjectRef, list[LBService]] | None = None,
    firewall: str = "",
) -> tuple[DesiredFirewall, list[Problem], dict[ObjectRef, Sequence[str]]]:
    """cache: a namespace's rules are reused whole while its objects did not change, a NATRule's or
    SecurityPolicy's while what they are made from did not (the publication; the policy, the
    Services it selects, their VIPs, publications, zones). selections: where the Services each
    policy selects are noted, if chosen here (for its report)."""
    zone_items = tuple(sorted(zones.items()))
    by_service: dict[ObjectRef, list[Publication]] = defaultdict(list)
    for pub in publications:
        by_service[pub.service.ref].append(pub)

    def make(pubs: list[Publication], pols: list[ParsedPolicy]) -> Part:
        return _part(ownership_tag, pubs, pols, services, vips, zones, zone_items, by_service, cache)

    parts = None
    if cache is not None:
        parts = rule_parts.by_namespace(cache.namespaces, (firewall, ownership_tag), (ownership_tag, zone_items),
                                        publications, policies, services, vips, make)
        if parts is not None:
            for part in parts:
                cache.nat_rules.carry(part.carried[0])
                cache.policies.carry(part.carried[1])
    parts = parts or [make(list(publications), list(policies))]
    b = Builder(ownership_tag)
    b.nat = [e for part in parts for e in part.nat]
    b.security = [e for part in parts for e in part.security]
    owned: dict[ObjectRef, Sequence[str]] = {}
    problems: list[Problem] = []
    for part in parts:
        owned.update(part.owned)
        problems += part.problems
        if selections is not None:
            selections.update(part.selections)
    vip_object = vip_objects(ownership_tag, services, vips, cache)
    merged = [m for part in parts for m in part.merged or ()]  # (NAT, policies) per part
    if not (merged and b.merge(merged[0::2] + merged[1::2], vip_object)):
        # offline tools and the tests' reference: every fragment in order
        for frag in [f for part in parts for f in part.nat_frags] + [f for part in parts for f in part.policy_frags]:
            b.apply(frag, vip_object)
    created = {n.nat.ref: n.nat.created for n in publications} | {p.ref: p.created for p in policies}
    b.nat = unique_names(b.nat, created, owned, problems)
    b.security = unique_names(b.security, created, owned, problems)
    return b.build(), problems, owned


def _part(ownership_tag: str, publications: list[Publication], policies: list[ParsedPolicy],
          services: Mapping[tuple[str, str], LBService], vips: Mapping[ObjectRef, Assignment],
          zones: Mapping[str, str], zone_items: tuple[tuple[str, str], ...],
          by_service: Mapping[ObjectRef, list[Publication]], cache: CompileCache | None) -> Part:
    """These objects' fragments (each from the cache while its inputs compare equal) and rules;
    by_service: every publication of each Service (a policy's rules name them)."""
    def nat_fragment(pub: Publication) -> Fragment:
        r = Recorder(ownership_tag)
        return r.fragment([((pub.nat.ref.namespace, pub.nat.ref.name), nat_rule(r, pub, r.vip))], [])

    selections: dict[ObjectRef, list[LBService]] = {}

    def policy_fragment(pol: ParsedPolicy) -> Fragment:
        r = Recorder(ownership_tag)
        p: list[Problem] = []
        owner = owner_of("SecurityPolicy", pol.ref, pol.uid, pol.generation)
        entries = list(security_rules(r, pol, owner, services=services, vips=vips, zones=zones,
                                      by_service=by_service, vip_object=r.vip, problems=p))
        return r.fragment(entries, p)

    nat_frags = [cache.nat_rules.get(pub.nat.ref, (ownership_tag, pub), lambda pub=pub: nat_fragment(pub))
                 if cache is not None else nat_fragment(pub) for pub in publications]
    policy_frags = [
        cache.policies.get(pol.ref, _policy_inputs(ownership_tag, pol, zone_items, services, vips, by_service,
                                                    selections), lambda pol=pol: policy_fragment(pol))
        if cache is not None else policy_fragment(pol) for pol in policies]
    owned: dict[ObjectRef, tuple[str, ...]] = {}
    for obj, frag in zip([p.nat for p in publications] + list(policies), nat_frags + policy_frags, strict=True):
        if frag.entries:
            owned[obj.ref] = tuple(rule.name for _, rule in frag.entries)
    return Part(tuple(nat_frags), tuple(policy_frags), tuple(e for f in nat_frags for e in f.entries),
                tuple(e for f in policy_frags for e in f.entries), owned,
                tuple(x for f in policy_frags for x in f.problems), selections,
                (rule_parts.combine(nat_frags), rule_parts.combine(policy_frags)) if cache is not None else None,
                (tuple(p.nat.ref for p in publications), tuple(p.ref for p in policies)))


def _policy_inputs(ownership_tag: str, pol: ParsedPolicy, zone_items: tuple[tuple[str, str], ...],
                   services: Mapping[tuple[str, str], LBService], vips: Mapping[ObjectRef, Assignment],
                   by_service: Mapping[ObjectRef, list[Publication]],
                   selections: dict[ObjectRef, list[LBService]] | None) -> tuple[object, ...]:
    """What a SecurityPolicy's rules are made from (its compile cache key); the Services it selects
    are noted in `selections`."""
    selected = select_services(pol, services)[0]
    if selections is not None:
        selections[pol.ref] = selected
    return (ownership_tag, pol, zone_items,
            tuple((s, vips.get(s.ref), tuple(by_service.get(s.ref, ()))) for s in selected))


def nat_rule(b: Recorder, pub: Publication, vip_object: Callable[[LBService, IPAddress], str]) -> NatRule:
    """A NATRule's destination NAT: from its public address:port (in its zones) to the Service's
    VIP:port; the address and service objects it names are added to `b`."""
    nat = pub.nat
    owner = owner_of("NATRule", nat.ref, nat.uid, nat.generation)
    pub_name = b.address(pub.public, owner=owner, namespace=nat.ref.namespace,
                         description=naming.text("public_description",
                                                 natrules=[f"NATRule {nat.ref.namespace}/{nat.ref.name}"],
                                                 owner=owner))
    vip_name = vip_object(pub.service, pub.vip)
    svc_name = b.service(pub.port.protocol, pub.public_port)
    return NatRule(
        name=naming.name("nat_rule", namespace=nat.ref.namespace, name=nat.ref.name),
        from_zones=shared.strings(tuple(sorted(set(nat.spec.from_.zones)))),
        to_zones=shared.strings((pub.public_zone,)),
        destination=(pub_name,),
        service=svc_name,
        translated_address=vip_name,
        translated_port=pub.port.port if pub.port.port != pub.public_port else None,
        sources=shared.strings(tuple(sorted(set(nat.spec.from_.addresses))) or ("any",)),
        disabled=nat.spec.disabled,
        description=naming.text(
            "nat_description", natrule=f"{nat.ref.namespace}/{nat.ref.name}",
            service=f"{pub.service.namespace}/{pub.service.name}:{pub.port.port}",
            public=pub.joined[0], vip=pub.joined[1],
            owner=owner),
        tags=b.tags(nat.ref.namespace),
        owner=owner,
    )


def parse_ip(raw: str) -> IPAddress | None:
    try:
        return ip_address(raw.strip())
    except ValueError:
        return None
