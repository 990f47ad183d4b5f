from __future__ import annotations

from ipvs.diff import ServerRef
from ipvs.drain import Connections
from ipvs.model import Forwarding, Protocol, Scheduler
from ipvs.show import render
from tests.ipvs.helpers import rs, table, vs


def test_render_like_ipvsadm_ln() -> None:
    svc = vs("10.96.0.10", 80, rs("10.0.2.2"), rs("10.0.3.2", weight=0, forwarding=Forwarding.DR))
    udp = vs("fd00::10", 53, rs("fd01::5", 53, forwarding=Forwarding.TUN), protocol=Protocol.UDP,
             scheduler=Scheduler.SH, persistence=300)
    conns = {ServerRef(svc.key, rs("10.0.2.2").key): Connections(3, 7)}
    assert render(table(svc, udp), conns) == (
        "Prot LocalAddress:Port Scheduler Flags\n"
        "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
        "TCP  10.96.0.10:80 rr\n"
        "  -> 10.0.2.2:8080                Masq    1      3          7         \n"
        "  -> 10.0.3.2:8080                Route   0      0          0         \n"
        "UDP  [fd00::10]:53 sh persistent 300\n"
        "  -> [fd01::5]:53                 Tunnel  1      0          0         \n"
    )
