"""The firewall twin in a kernel: real TCP connections through a network namespace that `apply`
programmed from a hand-written PAN-OS running config.

    netns tw-inet (untrust client)  eth0 203.0.113.100-115/24 ── fw-u 203.0.113.2/24 (ethernet1/1)
    netns tw-office (trust client)  eth0 10.0.0.5, .6/24      ── fw-t 10.0.0.1/24    (ethernet1/2)
    netns tw-srv (dmz server)       eth0 192.168.50.10/24     ── fw-d 192.168.50.1/24 (ethernet1/3)
    netns tw-na (k8s node a)        eth0 10.96.0.11/24        ── fw-ka 10.96.0.1/24  (ethernet1/4)
    netns tw-nb (k8s node b)        eth0 10.96.1.11/24        ── fw-kb 10.96.1.1/24  (ethernet1/5)
                                    (nodes hold the VIP 10.96.100.2 on lo)
    netns tw-fw: the twin (nftables table + routes + addresses from `apply`)

Servers answer one line with their name ("srv", "node-a", "node-b"). Runs as root in the VM:
    tests/kernel/run-in-vm.sh .venv/bin/python -m pytest -q tests/e2e/test_twin_kernel.py
Elsewhere it skips (BMLB_TWIN_HOST=1: runs on the host as root with nftables, ~20 s); with
BMLB_KERNEL_VM=1 a missing piece fails.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import socketserver
import subprocess
import threading
from collections.abc import Iterator

import pytest

from tests.e2e import rooted
from tests.e2e.fixtures import members, nat, security
from tests.e2e.twin import Device, Packet, apply, evaluate, load, probe
from tests.kernel.lab import ip_batch, netns, run, sysctl

FW, INET, OFFICE, SRV, NODE_A, NODE_B = "tw-fw", "tw-inet", "tw-office", "tw-srv", "tw-na", "tw-nb"
LINKS = {  # PAN-OS interface -> (twin's Linux name, its address, peer namespace, peer addresses)
    "ethernet1/1": ("fw-u", "203.0.113.2/24", INET, tuple(f"203.0.113.{i}/24" for i in range(100, 116))),
    "ethernet1/2": ("fw-t", "10.0.0.1/24", OFFICE, ("10.0.0.5/24", "10.0.0.6/24")),
    "ethernet1/3": ("fw-d", "192.168.50.1/24", SRV, ("192.168.50.10/24",)),
    "ethernet1/4": ("fw-ka", "10.96.0.1/24", NODE_A, ("10.96.0.11/24",)),
    "ethernet1/5": ("fw-kb", "10.96.1.1/24", NODE_B, ("10.96.1.11/24",)),
}
LINKS6 = {  # IPv6 on two links: PAN-OS interface -> (twin's address, peer addresses)
    "ethernet1/2": ("fd00:20::1/64", ("fd00:20::5/64", "fd00:20::6/64")),
    "ethernet1/4": ("fd00:96::1/64", ("fd00:96::11/64",)),
}
INTERFACES = {pan: v[0] for pan, v in LINKS.items()}
ZONES = {"untrust": ("ethernet1/1",), "trust": ("ethernet1/2",), "dmz": ("ethernet1/3",),
         "k8s": ("ethernet1/4", "ethernet1/5")}
VIP, PUB_VIP, PUB_SRV, VIP6 = "10.96.100.2", "203.0.113.16", "203.0.113.17", "fd00:10:96::2"
NAMES = {SRV: "srv", NODE_A: "node-a", NODE_B: "node-b"}
TIMEOUT = 1.5
SNAT_INTERFACE = ("<source-translation><dynamic-ip-and-port><interface-address><interface>ethernet1/3</interface>"
                  "</interface-address></dynamic-ip-and-port></source-translation>")
SNAT_STATIC = "<source-translation><static-ip><translated-address>192.168.50.77</translated-address></static-ip>" \
              "</source-translation>"
MODULES = "nf_tables nft_chain_nat nf_nat nf_conntrack nft_ct nft_nat nft_reject_inet veth"


def running_config(*, ecmp: int = 2, extra_rules: str = "", publish_vip: bool = True) -> str:
    def v6(pan: str) -> str:
        if pan not in LINKS6:
            return ""
        return f'<ipv6><enabled>yes</enabled><address><entry name="{LINKS6[pan][0]}"/></address></ipv6>'

    ifaces = "".join(f'<entry name="{p}"><layer3><ip><entry name="{v[1]}"/></ip>{v6(p)}</layer3></entry>'
                     for p, v in LINKS.items())
    zones = "".join(f'<entry name="{z}"><network><layer3>{members(*i)}</layer3></network></entry>'
                    for z, i in ZONES.items())
    monitored = "".join(
        f'<entry name="vip-{n}"><destination>10.96.100.0/24</destination>'
        f"<nexthop><ip-address>{hop}</ip-address></nexthop><metric>10</metric>"
        f"<path-monitor><enable>yes</enable><failure-condition>any</failure-condition><monitor-destinations>"
        f'<entry name="hop"><enable>yes</enable><destination>{hop}</destination></entry>'
        f"</monitor-destinations></path-monitor></entry>"
        for n, hop in (("a", "10.96.0.11"), ("b", "10.96.1.11")))
    services = ('<service><entry name="tcp-443"><protocol><tcp><port>443</port></tcp></protocol></entry>'
                '<entry name="tcp-22"><protocol><tcp><port>22</port></tcp></protocol></entry>'
                '<entry name="tcp-7"><protocol><tcp><port>7</port></tcp></protocol></entry></service>')
    nats = ((nat("pub-vip", frm=("untrust",), to="untrust", destination=(PUB_VIP,), service="tcp-443",
                 translated=VIP) if publish_vip else "")
            + nat("pub-srv", frm=("untrust",), to="untrust", destination=(PUB_SRV,), service="tcp-443",
                  translated="192.168.50.10", port=8443)
            + nat("hide-office", frm=("trust",), to="dmz", source=("10.0.0.5",), service="tcp-7",
                  extra=SNAT_INTERFACE)
            + nat("office-static", frm=("trust",), to="dmz", source=("10.0.0.6",), service="tcp-7",
                  extra=SNAT_STATIC))
    rules = (extra_rules
             + security("web-vip", frm=("untrust",), to=("k8s",), destination=(PUB_VIP,), service=("tcp-443",))
             + security("web-srv", frm=("untrust",), to=("dmz",), destination=(PUB_SRV,), service=("tcp-443",))
             + security("office-vip", frm=("trust",), to=("k8s",), source=("10.0.0.5",), destination=(VIP,),
                        service=("tcp-443",))
             + security("office-vip6", frm=("trust",), to=("k8s",), source=("fd00:20::5",), destination=(VIP6,),
                        service=("tcp-443",))
             + security("no-ssh", frm=("trust",), to=("dmz",), service=("tcp-22",), action="deny")
             + security("office-srv", frm=("trust",), to=("dmz",)))
    return f"""<config version="10.2.0"><shared/><devices><entry name="localhost.localdomain">
      <network><interface><ethernet>{ifaces}</ethernet></interface>
        <virtual-router><entry name="default"><interface>{members(*LINKS)}</interface>
          <ecmp><enable>{"yes" if ecmp > 1 else "no"}</enable><max-path>{max(ecmp, 2)}</max-path></ecmp>
          <routing-table><ip><static-route>{monitored}</static-route></ip>
            <ipv6><static-route><entry name="vip6"><destination>fd00:10:96::/64</destination>
              <nexthop><ipv6-address>fd00:96::11</ipv6-address></nexthop></entry></static-route></ipv6>
          </routing-table>
        </entry></virtual-router></network>
      <vsys><entry name="vsys1"><zone>{zones}</zone>{services}
        <rulebase><security><rules>{rules}</rules></security><nat><rules>{nats}</rules></nat></rulebase>
      </entry></vsys></entry></devices></config>"""


class _Named(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.sendall(self.server.name.encode() + b"\n")  # type: ignore[attr-defined]


class _WhoAmI(socketserver.BaseRequestHandler):
    """Port 7 of the dmz server: answers the address the connection came from."""

    def handle(self) -> None:
        self.request.sendall(self.client_address[0].encode() + b"\n")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Server6(_Server):
    address_family = socket.AF_INET6

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        super().server_bind()


@contextlib.contextmanager
def servers() -> Iterator[None]:
    started: list[_Server] = []
    for ns, ports in ((SRV, (8443, 22, 443, 7)), (NODE_A, (443, -443)), (NODE_B, (443,))):
        for port in ports:  # negative: IPv6
            with netns(ns):
                s = (_Server6(("::", -port), _Named) if port < 0 else
                     _Server(("0.0.0.0", port), _WhoAmI if port == 7 else _Named))
            s.name = NAMES[ns]  # type: ignore[attr-defined]
            threading.Thread(target=s.serve_forever, daemon=True).start()
            started.append(s)
    try:
        yield
    finally:
        for s in started:
            s.shutdown()
            s.server_close()


def ask(ns: str, src: str, dst: str, port: int) -> str | None:
    """The name the server at dst:port answers to a client in `ns` bound to `src`; None if the
    connection fails (dropped: timeout; reset: refused)."""
    with netns(ns):
        s = socket.socket(socket.AF_INET6 if ":" in dst else socket.AF_INET)
    s.settimeout(TIMEOUT)
    try:
        s.bind((src, 0))
        s.connect((dst, port))
        return s.makefile().readline().strip() or None
    except OSError:
        return None
    finally:
        s.close()


SPACES = (FW, INET, OFFICE, SRV, NODE_A, NODE_B)


def _topology() -> None:
    """Namespaces and links; the twin's own addresses and routes come from `apply`."""
    subprocess.run(["ip", "-force", "-batch", "-"], input="".join(f"netns del {n}\n" for n in SPACES),
                   capture_output=True, text=True, check=False)  # leftovers of an interrupted run
    ip_batch([f"netns add {n}" for n in SPACES])
    for ns in SPACES:  # no duplicate address detection: a link coming back up is usable at once
        with netns(ns):
            for conf in ("all", "default"):
                sysctl(f"net.ipv6.conf.{conf}.accept_dad", "0")
    ip_batch(["link set lo up", *(f"link add {linux} type veth peer name eth0 netns {peer}"
                                  for linux, _, peer, _ in LINKS.values())], ns=FW)
    for peer in (INET, OFFICE, SRV, NODE_A, NODE_B):
        ip_batch(peer_lines(peer), ns=peer)


def peer_lines(peer: str) -> list[str]:
    """A client's or server's addresses and default routes (replace: also restores them)."""
    pan, (_, addr, _, peer_addrs) = next((p, v) for p, v in LINKS.items() if v[2] == peer)
    lines = ["link set lo up", "link set eth0 up", *(f"addr replace {a} dev eth0" for a in peer_addrs),
             f"route replace default via {addr.split('/')[0]}"]
    if peer in (NODE_A, NODE_B):
        lines.append(f"addr replace {VIP}/32 dev lo")
    if pan in LINKS6:
        lines += [*(f"addr replace {a} dev eth0 nodad" for a in LINKS6[pan][1]),
                  f"route replace default via {LINKS6[pan][0].split('/')[0]}"]
        if peer == NODE_A:
            lines.append(f"addr replace {VIP6}/128 dev lo")
    return lines


@pytest.fixture(scope="module")
def twin() -> Iterator[str]:
    rooted.require()
    if shutil.which("modprobe"):  # the VM's kernel loads most of them on demand anyway
        subprocess.run(["modprobe", "-a", *MODULES.split()], capture_output=True, check=False)
    _topology()
    with servers():
        apply(running_config(), FW, INTERFACES)
        yield FW
    ip_batch([f"netns del {n}" for n in SPACES])


def test_dnat_and_allow_pass_to_the_vip_and_the_translated_port(twin: str) -> None:
    answers = {ask(INET, f"203.0.113.{i}", PUB_VIP, 443) for i in range(100, 116)}

    assert answers == {"node-a", "node-b"}  # ECMP over both next hops, by source address
    assert ask(INET, "203.0.113.100", PUB_SRV, 443) == "srv"  # 443 -> 192.168.50.10:8443


def test_unpublished_port_and_direct_vip_are_blocked(twin: str) -> None:
    assert ask(INET, "203.0.113.100", PUB_VIP, 80) is None  # not translated, never reaches k8s
    assert ask(INET, "203.0.113.100", VIP, 443) is None  # untrust -> k8s untranslated: interzone-default
    assert ask(INET, "203.0.113.100", "192.168.50.10", 8443) is None


def test_security_rules_first_match_and_interzone_default(twin: str) -> None:
    assert ask(OFFICE, "10.0.0.5", VIP, 443) in {"node-a", "node-b"}  # office-vip
    assert ask(OFFICE, "10.0.0.6", VIP, 443) is None  # source not allowed: interzone-default deny
    assert ask(OFFICE, "10.0.0.5", "192.168.50.10", 22) is None  # no-ssh above office-srv
    assert ask(OFFICE, "10.0.0.5", "192.168.50.10", 8443) == "srv"  # office-srv
    assert ask(NODE_A, "10.96.0.11", "10.0.0.5", 22) is None  # replies pass, new sessions k8s -> trust do not


def test_reapplying_changes_nothing_and_keeps_sessions(twin: str) -> None:
    def state() -> tuple[str, str, str]:
        return (run(f"ip netns exec {twin} nft list ruleset"), run(f"ip -n {twin} route"),
                run(f"ip -n {twin} addr"))

    before = state()
    with netns(INET):
        s = socket.create_connection((PUB_SRV, 443), timeout=TIMEOUT)
    try:
        apply(running_config(), twin, INTERFACES)
        assert state() == before
        assert s.makefile().readline().strip() == "srv"  # the session opened before the re-apply
    finally:
        s.close()


def test_path_monitoring_withdraws_a_dead_next_hop(twin: str) -> None:
    device = load(running_config())
    assert probe(twin, device) == frozenset()
    run(f"ip -n {NODE_A} link set eth0 down")
    try:
        down = probe(twin, device)
        assert {str(d) for d in down} == {"10.96.0.11"}
        apply(running_config(), twin, INTERFACES, monitor=True)
        assert run(f"ip -n {twin} route show 10.96.100.0/24").split()[1:3] == ["via", "10.96.1.11"]

        answers = {ask(INET, f"203.0.113.{i}", PUB_VIP, 443) for i in range(100, 108)}

        assert answers == {"node-b"}
    finally:
        ip_batch(peer_lines(NODE_A), ns=NODE_A)  # link down took its routes and IPv6 addresses
        apply(running_config(), twin, INTERFACES)


def test_a_new_deny_rule_on_top_blocks_new_sessions(twin: str) -> None:
    block = security("block-first", frm=("untrust",), source=("203.0.113.101",), action="reset-client")
    apply(running_config(extra_rules=block), twin, INTERFACES)
    try:
        assert ask(INET, "203.0.113.101", PUB_SRV, 443) is None
        assert ask(INET, "203.0.113.100", PUB_SRV, 443) == "srv"
    finally:
        apply(running_config(), twin, INTERFACES)


CLIENTS = {INET: ("untrust", ("203.0.113.100",)),
           OFFICE: ("trust", ("10.0.0.5", "10.0.0.6", "fd00:20::5", "fd00:20::6")),
           SRV: ("dmz", ("192.168.50.10",)), NODE_A: ("k8s", ("10.96.0.11",))}
HOLDERS = {VIP: (NODE_A, NODE_B), "192.168.50.10": (SRV,), "10.96.0.11": (NODE_A,), "10.0.0.5": (OFFICE,),
           VIP6: (NODE_A,), "fd00:96::11": (NODE_A,)}
LISTENING = {SRV: (8443, 22, 443), NODE_A: (443,), NODE_B: (443,), OFFICE: ()}
BEHIND = {"10.96.0.11": NODE_A, "10.96.1.11": NODE_B, "fd00:96::11": NODE_A}


def expected(device: Device, zone: str, src: str, dst: str, port: int) -> set[str | None]:
    """What the evaluator says a connection gets: the names that may answer, or {None}."""
    v = evaluate(device, Packet(zone, src, dst, "tcp", port))
    if not v.passes:
        return {None}
    final = str(v.translated_dst or dst)
    final_port = v.translated_port or port
    holders = HOLDERS.get(final, ())
    via = {BEHIND[str(h.via)] for h in v.next_hops if h.via is not None and str(h.via) in BEHIND}
    if via:
        holders = tuple(h for h in holders if h in via)
    names = {NAMES.get(h) for h in holders if final_port in LISTENING.get(h, ())}
    return names or {None}


def test_the_kernel_agrees_with_the_evaluator(twin: str) -> None:
    device = load(running_config())
    cases = [(ns, zone, src, dst, port)
             for ns, (zone, sources) in CLIENTS.items() for src in sources
             for dst in (PUB_VIP, PUB_SRV, VIP, "192.168.50.10", "10.96.0.11", "10.0.0.5", VIP6, "fd00:96::11")
             for port in (443, 8443, 22, 80)
             if ns not in HOLDERS.get(dst, ()) and (":" in src) == (":" in dst)]
    got: dict[tuple[str, str, str, int], str | None] = {}

    def one(ns: str, src: str, dst: str, port: int) -> None:
        got[(ns, src, dst, port)] = ask(ns, src, dst, port)

    threads = [threading.Thread(target=one, args=(ns, src, dst, port)) for ns, _, src, dst, port in cases]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    wrong = [(ns, src, dst, port, got[(ns, src, dst, port)], want)
             for ns, zone, src, dst, port in cases
             if got[(ns, src, dst, port)] not in (want := expected(device, zone, src, dst, port))]
    passed = sum(1 for v in got.values() if v is not None)
    print(f"twin: {len(cases)} connections, {passed} answered, {len(wrong)} disagree with the evaluator")
    assert not wrong
    assert 0 < passed < len(cases)  # neither all blocked nor all open


def test_source_nat_to_the_interface_address_and_to_a_static_address(twin: str) -> None:
    assert ask(OFFICE, "10.0.0.5", "192.168.50.10", 7) == "192.168.50.1"  # hide-office: ethernet1/3's address
    assert ask(OFFICE, "10.0.0.6", "192.168.50.10", 7) == "192.168.50.77"  # office-static (the twin answers ARP)
    assert ask(INET, "203.0.113.100", "192.168.50.10", 7) is None  # interzone-default


def test_a_removed_nat_rule_stops_answering_and_releases_its_address(twin: str) -> None:
    apply(running_config(publish_vip=False), twin, INTERFACES)
    try:
        assert PUB_VIP not in run(f"ip -n {twin} addr show fw-u")
        assert ask(INET, "203.0.113.100", PUB_VIP, 443) is None
        assert ask(INET, "203.0.113.100", PUB_SRV, 443) == "srv"
    finally:
        apply(running_config(), twin, INTERFACES)
    assert ask(INET, "203.0.113.100", PUB_VIP, 443) in {"node-a", "node-b"}


def test_ipv6_security_rules(twin: str) -> None:
    assert ask(OFFICE, "fd00:20::5", VIP6, 443) == "node-a"  # office-vip6, routed by an IPv6 static route
    assert ask(OFFICE, "fd00:20::6", VIP6, 443) is None  # interzone-default
