"""The kernel's IPVS dumps, read datagram by datagram with caches (pure: fed bytes, no socket).

A verification read decodes every real server of the node, ~11,000 messages at 1,000 services
x 10 real servers, and under software emulation each Python step costs ~40x a host's. So:

    services = ServiceReader(); services.start(seq)
    while not services.feed(datagram): ...          # True once its NLMSG_DONE is in
    services.result() -> [VirtualService]           # representable services, kernel order

    dests = DestReader(); dests.start(service, seq)
    while not dests.feed(datagram): ...
    dests.result() -> (VirtualService with its real servers, [(RealServer, Connections)] non-zero only)

Fast path (the layout Linux >= 5.3 writes, learned from the first reply that has it): a GET_DEST
datagram made only of same-length replies is split by one regular expression (in C) into, per
reply, the bytes that identify the real server (genl header to the ACTIVE_CONNS header: address,
port, forwarding, weight, tunnel, thresholds), its af attribute and its two connection counters;
everything else in the reply (the headers of the other attributes, the nlmsghdr type, flags and
length) must be the learned literal bytes. The statistics, which change between dumps, are never
looked at. A service whose replies carry the same identifying bytes as in the last dump reuses the
VirtualService built then (no per-real-server Python at all); a new real server's bytes are
decoded once by the general decoder, after its reply was checked attribute by attribute against
the layout. GET_SERVICE replies: the bytes before the statistics identify the service, and the
decoded service (the same object each dump) is cached by them.

Anything else takes the general path, message by message (ipvs.wire.decode_service and
decode_dest), so the result is exactly what that path decodes (tests/ipvs/test_dumps.py checks
it, hypothesis included). Errors: OSError for a netlink error report; ValueError for a reply
that cannot be decoded (KernelBackend turns both into IpvsError).
"""

from __future__ import annotations

import ipaddress
import re
import struct
import sys
from collections.abc import Sequence

from ipvs import wire
from ipvs.drain import Connections
from ipvs.model import Protocol, RealServer, VirtualService

_HDR = wire._HDR
_NLA = wire._NLA
_Z4 = bytes(4)
_CACHE_MAX = 1 << 17

# GET_DEST replies, Linux >= 5.3 (ip_vs_genl_fill_dest): (length, type) of the DEST nest's
# attributes in order, up to and including the address family; statistics follow.
_DEST_LAYOUT = (
    (20, wire.DEST_ADDR), (6, wire.DEST_PORT), (8, wire.DEST_FWD_METHOD), (8, wire.DEST_WEIGHT),
    (5, wire.DEST_TUN_TYPE), (6, wire.DEST_TUN_PORT), (6, wire.DEST_TUN_FLAGS),
    (8, wire.DEST_U_THRESH), (8, wire.DEST_L_THRESH), (8, wire.DEST_ACTIVE_CONNS),
    (8, wire.DEST_INACT_CONNS), (8, wire.DEST_PERSIST_CONNS), (6, wire.DEST_ADDR_FAMILY),
)
# what decode_dest reads: no other attribute may sit where the fast path does not look
_DEST_READ = frozenset({wire.DEST_ADDR, wire.DEST_PORT, wire.DEST_FWD_METHOD, wire.DEST_WEIGHT,
                        wire.DEST_ACTIVE_CONNS, wire.DEST_INACT_CONNS, wire.DEST_ADDR_FAMILY})
# offsets in a reply (from its nlmsghdr)
_ID_START, _ID_END = 16, 112  # genlmsghdr .. ACTIVE_CONNS header: identifies the real server
_INACT_HDR, _PERSIST_HDR, _AF_ATTR, _TAIL = 116, 124, 132, 140
# the identifying bytes: genl header, DEST nest header, then (header, value) pairs from the address
# to the thresholds and the ACTIVE_CONNS header; the headers at odd indexes from 1
_IDENT = struct.Struct("=4xI" "I16s" "I2s2x" "II" "II" "II" "II" "II" "II" "II" "I")
_U32 = struct.Struct("=I")  # netlink is in host order
_IDENT_HDRS = tuple(_U32.unpack(_NLA.pack(n, k))[0] for n, k in _DEST_LAYOUT[:10])
_AF_HDR = _NLA.pack(6, wire.DEST_ADDR_FAMILY)
_SVC_READ = frozenset({wire.SVC_AF, wire.SVC_PROTOCOL, wire.SVC_ADDR, wire.SVC_PORT, wire.SVC_FWMARK,
                       wire.SVC_SCHED_NAME, wire.SVC_FLAGS, wire.SVC_TIMEOUT})


def _walk(buf: bytes, start: int, end: int) -> list[tuple[int, int, int]] | None:
    """(offset, length, type) of the attributes filling buf[start:end] exactly, or None."""
    out = []
    i = start
    while i < end:
        if i + 4 > end:
            return None
        n, kind = _NLA.unpack_from(buf, i)
        if n < 4 or i + n > end:
            return None
        out.append((i, n, kind))
        i += (n + 3) & ~3
    return out if i == end else None


def _end_of(buf: bytes, seq: int) -> tuple[int, int | None]:
    """Where the data ends in a datagram that closes a dump with NLMSG_DONE for seq (its errno
    too), else (len(buf), None)."""
    end = len(buf)
    if end >= 20:
        n, kind, _flags, s, _pid = _HDR.unpack_from(buf, end - 20)
        if n == 20 and kind == wire.NLMSG_DONE and s == seq:
            return end - 20, -int.from_bytes(buf[end - 4 :], sys.byteorder, signed=True)
    return end, None


def _closing(kind: int, payload: memoryview) -> bool:
    """True for our dump's NLMSG_DONE; raises OSError for an error report."""
    if kind == wire.NLMSG_ERROR or kind == wire.NLMSG_DONE:
        code = wire.error_code(payload) if len(payload) >= 4 else 0
        if code:
            raise OSError(code, f"netlink: error {code}")
        return True
    return False


class _DestLayout:
    """A GET_DEST reply layout seen from the kernel: its length and the bytes that must recur."""

    def __init__(self, reply: bytes) -> None:
        self.size = len(reply)
        # its DEST nest header, with or without the NLA_F_NESTED / NLA_F_NET_BYTEORDER bits
        self.nest = frozenset(_U32.unpack(_NLA.pack(self.size - 20, wire.ATTR_DEST | f))[0]
                              for f in (0, 0x4000, 0x8000, 0xC000))
        self.head = reply[:8]  # nlmsg length, type (the family), flags
        self.inact = reply[_INACT_HDR : _INACT_HDR + 4]
        self.persist = reply[_PERSIST_HDR : _PERSIST_HDR + 4]
        tail = _walk(reply, _TAIL, self.size) or []
        self.tail = tuple((reply[i : i + 4], (n + 3) & ~3) for i, n, _k in tail)
        self.pattern = re.compile(
            b"(?s)" + re.escape(self.head) + b"(.{4}).{4}"  # seq, pid
            + b"(.{%d})(.{4})" % (_ID_END - _ID_START)  # identity, active
            + re.escape(self.inact) + b"(.{4})" + re.escape(self.persist) + b".{4}(.{8})"  # inactive, af attr
            + b"".join(re.escape(h) + b".{%d}" % (n - 4) for h, n in self.tail)
        )

    @staticmethod
    def check(reply: bytes) -> bool:
        """reply (one whole message) has the layout Linux >= 5.3 writes, statistics aside."""
        size = len(reply)
        if size < _TAIL or size % 4 or _HDR.unpack_from(reply)[0] != size:
            return False
        n, kind = _NLA.unpack_from(reply, 20)
        if kind & 0x3FFF != wire.ATTR_DEST or n != size - 20:
            return False
        attrs = _walk(reply, 24, size)
        if attrs is None or len(attrs) < len(_DEST_LAYOUT):
            return False
        for (_i, n, kind), want in zip(attrs, _DEST_LAYOUT, strict=False):
            if (n, kind & 0x3FFF) != want:
                return False
        return all(kind & 0x3FFF not in _DEST_READ for _i, _n, kind in attrs[len(_DEST_LAYOUT) :])

    def server(self, ident: bytes, af_attr: bytes, service_af: int) -> RealServer | None:
        """The real server of a reply this layout's pattern matched, from its identifying bytes and
        af attribute, decoded as decode_dest decodes it; None if their attribute headers are not
        the layout's (everything else in the reply the pattern's literals have checked)."""
        f = _IDENT.unpack_from(ident)
        if f[1::2] != _IDENT_HDRS or f[0] not in self.nest or af_attr[:4] != _AF_HDR:
            return None
        return wire.real_server(f[2], f[4], f[6], f[8], int.from_bytes(af_attr[4:6], sys.byteorder) or service_af)


class DestReader:
    """GET_DEST dumps, one service at a time (see the module's docstring). Keeps its caches
    between dumps: use one reader per backend."""

    def __init__(self) -> None:
        self.general = 0  # datagrams read by the general path so far (the first dump's, to learn the layout)
        self._layout: _DestLayout | None = None
        self._servers: dict[tuple[bytes, bytes], RealServer] = {}  # (identity, af attr) -> server
        # id(service) -> (service, identities, af attrs, VirtualService, servers in kernel order)
        self._services: dict[int, tuple[VirtualService, tuple[bytes, ...], tuple[bytes, ...], VirtualService,
                                        tuple[RealServer, ...]]] = {}
        self.start(VirtualService(Protocol.TCP, ipaddress.IPv4Address(0), 0), 0)

    def start(self, service: VirtualService, seq: int) -> None:
        self._svc = service
        self._seq = seq
        self._seq_bytes = _U32.pack(seq)
        self._af = wire.af_of(service.address)
        entry = self._services.get(id(service))
        self._entry = entry if entry is not None and entry[0] is service else None
        self._ids: list[bytes] = []
        self._afs: list[bytes] = []
        self._rs: list[RealServer] = []
        self._conns: list[tuple[RealServer, Connections]] = []
        self._general = False  # some reply took the general path: nothing to cache
        self._done = False

    def feed(self, buf: bytes) -> bool:
        """Take one datagram; True once the dump is complete. Raises OSError (netlink error) or
        ValueError (a reply that does not decode)."""
        if self._done:
            return True
        end, code = _end_of(buf, self._seq)
        lay = self._layout
        if lay is not None and (code is not None if end == 0 else self._fast(buf, end, lay)):
            if code:
                raise OSError(code, f"netlink: error {code}")
            self._done = code is not None
            return self._done
        return self._slow(buf)

    def _fast(self, buf: bytes, end: int, lay: _DestLayout) -> bool:
        found = lay.pattern.findall(buf, 0, end)
        n = len(found)
        if n * lay.size != end:  # the matches do not tile the datagram
            return False
        seqs, ids, acts, inacts, afs = zip(*found, strict=True)
        if seqs.count(self._seq_bytes) != n:
            return False
        pos = len(self._ids)
        e = self._entry
        if e is not None and e[1][pos : pos + n] == ids and e[2][pos : pos + n] == afs:
            servers = e[4][pos : pos + n]
        else:
            resolved = self._resolve(ids, afs, lay)
            if resolved is None:
                return False
            servers = resolved
            self._entry = None
        self._ids += ids
        self._afs += afs
        self._rs += servers
        if acts.count(_Z4) != n or inacts.count(_Z4) != n:
            for rs, a, i in zip(servers, acts, inacts, strict=True):
                if a != _Z4 or i != _Z4:
                    self._conns.append((rs, Connections(_U32.unpack(a)[0], _U32.unpack(i)[0])))
        return True

    def _resolve(self, ids: Sequence[bytes], afs: Sequence[bytes], lay: _DestLayout) -> list[RealServer] | None:
        """Each reply's real server: from the cache, else decoded once its attribute headers are
        checked. None: a reply does not fit the layout."""
        cache = self._servers
        out = []
        for key in zip(ids, afs, strict=True):
            rs = cache.get(key)
            if rs is None:
                rs = lay.server(key[0], key[1], self._af)
                if rs is None:
                    return None
                if len(cache) >= _CACHE_MAX:
                    cache.clear()
                cache[key] = rs
            out.append(rs)
        return out

    def _slow(self, buf: bytes) -> bool:
        self._general = True
        self.general += 1
        for kind, _flags, s, payload in wire.messages(buf):
            if s != self._seq:
                continue
            if _closing(kind, payload):
                self._done = True
                return True
            rs, c = wire.decode_dest(payload, self._af)
            self._rs.append(rs)
            if c.total:
                self._conns.append((rs, c))
        self._learn(buf)  # the first dump, or a kernel that changed its layout
        return False

    def _learn(self, buf: bytes) -> None:
        i = 0
        while i + 16 <= len(buf):
            n, kind, _flags, s, _pid = _HDR.unpack_from(buf, i)
            if n < 16:
                return
            reply = buf[i : i + n]
            if s == self._seq and kind >= 16 and _DestLayout.check(reply):
                self._layout = _DestLayout(reply)  # re.compile's cache makes the same layout cheap
                return
            i += (n + 3) & ~3

    def keep(self, services: Sequence[VirtualService]) -> None:
        """After a full read: forget the dumps of every other service, and the real servers if
        there are many more of them than the kept dumps hold (bounded memory under churn)."""
        old = self._services
        self._services = {id(s): e for s in services if (e := old.get(id(s))) is not None and e[0] is s}
        if len(self._servers) > 2 * sum(len(e[1]) for e in self._services.values()) + 4096:
            self._servers.clear()

    def result(self) -> tuple[VirtualService, list[tuple[RealServer, Connections]]]:
        svc = self._svc
        e = self._entry
        if e is not None and not self._general and len(e[1]) == len(self._ids):
            return e[3], self._conns
        full = VirtualService(svc.protocol, svc.address, svc.port, svc.scheduler,  # not replace(): hot
                              svc.persistence_timeout, tuple(self._rs))
        if not self._general:
            if len(self._services) >= _CACHE_MAX:
                self._services.clear()
            self._services[id(svc)] = (svc, tuple(self._ids), tuple(self._afs), full, tuple(self._rs))
        return full, self._conns


class ServiceReader:
    """GET_SERVICE dumps (see the module's docstring)."""

    def __init__(self) -> None:
        self.decoded = 0  # replies decoded so far (not found in the cache)
        self._tail: bytes | None = None  # the statistics' attribute headers, learned
        self._tail_at: tuple[int, ...] = ()  # their offsets from the reply's end
        self._tail_size = 0
        self._cache: dict[bytes, VirtualService | None] = {}
        self.start(0)

    def start(self, seq: int) -> None:
        self._seq = seq
        self._out: list[VirtualService] = []
        self._keys: list[bytes] = []
        self._done = False

    def feed(self, buf: bytes) -> bool:
        if self._done:
            return True
        cache = self._cache
        size = self._tail_size
        at = self._tail_at
        tail = self._tail
        for kind, _flags, s, payload in wire.messages(buf):
            if s != self._seq:
                continue
            if _closing(kind, payload):
                self._done = True
                if len(cache) > 2 * len(self._keys) + 1024:  # services gone since: forget them
                    self._cache = {k: cache[k] for k in self._keys if k in cache}
                return True
            n = len(payload)
            if tail is None or n <= size or b"".join(payload[n - a : n - a + 4] for a in at) != tail:
                self._learn(payload)  # the first reply, or a kernel that changed its layout
                size, at, tail = self._tail_size, self._tail_at, self._tail
            if tail is not None and n > size and b"".join(payload[n - a : n - a + 4] for a in at) == tail:
                key = payload[: n - size].tobytes()
                self._keys.append(key)
                svc = cache.get(key, False)
                if svc is False:
                    svc = self._decode(payload, key)
            else:
                self.decoded += 1
                svc = wire.decode_service(payload)
            if svc is not None:
                self._out.append(svc)  # type: ignore[arg-type]
        return False

    def _decode(self, payload: memoryview, key: bytes) -> VirtualService | None:
        self.decoded += 1
        svc = wire.decode_service(payload)
        stats = self._check(payload)
        n = len(payload)
        if stats is not None and tuple(n - i for i, _n, _k in stats) == self._tail_at:
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[key] = svc
        return svc

    @staticmethod
    def _check(payload: memoryview) -> list[tuple[int, int, int]] | None:
        """The SERVICE nest's attributes, the statistics last, if the reply is one nest filling it."""
        buf = payload.tobytes()
        top = _walk(buf, 4, len(buf))
        if top is None or len(top) != 1 or top[0][2] & 0x3FFF != wire.ATTR_SERVICE or top[0][1] != len(buf) - 4:
            return None
        attrs = _walk(buf, 8, len(buf))
        if attrs is None:
            return None
        # the statistics: every attribute after the last one decode_service reads
        last = max((k for k, (_i, _n, kind) in enumerate(attrs) if kind & 0x3FFF in _SVC_READ), default=-1)
        return attrs[last + 1 :] or None

    def _learn(self, payload: memoryview) -> None:
        stats = self._check(payload)
        if stats is None:
            return
        buf = payload.tobytes()
        n = len(buf)
        self._tail_at = tuple(n - i for i, _n, _k in stats)
        self._tail_size = n - stats[0][0]
        self._tail = b"".join(buf[i : i + 4] for i, _n, _k in stats)

    def result(self) -> list[VirtualService]:
        return self._out
