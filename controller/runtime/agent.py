"""`bmlb agent`: one per node. Watches Services, EndpointSlices, Nodes and pools (list+watch
informers, controller/informer.py), compiles this node's IPVS table with the same compiler (using
only the VIPs the controller recorded in status), and applies it through ipvs.Reconciler. No
leader election: every node acts for itself. No kopf: its import alone took most of the agent's
start-up on a slow machine; the liveness endpoint is a few lines of asyncio here."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from controller.core import kinds, specs
from controller.core.compiler import compile
from controller.core.dataplane import ANY_NODE
from controller.core.render import plain
from controller.core.snapshot import Snapshot
from controller.runtime import c_heap, l2, leases
from controller.runtime.index import ClusterIndex
from controller.runtime.informer import Informer, Watched, start_all
from controller.runtime.kube import Kube
from controller.runtime.kubeapi import KubeAPI
from ipvs.backend import Backend
from ipvs.model import Table
from ipvs.reconcile import Reconciler

log = logging.getLogger("bmlb.agent")
WATCHED = [Watched(k.kind, k.group, k.version, k.plural) for k in kinds.AGENT]


@dataclass
class Agent:
    node: str
    backend: Backend
    index: ClusterIndex = field(default_factory=ClusterIndex)
    link: str = "bmlb0"
    drain_timeout: float = 300.0
    debounce: float = 0.2
    resync: float = 30.0
    verify_every: float = 120.0  # full read of the kernel's table; other syncs apply only the diff
    state_file: Path | None = None
    lease_namespace: str | None = None
    address: str | None = None
    lease_seconds: int = 10
    coordination: KubeAPI | None = None  # when Leases are kept
    speaker: l2.Speaker | None = None  # L2 mode: announces the VIPs this node wins on its uplink
    table: Table = field(default_factory=Table)  # the last table synced
    syncs: int = 0
    ops: int = 0
    reconciler: Reconciler = field(init=False)

    def __post_init__(self) -> None:
        self.reconciler = Reconciler(self.backend, link=self.link, drain_timeout=self.drain_timeout,
                                     verify_every=self.verify_every)

    def desired(self, snapshot: Snapshot | None = None) -> Table:
        compiled = compile(snapshot or self.index.snapshot(), assign_new=False, extra_nodes=(self.node,),
                           tables_for=(self.node, ANY_NODE))
        for node, table in compiled.tables:
            if node in (self.node, "*"):
                return table
        return Table()

    def sync_once(self, snapshot: Snapshot | None = None) -> int:
        desired = self.desired(snapshot)
        result = self.reconciler.sync(desired, now=time.monotonic())
        self.table = desired
        self.syncs += 1
        self.ops += result.applied
        if result.changed:
            log.info("node %s: %d IPVS operations, bound %s, unbound %s%s", self.node, result.applied,
                     sorted(map(str, result.bound)), sorted(map(str, result.unbound)),
                     f", masquerading {len(desired.masquerade)} services" if result.masquerade else "")
        if result.masquerade_error:
            log.warning("node %s: masquerade not in place (retried on the next sync): %s", self.node,
                        result.masquerade_error)
        if self.state_file:
            self._export(desired)
        return result.applied

    def _export(self, desired: Table) -> None:
        assert self.state_file is not None
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"node": self.node, "syncs": self.syncs, "ops": self.ops,
                                   "table": plain(desired)}, indent=1))
        os.replace(tmp, self.state_file)

    async def keep_lease(self, stopped: asyncio.Event) -> None:
        """Renew this node's Lease every third of its duration while the agent runs."""
        while not stopped.is_set():
            try:
                await asyncio.to_thread(leases.renew, self.coordination, namespace=self.lease_namespace or "default",
                                        node=self.node, address=self.address, duration=self.lease_seconds)
            except Exception as err:  # the next renewal retries; the controller judges freshness
                log.warning("lease renewal failed: %s", err)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopped.wait(), self.lease_seconds / 3)

    def l2_step(self) -> None:
        assert self.speaker is not None
        candidates = {self.node}
        if self.coordination is not None:
            candidates |= l2.fresh_nodes(self.coordination, self.lease_namespace or "default")
        added, removed = self.speaker.step(sorted(str(v) for v in self.table.vips), candidates)
        if added or removed:
            log.info("node %s: announcing %s, withdrew %s", self.node, sorted(added), sorted(removed))

    async def announce(self, stopped: asyncio.Event) -> None:
        """L2 mode: every duration/3 (or when a Lease it waits on may lapse), take part in the
        election of each VIP of this node's table and announce the ones it wins."""
        assert self.speaker is not None
        elector = self.speaker.elector
        while not stopped.is_set():
            started = time.monotonic()
            try:
                await asyncio.to_thread(self.l2_step)
            except Exception:
                log.exception("L2 announcement failed; retrying")
            until = min(started + elector.interval, elector.wake_at() or math.inf)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopped.wait(), max(0.0, until - time.monotonic()))
        await asyncio.to_thread(self.speaker.stop)

    async def run(self, stopped: asyncio.Event) -> None:
        last, failed = 0.0, False
        while not stopped.is_set():
            changed = await self.index.wait_changed(1.0)
            draining = bool(self.reconciler.draining)
            if not changed and not failed and time.monotonic() - last < (2.0 if draining else self.resync):
                continue
            if changed:
                await asyncio.sleep(self.debounce)
            version = self.index.version
            try:
                # The index is read here, on the loop thread that the informers feed: read from the
                # worker thread, their updates changed it mid-iteration.
                await asyncio.to_thread(self.sync_once, self.index.snapshot())
                self.index.applied(version)
                failed = False
            except Exception:  # the Reconciler forgot its memory: the retry verifies the kernel
                log.exception("IPVS sync failed; retrying")
                failed = True
                await asyncio.sleep(1.0)
            last = time.monotonic()


class Feed:
    """Informer events into the agent's index; `complete` once every kind's first listing is in
    (the agent never compiles a partial listing: it would delete the services not yet seen)."""

    def __init__(self, agent: Agent, kinds_watched: int) -> None:
        self.agent, self.kinds_watched = agent, kinds_watched
        self.listed: set[str] = set()

    @property
    def complete(self) -> bool:
        return len(self.listed) >= self.kinds_watched

    def __call__(self, kind: str, type_: str, obj: dict[str, Any]) -> None:
        index = self.agent.index
        if type_ == "SYNCED":  # a (re)listing is complete: what it did not hold is gone
            index.retain(kind, set(obj["keys"]))
            self.listed.add(kind)
        elif (kind == "Service" and not specs.service_is_ours(obj)) or type_ == "DELETED":
            index.delete(kind, obj)
        else:
            index.upsert(kind, obj)


async def serve_health(url: str, agent: Agent) -> asyncio.AbstractServer:
    """A liveness endpoint: GET on the URL's path answers 200 with the agent's counters."""
    parts = urlsplit(url)
    path = parts.path or "/"

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            method, target = [*request.split(b" ", 2), b"", b""][:2]
            if method in (b"GET", b"HEAD") and urlsplit(target.decode("latin-1")).path == path:
                status, body = "200 OK", json.dumps({"node": agent.node, "syncs": agent.syncs, "ops": agent.ops})
            else:
                status, body = "404 Not Found", "{}"
            payload = body.encode() if method != b"HEAD" else b""
            writer.write(f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
                         f"Content-Length: {len(body.encode())}\r\nConnection: close\r\n\r\n".encode() + payload)
            await writer.drain()
        except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # a probe that hung up or sent garbage gets nothing
        finally:
            writer.close()

    return await asyncio.start_server(answer, parts.hostname or "0.0.0.0", parts.port or 80)


async def serve(agent: Agent, api: Any, *, health: str | None, stop: asyncio.Event) -> None:
    """Watch, wait for the first complete listing, then sync, renew the Lease and announce until
    `stop` (SIGTERM, SIGINT)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    feed = Feed(agent, len(WATCHED))
    informers: list[Informer] = start_all(api, WATCHED, feed, loop)
    server = await serve_health(health, agent) if health else None
    tasks: list[asyncio.Task[None]] = []
    if agent.coordination is not None:
        tasks.append(asyncio.create_task(agent.keep_lease(stop)))
    if agent.speaker is not None:
        tasks.append(asyncio.create_task(agent.announce(stop)))

    async def sync_when_listed() -> None:
        while not feed.complete:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.1)
            if stop.is_set():
                return
        log.info("node %s: cluster listed, syncing", agent.node)
        await agent.run(stop)

    try:
        await asyncio.gather(sync_when_listed(), *tasks)
    finally:
        for informer in informers:
            informer.stop()
        if server is not None:
            server.close()


def make_backend(kind: str, memory_state: str | None = None, memory_op_delay: float = 0.0) -> Backend:
    if kind == "memory":
        from ipvs.memory import MemoryBackend

        if memory_state:
            return MemoryBackend.persistent(Path(memory_state), op_delay=memory_op_delay)
        return MemoryBackend()
    from ipvs.kernel import KernelBackend

    return KernelBackend()


def run(*, node: str, backend: str, kubeconfig: str | None, state_file: str | None, link: str,
        drain_timeout: float, health: str | None, lease_namespace: str | None = None,
        address: str | None = None, mode: str = "routed", uplink: str | None = None,
        l2_lease_duration: float = l2.DEFAULT_DURATION, memory_state: str | None = None,
        memory_op_delay: float = 0.0) -> None:
    if (memory_state or memory_op_delay) and backend != "memory":
        raise SystemExit("--memory-state and --memory-op-delay need --backend memory")
    c_heap.tune()
    agent = Agent(node=node, backend=make_backend(backend, memory_state, memory_op_delay), link=link,
                  drain_timeout=drain_timeout,
                  state_file=Path(state_file) if state_file else None, lease_namespace=lease_namespace,
                  address=address)
    kube = Kube.from_config(kubeconfig)
    if lease_namespace:
        agent.coordination = kube.api
    if mode == "l2":
        if not uplink or agent.coordination is None:
            raise SystemExit("--mode l2 needs --uplink and --lease-namespace (the VIP Leases live there)")
        from ipvs.announce import Announcer

        announcer = Announcer(uplink, lifetime=l2.lifetime_for(l2_lease_duration))
        announcer.ensure_sysctls()  # before the first sync binds VIPs on the dummy link
        store = l2.KubeLeaseStore(agent.coordination, lease_namespace or "default")
        agent.speaker = l2.Speaker(l2.Elector(store, node, duration=l2_lease_duration), announcer)
    watch_api = kube.api.clone()  # long watches: a pool of their own
    asyncio.run(serve(agent, watch_api, health=health, stop=asyncio.Event()))
