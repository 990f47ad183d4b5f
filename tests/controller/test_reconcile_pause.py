"""The cyclic collector during a reconcile (controller/core/collector.py, Pause): paused through
the compile always; after a small change (the compile reused nearly everything) paused to the
reconcile's end, so that the first young collection does not rescan what the compile built while
the firewall syncs; after a burst resumed right after the compile. Whatever happens, it is on again
when the reconcile returns or raises."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from typing import Any

import pytest

from controller.core.compiler import FirewallTarget
from controller.core.conditions import FirewallOutcome
from controller.core.problems import ObjectRef
from controller.core.reasons import Reason
from controller.runtime.index import ClusterIndex
from controller.runtime.reconciler import Reconciler
from tests.controller.estate import firewall, pool, service


class Kube:
    def patch_status(self, ref: ObjectRef, status: dict[str, Any]) -> None:
        pass

    def post_event(self, ref: ObjectRef, **_: Any) -> None:
        pass

    def patch_finalizers(self, ref: ObjectRef, finalizers: tuple[str, ...], resource_version: str) -> None:
        pass


@pytest.fixture(autouse=True)
def _enabled() -> Iterator[None]:
    gc.enable()
    yield
    gc.unfreeze()
    gc.enable()


def _index(services: int) -> ClusterIndex:
    index = ClusterIndex()
    index.upsert("Firewall", firewall())
    index.upsert("VIPPool", pool("vips", "10.0.0.0/24"))
    for i in range(services):
        index.upsert("Service", service("shop", f"web{i}", (443, 8443)))
    return index


def test_small_change_keeps_the_collector_paused_through_the_sync_and_burst_does_not() -> None:
    seen: list[bool] = []

    async def sync(target: FirewallTarget) -> FirewallOutcome:
        seen.append(gc.isenabled())
        return FirewallOutcome(True, Reason.Synced, "in sync")

    index = _index(60)
    r = Reconciler(index=index, kube=Kube(), sync_firewall=sync)  # type: ignore[arg-type]
    asyncio.run(r.reconcile())  # everything new: a burst
    assert seen == [True] and gc.isenabled()
    asyncio.run(r.reconcile())  # nothing changed: everything reused
    assert seen[-1] is False and gc.isenabled()
    index.upsert("Service", service("shop", "web7", (443, 8443), (80, 8080)))
    asyncio.run(r.reconcile())  # one Service of 60 changed
    assert seen[-1] is False and gc.isenabled()


def test_the_collector_is_on_again_when_the_sync_fails() -> None:
    async def sync(target: FirewallTarget) -> FirewallOutcome:
        raise RuntimeError("the device went away")

    r = Reconciler(index=_index(3), kube=Kube(), sync_firewall=sync)  # type: ignore[arg-type]
    for _ in range(2):
        with pytest.raises(RuntimeError):
            asyncio.run(r.reconcile())
        assert gc.isenabled()


def test_a_disabled_collector_stays_disabled() -> None:
    async def sync(target: FirewallTarget) -> FirewallOutcome:
        return FirewallOutcome(True, Reason.Synced, "in sync")

    gc.disable()
    asyncio.run(Reconciler(index=_index(3), kube=Kube(), sync_firewall=sync).reconcile())  # type: ignore[arg-type]
    assert not gc.isenabled()
