"""A Service's IPAllocated Event gates nothing: it is posted while the firewall syncs, not before
(at 1,000 Services, 1,000 Event posts had held the sync back ~3 s), and still posted, after its
status, before the reconcile returns, even when the sync fails."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from controller.core.compiler import FirewallTarget
from controller.core.conditions import FirewallOutcome
from controller.core.problems import ObjectRef
from controller.core.reasons import Reason
from controller.runtime import status_writer
from controller.runtime.index import ClusterIndex
from controller.runtime.reconciler import Reconciler
from tests.controller.estate import firewall, pool, service

WEB = ObjectRef("Service", "shop", "web")


class Kube:
    def __init__(self, sync_started: threading.Event) -> None:
        self.sync_started = sync_started
        self.log: list[tuple[str, ObjectRef, str]] = []

    def patch_status(self, ref: ObjectRef, status: dict[str, Any]) -> None:
        self.log.append(("status", ref, ""))

    def post_event(self, ref: ObjectRef, *, reason: str, **_: Any) -> None:
        # An Event posted before the firewall sync starts would wait here until the test's timeout.
        assert self.sync_started.wait(10), "the Event was posted before the firewall sync began"
        self.log.append(("event", ref, reason))

    def patch_finalizers(self, ref: ObjectRef, finalizers: tuple[str, ...], resource_version: str) -> None:
        pass


def _estate() -> ClusterIndex:
    index = ClusterIndex()
    index.upsert("Firewall", firewall())
    index.upsert("VIPPool", pool("vips", "10.0.0.0/29"))
    index.upsert("Service", service("shop", "web", (443, 8443)))
    return index


@pytest.mark.parametrize("fails", [False, True])
def test_allocation_event_is_posted_during_the_sync(fails: bool) -> None:
    started = threading.Event()
    kube = Kube(started)

    async def sync(target: FirewallTarget) -> FirewallOutcome:
        started.set()
        await asyncio.sleep(0.2)  # the Event goes out meanwhile
        if fails:
            raise RuntimeError("the device went away")
        return FirewallOutcome(True, Reason.Synced, "in sync")

    r = Reconciler(index=_estate(), kube=kube, sync_firewall=sync)  # type: ignore[arg-type]
    if fails:
        with pytest.raises(RuntimeError):
            asyncio.run(r.reconcile())
    else:
        asyncio.run(r.reconcile())
    events = [e for e in kube.log if e[0] == "event"]
    assert events == [("event", WEB, "IPAllocated")]
    assert kube.log.index(("status", WEB, "")) < kube.log.index(events[0]), "the Event follows its status"


def test_collected_events_are_posted_and_one_failure_stops_none() -> None:
    posted: list[str] = []

    def post(ref: ObjectRef, *, reason: str, **_: Any) -> None:
        if reason == "Bad":
            raise ConnectionError("reset")
        posted.append(reason)

    events = [(WEB, "uid", "Normal", r, "m") for r in ("A", "Bad", "B", "C")]
    assert status_writer.post(events, post) == 3
    assert sorted(posted) == ["A", "B", "C"]
