"""A body the index replaced is let go while the reconcile that compiled it still runs: a burst's
status writes echo back as new bodies during its firewall sync, and nothing of bmlb (the
reconcile's snapshot, the compile cache, the status memo) may keep the old ones beside them.

Oracle: the garbage collector's list of who refers to each replaced body (only the test's own list
may), not bmlb's own bookkeeping."""

from __future__ import annotations

import asyncio
import copy
import gc
from typing import Any

from controller.core.compiler import FirewallTarget
from controller.core.conditions import FirewallOutcome
from controller.core.problems import ObjectRef
from controller.core.reasons import Reason
from controller.runtime.index import ClusterIndex
from controller.runtime.reconciler import Reconciler
from tests.controller.estate import firewall, nat, policy, pool, service

RULES = [{"name": "web", "from": {"zones": ["untrust"]}, "ports": [443]}]


class Kube:
    """Status and finalizer writes, echoed into the index later, as their watch events arrive."""

    def __init__(self, index: ClusterIndex) -> None:
        self.index, self.echoes, self.rv = index, [], 100

    def _echo(self, ref: ObjectRef, change: Any) -> None:
        self.echoes.append((ref, change))

    def patch_status(self, ref: ObjectRef, status: dict[str, Any]) -> None:
        self._echo(ref, lambda b: b.__setitem__("status", {**(b.get("status") or {}), **copy.deepcopy(status)}))

    def patch_finalizers(self, ref: ObjectRef, finalizers: tuple[str, ...], resource_version: str) -> None:
        self._echo(ref, lambda b: b["metadata"].__setitem__("finalizers", list(finalizers)))

    def post_event(self, ref: ObjectRef, **_: Any) -> None:
        pass

    def deliver(self) -> list[dict[str, Any]]:
        """Apply the waiting echoes to the index; the bodies they replaced."""
        replaced = []
        for ref, change in self.echoes:
            old = self.index.get(ref)
            assert old is not None
            body = copy.deepcopy(old)
            change(body)
            self.rv += 1
            body["metadata"]["resourceVersion"] = str(self.rv)
            self.index.upsert(ref.kind, body)
            replaced.append(old)
        self.echoes.clear()
        return replaced


def _holders(body: dict[str, Any], mine: list[Any]) -> list[str]:
    return [type(r).__name__ for r in gc.get_referrers(body) if r is not mine and not _is_frame(r)]


def _is_frame(obj: object) -> bool:
    return type(obj).__name__ == "frame"


def test_bodies_replaced_during_the_sync_are_held_by_nobody() -> None:
    index = ClusterIndex()
    index.upsert("Firewall", firewall())
    index.upsert("VIPPool", pool("vips", "10.0.0.0/28"))
    index.upsert("VIPPool", pool("public", "192.0.2.0/28", zone="untrust", purpose="Public"))
    for ns in ("team-a", "team-b"):
        for i in range(3):
            index.upsert("Service", service(ns, f"web{i}", (443, 8443)))
            index.upsert("NATRule", nat(ns, f"web{i}", f"web{i}", 443, pool="public"))
        index.upsert("SecurityPolicy", policy(ns, "web", ["web0", "web1", "web2"], RULES))
    kube = Kube(index)
    replaced: list[dict[str, Any]] = []
    checked = []

    async def sync(target: FirewallTarget) -> FirewallOutcome:
        replaced.extend(kube.deliver())  # the echoes of the writes made before the sync
        gc.collect()
        held = {str(index.get(ObjectRef(b["kind"], b["metadata"].get("namespace", ""), b["metadata"]["name"]))
                    and b["metadata"]["name"]): _holders(b, replaced) for b in replaced}
        checked.append({k: v for k, v in held.items() if v})
        return FirewallOutcome(True, Reason.Synced, "in sync")

    r = Reconciler(index=index, kube=kube, sync_firewall=sync)  # type: ignore[arg-type]
    for _ in range(3):
        asyncio.run(r.reconcile())
        replaced.extend(kube.deliver())
    assert len(checked) == 3 and len(replaced) > 12
    assert checked == [{}, {}, {}], checked

    # Settled (every status found current and remembered), then edits between reconciles: what
    # bmlb does not read (a label: the same parse), and what it does (a port).
    replaced.clear()
    for kind in ("Service", "NATRule", "SecurityPolicy"):
        for ref, old in index.items(kind):
            body = copy.deepcopy(old)
            body["metadata"]["labels"] = {"edited": "yes"}
            if kind == "Service" and ref.name == "web0":
                body["spec"]["ports"][0]["port"] = 444
            index.upsert(kind, body)
            replaced.append(old)
    gc.collect()
    assert {b["metadata"]["name"]: _holders(b, replaced) for b in replaced if _holders(b, replaced)} == {}
