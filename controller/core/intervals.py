"""Sets of integers as sorted, disjoint, inclusive intervals, and IP values on one number line
(IPv4 in [0, 2^32), IPv6 above): the algebra the rulebase analyses (controller/core/shadowing.py,
controller/core/exposure.py) are built on."""

from __future__ import annotations

import bisect
import ipaddress
from collections.abc import Iterable

V4 = 1 << 32
SPACE_END = V4 + (1 << 128)  # one number line: IPv4 in [0, 2^32), IPv6 above

Intervals = tuple[tuple[int, int], ...]  # sorted, disjoint, inclusive


def normalize(items: Iterable[tuple[int, int]]) -> Intervals:
    out: list[list[int]] = []
    for lo, hi in sorted(i for i in items if i[0] <= i[1]):
        if out and lo <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return tuple((lo, hi) for lo, hi in out)


def complement(a: Intervals, lo: int = 0, hi: int = SPACE_END - 1) -> Intervals:
    out, at = [], lo
    for x, y in a:
        if x > at:
            out.append((at, x - 1))
        at = max(at, y + 1)
    if at <= hi:
        out.append((at, hi))
    return tuple(out)


def intersect(a: Intervals, b: Intervals) -> Intervals:
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo <= hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return tuple(out)


def subtract(a: Intervals, b: Intervals) -> Intervals:
    return intersect(a, complement(b))


def contains(big: Intervals, small: Intervals) -> bool:
    """Every value of small is in big (big is normalized: each interval of small must lie inside one)."""
    for lo, hi in small:
        i = bisect.bisect_right(big, (lo, SPACE_END)) - 1
        if i < 0 or big[i][1] < hi:
            return False
    return True


ALL: Intervals = ((0, SPACE_END - 1),)
ALL_V4: Intervals = ((0, V4 - 1),)
ALL_V6: Intervals = ((V4, SPACE_END - 1),)


def ip_interval(text: str) -> tuple[int, int] | None:
    """A CIDR, a single address or an "a-b" range on the number line (None: not an IP value)."""
    try:
        if "-" in text:
            a, b = (ipaddress.ip_address(x.strip()) for x in text.split("-", 1))
            if a.version != b.version:
                return None
            off = 0 if a.version == 4 else V4
            return (int(a) + off, int(b) + off)
        net = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None
    off = 0 if net.version == 4 else V4
    return (int(net.network_address) + off, int(net.broadcast_address) + off)


def to_cidrs(a: Intervals) -> list[str]:
    """Intervals back to CIDRs ("any" for a whole family)."""
    out: list[str] = []
    for lo, hi in a:
        for fam_lo, fam_hi, cls, off in ((0, V4 - 1, ipaddress.IPv4Address, 0),
                                         (V4, SPACE_END - 1, ipaddress.IPv6Address, V4)):
            x, y = max(lo, fam_lo), min(hi, fam_hi)
            if x > y:
                continue
            if (x, y) == (fam_lo, fam_hi):
                out.append("any" if cls is ipaddress.IPv4Address else "any (IPv6)")
                continue
            out += [str(n) for n in ipaddress.summarize_address_range(cls(x - off), cls(y - off))]
    return out
