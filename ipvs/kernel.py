"""The real backend: the kernel's IPVS over generic netlink, VIPs on a dummy link.

    backend = KernelBackend()            # opens nothing yet; needs root (CAP_NET_ADMIN)
    backend.read(owned=None) -> Observed # services (one dump) + real servers (one dump each)
    backend.read_servers(services) -> Observed   # those services' real servers (one dump each)
    backend.apply(plan) -> int           # one batch: many messages per sendmsg, no ACK round trips
    backend.ensure_link("bmlb0"); backend.bind("bmlb0", vips); backend.unbind("bmlb0", vips)
    backend.addresses("bmlb0") -> frozenset of VIPs (global, /32 or /128)
    backend.ensure_sysctls({"net.ipv4.vs.conntrack": "1"}) -> names changed
    backend.masquerade() / backend.set_masquerade(entries)   # bmlb's nftables table, through `nft`
    backend.close()
    Reconciler(KernelBackend(), link="bmlb0") is the node agent's sync.

It works in the network namespace of the calling thread at the time the sockets open (first
use). Dumps are decoded by ipvs.dumps, whose caches live as long as the backend: a verification
read of an unchanged table builds no object per real server (a new backend's first read decodes
every one). Messages are encoded by ipvs.wire (struct.pack) and sent by ipvs.netlink; pyroute2 is
not imported at all (its import alone takes seconds on a slow machine). Errors leave as
ipvs.errors: UnavailableError (no IPVS, no rights), ApplyError (errno per operation),
IpvsError (anything else from the kernel, a reply that does not decode; a read that fails
closes its socket, the next call opens another).

Operational notes: the real-server forwarding method is decoded from the kernel's own
attribute (pyroute2's IPVSDest defaults to and reports DR). Adding a real server fails with
EINVAL while `lo` is down in the namespace, so ensure_link() also brings `lo` up.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from pathlib import Path

from ipvs import dumps, masquerade, netlink, wire
from ipvs.backend import Observed
from ipvs.diff import Op, ServerRef
from ipvs.drain import Connections
from ipvs.errors import ApplyError, Failure, IpvsError, UnavailableError
from ipvs.model import IPAddress, Masquerade, Table, VirtualService
from ipvs.netlink import NETLINK_GENERIC, NETLINK_ROUTE


class KernelBackend:
    def __init__(self, *, proc_sys: Path = Path("/proc/sys"), nft: str | None = None) -> None:
        self.proc_sys = proc_sys
        self.nft = nft or shutil.which("nft") or "/usr/sbin/nft"
        self._genl: netlink.Socket | None = None
        self._service_reader = dumps.ServiceReader()
        self._dest_reader = dumps.DestReader()  # its caches make the next verification read cheap
        self._family = 0
        self._rtnl: netlink.Socket | None = None

    # ---- sockets

    def _ipvs(self) -> netlink.Socket:
        if self._genl is None:
            try:
                s = netlink.Socket(NETLINK_GENERIC)
            except OSError as e:
                raise UnavailableError(f"netlink socket: {e}") from e
            try:
                self._family = self._resolve(s)
            except BaseException:
                s.close()
                raise
            self._genl = s
        return self._genl

    @staticmethod
    def _resolve(s: netlink.Socket) -> int:
        try:
            return netlink.genl_family(s, wire.GENL_NAME)
        except OSError as e:
            if e.errno != errno.ENOENT:
                raise UnavailableError(f"IPVS generic netlink family: {e}") from e
        modprobe = shutil.which("modprobe") or "/sbin/modprobe"
        if os.path.exists(modprobe):  # as kube-proxy does: the family appears once ip_vs loads
            subprocess.run([modprobe, "-q", "ip_vs"], check=False, capture_output=True)
        try:
            return netlink.genl_family(s, wire.GENL_NAME)
        except OSError as e:
            raise UnavailableError("this kernel has no IPVS (module ip_vs)") from e

    def _route(self) -> netlink.Socket:
        if self._rtnl is None:
            self._rtnl = netlink.Socket(NETLINK_ROUTE)
        return self._rtnl

    def close(self) -> None:
        for s in (self._genl, self._rtnl):
            if s is not None:
                s.close()
        self._genl = self._rtnl = None

    # ---- IPVS table

    def read(self, owned: Callable[[IPAddress], bool] | None = None) -> Observed:
        s = self._ipvs()
        reader = self._service_reader
        with self._reading():
            seq = s.seq()
            reader.start(seq)
            s.dump(wire.dump_services(self._family, seq), reader.feed)
            services = reader.result()
        mine = services if owned is None else [svc for svc in services if owned(svc.address)]
        observed = self._servers(mine)
        self._dest_reader.keep(mine)
        return observed

    def read_servers(self, services: Sequence[VirtualService]) -> Observed:
        return self._servers(services)

    def _servers(self, services: Sequence[VirtualService]) -> Observed:
        s = self._ipvs()
        full: list[VirtualService] = []
        conns: dict[ServerRef, Connections] = {}
        reader = self._dest_reader
        fam = self._family
        with self._reading():
            for svc in services:
                seq = s.seq()
                reader.start(svc, seq)
                s.dump(wire.dump_dests(svc, fam, seq), reader.feed)
                got, counted = reader.result()
                full.append(got)
                for rs, c in counted:
                    conns[ServerRef(svc.key, rs.key)] = c
        return Observed(Table(tuple(full)), conns)

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        """Errors as IpvsError; a dump left half-read takes its socket with it (the kernel would
        refuse the next dump on it with EBUSY, and its rest would still be queued)."""
        try:
            yield
        except BaseException as e:
            if self._genl is not None:
                self._genl.close()
                self._genl = None
            if isinstance(e, OSError | ValueError):
                raise IpvsError(f"reading the IPVS table: {e}") from e
            raise

    def apply(self, plan: Sequence[Op]) -> int:
        if not plan:
            return 0
        s = self._ipvs()
        first = s.seq(len(plan))
        fam = self._family
        msgs = ((first + i, wire.encode(op, family=fam, seq=first + i, ack=False)) for i, op in enumerate(plan))
        try:
            failed = s.batch(msgs)
        except OSError as e:
            raise IpvsError(f"applying {len(plan)} IPVS operations: {e}") from e
        if failed:
            failures = tuple(Failure(plan[seq - first], code) for seq, code in sorted(failed.items()))
            raise ApplyError(failures, len(plan) - len(failures))
        return len(plan)

    # ---- the dummy link and its addresses

    def _link(self, name: str) -> tuple[int, int] | None:
        s = self._route()
        seq = s.seq()
        try:
            replies = s.request(netlink.get_link(seq, name), seq)
        except OSError as e:
            if e.errno == errno.ENODEV:
                return None
            raise IpvsError(f"link {name}: {e}") from e
        return netlink.link_index(replies[0]) if replies else None

    def _rt_request(self, build: Callable[[int], bytes], what: str) -> None:
        s = self._route()
        seq = s.seq()
        try:
            s.request(build(seq), seq)
        except OSError as e:
            raise IpvsError(f"{what}: {e}") from e

    def ensure_link(self, link: str) -> None:
        lo = self._link("lo")
        if lo is not None and not lo[1] & netlink.IFF_UP:
            self._rt_request(lambda seq: netlink.set_up(seq, lo[0]), "setting lo up")
        found = self._link(link)
        if found is None:
            self._rt_request(lambda seq: netlink.new_dummy(seq, link), f"creating dummy link {link}")
        elif not found[1] & netlink.IFF_UP:
            self._rt_request(lambda seq: netlink.set_up(seq, found[0]), f"setting {link} up")

    def addresses(self, link: str) -> frozenset[IPAddress]:
        found = self._link(link)
        if found is None:
            return frozenset()
        try:
            present = netlink.host_addresses(self._route(), found[0])
        except OSError as e:
            raise IpvsError(f"addresses of {link}: {e}") from e
        return frozenset(a for a in present if not a.is_link_local)

    def bind(self, link: str, addresses: Collection[IPAddress]) -> None:
        self._addresses(link, addresses, add=True, ignore=errno.EEXIST)

    def unbind(self, link: str, addresses: Collection[IPAddress]) -> None:
        self._addresses(link, addresses, add=False, ignore=errno.EADDRNOTAVAIL)

    def _addresses(self, link: str, addresses: Collection[IPAddress], *, add: bool, ignore: int) -> None:
        found = self._link(link)
        if found is None:
            if add:
                raise IpvsError(f"no link {link}")
            return
        s = self._route()
        first = s.seq(len(addresses))
        index = found[0]
        msgs = [(first + i, netlink.address(first + i, add=add, index=index, addr=a)) for i, a in enumerate(addresses)]
        try:
            failed = {seq: code for seq, code in s.batch(msgs).items() if code != ignore}
        except OSError as e:
            raise IpvsError(f"addresses on {link}: {e}") from e
        if failed:
            seq, code = min(failed.items())
            addr = list(addresses)[seq - first]
            raise IpvsError(f"{'binding' if add else 'unbinding'} {addr} on {link}: {os.strerror(code)}")

    # ---- sysctls

    def ensure_sysctls(self, values: Mapping[str, str]) -> tuple[str, ...]:
        if any(k.startswith("net.ipv4.vs.") for k in values):
            self._ipvs()  # net/ipv4/vs/ exists only once ip_vs is loaded
        changed = []
        for name, value in values.items():
            path = self.proc_sys / name.replace(".", "/")
            try:
                if path.read_text().strip() != value:
                    path.write_text(value + "\n")
                    changed.append(name)
            except OSError as e:
                raise IpvsError(f"sysctl {name}={value}: {e}") from e
        return tuple(changed)

    # ---- masquerade (nftables, through the nft command: one transaction per change)

    def _nft(self, args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run([self.nft, *args], input=stdin, capture_output=True, text=True,
                                  timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise IpvsError(f"nft {' '.join(args)}: {e}") from e

    def masquerade(self) -> frozenset[Masquerade] | None:
        if not os.path.exists(self.nft):
            return None  # no nftables here: bmlb cannot have written a table either
        done = self._nft(["-j", "list", "table", masquerade.FAMILY, masquerade.TABLE])
        if done.returncode != 0:
            if "No such file or directory" in done.stderr:
                return None
            raise IpvsError(f"reading nftables table {masquerade.TABLE}: {done.stderr.strip()}")
        return masquerade.parse(done.stdout)

    def set_masquerade(self, entries: Collection[Masquerade]) -> None:
        done = self._nft(["-f", "-"], masquerade.script(entries))
        if done.returncode != 0:
            raise IpvsError(f"writing nftables table {masquerade.TABLE}: {done.stderr.strip()}")
