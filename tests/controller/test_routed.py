"""Routed mode against the real API server and the simulator: the firewall routes each VIP to
the nodes that can serve it, following agent Leases, cordons and local endpoints."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import kubernetes
import pytest

from controller.cli.localcluster import Cluster, wait_for
from controller.core.snapshot import LEASE_PREFIX
from firewall.sim import Simulator
from tests.controller.estate import pool, service, slice_

VR = "./devices/entry/network/virtual-router/entry[@name='default']/routing-table/ip/static-route/entry"


def routes(sim: Simulator) -> set[tuple[str, str]]:
    """(destination, next hop) of bmlb's static routes on the running config."""
    root = ET.fromstring(sim.running_xml())
    return {(e.findtext("destination") or "", e.findtext("nexthop/ip-address") or "") for e in root.findall(VR)
            if (e.get("name") or "").startswith("bmlb-")}


def lease(cluster: Cluster, ns: str, node: str, *, seconds: int) -> None:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "123Z"
    body = {"metadata": {"name": LEASE_PREFIX + node, "namespace": ns},
            "spec": {"holderIdentity": node, "leaseDurationSeconds": seconds, "renewTime": now}}
    kubernetes.client.CoordinationV1Api(cluster.api).create_namespaced_lease(ns, body)


@pytest.fixture
def nodes(cluster: Cluster, ns: str) -> Iterator[list[str]]:
    names = [f"{ns}-n1"[-60:], f"{ns}-n2"[-60:]]
    for i, n in enumerate(names):
        cluster.core.create_node({"metadata": {"name": n}, "status": {
            "addresses": [{"type": "InternalIP", "address": f"10.96.0.{11 + i}"}],
            "conditions": [{"type": "Ready", "status": "True"}]}})
    yield names
    for n in names:
        cluster.core.delete_node(n)


def monitors(sim: Simulator) -> dict[str, str]:
    """Route name -> the address its path monitoring pings (running config)."""
    root = ET.fromstring(sim.running_xml())
    return {e.get("name") or "": e.findtext("path-monitor/monitor-destinations/entry/destination") or ""
            for e in root.findall(VR) if (e.get("name") or "").startswith("bmlb-")
            and e.findtext("path-monitor/enable") == "yes"}


def test_routes_follow_health_and_endpoints(cluster: Cluster, ns: str, sim: Simulator, firewall_object,
                                            run_controller, nodes: list[str]) -> None:
    n1, n2 = nodes
    firewall_object(commit={"debounceSeconds": 0.3}, routing={"split": 1})
    cluster.apply(pool(f"{ns}-vips", "10.82.0.0/29", namespaces=[ns]))
    cluster.apply(service(ns, "web", (80, 8080)))
    cluster.apply(slice_(ns, "web", [(80, 8080)], [("10.244.1.1", n1), ("10.244.2.1", n2)]))
    cluster.apply(service(ns, "local", (81, 8081), externalTrafficPolicy="Local"))
    cluster.apply(slice_(ns, "local", [(81, 8081)], [("10.244.1.2", n1)]))
    lease(cluster, ns, n1, seconds=3600)
    lease(cluster, ns, n2, seconds=10)  # never renewed: expires after 10 s
    run_controller()
    local = wait_for("local's VIP", lambda: cluster.ingress("local", ns))[0]
    # Cluster Services ride the pool's aggregate route (ECMP over both nodes); Local gets its own.
    want = {("10.82.0.0/29", "10.96.0.11"), ("10.82.0.0/29", "10.96.0.12"), (f"{local}/32", "10.96.0.11")}
    wait_for("pool route to both nodes, Local only to n1", lambda: routes(sim) == want or None, timeout=30)
    mon = monitors(sim)
    assert len(mon) == 3 and set(mon.values()) == {"10.96.0.11", "10.96.0.12"}, "every route monitors its next hop"

    # n2's agent stops renewing: within its Lease duration and one debounce window, it leaves.
    want = {("10.82.0.0/29", "10.96.0.11"), (f"{local}/32", "10.96.0.11")}
    wait_for("n2 withdrawn", lambda: routes(sim) == want or None, timeout=30)
    ecmp = wait_for("ECMP condition", lambda: cluster.condition("Firewall", "edge", "", "ECMPMatches"), timeout=30)
    assert ecmp["status"] == "False" and "ECMP off" in ecmp["message"], "the device's ECMP is reported, not changed"
    assert sim.device.vr_restarts == 0
    # n1 is cordoned too: no healthy node is left, so the last routes stay and the Service says why.
    cluster.core.patch_node(n1, {"spec": {"unschedulable": True}})
    cond = wait_for("warning on local", lambda: (c := cluster.condition("Service", "local", ns, "Accepted"))
                    and "no healthy node" in c.get("message", "") and c, timeout=30)
    assert "keeping the last routes" in cond["message"]
    assert routes(sim) == want, "the last routes are never withdrawn for a flap"
