"""Our struct-packed IPVS messages are byte-identical to pyroute2's (no kernel needed)."""

from __future__ import annotations

import ipaddress
import socket
import struct

import pytest
from pyroute2 import IPVSDest, IPVSService
from pyroute2.netlink.generic import ipvs as p

from ipvs import wire
from ipvs.diff import AddServer, AddService, DeleteServer, DeleteService, DrainServer, EditServer, EditService, bare
from ipvs.model import Forwarding, Protocol, RealServer, Scheduler, VirtualService
from tests.ipvs.helpers import rs, vs

FAMILY, SEQ = 0x1E, 42
PROTO = {Protocol.TCP: socket.IPPROTO_TCP, Protocol.UDP: socket.IPPROTO_UDP, Protocol.SCTP: 132}
FWD = {Forwarding.NAT: 0, Forwarding.TUN: 2, Forwarding.DR: 3}


def pyroute2_bytes(cmd: int, flags: int, nlas: list[tuple[str, object]]) -> bytes:
    msg = p.ipvsmsg()
    msg["cmd"], msg["version"], msg["attrs"] = cmd, 1, nlas
    msg["header"]["type"], msg["header"]["flags"] = FAMILY, flags
    msg["header"]["sequence_number"], msg["header"]["pid"] = SEQ, 0
    msg.encode()
    return bytes(msg.data)


def p_service(svc: VirtualService) -> IPVSService:
    flags = {"flags": 1 if svc.persistence_timeout else 0, "mask": 0xFFFF}
    return IPVSService(addr=str(svc.address), port=svc.port, protocol=PROTO[svc.protocol],
                       sched_name=svc.scheduler.value, timeout=svc.persistence_timeout, flags=flags)


def p_dest(r: RealServer) -> IPVSDest:
    return IPVSDest(addr=str(r.address), port=r.port, fwd_method=FWD[r.forwarding], weight=r.weight)


SERVICES = [
    pytest.param(vs("10.97.0.1", 80), id="tcp rr"),
    pytest.param(vs("10.97.0.1", 53, protocol=Protocol.UDP, scheduler=Scheduler.SH, persistence=300), id="udp sh"),
    pytest.param(vs("10.97.0.1", 3868, protocol=Protocol.SCTP, scheduler=Scheduler.MH), id="sctp mh"),
]
SERVERS = [
    pytest.param(rs("10.244.0.1"), id="nat"),
    pytest.param(rs("10.244.0.1", 9090, 7, Forwarding.DR), id="dr"),
    pytest.param(rs("10.244.0.1", 1, 0, Forwarding.TUN), id="tun weight 0"),
    pytest.param(rs("fd01::5", 8080, 3), id="ipv6 dest"),
]


@pytest.mark.parametrize("svc", SERVICES)
def test_service_messages(svc: VirtualService) -> None:
    full = [("IPVS_CMD_ATTR_SERVICE", p_service(svc).dump_nla())]
    key = [("IPVS_CMD_ATTR_SERVICE", p_service(svc).dump_key())]
    assert wire.encode(AddService(svc), family=FAMILY, seq=SEQ) == pyroute2_bytes(1, 0x605, full)
    assert wire.encode(EditService(svc, svc), family=FAMILY, seq=SEQ) == pyroute2_bytes(2, 0x105, full)
    assert wire.encode(DeleteService(svc), family=FAMILY, seq=SEQ) == pyroute2_bytes(3, 0x5, key)


@pytest.mark.parametrize("svc", SERVICES)
@pytest.mark.parametrize("server", SERVERS)
def test_dest_messages(svc: VirtualService, server: RealServer) -> None:
    key = ("IPVS_CMD_ATTR_SERVICE", p_service(svc).dump_key())
    dest = ("IPVS_CMD_ATTR_DEST", p_dest(server).dump_nla())
    dkey = ("IPVS_CMD_ATTR_DEST", {"attrs": [
        ("IPVS_DEST_ATTR_ADDR", str(server.address)),
        ("IPVS_DEST_ATTR_ADDR_FAMILY", wire.af_of(server.address)),
        ("IPVS_DEST_ATTR_PORT", server.port),
    ]})
    assert wire.encode(AddServer(svc, server), family=FAMILY, seq=SEQ) == pyroute2_bytes(5, 0x605, [key, dest])
    assert wire.encode(EditServer(svc, server), family=FAMILY, seq=SEQ) == pyroute2_bytes(6, 0x105, [key, dest])
    assert wire.encode(DrainServer(svc, server), family=FAMILY, seq=SEQ) == pyroute2_bytes(6, 0x105, [key, dest])
    assert wire.encode(DeleteServer(svc, server), family=FAMILY, seq=SEQ) == pyroute2_bytes(7, 0x5, [key, dkey])


def test_without_ack_only_the_flag_differs() -> None:
    op = AddServer(bare(vs()), rs("10.0.0.1"))
    a, b = wire.encode(op, family=FAMILY, seq=1), wire.encode(op, family=FAMILY, seq=1, ack=False)
    assert a[:6] + a[8:] == b[:6] + b[8:] and a[6] == b[6] | wire.NLM_F_ACK


def test_ipv6_service_carries_netmask_128() -> None:
    msg = wire.encode(AddService(vs("fd00::10", 80)), family=FAMILY, seq=1)
    svc = wire.attrs(wire.attrs(msg, 20)[wire.ATTR_SERVICE])
    assert int.from_bytes(svc[wire.SVC_NETMASK], "little") == 128
    assert bytes(svc[wire.SVC_ADDR]) == ipaddress.ip_address("fd00::10").packed


def _reply(attrs: bytes) -> bytes:
    return b"\x01\x01\x00\x00" + attrs  # genlmsghdr + attributes, as the kernel sends


@pytest.mark.parametrize("svc", [*SERVICES, pytest.param(vs("fd00::10", 443), id="ipv6")])
def test_decode_service_round_trip(svc: VirtualService) -> None:
    full = wire.encode(AddService(svc), family=FAMILY, seq=1)[16:]
    assert wire.decode_service(full) == svc


@pytest.mark.parametrize("server", SERVERS)
def test_decode_dest_reads_the_real_forwarding_and_counts(server: RealServer) -> None:
    dest = wire._dest_full(server)
    extra = wire._u32(wire.DEST_ACTIVE_CONNS, 3) + wire._u32(wire.DEST_INACT_CONNS, 4)
    patched = wire._NLA.pack(len(dest) + len(extra), wire.ATTR_DEST) + dest[4:] + extra
    got, conns = wire.decode_dest(_reply(patched), socket.AF_INET)
    assert got == server and (conns.active, conns.inactive) == (3, 4)


def test_decode_skips_fwmark_services() -> None:
    fw = wire.nla(wire.ATTR_SERVICE, wire._u16(wire.SVC_AF, 2) + wire._u32(wire.SVC_FWMARK, 7)
                   + wire.nla(wire.SVC_SCHED_NAME, b"rr\0"))
    assert wire.decode_service(_reply(fw)) is None


def _linux_dest(server: RealServer, active: int, inactive: int, *, persist: bool = True) -> bytes:
    """A GET_DEST reply laid out as Linux's ip_vs_genl_fill_dest writes it (addr is a 16-byte
    union nf_inet_addr, then port, fwd, weight, tunnel, thresholds, counters, family, stats)."""
    def attr(kind: int, fmt: str, *v: object) -> bytes:
        data = struct.pack(fmt, *v)
        return struct.pack("=HH", 4 + len(data), kind) + data + b"\0" * (-len(data) & 3)

    fwd = {Forwarding.NAT: 0, Forwarding.TUN: 2, Forwarding.DR: 3}[server.forwarding]
    family = 2 if server.address.version == 4 else 10
    body = (attr(1, "16s", server.address.packed) + attr(2, "!H", server.port) + attr(3, "=I", fwd)
            + attr(4, "=I", server.weight) + attr(13, "=B", 0) + attr(14, "!H", 0) + attr(15, "=H", 0)
            + attr(5, "=I", 0) + attr(6, "=I", 0) + attr(7, "=I", active) + attr(8, "=I", inactive)
            + (attr(9, "=I", 0) if persist else b"") + attr(11, "=H", family) + attr(10 | 0x8000, "40s", b""))
    return b"\x08\x01\x00\x00" + struct.pack("=HH", 4 + len(body), 2 | 0x8000) + body


@pytest.mark.parametrize("persist", [True, False], ids=["linux-layout", "other-layout"])
@pytest.mark.parametrize("server", [*SERVERS, rs("fd00::5", 443, 7, Forwarding.DR)])
def test_decode_dest_of_a_kernel_reply(server: RealServer, persist: bool) -> None:
    for active, inactive in ((0, 0), (5, 9)):
        got, conns = wire.decode_dest(_linux_dest(server, active, inactive, persist=persist), socket.AF_INET)
        assert got == server and (conns.active, conns.inactive) == (active, inactive)


def test_decode_dest_without_af_takes_the_service_family_every_time() -> None:
    """The real-server cache is keyed by the family used, not the reply's (absent) attribute:
    the same 16 address bytes are 253.1.0.0 under an IPv4 service and fd01:: under an IPv6 one."""
    v6 = rs("fd01::", 80, 0)
    body = wire._NLA.pack(20, wire.DEST_ADDR) + v6.address.packed + wire._be16(wire.DEST_PORT, 80)
    reply = _reply(wire._NLA.pack(4 + len(body), wire.ATTR_DEST) + body)
    assert wire.decode_dest(reply, socket.AF_INET)[0].address == ipaddress.ip_address("253.1.0.0")
    assert wire.decode_dest(reply, socket.AF_INET6)[0] == v6


def test_decode_service_without_port_is_a_value_error() -> None:
    svc = wire.nla(wire.ATTR_SERVICE, wire._u16(wire.SVC_AF, 2) + wire._u16(wire.SVC_PROTOCOL, 6)
                   + wire.nla(wire.SVC_ADDR, bytes(16)) + wire.nla(wire.SVC_SCHED_NAME, b"rr\0"))
    with pytest.raises(ValueError, match="without a port"):
        wire.decode_service(_reply(svc))
