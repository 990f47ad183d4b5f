"""Where a Firewall's desired state is assembled: each NATRule's and SecurityPolicy's rules are built
into a Recorder (the address and service objects they name, in order), kept as a Fragment, and
applied to the Builder; the compile cache (controller/core/compile_cache.py) replays a Fragment
whose inputs did not change instead of building it again."""

from __future__ import annotations

import operator
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from controller.core import naming, shared
from controller.core.compile_cache import CompileCache
from controller.core.ipam import Assignment
from controller.core.pools import IPAddress, ip_key
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
    """Builds one NATRule's or SecurityPolicy's rules and records the address and service objects
    they name (the first to name an object describes it), so that a later compile can replay them
    without building them again. The names it returns depend on the arguments only."""

    ownership_tag: str
    addresses: dict[str, AddressObject] = field(default_factory=dict)
    services: dict[str, tuple[str, int]] = field(default_factory=dict)
    vips: dict[str, tuple[IPAddress, LBService]] = field(default_factory=dict)
    namespaces: set[str] = field(default_factory=set)

    def tags(self, namespace: str | None) -> tuple[str, ...]:
        if namespace is None:
            return shared.strings((self.ownership_tag,))
        self.namespaces.add(namespace)
        return shared.strings((self.ownership_tag, naming.name("namespace_tag", namespace=namespace)))

    def address(self, ip: IPAddress, *, description: str, owner: Owner, namespace: str) -> str:
        name = naming.name("address", ip=str(ip))
        tags = self.tags(namespace)
        if name not in self.addresses:
            self.addresses[name] = AddressObject(name=name, value=f"{ip}/{ip.max_prefixlen}",
                                                 description=description, tags=tags, owner=owner)
        return name

    def service(self, protocol: str, port: int) -> str:
        name = naming.name("service", protocol=protocol, port=port)
        if name not in self.services:
            self.services[name] = shared.protocol_port(protocol, port)
        return name

    def vip(self, svc: LBService, ip: IPAddress) -> str:
        """The Service's VIP address object: described by every Service on that VIP, so it is made
        when the fragment is applied, from the whole estate."""
        name = naming.name("address", ip=str(ip))
        self.vips.setdefault(name, (ip, svc))
        return name

    def fragment(self, entries: list[tuple[tuple[object, ...], Any]], problems: list[Problem]) -> Fragment:
        return Fragment(tuple(entries), tuple(self.addresses.items()), shared.named(tuple(self.services.items())),
                        tuple(self.vips.items()), shared.names(frozenset(self.namespaces)), tuple(problems))


@dataclass(frozen=True, slots=True)
class Fragment:
    """What one NATRule or SecurityPolicy adds to a Firewall's desired state. Each name appears
    once in it; an address object it describes itself comes before a VIP of the same name."""

    entries: tuple[tuple[tuple[object, ...], Any], ...]  # (sort key, NatRule or SecurityRule)
    addresses: tuple[tuple[str, AddressObject], ...]
    services: tuple[tuple[str, tuple[str, int]], ...]  # name, (protocol, port)
    # A VIP's object name, the VIP and the first of its Services to name it here
    vips: tuple[tuple[str, tuple[IPAddress, LBService]], ...]
    namespaces: frozenset[str]
    problems: tuple[Problem, ...]


VipObject = Callable[[LBService, IPAddress], AddressObject]


@dataclass
class Builder:
    ownership_tag: str
    addresses: dict[str, AddressObject] = field(default_factory=dict)
    services: dict[str, ServiceObject] = field(default_factory=dict)
    security: list[tuple[tuple[object, ...], SecurityRule]] = field(default_factory=list)
    nat: list[tuple[tuple[object, ...], NatRule]] = field(default_factory=list)
    namespaces: set[str] = field(default_factory=set)

    def apply(self, frag: Fragment, vip_object: VipObject) -> None:
        """Add a fragment's objects; an object already named keeps its first description."""
        addresses = self.addresses
        for name, obj in frag.addresses:
            if name not in addresses:
                addresses[name] = obj
        for name, protocol_port in frag.services:
            self._service(name, protocol_port)
        for _, (ip, svc) in frag.vips:
            vip = vip_object(svc, ip)
            if vip.name not in addresses:
                addresses[vip.name] = vip
                self.namespaces.add(vip.owner.namespace)
        self.namespaces |= frag.namespaces

    def merge(self, frags: Sequence[Fragment], vip_object: VipObject) -> bool:
        """`apply` of every fragment in order into an empty Builder, as dict merges (a one-Service
        change at 10,000 Services replays 20,000 fragments: a loop over their objects was ~0.1 s).
        False, and nothing changed, when a VIP's address object shares its name with one a fragment
        describes: then which comes first decides, and only `apply` in order says."""
        assert not self.addresses and not self.services
        addresses: dict[str, AddressObject] = {}
        services: dict[str, tuple[str, int]] = {}
        first: dict[str, tuple[IPAddress, LBService]] = {}
        for frag in reversed(frags):  # the first fragment to name an object wins: it is merged last
            addresses.update(frag.addresses)
            services.update(frag.services)
            first.update(frag.vips)
        namespaces: set[str] = set()
        for ip, svc in first.values():
            vip = vip_object(svc, ip)
            if vip.name in addresses:
                return False
            addresses[vip.name] = vip
            namespaces.add(vip.owner.namespace)
        self.addresses = addresses
        for name, protocol_port in services.items():
            self._service(name, protocol_port)
        self.namespaces = namespaces.union(*(frag.namespaces for frag in frags))
        return True

    def _service(self, name: str, protocol_port: tuple[str, int]) -> None:
        if name not in self.services:
            protocol, port = protocol_port
            self.services[name] = ServiceObject(
                name=name, protocol=ServiceProtocol(protocol.lower()), port=str(port),
                description=naming.text("service_description", protocol=protocol, port=port),
                tags=(self.ownership_tag,))

    def build(self) -> DesiredFirewall:
        tags = [Tag(self.ownership_tag, "color24", naming.text("ownership_tag_comments"))]
        for ns in sorted(self.namespaces):
            tags.append(Tag(naming.name("namespace_tag", namespace=ns), None,
                            naming.text("namespace_tag_comments", namespace=ns)))
        return DesiredFirewall(
            ownership_tag=self.ownership_tag,
            tags=tuple(sorted(tags, key=lambda t: t.name)),
            addresses=tuple(map(self.addresses.__getitem__, sorted(self.addresses))),
            services=tuple(map(self.services.__getitem__, sorted(self.services))),
            security_rules=tuple(map(_SECOND, sorted(self.security, key=_FIRST))),
            nat_rules=tuple(map(_SECOND, sorted(self.nat, key=_FIRST))),
        )


_FIRST, _SECOND = operator.itemgetter(0), operator.itemgetter(1)


def vip_objects(ownership_tag: str, services: Mapping[tuple[str, str], LBService],
                 vips: Mapping[ObjectRef, Assignment], cache: CompileCache | None) -> VipObject:
    """The address object of a Service's VIP: a shared VIP is one address object that names every
    Service on it, owned by the first."""
    holders: dict[tuple[int, int], list[LBService]] = defaultdict(list)
    for s in services.values():
        for ip in getattr(vips.get(s.ref), "addresses", ()):
            holders[ip_key(ip)].append(s)
    for sharing in holders.values():
        if len(sharing) > 1:
            sharing.sort(key=lambda s: s.ref)
    made: dict[tuple[int, int], AddressObject] = {}

    def build(sharing: list[LBService], ip: IPAddress) -> AddressObject:
        first = sharing[0]
        owner = owner_of("Service", first.ref, first.uid, first.generation)
        desc = naming.text("vip_description", services=[f"Service {s.namespace}/{s.name}" for s in sharing],
                           owner=owner)
        name = naming.name("address", ip=str(ip))
        tags = shared.strings((ownership_tag, naming.name("namespace_tag", namespace=first.namespace)))
        return AddressObject(name=name, value=f"{ip}/{ip.max_prefixlen}", description=desc, tags=tags,
                             owner=owner)

    def vip_object(svc: LBService, ip: IPAddress) -> AddressObject:
        key = ip_key(ip)
        obj = made.get(key)
        if obj is None:
            sharing = holders.get(key) or [svc]
            obj = (cache.vips.get((ownership_tag, key), tuple(sharing), lambda: build(sharing, ip))
                   if cache is not None else build(sharing, ip))
            made[key] = obj
        return obj

    return vip_object
