from __future__ import annotations

import ipaddress

from ipvs.model import Forwarding, Protocol, RealServer, Scheduler, Table, VirtualService


def vs(
    vip: str = "10.96.0.10",
    port: int = 80,
    *servers: RealServer,
    protocol: Protocol = Protocol.TCP,
    scheduler: Scheduler = Scheduler.RR,
    persistence: int = 0,
) -> VirtualService:
    return VirtualService(protocol, ipaddress.ip_address(vip), port, scheduler, persistence, servers)


def rs(ip: str, port: int = 8080, weight: int = 1, forwarding: Forwarding = Forwarding.NAT) -> RealServer:
    return RealServer(ipaddress.ip_address(ip), port, weight, forwarding)


def table(*services: VirtualService) -> Table:
    return Table(services)


def big_table(n: int, m: int) -> Table:
    """n services x m real servers, addresses like the VM benchmark's."""
    return Table(
        tuple(
            vs(
                f"10.97.{i // 250}.{i % 250 + 1}",
                80,
                *(rs(f"10.244.{i // 25}.{(i % 25) * 10 + j + 1}") for j in range(m)),
            )
            for i in range(n)
        )
    )
