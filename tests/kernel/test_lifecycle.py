"""Changes under live traffic: graceful drain, agent restart, services bmlb does not own."""

from __future__ import annotations

import dataclasses
import ipaddress
import subprocess
import time
from collections import Counter

from ipvs.diff import DeleteServer, DrainServer
from ipvs.kernel import KernelBackend
from ipvs.model import Forwarding, Protocol, RealServer, Scheduler, Table, VirtualService
from ipvs.reconcile import Reconciler
from tests.kernel.lab import BACKENDS, Conn, Lab, ask_tcp, ip_batch, ipvsadm_table, link_addresses, service


def weights(table: Table) -> dict[str, int]:
    names = {ipaddress.ip_address(a): n for n, a in BACKENDS.items()}
    return {names[r.address]: r.weight for s in table.services for r in s.real_servers}


def test_drain_keeps_a_live_connection_then_deletes_the_server(lab: Lab, reconciler: Reconciler) -> None:
    vip = "10.96.0.31"
    reconciler.sync(Table((service(vip, 80, to=8080),)), now=0.0)
    live = Conn(vip, 80)
    gone = live.ask()
    rest = tuple(b for b in BACKENDS if b != gone)
    desired = Table((service(vip, 80, to=8080, backends=rest),))

    result = reconciler.sync(desired, now=1.0)

    assert [type(op) for op in result.plan] == [DrainServer]
    assert weights(ipvsadm_table()) == {gone: 0} | dict.fromkeys(rest, 1)
    assert set(Counter(ask_tcp(vip, 80) for _ in range(4))) == set(rest)  # no new connection reaches it
    assert live.ask() == gone

    # The agent restarts mid-drain: the new one finds the drain in the kernel and writes nothing.
    restarted = Reconciler(KernelBackend())
    assert restarted.sync(desired, now=100.0).plan == ()
    assert live.ask() == gone
    assert weights(ipvsadm_table())[gone] == 0

    live.reset()
    # IPVS keeps a reset connection (state CLOSE) for 10 s; the server is deleted once it is gone.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        plan = restarted.sync(desired, now=101.0).plan
        if plan:
            break
        time.sleep(1)
    assert [type(op) for op in plan] == [DeleteServer]
    assert ipvsadm_table() == desired
    restarted.backend.close()


def test_agent_restart_applies_nothing_and_keeps_connections(lab: Lab, reconciler: Reconciler) -> None:
    vip = "10.96.0.32"
    desired = Table((service(vip, 80, to=8080, persistence=30), service(vip, 53, to=5353, protocol=Protocol.UDP)))
    reconciler.sync(desired, now=0.0)
    live = Conn(vip, 80)
    who = live.ask()
    reconciler.backend.close()  # the old agent is gone

    fresh = Reconciler(KernelBackend())
    result = fresh.sync(desired, now=0.0)

    assert (result.plan, result.applied, result.changed) == ((), 0, False)
    assert link_addresses() == {vip}
    assert [live.ask() for _ in range(3)] == [who] * 3
    live.close()
    fresh.backend.close()


def test_foreign_services_are_left_intact(lab: Lab, reconciler: Reconciler) -> None:
    foreign_vip = "10.96.0.250"
    b1, b2 = BACKENDS["b1"], BACKENDS["b2"]
    ip_batch(["link add kube-ipvs0 type dummy", "link set kube-ipvs0 up", f"addr add {foreign_vip}/32 dev kube-ipvs0"])
    restore = f"""-A -t {foreign_vip}:80 -s wlc -p 120
        -a -t {foreign_vip}:80 -r {b1}:8080 -m -w 2
        -a -t {foreign_vip}:80 -r {b2}:8080 -m -w 0
        -A -u {foreign_vip}:53 -s rr
        -a -u {foreign_vip}:53 -r {b2}:5353 -m"""
    subprocess.run(["ipvsadm", "-R"], input=restore.replace("        ", "") + "\n", text=True, check=True)
    try:
        foreign = ipvsadm_table()
        ours = Table((service("10.96.0.33", 80, to=8080),))

        reconciler.sync(ours, now=0.0)
        assert ipvsadm_table() == Table(foreign.services + ours.services)
        result = reconciler.sync(Table(), now=1.0)  # bmlb withdraws everything it owns

        assert ipvsadm_table() == foreign
        assert {str(v) for v in result.unbound} == {"10.96.0.33"}
        assert link_addresses() == set()
        assert link_addresses("kube-ipvs0") == {foreign_vip}
        assert ask_tcp(foreign_vip, 80) == "b1"  # the foreign service still carries traffic
    finally:
        ip_batch(["link del kube-ipvs0"])


def test_table_read_back_with_ipvsadm_is_what_bmlb_wrote(lab: Lab, reconciler: Reconciler) -> None:
    def rs(name: str, port: int, weight: int = 1, fwd: Forwarding = Forwarding.NAT) -> RealServer:
        return RealServer(ipaddress.ip_address(BACKENDS[name]), port, weight, fwd)

    def vs(
        vip: str, port: int, sched: Scheduler, persist: int, *servers: RealServer, udp: bool = False
    ) -> VirtualService:
        proto = Protocol.UDP if udp else Protocol.TCP
        return VirtualService(proto, ipaddress.ip_address(vip), port, sched, persist, servers)

    web = vs("10.96.0.41", 80, Scheduler.WRR, 0, rs("b1", 8080, 3), rs("b2", 8080, 1))
    tls = vs("10.96.0.41", 443, Scheduler.SH, 0, *(rs(b, 443, fwd=Forwarding.DR) for b in BACKENDS))
    dns = vs("10.96.0.42", 53, Scheduler.LC, 0, rs("b1", 5353), rs("b3", 5353), udp=True)
    tun = vs("10.96.0.43", 80, Scheduler.MH, 600, *(rs(b, 80, fwd=Forwarding.TUN) for b in BACKENDS))
    mixed = vs("10.96.0.44", 8443, Scheduler.WLC, 30, rs("b1", 8080, 5), rs("b2", 8443, 2, Forwarding.DR))
    first = Table((web, tls, dns, tun, mixed))
    reconciler.sync(first, now=0.0)
    assert ipvsadm_table() == first
    assert link_addresses() == {"10.96.0.41", "10.96.0.42", "10.96.0.43", "10.96.0.44"}

    second = Table(
        (
            dataclasses.replace(web, scheduler=Scheduler.RR, real_servers=(rs("b1", 8080, 1), rs("b3", 8080, 4))),
            tls,
            dataclasses.replace(dns, persistence_timeout=90),
            dataclasses.replace(tun, real_servers=tuple(rs(b, 80, fwd=Forwarding.DR) for b in BACKENDS)),
        )
    )
    result = reconciler.sync(second, now=1.0)
    assert ipvsadm_table() == second
    assert {str(v) for v in result.unbound} == {"10.96.0.44"}
    assert link_addresses() == {"10.96.0.41", "10.96.0.42", "10.96.0.43"}
    assert reconciler.sync(second, now=2.0).plan == ()
