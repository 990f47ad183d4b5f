"""bmlb's finalizer, kept by the reconcile loop: only on objects that own firewall objects, off once
the firewall no longer carries them; and what it computes, as pure logic."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from controller.cli.localcluster import Cluster, wait_for
from controller.core.problems import ObjectRef
from controller.runtime import finalizers
from controller.runtime.finalizers import FINALIZER
from firewall.sim import Simulator
from tests.controller.conftest import dump_log
from tests.controller.estate import nat, pool, service

VSYS = "./devices/entry/vsys/entry[@name='vsys1']"


def _body(finals: list[str] | None = None, deleting: bool = False, rv: str = "7") -> dict:
    meta: dict = {"name": "web", "namespace": "shop", "resourceVersion": rv}
    if finals is not None:
        meta["finalizers"] = finals
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta}


def test_added_only_where_missing_and_removed_only_where_held() -> None:
    nat_ref, svc_ref, pool_ref = (ObjectRef("NATRule", "shop", "web"), ObjectRef("Service", "shop", "web"),
                                  ObjectRef("VIPPool", "", "vips"))
    bodies = {nat_ref: _body(["other.io/keep"]), svc_ref: _body([FINALIZER]), pool_ref: _body()}
    (add,) = finalizers.to_add([nat_ref, svc_ref, pool_ref, ObjectRef("NATRule", "shop", "gone")], bodies.get)
    # Another controller's finalizer is kept, and the write is tied to the version it was read at.
    assert add == finalizers.Change(nat_ref, ("other.io/keep", FINALIZER), "7")
    assert finalizers.to_add([nat_ref], {nat_ref: _body(deleting=True)}.get) == []  # too late to add one
    held = {nat_ref: _body(["other.io/keep", FINALIZER], deleting=True), svc_ref: _body(["other.io/keep"])}
    (rm,) = finalizers.to_remove([nat_ref, svc_ref], held.get)
    assert rm == finalizers.Change(nat_ref, ("other.io/keep",), "7")


def _finals(cluster: Cluster, kind: str, name: str, ns: str) -> list[str]:
    return cluster.get(kind, name, ns)["metadata"].get("finalizers") or []


def _nat_names(sim: Simulator) -> list[str | None]:
    root = ET.fromstring(sim.running_xml())
    return [e.get("name") for e in root.findall(f"{VSYS}/rulebase/nat/rules/entry")]


def test_finalizer_only_on_owners_and_released_after_the_firewall(
        cluster: Cluster, ns: str, sim: Simulator, firewall_object, run_controller) -> None:
    firewall_object(commit={"debounceSeconds": 0.3})
    cluster.apply(pool(f"{ns}-vips", "10.79.0.0/29", namespaces=[ns]))
    cluster.apply(pool(f"{ns}-pub", "198.51.100.80/29", zone="untrust", purpose="Public", auto=False,
                       namespaces=[ns]))
    cluster.apply(service(ns, "web", (443, 8443)))
    cluster.apply(nat(ns, "web", "web", 443, pool=f"{ns}-pub"))
    # Owns nothing on the firewall: its pool does not admit it (no VIP, no address object).
    cluster.apply(service(ns, "lost", (80, 80), annotations={"bmlb.io/pool": "nowhere"}))
    proc = run_controller()
    wait_for("NATRule Ready", lambda: (c := cluster.condition("NATRule", "web", ns, "Ready"))
             and c["status"] == "True", timeout=60)
    assert FINALIZER in _finals(cluster, "NATRule", "web", ns), dump_log(proc)
    assert FINALIZER in _finals(cluster, "Service", "web", ns), dump_log(proc)
    wait_for("lost judged", lambda: cluster.condition("Service", "lost", ns, "Accepted"), timeout=30)
    assert FINALIZER not in _finals(cluster, "Service", "lost", ns), dump_log(proc)
    cluster.delete("Service", "lost", ns)
    wait_for("lost deleted at once", lambda: cluster.gone("Service", "lost", ns), timeout=10)
    rule = wait_for("the NAT rule on the firewall", lambda: _nat_names(sim), timeout=30)[0]

    cluster.delete("NATRule", "web", ns)
    wait_for("NATRule released", lambda: cluster.gone("NATRule", "web", ns), timeout=60)
    assert rule not in _nat_names(sim), dump_log(proc)  # released only once the firewall dropped it

    # A Service that leaves bmlb (no longer a LoadBalancer) while holding the finalizer, then is
    # deleted: it is released, not stuck.
    cluster.core.patch_namespaced_service("web", ns, {"spec": {
        "type": "ClusterIP", "loadBalancerClass": None,
        "ports": [{"name": "p443", "port": 443, "targetPort": 8443, "protocol": "TCP"}]}})
    cluster.delete("Service", "web", ns)
    wait_for("Service released", lambda: cluster.gone("Service", "web", ns), timeout=60)
    assert proc.poll() is None, dump_log(proc)
