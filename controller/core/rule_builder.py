"""Where a Firewall's desired state is assembled: each NATRule's and SecurityPolicy's rules are built
into a Recorder (the address and service objects they name, in order), kept as a Fragment, and
applied to the Builder; the compile cache (controller/core/compile_cache.py) replays a Fragment
whose inputs did not change instead of building it again."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address
from typing import Any

from controller.core import naming
from controller.core.compile_cache import CompileCache
from controller.core.ipam import Assignment
from controller.core.pools import IPAddress
from controller.core.problems import ObjectRef, Problem
from controller.core.services import LBService
from firewall.model import (
    AddressObject,
    DesiredFirewall,
    NatRule,
    Owner,
    SecurityRule,
    ServiceObject,
    ServiceProtocol,
    Tag,
)


def owner_of(kind: str, ref: ObjectRef, uid: str, generation: int) -> Owner:
    return Owner(kind, ref.namespace, ref.name, uid, generation)


@dataclass
class Recorder:
    """Builds one NATRule's or SecurityPolicy's rules and records, in order, the address and
    service objects they name (the first to name an object describes it), so that a later compile
    can replay them without building them again. The names it returns depend on the arguments
    only."""

    ownership_tag: str
    ops: list[tuple[str, object, object]] = field(default_factory=list)
    namespaces: set[str] = field(default_factory=set)

    def tags(self, namespace: str | None) -> tuple[str, ...]:
        if namespace is None:
            return (self.ownership_tag,)
        self.namespaces.add(namespace)
        return (self.ownership_tag, naming.name("namespace_tag", namespace=namespace))

    def address(self, ip: IPAddress, *, description: str, owner: Owner, namespace: str) -> str:
        name = naming.name("address", ip=str(ip))
        self.ops.append(("a", name, AddressObject(name=name, value=f"{ip}/{ip.max_prefixlen}",
                                                  description=description, tags=self.tags(namespace), owner=owner)))
        return name

    def service(self, protocol: str, port: int) -> str:
        name = naming.name("service", protocol=protocol, port=port)
        self.ops.append(("s", name, (protocol, port)))
        return name

    def vip(self, svc: LBService, ip: IPAddress) -> str:
        """The Service's VIP address object: described by every Service on that VIP, so it is made
        when the fragment is applied, from the whole estate."""
        self.ops.append(("v", svc, ip))
        return naming.name("address", ip=str(ip))

    def fragment(self, entries: list[tuple[tuple[object, ...], Any]], problems: list[Problem]) -> Fragment:
        return Fragment(tuple(entries), tuple(self.ops), frozenset(self.namespaces), tuple(problems))


@dataclass(frozen=True, slots=True)
class Fragment:
    """What one NATRule or SecurityPolicy adds to a Firewall's desired state."""

    entries: tuple[tuple[tuple[object, ...], Any], ...]  # (sort key, NatRule or SecurityRule)
    ops: tuple[tuple[str, object, object], ...]
    namespaces: frozenset[str]
    problems: tuple[Problem, ...]


@dataclass
class Builder:
    ownership_tag: str
    addresses: dict[str, AddressObject] = field(default_factory=dict)
    services: dict[str, ServiceObject] = field(default_factory=dict)
    security: list[tuple[tuple[object, ...], SecurityRule]] = field(default_factory=list)
    nat: list[tuple[tuple[object, ...], NatRule]] = field(default_factory=list)
    namespaces: set[str] = field(default_factory=set)

    def apply(self, frag: Fragment, vip_object: Callable[[LBService, IPAddress], AddressObject]) -> None:
        """Add a fragment's objects; an object already named keeps its first description."""
        for op, a, b in frag.ops:
            if op == "a":
                assert isinstance(a, str) and isinstance(b, AddressObject)
                self.addresses.setdefault(a, b)
            elif op == "s":
                assert isinstance(a, str) and isinstance(b, tuple)
                if a not in self.services:
                    protocol, port = b
                    self.services[a] = ServiceObject(
                        name=a, protocol=ServiceProtocol(protocol.lower()), port=str(port),
                        description=naming.text("service_description", protocol=protocol, port=port),
                        tags=(self.ownership_tag,))
            else:
                assert isinstance(a, LBService) and isinstance(b, IPv4Address | IPv6Address)
                obj = vip_object(a, b)
                if obj.name not in self.addresses:
                    self.addresses[obj.name] = obj
                    self.namespaces.add(obj.owner.namespace)
        self.namespaces |= frag.namespaces

    def build(self) -> DesiredFirewall:
        tags = [Tag(self.ownership_tag, "color24", naming.text("ownership_tag_comments"))]
        for ns in sorted(self.namespaces):
            tags.append(Tag(naming.name("namespace_tag", namespace=ns), None,
                            naming.text("namespace_tag_comments", namespace=ns)))
        return DesiredFirewall(
            ownership_tag=self.ownership_tag,
            tags=tuple(sorted(tags, key=lambda t: t.name)),
            addresses=tuple(v for _, v in sorted(self.addresses.items())),
            services=tuple(v for _, v in sorted(self.services.items())),
            security_rules=tuple(r for _, r in sorted(self.security, key=lambda kv: kv[0])),
            nat_rules=tuple(r for _, r in sorted(self.nat, key=lambda kv: kv[0])),
        )


def vip_objects(ownership_tag: str, services: Mapping[tuple[str, str], LBService],
                 vips: Mapping[ObjectRef, Assignment], cache: CompileCache | None
                 ) -> Callable[[LBService, IPAddress], AddressObject]:
    """The address object of a Service's VIP: a shared VIP is one address object that names every
    Service on it, owned by the first."""
    holders: dict[IPAddress, list[LBService]] = defaultdict(list)
    for s in sorted(services.values(), key=lambda s: s.ref):
        for ip in getattr(vips.get(s.ref), "addresses", ()):
            holders[ip].append(s)
    made: dict[IPAddress, AddressObject] = {}

    def build(sharing: list[LBService], ip: IPAddress) -> AddressObject:
        first = sharing[0]
        owner = owner_of("Service", first.ref, first.uid, first.generation)
        desc = naming.text("vip_description", services=[f"Service {s.namespace}/{s.name}" for s in sharing],
                           owner=owner)
        name = naming.name("address", ip=str(ip))
        return AddressObject(name=name, value=f"{ip}/{ip.max_prefixlen}", description=desc,
                             tags=(ownership_tag, naming.name("namespace_tag", namespace=first.namespace)),
                             owner=owner)

    def vip_object(svc: LBService, ip: IPAddress) -> AddressObject:
        obj = made.get(ip)
        if obj is None:
            sharing = holders.get(ip) or [svc]
            obj = (cache.vips.get((ownership_tag, ip), tuple(sharing), lambda: build(sharing, ip))
                   if cache is not None else build(sharing, ip))
            made[ip] = obj
        return obj

    return vip_object
