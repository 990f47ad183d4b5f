"""The desired IPVS table: plain, immutable values with no knowledge of Kubernetes.

A virtual service is identified by (protocol, address, port); a real server inside it by
(address, port). Everything else is an attribute that a diff compares.
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Protocol(enum.Enum):
    TCP = "tcp"
    UDP = "udp"
    SCTP = "sctp"


class Forwarding(enum.Enum):
    """The three IPVS packet-forwarding methods (ipvsadm -m / -g / -i)."""

    NAT = "nat"  # masquerading
    DR = "dr"  # direct routing ("gatewaying")
    TUN = "tun"  # IP-in-IP tunnelling


class Scheduler(enum.Enum):
    RR = "rr"
    WRR = "wrr"
    LC = "lc"
    WLC = "wlc"
    SH = "sh"
    MH = "mh"
    DH = "dh"
    SED = "sed"
    NQ = "nq"


@dataclass(frozen=True, slots=True)
class RealServer:
    address: IPAddress
    port: int
    weight: int = 1
    forwarding: Forwarding = Forwarding.NAT

    @property
    def key(self) -> tuple[int, str, int]:
        return (self.address.version, str(self.address), self.port)


@dataclass(frozen=True, slots=True)
class VirtualService:
    protocol: Protocol
    address: IPAddress
    port: int
    scheduler: Scheduler = Scheduler.RR
    # Seconds of client persistence (sessionAffinity: ClientIP); 0 means none.
    persistence_timeout: int = 0
    real_servers: tuple[RealServer, ...] = ()

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.real_servers, key=lambda r: r.key))
        object.__setattr__(self, "real_servers", ordered)

    @property
    def key(self) -> tuple[str, int, str, int]:
        return (self.protocol.value, self.address.version, str(self.address), self.port)

    def __str__(self) -> str:
        host = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        return f"{self.protocol.value.upper()} {host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Table:
    """Everything bmlb wants in one node's kernel: virtual services plus the VIPs to bind."""

    services: tuple[VirtualService, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "services", tuple(sorted(self.services, key=lambda s: s.key)))

    @property
    def vips(self) -> frozenset[IPAddress]:
        return frozenset(s.address for s in self.services)

    def by_key(self) -> dict[tuple[str, int, str, int], VirtualService]:
        return {s.key: s for s in self.services}
