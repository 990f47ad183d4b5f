"""Read a PAN-OS running config (XML, as `show config running` or the simulator return it) into
the twin's model. Written from the PAN-OS XML layout (shared/reference/panos-xml-api.md §2) and
the PAN-OS admin guide's object semantics, not from bmlb's firewall/ package.

Objects are looked up in the vsys first, then in `shared` (PAN-OS: a vsys object shadows a shared
one of the same name). What the twin cannot judge makes the rule "unmatchable" (it never matches)
and is listed in `Device.notes`:
- dynamic address groups (membership is runtime state registered over User-ID, not config),
  FQDN and wildcard address objects, regions;
- source users, URL categories, HIP profiles other than "any";
- NAT types other than ipv4 (NPTv6, NAT64).
Applications are not identified (no App-ID): a rule naming applications matches on its service
alone, as if the traffic were the application it names. `application-default` as a service is
therefore any port. Service objects' source ports are ignored.
"""

from __future__ import annotations

import ipaddress
import xml.etree.ElementTree as ET
from collections.abc import Iterable

from tests.e2e.twin.model import (
    ANY,
    ANY_ADDRESS,
    ANY_SERVICE,
    IP,
    Action,
    Addresses,
    AddrRange,
    Device,
    Monitor,
    NatRule,
    PortRange,
    Route,
    RuleType,
    SecurityRule,
    Services,
    Translation,
    VirtualRouter,
)

# Predefined services of every PAN-OS device (Objects > Services, "Predefined").
PREDEFINED_SERVICES = {
    "service-http": (PortRange("tcp", 80, 80), PortRange("tcp", 8080, 8080)),
    "service-https": (PortRange("tcp", 443, 443),),
}


class Unresolvable(ValueError):
    """A reference the twin cannot turn into addresses or ports."""


def _members(e: ET.Element | None, path: str) -> list[str]:
    if e is None:
        return []
    return [(m.text or "").strip() for m in e.findall(f"{path}/member")]


def _text(e: ET.Element, path: str, default: str = "") -> str:
    t = e.findtext(path)
    return default if t is None else t.strip()


def _yes(e: ET.Element, path: str) -> bool:
    return _text(e, path, "no") == "yes"


def literal_range(text: str) -> AddrRange:
    """An address written in a rule or object: a host, a prefix (host bits allowed, as PAN-OS
    does for ip-netmask) or first-last."""
    if "-" in text:
        a, b = (ipaddress.ip_address(x.strip()) for x in text.split("-", 1))
        if a.version != b.version or a > b:  # type: ignore[operator]
            raise ValueError(f"bad range {text!r}")
        return AddrRange(a, b)
    net = ipaddress.ip_network(text, strict=False)
    return AddrRange(net.network_address, net.broadcast_address)


class _Objects:
    """Address and service objects and groups of one vsys, with `shared` behind them."""

    def __init__(self, scopes: list[ET.Element]) -> None:
        self.address: dict[str, ET.Element] = {}
        self.address_group: dict[str, ET.Element] = {}
        self.service: dict[str, ET.Element] = {}
        self.service_group: dict[str, ET.Element] = {}
        for scope in reversed(scopes):  # later (vsys) scopes overwrite earlier (shared) ones
            for kind, table in (("address", self.address), ("address-group", self.address_group),
                                ("service", self.service), ("service-group", self.service_group)):
                for e in scope.findall(f"{kind}/entry"):
                    table[e.get("name", "")] = e

    def addresses(self, names: Iterable[str], seen: frozenset[str] = frozenset()) -> Addresses:
        names = list(names)
        if not names or ANY in names:
            return ANY_ADDRESS
        out: list[AddrRange] = []
        for n in names:
            out.extend(self._address(n, seen))
        return Addresses(tuple(out))

    def _address(self, name: str, seen: frozenset[str]) -> list[AddrRange]:
        if name in seen:
            raise Unresolvable(f"address group loop at {name!r}")
        if name in self.address:
            e = self.address[name]
            for kind in ("ip-netmask", "ip-range"):
                v = e.findtext(kind)
                if v:
                    try:
                        return [literal_range(v.strip())]
                    except ValueError:
                        raise Unresolvable(f"address {name!r}: {v.strip()!r} is no address") from None
            raise Unresolvable(f"address {name!r} is neither ip-netmask nor ip-range")
        if name in self.address_group:
            g = self.address_group[name]
            if g.find("dynamic") is not None:
                raise Unresolvable(f"dynamic address group {name!r} (membership is runtime state)")
            return list(self.addresses(_members(g, "static"), seen | {name}).ranges)
        try:
            return [literal_range(name)]
        except ValueError:
            raise Unresolvable(f"no address object {name!r}") from None

    def services(self, names: Iterable[str], seen: frozenset[str] = frozenset()) -> Services:
        names = list(names)
        if not names or ANY in names or "application-default" in names:
            return ANY_SERVICE
        out: list[PortRange] = []
        for n in names:
            out.extend(self._service(n, seen))
        return Services(tuple(out))

    def _service(self, name: str, seen: frozenset[str]) -> list[PortRange]:
        if name in seen:
            raise Unresolvable(f"service group loop at {name!r}")
        if name in self.service:
            out: list[PortRange] = []
            for proto_e in self.service[name].findall("protocol/*"):
                for part in (proto_e.findtext("port") or "").split(","):
                    part = part.strip()
                    if not part:
                        continue
                    lo, _, hi = part.partition("-")
                    try:
                        out.append(PortRange(proto_e.tag, int(lo), int(hi or lo)))
                    except ValueError:
                        raise Unresolvable(f"service {name!r}: port {part!r}") from None
            if not out:
                raise Unresolvable(f"service {name!r} has no port")
            return out
        if name in self.service_group:
            return list(self.services(_members(self.service_group[name], "members"), seen | {name}).ports)
        if name in PREDEFINED_SERVICES:
            return list(PREDEFINED_SERVICES[name])
        raise Unresolvable(f"no service object {name!r}")

    def one_address(self, name: str) -> IP:
        ranges = self._address(name, frozenset())
        return ranges[0].first


def _security_rule(e: ET.Element, objs: _Objects) -> SecurityRule:
    name = e.get("name", "")
    why = ""
    try:
        source = objs.addresses(_members(e, "source"))
        destination = objs.addresses(_members(e, "destination"))
        service = objs.services(_members(e, "service"))
    except (Unresolvable, ValueError) as err:
        source, destination, service, why = Addresses(), Addresses(), Services(), str(err)
    for field in ("source-user", "category", "source-hip", "destination-hip"):
        values = _members(e, field)
        if values and values != [ANY]:
            why = why or f"{field} {values} (not modelled)"
    try:
        action = Action(_text(e, "action", "allow"))
    except ValueError:
        action, why = Action.DENY, why or f"action {_text(e, 'action')!r}"
    try:
        rule_type = RuleType(_text(e, "rule-type", "universal"))
    except ValueError:
        rule_type, why = RuleType.UNIVERSAL, why or f"rule-type {_text(e, 'rule-type')!r}"
    return SecurityRule(
        name=name,
        from_zones=frozenset(_members(e, "from") or [ANY]),
        to_zones=frozenset(_members(e, "to") or [ANY]),
        source=source,
        destination=destination,
        service=service,
        action=action,
        negate_source=_yes(e, "negate-source"),
        negate_destination=_yes(e, "negate-destination"),
        rule_type=rule_type,
        unmatchable=why,
    )


def _source_translation(e: ET.Element, objs: _Objects, interfaces: dict) -> Translation | None:
    """static-ip (translated-address), dynamic-ip / dynamic-ip-and-port (translated-address
    members, or interface-address: its `ip`, else the interface's first address)."""
    st = e.find("source-translation")
    if st is None or len(st) == 0:
        return None
    kind_e = st[0]
    kind = kind_e.tag
    if kind == "static-ip":
        names = [_text(kind_e, "translated-address")]
    else:
        names = _members(kind_e, "translated-address")
    names = [n for n in names if n]
    if names:
        return Translation(kind, tuple(r for n in names for r in objs._address(n, frozenset())))
    ifname = _text(kind_e, "interface-address/interface")
    ip = _text(kind_e, "interface-address/ip")
    if ip:
        try:
            return Translation(kind, (literal_range(str(ipaddress.ip_interface(ip).ip)),))
        except ValueError:
            return Translation(kind, tuple(objs._address(ip, frozenset())))
    own = [a for a in interfaces.get(ifname, ()) if a.version == 4]
    if not own:
        raise Unresolvable(f"source translation to interface {ifname!r}, which has no IPv4 address")
    return Translation(kind, (literal_range(str(own[0].ip)),))


def _nat_rule(e: ET.Element, objs: _Objects, interfaces: dict) -> NatRule:
    name = e.get("name", "")
    why = ""
    to_zones = _members(e, "to") or [ANY]
    translated: IP | None = None
    port: int | None = None
    st: Translation | None = None
    try:
        source = objs.addresses(_members(e, "source"))
        destination = objs.addresses(_members(e, "destination"))
        service = objs.services([_text(e, "service", ANY)])
        for path in ("destination-translation", "dynamic-destination-translation"):
            dt = e.find(path)
            if dt is not None:
                addr = _text(dt, "translated-address")
                translated = objs.one_address(addr) if addr else None
                p = _text(dt, "translated-port")
                port = int(p) if p else None
        st = _source_translation(e, objs, interfaces)
    except (Unresolvable, ValueError) as err:
        source, destination, service, why = Addresses(), Addresses(), Services(), str(err)
    if translated is not None and translated.version != 4:
        why = why or f"translated address {translated} is not IPv4"
    if st is not None and any(r.version != 4 for r in st.addresses):
        why = why or "source translation to a non-IPv4 address"
    nat_type = _text(e, "nat-type", "ipv4")
    if nat_type != "ipv4":
        why = why or f"nat-type {nat_type} (not modelled)"
    if len(to_zones) != 1:
        why = why or f"a NAT rule has one destination zone, not {to_zones}"
    return NatRule(
        name=name,
        from_zones=frozenset(_members(e, "from") or [ANY]),
        to_zone=to_zones[0],
        to_interface=_text(e, "to-interface", ANY) or ANY,
        source=source,
        destination=destination,
        service=service,
        translated_address=translated,
        translated_port=port,
        source_translation=st,
        unmatchable=why,
    )


def _interfaces(network: ET.Element | None) -> dict[str, tuple[ipaddress.IPv4Interface | ipaddress.IPv6Interface, ...]]:
    """Every layer3 interface and subinterface (units) with its addresses."""
    out: dict[str, tuple[ipaddress.IPv4Interface | ipaddress.IPv6Interface, ...]] = {}
    if network is None:
        return out
    for e in network.iterfind("interface//entry"):
        ips = [x.get("name", "") for x in [*e.findall("layer3/ip/entry"), *e.findall("ip/entry")]]
        ips += [x.get("name", "") for x in [*e.findall("layer3/ipv6/address/entry"),
                                            *e.findall("ipv6/address/entry")]]
        addrs = []
        for ip in ips:
            try:
                addrs.append(ipaddress.ip_interface(ip))
            except ValueError:
                continue  # an address object name: not modelled
        if e.find("layer3") is not None or ips:
            out[e.get("name", "")] = tuple(addrs)
    return out


def _monitor(e: ET.Element) -> Monitor | None:
    pm = e.find("path-monitor")
    if pm is None or not _yes(pm, "enable"):
        return None
    dests = tuple(ipaddress.ip_address(_text(d, "destination")) for d in pm.findall("monitor-destinations/entry")
                  if _text(d, "enable", "yes") == "yes" and _text(d, "destination"))
    return Monitor(dests, _text(pm, "failure-condition", "any"))


def _static_route(e: ET.Element, objs: _Objects) -> Route | None:
    """One static route entry, or None when it is not installed (no-install, multicast only);
    raises Unresolvable / ValueError for what cannot be read."""
    table = e.find("route-table")
    if table is not None and (table.find("no-install") is not None or table.find("multicast") is not None):
        return None
    dest_text = _text(e, "destination")
    if not dest_text:
        raise Unresolvable("no destination")
    r = objs._address(dest_text, frozenset())[0]
    nets = list(ipaddress.summarize_address_range(r.first, r.last))  # type: ignore[arg-type]
    if len(nets) != 1:
        raise Unresolvable(f"destination {dest_text!r} is not a prefix")
    nh = e.find("nexthop")
    nexthop: IP | None = None
    discard = False
    if nh is not None:
        if nh.find("discard") is not None:
            discard = True
        elif nh.find("next-vr") is not None or nh.find("fqdn") is not None:
            raise Unresolvable("next-vr/fqdn next hops are not modelled")
        else:
            for tag in ("ip-address", "ipv6-address"):
                if nh.findtext(tag):
                    nexthop = objs.one_address(_text(nh, tag))
    if nexthop is not None and nexthop.version != nets[0].version:
        raise Unresolvable(f"next hop {nexthop} is not of the destination's family")
    return Route(
        name=e.get("name", ""),
        destination=nets[0],
        nexthop=nexthop,
        interface=_text(e, "interface"),
        metric=int(_text(e, "metric", "10")),
        admin_dist=int(_text(e, "admin-dist", "10")),
        discard=discard,
        monitor=_monitor(e),
    )


def _static_routes(vr: ET.Element, objs: _Objects, notes: list[str]) -> list[Route]:
    routes: list[Route] = []
    for family in ("ip", "ipv6"):
        for e in vr.findall(f"routing-table/{family}/static-route/entry"):
            try:
                r = _static_route(e, objs)
            except (Unresolvable, ValueError) as err:
                notes.append(f"static route {e.get('name', '')} is not installed: {err}")
                continue
            if r is not None:
                routes.append(r)
    return routes


def _routers(network: ET.Element | None, addresses: dict, objs: _Objects,
             notes: list[str]) -> tuple[VirtualRouter, ...]:
    if network is None:
        return ()
    out = []
    for vr in network.findall("virtual-router/entry"):
        members = tuple(_members(vr, "interface"))
        connected = [
            Route(f"connected {ifname}", a.network, None, ifname, metric=0, admin_dist=0, connected=True)
            for ifname in members for a in addresses.get(ifname, ())
        ]
        ecmp = vr.find("ecmp")
        paths = 1
        if ecmp is not None and _yes(ecmp, "enable"):
            try:
                paths = int(_text(ecmp, "max-path", "2"))
            except ValueError:
                notes.append(f"virtual router {vr.get('name')}: ecmp max-path {_text(ecmp, 'max-path')!r}, using 2")
                paths = 2
        out.append(VirtualRouter(vr.get("name", ""), members, (*connected, *_static_routes(vr, objs, notes)), paths))
    return tuple(out)


def load(xml: str, *, vsys: str = "vsys1") -> Device:
    """The device a running config describes (one vsys). Raises ValueError only for a document
    that is not a PAN-OS config; what it cannot model it leaves out and lists in `notes`."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as err:
        raise ValueError(f"not XML: {err}") from None
    dev = root.find("devices/entry")
    if dev is None:
        raise ValueError("no devices/entry in this config")
    vs = dev.find(f"vsys/entry[@name='{vsys}']")
    if vs is None:
        raise ValueError(f"no vsys {vsys!r} in this config")
    scopes = [vs]
    shared = root.find("shared")
    if shared is not None:
        scopes.append(shared)
    objs = _Objects(scopes)
    notes: list[str] = []
    network = dev.find("network")
    addresses = _interfaces(network)
    zones = {z.get("name", ""): tuple(_members(z, "network/layer3")) for z in vs.findall("zone/entry")}
    security = []
    for e in vs.findall("rulebase/security/rules/entry"):
        if _yes(e, "disabled"):
            continue
        rule = _security_rule(e, objs)
        if rule.unmatchable:
            notes.append(f"security rule {rule.name} never matches: {rule.unmatchable}")
        security.append(rule)
    nat = []
    for e in vs.findall("rulebase/nat/rules/entry"):
        if _yes(e, "disabled"):
            continue
        nrule = _nat_rule(e, objs, addresses)
        if nrule.unmatchable:
            notes.append(f"NAT rule {nrule.name} never matches: {nrule.unmatchable}")
        nat.append(nrule)
    defaults = {"intrazone-default": Action.ALLOW, "interzone-default": Action.DENY}
    for e in vs.findall("rulebase/default-security-rules/rules/entry"):
        name, action = e.get("name", ""), _text(e, "action")
        if name in defaults and action:
            try:
                defaults[name] = Action(action)
            except ValueError:
                notes.append(f"default rule {name}: action {action!r} is not one, kept {defaults[name].value}")
    return Device(
        zones=zones,
        interface_addresses=addresses,
        routers=_routers(network, addresses, objs, notes),
        security=tuple(security),
        nat=tuple(nat),
        intrazone_default=defaults["intrazone-default"],
        interzone_default=defaults["interzone-default"],
        notes=tuple(notes),
    )
