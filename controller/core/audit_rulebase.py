"""The whole policy of a vsys (or device group) as read from the device's XML, foreign rules
included: address objects and groups, service objects and groups, security and NAT rules in
rulebase order, zones and the connected subnets / static routes that place an IP in a zone.

Pure: parse(device_entry, shared, config) -> Policy, from the `<entry name='localhost.localdomain'>`
element of /config/devices and the `<shared>` element. Nothing here uses bmlb's compiler: this is
what the auditor's view of "the effective rulebase" is built on (controller/core/shadowing.py,
controller/core/exposure.py).
"""

from __future__ import annotations

import ipaddress
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field

from firewall.model import Owner

# Predefined services of PAN-OS (the only two the OS ships).
PREDEFINED_SERVICES = {"service-http": (("tcp", "80,8080"),), "service-https": (("tcp", "443"),)}


@dataclass(frozen=True, slots=True)
class Rule:
    """A security rule as the device evaluates it; `position` is 1-based in its rulebase."""

    name: str
    position: int
    from_zones: tuple[str, ...] = ("any",)
    to_zones: tuple[str, ...] = ("any",)
    sources: tuple[str, ...] = ("any",)
    destinations: tuple[str, ...] = ("any",)
    source_negate: bool = False
    destination_negate: bool = False
    applications: tuple[str, ...] = ("any",)
    services: tuple[str, ...] = ("any",)
    action: str = "allow"
    rule_type: str = "universal"  # universal | intrazone | interzone
    disabled: bool = False
    managed: bool = False  # carries the ownership tag
    description: str = ""
    owner: Owner | None = None


@dataclass(frozen=True, slots=True)
class Nat:
    """A NAT rule (destination translation only is modelled; others just match and pass)."""

    name: str
    position: int
    from_zones: tuple[str, ...]
    to_zones: tuple[str, ...]
    sources: tuple[str, ...] = ("any",)
    destinations: tuple[str, ...] = ("any",)
    service: str = "any"
    translated_address: str | None = None  # destination translation; None: no destination NAT
    translated_port: int | None = None
    disabled: bool = False
    managed: bool = False
    description: str = ""
    owner: Owner | None = None


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    virtual_router: str
    destination: str
    nexthop: str | None
    interface: str | None


@dataclass(frozen=True, eq=False)  # hashed by identity: resolutions are cached per Policy
class Policy:
    addresses: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (kind, value)
    address_groups: dict[str, tuple[str, ...] | None] = field(default_factory=dict)  # None: dynamic
    services: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)  # name -> ((proto, ports),)
    service_groups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    security: tuple[Rule, ...] = ()
    nat: tuple[Nat, ...] = ()
    zones: dict[str, tuple[str, ...]] = field(default_factory=dict)  # zone -> interfaces
    interfaces: dict[str, tuple[str, ...]] = field(default_factory=dict)  # interface -> its CIDRs
    routes: tuple[Route, ...] = ()

    def zone_of(self, ip: str) -> str | None:
        """The zone traffic to `ip` leaves by: the longest matching connected subnet or static
        route, then the zone of that interface (None when the config does not say)."""
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return None
        best: tuple[int, str] | None = None
        for iface, cidrs in self.interfaces.items():
            for cidr in cidrs:
                net = _net(cidr)
                if net is not None and addr.version == net.version and addr in net \
                        and (best is None or net.prefixlen > best[0]):
                    best = (net.prefixlen, iface)
        for r in self.routes:
            net = _net(r.destination)
            if net is None or addr.version != net.version or addr not in net:
                continue
            if best is not None and net.prefixlen <= best[0]:
                continue
            iface = r.interface or (self._iface_for(r.nexthop) if r.nexthop else None)
            if iface:
                best = (net.prefixlen, iface)
        if best is None:
            return None
        return next((z for z, ifaces in self.zones.items() if best[1] in ifaces), None)

    def _iface_for(self, ip: str) -> str | None:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return None
        for iface, cidrs in self.interfaces.items():
            for cidr in cidrs:
                net = _net(cidr)
                if net is not None and addr.version == net.version and addr in net:
                    return iface
        return None


def _net(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _members(e: ET.Element, tag: str, default: tuple[str, ...] = ("any",)) -> tuple[str, ...]:
    found = tuple((m.text or "").strip() for m in e.findall(f"{tag}/member"))
    return found or default


def _yes(e: ET.Element, tag: str) -> bool:
    return (e.findtext(tag) or "no").strip() == "yes"


def parse(device: ET.Element | None, shared: ET.Element | None, *, vsys: str = "vsys1",
          device_group: str | None = None, rulebase: str = "pre", ownership_tag: str = "bmlb-managed",
          owner_of: object = None) -> Policy:
    """`owner_of(description) -> Owner | None` parses provenance (controller.core.audit_inputs.parse_owner)."""
    scopes: list[ET.Element] = [s for s in (shared,) if s is not None]
    root = None
    if device is not None:
        where = f"device-group/entry[@name='{device_group}']" if device_group else f"vsys/entry[@name='{vsys}']"
        root = device.find(where)
    if root is not None:
        scopes.append(root)
    addresses, groups, services, service_groups = _objects(scopes)
    parse_owner = owner_of if callable(owner_of) else (lambda _d: None)
    base = None
    if root is not None:
        base = root.find(f"{rulebase}-rulebase" if device_group else "rulebase")
    security, nat = _rules(base, ownership_tag, parse_owner)
    zones, interfaces, routes = _network(None if device_group else root, None if device_group else device)
    return Policy(addresses, groups, services, service_groups, tuple(security), tuple(nat), zones, interfaces,
                  tuple(routes))


def _objects(scopes: list[ET.Element]) -> tuple[dict[str, tuple[str, str]], dict[str, tuple[str, ...] | None],
                                                dict[str, tuple[tuple[str, str], ...]], dict[str, tuple[str, ...]]]:
    """Address objects and groups, service objects and groups, by name."""
    addresses: dict[str, tuple[str, str]] = {}
    groups: dict[str, tuple[str, ...] | None] = {}
    services: dict[str, tuple[tuple[str, str], ...]] = dict(PREDEFINED_SERVICES)
    service_groups: dict[str, tuple[str, ...]] = {}
    for scope in scopes:  # the vsys after shared: a vsys object of the same name wins
        for e in scope.findall("address/entry"):
            for kind in ("ip-netmask", "ip-range", "fqdn", "ip-wildcard"):
                if (v := e.findtext(kind)) is not None:
                    addresses[e.get("name", "")] = (kind, v.strip())
        for e in scope.findall("address-group/entry"):
            groups[e.get("name", "")] = _members(e, "static", ()) if e.find("static") is not None else None
        for e in scope.findall("service/entry"):
            protos = []
            for proto in ("tcp", "udp", "sctp"):
                if (p := e.find(f"protocol/{proto}")) is not None:
                    protos.append((proto, (p.findtext("port") or "").strip()))
            services[e.get("name", "")] = tuple(protos)
        for e in scope.findall("service-group/entry"):
            service_groups[e.get("name", "")] = _members(e, "members", ())
    return addresses, groups, services, service_groups


def _rules(base: ET.Element | None, ownership_tag: str,
           parse_owner: Callable[[str], Owner | None]) -> tuple[list[Rule], list[Nat]]:
    """The security and NAT rules of a rulebase, in order."""
    security: list[Rule] = []
    nat: list[Nat] = []
    if base is None:
        return security, nat
    for i, e in enumerate(base.findall("security/rules/entry"), 1):
        desc = (e.findtext("description") or "").strip()
        security.append(Rule(
            e.get("name", ""), i, _members(e, "from"), _members(e, "to"), _members(e, "source"),
            _members(e, "destination"), _yes(e, "negate-source"), _yes(e, "negate-destination"),
            _members(e, "application"), _members(e, "service"), (e.findtext("action") or "allow").strip(),
            (e.findtext("rule-type") or "universal").strip(), _yes(e, "disabled"),
            ownership_tag in _members(e, "tag", ()), desc, parse_owner(desc)))
    for i, e in enumerate(base.findall("nat/rules/entry"), 1):
        desc = (e.findtext("description") or "").strip()
        dt = e.find("destination-translation")
        port = dt.findtext("translated-port") if dt is not None else None
        nat.append(Nat(
            e.get("name", ""), i, _members(e, "from"), _members(e, "to"), _members(e, "source"),
            _members(e, "destination"), (e.findtext("service") or "any").strip(),
            (dt.findtext("translated-address") or "").strip() or None if dt is not None else None,
            int(port) if port and port.strip().isdigit() else None, _yes(e, "disabled"),
            ownership_tag in _members(e, "tag", ()), desc, parse_owner(desc)))
    return security, nat


def _network(root: ET.Element | None, device: ET.Element | None
             ) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]], list[Route]]:
    """A firewall's zones, interface addresses and static routes (a device group has none)."""
    zones: dict[str, tuple[str, ...]] = {}
    interfaces: dict[str, tuple[str, ...]] = {}
    routes: list[Route] = []
    if root is not None:
        for z in root.findall("zone/entry"):
            zones[z.get("name", "")] = tuple((m.text or "").strip() for m in z.findall("network/*/member"))
    if device is not None:
        for kind in ("ethernet", "aggregate-ethernet", "vlan", "loopback", "tunnel"):
            for e in device.iter(kind):
                for iface in e.findall("entry"):
                    _interface(iface, interfaces)
                    for sub in iface.findall("layer3/units/entry"):
                        _interface(sub, interfaces)
        for vr in device.findall("network/virtual-router/entry"):
            for family in ("ip", "ipv6"):
                for r in vr.findall(f"routing-table/{family}/static-route/entry"):
                    routes.append(Route(r.get("name", ""), vr.get("name", ""),
                                        (r.findtext("destination") or "").strip(),
                                        (r.findtext("nexthop/ip-address") or r.findtext("nexthop/ipv6-address")
                                         or "").strip() or None,
                                        (r.findtext("interface") or "").strip() or None))
    return zones, interfaces, routes


def _interface(e: ET.Element, out: dict[str, tuple[str, ...]]) -> None:
    cidrs = tuple(x.get("name", "") for x in e.findall("layer3/ip/entry")) + \
        tuple(x.get("name", "") for x in e.findall("layer3/ipv6/address/entry"))
    if cidrs:
        out[e.get("name", "")] = cidrs
