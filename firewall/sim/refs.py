"""Reference checks: rules and groups may only name objects that exist (reference section 4).

`problems(tree)` lists every dangling reference in the config; the device compares the list
before and after a change, so a change is refused only for the problems it introduces.
"""

from __future__ import annotations

import ipaddress
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass

BUILTIN_SERVICES = frozenset({"any", "application-default", "service-http", "service-https"})
OBJECT_CONTAINERS = ("address", "address-group", "service", "service-group", "tag")


@dataclass(frozen=True, slots=True, order=True)
class Problem:
    owner: str  # e.g. "rule1" or "address-group grp"
    field: str
    value: str
    detail: str = ""  # a validation message other than a dangling reference (see sim/network.py)

    def lines(self) -> tuple[str, ...]:
        if self.detail:
            return (f" {self.owner} -> {self.field} '{self.value}' {self.detail}", f" {self.owner} is invalid")
        return (
            f" {self.owner} -> {self.field} '{self.value}' is not a valid reference",
            f" {self.owner} -> {self.field} is invalid",
        )


@dataclass(frozen=True, slots=True)
class Names:
    addresses: frozenset[str]
    services: frozenset[str]
    tags: frozenset[str]
    zones: frozenset[str] | None  # None: zones are not checked (Panorama device groups)


def _names(container: ET.Element | None, tag: str) -> set[str]:
    if container is None:
        return set()
    node = container.find(tag)
    return {e.get("name", "") for e in node.findall("entry")} if node is not None else set()


def scope_names(scope: ET.Element | None, shared: ET.Element | None, *, zones: bool) -> Names:
    def both(tag: str) -> set[str]:
        return _names(scope, tag) | _names(shared, tag)

    return Names(
        addresses=frozenset(both("address") | both("address-group")),
        services=frozenset(both("service") | both("service-group") | BUILTIN_SERVICES),
        tags=frozenset(both("tag")),
        zones=frozenset(_names(scope, "zone")) if zones else None,
    )


def _is_ip_literal(value: str) -> bool:
    parts = value.split("-")
    try:
        if len(parts) == 2:
            ipaddress.ip_address(parts[0])
            ipaddress.ip_address(parts[1])
        else:
            ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


def _members(entry: ET.Element, path: str) -> list[str]:
    return [(m.text or "") for m in entry.findall(f"{path}/member")]


def check_rule(rule: ET.Element, kind: str, names: Names) -> Iterator[Problem]:
    name = rule.get("name", "")
    addr_fields = ["source", "destination"]
    zone_fields = ["from", "to"]
    for f in zone_fields:
        for v in _members(rule, f):
            if names.zones is not None and v != "any" and v not in names.zones:
                yield Problem(name, f, v)
    for f in addr_fields:
        for v in _members(rule, f):
            if v != "any" and v not in names.addresses and not _is_ip_literal(v):
                yield Problem(name, f, v)
    services = _members(rule, "service") if kind == "security" else [rule.findtext("service") or "any"]
    for v in services:
        if v not in names.services:
            yield Problem(name, "service", v)
    for v in _members(rule, "tag"):
        if v not in names.tags:
            yield Problem(name, "tag", v)
    if kind == "nat":
        translated = [
            rule.findtext("destination-translation/translated-address"),
            rule.findtext("dynamic-destination-translation/translated-address"),
        ]
        for st in rule.findall("source-translation/*"):
            translated.extend(_members(st, "translated-address"))
            translated.append(st.findtext("translated-address"))
        for v in translated:
            if v and v not in names.addresses and not _is_ip_literal(v):
                yield Problem(name, "translated-address", v)


def check_object(container: str, entry: ET.Element, names: Names) -> Iterator[Problem]:
    owner = f"{container} {entry.get('name', '')}"
    for v in _members(entry, "tag"):
        if v not in names.tags:
            yield Problem(owner, "tag", v)
    if container == "address-group":
        for v in _members(entry, "static"):
            if v not in names.addresses or v == entry.get("name"):
                yield Problem(owner, "static", v)
    if container == "service-group":
        for v in _members(entry, "members"):
            if v not in names.services:
                yield Problem(owner, "members", v)


def _check_objects(scope: ET.Element, names: Names) -> Iterator[Problem]:
    for container in OBJECT_CONTAINERS:
        for entry in scope.findall(f"{container}/entry"):
            yield from check_object(container, entry, names)


def _scopes(config: ET.Element) -> Iterator[tuple[ET.Element, bool]]:
    """(scope element, zones checked) for every vsys and device group."""
    for device in config.findall("devices/entry"):
        for vsys in device.findall("vsys/entry"):
            yield vsys, True
        for dg in device.findall("device-group/entry"):
            yield dg, False


def problems(tree: ET.Element) -> frozenset[Problem]:
    config = tree.find("config")
    if config is None:
        return frozenset()
    shared = config.find("shared")
    found: set[Problem] = set()
    if shared is not None:
        found.update(_check_objects(shared, scope_names(None, shared, zones=False)))
    for scope, zones in _scopes(config):
        names = scope_names(scope, shared, zones=zones)
        found.update(_check_objects(scope, names))
        for rulebase in ("rulebase", "pre-rulebase", "post-rulebase"):
            for kind in ("security", "nat"):
                for rule in scope.findall(f"{rulebase}/{kind}/rules/entry"):
                    found.update(check_rule(rule, kind, names))
    return frozenset(found)


def rename_references(scope: ET.Element, old: str, new: str) -> None:
    """PAN-OS rewrites references when an object is renamed."""
    for elem in scope.iter():
        if elem.tag in ("member", "service", "translated-address") and len(elem) == 0 and elem.text == old:
            elem.text = new
