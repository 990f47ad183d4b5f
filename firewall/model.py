"""The desired firewall state: plain, immutable values with no knowledge of Kubernetes.

Every object carries its owner's provenance (who asked for it) and the tags it must hold; the
ownership tag among them is what lets the sync engine tell bmlb's objects from everyone else's.
Names are already valid PAN-OS names when they reach this layer (see `names.is_valid_name`).
Order matters only for rules: `security_rules` and `nat_rules` are in rulebase order.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, order=True)
class Owner:
    """Provenance: the object (of any kind, in any system) that asked for a firewall object."""

    kind: str
    namespace: str
    name: str
    uid: str
    generation: int

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where} uid={self.uid} gen={self.generation}"


class Action(enum.Enum):
    ALLOW = "allow"
    DENY = "deny"
    DROP = "drop"
    RESET_CLIENT = "reset-client"


class ServiceProtocol(enum.Enum):
    TCP = "tcp"
    UDP = "udp"
    SCTP = "sctp"


@dataclass(frozen=True, slots=True)
class Tag:
    name: str
    color: str | None = None  # "color1".."color42"
    comments: str = ""


@dataclass(frozen=True, slots=True)
class AddressObject:
    name: str
    value: str  # "10.0.0.5/32", "2001:db8::5/128" (ip-netmask) or "10.0.0.1-10.0.0.9" (ip-range)
    kind: str = "ip-netmask"  # ip-netmask | ip-range
    description: str = ""
    tags: tuple[str, ...] = ()
    owner: Owner | None = None


@dataclass(frozen=True, slots=True)
class ServiceObject:
    name: str
    protocol: ServiceProtocol
    port: str  # "443", "80,8080", "1000-2000"
    description: str = ""
    tags: tuple[str, ...] = ()
    owner: Owner | None = None


@dataclass(frozen=True, slots=True)
class SecurityRule:
    name: str
    from_zones: tuple[str, ...]
    to_zones: tuple[str, ...]
    sources: tuple[str, ...] = ("any",)  # address object names, CIDRs or "any"
    destinations: tuple[str, ...] = ("any",)
    applications: tuple[str, ...] = ("any",)
    services: tuple[str, ...] = ("application-default",)  # service object names, "any", ...
    action: Action = Action.ALLOW
    log_start: bool = False
    log_end: bool = True
    log_setting: str | None = None
    disabled: bool = False
    description: str = ""
    tags: tuple[str, ...] = ()
    owner: Owner | None = None


@dataclass(frozen=True, slots=True)
class NatRule:
    """A destination NAT: traffic from `from_zones` to `destination` (pre-NAT) and `service`
    goes to `translated_address`:`translated_port`."""

    name: str
    from_zones: tuple[str, ...]
    to_zones: tuple[str, ...]  # the zone of the PRE-NAT destination address (one zone on PAN-OS)
    destination: tuple[str, ...]  # address object names (the public address)
    service: str  # one service object name, or "any"
    translated_address: str  # address object name (the Service VIP)
    translated_port: int | None = None
    sources: tuple[str, ...] = ("any",)
    to_interface: str = "any"
    disabled: bool = False
    description: str = ""
    tags: tuple[str, ...] = ()
    owner: Owner | None = None


@dataclass(frozen=True, slots=True)
class PathMonitor:
    """Static route path monitoring: the device pings `destination` every `interval` seconds and
    withdraws the route by itself after `count` missed replies (no commit); it restores it
    `hold_time` minutes after the destination answers again."""

    destination: str  # the address pinged (bmlb: the next hop itself)
    interval: int = 3  # seconds, 1-60
    count: int = 5  # missed pings before the destination is down, 3-10
    hold_time: int = 2  # minutes, 0-1440
    failure_condition: str = "any"  # any | all (one destination per route: the same)
    source: str | None = None  # an interface address with its mask ("10.0.0.1/24"); None: not set


@dataclass(frozen=True, slots=True)
class StaticRoute:
    """A route on the firewall's virtual router towards the nodes that serve a VIP or a pool."""

    name: str
    virtual_router: str
    destination: str  # CIDR, e.g. "10.0.0.5/32" or "10.0.0.0/27"
    nexthop: str | None = None  # next-hop IP address
    interface: str | None = None
    metric: int = 10
    owner: Owner | None = None
    monitor: PathMonitor | None = None


class Position(enum.Enum):
    TOP = "top"
    BOTTOM = "bottom"
    BEFORE = "before"
    AFTER = "after"


@dataclass(frozen=True, slots=True)
class Anchor:
    """Where the managed rules sit in a rulebase: as one contiguous block at top/bottom, or
    before/after a named (foreign) rule."""

    position: Position = Position.BOTTOM
    rule: str | None = None


@dataclass(frozen=True, slots=True)
class DesiredFirewall:
    ownership_tag: str
    tags: tuple[Tag, ...] = ()
    addresses: tuple[AddressObject, ...] = ()
    services: tuple[ServiceObject, ...] = ()
    security_rules: tuple[SecurityRule, ...] = ()  # rulebase order
    nat_rules: tuple[NatRule, ...] = ()  # rulebase order
    static_routes: tuple[StaticRoute, ...] = ()
