"""The firewall twin's model of a PAN-OS device: plain, resolved values read from a running config.

Everything here is already resolved: address and service objects and groups are expanded into
sets of address ranges and (protocol, port range) pairs, so the evaluator and the nftables
renderer never look names up.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from enum import Enum

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
Net = ipaddress.IPv4Network | ipaddress.IPv6Network

ANY = "any"


@dataclass(frozen=True, slots=True)
class AddrRange:
    """An inclusive range of addresses of one family (a prefix, an ip-range or a single host)."""

    first: IP
    last: IP

    @property
    def version(self) -> int:
        return self.first.version

    def __contains__(self, ip: object) -> bool:
        return isinstance(ip, IP) and ip.version == self.version and self.first <= ip <= self.last

    def nft(self) -> str:
        """As an nftables set element: a prefix when it is one, else first-last."""
        nets = list(ipaddress.summarize_address_range(self.first, self.last))  # type: ignore[arg-type]
        if len(nets) == 1:
            n = nets[0]
            return str(n.network_address) if n.prefixlen == n.max_prefixlen else str(n)
        return f"{self.first}-{self.last}"


@dataclass(frozen=True, slots=True)
class Addresses:
    """A rule's source or destination: `any`, or a union of ranges (empty: matches nothing)."""

    ranges: tuple[AddrRange, ...] = ()
    any: bool = False

    def __contains__(self, ip: IP) -> bool:
        return self.any or any(ip in r for r in self.ranges)

    def of(self, version: int) -> tuple[AddrRange, ...]:
        return tuple(r for r in self.ranges if r.version == version)


ANY_ADDRESS = Addresses(any=True)


@dataclass(frozen=True, slots=True)
class PortRange:
    proto: str  # tcp | udp | sctp
    first: int
    last: int

    def nft(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}-{self.last}"


@dataclass(frozen=True, slots=True)
class Services:
    """A rule's service: `any` (every protocol and port, ICMP included) or (protocol, port) ranges."""

    ports: tuple[PortRange, ...] = ()
    any: bool = False

    def matches(self, proto: str, dport: int | None) -> bool:
        if self.any:
            return True
        return dport is not None and any(p.proto == proto and p.first <= dport <= p.last for p in self.ports)

    def protocols(self) -> tuple[str, ...]:
        return tuple(sorted({p.proto for p in self.ports}))


ANY_SERVICE = Services(any=True)


class Action(Enum):
    ALLOW = "allow"
    DENY = "deny"
    DROP = "drop"
    RESET_CLIENT = "reset-client"
    RESET_SERVER = "reset-server"
    RESET_BOTH = "reset-both"

    @property
    def passes(self) -> bool:
        return self is Action.ALLOW


class RuleType(Enum):
    UNIVERSAL = "universal"
    INTRAZONE = "intrazone"
    INTERZONE = "interzone"


@dataclass(frozen=True, slots=True)
class SecurityRule:
    name: str
    from_zones: frozenset[str]  # {"any"} for any
    to_zones: frozenset[str]
    source: Addresses
    destination: Addresses
    service: Services
    action: Action
    negate_source: bool = False
    negate_destination: bool = False
    rule_type: RuleType = RuleType.UNIVERSAL
    # A rule that names something the twin cannot judge (a user, a URL category, a dynamic group
    # member list...) never matches; `why` says what.
    unmatchable: str = ""


@dataclass(frozen=True, slots=True)
class Translation:
    """Source translation of a NAT rule: the addresses sources become (an interface address is
    resolved to that address)."""

    kind: str  # "dynamic-ip-and-port" | "dynamic-ip" | "static-ip"
    addresses: tuple[AddrRange, ...]


@dataclass(frozen=True, slots=True)
class NatRule:
    name: str
    from_zones: frozenset[str]
    to_zone: str  # one zone or "any"
    to_interface: str  # PAN-OS interface name or "any"
    source: Addresses
    destination: Addresses
    service: Services
    translated_address: IP | None = None
    translated_port: int | None = None
    source_translation: Translation | None = None
    unmatchable: str = ""


@dataclass(frozen=True, slots=True)
class Monitor:
    """Path monitoring of a static route: the route is withdrawn when `any` (or `all`) of the
    enabled destinations fail."""

    destinations: tuple[IP, ...]
    failure_condition: str = "any"  # any | all

    def failed(self, down: frozenset[IP]) -> bool:
        if not self.destinations:
            return False
        hits = [d in down for d in self.destinations]
        return all(hits) if self.failure_condition == "all" else any(hits)


@dataclass(frozen=True, slots=True)
class Route:
    """A route of a virtual router: connected (admin distance 0) or static."""

    name: str
    destination: Net
    nexthop: IP | None  # None: on-link (connected, interface-only) or discard
    interface: str  # PAN-OS interface name; "" when it is to be resolved from the nexthop
    metric: int = 10
    admin_dist: int = 10
    discard: bool = False
    connected: bool = False
    monitor: Monitor | None = None


@dataclass(frozen=True, slots=True)
class VirtualRouter:
    name: str
    interfaces: tuple[str, ...]
    routes: tuple[Route, ...]
    ecmp_max_path: int = 1  # 1: ECMP off


@dataclass(frozen=True, slots=True)
class Device:
    zones: dict[str, tuple[str, ...]]  # zone -> PAN-OS layer3 interfaces
    interface_addresses: dict[str, tuple[ipaddress.IPv4Interface | ipaddress.IPv6Interface, ...]]
    routers: tuple[VirtualRouter, ...]
    security: tuple[SecurityRule, ...]
    nat: tuple[NatRule, ...]
    intrazone_default: Action = Action.ALLOW
    interzone_default: Action = Action.DENY
    notes: tuple[str, ...] = field(default=())  # what the parser could not model, for the reader

    def zone_of(self, interface: str) -> str | None:
        for zone, members in self.zones.items():
            if interface in members:
                return zone
        return None

    def router_of(self, interface: str) -> VirtualRouter | None:
        for vr in self.routers:
            if interface in vr.interfaces:
                return vr
        return None
