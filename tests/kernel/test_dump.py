"""The verification read against the real kernel: what ipvs.dumps reads (a new backend's first
read, then from its caches) is what the general decoder reads from the same kernel, live
connection counts included; IPv6, DR/TUN, a GUE tunnel, thresholds and a fwmark service too."""

from __future__ import annotations

import ipaddress
import subprocess

from ipvs import wire
from ipvs.backend import Observed
from ipvs.diff import ServerRef
from ipvs.kernel import KernelBackend
from ipvs.model import Forwarding, Protocol, RealServer, Scheduler, Table, VirtualService
from ipvs.reconcile import Reconciler
from tests.kernel.lab import BACKENDS, Conn, Lab


def general(backend: KernelBackend) -> Observed:
    """The table through wire.decode_service / decode_dest, message by message."""
    s = backend._ipvs()
    seq = s.seq()
    services = [v for v in map(wire.decode_service, s.request(wire.dump_services(backend._family, seq), seq)) if v]
    full, conns = [], {}
    for svc in services:
        seq = s.seq()
        servers = []
        for payload in s.request(wire.dump_dests(svc, backend._family, seq), seq):
            rs, c = wire.decode_dest(payload, wire.af_of(svc.address))
            servers.append(rs)
            if c.total:
                conns[ServerRef(svc.key, rs.key)] = c
        full.append(VirtualService(svc.protocol, svc.address, svc.port, svc.scheduler, svc.persistence_timeout,
                                   tuple(servers)))
    return Observed(Table(tuple(full)), conns)


def test_read_is_what_the_general_decoder_reads(lab: Lab, reconciler: Reconciler) -> None:
    def rs(name: str, port: int, weight: int = 1, fwd: Forwarding = Forwarding.NAT) -> RealServer:
        return RealServer(ipaddress.ip_address(BACKENDS[name]), port, weight, fwd)

    vip = "10.96.0.51"
    web = VirtualService(Protocol.TCP, ipaddress.ip_address(vip), 80, Scheduler.RR, 0,
                         tuple(rs(b, 8080) for b in BACKENDS))
    dr = VirtualService(Protocol.TCP, ipaddress.ip_address(vip), 443, Scheduler.SH, 300,
                        (rs("b1", 443, 3, Forwarding.DR), rs("b2", 443, 0, Forwarding.TUN)))
    v6 = VirtualService(Protocol.TCP, ipaddress.ip_address("fd00::51"), 80, Scheduler.WLC, 0,
                        (RealServer(ipaddress.ip_address("fd01::5"), 8080, 2),
                         RealServer(ipaddress.ip_address("fd01::6"), 8080, 1, Forwarding.DR)))
    desired = Table((web, dr, v6))
    reconciler.sync(desired, now=0.0)
    b3 = BACKENDS["b3"]
    extra = f"""-A -u 10.96.0.52:53 -s rr
        -a -u 10.96.0.52:53 -r {b3}:5353 -i -w 4 --tun-type gue --tun-port 6080 -x 100 -y 10
        -A -f 7 -s rr
        -a -f 7 -r {b3}:0 -g"""
    subprocess.run(["ipvsadm", "-R"], input=extra.replace("        ", "") + "\n", text=True, check=True)
    live = Conn(vip, 80)
    live.ask()

    backend = KernelBackend()
    first, again = backend.read(), backend.read()
    want = general(backend)
    assert first == want and again == want
    assert want.connections and len(want.table.services) == 4  # the connection is counted; no fwmark service
    assert Table(tuple(s for s in want.table.services if s.key in desired.by_key())) == desired
    assert backend._dest_reader.general == 1  # only the first dump, which taught the layout
    live.close()
    backend.close()
