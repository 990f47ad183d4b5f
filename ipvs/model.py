"""The desired IPVS table: plain, immutable values with no knowledge of Kubernetes.

A virtual service is identified by (protocol, address, port); a real server inside it by
(address, port). Everything else is an attribute that a diff compares.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
T = TypeVar("T")

# str() of an address is the costly part of every key, and a sync builds tens of thousands of
# keys; hashing an address (ipaddress's __hash__ is Python) costs nearly as much, so the cache
# is keyed on its class and integer value (and an IPv6 address's scope, part of its text).
_TEXT: dict[tuple[type, int, str | None], str] = {}


def address_text(address: IPAddress) -> str:
    """str(address), remembered (the controller's reports and the agent's keys write the same
    addresses every compile and sync)."""
    k = (address.__class__, address._ip, getattr(address, "_scope_id", None))
    text = _TEXT.get(k)
    if text is None:
        if len(_TEXT) >= 1 << 17:
            _TEXT.clear()
        text = _TEXT[k] = str(address)
    return text


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
        return (self.address.version, address_text(self.address), self.port)


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
        return (self.protocol.value, self.address.version, address_text(self.address), self.port)

    def __str__(self) -> str:
        host = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        return f"{self.protocol.value.upper()} {host}:{self.port}"


class Masquerade(NamedTuple):
    """A virtual service (VIP, protocol, port) whose forwarded packets leave masqueraded (NAT
    mode, real servers possibly on other nodes; see ipvs.masquerade)."""

    address: IPAddress
    protocol: Protocol
    port: int


@dataclass(frozen=True, slots=True)
class Table:
    """Everything bmlb wants in one node's kernel: virtual services plus the VIPs to bind, and
    the services whose forwarded packets are masqueraded."""

    services: tuple[VirtualService, ...] = ()
    masquerade: frozenset[Masquerade] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "services", tuple(sorted(self.services, key=lambda s: s.key)))

    @property
    def vips(self) -> frozenset[IPAddress]:
        return _memo(self, "vips", lambda: frozenset(s.address for s in self.services))

    def by_key(self) -> dict[tuple[str, int, str, int], VirtualService]:
        """Services by key (shared between callers: do not modify)."""
        return _memo(self, "by_key", lambda: {s.key: s for s in self.services})


# Derived values of the few most recent tables: one sync asks for them several times, and a
# table is immutable. Entries hold the table itself, so an id is never reused while cached.
_MEMO: dict[int, tuple[Table, dict[str, object]]] = {}


def _memo(table: Table, name: str, compute: Callable[[], T]) -> T:
    entry = _MEMO.get(id(table))
    if entry is None or entry[0] is not table:
        if len(_MEMO) >= 8:
            del _MEMO[next(iter(_MEMO))]
        entry = _MEMO[id(table)] = (table, {})
    values = entry[1]
    if name not in values:
        values[name] = compute()
    return values[name]  # type: ignore[return-value]
