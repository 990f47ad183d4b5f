"""Read what the device holds: one `get` per container, whatever the number of objects.

Static routes: one `get` of all virtual routers (a firewall's; none on Panorama, where routes
live in templates).
"""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ET
from collections.abc import Iterator

from firewall import elements, snapshot, xpaths
from firewall.config import SyncConfig
from firewall.device import Device
from firewall.elements import Kind
from firewall.model import (
    AddressObject,
    DesiredFirewall,
    NatRule,
    SecurityRule,
    ServiceObject,
    StaticRoute,
    Tag,
)
from firewall.snapshot import Snapshot


def read(device: Device, config: SyncConfig, known: snapshot.Known | None = None) -> Snapshot:
    """Every kind's entries, each container's parsed as the device's answer arrives and let go
    entry by entry (firewall/stream_get.py); the virtual routers read whole (a few entries).
    `known`: snapshot.Known (a sync's desired objects)."""
    parts: list[snapshot.Part] = []
    routers: frozenset[str] = frozenset()
    for kind in snapshot.READ_KINDS:
        if kind == Kind.ROUTE:
            if config.panorama:
                continue
            result = device.get(xpaths.container(config, kind))
            container = result[0] if result is not None and len(result) else None
            parts.append(snapshot.read_kind(kind, snapshot.entries_of(kind, container), config, known))
            routers = snapshot.router_names(container)
            continue
        parts.append(device.get_each(xpaths.container(config, kind),
                                     functools.partial(_read_kind, kind, config, known)))
    return snapshot.assemble(parts, routers)


def _read_kind(kind: Kind, config: SyncConfig, known: snapshot.Known | None,
               entries: Iterator[ET.Element]) -> snapshot.Part:
    return snapshot.read_kind(kind, ((e.get("name", ""), "", e) for e in entries), config, known)


def owned_state(snap: Snapshot, config: SyncConfig) -> DesiredFirewall:
    """Our objects as a DesiredFirewall (rules in rulebase order; owners unknown on the device)."""
    def of(kind: Kind) -> list[elements.Obj]:
        objs = snap.of_kind(kind)
        names = [n for n in snap.order.get(kind, ()) if n in objs] if kind.is_rule else sorted(objs)
        return [objs[n] for n in names]

    return DesiredFirewall(
        ownership_tag=config.ownership_tag,
        tags=tuple(o for o in of(Kind.TAG) if isinstance(o, Tag)),
        addresses=tuple(o for o in of(Kind.ADDRESS) if isinstance(o, AddressObject)),
        services=tuple(o for o in of(Kind.SERVICE) if isinstance(o, ServiceObject)),
        security_rules=tuple(o for o in of(Kind.SECURITY) if isinstance(o, SecurityRule)),
        nat_rules=tuple(o for o in of(Kind.NAT) if isinstance(o, NatRule)),
        static_routes=tuple(o for o in of(Kind.ROUTE) if isinstance(o, StaticRoute)),
    )


def read_owned(device: Device, config: SyncConfig) -> DesiredFirewall:
    """Read-only: what bmlb owns on the device now (for `bmlb audit`)."""
    return owned_state(read(device, config), config)


def read_export(config_xml: ET.Element, config: SyncConfig) -> Snapshot:
    """Pure: the Snapshot `read` would give, from a running-config XML export instead of a device
    (`<config>` itself, or the `<response><result><config>` of `show config running`)."""
    root = config_xml if config_xml.tag == "config" else config_xml.find(".//config")
    if root is None:
        raise ValueError("no <config> element: not a PAN-OS configuration export")
    containers = {}
    for kind in snapshot.READ_KINDS:
        if kind == Kind.ROUTE and config.panorama:
            continue
        path = xpaths.container(config, kind)
        containers[kind] = root.find(path.removeprefix("/config/"))
    return snapshot.build(containers, config)
