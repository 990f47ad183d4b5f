"""Status conditions (Accepted, FirewallSynced, Ready) and status bodies, computed purely."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from controller.core.problems import ObjectRef, Problem, Severity
from controller.core.reasons import Reason


@dataclass(frozen=True, slots=True)
class Condition:
    type: str
    status: str  # "True" | "False" | "Unknown"
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class FirewallOutcome:
    """What the last sync of one Firewall achieved, as the controller tells its objects."""

    ok: bool
    reason: str  # a Reason (controller/core/reasons.py): "Synced", "Unreachable", "NoFirewall", ...
    message: str  # safe for every object's status: no object names, no device words about them
    failed_objects: frozenset[str] = frozenset()  # firewall object names a commit failure names
    # Objects set aside while the rest synced: (firewall object name, reason, the device's words
    # about that object only). Only the objects owning one of these names hear of it.
    refused: tuple[tuple[str, str, str], ...] = ()
    kept: frozenset[str] = frozenset()  # names whose delete the device refused: still on it
    detail: str = ""  # for the Firewall's own status (names and device messages allowed)
    retry_in: float | None = None  # seconds until a set-aside object is due to be tried again

    def refused_of(self, owned: Sequence[str]) -> list[tuple[str, str, str]]:
        if not self.refused:  # the usual case: asked for every object after every sync
            return []
        mine = set(owned)
        return [r for r in self.refused if r[0] in mine]


def accepted(problems: Sequence[Problem]) -> Condition:
    errors = [p for p in problems if p.severity is Severity.ERROR]
    warnings = [p for p in problems if p.severity is Severity.WARNING]
    if errors:
        return Condition("Accepted", "False", errors[0].code, "; ".join(f"{p.path}: {p.message}" for p in errors))
    if warnings:
        return Condition("Accepted", "True", Reason.AcceptedWithWarnings,
                         "; ".join(f"{p.path}: {p.message}" for p in warnings))
    return Condition("Accepted", "True", Reason.Valid, "the spec is valid")


def firewall_synced(outcome: FirewallOutcome | None, owned: Sequence[str]) -> Condition:
    if outcome is None:
        return Condition("FirewallSynced", "Unknown", Reason.Pending, "not synced yet")
    refused = outcome.refused_of(owned)
    if refused:
        return Condition("FirewallSynced", "False", refused[0][1],
                         "; ".join(f"the firewall refused {name}: {message}" for name, _, message in refused))
    mine = sorted(outcome.failed_objects.intersection(owned)) if outcome.failed_objects else []
    if mine:
        return Condition("FirewallSynced", "False", Reason.CommitFailed,
                         f"the firewall's commit failed on {', '.join(mine)}")
    if outcome.ok:
        return _in_place(len(owned)) if owned else Condition("FirewallSynced", "True", Reason.Synced, outcome.message)
    return Condition("FirewallSynced", "False", outcome.reason, outcome.message)


@functools.lru_cache(maxsize=256)
def _in_place(owned: int) -> Condition:
    """The usual answer, asked for 20,000 objects per reconcile at 10,000 Services: one object per
    count, so that comparing it with the last reconcile's is an identity check."""
    return Condition("FirewallSynced", "True", Reason.Synced, f"{owned} firewall objects in place")


def ready(*conds: Condition) -> Condition:
    for c in conds:
        if c.status != "True":
            return Condition("Ready", "False" if c.status == "False" else "Unknown", c.reason, c.message)
    return Condition("Ready", "True", Reason.Ready, "; ".join(c.message for c in conds if c.message) or "ready")


def render(conds: Sequence[Condition], *, old: Sequence[Mapping[str, Any]], generation: int,
           now: str) -> list[dict[str, Any]]:
    """metav1.Condition dicts, keeping lastTransitionTime when the status did not change."""
    previous = {c.get("type"): c for c in old or []}
    out = []
    for c in conds:
        prev = previous.get(c.type) or {}
        since = prev.get("lastTransitionTime") if prev.get("status") == c.status else None
        cond = {"type": c.type, "status": c.status, "reason": str(c.reason), "message": c.message[:32000],
                "observedGeneration": generation, "lastTransitionTime": since or now}
        if not generation:  # the API server omits a zero (omitempty): written, it would never compare equal
            del cond["observedGeneration"]
        out.append(cond)
    return out


def changed(new: Sequence[Mapping[str, Any]], old: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The conditions whose status, reason or message differ from before: what deserves an Event."""
    before = {c.get("type"): (c.get("status"), c.get("reason"), c.get("message")) for c in old or []}
    return [c for c in new if before.get(c["type"]) != (c["status"], c["reason"], c["message"])]


def for_object(ref: ObjectRef, problems: Sequence[Problem], outcome: FirewallOutcome | None,
               owned: Sequence[str], *, uses_firewall: bool) -> list[Condition]:
    acc = accepted(problems)
    if not uses_firewall:
        return [acc, ready(acc)]
    fw = firewall_synced(outcome, owned)
    return [acc, fw, ready(acc, fw)]
