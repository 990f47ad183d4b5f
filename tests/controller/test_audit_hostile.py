"""`bmlb audit` reads the cluster's raw objects (Services, NATRules, VIPPools, Nodes, Leases) beside
the firewall's config: whatever a tenant or a broken agent left in them, the audit reports and
never raises (hypothesis: any value at any place of any object)."""

from __future__ import annotations

import copy
import dataclasses
import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.core.audit import audit
from controller.core.snapshot import LEASE_PREFIX, Snapshot
from firewall.model import StaticRoute
from tests.controller.test_audit import as_read, bodies, desired_of
from tests.security.test_hostile_input import places, put, wrong

NOW = 1_800_000_000.0
_junk = st.recursive(wrong, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6)


def _cluster() -> list[dict[str, Any]]:
    renew = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - 5))
    nodes = [{"kind": "Node", "metadata": {"name": "node-a"}, "status": {
        "addresses": [{"type": "InternalIP", "address": "10.96.0.11"}],
        "conditions": [{"type": "Ready", "status": "True"}]}}]
    lease = {"kind": "Lease", "metadata": {"name": f"{LEASE_PREFIX}node-a", "namespace": "bmlb-system"},
             "spec": {"renewTime": renew, "leaseDurationSeconds": 30}}
    return [*bodies(), *nodes, lease]


CLEAN = _cluster()
PLACES = [(i, p) for i, b in enumerate(CLEAN) for p in places(b) if p and p != ("kind",)]
_, DESIRED = desired_of(bodies())
ROUTES = (StaticRoute("bmlb-rt-10.80.0.1_node-a", "default", "10.80.0.1/32", "10.96.0.11"),)
ACTUAL = dataclasses.replace(as_read(DESIRED), static_routes=ROUTES)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(PLACES), _junk), min_size=1, max_size=3))
def test_the_audit_reports_whatever_the_cluster_holds(changes: list[tuple[tuple[int, tuple[Any, ...]], Any]]) -> None:
    objs = copy.deepcopy(CLEAN)
    for (i, path), value in changes:
        try:
            put(objs[i], path, value)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change replaced what led there
    snap = dataclasses.replace(Snapshot.of(objs), now=NOW)
    report = audit(actual=ACTUAL, desired=DESIRED, snapshot=snap)
    assert len(report.routes) == 1 and report.routes[0].destination == "10.80.0.1/32"
    assert {r.name for r in report.rows} == {o.name for o in (*ACTUAL.addresses, *ACTUAL.services,
                                                              *ACTUAL.security_rules, *ACTUAL.nat_rules, *ACTUAL.tags)}
