"""A SecurityPolicy's rules on the firewall (PAN-OS semantics): per rule and selected Service, a
rule to the VIP (traffic that reaches the VIP directly) and, when a NATRule publishes the Service
from the rule's zones, a rule to the PRE-NAT destination (the public address and port) in the
POST-NAT zone (the VIP pool's zone): PAN-OS matches security rules on the original destination
and the translated zone. The objects they name are added to the builder of controller/core/rules.py."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from controller.core import naming, port_refs, shared, specs
from controller.core.ipam import Assignment
from controller.core.pools import IPAddress
from controller.core.problems import ObjectRef, Problem
from controller.core.reasons import Code
from controller.core.services import LBService, ServiceMap, warn
from firewall.model import Action, Owner, SecurityRule

if TYPE_CHECKING:
    from controller.core.rules import ParsedPolicy, Publication

VipObject = Callable[[LBService, IPAddress], str]


def security_rules(b: Any, pol: ParsedPolicy, owner: Owner, *, services: Mapping[tuple[str, str], LBService],
                   vips: Mapping[ObjectRef, Assignment], zones: Mapping[str, str],
                   by_service: Mapping[ObjectRef, list[Publication]], vip_object: VipObject,
                   problems: list[Problem]) -> Iterator[tuple[tuple[object, ...], SecurityRule]]:
    """(key, rule) for every rule of `pol` and Service it selects; problems appended."""
    selected, sel_problems = select_services(pol, services)
    problems += sel_problems
    problems += unmatched_ports(pol, selected)
    seen_rules: set[str] = set()
    for ri, rule in enumerate(pol.spec.rules):
        if rule.name in seen_rules:  # the API server refuses these; offline input may not have been there
            problems.append(Problem(pol.ref, f"spec.rules[{ri}].name", Code.DuplicateRule,
                                    f"rule name {rule.name!r} is used twice"))
            continue
        seen_rules.add(rule.name)
        for svc in selected:
            assignment = vips.get(svc.ref)
            if assignment is None:
                continue
            ports = _rule_ports(rule, svc)
            if not ports:
                continue
            for published, rule_obj in _rules_for(b, pol, ri, svc, ports, assignment, zones,
                                                  by_service.get(svc.ref, []), owner, vip_object, problems):
                yield (pol.ref.namespace, pol.ref.name, ri, svc.name, published), rule_obj


def select_services(pol: ParsedPolicy, services: Mapping[tuple[str, str], LBService]
                    ) -> tuple[list[LBService], list[Problem]]:
    """The Services a policy selects (named or matched by labels), by name."""
    ns = pol.ref.namespace
    chosen: dict[str, LBService] = {}
    problems: list[Problem] = []
    for i, name in enumerate(pol.spec.services.names):
        svc = services.get((ns, name))
        if svc is None:
            problems.append(warn(pol.ref, f"spec.services.names[{i}]", Code.ServiceNotFound,
                                 f"no LoadBalancer Service {ns}/{name} of class {specs.LB_CLASS}"))
        else:
            chosen[name] = svc
    sel = pol.spec.services.selector
    if sel is not None and sel.match_labels:
        want = set(sel.match_labels.items())
        for name, svc in _in_namespace(services, ns):
            if name not in chosen and want.issubset(svc.labels):
                chosen[name] = svc
    if not chosen:
        problems.append(warn(pol.ref, "spec.services", Code.SelectsNothing,
                             f"the policy selects no LoadBalancer Service in namespace {ns!r}"))
    return [chosen[k] for k in sorted(chosen)], problems


def _in_namespace(services: Mapping[tuple[str, str], LBService], ns: str) -> Iterable[tuple[str, LBService]]:
    if isinstance(services, ServiceMap):
        return services.in_namespace(ns)
    return ((name, svc) for (sns, name), svc in services.items() if sns == ns)


def unmatched_ports(pol: ParsedPolicy, selected: list[LBService]) -> list[Problem]:
    """A problem for each `ports` entry that names no port of any selected Service: it opens
    nothing. A Service matched by labels (or one of several named) may well lack a port a rule
    names; only an entry that matches nowhere is a mistake."""
    if not selected:
        return []  # SelectsNothing says so already
    have = port_refs.offered(selected)
    said: dict[tuple[int | str | None, str], str] = {}  # rules often repeat an entry
    out, seen = [], set()
    for ri, rule in enumerate(pol.spec.rules):
        if rule.name in seen:
            continue  # DuplicateRule: the rule is left out
        seen.add(rule.name)
        for pi, pr in enumerate(rule.ports):
            ref = pr.port if pr.port is not None else pr.name
            if ref is not None and (ref, pr.protocol) in have:
                continue
            if (ref, pr.protocol) not in said:
                said[ref, pr.protocol] = port_refs.unmatched(ref, pr.protocol, selected)
            out.append(Problem(pol.ref, f"spec.rules[{ri}].ports[{pi}]", Code.PortMatchesNothing,
                               said[ref, pr.protocol]))
    return out


def _rule_ports(rule: specs.PolicyRule, svc: LBService) -> list[specs.ServicePort]:
    if not rule.ports:
        return list(svc.spec.ports)
    out = []
    for pr in rule.ports:
        port = port_refs.find(svc, pr.port if pr.port is not None else pr.name, pr.protocol)
        if port is not None and port not in out:
            out.append(port)
    return out


def _rules_for(b: Any, pol: ParsedPolicy, ri: int, svc: LBService, ports: list[specs.ServicePort],
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
        sources=shared.strings(tuple(sorted(set(rule.from_.addresses))) or ("any",)),
        applications=shared.strings(tuple(sorted(set(rule.applications))) or ("any",)),
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
            name=name, from_zones=shared.strings(tuple(sorted(from_zones))), to_zones=shared.strings((vip_zone,)),
            destinations=tuple(dests), services=shared.strings(tuple(services)),
            description=naming.text("security_description", policy=f"{pol.ref.namespace}/{pol.ref.name}",
                                    rule=rule.name, service=f"{svc.namespace}/{svc.name}",
                                    published=published, owner=owner),
            **common,
        )
