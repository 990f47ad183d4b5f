"""A pool's count of held addresses (a VIPPool's status.allocated and the bmlb_addresses_allocated
metric): every distinct address once per pool, however many Services share it, in either family
and however it is written (a scoped IPv6 address is that address), against a count by the
addresses' integer values."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from controller.core.compiler import Compiled
from controller.core.ipam import Assignment
from controller.core.problems import ObjectRef

_ADDRESSES = st.one_of(
    st.integers(0, 6).map(lambda i: ipaddress.ip_address(f"10.0.0.{i}")),
    st.integers(0, 6).map(lambda i: ipaddress.ip_address(f"fd00::{i:x}")),
    st.integers(0, 6).map(lambda i: ipaddress.ip_address(f"fd00::{i:x}%eth{i % 2}")),
    st.integers(0, 2).map(lambda i: ipaddress.ip_address(f"::ffff:10.0.0.{i}")),
)
_HELD = st.lists(st.lists(st.tuples(_ADDRESSES, st.sampled_from(["a", "b", ""])), max_size=3), max_size=12)


def _oracle(held: list[list[tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, str]]]) -> dict[str, int]:
    per_pool: dict[str, set[tuple[int, int]]] = {}
    for addresses in held:
        for ip, pool in addresses:
            per_pool.setdefault(pool, set()).add((ip.version, int(ip)))
    return {pool: len(values) for pool, values in per_pool.items()}


@settings(max_examples=300, deadline=None)
@given(_HELD)
def test_each_address_counts_once_per_pool(held: list[list[tuple[ipaddress.IPv4Address | ipaddress.IPv6Address,
                                                                   str]]]) -> None:
    allocations = tuple(
        Assignment(ObjectRef("Service", "ns", f"s{i}"), tuple(ip for ip, _ in addresses),
                   tuple(pool for _, pool in addresses))
        for i, addresses in enumerate(held))
    compiled = Compiled(allocations=allocations, firewalls=(), tables=(), reports=(), problems=())
    assert compiled.allocated == _oracle(held)


def test_a_shared_vip_counts_once() -> None:
    vip = ipaddress.ip_address("192.0.2.10")
    allocations = (Assignment(ObjectRef("Service", "ns", "a"), (vip,), ("p",)),
                   Assignment(ObjectRef("Service", "ns", "b"), (vip,), ("p",)),
                   Assignment(ObjectRef("Service", "ns", "c"), (), ()))
    compiled = Compiled(allocations=allocations, firewalls=(), tables=(), reports=(), problems=())
    assert compiled.allocated == {"p": 1}
