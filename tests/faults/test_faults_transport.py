"""Transport faults between the controller and the firewall: unreachable, timeouts, 5xx, slowness,
expired keys. Each ends converged with every invariant at 0."""

from __future__ import annotations

import base64

import pytest

from controller.cli.localcluster import wait_for
from tests.controller.estate import service, slice_
from tests.faults.conftest import FaultEnv
from tests.faults.harness import firewall_reason, publish


def test_firewall_unreachable_then_back(fx: FaultEnv) -> None:
    """Every request is reset for a while (the firewall is gone) while the cluster changes: a
    Service, a Local Service, a cordon and an expired agent Lease (routes: tests/faults/route_oracle.py)."""
    n1, n2, n3 = fx.nodes(3)
    fx.start()
    fx.sim.faults.add("reset", times=None)
    publish(fx, "late", 80)
    fx.cluster.apply(slice_(fx.ns, "local", [(82, 8082)], [("10.244.1.7", n1), ("10.244.2.7", n2)]))
    fx.cluster.apply(service(fx.ns, "local", (82, 8082), externalTrafficPolicy="Local"))
    fx.cluster.core.patch_node(n1, {"spec": {"unschedulable": True}})
    fx.lease(n3, seconds=1)
    wait_for("Unreachable reported", lambda: firewall_reason(fx.cluster) == "Unreachable", timeout=60)
    # stays down after every change was tried: only a retry of its own brings it back
    fx.hold("Unreachable", lambda: firewall_reason(fx.cluster) == "Unreachable")
    fx.sim.faults.clear()
    fx.finish()


@pytest.mark.parametrize("only", ["config", "commit", "op"])
def test_timeouts_mid_sync(fx: FaultEnv, only: str) -> None:
    """Requests of one kind hang and are cut; the sync re-reads, re-plans and converges once."""
    fx.start()
    fx.sim.faults.add("timeout", seconds=0.5, times=2, only=[only])
    publish(fx, "late", 80)
    fx.finish()


def test_http_5xx_burst(fx: FaultEnv) -> None:
    fx.start()
    fx.sim.faults.add("http_error", status=503, times=5)
    fx.sim.faults.add("http_error", status=502, times=2, only=["commit"])
    publish(fx, "late", 80)
    fx.finish()


def test_slow_firewall(fx: FaultEnv) -> None:
    """Every request takes a while: changes made during a slow sync join the next one."""
    fx.start()
    fx.sim.faults.add("latency", seconds=0.15, times=None)
    publish(fx, "late", 80)
    publish(fx, "later", 81)
    fx.converge()
    fx.sim.faults.clear()
    fx.finish()


def test_api_key_expired_then_rotated(fx: FaultEnv) -> None:
    """The key expires; with no password the sync fails with AuthFailed until the Secret has a new key."""
    fx.start()
    fx.sim.faults.add("expire_keys")
    publish(fx, "late", 80)
    wait_for("AuthFailed reported", lambda: firewall_reason(fx.cluster) == "AuthFailed", timeout=60)
    fx.hold("AuthFailed", lambda: firewall_reason(fx.cluster) == "AuthFailed")
    key = base64.b64encode(fx.sim.api_key("admin").encode()).decode()
    fx.cluster.core.patch_namespaced_secret("edge-creds", fx.ns, {"data": {"apiKey": key}})
    fx.finish()
