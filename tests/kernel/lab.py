"""A small network of namespaces with real traffic, for tests against the kernel's IPVS.

Topology (all addresses exist only inside these namespaces):

    netns bmlb-cl (client)                 netns bmlb-dir (director: the test process)
      eth0 10.0.1.2-.9/24  ── veth ──  v-cl 10.0.1.1/24
                                           bmlb0 (dummy; VIPs 10.96.0.x, bound by bmlb)
    netns bmlb-bN (backend bN, N = 1..3)      IPVS
      eth0 10.0.(N+1).2/24 ── veth ──  v-bN 10.0.(N+1).1/24
      lo: local route 10.96.0.0/24 (DR/TUN packets keep the VIP as destination)
      tunl0 up (TUN: IP-in-IP from the director)

Each backend answers with its name ("b1"...) on TCP 80 and 8080 and UDP 53 and 5353: every
line sent on a TCP connection and every UDP datagram gets one reply. DR/TUN replies go from
the backend to the client with the VIP as source, routed back through the director.

Servers and clients live in the test process itself (threads, sockets created inside a
namespace with setns): starting a Python process per server costs seconds in the VM.
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import os
import selectors
import socket
import struct
import subprocess
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ipvs.model import Forwarding, Protocol, RealServer, Scheduler, Table, VirtualService

CLONE_NEWNET = 0x40000000
NETLINK_GENERIC = 16  # linux/netlink.h; Python's socket module defines neither
IP_PKTINFO = 8  # linux/in.h
DIRECTOR = "bmlb-dir"
CLIENT = "bmlb-cl"
BACKENDS = {"b1": "10.0.2.2", "b2": "10.0.3.2", "b3": "10.0.4.2"}
CLIENT_ADDRS = tuple(f"10.0.1.{i}" for i in range(2, 10))
VIP_NET = "10.96.0.0/24"
LINK = "bmlb0"
TCP_PORTS = (80, 8080)
UDP_PORTS = (53, 5353)
TIMEOUT = 5.0

_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


@contextlib.contextmanager
def netns(name: str) -> Iterator[None]:
    """Run the block (this thread only) inside network namespace `name`."""
    back = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        _setns(target)
        yield
    finally:
        _setns(back)
        os.close(target)
        os.close(back)


def enter(name: str) -> None:
    """Move this thread into namespace `name` for good (the director, for the session)."""
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        _setns(fd)
    finally:
        os.close(fd)


def run(cmd: str) -> str:
    """A shell script, in the calling thread's namespace; raises with its output on failure."""
    r = subprocess.run(["sh", "-ec", cmd], capture_output=True, text=True, check=False)
    if r.returncode:
        raise RuntimeError(f"{cmd!r} failed ({r.returncode}): {r.stdout}{r.stderr}")
    return r.stdout


def ns_of(backend: str) -> str:
    return f"bmlb-{backend}"


NAMESPACES = (CLIENT, *(ns_of(b) for b in BACKENDS))


def ipvs_family_exists() -> bool:
    """Ask generic netlink for the IPVS family (the kernel loads ip_vs on demand if it can)."""
    name = b"IPVS\0"
    attr = struct.pack("HH", 4 + len(name), 2) + name + b"\0" * (-len(name) % 4)  # CTRL_ATTR_FAMILY_NAME
    body = struct.pack("BBH", 3, 1, 0) + attr  # CTRL_CMD_GETFAMILY, version 1
    msg = struct.pack("IHHII", 16 + len(body), 0x10, 0x1, 1, 0) + body  # GENL_ID_CTRL, NLM_F_REQUEST
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC) as s:
        s.settimeout(TIMEOUT)
        s.send(msg)
        reply = s.recv(65536)
    kind = struct.unpack_from("H", reply, 4)[0]
    return kind != 2 or struct.unpack_from("i", reply, 16)[0] == 0  # NLMSG_ERROR with an errno: absent


def sysctl(name: str, value: str) -> None:
    """Set a sysctl in the calling thread's namespace (/proc/sys/net follows the thread)."""
    with open(f"/proc/sys/{name.replace('.', '/')}", "w") as f:
        f.write(value + "\n")


def ip_batch(lines: list[str], *, ns: str | None = None) -> None:
    """One `ip -batch` process for many commands: each process start costs ~0.2 s in the VM."""
    cmd = ["ip", *(["-n", ns] if ns else []), "-batch", "-"]
    r = subprocess.run(cmd, input="\n".join(lines) + "\n", capture_output=True, text=True, check=False)
    if r.returncode:
        raise RuntimeError(f"ip -batch in {ns or 'this namespace'} failed: {r.stdout}{r.stderr}")


def _build_topology() -> None:
    subprocess.run(
        ["ip", "-force", "-batch", "-"],
        input="".join(f"netns del {ns}\n" for ns in NAMESPACES),
        capture_output=True,
        text=True,
        check=False,
    )  # leftovers of an interrupted run
    director = [f"netns add {ns}" for ns in NAMESPACES]
    director += [
        f"link add v-cl type veth peer name eth0 netns {CLIENT}",
        "addr add 10.0.1.1/24 dev v-cl",
        "link set v-cl up",
        "link set lo up",
    ]
    client = [
        "link set lo up",
        "link set eth0 up",
        *(f"addr add {a}/24 dev eth0" for a in CLIENT_ADDRS),
        "route add default via 10.0.1.1",
    ]
    backends: dict[str, list[str]] = {}
    for name, addr in BACKENDS.items():
        net = addr.rsplit(".", 1)[0]
        director += [
            f"link add v-{name} type veth peer name eth0 netns {ns_of(name)}",
            f"addr add {net}.1/24 dev v-{name}",
            f"link set v-{name} up",
        ]
        backends[ns_of(name)] = [
            "link set lo up",
            f"addr add {addr}/24 dev eth0",
            "link set eth0 up",
            f"route add default via {net}.1",
            f"route add local {VIP_NET} dev lo",
            "link set tunl0 up",
        ]
    ip_batch(director)
    ip_batch(client, ns=CLIENT)
    for ns, lines in backends.items():
        ip_batch(lines, ns=ns)
        with netns(ns):  # TUN: the decapsulated packet arrives on tunl0, not on the route to its source
            for conf in ("all", "tunl0"):
                sysctl(f"net.ipv4.conf.{conf}.rp_filter", "0")
    # The director forwards NAT replies, and DR/TUN replies whose source is a VIP it holds too.
    sysctl("net.ipv4.ip_forward", "1")
    for conf in ("all", "default", *(f"v-{b}" for b in BACKENDS)):
        sysctl(f"net.ipv4.conf.{conf}.rp_filter", "0")
        sysctl(f"net.ipv4.conf.{conf}.accept_local", "1")


def _reply_udp(sock: socket.socket, name: str) -> None:
    """Answer from the address the datagram was sent to: with DR/TUN that is the VIP, which a
    socket bound to 0.0.0.0 would not pick as source by itself."""
    _, ancillary, _, peer = sock.recvmsg(2048, 256)
    pktinfo = [data for level, kind, data in ancillary if (level, kind) == (socket.IPPROTO_IP, IP_PKTINFO)]
    dst = pktinfo[0][8:12]  # struct in_pktinfo {int ifindex; in_addr spec_dst; in_addr addr}
    reply_info = struct.pack("i4s4s", 0, dst, b"\0" * 4)
    sock.sendmsg([name.encode() + b"\n"], [(socket.IPPROTO_IP, IP_PKTINFO, reply_info)], 0, peer)


class Servers:
    """Every backend's TCP and UDP servers, served by one thread. `backends`: name -> namespace
    (default: this lab's b1..b3); each answers with its name on `tcp_ports` and `udp_ports`, and
    with "NAME CLIENT-ADDRESS LOCAL-ADDRESS" (as the backend's socket sees them) on `peer_ports`;
    `tcp6_ports` answer like `tcp_ports`, over IPv6 (a socket of their own: IPv4 clients keep
    seeing plain IPv4 addresses)."""

    def __init__(self, backends: Mapping[str, str] | None = None, *, tcp_ports: tuple[int, ...] = TCP_PORTS,
                 udp_ports: tuple[int, ...] = UDP_PORTS, peer_ports: tuple[int, ...] = (),
                 tcp6_ports: tuple[int, ...] = ()) -> None:
        self._sel = selectors.DefaultSelector()
        self._stop = False
        self._socks: list[socket.socket] = []
        for name, ns in (backends or {b: ns_of(b) for b in BACKENDS}).items():
            with netns(ns):
                for port in (*tcp_ports, *peer_ports):
                    s = socket.create_server(("0.0.0.0", port), reuse_port=False)
                    s.setblocking(False)
                    self._register(s, ("accept-peer" if port in peer_ports else "accept", name))
                for port in tcp6_ports:
                    s = socket.create_server(("::", port), family=socket.AF_INET6, reuse_port=False)
                    s.setblocking(False)
                    self._register(s, ("accept", name))
                for port in udp_ports:
                    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    u.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
                    u.bind(("0.0.0.0", port))
                    u.setblocking(False)
                    self._register(u, ("udp", name))
        self._thread = threading.Thread(target=self._serve, name="lab-servers", daemon=True)
        self._thread.start()

    def _register(self, s: socket.socket, data: tuple[str, str]) -> None:
        self._socks.append(s)
        self._sel.register(s, selectors.EVENT_READ, data)

    def _serve(self) -> None:
        while not self._stop:
            for key, _ in self._sel.select(timeout=0.2):
                kind, name = key.data
                sock: socket.socket = key.fileobj  # type: ignore[assignment]
                try:
                    if kind in ("accept", "accept-peer"):
                        conn, peer = sock.accept()
                        conn.setblocking(False)
                        line = f"{name} {peer[0]} {conn.getsockname()[0]}" if kind == "accept-peer" else name
                        self._sel.register(conn, selectors.EVENT_READ, ("tcp", line))
                    elif kind == "udp":
                        _reply_udp(sock, name)
                    else:
                        data = sock.recv(4096)
                        if data:
                            sock.sendall((name.encode() + b"\n") * data.count(b"\n"))
                        else:
                            self._sel.unregister(sock)
                            sock.close()
                except OSError:  # a reset peer, a closed socket: the client's business
                    with contextlib.suppress(KeyError, ValueError):
                        self._sel.unregister(sock)
                    if kind == "tcp":
                        sock.close()

    def close(self) -> None:
        self._stop = True
        self._thread.join(timeout=5)
        for key in list(self._sel.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        self._sel.close()


class Conn:
    """A live TCP connection from the client namespace; each ask() gets the backend's name."""

    def __init__(self, vip: str, port: int, *, src: str = CLIENT_ADDRS[0]) -> None:
        with netns(CLIENT):
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT)
        self.sock.bind((src, 0))
        self.sock.connect((vip, port))
        self._buf = b""

    def ask(self) -> str:
        self.sock.sendall(b"?\n")
        while b"\n" not in self._buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed by the other end")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode()

    def reset(self) -> None:
        """Close with RST: IPVS then forgets the connection in ~10 s, not 2 min (TIME_WAIT)."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        self.sock.close()

    def close(self) -> None:
        self.sock.close()


def ask_tcp(vip: str, port: int, *, src: str = CLIENT_ADDRS[0]) -> str:
    """One short TCP connection: connect, ask, close. Returns the backend's name."""
    c = Conn(vip, port, src=src)
    try:
        return c.ask()
    finally:
        c.reset()


def ask_udp(vip: str, port: int, *, src: str = CLIENT_ADDRS[0], sport: int = 0) -> str:
    with netns(CLIENT):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.settimeout(TIMEOUT)
        s.bind((src, sport))
        s.sendto(b"?\n", (vip, port))
        data, peer = s.recvfrom(2048)
        if peer != (vip, port):
            raise ConnectionError(f"reply from {peer}, not from the VIP {vip}:{port}")
        return data.decode().strip()
    finally:
        s.close()


@dataclass
class Lab:
    servers: Servers

    @classmethod
    def build(cls) -> Lab:
        """Create the namespaces (the test process must already be in DIRECTOR)."""
        _build_topology()
        return cls(Servers())

    def close(self) -> None:
        self.servers.close()
        ip_batch([f"netns del {ns}" for ns in NAMESPACES])


_FORWARD = {"Masq": Forwarding.NAT, "Route": Forwarding.DR, "Tunnel": Forwarding.TUN}


def ipvsadm_table() -> Table:
    """The kernel's table as `ipvsadm -Ln` prints it: an independent reading, not bmlb's."""
    services: list[VirtualService] = []
    current: dict[str, Any] | None = None
    servers: list[RealServer] = []

    def flush() -> None:
        if current is not None:
            services.append(VirtualService(**current, real_servers=tuple(servers)))

    for line in run("ipvsadm -Ln").splitlines()[3:]:
        f = line.split()
        if f[0] == "->":
            host, port = f[1].rsplit(":", 1)
            servers.append(
                RealServer(
                    ipaddress.ip_address(host.strip("[]")), int(port), weight=int(f[3]), forwarding=_FORWARD[f[2]]
                )
            )
            continue
        flush()
        host, port = f[1].rsplit(":", 1)
        persistent = int(f[f.index("persistent") + 1]) if "persistent" in f else 0
        current = {
            "protocol": Protocol(f[0].lower()),
            "address": ipaddress.ip_address(host.strip("[]")),
            "port": int(port),
            "scheduler": Scheduler(f[2]),
            "persistence_timeout": persistent,
        }
        servers = []
    flush()
    return Table(tuple(services))


def service(
    vip: str,
    port: int,
    *,
    to: int,
    protocol: Protocol = Protocol.TCP,
    forwarding: Forwarding = Forwarding.NAT,
    scheduler: Scheduler = Scheduler.RR,
    persistence: int = 0,
    backends: tuple[str, ...] = tuple(BACKENDS),
    weight: int = 1,
) -> VirtualService:
    """A virtual service on `vip`:`port` spread over `backends` (names) on port `to`."""
    servers = tuple(
        RealServer(ipaddress.ip_address(BACKENDS[b]), to, weight=weight, forwarding=forwarding) for b in backends
    )
    return VirtualService(protocol, ipaddress.ip_address(vip), port, scheduler, persistence, servers)


def link_addresses(link: str = LINK) -> set[str]:
    return {line.split()[3].split("/")[0] for line in run(f"ip -o -4 addr show dev {link}").splitlines()}
