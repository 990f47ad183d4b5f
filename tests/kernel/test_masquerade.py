"""NAT mode with a real server on ANOTHER node: without masquerade the pod answers the client
directly and the connection breaks; with bmlb's masquerade table it works (as kube-proxy does).

    client (bmlb-cl) ── 10.0.1.0/24 ── node 1 (bmlb-dir: IPVS, the test process)
       │ eth1 10.0.11.2                     │ v-n2 10.0.9.1
       │                                    │ node subnet 10.0.9.0/24
       └── 10.0.11.0/24 (the "router") ── node 2 (bmlb-n2) eth0 10.0.9.2
                                            │ v-p2 10.0.10.1
                                          pod (bmlb-p2) eth0 10.0.10.2, answers "p2"

Node 2 reaches the client through its own uplink, never through node 1, like a node whose default
route is the router. Judged from packets and from `nft` / `ipvsadm` output, not from bmlb's parser.
"""

from __future__ import annotations

import ipaddress
import socket
import subprocess
from collections.abc import Iterator

import pytest

from ipvs.masquerade import FAMILY, TABLE
from ipvs.model import Forwarding, Masquerade, Protocol, RealServer, Table, VirtualService
from ipvs.reconcile import Reconciler
from tests.kernel import lab as lab_mod
from tests.kernel.lab import CLIENT, Servers, ask_tcp, ask_udp, ip_batch, netns, run, sysctl

NODE2, POD = "bmlb-n2", "bmlb-p2"
POD_ADDR = "10.0.10.2"
VIP = "10.96.0.77"


@pytest.fixture(scope="module")
def cross_node(lab: lab_mod.Lab) -> Iterator[Servers]:
    subprocess.run(["ip", "-force", "-batch", "-"], input=f"netns del {NODE2}\nnetns del {POD}\n",
                   capture_output=True, text=True, check=False)
    ip_batch([f"netns add {NODE2}", f"netns add {POD}",
              f"link add v-n2 type veth peer name eth0 netns {NODE2}", "addr add 10.0.9.1/24 dev v-n2",
              "link set v-n2 up", "route add 10.0.10.0/24 via 10.0.9.2",
              f"link add up-n2 netns {NODE2} type veth peer name eth1 netns {CLIENT}"])
    ip_batch(["link set lo up", "addr add 10.0.9.2/24 dev eth0", "link set eth0 up",
              f"link add v-p2 type veth peer name eth0 netns {POD}", "addr add 10.0.10.1/24 dev v-p2",
              "link set v-p2 up", "addr add 10.0.11.1/24 dev up-n2", "link set up-n2 up",
              "route add 10.0.1.0/24 via 10.0.11.2"], ns=NODE2)
    ip_batch(["link set lo up", f"addr add {POD_ADDR}/24 dev eth0", "link set eth0 up",
              "route add default via 10.0.10.1"], ns=POD)
    ip_batch(["addr add 10.0.11.2/24 dev eth1", "link set eth1 up"], ns=CLIENT)
    with netns(NODE2):
        sysctl("net.ipv4.ip_forward", "1")
    servers = Servers({"p2": POD}, tcp_ports=(80,), udp_ports=(53,))
    yield servers
    servers.close()
    run(f"nft delete table {FAMILY} {TABLE} 2>/dev/null || true")
    ip_batch([f"netns del {NODE2}", f"netns del {POD}"])


def _table(masquerade: bool) -> Table:
    vip = ipaddress.ip_address(VIP)
    pod = (RealServer(ipaddress.ip_address(POD_ADDR), 80, 1, Forwarding.NAT),)
    udp = (RealServer(ipaddress.ip_address(POD_ADDR), 53, 1, Forwarding.NAT),)
    services = (VirtualService(Protocol.TCP, vip, 80, real_servers=pod),
                VirtualService(Protocol.UDP, vip, 53, real_servers=udp))
    masq = frozenset({Masquerade(vip, Protocol.TCP, 80), Masquerade(vip, Protocol.UDP, 53)})
    return Table(services, masq if masquerade else frozenset())


def _nft_table() -> str | None:
    r = subprocess.run(["nft", "list", "table", FAMILY, TABLE], capture_output=True, text=True, check=False)
    return r.stdout if r.returncode == 0 else None


def test_without_masquerade_the_pod_on_another_node_answers_directly_and_the_connection_fails(
        cross_node: Servers, reconciler: Reconciler) -> None:
    reconciler.sync(_table(masquerade=False), now=0.0)
    assert _nft_table() is None
    with netns(CLIENT):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with sock, pytest.raises(OSError):  # the SYN-ACK comes from 10.0.10.2 over node 2's uplink
        sock.settimeout(3.0)
        sock.bind((lab_mod.CLIENT_ADDRS[3], 0))
        sock.connect((VIP, 80))
    print("\nno masquerade: TCP to the VIP fails (the pod replies around node 1)")


def test_with_masquerade_the_reply_returns_through_the_node_that_balanced_it(
        cross_node: Servers, reconciler: Reconciler) -> None:
    first = reconciler.sync(_table(masquerade=True), now=0.0)
    assert first.masquerade and first.masquerade_error is None
    listed = _nft_table()
    assert listed is not None and f"{VIP} . tcp . 80" in listed and f"{VIP} . udp . 53" in listed
    assert "masquerade" in listed
    assert ask_tcp(VIP, 80) == "p2"
    assert ask_udp(VIP, 53, sport=40053) == "p2"
    # Idempotent: the next sync (a verifying one included) writes nothing.
    assert not reconciler.sync(_table(masquerade=True), now=1.0).changed
    verified = reconciler.sync(_table(masquerade=True), now=1.0, verify=True)
    assert verified.verified and not verified.changed
    assert _nft_table() == listed
    assert ask_tcp(VIP, 80, src=lab_mod.CLIENT_ADDRS[1]) == "p2"
    print("\nmasquerade: TCP and UDP to the VIP answered by the pod on node 2")


def test_a_damaged_table_is_rewritten_and_a_removed_service_leaves_it(
        cross_node: Servers, reconciler: Reconciler) -> None:
    reconciler.sync(_table(masquerade=True), now=0.0)
    run(f"nft flush chain {FAMILY} {TABLE} postrouting")  # someone else's edit
    repaired = reconciler.sync(_table(masquerade=True), now=0.0, verify=True)
    assert repaired.masquerade
    assert ask_tcp(VIP, 80, src=lab_mod.CLIENT_ADDRS[2]) == "p2"
    gone = reconciler.sync(Table(), now=1.0)
    assert gone.masquerade
    assert _nft_table() is None
