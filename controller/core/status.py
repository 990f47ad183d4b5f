"""What each object's status should say after a reconcile: only the updates that change something
(written by controller/runtime/status_writer.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from controller.core import conditions
from controller.core.compiler import Compiled
from controller.core.conditions import FirewallOutcome
from controller.core.problems import ObjectRef
from controller.core.snapshot import Body


@dataclass(frozen=True, slots=True)
class Update:
    ref: ObjectRef
    uid: str
    status: dict[str, Any]
    events: tuple[tuple[str, str, str], ...]  # (type, reason, message)


def _subset_equal(want: Mapping[str, Any], have: Mapping[str, Any]) -> bool:
    return all(have.get(k) == v for k, v in want.items())


def desired(compiled: Compiled, bodies: Mapping[ObjectRef, Body], outcomes: Mapping[str, FirewallOutcome],
            *, now: str) -> list[Update]:
    """Status updates for every object whose status must change (empty when all is current)."""
    updates: list[Update] = []
    assignments = {a.ref: a for a in compiled.allocations}
    for ref, body in sorted(bodies.items()):
        meta = body.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            continue
        old_status = body.get("status") or {}
        problems = compiled.problems_of(ref)
        report = compiled.report(ref)
        fields = dict(report.fields)
        status: dict[str, Any] = {}
        if ref.kind == "Service":
            a = assignments.get(ref)
            ingress = [{"ip": str(ip), "ipMode": "VIP"} for ip in (a.addresses if a else ())]
            status["loadBalancer"] = {"ingress": ingress}
            conds = conditions.for_object(ref, problems, None, (), uses_firewall=False)
        elif ref.kind == "NATRule":
            fw = fields.get("firewall")
            status.update(public=fields.get("public", ""), vip=fields.get("vip", ""),
                          rule=", ".join(report.firewall_objects))
            conds = conditions.for_object(ref, problems, outcomes.get(fw) if fw else None,
                                          report.firewall_objects, uses_firewall=True)
            if not status["public"] and old_status.get("public") and not any(p.is_error for p in problems):
                status["public"] = old_status["public"]  # keep a recorded address while its VIP is pending
        elif ref.kind == "SecurityPolicy":
            fw = fields.get("firewall")
            status.update(firewallRules=len(report.firewall_objects), rules=list(report.firewall_objects),
                          selectedServices=int(fields.get("selected", "0")))
            conds = conditions.for_object(ref, problems, outcomes.get(fw) if fw else None,
                                          report.firewall_objects, uses_firewall=True)
        elif ref.kind == "VIPPool":
            pool = next((p for p in compiled.pools if p.name == ref.name), None)
            used_unique = len({ip for a in compiled.allocations for ip, p in zip(a.addresses, a.pools, strict=True)
                               if p == ref.name})
            status.update(allocated=used_unique, available=str(pool.capacity() - used_unique) if pool else "0")
            conds = conditions.for_object(ref, problems, None, (), uses_firewall=False)
        else:
            continue
        rendered = conditions.render(conds, old=old_status.get("conditions") or [],
                                     generation=int(meta.get("generation") or 0), now=now)
        status["conditions"] = rendered
        if ref.kind != "Service":
            status["observedGeneration"] = int(meta.get("generation") or 0)
        if _subset_equal(status, old_status):
            continue
        updates.append(Update(ref, str(meta.get("uid") or ""), status, _events(ref, status, old_status)))
    return updates


def _events(ref: ObjectRef, status: Mapping[str, Any],
            old_status: Mapping[str, Any]) -> tuple[tuple[str, str, str], ...]:
    """Events only for transitions a kubectl user must see (the status says the rest): a
    condition turning bad, Ready again after a problem, a Service's VIP allocated or changed.
    Not an object's first Ready: at 1,000 objects that was a third of the API writes."""
    old_conds = old_status.get("conditions") or []
    was = {c.get("type"): c.get("status") for c in old_conds if isinstance(c, Mapping)}
    events = tuple(
        ("Normal" if c["status"] == "True" else "Warning", c["reason"], f"{c['type']}: {c['message']}")
        for c in conditions.changed(status["conditions"], old_conds)
        if (c["status"] == "False" and c["type"] != "Ready")
        or (c["type"] == "Ready" and c["status"] == "True" and was.get("Ready") == "False"))
    if ref.kind == "Service":
        events += _allocated(status["loadBalancer"]["ingress"], old_status)
    return events


IP_ALLOCATED = "IPAllocated"  # MetalLB's reason for the same Event


def _allocated(ingress: list[dict[str, str]], old_status: Mapping[str, Any]) -> tuple[tuple[str, str, str], ...]:
    """The Event of a Service's VIP allocated or changed (none when it is withdrawn: its
    conditions say why)."""
    lb = old_status.get("loadBalancer")
    before = lb.get("ingress") if isinstance(lb, Mapping) else None
    old_ips = [i.get("ip") for i in before if isinstance(i, Mapping)] if isinstance(before, list) else []
    ips = [i["ip"] for i in ingress]
    if not ips or ips == old_ips:
        return ()
    return (("Normal", IP_ALLOCATED, f"Assigned IP {', '.join(ips)}"),)

