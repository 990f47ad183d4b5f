"""Pure diff of two IPVS tables: `diff(desired, actual, *, owned=...) -> Plan`.

A Plan is a sorted tuple of typed operations that, applied in order, turn the owned part of
`actual` into `desired`. Services are matched on `VirtualService.key`, real servers on
`RealServer.key`; attributes (scheduler, persistence, weight, forwarding) are then compared.

Ownership: only services whose VIP is owned (the `owned` predicate or set, plus every VIP of
`desired`) are considered; any other service in `actual` never appears in a plan.

Drain: a real server that leaves a service that stays is deleted, unless its reference is in
`draining` (see `ipvs.drain`): then it is set to weight 0 (`DrainServer`) and kept. A whole
service that leaves is deleted with its servers at once, as kube-proxy does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from typing import NamedTuple

from ipvs.model import IPAddress, RealServer, Table, VirtualService

ServiceKey = tuple[str, int, str, int]
ServerKey = tuple[int, str, int]


class ServerRef(NamedTuple):
    """Identity of one real server inside one virtual service."""

    service: ServiceKey
    server: ServerKey


_NO_SERVER: ServerKey = (0, "", 0)


def bare(service: VirtualService) -> VirtualService:
    """The service's own attributes, without real servers (what service operations carry)."""
    return dataclasses.replace(service, real_servers=()) if service.real_servers else service


@dataclass(frozen=True, slots=True)
class AddService:
    service: VirtualService  # bare: its real servers come as AddServer operations
    phase = 5

    @property
    def order(self) -> tuple[int, ServiceKey, ServerKey]:
        return (self.phase, self.service.key, _NO_SERVER)


@dataclass(frozen=True, slots=True)
class EditService:
    service: VirtualService  # bare, new attributes
    old: VirtualService  # bare
    phase = 3

    @property
    def order(self) -> tuple[int, ServiceKey, ServerKey]:
        return (self.phase, self.service.key, _NO_SERVER)


@dataclass(frozen=True, slots=True)
class DeleteService:
    service: VirtualService  # bare; the kernel drops its real servers with it
    phase = 0

    @property
    def order(self) -> tuple[int, ServiceKey, ServerKey]:
        return (self.phase, self.service.key, _NO_SERVER)


@dataclass(frozen=True, slots=True)
class _ServerOp:
    service: VirtualService  # bare
    server: RealServer

    @property
    def ref(self) -> ServerRef:
        return ServerRef(self.service.key, self.server.key)

    @property
    def order(self) -> tuple[int, ServiceKey, ServerKey]:
        return (self.phase, self.service.key, self.server.key)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class AddServer(_ServerOp):
    phase = 6


@dataclass(frozen=True, slots=True)
class EditServer(_ServerOp):
    """Change weight and/or forwarding of an existing real server to `server`'s."""

    old: RealServer | None = None
    phase = 4


@dataclass(frozen=True, slots=True)
class DrainServer(_ServerOp):
    """Set a leaving real server to weight 0; `server` is the new value (weight 0)."""

    phase = 2


@dataclass(frozen=True, slots=True)
class DeleteServer(_ServerOp):
    phase = 1


Op = AddService | EditService | DeleteService | AddServer | EditServer | DrainServer | DeleteServer
Plan = tuple[Op, ...]

Owned = Callable[[IPAddress], bool] | Collection[IPAddress]


def ownership(owned: Owned, desired: Table) -> Callable[[IPAddress], bool]:
    """A predicate: VIPs of `desired` plus those `owned` names."""
    want = desired.vips
    if callable(owned):
        pred = owned
        return lambda vip: vip in want or pred(vip)
    mine = want | frozenset(owned)
    return mine.__contains__


def owned_part(actual: Table, owned: Callable[[IPAddress], bool]) -> Table:
    return Table(tuple(s for s in actual.services if owned(s.address)))


def leaving(desired: Table, actual: Table) -> Iterator[tuple[VirtualService, RealServer]]:
    """Real servers of `actual` missing from a service that `desired` keeps."""
    want = desired.by_key()
    for have in actual.services:
        svc = want.get(have.key)
        if svc is None or svc.real_servers == have.real_servers:
            continue
        keep = {r.key for r in svc.real_servers}
        for rs in have.real_servers:
            if rs.key not in keep:
                yield have, rs


def diff(
    desired: Table,
    actual: Table,
    *,
    owned: Owned,
    draining: Collection[ServerRef] = frozenset(),
) -> Plan:
    is_owned = ownership(owned, desired)
    have = {s.key: s for s in actual.services if is_owned(s.address)}
    want = desired.by_key()
    ops: list[Op] = []
    for key, svc in want.items():
        old = have.get(key)
        if old is None:
            b = bare(svc)
            ops.append(AddService(b))
            ops.extend(AddServer(b, rs) for rs in svc.real_servers)
        else:
            ops.extend(_diff_service(svc, old, draining))
    for key, old in have.items():
        if key not in want:
            ops.append(DeleteService(bare(old)))
    return tuple(sorted(ops, key=lambda op: op.order))


def _diff_service(svc: VirtualService, old: VirtualService, draining: Collection[ServerRef]) -> Iterator[Op]:
    if svc is old or svc == old:  # the common case, without building keys
        return
    b = bare(svc)
    if (svc.scheduler, svc.persistence_timeout) != (old.scheduler, old.persistence_timeout):
        yield EditService(b, bare(old))
    have = {r.key: r for r in old.real_servers}
    for rs in svc.real_servers:
        cur = have.pop(rs.key, None)
        if cur is None:
            yield AddServer(b, rs)
        elif (cur.weight, cur.forwarding) != (rs.weight, rs.forwarding):
            yield EditServer(b, rs, cur)
    for key, cur in have.items():
        if ServerRef(svc.key, key) not in draining:
            yield DeleteServer(b, cur)
        elif cur.weight != 0:
            yield DrainServer(b, dataclasses.replace(cur, weight=0))


def count(plan: Plan) -> dict[str, int]:
    """Operations per kind, e.g. {"AddServer": 10}."""
    out: dict[str, int] = {}
    for op in plan:
        out[type(op).__name__] = out.get(type(op).__name__, 0) + 1
    return out
