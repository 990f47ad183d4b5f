"""IPVS tables back from their plain (JSON) form, as an agent's state file holds them."""

from __future__ import annotations

import ipaddress
from typing import Any

from ipvs.model import Forwarding, Protocol, RealServer, Scheduler, Table, VirtualService


def table_from_plain(data: dict[str, Any]) -> Table:
    return Table(tuple(
        VirtualService(
            protocol=Protocol(s["protocol"]), address=ipaddress.ip_address(s["address"]), port=int(s["port"]),
            scheduler=Scheduler(s["scheduler"]), persistence_timeout=int(s.get("persistence_timeout", 0)),
            real_servers=tuple(RealServer(ipaddress.ip_address(r["address"]), int(r["port"]), int(r["weight"]),
                                          Forwarding(r["forwarding"])) for r in s["real_servers"]),
        ) for s in data.get("services", [])))
