"""A fake of the kernel's IPVS generic netlink dumps, byte for byte as Linux 6.1 writes them
(tests/ipvs/data/linux-6.1-dumps.json holds replies recorded from that kernel; test_dumps.py
checks this fake against them), so that KernelBackend.read() runs on a host without IPVS.

    sock = FakeSocket(table, connections={ServerRef: Connections})
    backend = with_socket(sock)          # a KernelBackend reading through it
    backend.read()

Builders for odd replies (tests): service_nest(...), dest_nest(...), reply(...).
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ipvs import netlink, wire
from ipvs.diff import ServerRef
from ipvs.drain import Connections
from ipvs.kernel import KernelBackend
from ipvs.model import Forwarding, RealServer, Table, VirtualService

FAMILY, PID = 0x20, 123
FWD = {Forwarding.NAT: 0, Forwarding.TUN: 2, Forwarding.DR: 3}
PROTO = {"tcp": 6, "udp": 17, "sctp": 132}
SKB = 32768 - 320  # a dump datagram's room (the kernel's skb of 32 KiB less its overhead)


def attr(kind: int, data: bytes) -> bytes:
    return struct.pack("=HH", 4 + len(data), kind) + data + b"\0" * (-len(data) & 3)


def u8(kind: int, v: int) -> bytes:
    return attr(kind, struct.pack("=B", v))


def u16(kind: int, v: int) -> bytes:
    return attr(kind, struct.pack("=H", v))


def be16(kind: int, v: int) -> bytes:
    return attr(kind, struct.pack("!H", v))


def u32(kind: int, v: int) -> bytes:
    return attr(kind, struct.pack("=I", v))


def u64(kind: int, v: int) -> bytes:
    return attr(kind, struct.pack("=Q", v))


def stats(kind: int, seed: int = 0) -> bytes:
    """IPVS_*_ATTR_STATS (u32 and u64 counters) as ip_vs_genl_fill_stats writes it."""
    v = [seed * k for k in range(1, 11)]
    return attr(kind, u32(1, v[0] & 0xFFFFFFFF) + u32(2, v[1] & 0xFFFFFFFF) + u32(3, v[2] & 0xFFFFFFFF)
                + u64(4, v[3]) + u64(5, v[4]) + b"".join(u32(k + 1, v[k] & 0xFFFFFFFF) for k in range(5, 10)))


def stats64(kind: int, seed: int = 0) -> bytes:
    return attr(kind, b"".join(u64(k + 1, seed * (k + 1)) for k in range(10)))


def service_nest(svc: VirtualService | None = None, *, fwmark: int = 0, seed: int = 0) -> bytes:
    """IPVS_CMD_ATTR_SERVICE as ip_vs_genl_fill_service writes it (a fwmark service with fwmark)."""
    if svc is None:
        af, sched, timeout, flags = socket.AF_INET, "rr", 0, 2
        key = u32(wire.SVC_FWMARK, fwmark)
        netmask = attr(wire.SVC_NETMASK, b"\xff\xff\xff\xff")
    else:
        v6 = svc.address.version == 6
        af, sched, timeout = (socket.AF_INET6 if v6 else socket.AF_INET), svc.scheduler.value, svc.persistence_timeout
        flags = 2 | (1 if timeout else 0)  # IP_VS_SVC_F_HASHED | PERSISTENT
        key = (u16(wire.SVC_PROTOCOL, PROTO[svc.protocol.value])
               + attr(wire.SVC_ADDR, svc.address.packed.ljust(16, b"\0")) + be16(wire.SVC_PORT, svc.port))
        netmask = u32(wire.SVC_NETMASK, 128) if v6 else attr(wire.SVC_NETMASK, b"\xff\xff\xff\xff")
    body = (u16(wire.SVC_AF, af) + key + attr(wire.SVC_SCHED_NAME, sched.encode() + b"\0")
            + attr(wire.SVC_FLAGS, struct.pack("=II", flags, 0xFFFFFFFF)) + u32(wire.SVC_TIMEOUT, timeout)
            + netmask + stats(10, seed) + stats64(12, seed))
    return attr(wire.ATTR_SERVICE, body)


@dataclass(frozen=True)
class Dest:
    """A real server as the kernel holds it (more than bmlb's RealServer: tunnel, thresholds)."""

    server: RealServer
    active: int = 0
    inactive: int = 0
    persist: int = 0
    tun_type: int = 0
    tun_port: int = 0
    tun_flags: int = 0
    u_thresh: int = 0
    l_thresh: int = 0
    seed: int = 0  # statistics


def dest_attrs(d: Dest) -> list[bytes]:
    """The DEST nest's attributes, in ip_vs_genl_fill_dest's order."""
    rs = d.server
    return [
        attr(wire.DEST_ADDR, rs.address.packed.ljust(16, b"\0")), be16(wire.DEST_PORT, rs.port),
        u32(wire.DEST_FWD_METHOD, FWD[rs.forwarding]), u32(wire.DEST_WEIGHT, rs.weight),
        u8(wire.DEST_TUN_TYPE, d.tun_type), be16(wire.DEST_TUN_PORT, d.tun_port),
        u16(wire.DEST_TUN_FLAGS, d.tun_flags), u32(wire.DEST_U_THRESH, d.u_thresh),
        u32(wire.DEST_L_THRESH, d.l_thresh), u32(wire.DEST_ACTIVE_CONNS, d.active),
        u32(wire.DEST_INACT_CONNS, d.inactive), u32(wire.DEST_PERSIST_CONNS, d.persist),
        u16(wire.DEST_ADDR_FAMILY, socket.AF_INET6 if rs.address.version == 6 else socket.AF_INET),
        stats(10, d.seed), stats64(12, d.seed),
    ]


def dest_nest(d: Dest) -> bytes:
    return attr(wire.ATTR_DEST, b"".join(dest_attrs(d)))


def reply(cmd: int, seq: int, body: bytes, *, family: int = FAMILY, pid: int = PID) -> bytes:
    """One dump reply: nlmsghdr (NLM_F_MULTI) + genlmsghdr + attributes."""
    return struct.pack("=IHHII", 20 + len(body), family, wire.NLM_F_MULTI, seq, pid) + struct.pack(
        "=BBH", cmd, 1, 0) + body


def done(seq: int, errno: int = 0, *, pid: int = PID) -> bytes:
    return struct.pack("=IHHIIi", 20, wire.NLMSG_DONE, wire.NLM_F_MULTI, seq, pid, -errno)


def datagrams(messages: Sequence[bytes], seq: int, room: int = SKB, *, done_apart: bool = True) -> list[bytes]:
    """Messages packed into datagrams as netlink_dump does; NLMSG_DONE in a datagram of its own
    (what IPVS's dumps get: their callback returns > 0 until a call finds nothing more)."""
    out: list[bytes] = []
    cur = b""
    for m in messages:
        if cur and len(cur) + len(m) > room:
            out.append(cur)
            cur = b""
        cur += m
    if cur and not done_apart:
        return [*out, cur + done(seq)]
    if cur:
        out.append(cur)
    return [*out, done(seq)]


def _split(datagram: bytes) -> list[bytes]:
    """The datagram's bytes around each message's seq field (seq.join(parts) puts them back)."""
    parts, i, last = [], 0, 0
    while i < len(datagram):
        parts.append(datagram[last : i + 8])
        last = i + 12
        i += (struct.unpack_from("=I", datagram, i)[0] + 3) & ~3
    return [*parts, datagram[last:]]


class FakeSocket:
    """A socket.socket stand-in answering GET_SERVICE / GET_DEST dumps from a table."""

    def __init__(self, table: Table, connections: Mapping[ServerRef, Connections] | None = None, *,
                 dests: Callable[[VirtualService], Sequence[Dest]] | None = None, room: int = SKB,
                 done_apart: bool = True) -> None:
        self.dests = dests
        self.room = room
        self.done_apart = done_apart
        self.queue: list[bytes] = []
        self.recvs = 0
        self.set(table, connections)

    def set(self, table: Table, connections: Mapping[ServerRef, Connections] | None = None) -> None:
        """What the fake kernel holds from now on."""
        self.table = table
        self.connections = dict(connections or {})
        self._by_key = {wire._service_key(s.protocol, s.address, s.port)[4:]: s for s in table.services}
        # answers by request (seq left out), each datagram split around its messages' seq fields
        self._answers: dict[bytes, list[list[bytes]]] = {}

    def _dests(self, svc: VirtualService) -> Sequence[Dest]:
        if self.dests is not None:
            return self.dests(svc)
        out = []
        for rs in svc.real_servers:
            c = self.connections.get(ServerRef(svc.key, rs.key), Connections())
            out.append(Dest(rs, c.active, c.inactive))
        return out

    def send(self, msg: bytes) -> int:
        seq = struct.unpack_from("=I", msg, 8)[0]
        request = msg[:8] + msg[12:]
        answer = self._answers.get(request)
        if answer is None:
            answer = self._answers[request] = [_split(d) for d in self._answer(msg)]
        seq_bytes = struct.pack("=I", seq)
        self.queue += [seq_bytes.join(parts) for parts in answer]
        return len(msg)

    def _answer(self, msg: bytes) -> list[bytes]:
        cmd = msg[16]
        if cmd == wire.CMD_GET_SERVICE:
            msgs = [reply(wire.CMD_NEW_SERVICE, 0, service_nest(s)) for s in self.table.services]
        elif cmd == wire.CMD_GET_DEST:
            svc = self._by_key.get(bytes(wire.attrs(msg, 20)[wire.ATTR_SERVICE]))
            msgs = [] if svc is None else [reply(wire.CMD_NEW_DEST, 0, dest_nest(d)) for d in self._dests(svc)]
        else:
            raise AssertionError(f"unexpected command {cmd}")
        return datagrams(msgs, 0, self.room, done_apart=self.done_apart)

    def recv(self, _size: int, _flags: int = 0) -> bytes:
        self.recvs += 1
        if not self.queue:
            raise BlockingIOError
        return self.queue.pop(0)

    def close(self) -> None:
        pass


def with_socket(sock: object, family: int = FAMILY) -> KernelBackend:
    """A KernelBackend whose IPVS socket is `sock` (a FakeSocket)."""
    backend = KernelBackend()
    s = netlink.Socket.__new__(netlink.Socket)
    s.sock, s._seq, s.sends = sock, 0, 0  # type: ignore[assignment]
    backend._genl, backend._family = s, family
    return backend
