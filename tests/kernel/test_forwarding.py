"""Real TCP and UDP traffic through a VIP that bmlb's Reconciler programs, in each forwarding mode."""

from __future__ import annotations

from collections import Counter

import pytest

from ipvs.model import Forwarding, Protocol, Table
from ipvs.reconcile import Reconciler
from tests.kernel.lab import BACKENDS, Lab, ask_tcp, ask_udp, ipvsadm_table, link_addresses, service

TCP, UDP = Protocol.TCP, Protocol.UDP
NAT, DR, TUN = Forwarding.NAT, Forwarding.DR, Forwarding.TUN


@pytest.mark.parametrize(
    ("vip", "protocol", "forwarding", "port", "to"),
    [
        pytest.param("10.96.0.11", TCP, NAT, 80, 8080, id="tcp-nat"),
        pytest.param("10.96.0.12", UDP, NAT, 53, 5353, id="udp-nat"),
        pytest.param("10.96.0.13", TCP, DR, 80, 80, id="tcp-dr"),
        pytest.param("10.96.0.14", UDP, DR, 53, 53, id="udp-dr"),
        pytest.param("10.96.0.15", TCP, TUN, 80, 80, id="tcp-tun"),
    ],
)
def test_vip_balances_real_traffic(
    lab: Lab, reconciler: Reconciler, vip: str, protocol: Protocol, forwarding: Forwarding, port: int, to: int
) -> None:
    desired = Table((service(vip, port, to=to, protocol=protocol, forwarding=forwarding),))

    result = reconciler.sync(desired, now=0.0)

    assert result.applied == 1 + len(BACKENDS)
    assert {str(v) for v in result.bound} == {vip} == link_addresses()
    assert ipvsadm_table() == desired
    # TCP: connected to the VIP; UDP: ask_udp checks the reply's source is the VIP
    ask = ask_tcp if protocol is TCP else ask_udp
    answers = Counter(ask(vip, port) for _ in range(2 * len(BACKENDS)))
    assert answers == dict.fromkeys(BACKENDS, 2)
    again = reconciler.sync(desired, now=1.0)
    assert (again.plan, again.changed) == ((), False)
