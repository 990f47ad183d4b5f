"""Property tests of the twin: its two ways of deciding a destination zone agree, route lookup is
longest-prefix match, and nothing a config or packet holds makes it raise.

The evaluator finds a NAT rule's destination zone by a route lookup (fib.lookup); the nftables
renderer writes it as address sets painted from the same table (regions.py). For any table and
any address they must agree, or the kernel would translate other packets than the model says.
"""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.e2e.fixtures import ECMP_ON, config
from tests.e2e.strategies import INTERFACES, ZONES, addresses, configs, garbled_configs, routes
from tests.e2e.twin import Packet, evaluate, load, ruleset
from tests.e2e.twin.fib import lookup, table
from tests.e2e.twin.model import AddrRange
from tests.e2e.twin.regions import routed_into


@settings(max_examples=60, deadline=None)
@given(routes, st.integers(1, 4), st.lists(addresses, min_size=1, max_size=20))
def test_painted_zones_agree_with_route_lookup(table_xml: list[str], paths: int,
                                               probes: list[ipaddress.IPv4Address]) -> None:
    dev = load(config(routes="".join(table_xml), ecmp=ECMP_ON.format(n=paths) if paths > 1 else ""))
    vr = dev.routers[0]
    for addr in probes:
        found = lookup(vr, addr)
        want = None if found is None or found.discard else dev.zone_of(found.hops[0].interface)
        one = (AddrRange(addr, addr),)
        got = [z for z in ZONES if routed_into(dev, vr, one, zone=z, interface=None)]
        assert got == ([want] if want else []), (addr, found)


@settings(max_examples=60, deadline=None)
@given(routes, st.lists(addresses, min_size=1, max_size=20))
def test_lookup_is_longest_prefix_match(table_xml: list[str], probes: list[ipaddress.IPv4Address]) -> None:
    vr = load(config(routes="".join(table_xml))).routers[0]
    installed = table(vr)
    for addr in probes:
        matching = [i for i in installed if addr in i.destination]
        found = lookup(vr, addr)
        if not matching:
            assert found is None
        else:
            assert found is not None
            assert found.destination.prefixlen == max(i.destination.prefixlen for i in matching)


@settings(max_examples=60, deadline=None)
@given(configs(), st.sampled_from(ZONES), addresses, addresses, st.sampled_from(["tcp", "udp", "icmp"]),
       st.one_of(st.none(), st.integers(0, 65535)))
def test_no_config_or_packet_makes_the_twin_raise(xml: str, zone: str, src: ipaddress.IPv4Address,
                                                  dst: ipaddress.IPv4Address, proto: str, port: int | None) -> None:
    dev = load(xml)

    evaluate(dev, Packet(zone, src, dst, proto, port))
    assert ruleset(dev, INTERFACES) == ruleset(dev, INTERFACES)


@settings(max_examples=60, deadline=None)
@given(garbled_configs())
def test_any_field_of_a_valid_config_may_hold_garbage(xml: str) -> None:
    """Every leaf text of a config that uses every feature, replaced by random text or emptied,
    one to five at a time: the twin still loads it, evaluates and renders without raising."""
    dev = load(xml)

    for zone in ZONES:
        evaluate(dev, Packet(zone, "198.51.100.7", "203.0.113.16", "tcp", 443))
    ruleset(dev, INTERFACES)
