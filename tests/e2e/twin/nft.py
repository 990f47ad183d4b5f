"""The twin's semantics (evaluate.py) as one nftables table, for a Linux network namespace.

- prerouting (nat, dstnat): the NAT rulebase in order, first match, on the ORIGINAL packet:
  ingress interface in a `from` zone, destination inside the addresses the virtual router routes
  into the `to` zone (and `to-interface`), source, service; `dnat` when the rule translates the
  destination, else `accept` (one NAT rule per session: later rules are not looked at). A rule
  that also translates the source marks the connection; postrouting (srcnat) translates it.
  Only nat-type ipv4 rules are modelled (not NPTv6 or NAT64). The `to` zone is computed from the
  routes installed at render time (regions.py): a route change (path monitoring) needs a re-render,
  which apply() does.
- forward (filter, policy drop): `ct state established,related accept` first (sessions are
  stateful), packets from or to an interface in no zone are dropped, then the security rulebase
  in order, first match: ingress interface in a `from` zone, egress interface (after DNAT: the
  post-NAT zone) in a `to` zone, source address, PRE-NAT destination address and service
  (`ct original ...`: what the client sent), negations; then intrazone-default (per zone) and
  interzone-default with their actions. allow -> accept, deny / drop -> drop (the twin does not
  know an application's default deny action), reset-* -> a TCP reset (ICMP unreachable for
  other protocols).
- input: packets to a NAT rule's original destination that the firewall holds as an address
  (see routes.addresses: it answers ARP for them, like PAN-OS does for destination NAT addresses on
  a connected subnet) but that no NAT rule translated are dropped: the device would route them,
  not deliver them to itself.

The table is deleted and recreated in the same `nft -f` transaction, so applying is atomic and
existing sessions (conntrack) survive it. Sessions are not re-matched against a new rulebase.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping

from tests.e2e.twin import regions
from tests.e2e.twin.model import (
    ANY,
    IP,
    Action,
    Addresses,
    AddrRange,
    Device,
    NatRule,
    RuleType,
    SecurityRule,
    Services,
)

TABLE = "bmlb_twin"
MARK_BASE = 0x7700
V4_ALL = AddrRange(ipaddress.IPv4Address(0), ipaddress.IPv4Address(2**32 - 1))


def _set(items: Iterable[str]) -> str:
    items = list(dict.fromkeys(items))
    return items[0] if len(items) == 1 else "{ " + ", ".join(items) + " }"


def _ifset(names: Iterable[str]) -> str:
    return _set(f'"{n}"' for n in names)


def merged(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping or adjacent inclusive ranges joined (nft sets refuse some overlaps)."""
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _addrs(ranges: Iterable[AddrRange]) -> str:
    ranges = list(ranges)
    mk = type(ranges[0].first)
    return _set(AddrRange(mk(lo), mk(hi)).nft() for lo, hi in merged((int(r.first), int(r.last)) for r in ranges))


class _Zones:
    def __init__(self, device: Device, interfaces: Mapping[str, str]) -> None:
        self.by_zone = {z: tuple(interfaces[i] for i in members if i in interfaces)
                        for z, members in device.zones.items()}
        self.all = tuple(i for members in self.by_zone.values() for i in members)

    def of(self, zones: Iterable[str]) -> tuple[str, ...] | None:
        """Linux interfaces of these zones; None for any."""
        zones = set(zones)
        if ANY in zones:
            return None
        return tuple(i for z in sorted(zones) for i in self.by_zone.get(z, ()))


def _services(rule_service: Services, *, original: bool) -> list[str] | None:
    """One condition per protocol ("" = any); None when nothing can match."""
    if rule_service.any:
        return [""]
    dport = "ct original proto-dst" if original else "th dport"
    out = []
    for proto in rule_service.protocols():
        ports = [str(lo) if lo == hi else f"{lo}-{hi}"
                 for lo, hi in merged((p.first, p.last) for p in rule_service.ports if p.proto == proto)]
        out.append(f"meta l4proto {proto} {dport} {_set(ports)}")
    return out or None


def _nat_lines(device: Device, zones: _Zones, rule: NatRule, index: int, down: frozenset[IP]) -> list[str]:
    if rule.unmatchable or (rule.source.ranges == () and not rule.source.any):
        return []
    vr = next((v for v in device.routers if v.interfaces), None)
    if vr is None:
        return []
    base = ["meta nfproto ipv4"]
    ifaces = zones.of(rule.from_zones)
    if ifaces is not None:
        if not ifaces:
            return []
        base.append(f"iifname {_ifset(ifaces)}")
    if not rule.source.any:
        src = rule.source.of(4)
        if not src:
            return []
        base.append(f"ip saddr {_addrs(src)}")
    dest = (V4_ALL,) if rule.destination.any else rule.destination.of(4)
    restricted = rule.to_zone != ANY or rule.to_interface != ANY
    if restricted:
        dest = regions.routed_into(device, vr, dest, zone=None if rule.to_zone == ANY else rule.to_zone,
                                   interface=None if rule.to_interface == ANY else rule.to_interface, down=down)
    if not dest:
        return []
    if dest != (V4_ALL,):
        base.append(f"ip daddr {_addrs(dest)}")
    services = _services(rule.service, original=False)
    if services is None:
        return []
    mark = f"ct mark set {MARK_BASE + index:#x} " if rule.source_translation is not None else ""
    lines: list[tuple[str, str]] = []  # (service condition, verdict)
    if rule.translated_address is None:
        lines = [(svc, "accept") for svc in services]
    elif rule.translated_port is None:
        lines = [(svc, f"dnat ip to {rule.translated_address}") for svc in services]
    elif services == [""]:  # a port only where the protocol has ports; ICMP & co keep theirs
        to = f"{rule.translated_address}:{rule.translated_port}"
        lines = [(f"meta l4proto {p}", f"dnat ip to {to}") for p in ("tcp", "udp", "sctp")]
        lines.append(("", f"dnat ip to {rule.translated_address}"))
    else:
        lines = [(svc, f"dnat ip to {rule.translated_address}:{rule.translated_port}") for svc in services]
    return [" ".join(x for x in (*base, svc, mark + verdict) if x) + f'  comment "nat {_comment(rule.name)}"'
            for svc, verdict in lines]


def _comment(name: str) -> str:
    return "".join(c if c.isascii() and (c.isalnum() or c in " ._:/-") else "?" for c in name)[:100]


def _snat_lines(device: Device) -> list[str]:
    """Source translation to the rule's first translated range (PAN-OS picks from all of them)."""
    out = []
    for index, rule in enumerate(device.nat):
        st = rule.source_translation
        if st is None or rule.unmatchable or not st.addresses:
            continue
        first = st.addresses[0]
        to = str(first.first) if first.first == first.last else f"{first.first}-{first.last}"
        out.append(f'ct mark {MARK_BASE + index:#x} snat ip to {to}  comment "nat {_comment(rule.name)}"')
    return out


def _address_conds(family: int, field: str, addrs: Addresses, negate: bool) -> str | None:
    """The condition on one address field for one family; "" = none; None = cannot match."""
    if addrs.any:
        return None if negate else ""
    ranges = addrs.of(family)
    ip = "ip" if family == 4 else "ip6"
    if not ranges:
        return "" if negate else None
    return f"{field.format(ip=ip)} {'!= ' if negate else ''}{_addrs(ranges)}"


def _zone_pairs(zones: _Zones, rule: SecurityRule) -> list[tuple[tuple[str, ...] | None, tuple[str, ...] | None]]:
    """(ingress interfaces, egress interfaces) alternatives for the rule's zones and type."""
    if rule.rule_type is RuleType.UNIVERSAL:
        return [(zones.of(rule.from_zones), zones.of(rule.to_zones))]
    from_names = sorted(zones.by_zone) if ANY in rule.from_zones else sorted(rule.from_zones)
    pairs: list[tuple[tuple[str, ...] | None, tuple[str, ...] | None]] = []
    for z in from_names:
        own = zones.by_zone.get(z, ())
        if rule.rule_type is RuleType.INTRAZONE:
            pairs.append((own, own))
        else:
            to_names = sorted(zones.by_zone) if ANY in rule.to_zones else sorted(rule.to_zones)
            others = tuple(i for t in to_names if t != z for i in zones.by_zone.get(t, ()))
            pairs.append((own, others))
    return pairs


def _verdicts(action: Action) -> list[str]:
    if action is Action.ALLOW:
        return ["accept"]
    if action in (Action.DENY, Action.DROP):
        return ["drop"]
    return ["meta l4proto tcp reject with tcp reset", "reject"]


def _security_lines(zones: _Zones, rule: SecurityRule) -> list[str]:
    if rule.unmatchable:
        return []
    services = _services(rule.service, original=True)
    if services is None:
        return []
    families: list[tuple[str, str, str]] = []
    per_family = not (rule.source.any and rule.destination.any)
    for family in ((4, 6) if per_family else (0,)):
        if family == 0:
            families.append(("", "", ""))
            continue
        s = _address_conds(family, "{ip} saddr", rule.source, rule.negate_source)
        d = _address_conds(family, "ct original {ip} daddr", rule.destination, rule.negate_destination)
        if s is None or d is None:
            continue
        families.append((f"meta nfproto ipv{family}", s, d))
    lines = []
    for iif, oif in _zone_pairs(zones, rule):
        if (iif is not None and not iif) or (oif is not None and not oif):
            continue
        zone_conds = [f"iifname {_ifset(iif)}" if iif is not None else "",
                      f"oifname {_ifset(oif)}" if oif is not None else ""]
        for fam, s, d in families:
            for svc in services:
                for verdict in _verdicts(rule.action):
                    conds = " ".join(x for x in (*zone_conds, fam, s, d, svc) if x)
                    lines.append(f'{conds} {verdict}  comment "security {_comment(rule.name)}"'.lstrip())
    return lines


def _default_lines(device: Device, zones: _Zones) -> list[str]:
    lines = []
    for zone, ifaces in sorted(zones.by_zone.items()):
        if ifaces:
            for verdict in _verdicts(device.intrazone_default):
                both = f"iifname {_ifset(ifaces)} oifname {_ifset(ifaces)}"
                lines.append(f'{both} {verdict}  comment "intrazone-default {zone}"')
    for verdict in _verdicts(device.interzone_default):
        lines.append(f'{verdict}  comment "interzone-default"')
    return lines


def local_nat_addresses(device: Device) -> tuple[IP, ...]:
    """Single-host original destinations of destination NAT rules, and single-host source
    translation addresses, that lie on a connected subnet of the device: PAN-OS answers ARP for
    them (see routes.py)."""
    connected = [a.network for addrs in device.interface_addresses.values() for a in addrs]
    own = {a.ip for addrs in device.interface_addresses.values() for a in addrs}
    out: list[IP] = []
    for rule in device.nat:
        if rule.unmatchable:
            continue
        hosts = list(rule.destination.of(4)) if rule.translated_address is not None and not rule.destination.any \
            else []
        hosts += list(rule.source_translation.addresses) if rule.source_translation else []
        for r in hosts:
            if r.first == r.last and r.first not in own and any(r.first in n for n in connected) \
                    and r.first not in out:
                out.append(r.first)
    return tuple(out)


def ruleset(device: Device, interfaces: Mapping[str, str], *, table: str = TABLE,
            down: frozenset[IP] = frozenset()) -> str:
    """An `nft -f` script replacing table inet `table` with the device's NAT and security policy.
    `interfaces` maps PAN-OS interface names (ethernet1/1) to Linux names in the namespace;
    `down`: path-monitored destinations that fail (they move routes, hence NAT zones)."""
    zones = _Zones(device, interfaces)
    nat = [line for i, r in enumerate(device.nat) for line in _nat_lines(device, zones, r, i, down)]
    snat = _snat_lines(device)
    security = [line for r in device.security for line in _security_lines(zones, r)]
    local = local_nat_addresses(device)
    out = [
        f"table inet {table} {{}}",
        f"delete table inet {table}",
        f"table inet {table} {{",
        "  chain prerouting {",
        "    type nat hook prerouting priority dstnat; policy accept;",
        *(f"    {x}" for x in nat),
        "  }",
        "  chain postrouting {",
        "    type nat hook postrouting priority srcnat; policy accept;",
        *(f"    {x}" for x in snat),
        "  }",
        "  chain input {",
        "    type filter hook input priority filter; policy accept;",
        *([f"    ip daddr {_addrs(AddrRange(a, a) for a in local)} drop"] if local else []),
        "  }",
        "  chain forward {",
        "    type filter hook forward priority filter; policy drop;",
        "    ct state established,related accept",
        "    ct state invalid drop",
        *([f"    iifname != {_ifset(zones.all)} drop", f"    oifname != {_ifset(zones.all)} drop"]
          if zones.all else ["    drop"]),
        *(f"    {x}" for x in security),
        *(f"    {x}" for x in _default_lines(device, zones)),
        "  }",
        "}",
    ]
    return "\n".join(out) + "\n"
