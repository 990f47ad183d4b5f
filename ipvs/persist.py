"""The memory backend's state as a JSON file, so that it outlives the process that applies it.

    save(path, table, links, ops)          # atomic: a reader sees the old file or the new one
    table, links, ops = load(path)         # (Table(), {}, 0) when there is no file yet
    load_connections(path)                 # per real server, from PATH.connections (test-written)

Format of PATH:
    {"ops": N, "links": {"bmlb0": ["10.0.0.1"]},
     "services": [{"protocol": "tcp", "address": "10.0.0.1", "port": 80, "scheduler": "rr",
                   "persistence_timeout": 0,
                   "real_servers": [{"address": "10.1.0.1", "port": 8080, "weight": 1, "forwarding": "nat"}]}],
     "masquerade": [{"address": "10.0.0.1", "protocol": "tcp", "port": 80}]}   (bmlb's nftables table)
PATH.connections (written by whoever plays the traffic, read on every backend read):
    [{"protocol": "tcp", "address": "10.0.0.1", "port": 80, "server": "10.1.0.1", "server_port": 8080,
      "active": 2, "inactive": 0}]
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ipvs.diff import ServerRef
from ipvs.drain import Connections
from ipvs.model import Forwarding, IPAddress, Masquerade, Protocol, RealServer, Scheduler, Table, VirtualService


def connections_path(path: Path) -> Path:
    return path.with_name(path.name + ".connections")


def table_to_plain(table: Table) -> list[dict[str, Any]]:
    return [{"protocol": s.protocol.value, "address": str(s.address), "port": s.port,
             "scheduler": s.scheduler.value, "persistence_timeout": s.persistence_timeout,
             "real_servers": [{"address": str(r.address), "port": r.port, "weight": r.weight,
                               "forwarding": r.forwarding.value} for r in s.real_servers]}
            for s in table.services]


def masquerade_to_plain(entries: Iterable[Masquerade]) -> list[dict[str, Any]]:
    ordered = sorted(entries, key=lambda m: (m.address.version, int(m.address), m.protocol.value, m.port))
    return [{"address": str(m.address), "protocol": m.protocol.value, "port": m.port} for m in ordered]


def masquerade_from_plain(rows: Iterable[Mapping[str, Any]]) -> frozenset[Masquerade]:
    return frozenset(Masquerade(ipaddress.ip_address(r["address"]), Protocol(r["protocol"]), int(r["port"]))
                     for r in rows)


def table_from_plain(services: Iterable[Mapping[str, Any]],
                     masquerade: Iterable[Mapping[str, Any]] = ()) -> Table:
    return Table(tuple(
        VirtualService(
            protocol=Protocol(s["protocol"]), address=ipaddress.ip_address(s["address"]), port=int(s["port"]),
            scheduler=Scheduler(s["scheduler"]), persistence_timeout=int(s.get("persistence_timeout", 0)),
            real_servers=tuple(RealServer(ipaddress.ip_address(r["address"]), int(r["port"]), int(r["weight"]),
                                          Forwarding(r["forwarding"])) for r in s["real_servers"]))
        for s in services), masquerade_from_plain(masquerade))


def save(path: Path, table: Table, links: Mapping[str, Iterable[IPAddress]], ops: int) -> None:
    data = {"ops": ops, "links": {k: sorted(map(str, v)) for k, v in sorted(links.items())},
            "services": table_to_plain(table), "masquerade": masquerade_to_plain(table.masquerade)}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def load(path: Path) -> tuple[Table, dict[str, set[IPAddress]], int]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return Table(), {}, 0
    links = {k: {ipaddress.ip_address(a) for a in v} for k, v in data.get("links", {}).items()}
    table = table_from_plain(data.get("services", []), data.get("masquerade") or [])
    return table, links, int(data.get("ops", 0))


def load_connections(path: Path) -> dict[ServerRef, Connections]:
    """Connection counts the test wrote for real servers; none when the file is absent or torn."""
    try:
        rows = json.loads(connections_path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    out: dict[ServerRef, Connections] = {}
    for r in rows:
        vip, server = ipaddress.ip_address(r["address"]), ipaddress.ip_address(r["server"])
        svc = VirtualService(Protocol(r["protocol"]), vip, int(r["port"]))
        real = RealServer(server, int(r["server_port"]))
        out[ServerRef(svc.key, real.key)] = Connections(int(r.get("active", 0)), int(r.get("inactive", 0)))
    return out
