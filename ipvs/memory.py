"""In-memory IPVS backend for tests and dry runs: state to assert on, kernel-like errors.

    backend = MemoryBackend(Table(...), links={"bmlb0": {vip}})
    backend.table()                          # what the "kernel" holds now
    backend.connections[ref] = Connections(active=3)   # simulate traffic for drain tests
    backend.log                              # every operation applied, in order

    MemoryBackend.persistent(Path("n1.json"))   # state kept in a file (ipvs.persist), saved after
                                               # every applied operation: a process killed
                                               # mid-apply leaves a half-applied table behind, and
                                               # connection counts come from n1.json.connections
"""

from __future__ import annotations

import dataclasses
import errno
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path

from ipvs import persist
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
from ipvs.model import IPAddress, Masquerade, RealServer, Table, VirtualService


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
        # bmlb's nftables table: None while absent (set_masquerade with no entries removes it)
        self.masq: frozenset[Masquerade] | None = (table.masquerade or None) if table else None
        self.masquerade_writes = 0
        self.log: list[Op] = []
        self.path: Path | None = None
        self.op_delay = 0.0  # seconds each applied operation takes (persistent backend only)
        self.ops = 0

    @classmethod
    def persistent(cls, path: Path, *, op_delay: float = 0.0) -> MemoryBackend:
        """A backend that starts from the table in `path` (if any) and saves it there after every
        applied operation and link change."""
        table, links, ops = persist.load(path)
        backend = cls(table, links=links)
        backend.path, backend.op_delay, backend.ops = path, op_delay, ops
        return backend

    def _save(self) -> None:
        if self.path is not None:
            persist.save(self.path, self.table(), self.links, self.ops)

    def _connections(self) -> Mapping[ServerRef, Connections]:
        if self.path is None:
            return self.connections
        return {**self.connections, **persist.load_connections(self.path)}

    def table(self) -> Table:
        return Table(
            tuple(
                dataclasses.replace(svc, real_servers=tuple(self.servers[key].values()))
                for key, svc in self.services.items()
            ),
            self.masq or frozenset(),
        )

    def read(self, owned: Callable[[IPAddress], bool] | None = None) -> Observed:
        table = Table(self.table().services)
        if owned is not None:
            table = Table(tuple(s for s in table.services if owned(s.address)))
        known = self._connections()
        conns = {
            ref: known.get(ref, Connections())
            for s in table.services
            for ref in (ServerRef(s.key, r.key) for r in s.real_servers)
        }
        return Observed(table, conns)

    def read_servers(self, services: Sequence[VirtualService]) -> Observed:
        out, conns = [], {}
        known = self._connections()
        for svc in services:
            if svc.key not in self.services:
                raise IpvsError(f"reading the real servers of {svc}: {errno.errorcode[errno.ESRCH]}")
            have = tuple(self.servers[svc.key].values())
            out.append(dataclasses.replace(svc, real_servers=have))
            conns.update({ref: known.get(ref, Connections())
                          for ref in (ServerRef(svc.key, r.key) for r in have)})
        return Observed(Table(tuple(out)), conns)

    def apply(self, plan: Sequence[Op]) -> int:
        failures: list[Failure] = []
        for op in plan:
            if self.op_delay:
                time.sleep(self.op_delay)
            code = self._apply(op)
            if code:
                failures.append(Failure(op, code))
            else:
                self.log.append(op)
                self.ops += 1
                self._save()
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
        if link not in self.links:
            self.links[link] = set()
            self._save()

    def addresses(self, link: str) -> frozenset[IPAddress]:
        return frozenset(self.links.get(link, ()))

    def bind(self, link: str, addresses: Collection[IPAddress]) -> None:
        if link not in self.links:
            raise IpvsError(f"no link {link}")
        self.links[link].update(addresses)
        self._save()

    def unbind(self, link: str, addresses: Collection[IPAddress]) -> None:
        if link not in self.links:
            raise IpvsError(f"no link {link}")
        self.links[link].difference_update(addresses)
        self._save()

    def ensure_sysctls(self, values: Mapping[str, str]) -> tuple[str, ...]:
        changed = tuple(k for k, v in values.items() if self.sysctls.get(k) != v)
        self.sysctls.update(values)
        return changed

    def masquerade(self) -> frozenset[Masquerade] | None:
        return self.masq

    def set_masquerade(self, entries: Collection[Masquerade]) -> None:
        self.masq = frozenset(entries) or None
        self.masquerade_writes += 1
        self._save()

    def close(self) -> None:
        pass
