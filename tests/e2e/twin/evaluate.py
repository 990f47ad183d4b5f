"""What a PAN-OS firewall does with the first packet of a session: the twin's reference semantics,
which the nftables ruleset (nft.py) and routes (routes.py) implement in a kernel.

Sources (PAN-OS 10.x documentation):
- "Packet Flow Sequence in PAN-OS" (knowledgebase, kA10g000000ClVHCA0): ingress zone from the
  ingress interface; a forwarding (route) lookup of the ORIGINAL destination gives the egress
  interface and zone; NAT policy is looked up with those; if a destination NAT rule matches, a
  second route lookup of the TRANSLATED address gives the final egress interface and zone; then
  security policy; translation is applied on egress.
- "Destination NAT Example—One-to-One Mapping" (pan-os-admin/networking/nat/nat-configuration-
  examples): the NAT rule goes from the client's zone to the zone of the PUBLIC (pre-NAT)
  address (Untrust-L3 to Untrust-L3); "after determining the translated address, the firewall
  performs a route lookup for [the translated address] to determine the egress interface" (zone
  DMZ); the security rule goes from Untrust-L3 to DMZ (the post-NAT zone) and "refers to the IP
  address in the original packet" (pre-NAT destination address). Hence "pre-NAT IP, post-NAT zone".
- "NAT Policy Overview": NAT rules are evaluated top down, first match; a packet matched by one
  NAT rule is not subjected to others; rules match on zones, destination interface, source and
  destination address and service of the original packet. Disabled rules do not exist for matching.
- "Security Policy" / "Policies > Security" (web interface help): top down, first match, on
  source zone, destination zone, addresses (negate-source / negate-destination invert the address
  match), service; rule types universal / intrazone (source zone = destination zone) / interzone
  (different zones); unmatched traffic hits the default rules, intrazone-default (allow) and
  interzone-default (deny), whose action can be overridden (rulebase/default-security-rules).
- Sessions are stateful: replies of an allowed session pass (no rule is looked up for them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.e2e.twin import fib
from tests.e2e.twin.fib import NextHop
from tests.e2e.twin.model import ANY, IP, Action, Device, NatRule, RuleType, SecurityRule, VirtualRouter

INTRAZONE_DEFAULT = "intrazone-default"
INTERZONE_DEFAULT = "interzone-default"


@dataclass(frozen=True, slots=True)
class Packet:
    """The first packet of a session, arriving from `from_zone`."""

    from_zone: str
    src: IP
    dst: IP
    proto: str = "tcp"  # tcp | udp | sctp | icmp ...
    dport: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "src", fib.ip(self.src))
        object.__setattr__(self, "dst", fib.ip(self.dst))


@dataclass(frozen=True, slots=True)
class Verdict:
    action: Action
    rule: str  # the security rule (or default rule) that decided; "" when dropped before policy
    nat_rule: str | None = None
    translated_dst: IP | None = None
    translated_port: int | None = None
    egress_zone: str | None = None  # the post-NAT destination zone
    next_hops: tuple[NextHop, ...] = ()
    reason: str = ""  # why it was dropped before policy (no route...)
    nat_zone: str | None = field(default=None)  # the pre-NAT destination zone NAT matched on
    translated_src: IP | None = None  # source translation: the (first) address sources become

    @property
    def passes(self) -> bool:
        return self.action.passes


def _zone_matches(zones: frozenset[str], zone: str) -> bool:
    return ANY in zones or zone in zones


def nat_matches(rule: NatRule, p: Packet, nat_zone: str, egress_interface: str) -> bool:
    return (
        not rule.unmatchable
        and p.dst.version == 4  # nat-type ipv4: the only NAT type the twin models
        and _zone_matches(rule.from_zones, p.from_zone)
        and rule.to_zone in (ANY, nat_zone)
        and rule.to_interface in (ANY, egress_interface)
        and p.src in rule.source
        and p.dst in rule.destination
        and rule.service.matches(p.proto, p.dport)
    )


def security_matches(rule: SecurityRule, p: Packet, to_zone: str) -> bool:
    if rule.unmatchable:
        return False
    if rule.rule_type is RuleType.INTRAZONE and p.from_zone != to_zone:
        return False
    if rule.rule_type is RuleType.INTERZONE and p.from_zone == to_zone:
        return False
    to_zones = rule.from_zones if rule.rule_type is RuleType.INTRAZONE else rule.to_zones
    return (
        _zone_matches(rule.from_zones, p.from_zone)
        and _zone_matches(to_zones, to_zone)
        and (p.src in rule.source) != rule.negate_source
        and (p.dst in rule.destination) != rule.negate_destination
        and rule.service.matches(p.proto, p.dport)
    )


def ingress_router(device: Device, zone: str) -> VirtualRouter | None:
    for iface in device.zones.get(zone, ()):
        vr = device.router_of(iface)
        if vr is not None:
            return vr
    return None


def _route(device: Device, vr: VirtualRouter, dst: IP, down: frozenset[IP]) -> tuple[fib.Installed, str] | str:
    """The installed route to `dst` and the zone it leaves into, or why there is none."""
    found = fib.lookup(vr, dst, down)
    if found is None:
        return f"no route to {dst}"
    if found.discard:
        return f"discard route {found.destination}"
    zone = device.zone_of(found.hops[0].interface)
    if zone is None:
        return f"{found.hops[0].interface} is in no zone"
    return found, zone


def evaluate(device: Device, packet: Packet, *, down: frozenset[IP] = frozenset()) -> Verdict:
    """The verdict on a session's first packet; `down` are path-monitored destinations that fail."""
    vr = ingress_router(device, packet.from_zone)
    if vr is None:
        return Verdict(Action.DROP, "", reason=f"zone {packet.from_zone!r} has no interface in a virtual router")
    first = _route(device, vr, packet.dst, down)
    if isinstance(first, str):
        return Verdict(Action.DROP, "", reason=first)
    installed, nat_zone = first
    nat = next((r for r in device.nat if nat_matches(r, packet, nat_zone, installed.hops[0].interface)), None)
    zone, hops = nat_zone, installed.hops
    if nat is not None and nat.translated_address is not None:
        second = _route(device, vr, nat.translated_address, down)
        if isinstance(second, str):
            return Verdict(Action.DROP, "", nat.name, nat.translated_address, nat.translated_port,
                           reason=f"after NAT: {second}", nat_zone=nat_zone)
        installed, zone = second
        hops = installed.hops
    rule = next((r for r in device.security if security_matches(r, packet, zone)), None)
    if rule is not None:
        action, name = rule.action, rule.name
    elif packet.from_zone == zone:
        action, name = device.intrazone_default, INTRAZONE_DEFAULT
    else:
        action, name = device.interzone_default, INTERZONE_DEFAULT
    return Verdict(
        action=action,
        rule=name,
        nat_rule=nat.name if nat else None,
        translated_dst=nat.translated_address if nat else None,
        translated_port=nat.translated_port if nat else None,
        egress_zone=zone,
        next_hops=hops,
        nat_zone=nat_zone,
        translated_src=nat.source_translation.addresses[0].first
        if nat and nat.source_translation and nat.source_translation.addresses else None,
    )
