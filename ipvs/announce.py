"""L2 announcement of VIPs: this node answers ARP (IPv4) / NDP (IPv6) for the VIPs it announces,
and for no other.

    a = Announcer("eth0", lifetime=2)
    a.ensure_sysctls()            # arp_ignore=1, arp_announce=2 on all and eth0 (only ever raised)
    a.announce(vips) -> newly     # VIP/32 (/128 nodad) on eth0 with a lifetime; gratuitous ARP /
                                  # unsolicited NA for the newly added ones; renews the others
    a.gratuitous(vips)            # send the gratuitous ARP / unsolicited NA again
    a.withdraw(vips)              # remove them from eth0 (the dummy link keeps them for IPVS)
    a.announced() -> set          # the /32 and /128 addresses on eth0 now

Every node binds all VIPs on the dummy link (IPVS needs them local). The kernel answers an ARP
request for any local address on any link unless arp_ignore=1 ("only for addresses of the
incoming link"), so with it set, a node answers for a VIP only while the VIP is also on its
uplink, which is exactly while it is the elected announcer. IPv6 needs no setting: Linux answers
a Neighbor Solicitation only for addresses on the receiving link (ipv6_get_ifaddr, strict).
arp_announce=2 keeps the node from using a VIP as the source of its own ARP requests.

The address on the uplink carries a finite valid lifetime that each announce() renews: if the
process dies, the kernel drops the VIP by itself after `lifetime` seconds, so a crashed agent on
a live node stops answering before another node takes the VIP over (its Lease is longer).

Nothing here knows Kubernetes or who should announce what.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import struct
from collections.abc import Iterable
from pathlib import Path

from ipvs import netlink, wire
from ipvs.errors import IpvsError
from ipvs.model import IPAddress

ETH_P_ARP = 0x0806
ARPOP_REQUEST, ARPOP_REPLY = 1, 2
BROADCAST = b"\xff" * 6
ND_NEIGHBOR_ADVERT, ND_OPT_TARGET_LL_ADDR, NA_FLAG_OVERRIDE = 136, 2, 0x20000000
ALL_NODES = "ff02::1"
IFA_CACHEINFO = 6
_CACHEINFO = struct.Struct("=IIII")  # preferred, valid, cstamp, tstamp
SYSCTLS = {"arp_ignore": 1, "arp_announce": 2}


def arp_frame(mac: bytes, vip: ipaddress.IPv4Address, op: int) -> bytes:
    """A broadcast gratuitous ARP for `vip` at `mac`: a request (RFC 5227 announcement, target
    hardware address zero) or a reply (target hardware address broadcast, as Linux's arp_is_garp
    wants for replies). Receivers with an entry for the VIP override it at once."""
    tha = BROADCAST if op == ARPOP_REPLY else b"\0" * 6
    eth = BROADCAST + mac + struct.pack("!H", ETH_P_ARP)
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, op, mac, vip.packed, tha, vip.packed)
    return eth + arp


def neighbor_advert(mac: bytes, vip: ipaddress.IPv6Address) -> bytes:
    """An unsolicited Neighbor Advertisement (override flag, target link-layer address option);
    the kernel fills in the ICMPv6 checksum of a raw ICMPv6 socket."""
    return (struct.pack("!BBHI", ND_NEIGHBOR_ADVERT, 0, 0, NA_FLAG_OVERRIDE) + vip.packed
            + struct.pack("!BB6s", ND_OPT_TARGET_LL_ADDR, 1, mac))


def parse_arp(frame: bytes) -> tuple[int, bytes, ipaddress.IPv4Address, ipaddress.IPv4Address] | None:
    """(op, sender MAC, sender IP, target IP) of an Ethernet ARP frame for IPv4, else None."""
    if len(frame) < 42 or frame[12:14] != struct.pack("!H", ETH_P_ARP):
        return None
    _htype, ptype, hlen, plen, op, sha, spa, _tha, tpa = struct.unpack_from("!HHBBH6s4s6s4s", frame, 14)
    if ptype != 0x0800 or hlen != 6 or plen != 4:
        return None
    return op, sha, ipaddress.IPv4Address(spa), ipaddress.IPv4Address(tpa)


def _address_msg(seq: int, *, add: bool, index: int, addr: IPAddress, lifetime: int) -> bytes:
    v6 = addr.version == 6
    body = struct.pack("=BBBBI", socket.AF_INET6 if v6 else socket.AF_INET, 128 if v6 else 32,
                       netlink.IFA_F_NODAD if v6 else 0, 0, index)
    if not v6:
        body += wire.nla(netlink.IFA_LOCAL, addr.packed)
    body += wire.nla(netlink.IFA_ADDRESS, addr.packed)
    flags = wire.NLM_F_REQUEST | wire.NLM_F_ACK
    if add:
        # IPv6: preferred lifetime 0 (deprecated) so the node never picks the VIP as the source of
        # its own traffic; it still answers Neighbor Solicitations for it.
        body += wire.nla(IFA_CACHEINFO, _CACHEINFO.pack(0 if v6 else lifetime, lifetime, 0, 0))
        flags |= wire.NLM_F_CREATE | wire.NLM_F_REPLACE
    kind = netlink.RTM_NEWADDR if add else netlink.RTM_DELADDR
    return struct.pack("=IHHII", 16 + len(body), kind, flags, seq, 0) + body


class Announcer:
    def __init__(self, uplink: str, *, lifetime: int = 2, proc_sys: Path = Path("/proc/sys")) -> None:
        if lifetime < 1:
            raise ValueError("lifetime must be at least 1 s (the kernel counts whole seconds)")
        self.uplink = uplink
        self.lifetime = lifetime
        self.proc_sys = proc_sys
        self._rtnl: netlink.Socket | None = None

    def close(self) -> None:
        if self._rtnl is not None:
            self._rtnl.close()
            self._rtnl = None

    def ensure_sysctls(self) -> tuple[str, ...]:
        """Raise arp_ignore/arp_announce on `all` and the uplink (the kernel uses the larger of the
        two); never lowers them. Returns the names changed."""
        changed = []
        for conf in ("all", self.uplink):
            for key, want in SYSCTLS.items():
                path = self.proc_sys / "net/ipv4/conf" / conf / key
                try:
                    if int(path.read_text()) < want:
                        path.write_text(f"{want}\n")
                        changed.append(f"net.ipv4.conf.{conf}.{key}")
                except OSError as e:
                    raise IpvsError(f"sysctl net.ipv4.conf.{conf}.{key}={want}: {e}") from e
        return tuple(changed)

    def announce(self, vips: Iterable[IPAddress]) -> set[IPAddress]:
        """Put the VIPs on the uplink (or renew their lifetime) and send gratuitous ARP /
        unsolicited NA for those that were not there. Returns the newly added ones."""
        vips = set(vips)
        if not vips:
            return set()
        index = self._index()
        present = self._present(index)
        s = self._route()
        for vip in sorted(vips, key=_order):
            seq = s.seq()
            try:
                s.request(_address_msg(seq, add=True, index=index, addr=vip, lifetime=self.lifetime), seq)
            except OSError as e:
                raise IpvsError(f"adding {vip} to {self.uplink}: {e}") from e
        new = vips - present
        self.gratuitous(new)
        return new

    def withdraw(self, vips: Iterable[IPAddress]) -> set[IPAddress]:
        """Remove the VIPs from the uplink; returns those that were there."""
        vips = set(vips)
        if not vips:
            return set()
        index = self._index()
        s = self._route()
        removed = set()
        for vip in sorted(vips, key=_order):
            seq = s.seq()
            try:
                s.request(_address_msg(seq, add=False, index=index, addr=vip, lifetime=0), seq)
                removed.add(vip)
            except OSError as e:
                if e.errno != errno.EADDRNOTAVAIL:
                    raise IpvsError(f"removing {vip} from {self.uplink}: {e}") from e
        return removed

    def announced(self) -> set[IPAddress]:
        return self._present(self._index())

    def gratuitous(self, vips: Iterable[IPAddress]) -> None:
        v4 = sorted(v for v in vips if isinstance(v, ipaddress.IPv4Address))
        v6 = sorted(v for v in vips if isinstance(v, ipaddress.IPv6Address))
        if not v4 and not v6:
            return
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP)) as raw:
            raw.bind((self.uplink, ETH_P_ARP))
            mac: bytes = raw.getsockname()[4]
            for vip in v4:
                for op in (ARPOP_REQUEST, ARPOP_REPLY):
                    raw.send(arp_frame(mac, vip, op))
        if v6:
            index = self._index()
            with socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6) as icmp:
                icmp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)  # NDP drops < 255
                icmp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
                for vip in v6:
                    try:
                        icmp.sendto(neighbor_advert(mac, vip), (ALL_NODES, 0, 0, index))
                    except OSError as e:
                        raise IpvsError(f"unsolicited NA for {vip} on {self.uplink}: {e}") from e

    # ---- netlink

    def _route(self) -> netlink.Socket:
        if self._rtnl is None:
            self._rtnl = netlink.Socket(netlink.NETLINK_ROUTE, rcvbuf=1 << 20)
        return self._rtnl

    def _index(self) -> int:
        try:
            return socket.if_nametoindex(self.uplink)
        except OSError as e:
            raise IpvsError(f"no link {self.uplink}: {e}") from e

    def _present(self, index: int) -> set[IPAddress]:
        try:
            return netlink.host_addresses(self._route(), index)
        except OSError as e:
            raise IpvsError(f"addresses of {self.uplink}: {e}") from e


def _order(a: IPAddress) -> tuple[int, int]:
    return a.version, int(a)
