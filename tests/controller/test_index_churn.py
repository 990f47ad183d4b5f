"""What counts as churn for the compile cache (controller/runtime/index.py, ClusterIndex.churn): a
burst of new or edited objects empties the cache before its compile (controller/runtime/
reconciler.py); the echo of bmlb's own status writes, which records every Service's VIP after a
burst, is a change the next compile reads but not a reason to make everything anew."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from controller.core.compiler import FirewallTarget
from controller.core.conditions import FirewallOutcome
from controller.core.problems import ObjectRef
from controller.core.reasons import Reason
from controller.runtime.index import ClusterIndex
from controller.runtime.reconciler import Reconciler
from tests.controller.estate import firewall, policy, pool, service


class Kube:
    """Status writes land in the index, as their watch events would."""

    def __init__(self) -> None:
        self.index: ClusterIndex | None = None

    def patch_status(self, ref: ObjectRef, status: dict[str, Any]) -> None:
        assert self.index is not None
        body = copy.deepcopy(self.index.get(ref))
        if body is not None and ref.kind != "VIPPool":
            body["status"] = {**body.get("status", {}), **status}
            self.index.upsert(ref.kind, body)

    def post_event(self, ref: ObjectRef, **_: Any) -> None:
        pass

    def patch_finalizers(self, ref: ObjectRef, finalizers: tuple[str, ...], resource_version: str) -> None:
        pass


async def _synced(target: FirewallTarget) -> FirewallOutcome:
    return FirewallOutcome(True, Reason.Synced, "in sync")


def test_recorded_allocations_are_changes_but_not_churn() -> None:
    index = ClusterIndex()
    index.upsert("Service", service("shop", "web", (443, 8443)))
    churn, version = index.churn, index.version
    index.upsert("Service", service("shop", "web", (443, 8443), ingress=["10.0.0.1"]))
    assert index.version == version + 1 and index.churn == churn  # read by the compile, nothing new
    index.upsert("Service", service("shop", "web", (443, 8443), (80, 8080), ingress=["10.0.0.1"]))
    assert index.churn == churn + 1
    index.delete("Service", service("shop", "web", (443, 8443)))
    assert index.churn == churn + 2


def test_the_compile_after_a_burst_reuses_what_the_echo_left_alone() -> None:
    kube = Kube()
    index = kube.index = ClusterIndex()
    index.upsert("Firewall", firewall())
    index.upsert("VIPPool", pool("vips", "10.0.0.0/24"))
    for i in range(40):
        index.upsert("Service", service("shop", f"web{i}", (443, 8443)))
        index.upsert("SecurityPolicy", policy("shop", f"web{i}", [f"web{i}"],
                                              [{"name": "inet", "from": {"zones": ["untrust"]}}]))
    r = Reconciler(index=index, kube=kube, sync_firewall=_synced)  # type: ignore[arg-type]
    before = index.version
    asyncio.run(r.reconcile())  # the burst: every VIP allocated and recorded (echoed into the index)
    assert index.version >= before + 40
    asyncio.run(r.reconcile())
    reused, made = r.compile_cache.last
    assert made <= 40 < reused  # the Services whose status moved are parsed again; their rules reused
