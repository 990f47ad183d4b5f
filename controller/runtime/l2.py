"""L2 mode: one node announces each VIP (answers ARP/NDP for it on its uplink), elected per VIP
through a Lease; the VIPs spread over the nodes by rendezvous hashing.

    decide(now, vip, me, candidates, view) -> Action      the pure election rule
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
import enum
import fcntl
import hashlib
import ipaddress
import json
import logging
import math
import os
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from controller.core.timefmt import micro_time
from ipvs.announce import Announcer
from ipvs.model import IPAddress

log = logging.getLogger("bmlb.l2")
PREFIX = "bmlb-vip-"
DEFAULT_DURATION = 3.0
RELEASED_BY = "bmlb.io/released-by"


class Action(enum.Enum):
    ACQUIRE = "acquire"  # write this node as holder over a free or expired Lease (or create it)
    RENEW = "renew"
    WAIT = "wait"


@dataclass(frozen=True, slots=True)
class Lease:
    name: str
    holder: str | None
    duration: float
    renew_time: float = 0.0  # wall clock, for people; the election judges by local observation
    acquire_time: float = 0.0
    transitions: int = 0
    released_by: str | None = None
    version: str = ""  # the store's version (resourceVersion); "" before it is stored


@dataclass(frozen=True, slots=True)
class LeaseView:
    """A Lease as one node sees it: `since` is when that node saw it change (its own clock), or
    for its own Lease when it sent its last write."""

    holder: str | None
    since: float
    duration: float
    released_by: str | None = None


class Conflict(Exception):
    """create() of an existing Lease, or update() of a version that is no longer current."""


class LeaseStore(Protocol):
    def get(self, name: str) -> Lease | None: ...
    def create(self, lease: Lease) -> Lease: ...
    def update(self, lease: Lease) -> Lease: ...


def lease_name(vip: str | IPAddress) -> str:
    ip = ipaddress.ip_address(vip)
    text = ip.exploded if ip.version == 6 else str(ip)  # exploded: never ends in "-"
    return PREFIX + text.replace(":", "-").replace(".", "-")


def _score(vip: str, node: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{vip}\0{node}".encode()).digest()[:8], "big")


def ranking(vip: str, nodes: Iterable[str]) -> list[str]:
    """The nodes in the order they should announce `vip` (rendezvous hashing: removing a node
    moves only that node's VIPs)."""
    return sorted(set(nodes), key=lambda n: (-_score(vip, n), n))


def decide(now: float, vip: str, me: str, candidates: Collection[str], lease: LeaseView | None) -> Action:
    """What `me` should do about `vip`'s Lease at local time `now` (None: never seen, absent)."""
    if lease is not None and lease.holder == me:
        return Action.RENEW
    expired = lease is not None and lease.holder is not None and now - lease.since >= lease.duration
    if lease is not None and lease.holder is not None and not expired:
        return Action.WAIT
    gone = (lease.holder if expired else lease.released_by) if lease is not None else None
    pool = [n for n in ranking(vip, {*candidates, me}) if n == me or n != gone]
    rank = pool.index(me)
    if lease is None:
        return Action.ACQUIRE if rank == 0 else Action.WAIT
    free_for = now - lease.since - (lease.duration if expired else 0.0)
    return Action.ACQUIRE if free_for >= rank * lease.duration else Action.WAIT


def wake_time(now: float, view: LeaseView) -> float:
    """When decide() may next change its mind about a Lease it said WAIT to: at whole multiples
    of the duration after `since` (1 ms late, so that float rounding cannot make it early)."""
    k = math.floor((now - view.since) / view.duration) + 1
    return view.since + k * view.duration + 0.001


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


# ---- stores

class FileLeaseStore:
    """One JSON file per Lease in `directory`, compare-and-swap under an fcntl lock: for a VM or a
    laptop where there is no API server (all nodes must see the same directory)."""

    def __init__(self, directory: str | Path) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)

    def _path(self, name: str) -> Path:
        return self.dir / f"{name}.json"

    def get(self, name: str) -> Lease | None:
        try:
            data = json.loads(self._path(name).read_text())
        except FileNotFoundError:
            return None
        return Lease(**data)

    @contextlib.contextmanager
    def _locked(self, name: str) -> Any:
        fd = os.open(self.dir / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _write(self, lease: Lease, version: int) -> Lease:
        stored = dataclasses.replace(lease, version=str(version))
        tmp = self._path(lease.name).with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(dataclasses.asdict(stored)))
        os.replace(tmp, self._path(lease.name))
        return stored

    def create(self, lease: Lease) -> Lease:
        with self._locked(lease.name):
            if self.get(lease.name) is not None:
                raise Conflict(f"{lease.name} exists")
            return self._write(lease, 1)

    def update(self, lease: Lease) -> Lease:
        with self._locked(lease.name):
            current = self.get(lease.name)
            if current is None or current.version != lease.version:
                raise Conflict(f"{lease.name}: version {lease.version} is not current")
            return self._write(lease, int(current.version) + 1)


class KubeLeaseStore:
    """coordination.k8s.io/v1 Leases; versions are resourceVersions (the API server's CAS)."""

    def __init__(self, api: Any, namespace: str) -> None:
        self.api, self.namespace = api, namespace

    def _lease(self, obj: Any) -> Lease:
        spec, meta = obj.spec, obj.metadata

        def ts(v: Any) -> float:
            return v.timestamp() if v is not None else 0.0

        return Lease(meta.name, spec.holder_identity or None, float(spec.lease_duration_seconds or 0),
                     ts(spec.renew_time), ts(spec.acquire_time), spec.lease_transitions or 0,
                     (meta.annotations or {}).get(RELEASED_BY), meta.resource_version)

    def _body(self, lease: Lease) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": lease.name, "namespace": self.namespace,
                                "labels": {"app.kubernetes.io/managed-by": "bmlb"},
                                "annotations": {RELEASED_BY: lease.released_by} if lease.released_by else {}}
        if lease.version:
            meta["resourceVersion"] = lease.version
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta,
                "spec": {"holderIdentity": lease.holder, "leaseDurationSeconds": max(1, math.ceil(lease.duration)),
                         "renewTime": micro_time(lease.renew_time), "acquireTime": micro_time(lease.acquire_time),
                         "leaseTransitions": lease.transitions}}

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        from kubernetes.client.rest import ApiException

        try:
            return fn(*args)
        except ApiException as err:
            if err.status == 409:
                raise Conflict(str(err.reason)) from err
            if err.status == 404 and fn == self.api.read_namespaced_lease:
                return None
            raise

    def get(self, name: str) -> Lease | None:
        obj = self._call(self.api.read_namespaced_lease, name, self.namespace)
        return None if obj is None else self._lease(obj)

    def create(self, lease: Lease) -> Lease:
        return self._lease(self._call(self.api.create_namespaced_lease, self.namespace, self._body(lease)))

    def update(self, lease: Lease) -> Lease:
        body = self._body(lease)
        if not lease.version:
            raise Conflict(f"{lease.name}: update without a version")
        try:
            return self._lease(self._call(self.api.replace_namespaced_lease, lease.name, self.namespace, body))
        except Exception as err:
            if getattr(err, "status", None) == 404:
                raise Conflict(f"{lease.name} is gone") from err
            raise


def fresh_nodes(api: Any, namespace: str, *, now: float | None = None) -> set[str]:
    """Nodes whose agent renewed its node Lease (bmlb-node-<node>) within its duration: the
    candidates of the election in a cluster."""
    from controller.core.leases import is_fresh
    from controller.core.snapshot import LEASE_PREFIX

    now = time.time() if now is None else now
    out = set()
    for obj in api.list_namespaced_lease(namespace).items:
        name, spec = obj.metadata.name or "", obj.spec
        if name.startswith(LEASE_PREFIX) and spec is not None and is_fresh(
                spec.renew_time, spec.lease_duration_seconds, now):
            out.add(name.removeprefix(LEASE_PREFIX))
    return out


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


def lifetime_for(duration: float) -> int:
    """The kernel lifetime of an announced address: renewed every duration/3, it lapses (if the
    process died) before another node may take the Lease over, one duration after the last
    renewal; the kernel counts whole seconds and checks about once a second."""
    return max(1, math.floor(duration - duration / 3))


if __name__ == "__main__":
    raise SystemExit(main())
