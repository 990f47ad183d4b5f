"""A finalizer comes off only for a deletion the compile saw: an object whose deletion arrives
while the firewall is being synced still has its rules there, written by that very sync."""

from __future__ import annotations

import asyncio
from typing import Any

from controller.core.compiler import FirewallTarget
from controller.core.conditions import FirewallOutcome
from controller.core.problems import ObjectRef
from controller.core.reasons import Reason
from controller.runtime.finalizers import FINALIZER
from controller.runtime.index import ClusterIndex
from controller.runtime.reconciler import Reconciler
from tests.controller.estate import firewall, nat, pool, service

NAT = ObjectRef("NATRule", "shop", "web")


class RecordingKube:
    """The three writes the reconcile loop makes, recorded (the API server's side is tested elsewhere)."""

    def __init__(self) -> None:
        self.finalizers: list[tuple[ObjectRef, tuple[str, ...]]] = []

    def patch_status(self, ref: ObjectRef, status: dict[str, Any]) -> None:
        pass

    def post_event(self, ref: ObjectRef, **_: Any) -> None:
        pass

    def patch_finalizers(self, ref: ObjectRef, finalizers: tuple[str, ...], resource_version: str) -> None:
        self.finalizers.append((ref, finalizers))


def _held(body: dict[str, Any], *, deleting: bool = False) -> dict[str, Any]:
    meta = {**body["metadata"], "finalizers": [FINALIZER], "resourceVersion": "5"}
    if deleting:
        meta["deletionTimestamp"] = "2026-12-01T00:00:00Z"
    return {**body, "metadata": meta}


def test_deletion_during_the_sync_waits_for_the_next_compile() -> None:
    index = ClusterIndex()
    index.upsert("Firewall", firewall())
    index.upsert("VIPPool", pool("vips", "10.0.0.0/29"))
    index.upsert("VIPPool", pool("pub", "198.51.100.0/29", zone="untrust", purpose="Public", auto=False))
    index.upsert("Service", service("shop", "web", (443, 8443)))
    natrule = nat("shop", "web", "web", "p443", pool="pub")
    index.upsert("NATRule", _held(natrule))
    synced: list[set[str]] = []

    async def sync(target: FirewallTarget) -> FirewallOutcome:
        synced.append({r.name for r in target.desired.nat_rules})
        if len(synced) == 1:  # the user deletes the NATRule while its rule is being written
            index.upsert("NATRule", _held(natrule, deleting=True))
        return FirewallOutcome(True, Reason.Synced, "in sync")

    kube = RecordingKube()
    r = Reconciler(index=index, kube=kube, sync_firewall=sync)  # type: ignore[arg-type]
    asyncio.run(r.reconcile())
    assert synced[0], "the first sync writes the NATRule's rule"
    assert (NAT, ()) not in kube.finalizers, "released while its rule is still on the firewall"
    asyncio.run(r.reconcile())
    assert not synced[1], "the second compile sees the deletion and drops the rule"
    assert (NAT, ()) in kube.finalizers
