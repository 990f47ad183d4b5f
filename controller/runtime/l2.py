"""L2 mode: one node announces each VIP (answers ARP/NDP for it on its uplink), elected per VIP
through a Lease; the VIPs spread over the nodes by rendezvous hashing.

    decide(now, vip, me, candidates, view) -> Action      the pure election rule (core/election.py)
    Elector(store, me, duration=3.0).tick(vips, candidates) -> VIPs this node may announce now
    Speaker(elector, Announcer(uplink)).step(vips, candidates)   election + kernel, one round
    FileLeaseStore(dir) / KubeLeaseStore(coordination_api, namespace)   the Lease backends

Election (per VIP, Lease `bmlb-vip-<ip>`):
- the holder renews every duration/3 (the Elector's tick);
- a Lease is expired when this node has seen it unchanged for `duration` by its own clock (as
  client-go does: no comparison of clocks between nodes), free when absent or released;
- a free or expired Lease goes to the candidates ranked by rendezvous hash of (VIP, node),
  leaving out the node that let it go: rank r acquires once it has been free or expired for
  r x duration, so rank 0 takes over at once and, if it is dead too, rank 1 one duration later;
- a live holder keeps its VIP (no hand-back when a preferred node returns: no flapping);
- the holder stops announcing when its last successful write was sent `duration` ago or more
  (it cannot renew: a rival may take over), and the Lease store's compare-and-swap on the
  version ensures one writer wins each round.
So a dead holder is replaced within duration + duration/3 of its last renewal (4 s by default).

Runs alone inside a network namespace, without an API server, for tests:
    python -m controller.runtime.l2 --node n1 --uplink eth0 --lease-dir /tmp/leases --vip 10.0.0.100 \\
        --peer n1 --peer n2 [--duration 3]
It prints `announce VIP` / `withdraw VIP` as it happens and releases its Leases on SIGTERM.
Imports stay light here (no kubernetes at module level): the VM runs this with a slow Python.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import logging
import math
import time
from collections.abc import Callable, Collection, Iterable

from controller.core.election import (
    DEFAULT_DURATION,
    PREFIX,
    RELEASED_BY,
    Action,
    Conflict,
    Lease,
    LeaseStore,
    LeaseView,
    decide,
    lease_name,
    lifetime_for,
    ranking,
    wake_time,
)
from controller.runtime.lease_stores import FileLeaseStore, KubeLeaseStore, fresh_nodes
from ipvs.announce import Announcer
from ipvs.model import IPAddress

log = logging.getLogger("bmlb.l2")
class Elector:
    def __init__(self, store: LeaseStore, me: str, *, duration: float = DEFAULT_DURATION,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        if duration <= 0:
            raise ValueError("duration must be positive")
        self.store, self.me, self.duration = store, me, duration
        self.clock, self.wall = clock, wall
        self._seen: dict[str, tuple[str, float]] = {}  # name -> (version, local time first seen)
        self._sent: dict[str, float] = {}  # name -> local time our last successful write was sent
        self._versions: dict[str, Lease] = {}  # our Leases as last written
        self._wake: dict[str, float] = {}

    @property
    def interval(self) -> float:
        return self.duration / 3

    def view(self, lease: Lease, now: float) -> LeaseView:
        mine = self._versions.get(lease.name)
        if lease.holder == self.me and mine is not None and mine.version == lease.version:
            return LeaseView(lease.holder, self._sent[lease.name], lease.duration, lease.released_by)
        version, since = self._seen.get(lease.name, ("", now))
        if version != lease.version:
            since = now
        self._seen[lease.name] = (lease.version, since)
        return LeaseView(lease.holder, since, lease.duration, lease.released_by)

    def tick(self, vips: Iterable[str], candidates: Collection[str]) -> set[str]:
        """One round for every VIP; returns those this node may announce now."""
        out = set()
        self._wake = {}
        for vip in vips:
            name = lease_name(vip)
            try:
                self._round(vip, name, candidates)
            except Conflict:
                self._drop(name)
            except Exception as err:  # the API or the disk: judged again next round
                log.warning("lease %s: %s", name, err)
            if name in self._sent and self.clock() - self._sent[name] < self.renew_deadline:
                out.add(vip)
        return out

    @property
    def renew_deadline(self) -> float:
        """A holder that has not renewed for this long stops announcing: a third of a duration
        before any other node may take over."""
        return self.duration - self.interval

    def wake_at(self) -> float | None:
        """The earliest local time a Lease this node waits on may become takeable: sleeping until
        then, not a whole interval, makes a takeover land exactly one duration after the Lease
        was last seen to change."""
        return min(self._wake.values(), default=None)

    def _round(self, vip: str, name: str, candidates: Collection[str]) -> None:
        now = self.clock()
        lease = self.store.get(name)
        if lease is None:  # free since this node first saw it absent
            version, since = self._seen.get(name, ("", now))
            if version != "absent":
                since = now
            self._seen[name] = ("absent", since)
            view = LeaseView(None, since, self.duration)
        else:
            view = self.view(lease, now)
        action = decide(now, vip, self.me, candidates, view)
        if action is Action.WAIT:
            self._wake[name] = wake_time(now, view)
            if lease is None or lease.holder != self.me:
                self._drop(name)
            return
        sent, wall = self.clock(), self.wall()
        if lease is None:
            stored = self.store.create(Lease(name, self.me, self.duration, wall, wall))
        else:
            taking = lease.holder != self.me
            stored = self.store.update(dataclasses.replace(
                lease, holder=self.me, duration=self.duration, renew_time=wall, released_by=None,
                acquire_time=wall if taking else lease.acquire_time,
                transitions=lease.transitions + (1 if taking and lease.holder else 0)))
        self._sent[name] = sent
        self._versions[name] = stored
        self._seen[name] = (stored.version, sent)

    def _drop(self, name: str) -> None:
        self._sent.pop(name, None)
        self._versions.pop(name, None)

    def release(self, vips: Iterable[str]) -> None:
        """Give up these VIPs' Leases (best effort, on shutdown: the next node takes over at once,
        not after a duration). Withdraw the addresses first."""
        for vip in vips:
            name = lease_name(vip)
            mine = self._versions.get(name)
            self._drop(name)
            if mine is None:
                continue
            with contextlib.suppress(Exception):
                self.store.update(dataclasses.replace(mine, holder=None, released_by=self.me,
                                                      renew_time=self.wall()))


class Speaker:
    """The election and the kernel together: after step(), exactly the VIPs this node holds are on
    its uplink. New ones get gratuitous ARP/NA, repeated on the next rounds against packet loss."""

    REPEAT = 2

    def __init__(self, elector: Elector, announcer: Announcer) -> None:
        self.elector, self.announcer = elector, announcer
        self.held: set[str] = set()
        self._repeat: dict[IPAddress, int] = {}

    def step(self, vips: Collection[str], candidates: Collection[str]) -> tuple[set[str], set[str]]:
        """One round; returns (newly announced, withdrawn)."""
        held = self.elector.tick(vips, candidates)
        new = self.announcer.announce({ipaddress.ip_address(v) for v in held})
        self.announcer.withdraw({ipaddress.ip_address(v) for v in (set(vips) | self.held) - held})
        self.elector.release(self.held - set(vips))
        for ip in new:
            self._repeat[ip] = self.REPEAT  # rounds that still send it again
        due = [ip for ip in self._repeat if ip not in new and str(ip) in held]
        self.announcer.gratuitous(due)
        left = {ip: n - (ip not in new) for ip, n in self._repeat.items() if str(ip) in held}
        self._repeat = {ip: n for ip, n in left.items() if n > 0}
        added, removed = held - self.held, self.held - held
        self.held = held
        return added, removed

    def stop(self) -> None:
        self.announcer.withdraw({ipaddress.ip_address(v) for v in self.held})
        self.elector.release(self.held)
        self.held = set()



# ---- standalone, for the kernel tests

def main(argv: list[str] | None = None) -> int:
    import argparse
    import signal
    import sys

    p = argparse.ArgumentParser(prog="python -m controller.runtime.l2", description=__doc__.split("\n")[0])
    p.add_argument("--node", required=True)
    p.add_argument("--uplink", required=True)
    p.add_argument("--lease-dir", required=True)
    p.add_argument("--vip", action="append", required=True)
    p.add_argument("--peer", action="append", default=[])
    p.add_argument("--duration", type=float, default=DEFAULT_DURATION)
    a = p.parse_args(argv)
    elector = Elector(FileLeaseStore(a.lease_dir), a.node, duration=a.duration)
    speaker = Speaker(elector, Announcer(a.uplink, lifetime=lifetime_for(a.duration)))
    speaker.announcer.ensure_sysctls()
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda sig, _f: stopping.append(sig))
    vips = [str(ipaddress.ip_address(v)) for v in a.vip]
    print(f"ready {a.node}", flush=True)
    while not stopping:
        started = time.monotonic()
        added, removed = speaker.step(vips, a.peer)
        for v in sorted(added):
            print(f"announce {v} {time.time():.3f}", flush=True)
        for v in sorted(removed):
            print(f"withdraw {v} {time.time():.3f}", flush=True)
        until = min(started + elector.interval, elector.wake_at() or math.inf)
        time.sleep(max(0.0, until - time.monotonic()))
    speaker.stop()
    print("stopped", flush=True)
    sys.stdout.flush()
    return 0



__all__ = [
    "DEFAULT_DURATION",
    "PREFIX",
    "RELEASED_BY",
    "Action",
    "Conflict",
    "Elector",
    "FileLeaseStore",
    "KubeLeaseStore",
    "Lease",
    "LeaseStore",
    "LeaseView",
    "Speaker",
    "decide",
    "fresh_nodes",
    "lease_name",
    "lifetime_for",
    "main",
    "ranking",
    "wake_time",
]


if __name__ == "__main__":
    raise SystemExit(main())
