"""What each object's status should say after a reconcile: only the updates that change something
(written by controller/runtime/status_writer.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
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


@dataclass
class StatusMemo:
    """Objects whose status the last reconcile found current, and from what inputs. At 10,000
    Services rendering every object's conditions to find them all current took over a second of a
    one-Service change. Only "nothing to write" is remembered, and reused only for the very same
    body (identity: the index replaces a body on any change) with equal inputs: the time a render
    would stamp never reaches a status that compares equal to the old one."""

    # ref -> (body, *inputs): one tuple per object, not a pair holding the inputs' own tuple
    _current: dict[ObjectRef, tuple[Any, ...]] = field(default_factory=dict)

    def is_current(self, ref: ObjectRef, body: Body, key: tuple[Any, ...]) -> bool:
        seen = self._current.get(ref)
        return seen is not None and seen[0] is body and seen[1:] == key

    def remember(self, ref: ObjectRef, body: Body, key: tuple[Any, ...]) -> None:
        self._current[ref] = (body, *key)

    def known(self) -> Mapping[ObjectRef, object]:
        """The objects found current (with the body and inputs they were found current with): the
        memo's own dict, which `set.difference` probes in C with the hashes the set has."""
        return self._current

    def forget(self, ref: ObjectRef) -> None:
        self._current.pop(ref, None)

    def let_go(self, ref: ObjectRef, body: Body) -> None:
        """`body` was replaced in the index: it is never current again (`is_current` asks for the
        very same body), so it is not held for that."""
        seen = self._current.get(ref)
        if seen is not None and seen[0] is body:
            del self._current[ref]

    def keep(self, refs: Iterable[ObjectRef]) -> None:
        """Forget every object not among `refs` (gone, or not compiled)."""
        current = self._current
        for gone in current.keys() - (refs if isinstance(refs, set | frozenset) else set(refs)):
            del current[gone]

    def clear(self) -> None:
        self._current.clear()


def _subset_equal(want: Mapping[str, Any], have: Mapping[str, Any]) -> bool:
    return all(have.get(k) == v for k, v in want.items())


def desired(compiled: Compiled, bodies: Mapping[ObjectRef, Body], outcomes: Mapping[str, FirewallOutcome],
            *, now: str, memo: StatusMemo | None = None) -> list[Update]:
    """Status updates for every object whose status must change (empty when all is current).
    `bodies` are read, never changed; with `memo`, an object found current before with the same
    body and inputs is not rendered again."""
    updates: list[Update] = []
    assignments = compiled.assignments_by_ref
    for ref, body in bodies.items():
        meta = body.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            continue
        problems = compiled.problems_of(ref)
        report = compiled.report(ref)
        key = _inputs(ref, problems, report, assignments, outcomes)
        if memo is not None and key is not None and memo.is_current(ref, body, key):
            continue
        old_status = body.get("status") or {}
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
            used_unique = compiled.allocated.get(ref.name, 0)
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
            if memo is not None and key is not None:
                memo.remember(ref, body, key)
            continue
        if memo is not None:
            memo.forget(ref)
        updates.append(Update(ref, str(meta.get("uid") or ""), status, _events(ref, status, old_status)))
    updates.sort(key=lambda u: u.ref)
    return updates


def _inputs(ref: ObjectRef, problems: tuple[Any, ...], report: Any, assignments: Mapping[ObjectRef, Any],
            outcomes: Mapping[str, FirewallOutcome]) -> tuple[Any, ...] | None:
    """Everything besides its body that one object's status is made of; None: not remembered (a
    VIPPool's counts come from every allocation)."""
    if ref.kind == "Service":
        a = assignments.get(ref)
        return (problems, a.addresses if a else ())
    if ref.kind in ("NATRule", "SecurityPolicy"):
        fw = None
        for k, v in report.fields:
            if k == "firewall":
                fw = v
        # Not the outcome itself: its message names the sync's change count and commit job.
        return (problems, report, conditions.firewall_synced(outcomes.get(fw) if fw else None,
                                                             report.firewall_objects))
    return None


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

