"""Render an IPVS table the way `ipvsadm -Ln` prints it (for `bmlb ipvs show`).

    render(table, connections=None) -> str
"""

from __future__ import annotations

from collections.abc import Mapping

from ipvs.diff import ServerRef
from ipvs.drain import Connections
from ipvs.model import Forwarding, IPAddress, Table

HEADER = (
    "Prot LocalAddress:Port Scheduler Flags\n"
    "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
)
_FORWARD = {Forwarding.NAT: "Masq", Forwarding.DR: "Route", Forwarding.TUN: "Tunnel"}


def _hostport(address: IPAddress, port: int) -> str:
    return f"[{address}]:{port}" if address.version == 6 else f"{address}:{port}"


def render(table: Table, connections: Mapping[ServerRef, Connections] | None = None) -> str:
    conns = connections or {}
    lines = [HEADER.rstrip("\n")]
    for svc in table.services:
        line = f"{svc.protocol.value.upper()}  {_hostport(svc.address, svc.port)} {svc.scheduler.value}"
        if svc.persistence_timeout:
            line += f" persistent {svc.persistence_timeout}"
        lines.append(line)
        for rs in svc.real_servers:
            c = conns.get(ServerRef(svc.key, rs.key), Connections())
            dest = _hostport(rs.address, rs.port)
            lines.append(f"  -> {dest:<28} {_FORWARD[rs.forwarding]:<7} {rs.weight:<6} {c.active:<10} {c.inactive:<10}")
    return "\n".join(lines) + "\n"
