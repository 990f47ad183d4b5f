"""The controller's reconcile loop: debounce changes, compile, record allocations, sync each
firewall once, write status and Events, release finalizers. It runs only on the leader."""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from controller.core import collector, naming, status
from controller.core.compile_cache import CompileCache
from controller.core.compiler import Compiled, FirewallTarget, compile
from controller.core.conditions import FirewallOutcome
from controller.core.nodes import node_health
from controller.core.problems import ObjectRef
from controller.core.reasons import Reason
from controller.core.snapshot import Snapshot, ref_of
from controller.core.specs import service_is_ours
from controller.runtime import finalizers, status_writer
from controller.runtime.clock import now
from controller.runtime.index import ClusterIndex
from controller.runtime.kube import Kube
from controller.runtime.metrics import Metrics, memory
from controller.runtime.status_scope import StatusScope

log = logging.getLogger("bmlb.reconciler")

_ALLOCATING = ("Service", "VIPPool")  # statuses written before the firewall sync
_RULES = ("SecurityPolicy", "NATRule")  # and after it
SyncFirewall = Callable[[FirewallTarget], Awaitable[FirewallOutcome]]


@dataclass
class Reconciler:
    index: ClusterIndex
    kube: Kube
    sync_firewall: SyncFirewall
    metrics: Metrics = field(default_factory=Metrics)
    default_debounce: float = 2.0
    default_resync: float = 300.0
    max_settle: float = 15.0
    clock: Callable[[], float] = time.monotonic
    outcomes: dict[str, FirewallOutcome] = field(default_factory=dict)
    # Only the routes of the last compile are kept: holding all of it doubled the peak memory.
    last_routes: tuple[tuple[str, tuple[str, ...]], ...] = ()
    reconciles: int = 0
    wall: Callable[[], float] = time.time
    retry_first: float = 1.0
    retry_max: float = 30.0
    _health: tuple[tuple[str, bool], ...] = ()
    _names: dict[ObjectRef, tuple[str, ...]] = field(default_factory=dict)  # firewall names each object had
    _retry_at: float | None = None  # clock() when an object the device refused is to be tried again
    # What each compile may reuse of the last one: a one-Service change no longer recompiles the estate.
    compile_cache: CompileCache = field(default_factory=CompileCache)
    _cached_at: int = 0  # the index's churn when the cache was last compiled
    status_memo: status.StatusMemo = field(default_factory=status.StatusMemo)  # objects found current
    owners: finalizers.Owners = field(default_factory=finalizers.Owners)
    scope: StatusScope = field(default_factory=StatusScope)  # which objects the status passes look at

    full_collection_every: float = 600.0  # seconds between full collections of the frozen heap

    def __post_init__(self) -> None:
        self.index.on_same = self._body_same
        self.index.on_gone = self._body_gone
        self.metrics.track_oldest(self._oldest_age)
        self.heap = collector.Settled(every=self.full_collection_every, clock=self.clock)

    def _body_same(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self.compile_cache.alias(old, new)
        self.status_memo.let_go(ref_of(old), old)

    def _body_gone(self, old: dict[str, Any]) -> None:
        self.compile_cache.forget(old)
        self.status_memo.let_go(ref_of(old), old)

    def _oldest_age(self) -> float:
        t = self.index.oldest_unapplied
        return 0.0 if t is None else max(0.0, self.clock() - t)

    def _settings(self) -> tuple[float, float]:
        debounce, resync = self.default_debounce, self.default_resync
        for body in self.index.bodies("Firewall"):  # read every second: never a full snapshot
            spec = body.get("spec")
            spec = spec if isinstance(spec, dict) else {}
            commit = spec.get("commit")
            commit = commit if isinstance(commit, dict) else {}
            debounce = min(debounce, _seconds(commit.get("debounceSeconds"), debounce))
            resync = min(resync, _seconds(spec.get("resyncSeconds"), resync))
        return debounce, resync

    async def run(self, stopped: Callable[[], bool]) -> None:
        """Loop until `stopped()`: wait for a change (or the resync period), debounce, reconcile."""
        last_full = self.clock()
        first = True
        backoff = 0.0  # > 0 while a firewall sync is failing: retry it without waiting for a change
        while not stopped():
            debounce, resync = self._settings()
            if not first:
                timeout = max(0.0, resync - (self.clock() - last_full))
                changed = await self.index.wait_changed(min(timeout, 1.0)) or self._health_moved()
                due = self.clock() - last_full >= min(resync, backoff or resync) or (
                    self._retry_at is not None and self.clock() >= self._retry_at)
                if not changed and not due:
                    continue
                if changed and debounce > 0:
                    await self._settle(debounce)
            first = False
            version = self.index.version
            self.metrics.queue_depth.set(1)
            try:
                await self.reconcile()
                self.index.applied(version)
            except Exception:
                log.exception("reconcile failed; retrying")
                self.metrics.errors.labels("ReconcileFailed").inc()
                await asyncio.sleep(1.0)
            self.metrics.queue_depth.set(0 if self.index.version == version else 1)
            self.heap.after_work(quiet=self.index.version == version)
            last_full = self.clock()
            failing = any(not o.ok and o.reason != Reason.NoFirewall for o in self.outcomes.values())
            backoff = min(self.retry_max, backoff * 2 or self.retry_first) if failing else 0.0

    async def _settle(self, debounce: float) -> None:
        """Every change inside the debounce window joins this reconcile. While changes still
        stream in (a burst, the initial listing of a big cluster), wait for a quiet moment, up to
        max_settle: one compile and one commit for the burst instead of one per window."""
        await asyncio.sleep(debounce)
        deadline = self.clock() + max(0.0, self.max_settle - debounce)
        while self.clock() < deadline:
            before = self.index.version
            await asyncio.sleep(min(0.5, debounce))
            if self.index.version == before:
                return

    async def reconcile(self) -> Compiled:
        with collector.Pause() as pause:
            try:
                return await self._reconcile(pause)
            except BaseException:
                self.scope.reset()  # what this one saw may not have reached status: look at everything
                raise

    async def _reconcile(self, pause: collector.Pause) -> Compiled:
        started = self.clock()
        self._retry_at = None
        compiled, compiled_refs, deleting, n_objects = self._compile()
        reused, made = self._after_compile(compiled)
        t_compile = self.clock()
        stamp = now()
        # Record allocations first: the cluster, not this process, remembers who holds what.
        first = self._bodies(compiled_refs, _ALLOCATING, compiled)
        if made * 50 > reused:  # not a small change: its reconcile may run long; collect as it goes
            pause.resume()
        # The finalizer goes on before the firewall first carries anything of the object, and before
        # the status writes below: each names the resourceVersion the index holds, which our own
        # status write would make stale until its watch event arrives (a 409, the finalizer missing
        # while the firewall already carried the object).
        adding = self.owners.to_add(self.owners.of(compiled.firewalls, compiled.reports), self.index.get,
                                    changed=self.index.take_journal("finalizers"))
        added = await asyncio.to_thread(finalizers.write, adding, self.kube.patch_finalizers)
        if added < len(adding):
            self._retry_at = self.clock() + self.retry_first  # an object moved on meanwhile: try again
        later: list[status_writer.Pending] = []
        n_first = await status_writer.write_chunks(first, self._desired(compiled, stamp), patch=self.kube.patch_status,
                                                   event=self.kube.post_event, later=later)
        del first  # (the same: these bodies are replaced by their echoes during the firewall sync)
        t_first = self.clock()
        # The allocations' Events gate nothing: posted while the firewall syncs (the API server idles then).
        async with status_writer.posting(later, self.kube.post_event):
            await self._sync_firewalls(compiled)
            rest = self._bodies(compiled_refs, _RULES, compiled)
            t_sync = self.clock()
            n_rest = await status_writer.write_chunks(rest, self._desired(compiled, stamp),
                                                      patch=self.kube.patch_status, event=self.kube.post_event)
            for report in compiled.reports:
                if report.firewall_objects:
                    self._names[report.ref] = report.firewall_objects  # the report's own tuple: no copy
            live = {r.ref for r in compiled.reports} | self.index.deleting()
            self._names = {ref: n for ref, n in self._names.items() if ref in live}
            released = self._release(deleting)
            removing = finalizers.to_remove(released, self.index.get)
            if await asyncio.to_thread(finalizers.write, removing, self.kube.patch_finalizers) < len(removing):
                self._retry_at = self.clock() + self.retry_first
        log.info("reconciled %d objects in %.2fs (compile+allocations %.2fs, of it the compile %.2fs reusing %d "
                 "parts and making %d, %d status writes; firewall %.2fs; %d status writes %.2fs); %d finalizers "
                 "added, %d removed; %s", n_objects, self.clock() - started, t_first - started,
                 t_compile - started, reused, made, n_first, t_sync - t_first, n_rest,
                 self.clock() - t_sync, len(adding), len(removing), memory())
        self.metrics.count(compiled.problems, compiled.pools, compiled.allocated)
        self.metrics.reconcile_seconds.observe(self.clock() - started)
        self.last_routes = compiled.routes
        self.reconciles += 1
        return compiled

    def _compile(self) -> tuple[Compiled, set[ObjectRef], set[ObjectRef], int]:
        """(the compile, the objects it saw, those of them being deleted, how many it read). The
        bodies it read are not held past it: a burst's status writes echo back as new bodies while
        the reconcile runs, and the old ones must not live beside them."""
        snapshot = self.index.snapshot(now=self.wall(), last_routes=self.last_routes)
        compiled_refs = self.index.live_refs()
        # Only deletions this compile saw may be released: one arriving during the sync
        # still has its rules on the firewall the sync wrote.
        deleting = self.index.deleting()
        self._health = _health_of(snapshot)
        self._before_compile(compiled_refs)
        compiled = compile(snapshot, cache=self.compile_cache, tables_for=())  # the agents build their own
        return compiled, compiled_refs, deleting, len(snapshot.all())

    def _desired(self, compiled: Compiled, stamp: str) -> Callable[[dict[ObjectRef, dict]], list[status.Update]]:
        return functools.partial(status.desired, compiled, outcomes=self.outcomes, now=stamp, memo=self.status_memo)

    def _after_compile(self, compiled: Compiled) -> tuple[int, int]:
        """(reused, made): the compile's parts."""
        self.scope.note_compile(compiled)
        reused, made = self.compile_cache.last
        if made * 50 > reused:  # not a small change: the next compile, if small, renders a handful
            naming.forget()
        return reused, made

    def _before_compile(self, live: set[ObjectRef]) -> None:
        """A burst (a quarter of the estate changed or more) reuses little: emptying the caches first
        keeps their old values and the new ones from being alive together at the compile's peak."""
        if (self.index.churn - self._cached_at) * 4 > len(live):
            self.compile_cache.clear()
            self.status_memo.clear()
        self._cached_at = self.index.churn
        self.status_memo.keep(live)

    async def _sync_firewalls(self, compiled: Compiled) -> None:
        """Sync each firewall target once; note its outcome and when a refused object is retried."""
        current = {t.name for t in compiled.firewalls}
        self.outcomes = {name: o for name, o in self.outcomes.items() if name in current}  # drop gone targets
        for target in compiled.firewalls:
            if target.spec is None:
                self.outcomes[target.name] = FirewallOutcome(
                    False, Reason.NoFirewall, f"no Firewall object named {target.name!r}: nothing synced")
                continue
            t0 = self.clock()
            outcome = await self.sync_firewall(target)
            self.metrics.sync_seconds.labels(target.name).observe(self.clock() - t0)
            if not outcome.ok:
                self.metrics.errors.labels(outcome.reason).inc()
            self.outcomes[target.name] = outcome
        retries = [o.retry_in for o in self.outcomes.values() if o.retry_in is not None]
        if retries:
            self._retry_at = min(self._retry_at or math.inf, self.clock() + min(retries))

    def _health_moved(self) -> bool:
        """Lease expiry is a change of the clock, not of any object: look for it every second."""
        return _health_of(self.index.nodes_and_leases(now=self.wall())) != self._health

    def _bodies(self, compiled: set[ObjectRef], kinds: tuple[str, ...], result: Compiled) -> dict[ObjectRef, dict]:
        """The latest body (its current status) of each object of `kinds` this compile saw, of those
        the status scope says may need an update (all of them when it cannot tell). Objects that
        arrived since are left to the next reconcile: this compile knows nothing of them, and would
        write them an empty status (a Service's recorded VIP among it)."""
        self.scope.note_bodies(self.index.take_journal("status"))
        refs = self.scope.refs(kinds, live=self.index.refs, known=self.status_memo.known(), compiled=result,
                               outcomes=self.outcomes)
        if refs is None:
            return {ref: b for kind in kinds for ref, b in self.index.items(kind)
                    if ref in compiled and (kind != "Service" or service_is_ours(b))}
        return {ref: b for ref in refs if ref in compiled and (b := self.index.get(ref)) is not None
                and (ref.kind != "Service" or service_is_ours(b))}

    def _release(self, deleting: set[ObjectRef]) -> list[ObjectRef]:
        """Objects whose deletion the last compile saw, once their firewall is in sync, no longer
        have anything on it."""
        # A target with no Firewall object holds nothing; every real one must be in sync. Objects
        # the device refused were set aside and do not count, unless the device refused to delete
        # one: then its owner keeps its finalizer (and only that owner).
        all_ok = all(o.ok or o.reason == Reason.NoFirewall for o in self.outcomes.values())
        if not all_ok:
            return []
        kept = frozenset().union(*(o.kept for o in self.outcomes.values()))
        released = []
        for ref in sorted(deleting):
            if not kept.isdisjoint(self._names.get(ref, ())):
                continue
            released.append(ref)
            self._names.pop(ref, None)
        return released



def _health_of(snapshot: Snapshot) -> tuple[tuple[str, bool], ...]:
    return tuple(sorted((n, info.healthy) for n, info in node_health(snapshot).items()))


def _seconds(value: object, default: float) -> float:
    """A Firewall's period as a float; anything else (the compile reports it) leaves the default."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        return default
    return float(value)
