"""In-memory IPVS backend for tests and dry runs: state to assert on, kernel-like errors.

    backend = MemoryBackend(Table(...), links={"bmlb0": {vip}})
    backend.table()                          # what the "kernel" holds now
    backend.connections[ref] = Connections(active=3)   # simulate traffic for drain tests
    backend.log                              # every operation applied, in order
"""

from __future__ import annotations

import dataclasses
import errno
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence

from ipvs.backend import Observed
from ipvs.diff import (
    AddServer,
    AddService,
    DeleteServer,
    DeleteService,
    DrainServer,
    EditServer,
    EditService,
    Op,
    ServerKey,
    ServerRef,
    ServiceKey,
    bare,
)
from ipvs.drain import Connections
from ipvs.errors import ApplyError, Failure, IpvsError
from ipvs.model import IPAddress, RealServer, Table, VirtualService


class MemoryBackend:
    def __init__(
        self,
        table: Table | None = None,
        *,
        links: Mapping[str, Iterable[IPAddress]] | None = None,
        sysctls: Mapping[str, str] | None = None,
    ) -> None:
        self.services: dict[ServiceKey, VirtualService] = {}
        self.servers: dict[ServiceKey, dict[ServerKey, RealServer]] = {}
        for svc in (table or Table()).services:
            self.services[svc.key] = bare(svc)
            self.servers[svc.key] = {r.key: r for r in svc.real_servers}
        self.connections: dict[ServerRef, Connections] = {}
        self.links: dict[str, set[IPAddress]] = {k: set(v) for k, v in (links or {}).items()}
        self.sysctls: dict[str, str] = dict(sysctls or {})
        self.log: list[Op] = []

    def table(self) -> Table:
        return Table(
            tuple(
                dataclasses.replace(svc, real_servers=tuple(self.servers[key].values()))
                for key, svc in self.services.items()
            )
        )

    def read(self, owned: Callable[[IPAddress], bool] | None = None) -> Observed:
        table = self.table()
        if owned is not None:
            table = Table(tuple(s for s in table.services if owned(s.address)))
        conns = {
            ref: self.connections.get(ref, Connections())
            for s in table.services
            for ref in (ServerRef(s.key, r.key) for r in s.real_servers)
        }
        return Observed(table, conns)

    def read_servers(self, services: Sequence[VirtualService]) -> Observed:
        out, conns = [], {}
        for svc in services:
            if svc.key not in self.services:
                raise IpvsError(f"reading the real servers of {svc}: {errno.errorcode[errno.ESRCH]}")
            have = tuple(self.servers[svc.key].values())
            out.append(dataclasses.replace(svc, real_servers=have))
            conns.update({ref: self.connections.get(ref, Connections())
                          for ref in (ServerRef(svc.key, r.key) for r in have)})
        return Observed(Table(tuple(out)), conns)

    def apply(self, plan: Sequence[Op]) -> int:
        failures: list[Failure] = []
        for op in plan:
            code = self._apply(op)
            if code:
                failures.append(Failure(op, code))
            else:
                self.log.append(op)
        applied = len(plan) - len(failures)
        if failures:
            raise ApplyError(tuple(failures), applied)
        return applied

    def _apply(self, op: Op) -> int:
        key = op.service.key
        if isinstance(op, AddService):
            if key in self.services:
                return errno.EEXIST
            self.services[key], self.servers[key] = op.service, {}
            return 0
        if key not in self.services:
            return errno.ESRCH
        if isinstance(op, EditService):
            self.services[key] = op.service
        elif isinstance(op, DeleteService):
            for rk in self.servers.pop(key):
                self.connections.pop(ServerRef(key, rk), None)
            del self.services[key]
        elif isinstance(op, AddServer):
            if op.server.key in self.servers[key]:
                return errno.EEXIST
            self.servers[key][op.server.key] = op.server
        elif op.server.key not in self.servers[key]:
            return errno.ENOENT
        elif isinstance(op, EditServer | DrainServer):
            self.servers[key][op.server.key] = op.server
        elif isinstance(op, DeleteServer):
            del self.servers[key][op.server.key]
            self.connections.pop(op.ref, None)
        return 0

    def ensure_link(self, link: str) -> None:
        self.links.setdefault(link, set())

    def addresses(self, link: str) -> frozenset[IPAddress]:
        return frozenset(self.links.get(link, ()))

    def bind(self, link: str, addresses: Collection[IPAddress]) -> None:
        if link not in self.links:
            raise IpvsError(f"no link {link}")
        self.links[link].update(addresses)

    def unbind(self, link: str, addresses: Collection[IPAddress]) -> None:
        if link not in self.links:
            raise IpvsError(f"no link {link}")
        self.links[link].difference_update(addresses)

    def ensure_sysctls(self, values: Mapping[str, str]) -> tuple[str, ...]:
        changed = tuple(k for k, v in values.items() if self.sysctls.get(k) != v)
        self.sysctls.update(values)
        return changed

    def close(self) -> None:
        pass
