"""The audit's findings on what bmlb put on a firewall: allow rules open to every source (and
the Services they expose), NAT rules that do not translate to their Service's current VIP."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from controller.core import hostport
from controller.core.audit_inputs import field, ingress, ip_of, mapping, meta_of
from controller.core.snapshot import Body, Snapshot
from firewall.elements import Kind
from firewall.model import Action, AddressObject, DesiredFirewall, Owner


@dataclass(frozen=True, slots=True)
class AnySource:
    name: str
    from_zones: tuple[str, ...]
    to_zones: tuple[str, ...]
    destinations: tuple[str, ...]  # address object names, with their IPs where known: "name (ip)"
    services: tuple[str, ...]
    exposed: tuple[str, ...]  # Services ("ns/name") whose VIP or public address is a destination
    owner: Owner | None = None


@dataclass(frozen=True, slots=True)
class NatMismatch:
    name: str
    translated_address: str  # the address object's name
    translated_ip: str  # what it resolves to on the firewall ("" when it does not resolve)
    service: str  # "ns/name", "" when unknown
    vips: tuple[str, ...]  # the Service's status.loadBalancer.ingress IPs
    reason: str
    owner: Owner | None = None


def _exposed_by_ip(snapshot: Snapshot, actual: DesiredFirewall, addresses: Mapping[str, AddressObject]
                   ) -> dict[str, set[str]]:
    """IP -> Services reachable at it: their VIPs, and the public addresses NAT rules translate to them."""
    out: dict[str, set[str]] = {}
    for svc in snapshot.services:
        meta = meta_of(svc)
        for ip in ingress(svc):
            out.setdefault(ip, set()).add(f"{meta.get('namespace')}/{meta.get('name')}")
    for nat in snapshot.nat_rules:
        meta, spec = meta_of(nat), mapping(nat.get("spec"))
        public = str(field(nat, "status", "public") or "")
        explicit = str(field(spec, "public", "address") or "")
        hosts = {hostport.host(public), explicit}
        svc = field(spec, "service", "name")
        for host in hosts - {""}:
            if svc:
                out.setdefault(host, set()).add(f"{meta.get('namespace')}/{svc}")
    for rule in actual.nat_rules:  # what the firewall itself publishes
        behind = set(out.get(ip_of(addresses.get(rule.translated_address)), ()))
        for d in rule.destination:
            if (ip := ip_of(addresses.get(d))) and behind:
                out.setdefault(ip, set()).update(behind)
    return out


def any_source(actual: DesiredFirewall, addresses: Mapping[str, AddressObject], snapshot: Snapshot,
                owners: Mapping[tuple[Kind, str], Owner | None]) -> list[AnySource]:
    by_ip = _exposed_by_ip(snapshot, actual, addresses)
    out = []
    for rule in actual.security_rules:
        if rule.action is not Action.ALLOW or rule.disabled or "any" not in rule.sources:
            continue
        dests, exposed = [], set()
        for d in rule.destinations:
            ip = ip_of(addresses.get(d))
            dests.append(f"{d} ({ip})" if ip else d)
            exposed |= by_ip.get(ip, set())
        out.append(AnySource(rule.name, rule.from_zones, rule.to_zones, tuple(dests), rule.services,
                             tuple(sorted(exposed)), owners.get((Kind.SECURITY, rule.name))))
    return sorted(out, key=lambda a: a.name)


def nat_mismatches(actual: DesiredFirewall, addresses: Mapping[str, AddressObject],
                    index: Mapping[tuple[str, str, str], Body], owners: Mapping[tuple[Kind, str], Owner | None]
                    ) -> list[NatMismatch]:
    out = []
    for rule in actual.nat_rules:
        owner = owners.get((Kind.NAT, rule.name))
        if owner is None or owner.kind != "NATRule":
            continue  # an orphan or unowned rule is reported as such; without an owner there is no Service
        natrule = index.get(("NATRule", owner.namespace, owner.name))
        if natrule is None:
            continue
        svc_name = str(field(natrule, "spec", "service", "name") or "")
        service = index.get(("Service", owner.namespace, svc_name))
        svc = f"{owner.namespace}/{svc_name}"
        vips = ingress(service)
        ip = ip_of(addresses.get(rule.translated_address))

        if service is None:
            reason = f"Service {svc} does not exist"
        elif not ip:
            reason = f"translated address {rule.translated_address} is not a bmlb address object with one IP"
        elif not vips:
            reason = f"Service {svc} has no VIP in status.loadBalancer.ingress"
        elif ip not in vips:
            reason = f"translates to {ip}, but the VIP of Service {svc} is {', '.join(vips)}"
        else:
            continue
        out.append(NatMismatch(rule.name, rule.translated_address, ip, svc, vips, reason, owner))
    return sorted(out, key=lambda m: m.name)
