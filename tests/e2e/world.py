"""The end-to-end packet lab (issue 14): bmlb's whole loop, judged from packets.

Runs as root inside the qemu VM of tests/kernel/run-in-vm.sh (one boot for all scenarios).

    netns e2e-inet (untrust client)     netns e2e-fw: the firewall twin      netns e2e-sw: bridge br0
      eth0 203.0.113.100/24 ── veth ──  untrust0 = ethernet1/1                (the node subnet)
    netns e2e-office (trust client)       k8s0 = ethernet1/4 ── veth ───────  fw
      eth0 10.0.0.10, .66/24 ── veth ── trust0 = ethernet1/2                 n1 n2
                                                                               │  │
    netns e2e-node1..2: eth0 10.96.0.11-12/16, default via the firewall 10.96.0.1,
      `bmlb agent --backend kernel` (IPVS and bmlb0 in this namespace), bridge cni0 10.244.N.1/24,
      routes to the other nodes' pod subnets; bmlb's agent masquerades what IPVS sends to a pod
      of another node (NAT mode, Cluster policy: table inet bmlb, as kube-proxy's IPVS mode does)
    netns e2e-pod-Nx: eth0 10.244.N.1x/24: TCP 8080/8443 and UDP 5353 echo servers that answer
      with the pod's name (threads of the test process, tests/kernel/lab.py's Servers)

IPv6 beside it (scenario 9's NDP): the office fd00:10::10/64 behind trust0 fd00:10::1, the node
subnet fd00:96::/64 (the firewall's ethernet1/4 fd00:96::1, nodes fd00:96::1N), pods
fd00:244:N::1x/64 behind cni0 fd00:244:N::1 (TCP 8080 only). No DAD anywhere (accept_dad=0, nodad),
no multicast snooping on the bridges: Neighbor Solicitations for a VIP reach every node.

The control plane runs on the HOST, at host speed (tests/e2e/host.py starts it and then this VM):
the test API server (kapilite + etcd), the PAN-OS simulator and `bmlb controller`. The VM has one
user-mode NIC (host0 10.0.2.15, restrict=on) that reaches nothing but 10.0.2.100:PORT for the API
server's and the lab control service's ports. Each agent runs inside its node namespace
(`ip netns exec`), so it programs that namespace's IPVS; it reaches the API server through a relay
of this process that listens on 127.0.0.1:PORT inside each node namespace (and in the root
namespace, for the tests' own client) and connects to 10.0.2.100:PORT (TLS passes through
untouched; the server certificate is for 127.0.0.1). Cutting a node's relay is how a node "loses
its link" to the control plane.

The twin: whenever the simulator's RUNNING config (XML, from the control service) changes, it is
applied to netns e2e-fw with tests/e2e/twin (nftables DNAT and security rules, routes with
ECMP). The firewall's virtual router has ECMP on (max-path 2) and L4 multipath hashing, so
the flows of one client spread over the nodes.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.cli.localcluster import ROOT
from firewall.sim.defaults import FIREWALL_CONFIG
from tests.e2e import twin
from tests.kernel.lab import Servers, ip_batch, netns, sysctl

FW, SW, INET, OFFICE = "e2e-fw", "e2e-sw", "e2e-inet", "e2e-office"
FW_INTERFACES = {"ethernet1/1": "untrust0", "ethernet1/2": "trust0", "ethernet1/4": "k8s0"}
INET_ADDR = "203.0.113.100"
OFFICE_ADDR, OFFICE_BLOCKED = "10.0.0.10", "10.0.0.66"
OFFICE6, TRUST6, K8S6 = "fd00:10::10", "fd00:10::1", "fd00:96::1"  # the firewall: ethernet1/2, ethernet1/4
# Two nodes keep the VM affordable under TCG (no KVM on CI machines): every Python process
# costs ~20 s of emulated CPU to start.
NODES = {f"node-{i}": (f"e2e-node{i}", f"10.96.0.{10 + i}") for i in (1, 2)}
PODS = {f"pod-{i}{x}": (f"node-{i}", f"10.244.{i}.{10 + j}") for i in (1, 2) for j, x in enumerate("abc")}
NODES6 = {node: f"fd00:96::{10 + i}" for i, node in enumerate(NODES, start=1)}
PODS6 = {pod: f"fd00:244:{node[-1]}::{addr.rsplit('.', 1)[1]}" for pod, (node, addr) in PODS.items()}
TCP_PORTS, UDP_PORTS, TCP6_PORTS = (8080, 8443), (5353,), (8080,)
PEER_PORT = 9090  # answers "POD CLIENT-ADDRESS LOCAL-ADDRESS": source preservation, DR's VIP
HOME = "bmlb-system"
TIMEOUT = 2.0


def pod_ns(pod: str) -> str:
    return f"e2e-{pod}"


NAMESPACES = (FW, SW, INET, OFFICE, *(ns for ns, _ in NODES.values()), *(pod_ns(p) for p in PODS))


def sh(cmd: str, *, ns: str | None = None, check: bool = True) -> str:
    """A shell script in namespace `ns` (ip netns exec), or here."""
    argv = [*(["ip", "netns", "exec", ns] if ns else []), "sh", "-ec", cmd]
    r = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and r.returncode:
        raise RuntimeError(f"{cmd!r} in {ns or 'root'} failed ({r.returncode}): {r.stdout}{r.stderr}")
    return r.stdout


def build_topology() -> None:
    subprocess.run(["ip", "-force", "-batch", "-"], input="".join(f"netns del {n}\n" for n in NAMESPACES),
                   capture_output=True, text=True, check=False)  # leftovers of an interrupted run
    ip_batch([f"netns add {n}" for n in NAMESPACES])
    for n in NAMESPACES:  # before any link exists: links take their settings from `default`
        with netns(n):
            for conf in ("all", "default"):
                sysctl(f"net.ipv6.conf.{conf}.accept_dad", "0")
    root = [f"link add untrust0 netns {FW} type veth peer name eth0 netns {INET}",
             f"link add trust0 netns {FW} type veth peer name eth0 netns {OFFICE}",
             f"link add k8s0 netns {FW} type veth peer name fw netns {SW}"]
    per: dict[str, list[str]] = defaultdict(list)
    per[SW] += ["link set lo up", "link add br0 type bridge mcast_snooping 0", "link set br0 up",
                "link set fw master br0", "link set fw up"]
    per[FW] += ["link set lo up", *(f"link set {i} up" for i in FW_INTERFACES.values())]
    per[INET] += ["link set lo up", "link set eth0 up", f"addr add {INET_ADDR}/24 dev eth0",
                  "route add default via 203.0.113.2"]
    per[OFFICE] += ["link set lo up", "link set eth0 up", f"addr add {OFFICE_ADDR}/24 dev eth0",
                    f"addr add {OFFICE_BLOCKED}/24 dev eth0", "route add default via 10.0.0.1",
                    f"addr add {OFFICE6}/64 dev eth0 nodad", f"route add ::/0 via {TRUST6}"]
    for i, (node, (ns, addr)) in enumerate(NODES.items(), start=1):
        root.append(f"link add eth0 netns {ns} type veth peer name n{i} netns {SW}")
        per[SW] += [f"link set n{i} master br0", f"link set n{i} up"]
        per[ns] += ["link set lo up", f"addr add {addr}/16 dev eth0", f"addr add {NODES6[node]}/64 dev eth0 nodad",
                    "link set eth0 up", "route add default via 10.96.0.1", "link add cni0 type bridge mcast_snooping 0",
                    f"addr add 10.244.{i}.1/24 dev cni0", f"addr add fd00:244:{i}::1/64 dev cni0 nodad",
                    "link set cni0 up"]
        per[ns] += uplink_routes(node)
        for pod, (on, paddr) in PODS.items():
            if on != node:
                continue
            veth = f"v-{pod}"
            root.append(f"link add {veth} netns {ns} type veth peer name eth0 netns {pod_ns(pod)}")
            per[ns] += [f"link set {veth} master cni0", f"link set {veth} up"]
            per[pod_ns(pod)] += ["link set lo up", f"addr add {paddr}/24 dev eth0",
                                 f"addr add {PODS6[pod]}/64 dev eth0 nodad", "link set eth0 up",
                                 f"route add default via 10.244.{i}.1", f"route add ::/0 via fd00:244:{i}::1"]
    ip_batch(root)
    for ns, lines in per.items():
        ip_batch(lines, ns=ns)
    with netns(FW):  # L4 hashing: one client's flows spread over the ECMP next hops
        sysctl("net.ipv4.fib_multipath_hash_policy", "1")
    for ns, _ in NODES.values():
        with netns(ns):
            sysctl("net.ipv4.ip_forward", "1")
            sysctl("net.ipv6.conf.all.forwarding", "1")
            # DR with Local endpoints: the node routes its pods' replies, whose source is a VIP
            # it holds itself (bmlb0); without accept_local it drops them as martians.
            for conf in ("all", "cni0"):
                sysctl(f"net.ipv4.conf.{conf}.rp_filter", "0")
                sysctl(f"net.ipv4.conf.{conf}.accept_local", "1")
        # No masquerade of the lab's own: bmlb's agent installs it (table inet bmlb) for NAT-mode
        # Cluster Services, so a pod on another node replies through the node holding the IPVS
        # connection. e2e_probe counts the connection attempts (TCP SYN, any UDP) that reach the
        # node from the internet client, and remembers where they were going. Only attempts: the
        # closing packets of connections that were answered may still arrive after a check began.
        sh(f"""nft -f - <<'EOF'
table inet e2e_probe {{
  counter from_internet {{ }}
  set seen {{ type ipv4_addr . inet_proto . inet_service; flags dynamic; }}
  chain pre {{
    type filter hook prerouting priority -300;
    ip saddr {INET_ADDR} tcp flags & (syn | ack) == syn counter name from_internet {SEEN}
    ip saddr {INET_ADDR} meta l4proto udp counter name from_internet {SEEN}
  }}
}}
EOF""", ns=ns)


SEEN = "add @seen { ip daddr . meta l4proto . th dport }"


def uplink_routes(node: str) -> list[str]:
    """`ip` lines for what a node routes over its uplink eth0: the default routes to the firewall
    and the other nodes' pod subnets (a link going down takes them all, and the IPv6 address too:
    relink() restores them)."""
    return ["route replace default via 10.96.0.1", f"route replace ::/0 via {K8S6}",
            *(f"route replace 10.244.{j}.0/24 via {a}"
              for j, (other, (_, a)) in enumerate(NODES.items(), start=1) if other != node),
            *(f"route replace fd00:244:{j}::/64 via {NODES6[other]}"
              for j, other in enumerate(NODES, start=1) if other != node)]


def relink(node: str) -> None:
    """The node's uplink comes back, with every route over it."""
    ns = NODES[node][0]
    ip_batch(["link set eth0 up", f"addr replace {NODES6[node]}/64 dev eth0 nodad", *uplink_routes(node)], ns=ns)


def teardown_topology() -> None:
    subprocess.run(["ip", "-force", "-batch", "-"], input="".join(f"netns del {n}\n" for n in NAMESPACES),
                   capture_output=True, text=True, check=False)


class Relay:
    """127.0.0.1:port inside each namespace (None: this one) -> upstream:port (the API server)."""

    def __init__(self, port: int, namespaces: list[str | None], upstream: str) -> None:
        self.port = port
        self.upstream = upstream
        self.cut: set[str] = set()
        self.conns: dict[str, list[socket.socket]] = defaultdict(list)
        self._lock = threading.Lock()
        self._listeners: list[socket.socket] = []
        for ns in namespaces:
            with netns(ns) if ns else contextlib.nullcontext():
                s = socket.create_server(("127.0.0.1", port))
            self._listeners.append(s)
            threading.Thread(target=self._accept, args=(ns or "root", s), name=f"relay-{ns}", daemon=True).start()

    def _accept(self, ns: str, listener: socket.socket) -> None:
        while True:
            try:
                down, _ = listener.accept()
            except OSError:
                return
            if ns in self.cut:
                down.close()
                continue
            try:
                up = socket.create_connection((self.upstream, self.port), timeout=5)
                up.settimeout(None)
            except OSError:
                down.close()
                continue
            with self._lock:
                self.conns[ns] += [down, up]
            for a, b in ((down, up), (up, down)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()  # the other pump then stops on EBADF

    def isolate(self, ns: str) -> None:
        """The node loses the control plane: open connections are cut, new ones refused."""
        self.cut.add(ns)
        with self._lock:
            conns, self.conns[ns] = self.conns[ns], []
        for s in conns:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def restore(self, ns: str) -> None:
        self.cut.discard(ns)

    def close(self) -> None:
        for s in self._listeners:
            s.close()
        for ns in list(self.conns):
            self.isolate(ns)


class TwinSync:
    """After every commit on the simulator, apply its RUNNING config to the twin namespace.

    The running config itself is watched (ETag), not the simulator's commit counter: that counts
    commit jobs when they are queued, before the running config changes."""

    def __init__(self, running_xml: Callable[[], str], interval: float = 0.05) -> None:
        self.running_xml = running_xml
        self.interval = interval
        self.running = ""
        self.applied_at = 0.0
        self.applies = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self.apply_now()
        self._thread = threading.Thread(target=self._loop, name="twin-sync", daemon=True)
        self._thread.start()

    def apply_now(self, xml: str | None = None) -> None:
        xml = self.running_xml() if xml is None else xml
        try:
            twin.apply(xml, FW, FW_INTERFACES)
        except Exception as err:  # reported by the tests (twin.errors), the loop goes on
            self.errors.append(f"apply {self.applies}: {err}")
        self.running = xml
        self.applied_at = time.monotonic()
        self.applies += 1

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                xml = self.running_xml()
                if xml != self.running:
                    self.apply_now(xml)  # not fetched again: with a long poll that waits for the NEXT change
            except OSError as err:  # the host's control service: retried
                self.errors.append(f"fetch: {err}")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


class Host:
    """The lab's control service on the host (tests/e2e/host.py), through the VM's NIC."""

    def __init__(self, address: str, port: int) -> None:
        self.address, self.port = address, port
        self._lock = threading.Lock()
        self._conn: http.client.HTTPConnection | None = None
        self._xml, self._tag = "", ""

    def _ask(self, method: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            for attempt in (1, 2):  # a kept-alive connection may have been closed meanwhile
                try:
                    if self._conn is None:
                        self._conn = http.client.HTTPConnection(self.address, self.port, timeout=30)
                    self._conn.request(method, path, headers=headers or {})
                    r = self._conn.getresponse()
                    return r.status, dict(r.getheaders()), r.read()
                except (OSError, http.client.HTTPException):
                    if self._conn is not None:
                        self._conn.close()
                    self._conn = None
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    def running_xml(self, *, wait: bool = False) -> str:
        """The simulator's RUNNING config; `wait`: the next one, or the same after 10 s (a long
        poll: use a Host of its own for it, its connection is held meanwhile)."""
        held = {"If-None-Match": self._tag} if wait and self._tag else None
        status, headers, body = self._ask("GET", "/running", held)
        if status == 200:
            self._xml, self._tag = body.decode(), headers.get("ETag", "")
        elif status != 304:
            raise OSError(f"control service: GET /running -> {status}")
        return self._xml

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def controller(self) -> dict[str, Any]:
        return json.loads(self._ask("GET", "/controller")[2])

    def kill_controller(self) -> None:
        self._ask("POST", "/controller/kill")

    def start_controller(self) -> None:
        self._ask("POST", "/controller/start")

    def controller_log(self) -> str:
        return self._ask("GET", "/log")[2].decode(errors="replace")


@dataclass
class Process:
    """A bmlb process: its Popen and its log."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(10)

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self, n: int = 4000) -> str:
        return f"--- {self.name}\n{self.log.read_text(errors='replace')[-n:]}"


def spawn(name: str, args: list[str], *, env: dict[str, str], logdir: Path, ns: str | None = None) -> Process:
    log = logdir / f"{name}.log"
    prefix = ["ip", "netns", "exec", ns] if ns else []
    with log.open("ab") as out:
        popen = subprocess.Popen([*prefix, sys.executable, "-m", "controller.cli", *args], env=env, stdout=out,
                                 stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
    return Process(name, popen, log)


def progress(msg: str, t0: float) -> None:
    print(f"[e2e {time.monotonic() - t0:6.1f}s] {msg}", flush=True)


def sim_config() -> str:
    """The simulator's firewall with ECMP on in its virtual router (bmlb never sets ECMP), and
    IPv6 addresses on the trust and k8s interfaces."""
    ecmp = "<ecmp><enable>yes</enable><max-path>2</max-path></ecmp>"
    xml = FIREWALL_CONFIG.replace("<routing-table>", ecmp + "<routing-table>", 1)
    for v4, v6 in (("10.0.0.1/24", f"{TRUST6}/64"), ("10.96.0.1/16", f"{K8S6}/64")):
        old = f'<entry name="{v4}"/></ip>'
        assert xml.count(old) == 1, old
        xml = xml.replace(old, f'{old}<ipv6><enabled>yes</enabled><address><entry name="{v6}"/></address></ipv6>')
    return xml


# ---------------------------------------------------------------- clients (packets)


def tcp_ask(ns: str, dst: str, port: int, *, src: str | None = None, timeout: float = TIMEOUT) -> str:
    """One TCP connection from namespace `ns` (IPv4 or IPv6 as `dst` is): connect, send a line,
    read the answering pod's name."""
    with netns(ns):
        s = socket.socket(socket.AF_INET6 if ":" in dst else socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.settimeout(timeout)
        if src:
            s.bind((src, 0))
        s.connect((dst, port))
        s.sendall(b"?\n")
        buf = b""
        while b"\n" not in buf:
            chunk = s.recv(256)
            if not chunk:
                raise ConnectionError("closed without an answer")
            buf += chunk
        return buf.split(b"\n", 1)[0].decode()
    finally:
        with contextlib.suppress(OSError):  # RST: no TIME_WAIT left in IPVS and conntrack
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()


def udp_ask(ns: str, dst: str, port: int, *, timeout: float = TIMEOUT) -> str:
    with netns(ns):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.settimeout(timeout)
        s.sendto(b"?\n", (dst, port))
        data, peer = s.recvfrom(2048)
        if peer != (dst, port):
            raise ConnectionError(f"reply from {peer}, not from {dst}:{port}")
        return data.decode().strip()
    finally:
        s.close()


def reaches(ns: str, dst: str, port: int, **kw: Any) -> str | None:
    try:
        return tcp_ask(ns, dst, port, **kw)
    except OSError:
        return None


@dataclass
class Steady:
    """A client opening one short TCP connection every `interval` seconds; counts failures."""

    ns: str
    dst: str
    port: int
    interval: float = 0.05
    ok: int = 0
    failed: list[tuple[float, str]] = field(default_factory=list)
    failed_spans: list[tuple[float, float]] = field(default_factory=list)  # (opened, failed) per failure
    answered_by: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Steady:
        self._thread = threading.Thread(target=self._run, name="steady", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                who = tcp_ask(self.ns, self.dst, self.port)
                self.ok += 1
                self.answered_by[who] += 1
            except OSError as err:
                self.failed.append((time.monotonic(), repr(err)))
                self.failed_spans.append((started, time.monotonic()))
            self._stop.wait(self.interval)

    def in_flight_at(self, t: float, slack: float) -> list[tuple[float, float]]:
        """The failed connections that were open at some moment of [t - slack, t]."""
        return [(a, b) for a, b in self.failed_spans if a <= t and b >= t - slack]


# ---------------------------------------------------------------- what the kernel and the twin hold


def ipvs_services(ns: str) -> dict[str, set[str]]:
    """`ipvsadm -Ln` in a node namespace: "TCP 10.96.100.1:443" -> {"10.244.1.10:8443", ...} (weight > 0)."""
    out: dict[str, set[str]] = {}
    current = None
    for line in sh("ipvsadm -Ln", ns=ns).splitlines()[3:]:
        f = line.split()
        if f[0] == "->":
            if current is not None and int(f[3]) > 0:
                out[current].add(f[1])
        else:
            current = f"{f[0]} {f[1]}"
            out[current] = set()
    return out


def ipvs_forwarding(ns: str) -> dict[str, str]:
    """`ipvsadm -Ln` in a node namespace: "TCP VIP:PORT REAL:PORT" -> forwarding (Masq, Route, Tunnel)."""
    out: dict[str, str] = {}
    current = ""
    for line in sh("ipvsadm -Ln", ns=ns).splitlines()[3:]:
        f = line.split()
        if f[0] == "->":
            out[f"{current} {f[1]}"] = f[2]
        else:
            current = f"{f[0]} {f[1]}"
    return out


def route_hops(dst: str) -> set[str]:
    """The next hops of the twin's route for exactly `dst` (e.g. "10.96.100.3" for a /32)."""
    hops: set[str] = set()
    lines = sh("ip -4 -o route show proto 199", ns=FW).splitlines()
    for line in lines:
        if line.split()[0] == dst:
            hops |= set(re.findall(r"via (\S+)", line))
    return hops


def fw_routes() -> str:
    return sh("ip -4 route show proto 199", ns=FW)


def internet_packets_on_nodes() -> int:
    """Connection attempts from the internet client that reached any node so far."""
    total = 0
    for ns, _ in NODES.values():
        m = re.search(r"packets (\d+)", sh("nft list counter inet e2e_probe from_internet", ns=ns))
        total += int(m.group(1)) if m else 0
    return total


def internet_attempts_seen() -> dict[str, str]:
    """Per node, where the internet client's connection attempts went (address . protocol . port)."""
    out = {}
    for node, (ns, _) in NODES.items():
        m = re.search(r"elements = \{([^}]*)\}", sh("nft list set inet e2e_probe seen", ns=ns))
        out[node] = " ".join(m.group(1).split()) if m else ""
    return out


@dataclass(frozen=True)
class Nat:
    name: str
    destination: tuple[str, ...]
    service: str
    translated: str | None
    port: str | None


def running_nat(xml: str) -> list[Nat]:
    """The NAT rules of vsys1 in a running config, read straight from the XML."""
    root = ET.fromstring(xml)
    out = []
    for e in root.iterfind(".//vsys/entry/rulebase/nat/rules/entry"):
        out.append(Nat(e.get("name", ""), tuple(m.text or "" for m in e.iterfind("destination/member")),
                       e.findtext("service", ""), e.findtext("destination-translation/translated-address"),
                       e.findtext("destination-translation/translated-port")))
    return out


def running_routes(xml: str) -> list[tuple[str, str]]:
    """(destination, next hop) of every static route of the running config's virtual routers."""
    root = ET.fromstring(xml)
    return [(e.findtext("destination", ""), e.findtext("nexthop/ip-address", ""))
            for e in root.iterfind(".//virtual-router/entry/routing-table/ip/static-route/entry")]


def running_addresses(xml: str) -> dict[str, str]:
    """Address objects (name -> value) of vsys1 and shared."""
    root = ET.fromstring(xml)
    out = {}
    for e in [*root.iterfind(".//vsys/entry/address/entry"), *root.iterfind("./shared/address/entry")]:
        for kind in ("ip-netmask", "ip-range", "fqdn"):
            if e.findtext(kind):
                out[e.get("name", "")] = e.findtext(kind, "")
    return out


def resolve(xml: str, value: str) -> str:
    """A rule member as an address: an address object's value, or the literal itself."""
    return running_addresses(xml).get(value, value).split("/")[0]


def mentions(xml: str, addr: str) -> list[str]:
    """Every rule, address object and route of the running config that holds `addr`."""
    root = ET.fromstring(xml)
    hits = []
    for path in (".//vsys/entry/rulebase/*/rules/entry", ".//vsys/entry/address/entry",
                 ".//virtual-router/entry/routing-table/ip/static-route/entry"):
        for e in root.iterfind(path):
            text = ET.tostring(e, encoding="unicode")
            if re.search(rf"[>\s\"]{re.escape(addr)}[</\s\"-]", text):
                hits.append(f"{path.split('/')[-2]} {e.get('name')}")
    return hits


def wait_until(what: str, fn: Callable[[], Any], timeout: float, interval: float = 0.5) -> float:
    """Seconds until fn() is truthy; AssertionError with the last value after `timeout`."""
    t0 = time.monotonic()
    last: Any = None
    while time.monotonic() - t0 < timeout:
        try:
            last = fn()
        except Exception as err:  # the thing being waited on may not exist yet
            last = err
        else:
            if last:
                return time.monotonic() - t0
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


@contextlib.contextmanager
def pod_servers() -> Iterator[Servers]:
    servers = Servers({p: pod_ns(p) for p in PODS}, tcp_ports=TCP_PORTS, udp_ports=UDP_PORTS,
                      peer_ports=(PEER_PORT,), tcp6_ports=TCP6_PORTS)
    try:
        yield servers
    finally:
        servers.close()


def uplink_addresses(ns: str) -> set[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Every address a node's uplink eth0 holds now (both families)."""
    return {ipaddress.ip_interface(line.split()[3]).ip for line in sh("ip -o addr show dev eth0", ns=ns).splitlines()}


def neighbor(ns: str, addr: str) -> str | None:
    """The link-layer address namespace `ns` holds for `addr` (ARP or NDP), if any."""
    m = re.search(r"lladdr (\S+)", sh(f"ip neigh show {addr}", ns=ns))
    return m.group(1) if m else None


def mac(ns: str, link: str) -> str:
    return sh(f"cat /sys/class/net/{link}/address", ns=ns).strip()


def in_subnet(addr: str, net: str) -> bool:
    return ipaddress.ip_address(addr) in ipaddress.ip_network(net)
