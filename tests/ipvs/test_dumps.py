"""ipvs.dumps: the dump readers decode exactly what the general path (wire.decode_service /
decode_dest, message by message) decodes, on replies recorded from Linux 6.1 and on generated
ones of every shape (IPv6, fwmark, DR/TUN, odd attribute orders, extra or missing attributes,
NLMSG_DONE sharing a datagram, corrupted bytes), the second and later dumps too (the caches)."""

from __future__ import annotations

import ipaddress
import json
import socket
import struct
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipvs import dumps, wire
from ipvs.diff import ServerRef
from ipvs.drain import Connections
from ipvs.errors import IpvsError
from ipvs.model import Forwarding, Protocol, RealServer, Scheduler, Table, VirtualService
from tests.ipvs import fakekernel as fk
from tests.ipvs.helpers import big_table, rs, vs

RECORDED = json.loads((Path(__file__).parent / "data" / "linux-6.1-dumps.json").read_text())
NESTED = 0x8000


# ---- the general path, message by message (what the readers must agree with)


def _replies(grams: Sequence[bytes], seq: int) -> Iterator[memoryview | None]:
    """The replies of dump `seq` in order, then None at its end (OSError for an error report)."""
    for g in grams:
        for kind, _flags, s, payload in wire.messages(g):
            if s != seq:
                continue
            if kind in (wire.NLMSG_ERROR, wire.NLMSG_DONE):
                if len(payload) >= 4 and wire.error_code(payload):
                    raise OSError(wire.error_code(payload), "netlink")
                yield None
                return
            yield payload


def general_dests(grams: Sequence[bytes], seq: int, af: int) -> tuple[list[RealServer], list]:
    servers, conns = [], []
    for payload in _replies(grams, seq):
        if payload is None:
            return servers, conns
        server, c = wire.decode_dest(payload, af)
        servers.append(server)
        if c.total:
            conns.append((server, c))
    return "incomplete"  # type: ignore[return-value]


def general_services(grams: Sequence[bytes], seq: int) -> list[VirtualService]:
    out = []
    for payload in _replies(grams, seq):
        if payload is None:
            return out
        if (svc := wire.decode_service(payload)) is not None:
            out.append(svc)
    return "incomplete"  # type: ignore[return-value]


def outcome(fn, *args):
    try:
        return fn(*args)
    except (OSError, ValueError) as e:
        return type(e).__name__


def read_dests(reader: dumps.DestReader, svc: VirtualService, grams: Sequence[bytes], seq: int):
    reader.start(svc, seq)
    for g in grams:
        if reader.feed(g):
            return reader.result()
    return "incomplete"


def read_services(reader: dumps.ServiceReader, grams: Sequence[bytes], seq: int) -> list[VirtualService]:
    reader.start(seq)
    for g in grams:
        if reader.feed(g):
            return reader.result()
    return "incomplete"  # type: ignore[return-value]


def by_key(conns: list) -> list:
    return sorted(((r.key, c) for r, c in conns), key=lambda x: x[0])


def assert_same_dests(reader: dumps.DestReader, svc: VirtualService, grams: Sequence[bytes], seq: int) -> None:
    want = outcome(general_dests, grams, seq, wire.af_of(svc.address))
    got = outcome(read_dests, reader, svc, grams, seq)
    if isinstance(want, str) or isinstance(got, str):
        assert got == want
        return
    servers, conns = want
    full, counted = got
    assert full == VirtualService(svc.protocol, svc.address, svc.port, svc.scheduler, svc.persistence_timeout,
                                  tuple(servers))
    assert full.real_servers == VirtualService(svc.protocol, svc.address, svc.port,
                                               real_servers=tuple(servers)).real_servers
    assert by_key(counted) == by_key(conns)


# ---- recorded from Linux 6.1 (x86_64, in the qemu VM of tests/kernel)


def _recorded_table() -> dict[tuple, list[fk.Dest]]:
    t = {
        ("tcp", "10.97.0.1", 80): [
            fk.Dest(rs("10.244.0.1", 8080, 1)), fk.Dest(rs("10.244.0.2", 80, 7, Forwarding.DR)),
            fk.Dest(rs("10.244.0.3", 80, 0, Forwarding.TUN)),
            fk.Dest(rs("10.244.0.4", 8080, 3), u_thresh=100, l_thresh=10),
            fk.Dest(rs("10.244.0.5", 80, 2, Forwarding.TUN), tun_type=1, tun_port=6080),
        ],
        ("udp", "10.97.0.2", 53): [fk.Dest(rs("10.244.1.1", 53))],
        ("sctp", "10.97.0.3", 3868): [fk.Dest(rs("10.244.2.1", 3868))],
        ("tcp", "fd00::10", 443): [fk.Dest(rs("fd01::5", 8443, 4)), fk.Dest(rs("fd01::6", 443, 1, Forwarding.DR))],
        ("tcp", "10.97.0.4", 80): [],
        ("fwmark", "7", 0): [fk.Dest(rs("10.244.3.1", 0, 1, Forwarding.DR))],
    }
    return t


RECORDED_SERVICES = {
    ("tcp", "10.97.0.1", 80): vs("10.97.0.1", 80),
    ("udp", "10.97.0.2", 53): vs("10.97.0.2", 53, protocol=Protocol.UDP, scheduler=Scheduler.SH, persistence=300),
    ("sctp", "10.97.0.3", 3868): vs("10.97.0.3", 3868, protocol=Protocol.SCTP, scheduler=Scheduler.MH),
    ("tcp", "fd00::10", 443): vs("fd00::10", 443, scheduler=Scheduler.WLC),
    ("tcp", "10.97.0.4", 80): vs("10.97.0.4", 80, scheduler=Scheduler.WRR),
}


def _grams(entry: dict) -> list[bytes]:
    return [bytes.fromhex(h) for h in entry["bufs"]]


def _messages(grams: Sequence[bytes]) -> list[bytes]:
    out = []
    for g in grams:
        i = 0
        while i < len(g):
            n = struct.unpack_from("=I", g, i)[0]
            out.append(g[i : i + n])
            i += (n + 3) & ~3
    return out


def test_recording_is_what_the_fake_writes() -> None:
    assert (RECORDED["kernel"], RECORDED["family"], RECORDED["pid"]) == ("6.1.0-57-amd64", fk.FAMILY, fk.PID)
    dests = _recorded_table()
    for entry in RECORDED["dests"]:
        key, seq = tuple(entry["service"]), entry["seq"]
        want = sorted(fk.reply(wire.CMD_NEW_DEST, seq, fk.dest_nest(d)) for d in dests[key])
        got = _messages(_grams(entry))
        assert sorted(got[:-1]) == want and got[-1] == fk.done(seq)
    seq = RECORDED["services"]["seq"]
    want = sorted([fk.reply(wire.CMD_NEW_SERVICE, seq, fk.service_nest(s)) for s in RECORDED_SERVICES.values()]
                  + [fk.reply(wire.CMD_NEW_SERVICE, seq, fk.service_nest(fwmark=7))])
    got = _messages(_grams(RECORDED["services"]))
    assert sorted(got[:-1]) == want and got[-1] == fk.done(seq)
    assert _messages(_grams(RECORDED["missing"])) == [fk.done(RECORDED["missing"]["seq"])]


def test_recorded_dumps_read_as_the_general_path_reads_them() -> None:
    services, dests = dumps.ServiceReader(), dumps.DestReader()
    entry = RECORDED["services"]
    for _ in range(3):  # learns the layouts, fills the caches, then reads from them
        got = read_services(services, _grams(entry), entry["seq"])
        assert got == general_services(_grams(entry), entry["seq"])
        assert sorted(got, key=lambda s: s.key) == sorted(RECORDED_SERVICES.values(), key=lambda s: s.key)
        for d in RECORDED["dests"]:
            key = tuple(d["service"])
            if key in RECORDED_SERVICES:
                svc = next(s for s in got if s.key == RECORDED_SERVICES[key].key)
                assert_same_dests(dests, svc, _grams(d), d["seq"])
                full, _ = dests.result()
                assert set(full.real_servers) == {x.server for x in _recorded_table()[key]}
    assert dests._layout is not None and services._tail is not None  # the fast paths were taken
    assert dests.general == 1 and services.decoded == 6  # learning, then each service once
    assert dests._layout.size == 356


def test_a_verification_read_through_the_fake_kernel() -> None:
    t = big_table(50, 4)
    svc = t.services[3]
    ref = ServerRef(svc.key, svc.real_servers[1].key)
    sock = fk.FakeSocket(t, {ref: Connections(5, 9)})
    backend = fk.with_socket(sock)
    for _ in range(3):
        observed = backend.read()
        assert observed.table == t and observed.connections == {ref: Connections(5, 9)}
        # the first service's dump taught the layout; every other one took the fast path
        assert backend._dest_reader.general == 1 and backend._service_reader.decoded == 50
    sock.set(t, {ref: Connections(0, 1)})  # counts change, the table does not
    assert backend.read().connections == {ref: Connections(0, 1)}
    smaller = Table((*t.services[:3], vs(str(svc.address), svc.port, *svc.real_servers[:2]), *t.services[4:]))
    sock.set(smaller)
    assert backend.read().table == smaller
    assert backend.read(owned=lambda a: a == svc.address).table == Table((smaller.services[3],))


def test_a_reply_that_does_not_decode_is_an_ipvs_error_and_drops_the_socket() -> None:
    t = big_table(3, 2)
    sock = fk.FakeSocket(t)
    backend = fk.with_socket(sock)
    backend.read()
    first = t.services[0]
    broken = fk.reply(wire.CMD_NEW_DEST, 0, fk.attr(wire.ATTR_DEST, fk.be16(wire.DEST_PORT, 80)))
    sock.dests = lambda s: []
    sock._answers[wire.dump_dests(first, fk.FAMILY, 0)[:8] + wire.dump_dests(first, fk.FAMILY, 0)[12:]] = [
        fk._split(broken + fk.done(0))]
    with pytest.raises(IpvsError, match="without a real server address"):
        backend.read()
    assert backend._genl is None  # the next use opens a fresh socket


def test_a_netlink_error_report_is_an_os_error() -> None:
    reader = dumps.DestReader()
    with pytest.raises(OSError):
        read_dests(reader, vs(), [fk.done(7, errno=16)], 7)
    err = struct.pack("=IHHIIi", 20, wire.NLMSG_ERROR, 0, 8, fk.PID, -16)
    with pytest.raises(OSError):
        read_dests(reader, vs(), [err], 8)


# ---- generated replies of every shape

ADDRS = [ipaddress.ip_address(a) for a in ("10.244.0.1", "10.244.0.2", "10.244.0.3", "fd01::5", "fd01::6")]
SERVICES = [vs("10.97.0.1", 80), vs("fd00::10", 443, scheduler=Scheduler.SH),
            vs("10.97.0.2", 53, protocol=Protocol.UDP, persistence=300)]

dest = st.builds(
    fk.Dest,
    server=st.builds(RealServer, address=st.sampled_from(ADDRS), port=st.sampled_from([0, 80, 8080, 65535]),
                     weight=st.sampled_from([0, 1, 7, 2**31 - 1]), forwarding=st.sampled_from(Forwarding)),
    active=st.sampled_from([0, 0, 3, 2**32 - 1]), inactive=st.sampled_from([0, 0, 4]),
    persist=st.sampled_from([0, 2]), tun_type=st.sampled_from([0, 1, 2]), tun_port=st.sampled_from([0, 6080]),
    tun_flags=st.sampled_from([0, 1]), u_thresh=st.sampled_from([0, 100]), l_thresh=st.sampled_from([0, 10]),
    seed=st.integers(0, 3),
)
SHAPES = ["linux", "linux", "linux", "shuffled", "nested-flag", "no-persist", "no-af", "extra-attr",
          "duplicate-weight", "local-node", "no-addr"]


@st.composite
def reply_of(draw: st.DrawFn, d: fk.Dest, seq: int) -> bytes:
    shape = draw(st.sampled_from(SHAPES))
    parts = fk.dest_attrs(d)
    kind = wire.ATTR_DEST
    if shape == "shuffled":
        parts = draw(st.permutations(parts))
    elif shape == "nested-flag":
        kind |= NESTED
    elif shape == "no-persist":
        del parts[11]
    elif shape == "no-af":
        del parts[12]
    elif shape == "extra-attr":
        parts.insert(draw(st.integers(0, len(parts))), fk.u32(99, 5))
    elif shape == "duplicate-weight":
        parts.append(fk.u32(wire.DEST_WEIGHT, 3))
    elif shape == "local-node":
        parts[2] = fk.u32(wire.DEST_FWD_METHOD, 1)
    elif shape == "no-addr":
        del parts[0]
    return fk.reply(wire.CMD_NEW_DEST, seq, fk.attr(kind, b"".join(parts)))


@st.composite
def dumps_of(draw: st.DrawFn, seq: int) -> list[bytes]:
    ds = draw(st.lists(dest, max_size=6))
    msgs = [draw(reply_of(d, seq)) for d in ds]
    if draw(st.booleans()):  # a stale reply of another dump
        msgs.insert(draw(st.integers(0, len(msgs))), fk.reply(wire.CMD_NEW_DEST, seq + 1000, fk.dest_nest(ds[0]))
                    if ds else fk.done(seq + 1000))
    room = draw(st.sampled_from([fk.SKB, 1000, 400]))
    return fk.datagrams(msgs, seq, room, done_apart=draw(st.booleans()))


@settings(max_examples=300)
@given(rounds=st.lists(st.tuples(st.sampled_from(range(len(SERVICES))), st.data()), min_size=1, max_size=6),
       fresh=st.booleans())
def test_dest_reader_agrees_with_the_general_path(rounds: list, fresh: bool) -> None:
    reader = dumps.DestReader()
    # a warm reader (layout learned, caches full) as in a running agent, or a cold one
    if not fresh:
        assert_same_dests(reader, SERVICES[0], fk.datagrams([fk.reply(wire.CMD_NEW_DEST, 1, fk.dest_nest(
            fk.Dest(rs("10.244.0.1"))))], 1), 1)
    for k, (i, data) in enumerate(rounds):
        seq = 10 + k
        assert_same_dests(reader, SERVICES[i], data.draw(dumps_of(seq)), seq)


@settings(max_examples=300)
@given(ds=st.lists(dest, min_size=1, max_size=5), at=st.integers(0, 10**6), value=st.integers(0, 255),
       width=st.sampled_from([1, 2, 4]))
def test_a_corrupted_reply_reads_as_the_general_path_reads_it(ds: list, at: int, value: int, width: int) -> None:
    reader = dumps.DestReader()
    svc = SERVICES[0]
    good = fk.datagrams([fk.reply(wire.CMD_NEW_DEST, 5, fk.dest_nest(d)) for d in ds], 5)
    assert_same_dests(reader, svc, good, 5)  # learns, caches
    assert_same_dests(reader, svc, good, 5)
    g = bytearray(good[0])
    pos = at % len(g)
    g[pos : pos + width] = bytes([value]) * len(g[pos : pos + width])
    assert_same_dests(reader, svc, [bytes(g), *good[1:]], 5)
    assert_same_dests(reader, svc, good, 5)


def test_same_identity_bytes_in_another_family_is_another_server() -> None:
    """10.0.0.1 and 0a00:0001:: fill the 16-byte address attribute alike: the af attribute decides."""
    reader = dumps.DestReader()
    v4, v6 = rs("10.0.0.1", 80), rs("a00:1::", 80)
    for server in (v4, v6, v4, v6):
        grams = fk.datagrams([fk.reply(wire.CMD_NEW_DEST, 3, fk.dest_nest(fk.Dest(server)))], 3)
        full, _ = read_dests(reader, SERVICES[0], grams, 3)
        assert full.real_servers == (server,)


SVC_SHAPES = ["linux", "linux", "shuffled", "pe-name", "no-stats", "unknown-sched", "fwmark"]


@st.composite
def service_reply(draw: st.DrawFn, seq: int) -> bytes:
    svc = draw(st.sampled_from([*SERVICES, vs("10.97.0.9", 8443, scheduler=Scheduler.MH)]))
    shape = draw(st.sampled_from(SVC_SHAPES))
    seed = draw(st.integers(0, 3))
    nest = fk.service_nest(svc, seed=seed)
    if shape == "fwmark":
        nest = fk.service_nest(fwmark=draw(st.integers(1, 9)), seed=seed)
    body = nest[4:]
    attrs = [body[i : i + ((struct.unpack_from("=H", body, i)[0] + 3) & ~3)] for i in _offsets(body)]
    if shape == "shuffled":
        attrs = draw(st.permutations(attrs))
    elif shape == "pe-name":
        attrs.insert(5, fk.attr(11, b"sip\0"))
    elif shape == "no-stats":
        attrs = attrs[:-2]
    elif shape == "unknown-sched":
        attrs = [fk.attr(wire.SVC_SCHED_NAME, b"fo\0") if a[2] == wire.SVC_SCHED_NAME else a for a in attrs]
    return fk.reply(wire.CMD_NEW_SERVICE, seq, fk.attr(wire.ATTR_SERVICE, b"".join(attrs)))


def _offsets(body: bytes) -> list[int]:
    out, i = [], 0
    while i < len(body):
        out.append(i)
        i += (struct.unpack_from("=H", body, i)[0] + 3) & ~3
    return out


@settings(max_examples=300)
@given(data=st.data(), rounds=st.integers(1, 4))
def test_service_reader_agrees_with_the_general_path(data: st.DataObject, rounds: int) -> None:
    reader = dumps.ServiceReader()
    for k in range(rounds):
        seq = 20 + k
        msgs = data.draw(st.lists(service_reply(seq), max_size=6))
        grams = fk.datagrams(msgs, seq, data.draw(st.sampled_from([fk.SKB, 700])))
        if data.draw(st.booleans()) and grams[0]:
            g = bytearray(grams[0])
            pos = data.draw(st.integers(0, len(g) - 1))
            g[pos] = data.draw(st.integers(0, 255))
            grams[0] = bytes(g)
        assert outcome(read_services, reader, grams, seq) == outcome(general_services, grams, seq)


def test_services_are_the_same_objects_from_dump_to_dump() -> None:
    """What lets DestReader reuse a service's real servers by the service's identity."""
    reader = dumps.ServiceReader()
    grams = fk.datagrams([fk.reply(wire.CMD_NEW_SERVICE, 1, fk.service_nest(s, seed=1)) for s in SERVICES], 1)
    read_services(reader, grams, 1)
    first = read_services(reader, grams, 1)
    grams = fk.datagrams([fk.reply(wire.CMD_NEW_SERVICE, 2, fk.service_nest(s, seed=2)) for s in SERVICES], 2)
    again = read_services(reader, grams, 2)
    assert again == first and all(a is b for a, b in zip(again, first, strict=True))


def test_af_of_the_service_decides_a_reply_without_af() -> None:
    reader = dumps.DestReader()
    parts = fk.dest_attrs(fk.Dest(rs("fd01::5", 80)))
    del parts[12]
    grams = fk.datagrams([fk.reply(wire.CMD_NEW_DEST, 4, fk.attr(wire.ATTR_DEST, b"".join(parts)))], 4)
    full, _ = read_dests(reader, SERVICES[1], grams, 4)
    assert full.real_servers == (rs("fd01::5", 80),)
    assert socket.AF_INET6 == wire.af_of(SERVICES[1].address)


def test_a_layout_learned_from_an_odd_first_reply_is_learned_again() -> None:
    reader = dumps.DestReader()
    d = fk.Dest(rs("10.244.0.1"))
    odd = fk.reply(wire.CMD_NEW_DEST, 1, fk.attr(wire.ATTR_DEST, b"".join([*fk.dest_attrs(d), fk.u32(99, 1)])))
    assert_same_dests(reader, SERVICES[0], fk.datagrams([odd], 1), 1)
    for seq in range(2, 6):
        assert_same_dests(reader, SERVICES[0], fk.datagrams([fk.reply(wire.CMD_NEW_DEST, seq, fk.dest_nest(d))], seq),
                          seq)
    assert reader.general == 2  # the odd dump, then the first usual one (learned again)

    services = dumps.ServiceReader()
    bare = fk.service_nest(SERVICES[0])
    no_stats = fk.attr(wire.ATTR_SERVICE, bare[4 : len(bare) - 92 - 124])
    read_services(services, fk.datagrams([fk.reply(wire.CMD_NEW_SERVICE, 1, no_stats)], 1), 1)
    for seq in range(2, 6):
        got = read_services(services, fk.datagrams([fk.reply(wire.CMD_NEW_SERVICE, seq, bare)], seq), seq)
        assert got == [bare_service(SERVICES[0])]
    assert services.decoded == 2


def bare_service(svc: VirtualService) -> VirtualService:
    return VirtualService(svc.protocol, svc.address, svc.port, svc.scheduler, svc.persistence_timeout)


def test_caches_hold_what_the_last_full_read_saw() -> None:
    sock = fk.FakeSocket(Table())
    backend = fk.with_socket(sock)
    for k in range(4):  # every read finds other services
        t = Table(tuple(vs(f"10.98.{k}.{i + 1}", 80, rs(f"10.245.{k}.{i + 1}")) for i in range(20)))
        sock.set(t)
        assert backend.read().table == t
        assert len(backend._dest_reader._services) == (19 if k == 0 else 20)  # the first dump taught the layout
    services = dumps.ServiceReader()
    for k in range(1100):
        svc = vs(f"10.99.{k // 250}.{k % 250 + 1}", 80)
        assert read_services(services, fk.datagrams([fk.reply(wire.CMD_NEW_SERVICE, k, fk.service_nest(svc))], k),
                             k) == [svc]
    assert len(services._cache) <= 2 + 1024
