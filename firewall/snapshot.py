"""What the device holds, split into ours and everyone else's (pure: containers in, Snapshot out).

Ours: addresses, services and rules that carry the ownership tag; tags named like ours (see
SyncConfig). Everything else is foreign and only its names (to detect clashes) and, for rules,
its place in the rulebase are kept.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field

from firewall import elements, names
from firewall.config import SyncConfig
from firewall.elements import Kind, Obj

Key = tuple[Kind, str]
READ_KINDS = (Kind.TAG, Kind.ADDRESS, Kind.SERVICE, Kind.SECURITY, Kind.NAT)


@dataclass(frozen=True)
class Snapshot:
    owned: dict[Key, Obj] = field(default_factory=dict)  # canonical
    raw: dict[Key, ET.Element] = field(default_factory=dict)  # our entries as read
    foreign: frozenset[Key] = frozenset()
    unreadable: tuple[str, ...] = ()  # tagged as ours but not modelled: treated as foreign
    order: dict[Kind, tuple[str, ...]] = field(default_factory=dict)  # whole rulebases

    def of_kind(self, kind: Kind) -> dict[str, Obj]:
        return {name: obj for (k, name), obj in self.owned.items() if k == kind}


def is_ours(kind: Kind, entry: ET.Element, config: SyncConfig) -> bool:
    if kind.taggable:
        return config.ownership_tag in elements.tags_of(entry)
    return config.owns_name(entry.get("name", ""))


def build(containers: Mapping[Kind, ET.Element | None], config: SyncConfig) -> Snapshot:
    """`containers`: for each kind, the element holding its entries (None: the device has none)."""
    owned: dict[Key, Obj] = {}
    raw: dict[Key, ET.Element] = {}
    foreign: set[Key] = set()
    unreadable: list[str] = []
    order: dict[Kind, tuple[str, ...]] = {}
    for kind in READ_KINDS:
        container = containers.get(kind)
        entries = container.findall("entry") if container is not None else []
        if kind.is_rule:
            order[kind] = tuple(e.get("name", "") for e in entries)
        for entry in entries:
            name = entry.get("name", "")
            if not is_ours(kind, entry, config):
                foreign.add((kind, name))
                continue
            if not (names.is_valid_name(name) or (kind == Kind.TAG and names.is_valid_tag(name))):
                unreadable.append(f"{kind.value} {name!r}: not a name bmlb can address")
                foreign.add((kind, name))
                continue
            try:
                owned[(kind, name)] = elements.canonical(elements.from_element(kind, entry))
            except elements.Unreadable as exc:
                unreadable.append(str(exc))
                foreign.add((kind, name))
                continue
            raw[(kind, name)] = entry
    return Snapshot(owned, raw, frozenset(foreign), tuple(sorted(unreadable)), order)
