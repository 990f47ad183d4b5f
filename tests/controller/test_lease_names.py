"""Which Leases are agents' (bmlb-node-<node>): one rule, `snapshot.lease_node`, for the controller's
watch (operator), its snapshot (`Snapshot.node_leases`) and the L2 election (`fresh_nodes`)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from controller.core.snapshot import LEASE_PREFIX, Snapshot, lease_node
from controller.runtime.index import ClusterIndex
from controller.runtime.operator import _event_handler

NS = "bmlb-system"


def test_examples() -> None:
    assert lease_node("bmlb-node-worker-1") == "worker-1"
    assert lease_node("bmlb-node-") is None  # no node: not an agent's
    assert lease_node("bmlb-vip-10-0-0-1") is None  # an L2 election Lease
    assert lease_node("kube-node-lease") is None
    assert lease_node(None) is None
    assert lease_node(7) is None


@given(st.text(max_size=12))
def test_the_prefix_and_a_node_name_make_an_agent_lease(node: str) -> None:
    assert lease_node(LEASE_PREFIX + node) == (node or None)
    if not node.startswith(LEASE_PREFIX):
        assert lease_node(node) is None


def _lease(name: object) -> dict[str, object]:
    return {"kind": "Lease", "metadata": {"name": name, "namespace": NS},
            "spec": {"holderIdentity": "x", "leaseDurationSeconds": 10}}


@given(st.lists(st.one_of(st.text(max_size=6).map(lambda s: LEASE_PREFIX + s), st.text(max_size=16)),
                max_size=6, unique=True))
def test_the_controller_watch_and_the_snapshot_keep_the_same_leases(names: list[str]) -> None:
    index = ClusterIndex(lease_namespace=NS)
    on_event = _event_handler(index, set())
    for name in names:
        on_event("Lease", "ADDED", _lease(name))
    watched = {b["metadata"]["name"] for b in index.bodies("Lease")}
    counted = Snapshot(leases=tuple(_lease(n) for n in names), lease_namespace=NS).node_leases()
    assert watched == {n for n in names if lease_node(n) is not None}
    assert set(counted) == {lease_node(n) for n in watched}
