"""IPVS sync benchmark: bmlb's fast path vs `ipvsadm -R` vs pyroute2 one request per object.

In the VM (root, real IPVS):   tests/kernel/run-in-vm.sh .venv/bin/python bench/ipvs.py [N M]
On the host (no IPVS):         .venv/bin/python bench/ipvs.py --host [N M]
  times only the message encoding of N x (M + 1) objects, ours vs pyroute2's, and a full
  sync + one-endpoint change against the memory backend.
"""

from __future__ import annotations

import dataclasses
import ipaddress
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
    r = Reconciler(backend)
    timed("memory backend: full sync from empty", lambda: r.sync(t, now=0).applied)
    res = r.sync(one_endpoint_changed(t), now=1)
    print(f"one endpoint changed: {res.applied} operations ({[type(op).__name__ for op in res.plan]})")


def vm(n: int, m: int) -> None:
    from ipvs.kernel import KernelBackend

    def ipvsadm(*args: str, stdin: str | None = None) -> None:
        subprocess.run(["ipvsadm", *args], input=stdin, text=True, check=True, stdout=subprocess.DEVNULL)

    def counts() -> str:
        out = subprocess.run(["ipvsadm", "-Ln"], capture_output=True, text=True, check=True).stdout
        return f"(services, dests) = ({out.count(chr(10) + 'TCP ')}, {out.count('  -> ')})"

    t = table(n, m)
    print(f"VM: N={n} x M={m} = {n * (m + 1)} objects", flush=True)
    backend = KernelBackend()
    r = Reconciler(backend, link="bmlb0")
    ipvsadm("-C")
    ours = timed("bmlb Reconciler.sync, from empty (incl. VIPs)", lambda: r.sync(t, now=0).applied)
    print("   ", counts())
    again = timed("bmlb second sync of the same table", lambda: r.sync(t, now=1).applied)
    changed = one_endpoint_changed(t)
    res: list[int] = []
    inc = timed("bmlb one endpoint changed", lambda: res.append(r.sync(changed, now=2).applied))
    print(f"    netlink operations for the change: {res[0]}")
    r.sync(Table(), now=3)
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
    ipvsadm("-C")
    print(f"ratio bmlb full sync / ipvsadm -R: {ours / ref:.2f}   (apply only: {raw / ref:.2f}; "
          f"no-op sync {again:.2f} s, incremental {inc:.2f} s)")
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
