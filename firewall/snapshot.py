"""What the device holds, split into ours and everyone else's (pure: containers in, Snapshot out).

Ours: addresses, services and rules that carry the ownership tag; tags and static routes named
like ours (see SyncConfig). Everything else is foreign and only its names (to detect clashes) and,
for rules, its place in the rulebase are kept. Routes are keyed "router/family/name"
(elements.route_id): their names are unique only within one routing table.
"""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from firewall import elements, names
from firewall.config import SyncConfig
from firewall.elements import Kind, Obj

Key = tuple[Kind, str]
# The object a plan compares a key's entry to (firewall/diff.py `want_of`), or None: an entry
# read equal to it is kept as that object, and one that differs keeps that object's values where
# they are equal (elements.sharing), whose strings and tuples the desired state holds anyway,
# instead of copies parsed from the device's answer.
Known = Callable[[Key], Obj | None]
READ_KINDS = (Kind.TAG, Kind.ADDRESS, Kind.SERVICE, Kind.SECURITY, Kind.NAT, Kind.ROUTE)


@dataclass(frozen=True)
class Snapshot:
    owned: dict[Key, Obj] = field(default_factory=dict)  # canonical
    # of our entries as read, the children bmlb does not model (elements.unmodelled), for those
    # that have any: an update keeps them
    raw: dict[Key, ET.Element] = field(default_factory=dict)
    foreign: frozenset[Key] = frozenset()
    unreadable: tuple[str, ...] = ()  # tagged as ours but not modelled: treated as foreign
    order: dict[Kind, tuple[str, ...]] = field(default_factory=dict)  # whole rulebases
    routers: frozenset[str] = frozenset()  # the virtual routers the device has

    def of_kind(self, kind: Kind) -> dict[str, Obj]:
        return {name: obj for (k, name), obj in self.owned.items() if k == kind}


def is_ours(kind: Kind, entry: ET.Element, config: SyncConfig) -> bool:
    if kind.taggable:
        return config.ownership_tag in elements.tags_of(entry)
    return config.owns_name(entry.get("name", ""))


def entries_of(kind: Kind, container: ET.Element | None) -> Iterator[tuple[str, str, ET.Element]]:
    """(key name, virtual router or "", entry) of every entry in a kind's container."""
    if container is None:
        return
    if kind != Kind.ROUTE:
        for entry in container.findall("entry"):
            yield entry.get("name", ""), "", entry
        return
    for router in container.findall("entry"):  # the `virtual-router` element
        vr = router.get("name", "")
        for family in elements.ROUTE_FAMILIES:
            for entry in router.findall(f"routing-table/{family}/static-route/entry"):
                yield elements.route_id(vr, family, entry.get("name", "")), vr, entry


def ours(kind: Kind, key_name: str, virtual_router: str, entry: ET.Element,
         config: SyncConfig) -> tuple[Obj | None, str | None]:
    """(the canonical object, None) for an entry of ours; (None, None) for a foreign one; (None,
    why) for one tagged as ours that bmlb cannot address or model (then treated as foreign)."""
    name = entry.get("name", "")
    if not is_ours(kind, entry, config):
        return None, None
    if not (names.is_valid_name(name) or (kind == Kind.TAG and names.is_valid_tag(name))) \
            or (kind == Kind.ROUTE and not names.is_valid_name(virtual_router)):
        return None, f"{kind.value} {key_name!r}: not a name bmlb can address"
    try:
        obj = elements.from_element(kind, entry)
    except elements.Unreadable as exc:
        return None, str(exc)
    if kind == Kind.ROUTE:
        obj = dataclasses.replace(obj, virtual_router=virtual_router)  # type: ignore[call-arg]
    return elements.canonical(obj), None


@dataclass(frozen=True)
class Part:
    """One kind's entries as read (`read_kind`); `assemble` joins the kinds into a Snapshot."""

    kind: Kind
    owned: dict[Key, Obj]
    raw: dict[Key, ET.Element]
    foreign: frozenset[Key]
    unreadable: tuple[str, ...]
    order: tuple[str, ...]  # a rulebase's entries' names in the device's order (empty for other kinds)


def read_kind(kind: Kind, entries: Iterable[tuple[str, str, ET.Element]], config: SyncConfig,
              known: Known | None = None) -> Part:
    """`entries`: (key name, virtual router or "", entry), each read here and not kept (of ours,
    only the children bmlb does not model: `Snapshot.raw`). `known`: see Known."""
    owned: dict[Key, Obj] = {}
    raw: dict[Key, ET.Element] = {}
    foreign: set[Key] = set()
    unreadable: list[str] = []
    order: list[str] = []
    for key_name, vr, entry in entries:
        obj, why = ours(kind, key_name, vr, entry, config)
        if obj is None:
            foreign.add((kind, key_name))
            if why:
                unreadable.append(why)
        else:
            if known is not None and (like := known((kind, key_name))) is not None:
                obj = elements.sharing(obj, like)
                if kind != Kind.ROUTE and obj.name == key_name:  # type: ignore[union-attr]
                    key_name = obj.name  # type: ignore[union-attr]  # the same name, held once
            key = (kind, key_name)
            owned[key] = obj
            if (extra := elements.unmodelled(kind, entry)) is not None:
                raw[key] = extra
        if kind.is_rule:
            order.append(key_name)
    return Part(kind, owned, raw, frozenset(foreign), tuple(unreadable), tuple(order))


def assemble(parts: Iterable[Part], routers: frozenset[str] = frozenset()) -> Snapshot:
    owned: dict[Key, Obj] = {}
    raw: dict[Key, ET.Element] = {}
    foreign: set[Key] = set()
    unreadable: list[str] = []
    order: dict[Kind, tuple[str, ...]] = {}
    for part in parts:
        owned.update(part.owned)
        raw.update(part.raw)
        foreign |= part.foreign
        unreadable += part.unreadable
        if part.kind.is_rule:
            order[part.kind] = part.order
    return Snapshot(owned, raw, frozenset(foreign), tuple(sorted(unreadable)), order, routers)


def build(containers: Mapping[Kind, ET.Element | None] | Iterable[tuple[Kind, ET.Element | None]],
          config: SyncConfig) -> Snapshot:
    """`containers`: for each kind, the element holding its entries (None: the device has none);
    for routes, the `virtual-router` element. Given as pairs, each is read and let go before the
    next is taken."""
    parts: list[Part] = []
    routers: frozenset[str] = frozenset()
    pairs = ((k, containers.get(k)) for k in READ_KINDS) if isinstance(containers, Mapping) else containers
    for kind, container in pairs:
        parts.append(read_kind(kind, entries_of(kind, container), config))
        if kind == Kind.ROUTE:
            routers = router_names(container)
        del container
    return assemble(parts, routers)


def router_names(container: ET.Element | None) -> frozenset[str]:
    """The virtual routers in a `virtual-router` element."""
    return frozenset(r.get("name", "") for r in container.findall("entry")) if container is not None else frozenset()
