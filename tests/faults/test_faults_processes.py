"""Processes and the cluster failing: the controller killed mid-sync, two replicas, the API server
restarting, node agents killed, a pool shrunk, a Service deleted while the firewall is down."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import yaml

from controller.cli.localcluster import ROOT, wait_for
from tests.apiserver.fixtures import install_crds
from tests.controller.estate import pool, service, slice_
from tests.faults import ipvs_oracle
from tests.faults.conftest import FaultEnv
from tests.faults.harness import firewall_reason, kill9, publish, wait_stats


def test_controller_killed_between_write_and_commit(fx: FaultEnv) -> None:
    """Writes are in the candidate, the commit never arrives: the next controller commits them once."""
    fx.start()
    before = fx.sim.stats_snapshot()["requests"].get("commit", 0)
    fx.sim.faults.add("timeout", seconds=3, only=["commit"], times=1)
    proc = fx.procs[-1]
    publish(fx, "late", 80)
    wait_stats(fx.sim, lambda s: s["requests"].get("commit", 0) > before, "the commit request")
    kill9(proc)
    assert "admin" in fx.sim.pending_admins()  # written, not committed
    fx.controller(log_name="controller2.log")
    fx.finish()


def test_controller_killed_between_commit_and_status(fx: FaultEnv) -> None:
    """The commit lands, the controller dies before writing status: the next one only writes status."""
    fx.start()
    fx.sim.device.commit_seconds = 1.5
    n = len(fx.inv.commits.by())
    proc = fx.procs[-1]
    publish(fx, "late", 80)
    wait_for("bmlb's commit", lambda: len(fx.inv.commits.by()) > n, interval=0.02)
    kill9(proc)
    fx.sim.wait_for_jobs()
    fx.sim.device.commit_seconds = 0.05
    assert fx.cluster.condition("NATRule", "late", fx.ns, "Ready") is None or \
        fx.cluster.condition("NATRule", "late", fx.ns, "Ready")["status"] != "True"
    commits = len(fx.inv.commits.by())
    fx.controller(log_name="controller2.log")
    fx.finish()
    # The restarted controller re-commits nothing that landed: any later commit of its own carries
    # a real change (the burst may have been cut by the kill), never a no-op or a repeat.
    assert all(c.changed_running for c in fx.inv.commits.by()[commits:])


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_two_replicas_one_leader_then_takeover(fx: FaultEnv, how: str) -> None:
    """SIGTERM: the leader leaves the peering at once. SIGKILL mid-sync (written, the commit hung):
    its record stays until its lifetime (8 s here) runs out, then the standby takes over and
    commits the dead leader's writes once, with no duplicate and no stray commit."""
    docs = [d for d in yaml.safe_load_all((ROOT / "deploy/base/01-crds.yaml").read_text())
            if d and d["spec"]["group"] == "kopf.dev"]
    install_crds(fx.cluster.api, docs)
    peering = yaml.safe_load((ROOT / "deploy/base/02-peering.yaml").read_text())
    try:
        fx.cluster.custom.create_cluster_custom_object("kopf.dev", "v1", "clusterkopfpeerings", peering)
    except Exception as err:  # already there from an earlier run in this session
        if "409" not in str(err) and "AlreadyExists" not in str(err):
            raise
    fx.estate()
    fx.nodes(3)
    lifetime = ("--peering-lifetime", "8")
    high = fx.controller("--priority", "20", *lifetime, peering="bmlb", log_name="c-high.log")
    low = fx.controller("--priority", "10", *lifetime, peering="bmlb", log_name="c-low.log")
    fx.converge()
    fx.inv.baseline()
    publish(fx, "late", 80)
    fx.converge()
    logs = {p: Path(p.log_path).read_text() for p in (high, low)}
    assert "leading" in logs[high] and "synced in" in logs[high]
    assert "synced in" not in logs[low], logs[low][-3000:]
    if how == "SIGTERM":
        os.killpg(high.pid, signal.SIGTERM)
        high.wait(20)
        publish(fx, "later", 81, host=3)
    else:
        before = fx.sim.stats_snapshot()["requests"].get("commit", 0)
        fx.sim.faults.add("timeout", seconds=3, only=["commit"], times=1)
        publish(fx, "later", 81, host=3)
        fx.lease(fx.created_nodes[2], seconds=1)  # and a node goes away while the leader dies
        wait_stats(fx.sim, lambda s: s["requests"].get("commit", 0) > before, "the leader's commit request")
        kill9(high)
        assert "admin" in fx.sim.pending_admins()  # written, not committed
    wait_for("standby took over", lambda: "synced in" in Path(low.log_path).read_text(), timeout=60)
    fx.finish()


def test_apiserver_restart(fx: FaultEnv) -> None:
    fx.start()
    publish(fx, "late", 80)
    fx.apiserver.restart_apiserver(downtime=2.0)
    publish(fx, "later", 81, host=3)
    fx.finish()


def test_pool_shrunk_under_allocated_services(fx: FaultEnv) -> None:
    """The pool no longer covers the Services' VIPs: they keep them (a warning), new ones draw from the rest."""
    fx.start()
    fx.cluster.apply(pool(f"{fx.ns}-vips", "10.80.0.8/29", namespaces=[fx.ns]))
    fx.cluster.apply(service(fx.ns, "fresh", (80, 80)))
    wait_for("fresh allocated", lambda: fx.cluster.ingress("fresh", fx.ns), timeout=30)
    assert fx.cluster.ingress("fresh", fx.ns)[0].startswith("10.80.0.") and \
        int(fx.cluster.ingress("fresh", fx.ns)[0].rsplit(".", 1)[1]) >= 8
    fx.finish()


def test_service_deleted_while_firewall_down(fx: FaultEnv) -> None:
    """The finalizer holds the Service until the firewall no longer carries its objects."""
    fx.start()
    fx.sim.faults.add("reset", times=None)
    fx.cluster.delete("NATRule", "api", fx.ns)
    fx.cluster.delete("Service", "api", fx.ns)
    wait_for("Unreachable", lambda: firewall_reason(fx.cluster) == "Unreachable", timeout=60)
    assert not fx.cluster.gone("Service", "api", fx.ns)  # held while its rules are still out there
    fx.sim.faults.clear()
    wait_for("Service released", lambda: fx.cluster.gone("Service", "api", fx.ns), timeout=60)
    fx.finish(ignore_services=("api",))


def _agent_converged(fx: FaultEnv, backend: Path) -> bool:
    """What the backend holds equals the independent expectation (tests/faults/ipvs_oracle.py)."""
    return (ipvs_oracle.backend_table(backend) == ipvs_oracle.cluster_table(fx.cluster, "n1")
            and ipvs_oracle.backend_masquerade(backend) == ipvs_oracle.cluster_masquerade(fx.cluster))


def _wait_agent(fx: FaultEnv, backend: Path, what: str, timeout: float = 40.0) -> None:
    try:
        wait_for(what, lambda: _agent_converged(fx, backend), timeout=timeout)
    except AssertionError as err:
        have = ipvs_oracle.backend_table(backend) or {}
        want = ipvs_oracle.cluster_table(fx.cluster, "n1")
        diff = {k: (have.get(k), want.get(k)) for k in sorted(set(have) | set(want)) if have.get(k) != want.get(k)}
        masq = (ipvs_oracle.backend_masquerade(backend), ipvs_oracle.cluster_masquerade(fx.cluster))
        raise AssertionError(f"{err}\nbackend vs expected: {diff}\nmasquerade: {masq}") from None


def test_agent_killed_during_sync(fx: FaultEnv) -> None:
    """SIGKILL while the backend is mid-apply: the restarted agent repairs the half-applied table."""
    fx.start()
    backend = fx.tmp_path / "ipvs-n1.json"
    with fx.agent("n1", backend, "--memory-op-delay", "0.2") as agent:
        _wait_agent(fx, backend, "agent table")
        ops = ipvs_oracle.backend_ops(backend)
        for i in range(8):
            fx.cluster.apply(slice_(fx.ns, f"bulk{i}", [(80, 80)], [(f"10.244.1.{50 + i}", "n1")]))
            fx.cluster.apply(service(fx.ns, f"bulk{i}", (80, 80)))
        wait_for("VIPs recorded", lambda: all(fx.cluster.ingress(f"bulk{i}", fx.ns) for i in range(8)), timeout=30)
        wait_for("the agent applying", lambda: ipvs_oracle.backend_ops(backend) >= ops + 3, timeout=30, interval=0.02)
        kill9(agent)
    half = ipvs_oracle.backend_table(backend) or {}
    want = ipvs_oracle.cluster_table(fx.cluster, "n1")
    bulk = [k for k in want if k.endswith(":80")]
    assert any(k in half for k in bulk) and half != want, f"not half-applied: {half}"
    with fx.agent("n1", backend):
        _wait_agent(fx, backend, "agent table after restart")
        assert ipvs_oracle.backend_duplicates(backend) == 0
        fx.finish()


def test_agent_killed_during_drain(fx: FaultEnv) -> None:
    """A real server with live connections leaves: held at weight 0 across an agent SIGKILL and
    restart, deleted once its connections end; one without connections goes at once."""
    fx.start()
    backend = fx.tmp_path / "ipvs-n1.json"
    vip = wait_for("web's VIP", lambda: fx.cluster.ingress("web", fx.ns))[0]
    leaving = f"tcp {vip}:443 -> 10.244.1.1:8443"
    with fx.agent("n1", backend, "--drain-timeout", "60") as agent:
        _wait_agent(fx, backend, "agent table")
        ipvs_oracle.set_connections(backend, [("tcp", vip, 443, "10.244.1.1", 8443, 2)])
        fx.cluster.apply(slice_(fx.ns, "web", [(443, 8443)], [("10.244.1.9", "n1"), ("10.244.2.1", "n2")]))
        wait_for("drain started", lambda: _agent_converged(fx, backend)
                 and ipvs_oracle.backend_draining(backend) == {leaving}, timeout=30)
        kill9(agent)
    with fx.agent("n1", backend, "--drain-timeout", "60"):
        fx.cluster.apply(slice_(fx.ns, "web", [(443, 8443)], [("10.244.1.10", "n1"), ("10.244.2.1", "n2")]))
        _wait_agent(fx, backend, "agent table after restart")
        # 10.244.1.9 had no connections: gone at once; 10.244.1.1 still has 2: it keeps draining
        fx.hold("the drain with live connections", lambda: ipvs_oracle.backend_draining(backend) == {leaving})
        ipvs_oracle.set_connections(backend, [])
        wait_for("drained server deleted", lambda: not ipvs_oracle.backend_draining(backend), timeout=20)
        assert _agent_converged(fx, backend) and ipvs_oracle.backend_duplicates(backend) == 0
        fx.finish()
