"""The device's interface addresses and installed routes (fib.py) as iproute2 commands.

Only the routes the virtual router would install are written, one kernel route per prefix:
equal-cost paths (ECMP on) become one multipath route, a discard route a blackhole. Connected
routes come from the interface addresses themselves. Routes carry protocol number PROTO, so the
twin can find (and replace) its own routes among any the caller added.

Addresses: each mapped interface gets its configured addresses, and destination NAT addresses
that lie on one of its connected subnets (`nft.local_nat_addresses`) as /32: PAN-OS answers ARP
for such an address ("Destination NAT Example—One-to-One Mapping": "The firewall responds to
the ARP request with its own MAC address because of the destination NAT rule configured");
Linux answers ARP for the addresses it holds.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from tests.e2e.twin import fib
from tests.e2e.twin.model import IP, Device, Net
from tests.e2e.twin.nft import local_nat_addresses

PROTO = "199"


def wanted_routes(device: Device, interfaces: Mapping[str, str],
                  down: frozenset[IP] = frozenset()) -> dict[Net, list[str]]:
    """prefix -> the `ip route replace` arguments after the prefix (first virtual router wins)."""
    out: dict[Net, list[str]] = {}
    for vr in device.routers:
        for inst in fib.table(vr, down):
            if inst.connected or inst.destination in out:
                continue
            if inst.discard:
                out[inst.destination] = ["blackhole"]
                continue
            hops = [h for h in inst.hops if h.interface in interfaces]
            if not hops:
                continue

            def hop(h: fib.NextHop) -> list[str]:
                return [*(["via", str(h.via)] if h.via is not None else []), "dev", interfaces[h.interface]]

            if len(hops) == 1:
                out[inst.destination] = hop(hops[0])
            else:
                out[inst.destination] = [x for h in hops for x in ("nexthop", *hop(h))]
    return out


def routes(device: Device, interfaces: Mapping[str, str], down: frozenset[IP] = frozenset()) -> list[list[str]]:
    """`ip route replace` commands (argv) for every route the device installs, multipath for ECMP."""
    cmds = []
    for dest, args in wanted_routes(device, interfaces, down).items():
        if args == ["blackhole"]:
            cmds.append(["ip", "route", "replace", "blackhole", str(dest), "proto", PROTO])
        else:
            cmds.append(["ip", "route", "replace", str(dest), "proto", PROTO, *args])
    return cmds


def addresses(device: Device, interfaces: Mapping[str, str]) -> dict[str, list[str]]:
    """Linux interface -> addresses (CIDR) it must hold."""
    out: dict[str, list[str]] = {}
    for pan, linux in interfaces.items():
        out[linux] = [str(a) for a in device.interface_addresses.get(pan, ())]
    for addr in local_nat_addresses(device):
        for pan, linux in interfaces.items():
            if any(addr in a.network for a in device.interface_addresses.get(pan, ())):
                out[linux].append(str(ipaddress.ip_interface(addr)))
                break
    return out
