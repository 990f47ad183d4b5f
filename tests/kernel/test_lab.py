"""The lab itself, with IPVS programmed by ipvsadm only: if these fail, bmlb is not to blame."""

from __future__ import annotations

import socket

import pytest

from ipvs.kernel import KernelBackend
from ipvs.model import Table
from tests.kernel import lab as lab_mod
from tests.kernel.conftest import KERNEL_NEEDS_SHIM
from tests.kernel.lab import BACKENDS, Lab, ask_tcp, ask_udp, run


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
    assert lab_mod.ipvsadm_list().count("Masq") == 3


@pytest.mark.xfail(
    KERNEL_NEEDS_SHIM,
    strict=True,
    reason="ipvs/kernel.py uses socket.NETLINK_GENERIC, absent from Python's socket module (it is 16)",
)
def test_kernel_backend_opens_without_the_test_shim(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(socket, "NETLINK_GENERIC", raising=False)
    backend = KernelBackend()
    try:
        assert backend.read().table == Table()
    finally:
        backend.close()
