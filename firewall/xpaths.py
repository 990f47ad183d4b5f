"""Where things live in the PAN-OS config tree, for a vsys or a Panorama device group (pure)."""

from __future__ import annotations

from firewall import elements, names
from firewall.config import SyncConfig
from firewall.elements import Kind

DEVICE = "/config/devices/entry[@name='localhost.localdomain']"
ROUTERS = f"{DEVICE}/network/virtual-router"  # a firewall's; on Panorama routes live in templates
_OBJECTS = {Kind.TAG: "tag", Kind.ADDRESS: "address", Kind.SERVICE: "service"}


def literal(name: str) -> str:
    """A name as an XPath literal; only names that pass names.is_valid_name get here."""
    if not (names.is_valid_name(name) or names.is_valid_tag(name)):
        raise ValueError(f"refusing to put {name!r} into an xpath")
    return f"'{name}'"


def root(config: SyncConfig) -> str:
    if config.device_group is not None:
        return f"{DEVICE}/device-group/entry[@name={literal(config.device_group)}]"
    return f"{DEVICE}/vsys/entry[@name={literal(config.vsys)}]"


def container(config: SyncConfig, kind: Kind) -> str:
    """Where a kind is read from (for routes: every virtual router, read at once)."""
    if kind == Kind.ROUTE:
        if config.panorama:
            raise ValueError("static routes on Panorama live in templates: not managed here")
        return ROUTERS
    if kind in _OBJECTS:
        return f"{root(config)}/{_OBJECTS[kind]}"
    if kind.is_rule:
        rulebase = f"{config.rulebase.value}-rulebase" if config.device_group is not None else "rulebase"
        return f"{root(config)}/{rulebase}/{kind.value}/rules"
    raise ValueError(f"{kind.value} has no container here")


def static_routes(virtual_router: str, family: str) -> str:
    return f"{ROUTERS}/entry[@name={literal(virtual_router)}]/routing-table/{family}/static-route"


def parent(config: SyncConfig, kind: Kind, name: str) -> str:
    """Where an object of that (key) name is created."""
    if kind == Kind.ROUTE:
        container(config, kind)  # refuses Panorama
        virtual_router, family, _ = elements.split_route_id(name)
        return static_routes(virtual_router, family)
    return container(config, kind)


def entry(config: SyncConfig, kind: Kind, name: str) -> str:
    if kind == Kind.ROUTE:
        return f"{parent(config, kind, name)}/entry[@name={literal(elements.split_route_id(name)[2])}]"
    return f"{container(config, kind)}/entry[@name={literal(name)}]"
