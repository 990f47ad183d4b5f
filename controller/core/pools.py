"""Address pools: ranges ('10.0.0.0/24', '10.0.0.5-10.0.0.9'), which addresses of a pool are
usable, and which pools overlap. controller/core/ipam.py allocates from them."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def ip_key(ip: IPAddress) -> tuple[int, int]:
    """What stands for an address in a dict on a hot path: hashed in C (an address hashes in
    Python, through hex(int(ip)): ~1.5 us, tens of thousands of times per compile)."""
    return (ip.version, int(ip))


class PoolSyntaxError(ValueError):
    pass


def ip_address(text: str) -> IPAddress:
    """An IPv4 or IPv6 address from text, as ipaddress.ip_address reads it, but never one with an
    IPv6 scope ("fd00::5%eth0"): no VIP, public address, endpoint or next hop has one, and Python
    compares and hashes the scope into the address, so fd00::5%x would be another address than
    fd00::5 (one namespace could take another's VIP again). Raises ValueError."""
    ip = ipaddress.ip_address(text)
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id is not None:
        raise ValueError(f"{text!r} carries an IPv6 scope (%{ip.scope_id}), which an address here cannot have")
    return ip


@dataclass(frozen=True, slots=True)
class AddressRange:
    first: IPAddress
    last: IPAddress
    # The bounds as integers: an address's comparisons are Python calls, and every compile asks
    # which pool each of 20,000 addresses is in.
    _lo: int = field(init=False, repr=False, compare=False)
    _hi: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_lo", int(self.first))
        object.__setattr__(self, "_hi", int(self.last))

    @property
    def version(self) -> int:
        return self.first.version

    def __contains__(self, ip: object) -> bool:
        return (
            isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address)
            and ip.version == self.first.version
            and self._lo <= int(ip) <= self._hi
        )

    @property
    def size(self) -> int:
        return int(self.last) - int(self.first) + 1

    def overlaps(self, other: AddressRange) -> bool:
        return self.version == other.version and self.first <= other.last and other.first <= self.last

    def __str__(self) -> str:
        return f"{self.first}-{self.last}"


def parse_range(text: str) -> AddressRange:
    """'10.0.0.0/24' -> .0..255, '10.0.0.5-10.0.0.9', '2001:db8::/126'. Raises PoolSyntaxError."""
    text = text.strip()
    try:
        if "%" in text:
            raise ValueError("an IPv6 scope (%) is no part of a pool")
        if "-" in text:
            a, b = (ip_address(x.strip()) for x in text.split("-", 1))
            if a.version != b.version:
                raise PoolSyntaxError(f"{text!r}: range mixes IPv4 and IPv6")
            if int(a) > int(b):
                raise PoolSyntaxError(f"{text!r}: range starts after it ends")
            return AddressRange(a, b)
        net = ipaddress.ip_network(text, strict=True)
    except PoolSyntaxError:
        raise
    except ValueError as err:
        raise PoolSyntaxError(f"{text!r} is not a valid CIDR or range: {err}") from None
    return AddressRange(net.network_address, net.broadcast_address)


@dataclass(frozen=True, slots=True)
class Pool:
    name: str
    ranges: tuple[AddressRange, ...]
    zone: str
    purpose: str = "Service"  # Service | Public
    auto_assign: bool = True
    avoid_buggy_ips: bool = False
    namespaces: frozenset[str] = frozenset()  # empty: all

    def admits(self, namespace: str) -> bool:
        return not self.namespaces or namespace in self.namespaces

    def contains(self, ip: IPAddress) -> bool:
        return any(ip in r for r in self.ranges)

    def usable(self, ip: IPAddress) -> bool:
        if not self.contains(ip):
            return False
        if self.avoid_buggy_ips and ip.version == 4 and int(ip) & 0xFF in (0, 255):
            return False
        return True

    def families(self) -> frozenset[int]:
        return frozenset(r.version for r in self.ranges)

    def candidates(self, version: int) -> Iterator[IPAddress]:
        # By family: ip_address(n) reads any n < 2**32 as IPv4, so an IPv6 range there ("::100/120")
        # yielded no address, and "::/64" looped over 2**64 addresses of the wrong family.
        make = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
        for r in self.ranges:
            if r.version != version:
                continue
            for n in range(int(r.first), int(r.last) + 1):
                ip = make(n)
                if self.usable(ip):
                    yield ip

    def capacity(self) -> int:
        total = 0
        for r in self.ranges:
            total += r.size
            if self.avoid_buggy_ips and r.version == 4:
                total -= sum(1 for n in (int(r.first), int(r.last)) if n & 0xFF in (0, 255))
        return total


def pool_overlaps(pools: Iterable[Pool]) -> list[tuple[Pool, Pool, AddressRange, AddressRange]]:
    out = []
    ps = sorted(pools, key=lambda p: p.name)
    for i, a in enumerate(ps):
        for b in ps[i + 1:]:
            for ra in a.ranges:
                for rb in b.ranges:
                    if ra.overlaps(rb):
                        out.append((a, b, ra, rb))
    return out
