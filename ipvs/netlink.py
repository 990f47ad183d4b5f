"""A bare netlink socket: request/ACK, dumps, and batches sent without a round trip each.

    s = Socket(socket.NETLINK_GENERIC)
    s.request(msg, seq)          -> list[bytes]      payloads of a dump, or [] for an ACK; raises OSError
    s.dump(msg, feed)            sends a dump request, hands each datagram to feed until it returns True
    s.batch(msgs: Iterable[tuple[int, bytes]])  -> dict[seq, errno]   failures only
    genl_family(s, "IPVS")       -> int

Batches: the messages carry no NLM_F_ACK, so the kernel answers only the ones that fail.
They are packed into large sendmsg() calls; the kernel processes a sendmsg's messages
synchronously, in order, before the call returns, so after each send the error reports
already wait in the receive buffer and are drained without blocking. If the receive buffer
overflowed (ENOBUFS), reports were lost and `LostReports` is raised: the caller re-reads.

Link and address messages (rtnetlink) are here too, so that binding 1,000 VIPs is one batch.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import struct
from collections.abc import Callable, Iterable

from ipvs import wire
from ipvs.model import IPAddress

NETLINK_ROUTE, NETLINK_GENERIC = 0, 16
SOL_NETLINK, NETLINK_CAP_ACK = 270, 10
SO_SNDBUFFORCE, SO_RCVBUFFORCE = 32, 33
CHUNK = 128 * 1024  # bytes per sendmsg; below the default wmem_default (212992) minus slack
RECV = 64 * 1024  # >= 32 KiB lets the kernel fill dump skbs up to 32 KiB


class LostReports(OSError):
    pass


class Socket:
    def __init__(self, protocol: int, *, rcvbuf: int = 16 << 20) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, protocol)
        bufs = ((SO_RCVBUFFORCE, socket.SO_RCVBUF, rcvbuf), (SO_SNDBUFFORCE, socket.SO_SNDBUF, 1 << 20))
        for force, plain, size in bufs:
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, force, size)
            except PermissionError:
                self.sock.setsockopt(socket.SOL_SOCKET, plain, size)
        self.sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)  # error reports: header only, not the request
        self.sock.bind((0, 0))
        self._seq = 0
        self.sends = 0  # sendmsg calls so far (requests, dump requests and batch chunks)

    def seq(self, n: int = 1) -> int:
        """Reserve n sequence numbers; return the first."""
        first = self._seq + 1
        self._seq += n
        return first

    def close(self) -> None:
        self.sock.close()

    def request(self, msg: bytes, seq: int) -> list[bytes]:
        """Send one message; collect replies until its ACK, error or NLMSG_DONE (needs NLM_F_ACK
        on a non-dump request)."""
        self.sock.send(msg)
        self.sends += 1
        out: list[bytes] = []
        while True:
            data = self._recv(0)
            for kind, _flags, s, payload in wire.messages(data):
                if s != seq:
                    continue
                if kind == wire.NLMSG_ERROR or kind == wire.NLMSG_DONE:
                    code = wire.error_code(payload) if len(payload) >= 4 else 0
                    if code:
                        raise OSError(code, f"netlink: {errno.errorcode.get(code, code)}")
                    return out
                out.append(bytes(payload))

    def dump(self, msg: bytes, feed: Callable[[bytes], bool]) -> None:
        """Send a dump request; pass each datagram received, whole, to feed until it returns True
        (ipvs.dumps decodes them; a datagram holds many messages)."""
        self.sock.send(msg)
        self.sends += 1
        recv = self._recv
        while not feed(recv(0)):
            pass

    def batch(self, msgs: Iterable[tuple[int, bytes]]) -> dict[int, int]:
        failures: dict[int, int] = {}
        chunk: list[bytes] = []
        size = 0
        for _seq, m in msgs:
            if size + len(m) > CHUNK and chunk:
                self._send_chunk(chunk, failures)
                chunk, size = [], 0
            chunk.append(m)
            size += len(m)
        if chunk:
            self._send_chunk(chunk, failures)
        return failures

    def _send_chunk(self, chunk: list[bytes], failures: dict[int, int]) -> None:
        self.sock.send(b"".join(chunk))
        self.sends += 1
        while True:
            try:
                data = self._recv(socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            for kind, _flags, s, payload in wire.messages(data):
                if kind == wire.NLMSG_ERROR and (code := wire.error_code(payload)):
                    failures[s] = code

    def _recv(self, flags: int) -> bytes:
        try:
            return self.sock.recv(RECV, flags)
        except OSError as e:
            if e.errno == errno.ENOBUFS:
                raise LostReports(errno.ENOBUFS, "netlink receive buffer overflowed: reports lost") from e
            raise


# ---- generic netlink controller

GENL_ID_CTRL, CTRL_CMD_GETFAMILY, CTRL_ATTR_FAMILY_ID, CTRL_ATTR_FAMILY_NAME = 0x10, 3, 1, 2


def genl_family(s: Socket, name: str) -> int:
    """The id of a generic netlink family; OSError(ENOENT) if the kernel has none."""
    seq = s.seq()
    attr = wire.nla(CTRL_ATTR_FAMILY_NAME, name.encode() + b"\0")
    msg = struct.pack("=IHHIIBBH", 20 + len(attr), GENL_ID_CTRL, wire.NLM_F_REQUEST | wire.NLM_F_ACK, seq, 0,
                      CTRL_CMD_GETFAMILY, 1, 0) + attr
    for payload in s.request(msg, seq):
        a = wire.attrs(payload, 4)
        if CTRL_ATTR_FAMILY_ID in a:
            return int.from_bytes(a[CTRL_ATTR_FAMILY_ID][:2], "little")
    raise OSError(errno.ENOENT, f"no generic netlink family {name}")


# ---- rtnetlink: links and addresses

RTM_NEWLINK, RTM_GETLINK, RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 16, 18, 20, 21, 22
IFLA_IFNAME, IFLA_LINKINFO, IFLA_INFO_KIND = 3, 18, 1
IFA_ADDRESS, IFA_LOCAL = 1, 2
IFF_UP = 0x1
IFA_F_NODAD = 0x02
_IFINFO = struct.Struct("=BxHiII")  # family, type, index, flags, change
_IFADDR = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index


def _rt(kind: int, flags: int, seq: int, body: bytes) -> bytes:
    return struct.pack("=IHHII", 16 + len(body), kind, flags, seq, 0) + body


def get_link(seq: int, name: str) -> bytes:
    return _rt(RTM_GETLINK, wire.NLM_F_REQUEST | wire.NLM_F_ACK, seq,
               _IFINFO.pack(0, 0, 0, 0, 0) + wire.nla(IFLA_IFNAME, name.encode() + b"\0"))


def link_index(payload: bytes) -> tuple[int, int]:
    """(index, flags) of an RTM_NEWLINK payload."""
    _fam, _type, index, flags, _change = _IFINFO.unpack_from(payload)
    return index, flags


def new_dummy(seq: int, name: str) -> bytes:
    info = wire.nla(IFLA_LINKINFO, wire.nla(IFLA_INFO_KIND, b"dummy"))
    body = _IFINFO.pack(0, 0, 0, IFF_UP, IFF_UP) + wire.nla(IFLA_IFNAME, name.encode() + b"\0") + info
    flags = wire.NLM_F_REQUEST | wire.NLM_F_ACK | wire.NLM_F_CREATE | wire.NLM_F_EXCL
    return _rt(RTM_NEWLINK, flags, seq, body)


def set_up(seq: int, index: int) -> bytes:
    return _rt(RTM_NEWLINK, wire.NLM_F_REQUEST | wire.NLM_F_ACK, seq, _IFINFO.pack(0, 0, index, IFF_UP, IFF_UP))


def dump_addresses(seq: int) -> bytes:
    return _rt(RTM_GETADDR, wire.NLM_F_REQUEST | wire.NLM_F_DUMP, seq, _IFADDR.pack(0, 0, 0, 0, 0))


def parse_address(payload: bytes) -> tuple[int, int, IPAddress | None]:
    """(link index, prefix length, address) of an RTM_NEWADDR payload."""
    family, prefixlen, _flags, _scope, index = _IFADDR.unpack_from(payload)
    a = wire.attrs(payload, _IFADDR.size)
    raw = a.get(IFA_LOCAL, a.get(IFA_ADDRESS))
    if raw is None or family not in (socket.AF_INET, socket.AF_INET6):
        return index, prefixlen, None
    return index, prefixlen, ipaddress.ip_address(bytes(raw))


def address(seq: int, *, add: bool, index: int, addr: IPAddress) -> bytes:
    """RTM_NEWADDR/RTM_DELADDR of addr/32 or /128 on link `index`, without ACK (batched)."""
    v6 = addr.version == 6
    body = _IFADDR.pack(socket.AF_INET6 if v6 else socket.AF_INET, 128 if v6 else 32,
                        IFA_F_NODAD if v6 else 0, 0, index)
    if not v6:
        body += wire.nla(IFA_LOCAL, addr.packed)
    body += wire.nla(IFA_ADDRESS, addr.packed)
    flags = wire.NLM_F_REQUEST | (wire.NLM_F_CREATE | wire.NLM_F_EXCL if add else 0)
    return _rt(RTM_NEWADDR if add else RTM_DELADDR, flags, seq, body)


def host_addresses(s: Socket, index: int) -> set[IPAddress]:
    """The /32 and /128 addresses on link `index` (raises OSError like Socket.request)."""
    seq = s.seq()
    out = set()
    for p in s.request(dump_addresses(seq), seq):
        link, prefixlen, addr = parse_address(p)
        if link == index and addr is not None and prefixlen == addr.max_prefixlen:
            out.add(addr)
    return out
