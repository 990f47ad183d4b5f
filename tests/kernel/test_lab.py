"""The lab itself, with IPVS programmed by ipvsadm only: if these fail, bmlb is not to blame."""

from __future__ import annotations

import subprocess

from ipvs.model import Forwarding
from tests.kernel.lab import BACKENDS, LINK, Lab, ask_tcp, ask_udp, ip_batch, ipvsadm_table


def test_backends_answer_directly(lab: Lab) -> None:
    assert [ask_tcp(addr, 8080) for addr in BACKENDS.values()] == list(BACKENDS)
    assert [ask_udp(addr, 5353) for addr in BACKENDS.values()] == list(BACKENDS)


def test_ipvsadm_nat_round_robin(lab: Lab) -> None:
    vip = "10.96.0.200"
    ip_batch([f"link add {LINK} type dummy", f"link set {LINK} up", f"addr add {vip}/32 dev {LINK}"])
    rules = [f"-A -t {vip}:80 -s rr", *(f"-a -t {vip}:80 -r {addr}:8080 -m" for addr in BACKENDS.values())]
    subprocess.run(["ipvsadm", "-R"], input="\n".join(rules) + "\n", text=True, check=True)
    seen = [ask_tcp(vip, 80) for _ in range(6)]
    assert sorted(seen[:3]) == sorted(BACKENDS)
    assert seen[3:] == seen[:3]
    [svc] = ipvsadm_table().services
    assert [r.forwarding for r in svc.real_servers] == [Forwarding.NAT] * 3
