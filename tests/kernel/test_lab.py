"""The lab itself, with IPVS programmed by ipvsadm only: if these fail, bmlb is not to blame."""

from __future__ import annotations

from ipvs.model import Forwarding
from tests.kernel.lab import BACKENDS, Lab, ask_tcp, ask_udp, ipvsadm_table, run


def test_backends_answer_directly(lab: Lab) -> None:
    assert [ask_tcp(addr, 8080) for addr in BACKENDS.values()] == list(BACKENDS)
    assert [ask_udp(addr, 5353) for addr in BACKENDS.values()] == list(BACKENDS)


def test_ipvsadm_nat_round_robin(lab: Lab) -> None:
    vip = "10.96.0.200"
    script = [f"ip link add bmlb0 type dummy 2>/dev/null || true; ip link set bmlb0 up; ip addr add {vip}/32 dev bmlb0"]
    script.append(f"ipvsadm -A -t {vip}:80 -s rr")
    script += [f"ipvsadm -a -t {vip}:80 -r {addr}:8080 -m" for addr in BACKENDS.values()]
    run("\n".join(script))
    seen = [ask_tcp(vip, 80) for _ in range(6)]
    assert sorted(seen[:3]) == sorted(BACKENDS)
    assert seen[3:] == seen[:3]
    [svc] = ipvsadm_table().services
    assert [r.forwarding for r in svc.real_servers] == [Forwarding.NAT] * 3
