"""Masquerade for NAT-mode virtual services whose real servers may sit on other nodes.

IPVS in NAT mode rewrites only the destination. A real server on another node would answer the
client directly, bypassing the node that holds the IPVS connection, and the connection breaks.
kube-proxy (IPVS mode) marks packets for LoadBalancer IP:port in PREROUTING and OUTPUT and
masquerades marked packets in POSTROUTING (with net.ipv4.vs.conntrack=1 so netfilter NAT sees the
IPVS connection); bmlb does the same in one nftables table of its own, `inet bmlb`:

    script(entries)  -> the `nft -f` text that replaces the table atomically (deletes it when empty)
    parse(json_text) -> the entries an `nft -j list table inet bmlb` holds; DAMAGED when the table
                        is not in bmlb's shape (someone edited it): it is then rewritten

The mark is kube-proxy's masquerade bit (0x4000): where both run, either's POSTROUTING rule
masquerades (and clears) the other's marks, which means the same thing. Only the first packet of a
connection passes the nat chains; the NAT mapping then holds for the whole connection.
A packet's destination port is matched before IPVS rewrites it (PREROUTING/OUTPUT), because
`ct original proto-dst` cannot be concatenated in a set lookup.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Iterable
from typing import Any

from ipvs.model import Masquerade, Protocol

TABLE = "bmlb"
FAMILY = "inet"
MARK = 0x4000
CHAINS = {"vips": 2, "prerouting": 1, "output": 1, "postrouting": 2}  # chain -> rules bmlb writes


# What a table that is not in bmlb's shape reads as: an entry no desired table can hold (port 0),
# so a comparison with any desired set differs and the table is rewritten.
DAMAGED: frozenset[Masquerade] = frozenset({Masquerade(ipaddress.IPv4Address(0), Protocol.TCP, 0)})


def _order(m: Masquerade) -> tuple[int, int, str, int]:
    return (m.address.version, int(m.address), m.protocol.value, m.port)


def _elements(entries: Iterable[Masquerade], version: int) -> str:
    chosen = sorted((m for m in entries if m.address.version == version), key=_order)
    if not chosen:
        return ""
    return " elements = { " + ", ".join(f"{m.address} . {m.protocol.value} . {m.port}" for m in chosen) + " }"


def script(entries: Iterable[Masquerade]) -> str:
    """`nft -f` input: create-if-missing, delete, and (unless `entries` is empty) create anew, in
    one transaction, so the kernel switches from the old table to the new one atomically."""
    entries = list(entries)
    head = f"table {FAMILY} {TABLE} {{}}\ndelete table {FAMILY} {TABLE}\n"
    if not entries:
        return head
    mark = f"meta mark set meta mark | {MARK:#010x}"
    return head + f"""table {FAMILY} {TABLE} {{
  set masq4 {{ type ipv4_addr . inet_proto . inet_service;{_elements(entries, 4)} }}
  set masq6 {{ type ipv6_addr . inet_proto . inet_service;{_elements(entries, 6)} }}
  chain vips {{
    ip daddr . meta l4proto . th dport @masq4 {mark}
    ip6 daddr . meta l4proto . th dport @masq6 {mark}
  }}
  chain prerouting {{ type nat hook prerouting priority -100; policy accept; jump vips; }}
  chain output {{ type nat hook output priority -100; policy accept; jump vips; }}
  chain postrouting {{
    type nat hook postrouting priority 100; policy accept;
    meta mark & {MARK:#010x} == 0 return
    meta mark set meta mark & {0xFFFFFFFF ^ MARK:#010x} masquerade fully-random
  }}
}}
"""


def parse(text: str) -> frozenset[Masquerade]:
    """The entries of bmlb's table from `nft -j list table inet bmlb` output; DAMAGED when its
    chains, hooks or rule counts are not the ones `script` writes, or an element is unreadable."""
    try:
        items = json.loads(text)["nftables"]
        entries: set[Masquerade] = set()
        chains: dict[str, Any] = {}
        rules: dict[str, list[Any]] = {}
        sets: set[str] = set()
        for item in items:
            if "set" in item:
                s = item["set"]
                sets.add(s["name"])
                entries.update(_element(e) for e in s.get("elem") or ())
            elif "chain" in item:
                chains[item["chain"]["name"]] = item["chain"]
            elif "rule" in item:
                rules.setdefault(item["rule"]["chain"], []).append(item["rule"].get("expr") or [])
    except (KeyError, TypeError, ValueError, OSError):
        return DAMAGED
    if sets != {"masq4", "masq6"} or set(chains) != set(CHAINS):
        return DAMAGED
    for name, count in CHAINS.items():
        if len(rules.get(name, ())) != count:
            return DAMAGED
    hooked = {n: (c.get("type"), c.get("hook")) for n, c in chains.items() if n != "vips"}
    if hooked != {"prerouting": ("nat", "prerouting"), "output": ("nat", "output"),
                  "postrouting": ("nat", "postrouting")}:
        return DAMAGED
    if not any("masquerade" in stmt for stmt in rules["postrouting"][-1]):
        return DAMAGED
    return frozenset(entries)


def _element(elem: Any) -> Masquerade:
    address, proto, port = elem["concat"]
    if isinstance(port, str) and not port.isdigit():
        port = socket.getservbyname(port)
    protocol = _NUMBERED.get(proto) or Protocol(proto)
    return Masquerade(ipaddress.ip_address(address), protocol, int(port))


_NUMBERED = {6: Protocol.TCP, 17: Protocol.UDP, 132: Protocol.SCTP}
