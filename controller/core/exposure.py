"""Who can reach a Service, really: per (source zone, source range) the (address, port) it
reaches and the rule that allows it, from the rulebase read from the device, in order, foreign
rules included. Pure.

PAN-OS evaluates NAT first (first match, on the pre-NAT packet), then security policy on the
PRE-NAT addresses and service with the POST-NAT destination zone; after every security rule
intrazone-default allows and interzone-default denies. A Service is reached two ways: at its
VIP directly, and at each public address a destination NAT rule translates to the VIP.

Where the config cannot be resolved (an FQDN, a dynamic group, application-default ports) an
allow rule is taken to match and a deny rule not to: the matrix errs towards "reachable".
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from controller.core import intervals as ival
from controller.core import rule_services as rsv
from controller.core import shadowing as sh
from controller.core.audit_rulebase import Nat, Policy, Rule

INTRAZONE_DEFAULT = "intrazone-default"


@dataclass(frozen=True, slots=True)
class Port:
    protocol: str  # tcp | udp | sctp
    port: int


@dataclass(frozen=True, slots=True)
class Reach:
    """One row of the matrix."""

    service: str  # "ns/name"
    source_zone: str
    sources: tuple[str, ...]  # CIDRs ("any": the whole address family)
    address: str  # what the client connects to: the public address or the VIP
    port: int
    protocol: str
    via: str  # "vip" | "public"
    vip: str
    rule: str  # the security rule that allows it, or intrazone-default
    position: int  # 0 for intrazone-default
    foreign: bool
    applications: tuple[str, ...] = ("any",)
    nat: str = ""  # the NAT rule that publishes it (via public)

    @property
    def namespace(self) -> str:
        return self.service.split("/", 1)[0]


@dataclass(frozen=True, slots=True)
class Target:
    """A Service as the matrix sees it: its VIPs and its ports (from the cluster)."""

    service: str
    vips: tuple[str, ...]
    ports: tuple[Port, ...]


def _ip(text: str) -> ival.Intervals:
    iv = ival.ip_interval(text)
    return (iv,) if iv else ()


def _family(ip: str) -> ival.Intervals:
    iv = ival.ip_interval(ip)
    return ival.ALL_V4 if iv and iv[0] < ival.V4 else ival.ALL_V6


def _single_ip(policy: Policy, name: str) -> str | None:
    a = sh.addresses(policy, (name,))
    if a.under == a.over and len(a.under) == 1 and a.under[0][0] == a.under[0][1]:
        return ival.to_cidrs(a.under)[0].split("/", 1)[0]
    return None


def zones(policy: Policy) -> list[str]:
    """Every zone the config knows or names."""
    found = set(policy.zones)
    for r in policy.security:
        found |= set(r.from_zones) | set(r.to_zones)
    for n in policy.nat:
        found |= set(n.from_zones) | set(n.to_zones)
    return sorted(found - {"any"})


@functools.lru_cache(maxsize=1024)
def _candidates(policy: Policy, src_zone: str, dst_zone: str) -> tuple[Rule, ...]:
    """The enabled rules for this zone pair, in order (computed once per pair)."""
    return tuple(r for r in policy.security if not r.disabled and sh.zone_matches(r, src_zone, dst_zone))


def security_walk(policy: Policy, src_zone: str, dst_zone: str, dst_ip: str, port: Port,
                  space: ival.Intervals) -> list[tuple[ival.Intervals, Rule | None]]:
    """The source ranges (within `space`) each rule allows, in rulebase order (None: intrazone-default)."""
    out: list[tuple[ival.Intervals, Rule | None]] = []
    remaining = space
    point = _ip(dst_ip)
    for r in _candidates(policy, src_zone, dst_zone):
        if not remaining:
            break
        allow = r.action == "allow"
        sure = not allow
        dst = sh.addresses(policy, r.destinations, r.destination_negate)
        if not ival.contains(dst.under if sure else dst.over, point):
            continue
        if sure and "any" not in r.applications:
            continue  # a deny of some applications leaves the port open to the others
        if not rsv.port_matches(rsv.services(policy, r.services), port.protocol, port.port, sure=sure):
            continue
        src = sh.addresses(policy, r.sources, r.source_negate)
        matched = ival.intersect(remaining, src.under if sure else src.over)
        if allow and matched:
            out.append((matched, r))
        remaining = ival.subtract(remaining, matched)
    if remaining and src_zone == dst_zone:
        out.append((remaining, None))
    return out


def _nat_matches(policy: Policy, n: Nat, src_zone: str, dst_zone: str | None, dst_ip: str, port: Port) -> bool:
    if n.disabled or ("any" not in n.from_zones and src_zone not in n.from_zones):
        return False
    if dst_zone is not None and "any" not in n.to_zones and dst_zone not in n.to_zones:
        return False
    if not ival.contains(sh.addresses(policy, n.destinations).under, _ip(dst_ip)):
        return False
    return n.service == "any" or rsv.port_matches(rsv.services(policy, (n.service,)), port.protocol, port.port,
                                                  sure=True)


def _published(policy: Policy, vip: str, port: Port) -> list[tuple[str, Port, Nat]]:
    """(public address, public port, NAT rule) of every destination NAT rule that sends to vip:port."""
    out = []
    for n in policy.nat:
        if n.disabled or n.translated_address is None or _single_ip(policy, n.translated_address) != vip:
            continue
        svc = rsv.services(policy, (n.service,)) if n.service != "any" else None
        for d in n.destinations:
            public = _single_ip(policy, d)
            if public is None:
                continue
            if n.translated_port is not None:
                if n.translated_port != port.port or svc is None:
                    continue
                for proto, ivs in svc.under:
                    if proto == port.protocol:
                        out += [(public, Port(proto, p), n) for lo, hi in ivs for p in range(lo, min(hi, lo + 16) + 1)]
            elif svc is None or rsv.port_matches(svc, port.protocol, port.port, sure=True):
                out.append((public, port, n))
    return out


def matrix(policy: Policy, targets: Iterable[Target], zone_hint: Callable[[str], str | None] = lambda _ip: None,
           ) -> list[Reach]:
    out: list[Reach] = []
    all_zones = zones(policy)
    for t in targets:
        for vip in t.vips:
            vip_zone = policy.zone_of(vip) or zone_hint(vip)
            if vip_zone is None:
                continue
            for port in t.ports:
                for z in all_zones:
                    # at the VIP itself: what a NAT rule sends elsewhere never reaches it
                    translated, direct = _nat_walk(policy, z, vip_zone, vip, port, vip, port)
                    space = ival.normalize([*direct, *(iv for ivs in translated.values() for iv in ivs)])
                    if space:
                        out += _rows(policy, t, z, vip_zone, vip, port, vip, "vip", space, "")
                for public, pport, nat in _published(policy, vip, port):
                    pub_zone = policy.zone_of(public)
                    for z in all_zones:
                        translated, _ = _nat_walk(policy, z, pub_zone, public, pport, vip, port)
                        if translated.get(nat.name):
                            out += _rows(policy, t, z, vip_zone, public, pport, vip, "public",
                                         translated[nat.name], nat.name)
    return sorted(set(out), key=lambda r: (r.service, r.via, r.address, r.protocol, r.port, r.source_zone,
                                           r.position, r.sources))


def _nat_walk(policy: Policy, src_zone: str, pre_zone: str | None, address: str, pport: Port, vip: str,
              port: Port) -> tuple[dict[str, ival.Intervals], ival.Intervals]:
    """First match over the NAT rulebase for traffic to address:pport. Returns the source ranges
    each rule translates to vip:port, and those that go on untranslated (no rule matched, or one
    without destination translation)."""
    remaining = _family(address)
    out: dict[str, ival.Intervals] = {}
    untranslated: ival.Intervals = ()
    for n in policy.nat:
        if not remaining:
            break
        if not _nat_matches(policy, n, src_zone, pre_zone, address, pport):
            continue
        matched = ival.intersect(remaining, sh.addresses(policy, n.sources).under)
        if n.translated_address is None:
            untranslated = ival.normalize([*untranslated, *matched])
        elif _single_ip(policy, n.translated_address) == vip and (n.translated_port or pport.port) == port.port:
            out[n.name] = matched
        remaining = ival.subtract(remaining, matched)
    return out, ival.normalize([*untranslated, *remaining])


def _rows(policy: Policy, t: Target, src_zone: str, dst_zone: str, address: str, port: Port, vip: str, via: str,
          space: ival.Intervals, nat: str) -> list[Reach]:
    out = []
    for ivs, rule in security_walk(policy, src_zone, dst_zone, address, port, space):
        out.append(Reach(t.service, src_zone, tuple(ival.to_cidrs(ivs)), address, port.port, port.protocol, via, vip,
                         rule.name if rule else INTRAZONE_DEFAULT, rule.position if rule else 0,
                         bool(rule and not rule.managed), rule.applications if rule else ("any",), nat))
    return out


def by_namespace(rows: Sequence[Reach]) -> Mapping[str, list[Reach]]:
    out: dict[str, list[Reach]] = {}
    for r in rows:
        out.setdefault(r.namespace, []).append(r)
    return out
