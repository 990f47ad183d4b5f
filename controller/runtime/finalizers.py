"""bmlb's finalizer, kept by the reconcile loop itself: put on an object before the firewall first
carries anything of it, taken off once the firewall no longer does. Objects that own nothing on a
firewall never get one, so they are deleted at once.

Every write names the resourceVersion it was computed from: a concurrent change (another
controller's finalizer) makes it fail with 409 rather than overwrite that change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from controller.core.problems import ObjectRef
from controller.runtime import fanout

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
        if ref.kind not in KINDS or body is None or _meta(body).get("deletionTimestamp") or holds(body):
            continue
        out.append(Change(ref, (*_list(body), FINALIZER), str(_meta(body).get("resourceVersion") or "")))
    out.sort(key=lambda c: c.ref)
    return out


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
