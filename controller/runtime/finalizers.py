"""bmlb's finalizer, kept by the reconcile loop itself: put on an object before the firewall first
carries anything of it, taken off once the firewall no longer does. Objects that own nothing on a
firewall never get one, so they are deleted at once.

Every write names the resourceVersion it was computed from: a concurrent change (another
controller's finalizer) makes it fail with 409 rather than overwrite that change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Set
from dataclasses import dataclass
from typing import Any

from controller.core.compiler import FirewallTarget, Report
from controller.core.problems import ObjectRef, interned
from controller.runtime import fanout
from firewall.model import Owner

log = logging.getLogger("bmlb.finalizers")
FINALIZER = "bmlb.io/firewall-cleanup"
KINDS = ("Service", "NATRule", "SecurityPolicy")  # the kinds that own firewall objects


@dataclass(frozen=True, slots=True)
class Change:
    ref: ObjectRef
    finalizers: tuple[str, ...]  # the whole list after the change
    resource_version: str


def _meta(body: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = body.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _list(body: Mapping[str, Any]) -> list[str]:
    raw = _meta(body).get("finalizers")
    return [f for f in raw if isinstance(f, str)] if isinstance(raw, list) else []


def holds(body: Mapping[str, Any]) -> bool:
    raw = _meta(body).get("finalizers")
    return isinstance(raw, list) and FINALIZER in raw


def to_add(owners: Iterable[ObjectRef], bodies: Callable[[ObjectRef], Mapping[str, Any] | None]) -> list[Change]:
    """Objects about to own firewall objects that lack the finalizer (and are not being deleted)."""
    out = []
    for ref in set(owners):  # most hold it already: only the few that do not are sorted
        body = bodies(ref)
        if body is not None and _lacks(ref, body):
            out.append(Change(ref, (*_list(body), FINALIZER), str(_meta(body).get("resourceVersion") or "")))
    out.sort(key=lambda c: c.ref)
    return out


def _lacks(ref: ObjectRef, body: Mapping[str, Any]) -> bool:
    """An owner's body that needs the finalizer: of a kind that owns firewall objects, not being
    deleted, without it."""
    return ref.kind in KINDS and not _meta(body).get("deletionTimestamp") and not holds(body)


class Owners:
    """Who owns firewall objects after a compile, and which of them lack the finalizer, with what
    the last reconcile found remembered: at 10,000 Services each reconcile asked again of 30,000
    owners (~0.35 s of a one-Service change). A ref made for an address object's owner is reused
    while the compile hands back the very same owner (its compile cache does), and an object found
    to need nothing is passed over until the index's journal says its body was replaced: the result
    is what `to_add` finds from scratch. Only refs are kept, nothing of a body: the metadata once
    kept here outlived 20,000 bodies replaced by the echo of a burst's status writes."""

    def __init__(self) -> None:
        self._refs: dict[int, tuple[Owner, ObjectRef]] = {}
        self._settled: set[ObjectRef] = set()  # owners found to need nothing

    def of(self, targets: Iterable[FirewallTarget], reports: Iterable[Report]) -> set[ObjectRef]:
        """Rules' owners (in the reports) and address objects' (a Service owns its VIP's), on
        real Firewalls only: a target without a Firewall object holds nothing."""
        real = [t for t in targets if t.spec is not None]
        if not real:
            return set()
        out = {r.ref for r in reports if r.firewall_objects}
        refs: dict[int, tuple[Owner, ObjectRef]] = {}
        for t in real:
            for obj in t.desired.addresses:
                if (o := obj.owner) is None:
                    continue
                hit = self._refs.get(id(o))
                if hit is None or hit[0] is not o:
                    hit = (o, interned(ObjectRef(o.kind, o.namespace, o.name)))
                refs[id(o)] = hit
                out.add(hit[1])
        self._refs = refs
        return out

    def to_add(self, owners: Iterable[ObjectRef], bodies: Callable[[ObjectRef], Mapping[str, Any] | None],
               *, changed: Set[ObjectRef] | None = None) -> list[Change]:
        """changed: every object whose body was replaced since the last call (the index's journal),
        when known; then an owner found to need nothing before, and not among them, is not asked."""
        if changed is None:
            candidates: Iterable[ObjectRef] = owners
            settled: set[ObjectRef] = set()
        else:
            owners = owners if isinstance(owners, Set) else set(owners)
            settled = self._settled
            settled.intersection_update(owners)
            candidates = (owners - settled) | (changed & owners)
        lacking = []
        for ref in candidates:
            body = bodies(ref)
            if body is not None and isinstance(body.get("metadata"), Mapping) and not _lacks(ref, body):
                settled.add(ref)
            else:
                settled.discard(ref)
                lacking.append(ref)  # a body without metadata: to_add says what it makes of it
        self._settled = settled
        return to_add(lacking, bodies)


def to_remove(released: Iterable[ObjectRef], bodies: Callable[[ObjectRef], Mapping[str, Any] | None]) -> list[Change]:
    """Objects being deleted, released by the firewall, that still carry the finalizer."""
    out = []
    for ref in sorted(set(released)):
        body = bodies(ref)
        if body is None or not holds(body):
            continue
        out.append(Change(ref, tuple(f for f in _list(body) if f != FINALIZER),
                          str(_meta(body).get("resourceVersion") or "")))
    return out


def write(changes: list[Change], patch: Callable[[ObjectRef, tuple[str, ...], str], None], *,
          workers: int = 16) -> int:
    """Write each change; one refused write (409: the object moved on; 404: gone) never stops the
    others. Returns how many were written."""
    def one(c: Change) -> int:
        try:
            patch(c.ref, c.finalizers, c.resource_version)
        except Exception as err:
            log.info("finalizers of %s not written: %s", c.ref, err)
            return 0
        return 1

    return fanout.each(changes, one, workers=workers)
