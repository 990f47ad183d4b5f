"""IPVS sync benchmark: bmlb's fast path vs `ipvsadm -R` vs pyroute2 one request per object.

In the VM (root, real IPVS):   tests/kernel/run-in-vm.sh .venv/bin/python bench/ipvs.py [N M]
On the host (no IPVS):         .venv/bin/python bench/ipvs.py --host [N M]
  times only the message encoding of N x (M + 1) objects, ours vs pyroute2's, a full sync, a
  no-op sync, a one-endpoint change and a verifying sync against the memory backend, and the
  verification dump's decoding (KernelBackend.read() over tests/ipvs/fakekernel.py's replies).
The VM run prints issue 13's agent targets (one endpoint change < 0.2 s in <= 2 netlink writes,
verification dump vs `ipvsadm -Sn`, peak RSS) with met / NOT met.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))

from ipvs import wire
from ipvs.diff import diff
from ipvs.memory import MemoryBackend
from ipvs.model import Forwarding, Protocol, RealServer, Scheduler, Table, VirtualService
from ipvs.reconcile import Reconciler


def vip(i: int) -> str:
    return f"10.97.{i // 250}.{i % 250 + 1}"


def rip(i: int, j: int) -> str:
    return f"10.244.{i // 25}.{(i % 25) * 10 + j + 1}"


def table(n: int, m: int) -> Table:
    return Table(tuple(
        VirtualService(Protocol.TCP, ipaddress.ip_address(vip(i)), 80, Scheduler.RR, 0, tuple(
            RealServer(ipaddress.ip_address(rip(i, j)), 8080, 1, Forwarding.NAT) for j in range(m)))
        for i in range(n)
    ))


def one_endpoint_changed(t: Table) -> Table:
    i = len(t.services) // 2
    svc = t.services[i]
    new = RealServer(ipaddress.ip_address("10.250.0.1"), 8080)
    changed = dataclasses.replace(svc, real_servers=(*svc.real_servers[1:], new))
    return Table((*t.services[:i], changed, *t.services[i + 1:]))


def timed(label: str, fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t
    print(f"{label:<48} {dt:8.3f} s" + (f"   {out}" if out is not None else ""), flush=True)
    return dt


def encode_ours(t: Table) -> int:
    plan = diff(t, Table(), owned=())
    return sum(len(wire.encode(op, family=0x1E, seq=i, ack=False)) for i, op in enumerate(plan))


def encode_pyroute2(t: Table) -> int:
    from pyroute2 import IPVSDest, IPVSService
    from pyroute2.netlink.generic import ipvs as p

    total = 0
    for s in t.services:
        svc = IPVSService(addr=str(s.address), port=s.port, protocol=6, sched_name="rr")
        msgs = [("IPVS_CMD_ATTR_SERVICE", svc.dump_nla())]
        batch = [msgs] + [[("IPVS_CMD_ATTR_SERVICE", svc.dump_key()),
                           ("IPVS_CMD_ATTR_DEST", IPVSDest(addr=str(r.address), port=r.port, fwd_method=0).dump_nla())]
                          for r in s.real_servers]
        for attrs in batch:
            m = p.ipvsmsg()
            m["cmd"], m["version"], m["attrs"] = 1, 1, attrs
            m.encode()
            total += len(m.data)
    return total


def host(n: int, m: int) -> None:
    t = table(n, m)
    print(f"host: N={n} x M={m} = {n * (m + 1)} messages (encoding only; no kernel)")
    ours = timed("bmlb: diff + struct-packed encoding", lambda: encode_ours(t))
    theirs = timed("pyroute2: IPVSService/IPVSDest + ipvsmsg.encode", lambda: encode_pyroute2(t))
    print(f"encoding speed-up: {theirs / ours:.1f}x")
    backend = MemoryBackend()
    r = Reconciler(backend, verify_every=3600)
    timed("memory backend: full sync from empty", lambda: r.sync(t, now=0).applied)
    timed("memory backend: no-op sync (from memory)", lambda: r.sync(t, now=1).applied)
    res = r.sync(one_endpoint_changed(t), now=2)
    timed("memory backend: verifying sync (full read + diff)", lambda: r.sync(t, now=3, verify=True).applied)
    print(f"one endpoint changed: {res.applied} operations ({[type(op).__name__ for op in res.plan]})")
    from tests.ipvs.fakekernel import FakeSocket, with_socket  # the kernel's dumps, byte for byte

    sock = FakeSocket(t)
    with_socket(sock).read()  # the fake builds its answers once
    wire._RS_CACHE.clear()
    fake = with_socket(sock)
    timed("KernelBackend.read() from a fake kernel, new backend", lambda: len(fake.read().table.services))
    timed("KernelBackend.read() from a fake kernel, again", lambda: len(fake.read().table.services))
    print(f"peak RSS {peak_rss_mb():.0f} MB; load average {os.getloadavg()}")


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def vm(n: int, m: int) -> None:
    from ipvs.kernel import KernelBackend

    def ipvsadm(*args: str, stdin: str | None = None) -> None:
        subprocess.run(["ipvsadm", *args], input=stdin, text=True, check=True, stdout=subprocess.DEVNULL)

    def counts() -> str:
        out = subprocess.run(["ipvsadm", "-Ln"], capture_output=True, text=True, check=True).stdout
        return f"(services, dests) = ({out.count(chr(10) + 'TCP ')}, {out.count('  -> ')})"

    def sends() -> int:
        return sum(sock.sends for sock in (backend._genl, backend._rtnl) if sock is not None)

    t = table(n, m)
    print(f"VM: N={n} x M={m} = {n * (m + 1)} objects; load average in the VM {os.getloadavg()}", flush=True)
    backend = KernelBackend()
    r = Reconciler(backend, link="bmlb0", verify_every=3600)
    ipvsadm("-C")
    ours = timed("bmlb Reconciler.sync, from empty (incl. VIPs)", lambda: r.sync(t, now=0).applied)
    print("   ", counts())
    again = timed("bmlb no-op sync (from memory)", lambda: r.sync(t, now=1).applied)
    changed = one_endpoint_changed(t)
    res: list[int] = []
    before = sends()
    inc = timed("bmlb one endpoint changed", lambda: res.append(r.sync(changed, now=2).applied))
    writes = sends() - before
    print(f"    IPVS operations for the change: {res[0]}; netlink sendmsg calls: {writes}")
    timed("bmlb verifying sync (full kernel read + diff)", lambda: r.sync(changed, now=3, verify=True).applied)
    dump = min(timed("bmlb KernelBackend.read() (the verification dump)", lambda: len(backend.read().table.services))
               for _ in range(2))
    print(f"    datagrams read by the general path: {backend._dest_reader.general} (the first dump's)")
    sn = min(timed("ipvsadm -Sn (same table)", lambda: ipvsadm("-Sn")) for _ in range(2))
    r.sync(Table(), now=4)
    print("    after sync(empty):", counts(), "VIPs left:", len(backend.addresses("bmlb0")))
    ipvsadm("-C")
    lines = []
    for s in t.services:
        lines.append(f"-A -t {s.address}:80 -s rr")
        lines += [f"-a -t {s.address}:80 -r {x.address}:8080 -m -w 1" for x in s.real_servers]
    ref = timed("ipvsadm -R (restore, generated batch)", lambda: ipvsadm("-R", stdin="\n".join(lines) + "\n"))
    print("   ", counts())
    ipvsadm("-C")
    raw = timed("bmlb apply(plan) only, from empty", lambda: backend.apply(diff(t, Table(), owned=())))
    rss = peak_rss_mb()  # before a second backend's caches
    backend.close()
    wire._RS_CACHE.clear()
    fresh = KernelBackend()  # an agent that just started: its first read, no cache filled yet
    cold = timed("bmlb KernelBackend.read(), new backend (first read)", lambda: len(fresh.read().table.services))
    fresh.close()
    ipvsadm("-C")
    print(f"ratio bmlb full sync / ipvsadm -R: {ours / ref:.2f}   (apply only: {raw / ref:.2f})")
    print(f"ratio bmlb verification dump / ipvsadm -Sn: {dump / sn:.2f}   (a new backend's first read: "
          f"{cold / sn:.2f})")
    print("targets (issue 13, agent):")
    print(f"  one endpoint change applied < 0.2 s: {inc:.3f} s -> {verdict(inc < 0.2)}")
    print(f"  one endpoint change <= 2 netlink writes: {writes} -> {verdict(writes <= 2)}")
    print(f"  verification dump no slower than ipvsadm -Sn: {dump:.3f} s vs {sn:.3f} s -> {verdict(dump <= sn)}")
    print(f"  no-op sync: {again:.3f} s (was a full dump + diff before)")
    print(f"  peak RSS of this process (Reconciler + KernelBackend + tables): {rss:.0f} MB")
    if "--pyroute2" in sys.argv:
        from pyroute2 import IPVS, IPVSDest, IPVSService

        def naive() -> None:
            ipvs = IPVS()
            for s in t.services:
                svc = IPVSService(addr=str(s.address), port=80, protocol=6, sched_name="rr")
                ipvs.service("add", service=svc)
                for x in s.real_servers:
                    ipvs.dest("add", service=svc, dest=IPVSDest(addr=str(x.address), port=8080, fwd_method=0))
            ipvs.close()

        timed("pyroute2 one request per object", naive)
        ipvsadm("-C")
    backend.close()


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n, m = (int(args[0]), int(args[1])) if len(args) >= 2 else (1000, 10)
    if "--host" in sys.argv or shutil.which("ipvsadm") is None:
        host(n, m)
    else:
        vm(n, m)


if __name__ == "__main__":
    main()
