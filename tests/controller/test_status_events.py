"""Which transitions become Events (the lead's decision, issue 13): Warnings for problems, Ready
again after a problem, a Service's VIP allocated or changed (MetalLB's "IPAllocated"); not an
object's first Ready, which its status already says."""

from __future__ import annotations

from typing import Any

from controller.core import status
from controller.core.compiler import compile
from controller.core.conditions import FirewallOutcome
from controller.core.problems import ObjectRef
from controller.core.snapshot import Snapshot, ref_of
from controller.core.specs import ANN_IP
from tests.controller.estate import firewall, nat, policy, pool, service

NOW = "2026-01-01T00:00:00Z"
OK = {"edge": FirewallOutcome(True, "Synced", "in sync")}
DOWN = {"edge": FirewallOutcome(False, "Unreachable", "the firewall did not answer")}


def _objects(*, vip: str = "10.96.0.0/30") -> list[dict[str, Any]]:
    return [pool("vips", vip), pool("pub", "203.0.113.0/29", zone="untrust", purpose="Public", auto=False),
            firewall(), service("shop", "web", (443, 8443)), nat("shop", "web", "web", 443, pool="pub"),
            policy("shop", "guard", ["web"], [{"name": "inet", "from": {"zones": ["untrust"]}}])]


def _round(objs: list[dict[str, Any]], outcomes: dict[str, FirewallOutcome]) -> dict[ObjectRef, status.Update]:
    """One reconcile's updates; the written statuses go back into the objects, as the API server keeps them."""
    snap = Snapshot.of(objs)
    bodies = {ref_of(b): b for b in (*snap.services, *snap.pools, *snap.policies, *snap.nat_rules)}
    updates = {u.ref: u for u in status.desired(compile(snap), bodies, outcomes, now=NOW)}
    for body in objs:
        if (u := updates.get(ref_of(body))) is not None:
            body["status"] = u.status
    return updates


NATRULE = ObjectRef("NATRule", "shop", "web")
POLICY = ObjectRef("SecurityPolicy", "shop", "guard")
SERVICE = ObjectRef("Service", "shop", "web")


def test_first_ready_is_no_event_but_the_vip_is() -> None:
    updates = _round(_objects(), OK)
    assert updates[NATRULE].status["conditions"] and updates[NATRULE].events == ()
    assert updates[POLICY].events == ()
    assert all(u.events == () for u in updates.values() if u.ref.kind == "VIPPool")
    (event,) = updates[SERVICE].events
    assert event[:2] == ("Normal", "IPAllocated") and "10.96.0." in event[2]


def test_nothing_changed_no_update_no_event() -> None:
    objs = _objects()
    _round(objs, OK)
    assert _round(objs, OK) == {}


def test_a_problem_warns_and_recovery_is_told() -> None:
    objs = _objects()
    _round(objs, OK)
    down = _round(objs, DOWN)
    assert any(e[0] == "Warning" and e[1] == "Unreachable" for e in down[NATRULE].events), down[NATRULE].events
    back = _round(objs, OK)
    assert ("Normal", "Synced") in [e[:2] for e in back[NATRULE].events] or any(
        e[0] == "Normal" and e[2].startswith("Ready:") for e in back[NATRULE].events), back[NATRULE].events
    assert SERVICE not in back  # its VIP did not change


def test_a_changed_vip_is_told() -> None:
    objs = _objects()
    first = _round(objs, OK)[SERVICE].status["loadBalancer"]["ingress"][0]["ip"]
    wanted = "10.96.0.3" if first != "10.96.0.3" else "10.96.0.2"
    svc = next(b for b in objs if b["kind"] == "Service")
    svc["metadata"]["annotations"][ANN_IP] = wanted
    update = _round(objs, OK)[SERVICE]
    assert update.status["loadBalancer"]["ingress"][0]["ip"] == wanted
    assert [e[:2] for e in update.events] == [("Normal", "IPAllocated")] and wanted in update.events[0][2]
