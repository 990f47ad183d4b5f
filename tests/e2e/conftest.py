"""Fixtures of the end-to-end packet lab (tests/e2e/world.py), and its summary table.

The lab runs only inside the qemu VM (BMLB_KERNEL_VM=1, set by tests/kernel/run-in-vm.sh):
    tests/kernel/run-in-vm.sh .venv/bin/python -m pytest -q tests/e2e/test_lab.py -s
Elsewhere its tests skip. The twin's own tests (test_twin_semantics.py) run anywhere.
"""

from __future__ import annotations

import base64
import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes
import pytest

from controller.cli.localcluster import Cluster, apply_crds
from firewall.sim import Simulator
from tests.e2e import world as w

IN_VM = os.environ.get("BMLB_KERNEL_VM") == "1"
LAB_TESTS = "test_lab.py"
STARTUP = 1200.0  # seconds for the processes to come up (TCG on a busy 2-core machine: minutes)


@dataclass
class Row:
    scenario: str
    outcome: str = "failed"
    measured: str = ""
    failed_connections: str = "-"


RESULTS: dict[str, Row] = {}


def pytest_configure(config: pytest.Config) -> None:
    if IN_VM:  # the VM's own loopback is down at boot; the control plane listens on it
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.path)).name != LAB_TESTS or Path(str(item.path)).parent != Path(__file__).parent:
            continue
        item.add_marker(pytest.mark.timeout(1800))
        if not IN_VM:
            item.add_marker(pytest.mark.skip(
                reason="end-to-end lab: runs in the VM (tests/kernel/run-in-vm.sh .venv/bin/python -m pytest "
                       "tests/e2e/test_lab.py)"))


@dataclass
class World:
    cluster: Cluster
    sim: Simulator
    twin: w.TwinSync
    relay: w.Relay
    apiserver: Any
    logdir: Path
    controller: w.Process
    agents: dict[str, w.Process] = field(default_factory=dict)
    _seen: int = 0

    def start_controller(self) -> w.Process:
        self.controller = w.spawn(
            "controller", ["controller", "--kubeconfig", str(self.apiserver.kubeconfig), "--namespace", w.HOME,
                           "--peering", "", "--debounce", "0.3", "--resync", "3600"],
            env=self.apiserver.env(), logdir=self.logdir)
        return self.controller

    def start_agent(self, node: str) -> w.Process:
        ns, addr = w.NODES[node]
        self.agents[node] = w.spawn(
            f"agent-{node}", ["agent", "--node", node, "--backend", "kernel", "--kubeconfig",
                              str(self.apiserver.kubeconfig), "--lease-namespace", w.HOME, "--address", addr,
                              "--drain-timeout", "30"],
            env=self.apiserver.env(), logdir=self.logdir, ns=ns)
        return self.agents[node]

    def controller_says(self, t0: float) -> bool:
        """Print the controller log's new lines while waiting for it (startup is slow under TCG)."""
        text = self.controller.log.read_text(errors="replace")
        if len(text) != self._seen:
            for line in text[self._seen:].splitlines()[-3:]:
                w.progress(f"controller: {line[:150]}", t0)
            self._seen = len(text)
        return True

    def logs(self) -> str:
        procs = [self.controller, *self.agents.values()]
        ps = subprocess.run(["sh", "-c", "free -m; ps -eo pid,rss,etime,time,args | cut -c1-150"],
                            capture_output=True, text=True, check=False).stdout
        twin_errors = "".join(f"\ntwin: {e}" for e in self.twin.errors[-5:])
        return ps + "\n".join(f"{p.tail()}\n(exit: {p.popen.poll()})" for p in procs) + twin_errors


@pytest.fixture(scope="session")
def world(apiserver: Any, kube_api: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    logdir = tmp_path_factory.mktemp("e2e-logs")
    t0 = time.monotonic()
    w.progress("API server up", t0)
    w.build_topology()
    w.progress("namespaces built", t0)
    stack = contextlib.ExitStack()
    try:
        cluster = Cluster(kube_api, Path(apiserver.kubeconfig))
        apply_crds(cluster)
        cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": w.HOME}})
        w.progress("CRDs served", t0)
        relay = w.Relay(apiserver.port, [ns for ns, _ in w.NODES.values()])
        stack.callback(relay.close)
        # The processes start first: under TCG their imports take the longest.
        the_world = World(cluster, None, None, relay, apiserver, logdir, controller=None)  # type: ignore[arg-type]
        the_world.start_controller()
        stack.callback(lambda: the_world.controller.stop())
        for node in w.NODES:
            the_world.start_agent(node)
        stack.callback(lambda: [a.stop() for a in the_world.agents.values()])
        sim = stack.enter_context(Simulator.start(commit_seconds=0.05, config_xml=w.sim_config()))
        the_world.sim = sim
        the_world.twin = w.TwinSync(sim)
        stack.callback(the_world.twin.close)
        stack.enter_context(w.pod_servers())
        w.progress("controller and agents started; twin applied, relay and pod servers up", t0)
        cluster.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "edge-creds", "namespace": w.HOME},
                       "data": {"apiKey": base64.b64encode(sim.api_key("admin").encode()).decode(),
                                "username": base64.b64encode(b"admin").decode()}})
        cluster.apply({"apiVersion": "bmlb.io/v1alpha1", "kind": "Firewall", "metadata": {"name": "edge"},
                       "spec": {"host": sim.host, "port": sim.port, "caBundle": Path(sim.ca_file).read_text(),
                                "credentialsSecret": {"name": "edge-creds", "namespace": w.HOME},
                                "routing": {"mode": "routed", "ecmp": {"maxPaths": 2}, "split": 8,
                                            "pathMonitor": {"enabled": False}}}})
        coordination = kubernetes.client.CoordinationV1Api(kube_api)
        try:
            w.wait_until("every agent's Lease", lambda: all(
                coordination.read_namespaced_lease(f"bmlb-node-{n}", w.HOME) for n in w.NODES), STARTUP, 2.0)
            w.progress("agents hold their Leases", t0)
            w.wait_until("the controller's status on the Firewall", lambda: the_world.controller_says(t0)
                         and (cluster.get("Firewall", "edge").get("status") or {}).get("conditions"), STARTUP, 2.0)
        except AssertionError as err:
            raise AssertionError(f"{err}\n{the_world.logs()}") from None
        w.progress("controller reports on the Firewall: the lab is up", t0)
        yield the_world
    finally:
        stack.close()
        w.teardown_topology()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not RESULTS:
        return
    terminalreporter.section("bmlb end-to-end lab")
    rows = [("scenario", "result", "measured", "failed connections"),
            *((r.scenario, r.outcome, r.measured, r.failed_connections) for r in RESULTS.values())]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for i, r in enumerate(rows):
        terminalreporter.write_line("| " + " | ".join(c.ljust(widths[j]) for j, c in enumerate(r)) + " |")
        if i == 0:
            terminalreporter.write_line("|" + "|".join("-" * (n + 2) for n in widths) + "|")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    rep = yield
    row = RESULTS.get(item.name)
    if row is not None and rep.when == "call":
        row.outcome = "passed" if rep.passed else "failed"
    return rep
