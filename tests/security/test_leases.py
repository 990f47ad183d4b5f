"""Hostile tenants and agent Leases, through the real API server, `bmlb controller` and the
PAN-OS simulator: a Lease is trusted only in the lease namespace and only for an existing Node,
and a malformed node address never stops reconciliation for anybody else."""

from __future__ import annotations

import contextlib
import datetime as dt
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import kubernetes
import pytest
from kubernetes.client.rest import ApiException

from controller.cli.localcluster import Cluster, wait_for
from firewall.sim import Simulator
from tests.controller.conftest import cluster, firewall_object, ns, run_controller, sim
from tests.controller.estate import pool, service, slice_

__all__ = ["cluster", "firewall_object", "ns", "run_controller", "sim"]
ROUTES = "./devices/entry/network/virtual-router/entry[@name='default']/routing-table/ip/static-route/entry"


def routes(sim: Simulator) -> set[tuple[str, str]]:
    """(destination, next hop) of every static route on the running config."""
    root = ET.fromstring(sim.running_xml())
    return {(e.findtext("destination") or "", e.findtext("nexthop/ip-address") or "") for e in root.findall(ROUTES)}


def hops(sim: Simulator) -> set[str]:
    """The next hops of bmlb's static routes (whatever their destinations)."""
    return {h for d, h in routes(sim)}


def put_lease(cluster: Cluster, namespace: str, name: str, *, holder: str, seconds: int, age: float = 0.0,
              address: str | None = None) -> None:
    renewed = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=age)
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if address is not None:
        meta["annotations"] = {"bmlb.io/node-address": address}
    body = {"metadata": meta, "spec": {"holderIdentity": holder, "leaseDurationSeconds": seconds,
                                       "renewTime": renewed.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}}
    kubernetes.client.CoordinationV1Api(cluster.api).create_namespaced_lease(namespace, body)


@pytest.fixture
def evil(cluster: Cluster, ns: str) -> Iterator[str]:
    """A tenant namespace next to the controller's (which is also the lease namespace here)."""
    name = f"{ns}-evil"[-63:].lstrip("-")
    cluster.core.create_namespace({"metadata": {"name": name}})
    yield name
    with contextlib.suppress(ApiException):
        cluster.core.delete_namespace(name)


@pytest.fixture
def make_nodes(cluster: Cluster, ns: str) -> Iterator[Any]:
    made: list[str] = []

    def make(suffix: str, address: str | None) -> str:
        name = f"{ns}-{suffix}"[-60:].lstrip("-")
        cluster.core.create_node({"metadata": {"name": name}, "status": {
            "addresses": [{"type": "InternalIP", "address": address}] if address else [],
            "conditions": [{"type": "Ready", "status": "True"}]}})
        made.append(name)
        return name

    yield make
    for n in made:
        with contextlib.suppress(ApiException):
            cluster.core.delete_node(n)


def estate(cluster: Cluster, ns: str, firewall_object: Any, nodes: list[str]) -> None:
    firewall_object(commit={"debounceSeconds": 0.3}, routing={"split": 1})
    cluster.apply(pool(f"{ns}-vips", "10.82.0.0/29", namespaces=[ns]))
    cluster.apply(service(ns, "web", (80, 8080)))
    cluster.apply(slice_(ns, "web", [(80, 8080)], [(f"10.244.{i}.1", n) for i, n in enumerate(nodes, 1)]))


def stays(what: str, check: Any, seconds: float = 4.0) -> None:
    """`check()` holds now and for `seconds` (Lease judgement runs every second)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        assert check(), what
        time.sleep(0.25)


def test_a_lease_in_a_tenant_namespace_adds_no_next_hop(cluster: Cluster, ns: str, evil: str, sim: Simulator,
                                                         firewall_object: Any, run_controller: Any,
                                                         make_nodes: Any) -> None:
    n1 = make_nodes("n1", "10.96.0.11")
    estate(cluster, ns, firewall_object, [n1])
    put_lease(cluster, ns, f"bmlb-node-{n1}", holder=n1, seconds=3600)
    put_lease(cluster, evil, "bmlb-node-evil", holder="evil", seconds=3600, address="203.0.113.66")
    # Trusted namespace, but no such Node: not a next hop either.
    put_lease(cluster, ns, "bmlb-node-ghost", holder="ghost", seconds=3600, address="203.0.113.67")
    run_controller()
    wait_for("routes to the real node only", lambda: hops(sim) == {"10.96.0.11"} or None, timeout=60)
    stays("no route to a tenant's address", lambda: hops(sim) == {"10.96.0.11"})
    assert routes(sim) == {("10.82.0.0/29", "10.96.0.11")}


def test_a_stale_tenant_lease_for_a_real_node_withdraws_nothing(cluster: Cluster, ns: str, evil: str,
                                                                 sim: Simulator, firewall_object: Any,
                                                                 run_controller: Any, make_nodes: Any) -> None:
    n1, n2 = make_nodes("n1", "10.96.0.11"), make_nodes("n2", "10.96.0.12")
    estate(cluster, ns, firewall_object, [n1, n2])
    for n in (n1, n2):
        put_lease(cluster, ns, f"bmlb-node-{n}", holder=n, seconds=3600)
    put_lease(cluster, evil, f"bmlb-node-{n1}", holder=n1, seconds=1, age=3600)  # long expired
    run_controller()
    both = {"10.96.0.11", "10.96.0.12"}
    wait_for("both nodes routed", lambda: hops(sim) == both or None, timeout=30)
    stays("node-1 keeps its routes", lambda: hops(sim) == both)


def test_a_bad_node_address_stops_nobody(cluster: Cluster, ns: str, sim: Simulator, firewall_object: Any,
                                         run_controller: Any, make_nodes: Any) -> None:
    good = make_nodes("good", "10.96.0.12")
    bad = make_nodes("bad", "10.44.100.300")
    noaddr = make_nodes("noaddr", None)  # its next hop comes from its agent's Lease: not an IP
    estate(cluster, ns, firewall_object, [good, bad, noaddr])
    for n in (good, bad):
        put_lease(cluster, ns, f"bmlb-node-{n}", holder=n, seconds=3600)
    put_lease(cluster, ns, f"bmlb-node-{noaddr}", holder=noaddr, seconds=3600, address="not-an-ip")
    run_controller()
    wait_for("the good node routed", lambda: hops(sim) == {"10.96.0.12"} or None, timeout=30)
    # Reconciliation goes on for everybody: a new Service still gets its VIP and status.
    cluster.apply(service(ns, "later", (81, 8081)))
    wait_for("a later Service is served", lambda: cluster.ingress("later", ns), timeout=30)
    accepted = wait_for("web accepted", lambda: cluster.condition("Service", "web", ns, "Accepted"), timeout=30)
    assert accepted["status"] == "True"
