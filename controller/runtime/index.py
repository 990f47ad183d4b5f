"""An in-memory index of the watched cluster objects, fed by watch events.

Every change bumps a counter and wakes whoever waits for changes; `snapshot()` gives the
compiler an immutable view. Objects being deleted (deletionTimestamp set) are left out of
snapshots, so their firewall objects are removed before their finalizer is released.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any

from controller.core import kinds
from controller.core.problems import ObjectRef
from controller.core.snapshot import DEFAULT_LEASE_NAMESPACE, KINDS, Snapshot, ref_of
from controller.runtime.finalizers import FINALIZER
from controller.runtime.lean_bodies import Leaner

FIELD = kinds.FIELD
_JOURNAL_MAX = 1 << 17  # refs; past it a journal says "everything" (a former leader nobody asks)


# Kinds whose compile reads nothing that `_same` ignores (Leases are judged by their renewTime, which
# it ignores; Nodes and EndpointSlices are few or not cached).
_SAME_KINDS = frozenset({"Service", "NATRule", "SecurityPolicy"})



class ClusterIndex:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 lease_namespace: str = DEFAULT_LEASE_NAMESPACE) -> None:
        self.lease_namespace = lease_namespace
        self._lean = Leaner()  # bodies as kept: lean, nested values shared (controller/runtime/lean_bodies.py)
        self._objects: dict[str, dict[ObjectRef, dict[str, Any]]] = {k: {} for k in KINDS}
        # Objects bmlb no longer compiles (a Service that left its class) that still carry its
        # finalizer: released like any object being deleted, never compiled.
        self._strays: dict[ObjectRef, dict[str, Any]] = {}
        # Told (old body, new body) when a body of the kinds the compile cache reuses is replaced by
        # one where only what bmlb does not read moved (our own Ready status, resourceVersion,
        # finalizers): the cache then finds its parse for the new body and lets the old one go
        # (`CompileCache.alias`), so one body per object is held, not the compile's and the latest.
        self.on_same: Callable[[dict[str, Any], dict[str, Any]], None] | None = None
        # Told the old body when a body is replaced by one that reads differently, or removed: who
        # kept something made from it lets the body go now (a burst's status writes echo back
        # while its reconcile runs), not at the next compile.
        self.on_gone: Callable[[dict[str, Any]], None] | None = None
        # Indexed objects with a deletionTimestamp: most reads skip them, and a scan of 30,000
        # bodies for a rare timestamp was in every reconcile several times over.
        self._deleting: set[ObjectRef] = set()
        self._clock = clock
        self.version = 0
        # Changes other than a recorded allocation (a Service's ingress, a NATRule's public address,
        # the echo of bmlb's own status writes): how much a compile may have to make anew.
        self.churn = 0
        self.oldest_unapplied: float | None = None
        self._changed = asyncio.Event()
        # Per reader, every object whose body was replaced or removed since its last `take_journal`,
        # so that a reconcile looks again at those and not at all 30,000; None once it outgrew any
        # estate (nobody took it: a controller that is not the leader), meaning "look at everything".
        self._journals: dict[str, set[ObjectRef] | None] = {}
        self._order: dict[str, list[ObjectRef] | None] = dict.fromkeys(KINDS)  # sorted refs; None: to sort

    def _note(self, ref: ObjectRef) -> None:
        for reader, journal in self._journals.items():
            if journal is not None:
                journal.add(ref)
                if len(journal) > _JOURNAL_MAX:
                    self._journals[reader] = None

    def take_journal(self, reader: str) -> set[ObjectRef] | None:
        """The objects replaced or removed since `reader` last asked; None: unknown (its first
        call, or too many): take every object as changed."""
        journal = self._journals.get(reader)
        self._journals[reader] = set()
        return journal

    def upsert(self, kind: str, body: Mapping[str, Any]) -> bool:
        """Record an object; True when anything bmlb reads changed."""
        clean = self._lean.strip(body, kind)
        ref = ref_of(clean)
        if kind == "Lease" and ref.namespace != self.lease_namespace:
            return False  # only agent Leases in the lease namespace count (see Snapshot.node_leases)
        old = self._objects[kind].get(ref)
        if (clean.get("metadata") or {}).get("deletionTimestamp"):
            self._deleting.add(ref)
        else:
            self._deleting.discard(ref)
        if old is not None and kind in _SAME_KINDS and _identical(old.get("spec"), clean.get("spec")):
            clean["spec"] = old["spec"]  # one copy; and the compile knows it unchanged by identity
        self._objects[kind][ref] = clean  # keep the latest body (its status) even when nothing relevant moved
        self._note(ref)
        if old is None:
            self._order[kind] = None
        if old is not None and _same(old, clean):
            if kind in _SAME_KINDS and self.on_same is not None:
                self.on_same(old, clean)
            return False
        if old is not None:
            self._gone(old)
        if old is None or not _same(old, clean, status=False):
            self.churn += 1
        self._bump()
        return True

    def delete(self, kind: str, body: Mapping[str, Any], *, stray: bool = False) -> bool:
        """Forget an object. stray: it still exists but is no longer bmlb's; kept aside while it
        is being deleted with bmlb's finalizer on."""
        clean = self._lean.strip(body, kind)
        ref = ref_of(clean)
        meta = clean.get("metadata") or {}
        if stray and meta.get("deletionTimestamp") and FINALIZER in (meta.get("finalizers") or ()):
            self._strays[ref] = clean
        else:
            self._strays.pop(ref, None)
        self._deleting.discard(ref)
        self._note(ref)
        old = self._objects[kind].pop(ref, None)
        if old is None:
            return False
        self._gone(old)
        self._order[kind] = None
        self.churn += 1
        self._bump()
        return True

    def retain(self, kind: str, keys: set[str]) -> bool:
        """After a full listing of `kind`: drop the objects it did not hold ("namespace/name" keys)."""
        gone = [ref for ref in self._objects[kind] if f"{ref.namespace}/{ref.name}" not in keys]
        for ref in gone:
            self._gone(self._objects[kind].pop(ref))
            self._deleting.discard(ref)
            self._note(ref)
        if gone:
            self._order[kind] = None
            self.churn += len(gone)
            self._bump()
        return bool(gone)

    def _gone(self, old: dict[str, Any]) -> None:
        if self.on_gone is not None:
            self.on_gone(old)

    def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        return self._objects.get(ref.kind, {}).get(ref) or self._strays.get(ref)

    def bodies(self, kind: str) -> tuple[dict[str, Any], ...]:
        """The live objects of one kind, unsorted: for readers that must not copy the whole index."""
        deleting = self._deleting
        return tuple(b for ref, b in self._objects[kind].items() if ref not in deleting)

    def items(self, kind: str) -> list[tuple[ObjectRef, dict[str, Any]]]:
        """(ref, latest body) of each live object of one kind: the bodies are the index's own, to read."""
        if not self._deleting:
            return list(self._objects[kind].items())
        return [(ref, b) for ref, b in self._objects[kind].items() if ref not in self._deleting]

    def deleting(self) -> set[ObjectRef]:
        return self._deleting | set(self._strays)

    def snapshot(self, *, now: float | None = None,
                 last_routes: tuple[tuple[str, tuple[str, ...]], ...] = ()) -> Snapshot:
        groups: dict[str, tuple[dict[str, Any], ...]] = {}
        for kind, objs in self._objects.items():
            # Sorted by the refs the index keys them by (ref_of of the same body), not recomputed, and
            # sorted again only when one came or went.
            order = self._order[kind]
            if order is None:
                order = self._order[kind] = sorted(objs)
            if self._deleting:
                order = [ref for ref in order if ref not in self._deleting]
            groups[FIELD[kind]] = tuple(map(objs.__getitem__, order))
        return Snapshot(**groups, now=now, last_routes=last_routes, lease_namespace=self.lease_namespace)

    def refs(self, kind: str) -> set[ObjectRef]:
        """The live objects of one kind."""
        return self._objects[kind].keys() - self._deleting

    def live_refs(self) -> set[ObjectRef]:
        """The objects a snapshot taken now holds (none being deleted)."""
        return set().union(*self._objects.values()) - self._deleting

    def nodes_and_leases(self, *, now: float | None) -> Snapshot:
        """Only what node health reads: checked every second, so it must not copy the whole index."""
        def live(kind: str) -> tuple[dict[str, Any], ...]:
            return tuple(sorted((b for b in self._objects[kind].values()
                                 if not (b.get("metadata") or {}).get("deletionTimestamp")), key=ref_of))
        return Snapshot(nodes=live("Node"), leases=live("Lease"), now=now, lease_namespace=self.lease_namespace)

    def _bump(self) -> None:
        self.version += 1
        if self.oldest_unapplied is None:
            self.oldest_unapplied = self._clock()
        self._changed.set()

    def applied(self, version: int) -> None:
        """Everything up to `version` has been acted on."""
        if version >= self.version:
            self.oldest_unapplied = None

    async def wait_changed(self, timeout: float | None) -> bool:
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            return False
        self._changed.clear()
        return True


def _read_status(x: dict[str, Any]) -> Any:
    """The only status the compiler reads: recorded allocations. Conditions and counters that
    bmlb writes itself must not wake it up again."""
    status = x.get("status") or {}
    if x.get("kind") == "Service":
        return status.get("loadBalancer")
    if x.get("kind") == "NATRule":
        return status.get("public")
    if x.get("kind") == "Node":
        return ([(c.get("type"), c.get("status")) for c in status.get("conditions") or []],
                [(a.get("type"), a.get("address")) for a in status.get("addresses") or []])
    return None


def _identical(a: Any, b: Any) -> bool:
    """The same JSON, types included: `==` has 1 == 1.0 == True, which parse differently. (repr
    tells JSON's values apart; keys in another order read as different, which costs a compile.)"""
    if a is None or b is None:
        return False
    return a is b or (a == b and repr(a) == repr(b))


def _same(a: dict[str, Any], b: dict[str, Any], *, status: bool = True) -> bool:
    """Equal for bmlb's purposes: resourceVersion churn, kopf's own annotations and finalizers,
    and bmlb's own status writes do not count (nor, with status=False, the allocations recorded in
    status)."""
    def core(x: dict[str, Any]) -> tuple[Any, ...]:
        meta = {k: v for k, v in (x.get("metadata") or {}).items() if k not in ("resourceVersion", "finalizers")}
        spec = x.get("spec")
        if x.get("kind") == "Lease":  # renewals are judged by the clock, not as changes
            spec = {k: v for k, v in (spec or {}).items() if k not in ("renewTime", "acquireTime")}
        return (meta, spec, _read_status(x) if status else None, x.get("endpoints"), x.get("ports"),
                x.get("addressType"))
    return _identical(core(a), core(b))
