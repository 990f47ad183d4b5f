"""A status written once is not written again: the API server's round trip of what bmlb wrote
must compare equal to what bmlb wants next time (found by the end-to-end lab: every reconcile
rewrote every Service's status)."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from controller.core import status
from controller.core.compiler import compile
from controller.core.snapshot import Snapshot, ref_of
from tests.controller.estate import firewall, nat, policy, pool, service


def stored(written: dict[str, Any]) -> dict[str, Any]:
    """What the API server keeps of a status patch: metav1.Condition's observedGeneration is
    `json:"observedGeneration,omitempty"`, so a zero is dropped (a Service has no generation)."""
    out = copy.deepcopy(written)
    for c in out.get("conditions") or []:
        if not c.get("observedGeneration"):
            c.pop("observedGeneration", None)
    return out


@given(st.sampled_from([None, 0, 1, 7]))
def test_second_reconcile_writes_no_status(generation: int | None) -> None:
    svc = service("shop", "web", (443, 8443))
    if generation is None:
        del svc["metadata"]["generation"]
    else:
        svc["metadata"]["generation"] = generation
    objs = [pool("vips", "10.96.0.0/28"), pool("pub", "203.0.113.0/29", zone="untrust", purpose="Public", auto=False),
            firewall(), svc, nat("shop", "web", "web", 443, pool="pub"),
            policy("shop", "web", ["web"], [{"name": "inet", "from": {"zones": ["untrust"]}}])]
    bodies = {ref_of(b): copy.deepcopy(b) for b in objs if b["kind"] != "Firewall"}
    first = status.desired(compile(Snapshot.of(objs)), bodies, {}, now="2026-01-01T00:00:00Z")
    assert {u.ref.kind for u in first} >= {"Service", "VIPPool"}
    for u in first:
        bodies[u.ref]["status"] = stored(u.status)
    compiled = compile(Snapshot.of([*bodies.values(), firewall()]))
    second = status.desired(compiled, bodies, {}, now="2026-01-01T00:00:05Z")
    assert second == [], [(u.ref, u.status) for u in second]
