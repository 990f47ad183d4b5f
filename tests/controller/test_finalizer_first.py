"""The finalizer is written before the object's status: the finalizer write names the
resourceVersion the index holds, and bmlb's own status write would make that stale until its
watch event arrives (a 409: the firewall then carried the object with no finalizer on it, and a
deletion in that window left its rules behind; seen once in CI's fault suite)."""

from __future__ import annotations

import asyncio
from typing import Any

from controller.core.compiler import FirewallTarget
from controller.core.conditions import FirewallOutcome
from controller.core.problems import ObjectRef
from controller.core.reasons import Reason
from controller.runtime.finalizers import FINALIZER
from controller.runtime.index import ClusterIndex
from controller.runtime.kube import KubeError
from controller.runtime.reconciler import Reconciler
from tests.controller.estate import firewall, nat, pool, service

WEB = ObjectRef("Service", "shop", "web")


class Cluster:
    """Each write moves the object's resourceVersion; a finalizer write naming an older one gets
    409, as from the API server. Nothing flows back into the index (no watch here)."""

    def __init__(self) -> None:
        self.rv: dict[ObjectRef, int] = {}
        self.finalized: list[ObjectRef] = []
        self.at_sync: tuple[set[ObjectRef], set[ObjectRef]] = (set(), set())  # owners, finalized

    def _bump(self, ref: ObjectRef) -> None:
        self.rv[ref] = self.rv.get(ref, 1) + 1

    def patch_status(self, ref: ObjectRef, status: dict[str, Any]) -> None:
        self._bump(ref)

    def post_event(self, ref: ObjectRef, **_: Any) -> None:
        pass

    def patch_finalizers(self, ref: ObjectRef, finalizers: tuple[str, ...], resource_version: str) -> None:
        if resource_version != str(self.rv.get(ref, 1)):
            raise KubeError(f"patch finalizers of {ref}: 409 Conflict", 409)
        self._bump(ref)
        if FINALIZER in finalizers:
            self.finalized.append(ref)


def test_finalizer_is_on_before_the_firewall_carries_the_service() -> None:
    index = ClusterIndex()
    index.upsert("Firewall", firewall())
    index.upsert("VIPPool", pool("vips", "10.0.0.0/29"))
    index.upsert("VIPPool", pool("pub", "198.51.100.0/29", zone="untrust", purpose="Public", auto=False))
    for kind, body in (("Service", service("shop", "web", (443, 8443))),
                       ("NATRule", nat("shop", "web", "web", "p443", pool="pub"))):
        index.upsert(kind, {**body, "metadata": {**body["metadata"], "resourceVersion": "1"}})
    cluster = Cluster()

    async def sync(target: FirewallTarget) -> FirewallOutcome:
        d = target.desired
        owners = {ObjectRef(o.owner.kind, o.owner.namespace, o.owner.name)
                  for group in (d.addresses, d.nat_rules, d.security_rules) for o in group if o.owner is not None}
        cluster.at_sync = (owners, set(cluster.finalized))
        return FirewallOutcome(True, Reason.Synced, "in sync")

    r = Reconciler(index=index, kube=cluster, sync_firewall=sync)  # type: ignore[arg-type]
    asyncio.run(r.reconcile())
    owners, finalized = cluster.at_sync
    assert WEB in owners and ObjectRef("NATRule", "shop", "web") in owners
    assert owners <= finalized, f"the firewall carried objects of {owners - finalized} before their finalizer was on"
