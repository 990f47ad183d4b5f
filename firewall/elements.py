"""Model objects ⇄ PAN-OS XML `entry` elements, and their canonical form for comparison.

Elements are built with ElementTree (it escapes); names are checked before they are used.
Canonical form: member lists sorted and de-duplicated (their order means nothing to PAN-OS),
no owner (provenance lives in the description), no uuid (the device assigns it).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import xml.etree.ElementTree as ET
from typing import TypeAlias

from firewall import names
from firewall.model import (
    Action,
    AddressObject,
    NatRule,
    PathMonitor,
    SecurityRule,
    ServiceObject,
    ServiceProtocol,
    StaticRoute,
    Tag,
)

Obj: TypeAlias = Tag | AddressObject | ServiceObject | SecurityRule | NatRule | StaticRoute


class Kind(enum.Enum):
    """Object kinds in dependency order: a kind may only reference kinds before it."""

    TAG = "tag"
    ADDRESS = "address"
    SERVICE = "service"
    SECURITY = "security"
    NAT = "nat"
    ROUTE = "route"

    # Keys are (Kind, name) tuples in every set and dict of a sync: Enum's hash is a Python call
    # per lookup (a fifth of an incremental sync at 50,000 objects); members are singletons.
    __hash__ = object.__hash__

    @property
    def rank(self) -> int:
        return _RANK[self]

    @property
    def is_rule(self) -> bool:
        return self in (Kind.SECURITY, Kind.NAT)

    @property
    def taggable(self) -> bool:
        return self not in (Kind.TAG, Kind.ROUTE)


_RANK = {kind: i for i, kind in enumerate(Kind)}
KIND_OF: dict[type, Kind] = {
    Tag: Kind.TAG,
    AddressObject: Kind.ADDRESS,
    ServiceObject: Kind.SERVICE,
    SecurityRule: Kind.SECURITY,
    NatRule: Kind.NAT,
    StaticRoute: Kind.ROUTE,
}
ADDRESS_KINDS = ("ip-netmask", "ip-range", "ip-wildcard", "fqdn")


class Unreadable(ValueError):
    """An entry this module cannot represent (e.g. another protocol, a group)."""


def kind_of(obj: Obj) -> Kind:
    return KIND_OF[type(obj)]


def canonical(obj: Obj) -> Obj:
    """Member lists sorted and unique, no owner: the object itself when it already is."""
    changes: dict[str, object] = {}
    for name in _field_names(type(obj)):
        value = getattr(obj, name)
        if isinstance(value, tuple):
            members = tuple(sorted(set(value)))
            if members != value:
                changes[name] = members
    if getattr(obj, "owner", None) is not None:
        changes["owner"] = None
    return dataclasses.replace(obj, **changes) if changes else obj  # type: ignore[arg-type]


def sharing(obj: Obj, like: Obj) -> Obj:
    """`obj` (`like` itself when equal), its values that equal `like`'s, of the same type, taken
    from `like`: an entry read from the device holds only what differs from the desired object."""
    if obj == like:
        return like
    if type(obj) is not type(like):
        return obj
    same = {}
    for name in _field_names(type(obj)):
        mine, theirs = getattr(obj, name), getattr(like, name)
        if mine is not theirs and _alike(mine, theirs):
            same[name] = theirs
    return dataclasses.replace(obj, **same) if same else obj  # type: ignore[arg-type]


def _alike(a: object, b: object) -> bool:
    """Equal strings, or equal tuples of strings: the values whose sharing cannot change a write."""
    if type(a) is str:
        return type(b) is str and a == b
    if type(a) is tuple and type(b) is tuple and len(a) == len(b):
        return all(type(x) is str and type(y) is str and x == y for x, y in zip(a, b, strict=True))
    return False


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def compared_fields(obj: Obj) -> list[str]:
    return [f.name for f in dataclasses.fields(obj) if f.name not in ("name", "owner")]


def digest(obj: Obj) -> str:
    """A short, stable fingerprint of an object's canonical attributes, as text."""
    return f"{fingerprint(canonical(obj)):016x}"


def fingerprint(canonical_obj: Obj) -> int:
    """The 64-bit fingerprint of an object already in canonical form (canonical() is idempotent):
    an int, as a sync's baseline holds it for each of 50,000 objects at 10,000 Services (the text
    of its hex digits took twice the memory)."""
    return int.from_bytes(hashlib.sha256(repr(canonical_obj).encode()).digest()[:8], "big")


# ---------------------------------------------------------------------------- to XML


def _text(parent: ET.Element, tag: str, text: str) -> ET.Element:
    node = ET.SubElement(parent, tag)
    node.text = text
    return node


def _members(parent: ET.Element, tag: str, values: tuple[str, ...]) -> None:
    node = ET.SubElement(parent, tag)
    for v in sorted(set(values)):
        _text(node, "member", v)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _common(entry: ET.Element, obj: AddressObject | ServiceObject | SecurityRule | NatRule) -> None:
    if obj.description:
        _text(entry, "description", obj.description)
    if obj.tags:
        _members(entry, "tag", obj.tags)


def to_element(obj: Obj) -> ET.Element:
    if not names.is_valid_name(obj.name) and not (isinstance(obj, Tag) and names.is_valid_tag(obj.name)):
        raise ValueError(f"invalid PAN-OS name {obj.name!r}")
    entry = ET.Element("entry", {"name": obj.name})
    match obj:
        case Tag():
            if obj.color:
                _text(entry, "color", obj.color)
            if obj.comments:
                _text(entry, "comments", obj.comments)
        case AddressObject():
            _text(entry, obj.kind, obj.value)
            _common(entry, obj)
        case ServiceObject():
            proto = ET.SubElement(ET.SubElement(entry, "protocol"), obj.protocol.value)
            _text(proto, "port", obj.port)
            _common(entry, obj)
        case SecurityRule():
            _members(entry, "from", obj.from_zones)
            _members(entry, "to", obj.to_zones)
            _members(entry, "source", obj.sources)
            _members(entry, "destination", obj.destinations)
            _members(entry, "application", obj.applications)
            _members(entry, "service", obj.services)
            _text(entry, "action", obj.action.value)
            _text(entry, "log-start", _yes(obj.log_start))
            _text(entry, "log-end", _yes(obj.log_end))
            if obj.log_setting:
                _text(entry, "log-setting", obj.log_setting)
            _text(entry, "disabled", _yes(obj.disabled))
            _common(entry, obj)
        case NatRule():
            _members(entry, "from", obj.from_zones)
            _members(entry, "to", obj.to_zones)
            _text(entry, "to-interface", obj.to_interface)
            _members(entry, "source", obj.sources)
            _members(entry, "destination", obj.destination)
            _text(entry, "service", obj.service)
            dt = ET.SubElement(entry, "destination-translation")
            _text(dt, "translated-address", obj.translated_address)
            if obj.translated_port is not None:
                _text(dt, "translated-port", str(obj.translated_port))
            _text(entry, "disabled", _yes(obj.disabled))
            _common(entry, obj)
        case StaticRoute():
            _text(entry, "destination", obj.destination)
            if obj.nexthop:
                _text(ET.SubElement(entry, "nexthop"), f"{route_family(obj)}-address", obj.nexthop)
            _text(entry, "metric", str(obj.metric))
            if obj.interface:
                _text(entry, "interface", obj.interface)
            if obj.monitor is not None:
                entry.append(_path_monitor(obj.monitor))
    return entry


MONITOR_ENTRY = "nexthop"  # the name of the one monitor destination bmlb writes per route


def _path_monitor(m: PathMonitor) -> ET.Element:
    pm = ET.Element("path-monitor")
    _text(pm, "enable", "yes")
    _text(pm, "failure-condition", m.failure_condition)
    _text(pm, "hold-time", str(m.hold_time))
    dest = ET.SubElement(ET.SubElement(pm, "monitor-destinations"), "entry", {"name": MONITOR_ENTRY})
    _text(dest, "enable", "yes")
    if m.source:
        _text(dest, "source", m.source)
    _text(dest, "destination", m.destination)
    _text(dest, "interval", str(m.interval))
    _text(dest, "count", str(m.count))
    return pm


def _read_path_monitor(e: ET.Element) -> PathMonitor | None:
    pm = e.find("path-monitor")
    if pm is None or (pm.findtext("enable") or "no").strip() != "yes":
        return None
    dests = pm.findall("monitor-destinations/entry")
    if len(dests) != 1 or (dests[0].findtext("enable") or "no").strip() != "yes":
        raise ValueError("path monitoring bmlb did not write (not exactly one enabled destination)")
    d = dests[0]
    return PathMonitor(destination=(d.findtext("destination") or "").strip(),
                       interval=int(d.findtext("interval") or 3), count=int(d.findtext("count") or 5),
                       hold_time=int(pm.findtext("hold-time") or 2),
                       failure_condition=(pm.findtext("failure-condition") or "any").strip(),
                       source=(d.findtext("source") or "").strip() or None)


# Children of an entry that to_element writes; others (added on the device) are kept on edit.
MODELLED: dict[Kind, frozenset[str]] = {
    Kind.TAG: frozenset({"color", "comments"}),
    Kind.ADDRESS: frozenset({*ADDRESS_KINDS, "description", "tag"}),
    Kind.SERVICE: frozenset({"protocol", "description", "tag"}),
    Kind.SECURITY: frozenset({"from", "to", "source", "destination", "application", "service", "action",
                              "log-start", "log-end", "log-setting", "disabled", "description", "tag"}),
    Kind.NAT: frozenset({"from", "to", "to-interface", "source", "destination", "service",
                         "destination-translation", "disabled", "description", "tag"}),
    Kind.ROUTE: frozenset({"destination", "nexthop", "interface", "metric", "path-monitor"}),
}


def merged(desired: Obj, actual: ET.Element | None) -> ET.Element:
    """The element to `edit` with: the desired entry plus children of `actual` we do not model
    (a security profile someone added stays), without the uuid (the device keeps it)."""
    entry = to_element(desired)
    if actual is not None:
        modelled = MODELLED[kind_of(desired)]
        for child in actual:
            if child.tag not in modelled:
                entry.append(child)
    return entry


def unmodelled(kind: Kind, entry: ET.Element) -> ET.Element | None:
    """An entry holding only `entry`'s children bmlb does not model (what `merged` keeps), None
    when it has none: a snapshot keeps these, not 50,000 whole entries as read."""
    modelled = MODELLED[kind]
    kept = [child for child in entry if child.tag not in modelled]
    if not kept:
        return None
    out = ET.Element(entry.tag, entry.attrib)
    out.extend(kept)
    return out


# ---------------------------------------------------------------------------- from XML


def members(entry: ET.Element, tag: str) -> tuple[str, ...]:
    # findall(f"{tag}/member") in two plain-tag steps: ElementTree answers those in C
    return tuple(sorted({(m.text or "").strip() for node in entry.findall(tag) for m in node.findall("member")}))


def _flag(entry: ET.Element, tag: str, default: bool) -> bool:
    text = entry.findtext(tag)
    return default if text is None else text.strip() == "yes"


def _desc(entry: ET.Element) -> str:
    return entry.findtext("description") or ""


def from_element(kind: Kind, entry: ET.Element) -> Obj:
    """The canonical model object for a device entry; raises Unreadable if it has no model."""
    name = entry.get("name", "")
    try:
        return _PARSERS[kind](name, entry)
    except (KeyError, ValueError) as exc:
        raise Unreadable(f"{kind.value} {name}: {exc}") from exc


def _tag(name: str, e: ET.Element) -> Tag:
    return Tag(name, e.findtext("color"), e.findtext("comments") or "")


def _address(name: str, e: ET.Element) -> AddressObject:
    for k in ADDRESS_KINDS:
        value = e.findtext(k)
        if value is not None:
            return AddressObject(name, value.strip(), k, _desc(e), members(e, "tag"))
    raise ValueError("no address value")


def _service(name: str, e: ET.Element) -> ServiceObject:
    proto = e.find("protocol")
    if proto is None or len(proto) != 1:
        raise ValueError("no protocol")
    return ServiceObject(name, ServiceProtocol(proto[0].tag), (proto[0].findtext("port") or "").strip(),
                         _desc(e), members(e, "tag"))


def _security(name: str, e: ET.Element) -> SecurityRule:
    return SecurityRule(
        name=name, from_zones=members(e, "from"), to_zones=members(e, "to"),
        sources=members(e, "source") or ("any",), destinations=members(e, "destination") or ("any",),
        applications=members(e, "application") or ("any",),
        services=members(e, "service") or ("application-default",),
        action=Action((e.findtext("action") or "allow").strip()),
        log_start=_flag(e, "log-start", False), log_end=_flag(e, "log-end", True),
        log_setting=e.findtext("log-setting") or None, disabled=_flag(e, "disabled", False),
        description=_desc(e), tags=members(e, "tag"))


def _nat(name: str, e: ET.Element) -> NatRule:
    port = e.findtext("destination-translation/translated-port")
    return NatRule(
        name=name, from_zones=members(e, "from"), to_zones=members(e, "to"),
        destination=members(e, "destination") or ("any",), service=(e.findtext("service") or "any").strip(),
        translated_address=(e.findtext("destination-translation/translated-address") or "").strip(),
        translated_port=int(port) if port else None, sources=members(e, "source") or ("any",),
        to_interface=(e.findtext("to-interface") or "any").strip(), disabled=_flag(e, "disabled", False),
        description=_desc(e), tags=members(e, "tag"))


def _route(name: str, e: ET.Element) -> StaticRoute:
    """A route without its virtual router (the caller knows which one it was read from)."""
    metric = e.findtext("metric")
    nexthop = e.findtext("nexthop/ip-address") or e.findtext("nexthop/ipv6-address")
    return StaticRoute(name=name, virtual_router="", destination=(e.findtext("destination") or "").strip(),
                       nexthop=nexthop.strip() if nexthop else None,
                       interface=(e.findtext("interface") or "").strip() or None,
                       metric=int(metric) if metric else 10, monitor=_read_path_monitor(e))


_PARSERS = {Kind.TAG: _tag, Kind.ADDRESS: _address, Kind.SERVICE: _service, Kind.SECURITY: _security,
            Kind.NAT: _nat, Kind.ROUTE: _route}


# ---------------------------------------------------------------------------- static routes

ROUTE_FAMILIES = ("ip", "ipv6")  # routing-table/ip (IPv4) and routing-table/ipv6


def route_family(route: StaticRoute) -> str:
    return "ipv6" if ":" in route.destination else "ip"


def route_id(virtual_router: str, family: str, name: str) -> str:
    """The key name of a route: route names are unique only within one routing table."""
    return f"{virtual_router}/{family}/{name}"


def route_key_name(route: StaticRoute) -> str:
    return route_id(route.virtual_router, route_family(route), route.name)


def split_route_id(key_name: str) -> tuple[str, str, str]:
    """(virtual router, family, route name) of a route's key name."""
    virtual_router, family, name = key_name.split("/", 2)
    if family not in ROUTE_FAMILIES:
        raise ValueError(f"not a route id: {key_name!r}")
    return virtual_router, family, name


def tags_of(entry: ET.Element) -> tuple[str, ...]:
    return members(entry, "tag")


def references(obj: Obj) -> frozenset[str]:
    """Names of objects (tags, addresses, services) this object refers to."""
    match obj:
        case AddressObject() | ServiceObject():
            return frozenset(obj.tags)
        case SecurityRule():
            return frozenset({*obj.tags, *obj.sources, *obj.destinations, *obj.services})
        case NatRule():
            return frozenset({*obj.tags, *obj.sources, *obj.destination, obj.service, obj.translated_address})
    return frozenset()
