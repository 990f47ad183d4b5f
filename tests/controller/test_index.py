"""The controller's in-memory index: what it keeps of each object, what counts as a change, and
the informer's relisting; plus the compiled result's per-object lookups at scale."""

from __future__ import annotations

import time
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from controller.core import status
from controller.core.compiler import compile
from controller.core.problems import ObjectRef
from controller.core.snapshot import Snapshot, ref_of
from controller.runtime.finalizers import FINALIZER
from controller.runtime.index import ClusterIndex
from tests.controller.estate import firewall, nat, policy, pool, service


def _svc(**meta: object) -> dict:
    body = service("shop", "web", (443, 8443))
    body["metadata"].update(meta)
    return body


def test_index_keeps_only_what_bmlb_reads() -> None:
    idx = ClusterIndex()
    body = _svc(managedFields=[{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}], finalizers=["x/y"],
                ownerReferences=[{"kind": "Thing"}],
                annotations={"kubectl.kubernetes.io/last-applied-configuration": "{" + "x" * 5000 + "}",
                             "bmlb.io/last-handled": "{}", "bmlb.io/scheduler": "wrr"})
    idx.upsert("Service", body)
    kept = idx.get(ObjectRef("Service", "shop", "web"))
    assert kept is not None
    assert set(kept["metadata"]) <= {"name", "namespace", "uid", "generation", "creationTimestamp",
                                     "resourceVersion", "finalizers", "labels", "annotations"}
    assert kept["metadata"]["annotations"] == {"bmlb.io/scheduler": "wrr"}
    assert kept["spec"] == body["spec"]
    node = {"kind": "Node", "metadata": {"name": "n1"},
            "status": {"addresses": [{"type": "InternalIP", "address": "192.0.2.1"}],
                       "conditions": [{"type": "Ready", "status": "True"}],
                       "images": [{"names": ["x" * 100], "sizeBytes": 1}] * 50}}
    idx.upsert("Node", node)
    assert set(idx.get(ObjectRef("Node", "", "n1"))["status"]) == {"addresses", "conditions"}


def test_finalizers_and_kopf_annotations_are_not_changes_but_a_deletion_is() -> None:
    idx = ClusterIndex()
    assert idx.upsert("Service", _svc(resourceVersion="1"))
    v = idx.version
    # kopf adding its finalizer and diff-base annotation: nothing the compiler reads moved.
    assert not idx.upsert("Service", _svc(resourceVersion="2", finalizers=["bmlb.io/firewall-cleanup"],
                                          annotations={"bmlb.io/last-handled": '{"spec": {}}'}))
    assert idx.version == v
    assert idx.upsert("Service", _svc(resourceVersion="3", deletionTimestamp="2026-01-01T00:00:00Z"))
    assert idx.version == v + 1
    assert ObjectRef("Service", "shop", "web") in idx.deleting()


def test_a_relisting_drops_what_it_no_longer_holds() -> None:
    idx = ClusterIndex()
    idx.upsert("Service", service("shop", "web", (443, 8443)))
    idx.upsert("Service", service("shop", "api", (443, 8443)))
    idx.upsert("NATRule", nat("shop", "web", "web", 443, pool="pub"))
    v = idx.version
    assert not idx.retain("Service", {"shop/web", "shop/api"})
    assert idx.version == v
    assert idx.retain("Service", {"shop/web"})
    assert idx.version == v + 1
    assert idx.get(ObjectRef("Service", "shop", "api")) is None
    assert idx.get(ObjectRef("Service", "shop", "web")) is not None
    assert idx.get(ObjectRef("NATRule", "shop", "web")) is not None  # other kinds untouched


def test_status_of_thousands_of_objects_is_computed_in_linear_time() -> None:
    """Each object's report and problems were found by scanning all of them: 3,000 objects took
    seconds. Timed against a tenth of the estate, so a quadratic lookup fails whatever the machine."""
    def estate(n: int) -> tuple[float, int]:
        objs: list[dict] = [pool("vips", "10.96.0.0/16"),
                            pool("pub", "203.0.112.0/20", zone="untrust", purpose="Public", auto=False), firewall()]
        for i in range(n):
            objs += [service("shop", f"s{i}", (443, 8443)), nat("shop", f"s{i}", f"s{i}", 443, pool="pub"),
                     policy("shop", f"s{i}", [f"s{i}"], [{"name": "inet", "from": {"zones": ["untrust"]}}])]
        snap = Snapshot.of(objs)
        compiled = compile(snap)
        bodies = {ref_of(b): dict(b) for b in (*snap.services, *snap.pools, *snap.policies, *snap.nat_rules)}
        t0 = time.perf_counter()
        updates = status.desired(compiled, bodies, {}, now="2026-01-01T00:00:00Z")
        return time.perf_counter() - t0, len(updates)

    small, n_small = estate(100)
    large, n_large = estate(1000)
    assert n_large > 9 * n_small
    assert large < 25 * small + 0.5, (small, large)


def test_a_body_where_only_ignored_fields_moved_keeps_its_parse_and_one_body_is_held() -> None:
    """bmlb's own Ready status or a new resourceVersion: the snapshot gives the latest body, the
    compile cache finds the old body's parse for it, and the old body is let go (one body per
    object, not the compile's and the latest). A change it reads, or any Lease renewal, is new."""
    import sys

    from controller.core.compile_cache import CompileCache

    idx = ClusterIndex()
    cache = CompileCache()
    idx.on_same = cache.alias
    first = {**nat("shop", "pub", "web", 443), "status": {"public": "198.51.100.1:443"}}
    first["metadata"].update(resourceVersion="1", uid="u1")
    idx.upsert("NATRule", first)
    compile(idx.snapshot(), cache=cache)
    seen = idx.snapshot().nat_rules[0]
    ready = {**first,
             "metadata": {**first["metadata"], "resourceVersion": "2", "finalizers": ["bmlb.io/firewall-cleanup"]},
             "status": {**first["status"], "conditions": [{"type": "Ready", "status": "True"}]}}
    assert idx.upsert("NATRule", ready) is False
    latest = idx.get(ObjectRef("NATRule", "shop", "pub"))
    assert latest is not None and latest["status"]["conditions"]  # readers of status see the latest
    assert idx.snapshot().nat_rules[0] is latest
    assert latest["spec"] is seen["spec"]  # one copy of the spec
    assert sys.getrefcount(seen) == 2  # held by `seen` and the call: neither the index nor the cache
    before = cache.stats()["crs"]
    compile(idx.snapshot(), cache=cache)
    assert cache.stats()["crs"][0] == before[0] + 1  # its parse found again
    moved = {**ready, "status": {"public": "198.51.100.2:443"},
             "metadata": {**ready["metadata"], "resourceVersion": "3"}}
    assert idx.upsert("NATRule", moved) is True
    assert idx.snapshot().nat_rules[0]["status"]["public"] == "198.51.100.2:443"
    before = cache.stats()["crs"]
    compile(idx.snapshot(), cache=cache)
    assert cache.stats()["crs"][0] == before[0]  # a status bmlb reads moved: parsed again

    lease = {"kind": "Lease", "metadata": {"name": "bmlb-node-n1", "namespace": "bmlb-system"},
             "spec": {"holderIdentity": "n1", "renewTime": "2026-01-01T00:00:00.000000Z"}}
    idx.upsert("Lease", lease)
    renewed = {**lease, "spec": {**lease["spec"], "renewTime": "2026-01-01T00:00:10.000000Z"}}
    idx.upsert("Lease", renewed)
    assert idx.snapshot().leases[0]["spec"]["renewTime"].endswith("10.000000Z")


_NAMES = ("a", "b", "c")
_op = st.tuples(st.sampled_from(["upsert", "deleting", "delete", "retain", "stray"]),
                st.sampled_from(["Service", "NATRule"]), st.sampled_from(_NAMES), st.integers(0, 3))


def _run(index: ClusterIndex, op: str, kind: str, name: str, n: int) -> None:
    """One step of what the watch and the relisting do to the index."""
    meta: dict[str, Any] = {"name": name, "namespace": "ns", "uid": f"u-{name}", "resourceVersion": str(n),
                            "finalizers": [FINALIZER]}
    if op in ("deleting", "stray"):
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    body = {"apiVersion": "v1" if kind == "Service" else "bmlb.io/v1alpha1", "kind": kind, "metadata": meta,
            "spec": {"n": n}}
    if op in ("upsert", "deleting"):
        index.upsert(kind, body)
    elif op in ("delete", "stray"):
        index.delete(kind, body, stray=op == "stray")
    else:
        index.retain(kind, {f"ns/{x}" for x in _NAMES[:n]})


@settings(max_examples=200, deadline=None)
@given(st.lists(_op, max_size=30))
def test_what_the_index_leaves_out_is_what_is_being_deleted_now(ops: list[tuple[str, str, str, int]]) -> None:
    """The index keeps the refs being deleted as it goes; every read agrees with a look at the bodies."""
    index = ClusterIndex()
    for op in ops:
        _run(index, *op)
    # The scan the index no longer makes: every body looked at for its deletionTimestamp.
    every = [(ref, b) for objs in index._objects.values() for ref, b in objs.items()]
    dying = {ref for ref, b in every if b["metadata"].get("deletionTimestamp")}
    live = {ref for ref, _ in every} - dying
    dying |= set(index._strays)
    assert index.deleting() == dying
    assert index.live_refs() == live
    for kind in ("Service", "NATRule"):
        assert {ref for ref, _ in index.items(kind)} == {r for r in live if r.kind == kind}
        assert len(index.bodies(kind)) == len([r for r in live if r.kind == kind])
    snap = index.snapshot()
    assert {ref_of(b) for b in (*snap.services, *snap.nat_rules)} == live


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_op, st.booleans()), max_size=30))
def test_the_journal_names_every_object_whose_body_moved_and_snapshots_stay_sorted(
        steps: list[tuple[tuple[str, str, str, int], bool]]) -> None:
    """Whatever happens between two takes, every object whose body (as `get` returns it) is not the
    very same object as at the last take is in the journal; the first take knows nothing (None)."""
    index = ClusterIndex()
    assert index.take_journal("status") is None
    refs = [ObjectRef(k, "ns", n) for k in ("Service", "NATRule") for n in _NAMES]
    before = {r: index.get(r) for r in refs}
    for op, take in steps:
        _run(index, *op)
        if take:
            journal = index.take_journal("status")
            assert journal is not None
            assert {r for r in refs if index.get(r) is not before[r]} <= journal
            before = {r: index.get(r) for r in refs}
        for kind_ in ("Service", "NATRule"):
            assert index.refs(kind_) == {ref for ref, _ in index.items(kind_)}
        snap = index.snapshot()  # in the refs' order, its sort kept while no object comes or goes
        assert [ref_of(b) for b in snap.services] == sorted(index.refs("Service"))
        assert [ref_of(b) for b in snap.nat_rules] == sorted(index.refs("NATRule"))
